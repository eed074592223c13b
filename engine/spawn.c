/* SPDX-License-Identifier: MIT */
/*
 * The spawn path: clone3(CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_PIDFD |
 * CLONE_CLEAR_SIGHAND [| CLONE_INTO_CGROUP]) on an engine-owned stack, as
 * posix_spawn and glibc's pidfd_spawn do (plus CLONE_FILES: the child copies
 * only the fds it needs, see pr_child). No fork, no page-table copy: the
 * parent's size never matters. The calling thread is suspended until the
 * child has exec'd or exited. Where clone3 is missing (not x86-64, a kernel
 * before 5.7, a seccomp filter that hides it) or PIDRING_F_NO_CLONE3 asks,
 * clone() does the same with signals blocked around it, and the child joins
 * its cgroup by writing cgroup.procs.
 *
 * The child shares our memory until exec, so it must not touch anything the
 * parent may hold a lock on: no malloc, no stdio, only system calls and the
 * plan the parent computed for it (struct pr_plan). An exec failure is written
 * into the plan and the child _exit(127)s; the parent reaps it.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1u << 1)
#endif
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ull
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ull
#endif

#include "internal.h"
#include "ready.h"
#include "tree.h"

extern char **environ;

/* The kernel's struct sigaction for rt_sigaction (glibc's differs). */
struct pr_ksigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

#define PR_NSIG 64

struct pr_plan {
	const char   *path;
	char *const  *argv;
	char *const  *envp;
	const char   *cwd;
	const struct pidring_fd_map *fds;
	int          *tmp;          /* nfds + 1 scratch ints, parent-allocated */
	unsigned      nfds;
	int           hi;           /* 1 + highest target fd, at least 3 */
	int           keep;         /* 1 + highest fd the child needs from us */
	int           devnull;
	int           cg_procs;     /* clone() path: the cgroup's cgroup.procs, or -1 */
	unsigned      flags;
	const struct pidring_spawn *spec;
	pid_t         parent;
	volatile int  err;          /* -errno of the failed step, 0 if exec'd */
};

int pr_spawn_init(struct pidring *pr)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = PR_STACK_SIZE + (size_t)page;
	void *m;

	pr->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (pr->devnull < 0)
		return -errno;
	m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (m == MAP_FAILED) {
		int e = -errno;
		close(pr->devnull);
		pr->devnull = -1;
		return e;
	}
	/* A guard page below the stack turns an overflow into a fault, not a
	 * silent write into whatever the allocator put there. */
	mprotect(m, (size_t)page, PROT_NONE);
	pr->stack = m;
	pr->stack_len = len;
	return 0;
}

void pr_spawn_fini(struct pidring *pr)
{
	if (pr->stack)
		munmap(pr->stack, pr->stack_len);
	pr->stack = NULL;
	if (pr->devnull >= 0)
		close(pr->devnull);
	pr->devnull = -1;
}

#if defined(__x86_64__) && defined(SYS_clone3)
#define PR_HAVE_CLONE3 1

/* The kernel's struct clone_args up to the cgroup field (Linux 5.7). */
struct pr_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
	uint64_t stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

/*
 * clone3 with CLONE_VM on the given stack. The child wakes on that stack with
 * no frame to return into, so it cannot come back here as C: in assembly it
 * calls fn(arg) and exits with what fn returns (pr_child never does). Returns
 * the pid or -errno, in the parent only.
 */
__attribute__((noinline))
static long pr_clone3_vm(struct pr_clone_args *ca, int (*fn)(void *), void *arg)
{
	register long rax __asm__("rax") = SYS_clone3;
	register struct pr_clone_args *rdi __asm__("rdi") = ca;
	register long rsi __asm__("rsi") = (long)sizeof(*ca);
	/* The child starts with the parent's registers but rax, rcx, r11 and
	 * rsp: fn and arg ride in two of them. */
	register int (*r12)(void *) __asm__("r12") = fn;
	register void *r13 __asm__("r13") = arg;

	__asm__ volatile(
		"syscall\n\t"
		"test %%rax, %%rax\n\t"
		"jnz 1f\n\t"
		"xor %%ebp, %%ebp\n\t"        /* the outermost frame */
		"and $-16, %%rsp\n\t"         /* the call ABI's alignment */
		"mov %%r13, %%rdi\n\t"
		"call *%%r12\n\t"
		"mov %%eax, %%edi\n\t"
		"mov %[nr_exit], %%eax\n\t"
		"syscall\n\t"
		"ud2\n"
		"1:"
		: "+r"(rax)
		: "r"(rdi), "r"(rsi), "r"(r12), "r"(r13), [nr_exit] "i"(SYS_exit)
		: "rcx", "r11", "cc", "memory");
	return rax;
}
#endif

/*
 * The child runs on the engine's own stack, which AddressSanitizer does not
 * know: its no-return bookkeeping would report false positives there.
 */
__attribute__((no_sanitize("address")))
static _Noreturn void pr_fail(struct pr_plan *pl, int e)
{
	pl->err = -e;
	_exit(127);
}

/*
 * The child's steps, each 0 or the errno of what failed. They run in the
 * child, on the engine's stack, in the parent's memory (see pr_child).
 *
 * No handler of the parent's can run here on shared memory: clone3 started
 * us with every handler reset (CLONE_CLEAR_SIGHAND), and the clone() path
 * blocked every signal before the clone. Reset every disposition that is
 * not the default (ignored ones survive both CLONE_CLEAR_SIGHAND and exec);
 * the mask is emptied last thing before exec: the child must start clean.
 */
__attribute__((no_sanitize("address")))
static void pr_child_signals(void)
{
	struct pr_ksigaction dfl = { .handler = SIG_DFL }, old;

	for (int sig = 1; sig <= PR_NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof(uint64_t)))
			continue;
		if (old.handler != SIG_DFL)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(uint64_t));
	}
}

/* Its cgroup, its process group or session, its supervisor. */
__attribute__((no_sanitize("address")))
static int pr_child_place(const struct pr_plan *pl)
{
	/* Join the cgroup first: everything after, a fork of the runner's
	 * included, happens inside it. */
	if (pl->cg_procs >= 0 && write(pl->cg_procs, "0", 1) != 1)
		return errno ? errno : EIO;
	if (pl->flags & PIDRING_SPAWN_SETSID) {
		if (setsid() < 0)
			return errno;
	} else if (!(pl->flags & PIDRING_SPAWN_KEEP_PGRP)) {
		if (setpgid(0, 0) < 0)
			return errno;
	}
	/* PDEATHSIG is tied to the spawning thread; if that already went away
	 * we were reparented and must not run unsupervised. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return errno;
	if (getppid() != pl->parent)
		return ESRCH;
	return 0;
}

__attribute__((no_sanitize("address")))
static bool pr_child_mapped(const struct pr_plan *pl, int fd)
{
	for (unsigned i = 0; i < pl->nfds; i++)
		if (pl->fds[i].child_fd == fd)
			return true;
	return false;
}

/* Exactly 0, 1, 2 and the mapped fds; everything else closed. */
__attribute__((no_sanitize("address")))
static int pr_child_fds(const struct pr_plan *pl)
{
	unsigned i;
	int fd;

	/*
	 * Until here the child shares our fd table (CLONE_FILES) and has not
	 * touched it. Take a private copy of only the fds below keep (the map's
	 * sources and /dev/null) rather than of the whole table: with a pidfd
	 * open per live proc, copying them all and closing them all again made
	 * every spawn cost O(live procs).
	 */
	if (syscall(SYS_close_range, (unsigned)pl->keep, ~0u, CLOSE_RANGE_UNSHARE) < 0)
		return errno;
	/*
	 * Map fds. A source below hi could be overwritten by an earlier dup2,
	 * so every such source (and /dev/null) is first moved to hi or above;
	 * those copies are close-on-exec and closed below.
	 */
	for (i = 0; i <= pl->nfds; i++) {
		fd = i < pl->nfds ? pl->fds[i].parent_fd : pl->devnull;
		if (fd < pl->hi && (fd = fcntl(fd, F_DUPFD_CLOEXEC, pl->hi)) < 0)
			return errno;
		pl->tmp[i] = fd;
	}
	for (i = 0; i < pl->nfds; i++)
		if (dup2(pl->tmp[i], pl->fds[i].child_fd) < 0)
			return errno;
	for (fd = 0; fd < 3; fd++)
		if (!pr_child_mapped(pl, fd) && dup2(pl->tmp[pl->nfds], fd) < 0)
			return errno;
	/* Close everything that is not a target: the gaps below hi, then all
	 * from hi up (which takes the moved copies with it). */
	for (fd = 3; fd < pl->hi; fd++)
		if (!pr_child_mapped(pl, fd))
			close(fd);
	if (syscall(SYS_close_range, (unsigned)pl->hi, ~0u, 0) < 0)
		return errno;
	return 0;
}

/*
 * Limits, then credentials, groups before gid before uid. Raw system calls:
 * glibc's setuid family signals every thread of the process to keep their
 * credentials in step, and our "threads" are the parent's.
 */
__attribute__((no_sanitize("address")))
static int pr_child_creds(const struct pr_plan *pl)
{
	const struct pidring_spawn *s = pl->spec;

	for (unsigned i = 0; i < s->nrlimits; i++) {
		const struct pidring_rlimit *rl = &s->rlimits[i];
		struct rlimit64 { uint64_t cur, max; } lim = { rl->cur, rl->max };

		if (syscall(SYS_prlimit64, 0, rl->resource, &lim, NULL) < 0)
			return errno;
	}
	if (pl->flags & PIDRING_SPAWN_SETGROUPS &&
	    syscall(SYS_setgroups, (size_t)s->ngroups, s->groups) < 0)
		return errno;
	if (pl->flags & PIDRING_SPAWN_SETGID &&
	    syscall(SYS_setresgid, s->gid, s->gid, s->gid) < 0)
		return errno;
	if (pl->flags & PIDRING_SPAWN_SETUID &&
	    syscall(SYS_setresuid, s->uid, s->uid, s->uid) < 0)
		return errno;
	if (pl->flags & PIDRING_SPAWN_NO_NEW_PRIVS &&
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return errno;
	return 0;
}

/* Runs in the child, on the engine's stack, in the parent's memory. */
__attribute__((no_sanitize("address")))
static int pr_child(void *arg)
{
	struct pr_plan *pl = arg;
	uint64_t empty = 0;
	int e;

	pr_child_signals();
	if ((e = pr_child_place(pl)) || (e = pr_child_fds(pl)))
		pr_fail(pl, e);
	if (pl->cwd && chdir(pl->cwd) < 0)
		pr_fail(pl, errno);
	if ((e = pr_child_creds(pl)))
		pr_fail(pl, e);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, NULL, sizeof(uint64_t));
	execve(pl->path, pl->argv, pl->envp);
	pr_fail(pl, errno);
	return 127;
}

/* Check the spec's fd map in the parent, where errors are cheap to report. */
static int pr_check_fds(const struct pidring_spawn *s, int devnull, int *hi, int *keep)
{
	int top = 2, need = devnull > 2 ? devnull : 2;

	for (unsigned i = 0; i < s->nfds; i++) {
		int c = s->fds[i].child_fd, p = s->fds[i].parent_fd;

		if (p < 0 || fcntl(p, F_GETFD) < 0)
			return -EBADF;
		if (c > top)
			top = c;
		if (p > need)
			need = p;
	}
	*hi = top + 1;
	*keep = need + 1;
	return 0;
}

/*
 * Run the child through clone(), every signal blocked around it so that no
 * handler of ours runs in it before it has reset them. The cgroup, if any, is
 * joined by the child through cgroup.procs.
 */
static pid_t pr_clone_old(struct pidring *pr, struct pr_plan *pl, int cg_dir,
			  int *pidfd)
{
	uint64_t all = ~(uint64_t)0, old;
	pid_t pid;

	if (cg_dir >= 0) {
		pl->cg_procs = openat(cg_dir, "cgroup.procs", O_WRONLY | O_CLOEXEC);
		if (pl->cg_procs < 0)
			return -errno;
	}
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof(uint64_t));
	pid = clone(pr_child, (char *)pr->stack + pr->stack_len,
		    CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_PIDFD | SIGCHLD, pl,
		    pidfd);
	if (pid < 0)
		pid = -errno;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof(uint64_t));
	if (pl->cg_procs >= 0)
		close(pl->cg_procs);
	return pid;
}

/*
 * Run the child through clone3: handlers cleared by the kernel (no signal
 * blocking needed around it), born in its cgroup. Falls back to clone() for
 * good when the kernel has no clone3 or not these flags.
 */
static pid_t pr_clone_new(struct pidring *pr, struct pr_plan *pl, int cg_dir,
			  int *pidfd)
{
#ifdef PR_HAVE_CLONE3
	if (!pr->no_clone3) {
		struct pr_clone_args ca = {
			.flags = CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_PIDFD |
				 CLONE_CLEAR_SIGHAND,
			.pidfd = (uint64_t)(uintptr_t)pidfd,
			.exit_signal = SIGCHLD,
			.stack = (uint64_t)(uintptr_t)pr->stack,
			.stack_size = pr->stack_len,
		};
		long pid;

		if (cg_dir >= 0) {
			ca.flags |= CLONE_INTO_CGROUP;
			ca.cgroup = (uint64_t)cg_dir;
		}
		pid = pr_fault(PR_FS_CLONE3) ? -ENOSYS : pr_clone3_vm(&ca, pr_child, pl);
		/* ENOSYS: no clone3 (or a filter hiding it, which is how
		 * container runtimes hide it); E2BIG, EINVAL: one older than
		 * CLONE_INTO_CGROUP or CLONE_CLEAR_SIGHAND. */
		if (pid != -ENOSYS && pid != -E2BIG && pid != -EINVAL)
			return (pid_t)pid;
		pr->no_clone3 = true;
	}
#endif
	return pr_clone_old(pr, pl, cg_dir, pidfd);
}

int pr_clone(struct pidring *pr, struct pr_proc *p, const struct pidring_spawn *s,
	     char *const *argv, char *const *envp, int cg_dir)
{
	int tmp_small[17], *tmp = tmp_small;
	struct pr_plan pl = {
		.path = s->path, .argv = argv, .envp = envp ? envp : environ,
		.cwd = s->cwd, .fds = s->fds, .nfds = s->nfds,
		.devnull = pr->devnull, .flags = s->flags, .parent = pr->owner_pid,
		.cg_procs = -1, .spec = s,
	};
	int pidfd = -1, ret, hi;
	pid_t pid;

	ret = pr_check_fds(s, pr->devnull, &hi, &pl.keep);
	if (ret)
		return ret;
	if (pr_fault(PR_FS_CLONE))
		return -EAGAIN;
	pl.hi = hi;
	if (s->nfds + 1 > sizeof(tmp_small) / sizeof(tmp_small[0])) {
		tmp = malloc((s->nfds + 1) * sizeof(*tmp));
		if (!tmp)
			return -ENOMEM;
	}
	pl.tmp = tmp;

	pid = pr_clone_new(pr, &pl, cg_dir, &pidfd);
	if (tmp != tmp_small)
		free(tmp);
	if (pid < 0)
		return pid;
	if (pl.err) {
		siginfo_t si;

		/* The child is dead or about to be; reap exactly it. */
		while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 &&
		       errno == EINTR)
			;
		close(pidfd);
		return pl.err;
	}
	p->pid = pid;
	p->pidfd = pidfd;
	if (s->flags & PIDRING_SPAWN_SETSID || !(s->flags & PIDRING_SPAWN_KEEP_PGRP))
		p->flags |= PRF_GROUP;
	return 0;
}

#define PR_SPAWN_FLAGS (PIDRING_SPAWN_SETSID | PIDRING_SPAWN_KEEP_PGRP | \
			PIDRING_SPAWN_SETUID | PIDRING_SPAWN_SETGID | \
			PIDRING_SPAWN_SETGROUPS | PIDRING_SPAWN_NO_NEW_PRIVS | \
			PIDRING_SPAWN_SOCKET)

/*
 * Everything about a spec that can be checked without the kernel. Pure, so
 * that the fuzzer can drive it (parent fds are checked later, in pr_clone).
 */
int pr_spawn_validate(const struct pidring_spawn *s)
{
	if (!s || !s->path || !s->argv || !s->argv[0])
		return -EINVAL;
	if (s->flags & ~PR_SPAWN_FLAGS ||
	    (s->flags & PIDRING_SPAWN_SETSID && s->flags & PIDRING_SPAWN_KEEP_PGRP))
		return -EINVAL;
	if ((unsigned)s->ready > PIDRING_READY_NOTIFY)
		return -EINVAL;
	if (s->ready_timeout_ms > PR_MAX_READY_MS)
		return -EINVAL;
	if ((s->nfds && !s->fds) || s->nfds > PR_MAX_FDS)
		return -EINVAL;
	for (unsigned i = 0; i < s->nfds; i++) {
		if (s->fds[i].child_fd < 0)
			return -EINVAL;
		for (unsigned j = 0; j < i; j++)
			if (s->fds[j].child_fd == s->fds[i].child_fd)
				return -EINVAL;
	}
	if (s->flags & PIDRING_SPAWN_SETGROUPS &&
	    ((s->ngroups && !s->groups) || s->ngroups > 65536))
		return -EINVAL;
	if ((s->nrlimits && !s->rlimits) || s->nrlimits > 64)
		return -EINVAL;
	for (unsigned i = 0; i < s->nrlimits; i++)
		if (s->rlimits[i].resource < 0 || s->rlimits[i].resource >= RLIMIT_NLIMITS ||
		    s->rlimits[i].cur > s->rlimits[i].max)
			return -EINVAL;
	return 0;
}
