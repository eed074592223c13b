/* SPDX-License-Identifier: MIT */
/*
 * The counters behind pr_fault(), in the test-only build. The two control
 * functions are exported there (and only there) for tests/test_fault.c.
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
#else
/* ISO C wants a translation unit to declare something. */
typedef int pr_fault_unused;
#endif
