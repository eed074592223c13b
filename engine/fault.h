/* SPDX-License-Identifier: MIT */
/*
 * Fault injection, for the test-only build (-DPR_FAULT_INJECTION): every
 * allocation, SQE acquisition, submit, clone, socket, inotify, open and mkdir
 * site asks pr_fault() first, and a test makes the Nth call of a site fail.
 * The clone3 site makes the kernel look as if it had no clone3 (ENOSYS).
 * In the normal build pr_fault() is a constant false and costs nothing, and
 * so is the submission trace below.
 */
#ifndef PR_FAULT_H
#define PR_FAULT_H

#include <stdbool.h>
#include <stdint.h>

enum pr_fault_site {
	PR_FS_ALLOC, PR_FS_SQE, PR_FS_SUBMIT, PR_FS_CLONE, PR_FS_SOCKET,
	PR_FS_INOTIFY, PR_FS_OPEN, PR_FS_MKDIR, PR_FS_CLONE3, PR_FS_NSITES
};

struct pidring;

/*
 * The submission trace (defined in the test build only, which is what the
 * tests link): every SQE the engine hands to the kernel, in order, recorded
 * as it leaves the SQ (pr_trace_sq, called right before each submit), so a
 * test can assert the exact shape of a chain and that it was submitted
 * before the call that made it returned.
 */
struct pidring__trace_rec {
	uint64_t user_data;
	uint64_t addr;       /* a cancel's or TIMEOUT_REMOVE's target user_data */
	uint8_t  opcode;     /* IORING_OP_* */
	uint8_t  flags;      /* IOSQE_* */
};
/* Copy out (and forget) up to max records; returns how many were copied. */
unsigned pidring__trace_take(struct pidring__trace_rec *out, unsigned max);

#ifdef PR_FAULT_INJECTION
bool pr_fault(enum pr_fault_site site);
/* The test build's controls (engine/fault.c). */
void pidring__fault_set(int site, unsigned long nth);
unsigned long pidring__fault_calls(int site);
void pr_trace_sq(struct pidring *pr);
#else
static inline bool pr_fault(enum pr_fault_site site)
{
	(void)site;
	return false;
}
static inline void pr_trace_sq(struct pidring *pr)
{
	(void)pr;
}
#endif

#endif /* PR_FAULT_H */
