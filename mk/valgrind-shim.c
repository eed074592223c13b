/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD'd into the test binary under valgrind only (make
 * check-valgrind); never part of the library. It bridges two gaps of
 * valgrind 3.19 (Debian 12) that would otherwise stop every spawn or every
 * kill, and changes nothing else:
 *
 * clone(): valgrind runs clone(CLONE_VM|CLONE_VFORK) as a plain fork (it
 * cannot share its own memory between two processes), but it refuses any
 * other combination outright ("Unsupported clone() flags ... Valgrind does
 * not support general clone()", and the process exits). The engine clones
 * with CLONE_VM|CLONE_VFORK|CLONE_FILES; the shim drops CLONE_FILES from such
 * a vfork-style clone. The forked child then starts with a copy of the fd
 * table instead of the shared one, which is what pr_child makes of it anyway
 * (close_range(CLOSE_RANGE_UNSHARE) before it touches an fd).
 *
 * syscall(SYS_pidfd_send_signal): valgrind has no wrapper for syscall 424:
 * it prints "unhandled amd64-linux syscall: 424" and fails it with ENOSYS,
 * so no cancel or stop could kill anything. The shim does what the kernel
 * does, through kill(): the pid comes from /proc/self/fdinfo/<pidfd>, and
 * PIDFD_SIGNAL_PROCESS_GROUP signals the target's process group. The race
 * the pidfd exists to close (a recycled pid) cannot happen here: the engine
 * signals only children it has not reaped, whose pid stays theirs. Every
 * other syscall() goes to glibc unchanged.
 */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SHIM_PIDFD_SIGNAL_PROCESS_GROUP (1u << 2)   /* kernel 6.9 */

long syscall(long nr, ...);
int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...);

static long pidfd_pid(int pidfd)
{
	char path[64], line[256];
	long pid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	f = fopen(path, "re");
	if (!f)
		return -EBADF;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Pid: %ld", &pid) == 1)
			break;
	fclose(f);
	if (pid == -1)
		return -ESRCH;            /* exited and reaped */
	if (pid <= 0)
		return -EBADF;            /* not a pidfd */
	return pid;
}

static long pidfd_send_signal(int pidfd, int sig, const void *info, unsigned flags)
{
	long pid = pidfd_pid(pidfd);
	pid_t target;

	if (info || (flags & ~SHIM_PIDFD_SIGNAL_PROCESS_GROUP)) {
		errno = EINVAL;
		return -1;
	}
	if (pid < 0) {
		errno = (int)-pid;
		return -1;
	}
	target = (pid_t)pid;
	if (flags & SHIM_PIDFD_SIGNAL_PROCESS_GROUP) {
		pid_t pgid = getpgid(target);

		if (pgid < 0)
			return -1;
		target = -pgid;
	}
	return kill(target, sig);
}

long syscall(long nr, ...)
{
	static long (*real)(long, ...);
	long a[6];
	va_list ap;

	/* glibc's syscall() takes six register arguments whatever the call;
	 * pass them all on. */
	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_pidfd_send_signal)
		return pidfd_send_signal((int)a[0], (int)a[1], (const void *)a[2],
					 (unsigned)a[3]);
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	static int (*real)(int (*)(void *), void *, int, void *, ...);
	void *ptid, *tls, *ctid;
	va_list ap;

	va_start(ap, arg);
	ptid = va_arg(ap, void *);
	tls = va_arg(ap, void *);
	ctid = va_arg(ap, void *);
	va_end(ap);
	if ((flags & CLONE_VFORK) && (flags & CLONE_VM))
		flags &= ~CLONE_FILES;
	if (!real)
		real = (int (*)(int (*)(void *), void *, int, void *, ...))dlsym(RTLD_NEXT, "clone");
	return real(fn, stack, flags, arg, ptid, tls, ctid);
}
