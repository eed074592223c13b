/* SPDX-License-Identifier: MIT */
/*
 * Linked into the ASan test binary only (make check-asan).
 *
 * Criterion runs each test in a worker it execs from the same binary with
 * argv[0] "boxfort-worker"; LeakSanitizer checks each worker at its exit.
 * The runner itself (the process make starts) leaks a 48-byte calloc of
 * Criterion 2.4's own, which no suppression can single out: every test's
 * stack has libcriterion frames too. So the leak check is turned off in the
 * runner alone, which runs no test code.
 */
#include <errno.h>
#include <string.h>

int __lsan_is_turned_off(void);

int __lsan_is_turned_off(void)
{
	return strcmp(program_invocation_short_name, "boxfort-worker") != 0;
}
