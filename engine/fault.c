/* SPDX-License-Identifier: MIT */
/*
 * The counters behind pr_fault() and the submission trace, in the test-only
 * build. Their control functions are exported there (and only there) for
 * the tests in tests/fault/.
 */
#include "internal.h"

#ifdef PR_FAULT_INJECTION
static unsigned long pr_fault_calls[PR_FS_NSITES];
static unsigned long pr_fault_at[PR_FS_NSITES];

bool pr_fault(enum pr_fault_site site)
{
	return ++pr_fault_calls[site] == pr_fault_at[site];
}

/* Fail the nth call of site from now on (0: never); resets its count. */
PIDRING_API void pidring__fault_set(int site, unsigned long nth)
{
	if (site < 0 || site >= PR_FS_NSITES)
		return;
	pr_fault_at[site] = nth;
	pr_fault_calls[site] = 0;
}

/* Calls of site since the last pidring__fault_set. */
PIDRING_API unsigned long pidring__fault_calls(int site)
{
	return site < 0 || site >= PR_FS_NSITES ? 0 : pr_fault_calls[site];
}

#define PR_TRACE_MAX 65536u
static struct pidring__trace_rec pr_trace_buf[PR_TRACE_MAX];
static unsigned pr_trace_len;

/* The SQEs between the last one traced and the SQ's tail: those about to be
 * submitted (every SQE is flushed by a submit, so none is skipped). */
void pr_trace_sq(struct pidring *pr)
{
	struct io_uring_sq *sq = &pr->ring->sq;

	for (; pr->trace_pos != sq->sqe_tail; pr->trace_pos++) {
		const struct io_uring_sqe *sqe = &sq->sqes[pr->trace_pos & sq->ring_mask];

		if (pr_trace_len == PR_TRACE_MAX)
			continue;
		pr_trace_buf[pr_trace_len++] = (struct pidring__trace_rec){
			.user_data = sqe->user_data,
			.addr = sqe->addr,
			.opcode = sqe->opcode,
			.flags = sqe->flags,
		};
	}
}

PIDRING_API unsigned pidring__trace_take(struct pidring__trace_rec *out, unsigned max)
{
	unsigned n = pr_trace_len < max ? pr_trace_len : max;

	memcpy(out, pr_trace_buf, n * sizeof(*out));
	memmove(pr_trace_buf, pr_trace_buf + n, (pr_trace_len - n) * sizeof(*out));
	pr_trace_len -= n;
	return n;
}
#else
/* ISO C wants a translation unit to declare something. */
typedef int pr_fault_unused;
#endif
