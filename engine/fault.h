/* SPDX-License-Identifier: MIT */
/*
 * Fault injection, for the test-only build (-DPR_FAULT_INJECTION): every
 * allocation, SQE acquisition, submit, clone, socket, inotify, open and mkdir
 * site asks pr_fault() first, and a test makes the Nth call of a site fail.
 * The clone3 site makes the kernel look as if it had no clone3 (ENOSYS).
 * In the normal build pr_fault() is a constant false and costs nothing.
 */
#ifndef PR_FAULT_H
#define PR_FAULT_H

#include <stdbool.h>

enum pr_fault_site {
	PR_FS_ALLOC, PR_FS_SQE, PR_FS_SUBMIT, PR_FS_CLONE, PR_FS_SOCKET,
	PR_FS_INOTIFY, PR_FS_OPEN, PR_FS_MKDIR, PR_FS_CLONE3, PR_FS_NSITES
};

#ifdef PR_FAULT_INJECTION
bool pr_fault(enum pr_fault_site site);
/* The test build's controls (engine/fault.c). */
void pidring__fault_set(int site, unsigned long nth);
unsigned long pidring__fault_calls(int site);
#else
static inline bool pr_fault(enum pr_fault_site site)
{
	(void)site;
	return false;
}
#endif

#endif /* PR_FAULT_H */
