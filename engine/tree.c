/* SPDX-License-Identifier: MIT */
/*
 * Process trees: a cgroup per proc (cgroup v2), and the subreaper that reaps
 * orphaned descendants adopted by the process.
 *
 * cgroup mode: <cgroup_dir>/<instance>/<slot>.<gen> is made before the spawn;
 * the child is born in it (clone3's CLONE_INTO_CGROUP) or joins it before
 * exec. The reap chain's kill step is a WRITE of "1" to cgroup.kill (then a
 * CLOSE of that fd), which the kernel makes race-free against forks, and
 * reaches grandchildren that setsid()'d out of the process group. After the
 * leader is reaped the chain's tail removes the cgroup (UNLINKAT with
 * AT_REMOVEDIR) before the pidfd's CLOSE; while stragglers are still dying that
 * fails with -EBUSY, and cgroup.events is watched on the ring (POLLPRI) until
 * it says "populated 0". DONE waits for the cgroup to be gone.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "tree.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static const char pr_one = '1';

int pr_cg_name(const struct pr_proc *p, uint32_t idx, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%u.%u", idx, p->gen);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : n;
}

/*
 * An engine that died (SIGKILL, a crash) left its cgroups behind: its procs
 * died with it (PDEATHSIG), but descendants that left the group may not
 * have. Its instance name starts with its pid; when no process has that pid
 * any more, kill what is left through cgroup.kill and remove the cgroups.
 * A directory that is still busy is left for the next engine to retry.
 */
static void pr_cg_sweep(struct pidring *pr)
{
	DIR *d = pr_opendirat(pr->cg_parent_fd, ".");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		unsigned rnd;
		int pid, n = 0;
		DIR *sub;
		struct dirent *ce;

		if (de->d_type != DT_DIR || sscanf(de->d_name, "%d-%8x%n", &pid, &rnd, &n) != 2 ||
		    de->d_name[n] || pid <= 0 || pid == getpid() ||
		    kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		sub = pr_opendirat(dirfd(d), de->d_name);
		if (!sub)
			continue;
		while ((ce = readdir(sub))) {
			char path[sizeof(ce->d_name) + 16];
			struct pollfd pf = { .events = POLLPRI };
			int kfd;

			if (ce->d_type != DT_DIR || ce->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/cgroup.kill", ce->d_name);
			kfd = openat(dirfd(sub), path, O_WRONLY | O_CLOEXEC);
			if (kfd >= 0) {
				if (write(kfd, &pr_one, 1) < 0) {
					/* gone meanwhile: the rmdir says */
				}
				close(kfd);
			}
			/*
			 * The kill is asynchronous: give the processes up to
			 * 100 ms to leave (cgroup.events changes when they
			 * have). This is the one wait outside pidring_wait,
			 * in pidring_new, and only for a dead engine's debris.
			 */
			snprintf(path, sizeof(path), "%s/cgroup.events", ce->d_name);
			pf.fd = openat(dirfd(sub), path, O_RDONLY | O_CLOEXEC);
			for (int i = 0; pf.fd >= 0 && i < 10; i++) {
				char ev[128];
				ssize_t got = pread(pf.fd, ev, sizeof(ev) - 1, 0);

				if (got < 0)
					break;
				ev[got] = 0;
				if (strstr(ev, "populated 0"))
					break;
				poll(&pf, 1, 10);
			}
			if (pf.fd >= 0)
				close(pf.fd);
			unlinkat(dirfd(sub), ce->d_name, AT_REMOVEDIR);
		}
		closedir(sub);
		unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

int pr_tree_init(struct pidring *pr, const char *cgroup_dir, unsigned flags)
{
	struct statfs sf;
	int fd, ret;

	if (flags & PIDRING_F_SUBREAPER) {
		int was = 0;

		if (prctl(PR_GET_CHILD_SUBREAPER, &was) < 0)
			return -errno;
		if (!was) {
			if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
				return -errno;
			pr->set_subreaper = true;
		}
		ret = pr_pids_init(pr);
		if (ret)
			return ret;
		pr->subreaper = true;
	}
	if (!cgroup_dir)
		return 0;
	if (!*cgroup_dir)
		return -EINVAL;
	fd = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* No silent fallback: a directory that is not cgroup v2 is refused. */
	if (fstatfs(fd, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC) {
		close(fd);
		return -ENOTSUP;
	}
	pr->cg_parent_fd = fd;
	if (mkdirat(fd, pr->inst_name, 0755) < 0)
		return -errno;    /* EACCES, EROFS, EPERM: not writable */
	pr->cg_fd = openat(fd, pr->inst_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pr->cg_fd < 0) {
		ret = -errno;
		unlinkat(fd, pr->inst_name, AT_REMOVEDIR);
		return ret;
	}
	/* cgroup.kill is kernel 5.14: without it a tree cannot be killed. */
	if (faccessat(pr->cg_fd, "cgroup.kill", W_OK, 0) < 0) {
		close(pr->cg_fd);
		pr->cg_fd = -1;
		unlinkat(fd, pr->inst_name, AT_REMOVEDIR);
		return -ENOTSUP;
	}
	pr_cg_sweep(pr);
	return 0;
}

void pr_tree_fini(struct pidring *pr)
{
	if (pr->cg_fd >= 0) {
		close(pr->cg_fd);
		pr->cg_fd = -1;
		unlinkat(pr->cg_parent_fd, pr->inst_name, AT_REMOVEDIR);
	}
	if (pr->cg_parent_fd >= 0)
		close(pr->cg_parent_fd);
	pr->cg_parent_fd = -1;
	if (pr->set_subreaper)
		prctl(PR_SET_CHILD_SUBREAPER, 0);
	pr->set_subreaper = false;
}

/* Before clone: the proc's cgroup, made, and an fd of its directory. */
int pr_tree_prepare(struct pidring *pr, struct pr_proc *p, uint32_t idx, int *dir_fd)
{
	char name[32];
	int fd;

	*dir_fd = -1;
	if (pr->cg_fd < 0)
		return 0;
	pr_cg_name(p, idx, name, sizeof(name));
	if (mkdirat(pr->cg_fd, name, 0755) < 0) {
		/* A leftover of an earlier generation that could not be removed. */
		if (errno != EEXIST || unlinkat(pr->cg_fd, name, AT_REMOVEDIR) < 0 ||
		    mkdirat(pr->cg_fd, name, 0755) < 0)
			return -errno;
	}
	/* The directory itself: clone3 starts the child in it
	 * (CLONE_INTO_CGROUP); the clone() path opens its cgroup.procs. */
	fd = openat(pr->cg_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = -errno;
		unlinkat(pr->cg_fd, name, AT_REMOVEDIR);
		return e;
	}
	p->flags |= PRF_CGROUP;
	*dir_fd = fd;
	return 0;
}

/* A spawn failed after prepare, or the engine gives up on the proc. */
void pr_tree_release(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	char name[32];

	if (p->cg_events_fd >= 0) {
		close(p->cg_events_fd);
		p->cg_events_fd = -1;
	}
	if (p->flags & PRF_CGROUP) {
		pr_cg_name(p, idx, name, sizeof(name));
		unlinkat(pr->cg_fd, name, AT_REMOVEDIR);
		p->flags &= ~PRF_CGROUP;
	}
}

void pr_tree_tracked(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	if (pr->subreaper && !(p->flags & PRF_HASHED))
		pr_pids_add(pr, p, idx);
	if (pr->subreaper)
		pr_orphans_arm(pr);
}

static int pr_cg_open(struct pidring *pr, struct pr_proc *p, uint32_t idx,
		      const char *file, int flags)
{
	char name[32], path[64];

	pr_cg_name(p, idx, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s", name, file);
	return openat(pr->cg_fd, path, flags | O_CLOEXEC);
}

/*
 * The kill step in cgroup mode, a step of the reap chain: the fd of the
 * proc's cgroup.kill is opened here, on the engine's thread, and the chain
 * WRITEs "1" to it and CLOSEs it. -errno when it cannot be opened (the
 * cgroup is gone): the group signal that went before the chain still acts.
 */
int pr_tree_kill_open(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	int fd;

	if (!(p->flags & PRF_CGROUP))
		return -ENOENT;
	fd = pr_cg_open(pr, p, idx, "cgroup.kill", O_WRONLY);
	return fd < 0 ? -errno : fd;
}

/* WRITE "1" -> CLOSE, both hardlinked to what follows. Returns the last. */
struct io_uring_sqe *pr_tree_put_kill(struct pidring *pr, struct pr_proc *p,
				      uint32_t idx, int fd)
{
	struct io_uring_sqe *sqe = pr_psqe(pr, p, idx, PR_OP_CGKILL);

	io_uring_prep_write(sqe, fd, &pr_one, 1, 0);
	sqe->flags |= IOSQE_IO_HARDLINK;
	sqe = pr_psqe(pr, p, idx, PR_OP_CGKILL);
	io_uring_prep_close(sqe, fd);
	sqe->flags |= IOSQE_IO_HARDLINK;
	return sqe;
}

unsigned pr_tree_tail_len(const struct pr_proc *p)
{
	return (p->flags & PRF_CGROUP) ? 1 : 0;
}

/* In the tail, before the pidfd's CLOSE: remove the cgroup. */
void pr_tree_put_rmdir(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct io_uring_sqe *sqe;

	if (!(p->flags & PRF_CGROUP))
		return;
	pr_cg_name(p, idx, p->cg_name, sizeof(p->cg_name));
	sqe = pr_psqe(pr, p, idx, PR_OP_CGRMDIR);
	io_uring_prep_unlinkat(sqe, pr->cg_fd, p->cg_name, AT_REMOVEDIR);
	sqe->flags |= IOSQE_IO_HARDLINK;
}

/* "populated 0": nothing of the tree is left. */
static int pr_cg_empty(struct pr_proc *p)
{
	char buf[256];
	ssize_t n = pread(p->cg_events_fd, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		return -errno;
	buf[n] = 0;
	return strstr(buf, "populated 0") != NULL;
}

static void pr_cg_rmdir_again(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct io_uring_sqe *sqe;

	if (pr_reserve(pr, 1)) {
		pr_defer(pr, p, PR_PEND_CG);
		return;
	}
	sqe = pr_psqe(pr, p, idx, PR_OP_CGRMDIR);
	io_uring_prep_unlinkat(sqe, pr->cg_fd, p->cg_name, AT_REMOVEDIR);
	pr_submit(pr);
}

/* The cgroup still holds processes: kill them, and watch it empty. */
void pr_tree_linger(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct io_uring_sqe *sqe;
	int fd, empty;

	/* Stragglers: a leader that exited on its own leaves its tree. */
	fd = pr_cg_open(pr, p, idx, "cgroup.kill", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, &pr_one, 1) < 0) {
			/* nothing more to do: the watch below still runs */
		}
		close(fd);
	}
	if (p->cg_events_fd < 0)
		p->cg_events_fd = pr_cg_open(pr, p, idx, "cgroup.events", O_RDONLY);
	if (p->cg_events_fd < 0) {
		p->flags &= ~PRF_CGROUP;     /* gone, or never to be removed */
		return;
	}
	/* Read before arming: a change after this read makes the poll fire. */
	empty = pr_cg_empty(p);
	if (empty != 0) {
		pr_cg_rmdir_again(pr, p, idx);
		return;
	}
	if (pr_reserve(pr, 1)) {
		pr_defer(pr, p, PR_PEND_CG);
		return;
	}
	sqe = pr_psqe(pr, p, idx, PR_OP_CGWATCH);
	io_uring_prep_poll_add(sqe, p->cg_events_fd, POLLPRI);
	pr_submit(pr);
}

void pr_tree_cqe(struct pidring *pr, struct pr_proc *p, uint32_t idx,
		 enum pr_op op, int res)
{
	switch (op) {
	case PR_OP_CGRMDIR:
		if (res == 0 || res == -ENOENT || !(p->flags & PRF_CGROUP))
			p->flags &= ~PRF_CGROUP;
		else if (res == -EBUSY)
			pr_tree_linger(pr, p, idx);
		else
			p->flags &= ~PRF_CGROUP; /* cannot be removed: give up */
		break;
	case PR_OP_CGWATCH:
		pr_tree_linger(pr, p, idx);
		break;
	default:
		break;
	}
}

/* ---- subreaper ---- */

/*
 * With PIDRING_F_SUBREAPER, orphaned descendants are reparented to this
 * process. A WAITID(P_ALL, WNOWAIT) on the ring peeks at the next exited
 * child without consuming it; a pid the engine tracks is left to its own
 * chain (the peek is re-armed after a short TIMEOUT so that it does not
 * spin on it), any other pid is reaped here and counted.
 */
void pr_orphans_arm(struct pidring *pr)
{
	struct io_uring_sqe *sqe;

	if (!pr->subreaper || pr->orphan_armed || pr->destroying || !pr->has_waitid)
		return;
	if (pr_reserve(pr, 1))
		return;
	sqe = pr_esqe(pr, PR_OP_ORPHAN);
	memset(&pr->orphan_si, 0, sizeof(pr->orphan_si));
	pr_prep_waitid(sqe, P_ALL, 0, &pr->orphan_si, WEXITED | WNOWAIT);
	pr->orphan_armed = true;
}

/* Reap every exited child the engine does not track, without blocking. */
void pr_orphans_sweep(struct pidring *pr)
{
	for (;;) {
		siginfo_t si;
		uint32_t idx;

		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || !si.si_pid)
			return;
		if (pr_pids_find(pr, si.si_pid, &idx))
			return;       /* its own chain reaps it */
		if (waitid(P_PID, (id_t)si.si_pid, &si, WEXITED | WNOHANG) == 0 && si.si_pid)
			pr->orphans++;
	}
}

void pr_orphans_cqe(struct pidring *pr, struct pr_proc *p, uint32_t idx,
		    enum pr_op op, int res)
{
	struct io_uring_sqe *sqe;
	uint32_t slot;

	(void)p, (void)idx;      /* the engine's own: no proc */

	if (op == PR_OP_ORETRY) {
		pr->orphan_retry = false;
		if (res != -ECANCELED)
			pr_orphans_arm(pr);
		return;
	}
	pr->orphan_armed = false;
	if (res < 0)
		return;       /* -ECHILD: no child at all; the next spawn re-arms */
	if (!pr_pids_find(pr, pr->orphan_si.si_pid, &slot)) {
		pr_orphans_sweep(pr);
		pr_orphans_arm(pr);
		pr_submit(pr);
		return;
	}
	/* A tracked child is exiting: its chain reaps it; look again soon. */
	if (pr->orphan_retry || pr_reserve(pr, 1))
		return;
	sqe = pr_esqe(pr, PR_OP_ORETRY);
	pr->orphan_ts.tv_sec = 0;
	pr->orphan_ts.tv_nsec = 1000000;
	io_uring_prep_timeout(sqe, &pr->orphan_ts, 0, 0);
	pr->orphan_retry = true;
	pr_submit(pr);
}

void pr_orphans_cancel(struct pidring *pr)
{
	if (!pr->orphan_armed && !pr->orphan_retry)
		return;
	if (pr_reserve(pr, 2))
		return;
	if (pr->orphan_armed)
		pr_ecancel(pr, PR_OP_ORPHAN);
	if (pr->orphan_retry)
		pr_ecancel(pr, PR_OP_ORETRY);
	pr_submit(pr);
}

unsigned long pidring_orphans(const struct pidring *pr)
{
	return pr ? pr->orphans : 0;
}
