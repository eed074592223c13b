/* SPDX-License-Identifier: MIT */
/*
 * The hand-written floors: clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD), the
 * same-job child (floor_hygiene), spawn cycles, the ready cycle (inotify +
 * connect, kill, waitid, unlink, close) and the kill + waitid storm.
 */
#include "bench.h"

/*
 * What pidring's child does besides exec, by hand: every signal disposition
 * back to the default (ignored ones included), its own process group,
 * PDEATHSIG, 0-2 on /dev/null and nothing else open. The "same job" floor
 * runs it, to tell the engine's own cost from the cost of the rules.
 */
static int floor_hygiene(struct fspawn *f)
{
	struct ksigaction dfl = { .handler = SIG_DFL }, old;

	for (int sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof(uint64_t)) == 0 &&
		    old.handler != SIG_DFL)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(uint64_t));
	}
	if (setpgid(0, 0) < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return errno;
	if (getppid() != f->parent)
		return ESRCH;
	if (syscall(SYS_close_range, (unsigned)f->devnull + 1, ~0u, CLOSE_RANGE_UNSHARE) < 0)
		return errno;
	for (int fd = 0; fd < 3; fd++)
		if (dup2(f->devnull, fd) < 0)
			return errno;
	if (syscall(SYS_close_range, 3u, ~0u, 0) < 0)
		return errno;
	return 0;
}

static int floor_child(void *arg)
{
	struct fspawn *f = arg;
	uint64_t empty = 0;

	if (f->hygiene) {
		int e = floor_hygiene(f);

		if (e) {
			f->err = e;
			_exit(127);
		}
		goto exec;
	}
	if (f->pdeath)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	/*
	 * Sharing the parent's fd table and then unsharing it with close_range
	 * copies only fds 0-2. Without CLONE_FILES, clone copies every open fd
	 * and exec closes them again (they are close-on-exec), which costs
	 * O(open fds) per spawn.
	 */
	if (f->unshare && syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_UNSHARE) < 0) {
		f->err = errno;
		_exit(127);
	}
exec:
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, NULL, sizeof(empty));
	execve(f->path, f->argv, f->envp);
	f->err = errno ? errno : ENOEXEC;
	_exit(127);
}

/* Returns the pid (and *pidfd), or -errno; a failed exec is reaped here. */
static int floor_spawn(struct fspawn *f, int *pidfd)
{
	uint64_t all = ~(uint64_t)0, old;
	int fd = -1, e;
	pid_t pid;

	f->err = 0;
	/* No handler of ours may run in the child on our memory. */
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof(all));
	pid = clone(floor_child, g.stack + STACK_SIZE,
		    CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD |
		    (f->unshare || f->hygiene ? CLONE_FILES : 0), f, &fd);
	e = errno;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof(old));
	if (pid < 0)
		return -e;
	if (f->err) {
		siginfo_t si;

		waitid((idtype_t)P_PIDFD, (id_t)fd, &si, WEXITED);
		close(fd);
		return -f->err;
	}
	*pidfd = fd;
	return pid;
}

static int pidfd_kill(int fd)
{
	return (int)syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
}

static int reap_pidfd(int fd, siginfo_t *si)
{
	int r;

	memset(si, 0, sizeof(*si));
	while ((r = waitid((idtype_t)P_PIDFD, (id_t)fd, si, WEXITED)) < 0 && errno == EINTR)
		;
	return r < 0 ? -errno : 0;
}

static void floor_abort(struct pollfd *pf, unsigned n)
{
	siginfo_t si;

	for (unsigned i = 0; i < n; i++) {
		pidfd_kill(pf[i].fd);
		reap_pidfd(pf[i].fd, &si);
		close(pf[i].fd);
	}
}

/* N spawn→exit cycles, C in flight; *rate is cycles/s. lat: µs per proc
 * (NULL for warm-up). mode: FL_UNSHARE, the CLONE_FILES variant;
 * FL_HYGIENE, the same job as pidring's child (floor_hygiene). */
int floor_cycles(unsigned n, unsigned c, unsigned mode, struct samples *lat,
			double *rate)
{
	struct fspawn f = { .path = g.child, .argv = argv_plain, .envp = environ,
			    .unshare = mode & FL_UNSHARE, .hygiene = mode & FL_HYGIENE,
			    .devnull = g.devnull, .parent = getpid() };
	struct pollfd pf[MAX_C];
	uint64_t t0[MAX_C], start;
	unsigned nf = 0, spawned = 0, done = 0;
	siginfo_t si;
	int r, fd;

	start = now_ns();
	for (; nf < c && spawned < n; nf++, spawned++) {
		t0[nf] = now_ns();
		r = floor_spawn(&f, &fd);
		if (r < 0)
			goto out;
		pf[nf].fd = fd;
		pf[nf].events = POLLIN;
		pf[nf].revents = 0;
	}
	while (done < n) {
		uint64_t t;

		r = poll(pf, nf, -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		t = now_ns();
		for (unsigned i = 0; i < nf;) {
			if (!pf[i].revents) {
				i++;
				continue;
			}
			r = reap_pidfd(pf[i].fd, &si);
			close(pf[i].fd);
			if (r < 0 || si.si_code != CLD_EXITED || si.si_status != 0) {
				pf[i] = pf[--nf];
				r = r < 0 ? r : -ECHILD;
				goto out;
			}
			push(lat, (double)(t - t0[i]) / 1e3);
			done++;
			if (spawned < n && past_deadline())
				n = spawned;
			if (spawned < n) {
				t0[i] = now_ns();
				r = floor_spawn(&f, &fd);
				if (r < 0) {
					pf[i] = pf[--nf];
					goto out;
				}
				pf[i].fd = fd;
				pf[i].revents = 0;
				spawned++;
				i++;
			} else {
				/* the moved entry is looked at next */
				pf[i] = pf[--nf];
				t0[i] = t0[nf];
			}
		}
	}
	*rate = done / ((double)(now_ns() - start) / 1e9);
	return 0;
out:
	floor_abort(pf, nf);
	return r;
}

/* The envp for the ready floor: environ plus PIDRING_SOCKET=sockbuf. */
static char **floor_env(char *sockvar)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "PIDRING_SOCKET=", 15))
			env[k++] = environ[i];
	env[k++] = sockvar;
	env[k] = NULL;
	return env;
}

/* Ready-floor cycles whose first connect after IN_CREATE was refused (bound,
 * not yet listening), out of all. */
unsigned long floor_refused, floor_ready_total;

/* The floor's unlink of the socket once the child is reaped: unlink(2), or
 * (ring) the UNLINKAT the reap chain must use, which the kernel always runs
 * on an io-wq worker: what that one step costs the cycle. */
static int floor_unlink(struct io_uring *ring, const char *path)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int r;

	if (!ring)
		return unlink(path) < 0 ? -errno : 0;
	sqe = io_uring_get_sqe(ring);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_unlinkat(sqe, AT_FDCWD, path, 0);
	r = io_uring_submit(ring);
	if (r < 0)
		return r;
	do
		r = io_uring_wait_cqe(ring, &cqe);
	while (r == -EINTR);
	if (r < 0)
		return r;
	r = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return r;
}

/* FR_SAMEJOB: the child does what pidring's does besides exec
 * (floor_hygiene). FR_RING_UNLINK: the socket goes by a ring UNLINKAT. */
int floor_ready_cycles(unsigned n, unsigned mode, struct samples *lr,
			      struct samples *lc, double *el)
{
	bool samejob = mode & FR_SAMEJOB;
	struct io_uring ring_, *ring = NULL;
	char sockvar[PATH_MAX + 32], name[32];
	char evbuf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct fspawn f = { .path = g.child, .argv = argv_bind, .pdeath = true,
			    .hygiene = samejob, .devnull = g.devnull, .parent = getpid() };
	char **env = floor_env(sockvar);
	uint64_t start;
	int in, r = 0;

	if (!env)
		return -ENOMEM;
	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in < 0 || inotify_add_watch(in, g.fdir, IN_CREATE) < 0) {
		r = -errno;
		if (in >= 0)
			close(in);
		free(env);
		return r;
	}
	if (mode & FR_RING_UNLINK) {
		r = io_uring_queue_init(8, &ring_, 0);
		if (r < 0) {
			close(in);
			free(env);
			return r;
		}
		ring = &ring_;
	}
	f.envp = env;
	start = now_ns();
	for (unsigned i = 0; i < n && !r; i++) {
		uint64_t t0, t1, spin_end;
		bool bound = false;
		siginfo_t si;
		int pfd = -1, s = -1;

		snprintf(name, sizeof(name), "%u.sock", i);
		if (FMT(sun.sun_path, "%s/%s", g.fdir, name)) {
			r = -ENAMETOOLONG;
			break;
		}
		snprintf(sockvar, sizeof(sockvar), "PIDRING_SOCKET=%s", sun.sun_path);
		unlink(sun.sun_path);

		t0 = now_ns();
		r = floor_spawn(&f, &pfd);
		if (r < 0)
			break;
		r = 0;
		/* bind() fires IN_CREATE on the directory. */
		while (!bound && !r) {
			struct pollfd pf[2] = { { in, POLLIN, 0 }, { pfd, POLLIN, 0 } };
			int k = poll(pf, 2, 10000);
			ssize_t got;

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				r = k ? -errno : -ETIMEDOUT;
				break;
			}
			if (pf[1].revents) {
				r = -ECHILD;         /* it died before binding */
				break;
			}
			got = read(in, evbuf, sizeof(evbuf));
			for (ssize_t off = 0; off < got;) {
				struct inotify_event *e = (struct inotify_event *)(evbuf + off);

				if (e->len && !strcmp(e->name, name))
					bound = true;
				off += (ssize_t)(sizeof(*e) + e->len);
			}
		}
		/* Bound is not listening yet: ECONNREFUSED is retried. */
		spin_end = now_ns() + 10000000000ull;
		for (unsigned tries = 0; !r; tries++) {
			s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (s < 0) {
				r = -errno;
				break;
			}
			if (!connect(s, (struct sockaddr *)&sun, sizeof(sun)))
				break;
			r = -errno;
			close(s);
			s = -1;
			if (r != -ECONNREFUSED && r != -EAGAIN)
				break;
			if (!tries && lr && !mode)
				floor_refused++;
			r = 0;
			if (now_ns() > spin_end) {
				r = -ETIMEDOUT;
				break;
			}
			if (tries < 64) {
				sched_yield();
			} else {
				struct timespec ts = { 0, 50000 };

				nanosleep(&ts, NULL);
			}
		}
		t1 = now_ns();
		if (s >= 0)
			close(s);
		pidfd_kill(pfd);
		if (!r && reap_pidfd(pfd, &si) < 0)
			r = -ECHILD;
		else if (r)
			reap_pidfd(pfd, &si);
		close(pfd);
		if (floor_unlink(ring, sun.sun_path) < 0 && !r)
			r = -EIO;
		if (r)
			break;
		push(lr, (double)(t1 - t0) / 1e3);
		push(lc, (double)(now_ns() - t0) / 1e3);
		if (lr && !mode)
			floor_ready_total++;
	}
	*el = (double)(now_ns() - start) / 1e9;
	if (ring)
		io_uring_queue_exit(ring);
	close(in);
	free(env);
	return r;
}

int floor_storm(unsigned n, double *ms, double *kill_ms)
{
	struct fspawn f = { .path = g.child, .argv = argv_never, .envp = environ,
			    .pdeath = true };
	int *fds = calloc(n, sizeof(*fds));
	unsigned nf = 0;
	uint64_t t0;
	siginfo_t si;
	int r = 0;

	if (!fds)
		return -ENOMEM;
	for (; nf < n; nf++) {
		r = floor_spawn(&f, &fds[nf]);
		if (r < 0)
			break;
		r = 0;
	}
	t0 = now_ns();
	for (unsigned i = 0; i < nf; i++)
		pidfd_kill(fds[i]);
	*kill_ms = (double)(now_ns() - t0) / 1e6;
	for (unsigned i = 0; i < nf; i++) {
		if (reap_pidfd(fds[i], &si) < 0 && !r)
			r = -ECHILD;
		close(fds[i]);
	}
	*ms = (double)(now_ns() - t0) / 1e6;
	free(fds);
	return r;
}
