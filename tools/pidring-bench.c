/* SPDX-License-Identifier: MIT */
/*
 * pidring-bench — pidring against a hand-written floor and common practice.
 *
 *   pidring-bench [--quick] [--rounds R] [--only LIST] [--no-peers]
 *                 [--pop N] [--json FILE] [--csv FILE]
 *
 * Each scenario measures pidring and its baselines in the same run, in
 * alternating rounds. Every round runs every contender once, and the order
 * rotates from round to round. The report gives the median over rounds of the
 * per-round value, and latency percentiles over all samples:
 *
 *   spawn       N spawn→DONE cycles of the static do-nothing child, C = 1 and
 *               C = 32 in flight: pidring, the floor, the same-job floor,
 *               posix_spawn + waitpid, Node child_process and Python asyncio
 *               (tools/bench/). pidring's note gives its ratio to the
 *               same-job floor: the engine's own cost, without the rules'.
 *   ready       spawn→READY latency, and the full cycle (spawn, ready, cancel,
 *               DONE), for a child that binds at once: pidring BIND, the floor
 *               (inotify + connect), and the 50 ms sleep-poll practice (Python).
 *   storm       1000 procs waiting to bind, all cancelled in one tick: the time
 *               until the last DONE, against kill + waitid.
 *   big         spawn→DONE latency with a 1 GiB touched heap in the parent, and
 *               without one: pidring, the floor, and Node, whose libuv forks.
 *   population  engine heap and RSS per live proc with 10,000 sleeping
 *               children, and the spawn rate at that population against 10.
 *   fallback    spawn and storm with PIDRING_F_NO_WAITID. These are measured
 *               in the same rounds as spawn and storm, against the same floor.
 *   pop-fallback  population with PIDRING_F_NO_WAITID. Runs only when --only
 *               names it.
 *
 * LIST is a comma-separated list of those names.
 *
 * The floor is written here, and it does the minimum a correct spawner must
 * do: block signals, clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD), have the child
 * empty its signal mask and execve, then poll() on the pidfds and waitid(P_PIDFD).
 * Floor children that would outlive the bench if it crashed (those in ready
 * and storm) also set PDEATHSIG. The same-job floor is that floor with the
 * child doing by hand what DESIGN rule 6 and the process group ask of
 * pidring's (floor_hygiene): every signal disposition reset, setpgid,
 * PDEATHSIG, 0-2 on /dev/null, nothing else open.
 *
 * Convention: ratio_to_floor = floor cost / contender cost. For rates that is
 * contender / floor; for latencies and times it is floor / contender. 1.00
 * is the floor; a value below 1 is slower. It is the median of the
 * per-round ratios (paired_ratio; for the ready latency, of the rounds' p50s,
 * paired_p50_ratio).
 *
 * The child is $PIDRING_CHILD, or else pidring-child beside this binary. The
 * peer scripts come from $PIDRING_BENCH_SCRIPTS, or else ../tools/bench
 * relative to this binary. node and python3 are looked up on PATH;
 * $PIDRING_BENCH_NODE and $PIDRING_BENCH_PYTHON override that, and an empty
 * value skips the peer. Everything runs in a private directory under $TMPDIR,
 * which is removed at the end.
 *
 * Exit status: 0; 1 when a contender failed or a child or file was left
 * behind; 2 on bad usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <ftw.h>
#include <limits.h>
#include <liburing.h>
#include <malloc.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pidring.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#define OP_WAITID 50          /* IORING_OP_WAITID, kernel >= 6.7 */

#define MAX_ROUNDS   15
#define MAX_C        64
#define MAX_ROWS     96
#define MAX_NOTES    40
#define WARMUP       20       /* untimed cycles before each timed run */
#define STACK_SIZE   (64 * 1024)
#define HEAP_BYTES   ((size_t)1 << 30)

/* snprintf into an array; true when the result was truncated. */
#define FMT(buf, ...) ((size_t)snprintf(buf, sizeof(buf), __VA_ARGS__) >= sizeof(buf))

extern char **environ;

/* ---- configuration and shared state ---- */

static struct {
	bool     quick, peers;
	int      rounds;
	int      spawn_rounds;    /* spawn and fallback: more, shorter rounds */
	unsigned spawn_n;         /* spawn: cycles per contender per round */
	unsigned ready_n;         /* ready: cycles (pidring, floor) */
	unsigned poll_n;          /* ready: cycles of the sleep-poll peer */
	unsigned storm_n;
	unsigned big_n, big_node_n;
	unsigned pop_n, pop_rate_n;
	int      peer_timeout_s;
	const char *only;
	const char *json, *csv;
} cfg;

static struct {
	char  child[PATH_MAX];
	char  scripts[PATH_MAX];
	char  node[PATH_MAX], python[PATH_MAX];
	char  tmp[PATH_MAX];      /* private runtime dir */
	char  fdir[PATH_MAX];     /* the ready floor's socket dir */
	char  pdir[PATH_MAX];     /* the sleep-poll peer's socket dir */
	char  node_ver[64], node_uv[32], py_ver[64];
	char *stack;              /* the floor's clone stack */
	int   devnull;            /* the same-job floor's 0, 1 and 2 */
	bool  kernel_waitid;
	bool  failed;             /* a contender failed or something leaked */
} g;

static char *argv_plain[2], *argv_bind[4], *argv_never[3], *argv_sleep[3];

/* When set, cycle loops stop starting new procs after this time (CLOCK_MONOTONIC). */
static uint64_t cycle_deadline;

static bool past_deadline(void);

/* ---- small utilities ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool past_deadline(void)
{
	return cycle_deadline && now_ns() >= cycle_deadline;
}

static bool want(const char *name)
{
	size_t l = strlen(name);
	const char *p = cfg.only;

	if (!p)
		return true;
	while (*p) {
		if (!strncmp(p, name, l) && (p[l] == ',' || p[l] == '\0'))
			return true;
		p = strchr(p, ',');
		if (!p)
			break;
		p++;
	}
	return false;
}

static char notes[MAX_NOTES][400];
static int nnotes;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	if (nnotes == MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(notes[nnotes++], sizeof(notes[0]), fmt, ap);
	va_end(ap);
}

/* Progress goes to stderr, so that stdout is the table alone. */
static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
	va_list ap;

	static uint64_t t0;

	if (!t0)
		t0 = now_ns();
	va_start(ap, fmt);
	fprintf(stderr, "bench %6.1fs: ", (double)(now_ns() - t0) / 1e9);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void fail(const char *what, int err)
{
	g.failed = true;
	note("FAILED: %s: %s", what, strerror(err < 0 ? -err : err));
	progress("FAILED: %s: %s", what, strerror(err < 0 ? -err : err));
}

struct samples {
	double *v;
	size_t  n, cap;
};

static void push(struct samples *s, double x)
{
	if (!s)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		double *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			return;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = x;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile; NAN for no samples. Sorts in place. */
static double pct(double *v, size_t n, double p)
{
	size_t k;

	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_dbl);
	k = (size_t)ceil(p * (double)n);
	return v[k ? k - 1 : 0];
}

static double median(const double *v, int n)
{
	double t[MAX_ROUNDS];

	if (n <= 0)
		return NAN;
	memcpy(t, v, (size_t)n * sizeof(*t));
	qsort(t, (size_t)n, sizeof(*t), cmp_dbl);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static long rss_bytes(void)
{
	long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &res) != 2)
		res = 0;
	fclose(f);
	return res * sysconf(_SC_PAGESIZE);
}

static size_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static long read_long_file(const char *path)
{
	char buf[64];
	long v = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return -1;
	buf[r] = '\0';
	if (!strncmp(buf, "max", 3))
		return LONG_MAX;
	sscanf(buf, "%ld", &v);
	return v;
}

/* Do we have no child left at all, not even a zombie? */
static bool no_children(void)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

static void check_reaped(const char *scenario)
{
	siginfo_t si;

	if (no_children())
		return;
	g.failed = true;
	note("LEAK after %s: a child of the bench is still there; reaping it now", scenario);
	/* Do not leave it behind: anything still ours gets killed and reaped. */
	for (int i = 0; i < 100000; i++) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
			break;
		if (si.si_pid == 0) {
			usleep(1000);
			continue;
		}
		waitpid(si.si_pid, NULL, 0);
	}
}

/* ---- results ---- */

enum metric { M_RATE, M_LAT, M_TIME, M_BYTES };
static const char *const metric_name[] = { "rate", "latency", "time", "bytes" };
static const char *const metric_unit[] = { "1/s", "ms", "ms", "B" };

struct row {
	char   scen[16], variant[40], cont[40], baseline[48];
	enum metric metric;
	double median;            /* in the metric's unit */
	double p50, p99;          /* µs; NAN: n/a */
	double rate;              /* 1/s; NAN: n/a */
	double ratio;             /* ratio_to_floor; NAN: n/a */
	int    rounds;
	size_t samples;
	char   note[200];
};

static struct row rows[MAX_ROWS];
static int nrows;

static struct row *add_row(const char *scen, const char *variant, const char *cont,
			   enum metric m)
{
	struct row *r;

	if (nrows == MAX_ROWS)
		return NULL;
	r = &rows[nrows++];
	memset(r, 0, sizeof(*r));
	snprintf(r->scen, sizeof(r->scen), "%s", scen);
	snprintf(r->variant, sizeof(r->variant), "%s", variant);
	snprintf(r->cont, sizeof(r->cont), "%s", cont);
	snprintf(r->baseline, sizeof(r->baseline), "floor");
	r->metric = m;
	r->median = r->p50 = r->p99 = r->rate = r->ratio = NAN;
	return r;
}

/*
 * One contender in one scenario. val holds the per-round rates; lat and lat2
 * hold latency samples (µs) over all rounds.
 */
struct cont {
	const char *name;
	int    kind;              /* scenario-specific */
	unsigned flags;           /* pidring_opts.flags */
	double val[MAX_ROUNDS];
	double p50[MAX_ROUNDS];   /* ready: the round's spawn→ready p50 */
	int    nval;
	struct samples lat, lat2;
	bool   skip, failed;
	char   why[200];          /* why skipped or failed */
};

static void cont_free(struct cont *c, int n)
{
	for (int i = 0; i < n; i++) {
		free(c[i].lat.v);
		free(c[i].lat2.v);
	}
}

/* ---- the floor: clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD) ---- */

struct fspawn {
	const char   *path;
	char *const  *argv;
	char *const  *envp;
	bool          pdeath;
	bool          unshare;    /* CLONE_FILES, then close_range(UNSHARE) */
	bool          hygiene;    /* also what DESIGN rule 6 asks (see below) */
	int           devnull;
	pid_t         parent;
	volatile int  err;
};

/* The kernel's struct sigaction, for rt_sigaction. */
struct ksigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

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

enum { FL_UNSHARE = 1, FL_HYGIENE = 2 };

/* N spawn→exit cycles, C in flight; *rate is cycles/s. lat: µs per proc
 * (NULL for warm-up). mode: FL_UNSHARE, the CLONE_FILES variant;
 * FL_HYGIENE, the same job as pidring's child (floor_hygiene). */
static int floor_cycles(unsigned n, unsigned c, unsigned mode, struct samples *lat,
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

/* ---- posix_spawn + waitpid ---- */

static int psx_cycles(unsigned n, unsigned c, struct samples *lat, double *rate)
{
	pid_t pids[MAX_C];
	uint64_t t0[MAX_C], start;
	unsigned nf = 0, spawned = 0, done = 0;
	int r = 0, st;

	start = now_ns();
	for (; nf < c && spawned < n; nf++, spawned++) {
		t0[nf] = now_ns();
		r = posix_spawn(&pids[nf], g.child, NULL, NULL, argv_plain, environ);
		if (r) {
			r = -r;
			goto out;
		}
	}
	while (done < n) {
		pid_t pid = waitpid(-1, &st, 0);
		unsigned i;
		uint64_t t = now_ns();

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		for (i = 0; i < nf && pids[i] != pid; i++)
			;
		if (i == nf)
			continue;        /* not one of ours: nothing else runs now */
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			pids[i] = pids[--nf];
			r = -ECHILD;
			goto out;
		}
		push(lat, (double)(t - t0[i]) / 1e3);
		done++;
		if (spawned < n) {
			t0[i] = now_ns();
			r = posix_spawn(&pids[i], g.child, NULL, NULL, argv_plain, environ);
			if (r) {
				pids[i] = pids[--nf];
				r = -r;
				goto out;
			}
			spawned++;
		} else {
			pids[i] = pids[--nf];
			t0[i] = t0[nf];
		}
	}
	*rate = done / ((double)(now_ns() - start) / 1e9);
	return 0;
out:
	for (unsigned i = 0; i < nf; i++)
		waitpid(pids[i], NULL, 0);
	return r;
}

/* ---- pidring ---- */

static int pr_new(struct pidring **pr, unsigned flags, unsigned max_procs)
{
	struct pidring_opts o = {
		.runtime_dir = g.tmp, .flags = flags, .max_procs = max_procs,
	};

	return pidring_new(pr, &o);
}

/*
 * N spawn→DONE cycles of the do-nothing child, C in flight, on an existing
 * engine. Events whose user is NULL belong to others (population sleepers).
 */
static int pr_cycles(struct pidring *pr, unsigned n, unsigned c, struct samples *lat,
		     double *rate)
{
	struct pidring_spawn s = {
		.path = g.child, .argv = argv_plain, .ready = PIDRING_READY_EXEC,
	};
	struct pidring_event ev[64];
	uint64_t t0[MAX_C], start;
	unsigned spawned = 0, done = 0, slot_free[MAX_C], nfree = 0;
	int r;

	for (unsigned i = 0; i < c; i++)
		slot_free[nfree++] = c - 1 - i;
	start = now_ns();
	while (spawned < c && spawned < n) {
		unsigned k = slot_free[--nfree];

		s.user = (void *)(uintptr_t)(k + 1);
		t0[k] = now_ns();
		r = pidring_spawn(pr, &s, NULL);
		if (r < 0)
			return r;
		spawned++;
	}
	while (done < n) {
		uint64_t t;
		int k = pidring_wait(pr, ev, 64, -1);

		if (k == -EINTR)
			continue;
		if (k < 0)
			return k;
		t = now_ns();
		for (int i = 0; i < k; i++) {
			unsigned slot;

			if (ev[i].type != PIDRING_EV_DONE || !ev[i].user)
				continue;
			slot = (unsigned)((uintptr_t)ev[i].user - 1);
			if (ev[i].code != CLD_EXITED || ev[i].status != 0)
				return -ECHILD;
			push(lat, (double)(t - t0[slot]) / 1e3);
			done++;
			if (spawned < n && past_deadline())
				n = spawned;
			if (spawned < n) {
				s.user = ev[i].user;
				t0[slot] = now_ns();
				r = pidring_spawn(pr, &s, NULL);
				if (r < 0)
					return r;
				spawned++;
			}
		}
	}
	*rate = done / ((double)(now_ns() - start) / 1e9);
	return 0;
}

static int pr_spawn_cycles(unsigned flags, unsigned n, unsigned c, struct samples *lat,
			   double *rate)
{
	struct pidring *pr;
	int r = pr_new(&pr, flags, 0);

	if (r < 0)
		return r;
	r = pr_cycles(pr, WARMUP, 1, NULL, rate);
	if (!r)
		r = pr_cycles(pr, n, c, lat, rate);
	if (pidring_destroy(pr, 10000) < 0 && !r)
		r = -ETIMEDOUT;
	return r;
}

/* ---- peers (Node, Python) ---- */

struct peer_out {
	double rate;
	struct samples lat, lat2;
	char   ver[64], uv[32];
};

static void json_str(const char *buf, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p;
	size_t i = 0;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(buf, pat);
	if (!p || !len)
		return;
	p += strlen(pat);
	while (*p && *p != '"' && i + 1 < len)
		out[i++] = *p++;
	out[i] = '\0';
}

static double json_num(const char *buf, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(buf, pat);
	return p ? strtod(p + strlen(pat), NULL) : NAN;
}

static void json_arr(const char *buf, const char *key, struct samples *s)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":[", key);
	p = strstr(buf, pat);
	if (!p)
		return;
	p += strlen(pat);
	while (*p && *p != ']') {
		char *end;
		double x = strtod(p, &end);

		if (end == p)
			break;
		push(s, x);
		p = end;
		while (*p == ',' || *p == ' ')
			p++;
	}
}

/*
 * Run interp script args... in its own process group with a deadline; parse
 * the one JSON line it prints. Returns 0 or -errno; err says why.
 */
static int run_peer(const char *interp, const char *script, const char *const *args,
		    struct peer_out *po, char *err, size_t errlen)
{
	char path[PATH_MAX], *argv[24];
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, n = 0, r, st;
	char *obuf = NULL, ebuf[512] = "";
	size_t olen = 0, ocap = 0, elen = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none;
	uint64_t deadline;
	pid_t pid;

	if (FMT(path, "%s/%s", g.scripts, script)) {
		snprintf(err, errlen, "script path too long");
		return -ENAMETOOLONG;
	}
	argv[n++] = (char *)interp;
	argv[n++] = path;
	while (*args && n < 23)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;

	if (pipe2(out, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
		r = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(-r));
		if (out[0] >= 0) {
			close(out[0]);
			close(out[1]);
		}
		return r;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
	r = posix_spawn(&pid, interp, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(out[1]);
	close(errp[1]);
	if (r) {
		close(out[0]);
		close(errp[0]);
		snprintf(err, errlen, "spawn %s: %s", interp, strerror(r));
		return -r;
	}

	deadline = now_ns() + (uint64_t)cfg.peer_timeout_s * 1000000000u;
	r = 0;
	for (int open_fds = 2; open_fds > 0;) {
		struct pollfd pf[2] = { { out[0], POLLIN, 0 }, { errp[0], POLLIN, 0 } };
		uint64_t now = now_ns();
		int k;

		if (now >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		k = poll(pf, 2, (int)((deadline - now) / 1000000u) + 1);
		if (k < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (pf[0].fd >= 0 && pf[0].revents) {
			if (olen + 4096 + 1 > ocap) {
				char *nb = realloc(obuf, ocap ? ocap * 2 : 65536);

				if (!nb) {
					r = -ENOMEM;
					break;
				}
				obuf = nb;
				ocap = ocap ? ocap * 2 : 65536;
			}
			ssize_t got = read(out[0], obuf + olen, 4096);

			if (got > 0) {
				olen += (size_t)got;
			} else if (got == 0 || errno != EINTR) {
				close(out[0]);
				out[0] = -1;
				open_fds--;
			}
		}
		if (errp[0] >= 0 && pf[1].revents) {
			char tmp[512];
			ssize_t got = read(errp[0], tmp, sizeof(tmp));

			if (got > 0) {
				size_t take = (size_t)got;

				if (take > sizeof(ebuf) - 1 - elen)
					take = sizeof(ebuf) - 1 - elen;
				memcpy(ebuf + elen, tmp, take);
				elen += take;
				ebuf[elen] = '\0';
			} else if (got == 0 || errno != EINTR) {
				close(errp[0]);
				errp[0] = -1;
				open_fds--;
			}
		}
		if (out[0] < 0 && errp[0] < 0)
			break;
	}
	if (r)
		kill(-pid, SIGKILL);
	/*
	 * Whatever the peer left in its group goes too. The group is killed
	 * while the peer is a zombie not yet reaped: its id cannot have been
	 * handed to anyone else then.
	 */
	{
		siginfo_t si;

		while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
			;
	}
	kill(-pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (out[0] >= 0)
		close(out[0]);
	if (errp[0] >= 0)
		close(errp[0]);

	for (char *p = ebuf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (!r && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
		r = -ECHILD;
	if (!r) {
		if (!obuf) {
			r = -EPROTO;
		} else {
			obuf[olen] = '\0';
			po->rate = json_num(obuf, "rate");
			json_arr(obuf, "lat_us", &po->lat);
			json_arr(obuf, "cycle_us", &po->lat2);
			json_str(obuf, "version", po->ver, sizeof(po->ver));
			json_str(obuf, "uv", po->uv, sizeof(po->uv));
			if (isnan(po->rate))
				r = -EPROTO;
		}
	}
	if (r)
		snprintf(err, errlen, "%s %s: %s%s%.200s", interp, script,
			 r == -ETIMEDOUT ? "timed out" : r == -ECHILD ? "exited badly" :
			 strerror(-r), elen ? ": " : "", ebuf);
	free(obuf);
	return r;
}

/* ---- scenario 1 (and 6): spawn ---- */

enum { K_PIDRING, K_FLOOR, K_SAMEJOB, K_PSX, K_NODE, K_PY };

static void peer_skip_note(struct cont *c, const char *interp, const char *script)
{
	char p[PATH_MAX];

	if (!cfg.peers) {
		snprintf(c->why, sizeof(c->why), "skipped: --no-peers");
	} else if (!interp[0]) {
		snprintf(c->why, sizeof(c->why), "skipped: interpreter not found");
	} else {
		if (FMT(p, "%s/%s", g.scripts, script) || access(p, R_OK)) {
			snprintf(c->why, sizeof(c->why), "skipped: %.150s not found", p);
		} else {
			return;
		}
	}
	c->skip = true;
}

static int run_spawn_cont(struct cont *c, unsigned n, unsigned conc, double *rate)
{
	char ns[16], cs[16], err[600];
	struct peer_out po;
	int r;

	switch (c->kind) {
	case K_PIDRING:
		r = pr_spawn_cycles(c->flags, n, conc, &c->lat, rate);
		break;
	case K_FLOOR:
		r = floor_cycles(WARMUP, 1, 0, NULL, rate);
		if (!r)
			r = floor_cycles(n, conc, 0, &c->lat, rate);
		break;
	case K_SAMEJOB:
		r = floor_cycles(WARMUP, 1, FL_HYGIENE, NULL, rate);
		if (!r)
			r = floor_cycles(n, conc, FL_HYGIENE, &c->lat, rate);
		break;
	case K_PSX:
		r = psx_cycles(WARMUP, 1, NULL, rate);
		if (!r)
			r = psx_cycles(n, conc, &c->lat, rate);
		break;
	default: {
		const char *args[] = { "--child", g.child, "--n", ns, "--c", cs,
				       "--warmup", "10", NULL };
		bool node = c->kind == K_NODE;

		snprintf(ns, sizeof(ns), "%u", n);
		snprintf(cs, sizeof(cs), "%u", conc);
		memset(&po, 0, sizeof(po));
		po.lat = c->lat;
		r = run_peer(node ? g.node : g.python, node ? "node_spawn.js" : "py_spawn.py",
			     args, &po, err, sizeof(err));
		c->lat = po.lat;
		free(po.lat2.v);
		if (r) {
			snprintf(c->why, sizeof(c->why), "%.199s", err);
			return r;
		}
		if (node) {
			snprintf(g.node_ver, sizeof(g.node_ver), "%s", po.ver);
			snprintf(g.node_uv, sizeof(g.node_uv), "%s", po.uv);
		} else {
			snprintf(g.py_ver, sizeof(g.py_ver), "%s", po.ver);
		}
		*rate = po.rate;
		return 0;
	}
	}
	if (r)
		snprintf(c->why, sizeof(c->why), "%s", strerror(-r));
	return r;
}

static void run_rounds_n(struct cont *cs, int nc, const char *what, int rounds,
			 int (*fn)(struct cont *, void *), void *arg)
{
	for (int rd = 0; rd < rounds; rd++) {
		progress("%s: round %d/%d", what, rd + 1, rounds);
		for (int j = 0; j < nc; j++) {
			struct cont *c = &cs[(j + rd) % nc];

			if (c->skip || c->failed)
				continue;
			if (fn(c, arg)) {
				c->failed = true;
				g.failed = true;
				progress("%s: %s failed: %s", what, c->name, c->why);
			}
		}
	}
}

static void run_rounds(struct cont *cs, int nc, const char *what,
		       int (*fn)(struct cont *, void *), void *arg)
{
	run_rounds_n(cs, nc, what, cfg.rounds, fn, arg);
}

/*
 * The ratio to the floor, round by round: the median over rounds of the
 * contender's value in round k against the floor's in round k, which ran
 * next to it. Drift on a shared machine moves both values of a round
 * alike, so the per-round ratios scatter far less than the values do.
 * rate: values are rates (contender / floor); else times (floor / contender).
 * A contender stops at its first failed round, so val[k] is round k.
 */
static double paired(const double *cv, const double *fv, int n, bool rate)
{
	double t[MAX_ROUNDS];

	for (int k = 0; k < n; k++)
		t[k] = rate ? cv[k] / fv[k] : fv[k] / cv[k];
	return median(t, n);
}

static double paired_ratio(const struct cont *c, const struct cont *fl, bool rate)
{
	return paired(c->val, fl->val, c->nval < fl->nval ? c->nval : fl->nval, rate);
}

struct spawn_arg { unsigned n, c; };

static int spawn_round(struct cont *c, void *arg)
{
	struct spawn_arg *a = arg;
	double rate = 0;
	int r = run_spawn_cont(c, a->n, a->c, &rate);

	if (!r && c->nval < MAX_ROUNDS)
		c->val[c->nval++] = rate;
	return r;
}

/* Rows for contenders whose primary value is a rate (val) with latencies. */
static void rate_rows(const char *scen, const char *fb_scen, const char *variant,
		      struct cont *cs, int nc)
{
	const struct cont *fl = NULL, *sj = NULL;

	for (int i = 0; i < nc; i++) {
		if (cs[i].kind == K_FLOOR && cs[i].nval)
			fl = &cs[i];
		if (cs[i].kind == K_SAMEJOB && cs[i].nval)
			sj = &cs[i];
	}
	for (int i = 0; i < nc; i++) {
		struct cont *c = &cs[i];
		bool fb = c->kind == K_PIDRING && (c->flags & PIDRING_F_NO_WAITID);
		const char *sc = fb ? fb_scen : c->kind == K_FLOOR && !scen ? fb_scen : scen;
		struct row *r;

		if (!sc)
			continue;
		r = add_row(sc, variant, c->name, M_RATE);
		if (!r)
			return;
		if (c->skip || (c->failed && !c->nval)) {
			snprintf(r->note, sizeof(r->note), "%s%s",
				 c->failed ? "FAILED: " : "", c->why);
			continue;
		}
		r->median = r->rate = median(c->val, c->nval);
		r->rounds = c->nval;
		r->samples = c->lat.n;
		r->p50 = pct(c->lat.v, c->lat.n, 0.50);
		r->p99 = pct(c->lat.v, c->lat.n, 0.99);
		if (fl)
			r->ratio = paired_ratio(c, fl, true);
		if (c->failed)
			snprintf(r->note, sizeof(r->note), "FAILED in a round: %s", c->why);
		else if (fb && scen)
			snprintf(r->note, sizeof(r->note), "same rounds as spawn %s; ratio vs "
				 "the floor there", variant);
		else if (c->kind == K_PIDRING && sj)
			snprintf(r->note, sizeof(r->note), "x%.2f of the same-job floor",
				 paired_ratio(c, sj, true));
	}
}

static void scenario_spawn(void)
{
	static const unsigned concs[] = { 1, 32 };
	bool main_ = want("spawn"), fb = want("fallback");

	for (unsigned ci = 0; ci < 2; ci++) {
		struct cont cs[8];
		struct spawn_arg a = { cfg.spawn_n, concs[ci] };
		char variant[16], what[32];
		int nc = 0;

		memset(cs, 0, sizeof(cs));
		cs[nc++] = (struct cont){ .name = "floor (clone+poll+waitid)", .kind = K_FLOOR };
		if (main_)
			cs[nc++] = (struct cont){ .name = "pidring", .kind = K_PIDRING };
		if (fb)
			cs[nc++] = (struct cont){ .name = "pidring NO_WAITID", .kind = K_PIDRING,
						  .flags = PIDRING_F_NO_WAITID };
		if (main_) {
			cs[nc++] = (struct cont){ .name = "same-job floor",
						  .kind = K_SAMEJOB };
			cs[nc++] = (struct cont){ .name = "posix_spawn+waitpid", .kind = K_PSX };
			cs[nc++] = (struct cont){ .name = "node child_process", .kind = K_NODE };
			peer_skip_note(&cs[nc - 1], g.node, "node_spawn.js");
			cs[nc++] = (struct cont){ .name = "python asyncio", .kind = K_PY };
			peer_skip_note(&cs[nc - 1], g.python, "py_spawn.py");
		}
		snprintf(variant, sizeof(variant), "C=%u", concs[ci]);
		snprintf(what, sizeof(what), "spawn %s", variant);
		run_rounds_n(cs, nc, what, cfg.spawn_rounds, spawn_round, &a);
		rate_rows(main_ ? "spawn" : NULL, fb ? "fallback" : NULL, variant, cs, nc);
		cont_free(cs, nc);
		check_reaped("spawn");
	}
}

/* ---- scenario 2: ready ---- */

static int pr_ready_cycles(unsigned n, struct samples *lr, struct samples *lc, double *el)
{
	struct pidring_spawn s = {
		.path = g.child, .argv = argv_bind, .ready = PIDRING_READY_BIND,
		.ready_timeout_ms = 10000,
	};
	struct pidring_event ev[8];
	struct pidring *pr;
	uint64_t start;
	int r = pr_new(&pr, 0, 0);

	if (r < 0)
		return r;
	start = now_ns();
	for (unsigned i = 0; i < n && !r; i++) {
		uint64_t t0 = now_ns(), t1 = 0;
		bool ready = false, done = false;
		pidring_id id;

		r = pidring_spawn(pr, &s, &id);
		if (r < 0)
			break;
		while (!done) {
			int k = pidring_wait(pr, ev, 8, 10000);

			if (k == -EINTR)
				continue;
			if (k <= 0) {
				r = k ? k : -ETIMEDOUT;
				break;
			}
			for (int j = 0; j < k; j++) {
				if (ev[j].id != id)
					continue;
				if (ev[j].type == PIDRING_EV_READY) {
					t1 = now_ns();
					ready = true;
					pidring_cancel(pr, id);
				} else {
					done = true;
					if (!ready || ev[j].reason != PIDRING_CANCELLED)
						r = -EPROTO;
				}
			}
		}
		if (r)
			break;
		push(lr, (double)(t1 - t0) / 1e3);
		push(lc, (double)(now_ns() - t0) / 1e3);
	}
	*el = (double)(now_ns() - start) / 1e9;
	if (pidring_destroy(pr, 10000) < 0 && !r)
		r = -ETIMEDOUT;
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
static unsigned long floor_refused, floor_ready_total;

/* samejob: the child does what pidring's does besides exec (floor_hygiene). */
static int floor_ready_cycles(unsigned n, bool samejob, struct samples *lr,
			      struct samples *lc, double *el)
{
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
			if (!tries && lr && !samejob)
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
		unlink(sun.sun_path);
		if (r)
			break;
		push(lr, (double)(t1 - t0) / 1e3);
		push(lc, (double)(now_ns() - t0) / 1e3);
		if (lr && !samejob)
			floor_ready_total++;
	}
	*el = (double)(now_ns() - start) / 1e9;
	close(in);
	free(env);
	return r;
}

enum { K_RPIDRING, K_RFLOOR, K_RSAMEJOB, K_RPOLL };

static int ready_round(struct cont *c, void *arg)
{
	size_t first = c->lat.n;
	double el = 0, rate;
	int r;

	(void)arg;
	switch (c->kind) {
	case K_RPIDRING:
		r = pr_ready_cycles(WARMUP, NULL, NULL, &el);
		if (!r)
			r = pr_ready_cycles(cfg.ready_n, &c->lat, &c->lat2, &el);
		rate = cfg.ready_n / el;
		break;
	case K_RFLOOR:
	case K_RSAMEJOB: {
		bool sj = c->kind == K_RSAMEJOB;

		r = floor_ready_cycles(WARMUP, sj, NULL, NULL, &el);
		if (!r)
			r = floor_ready_cycles(cfg.ready_n, sj, &c->lat, &c->lat2, &el);
		rate = cfg.ready_n / el;
		break;
	}
	default: {
		char ns[16], err[600];
		const char *args[] = { "--child", g.child, "--dir", g.pdir, "--n", ns,
				       "--warmup", "2", NULL };
		struct peer_out po;

		snprintf(ns, sizeof(ns), "%u", cfg.poll_n);
		memset(&po, 0, sizeof(po));
		po.lat = c->lat;
		po.lat2 = c->lat2;
		r = run_peer(g.python, "py_ready_poll.py", args, &po, err, sizeof(err));
		c->lat = po.lat;
		c->lat2 = po.lat2;
		if (r) {
			snprintf(c->why, sizeof(c->why), "%.199s", err);
			return r;
		}
		rate = po.rate;
		break;
	}
	}
	if (r) {
		snprintf(c->why, sizeof(c->why), "%s", strerror(-r));
		return r;
	}
	if (c->nval < MAX_ROUNDS) {
		c->p50[c->nval] = pct(c->lat.v + first, c->lat.n - first, 0.5);
		c->val[c->nval++] = rate;
	}
	return 0;
}

/* The median of the per-round ratios of the spawn→ready p50s (floor / c). */
static double paired_p50_ratio(const struct cont *c, const struct cont *fl)
{
	return paired(c->p50, fl->p50, c->nval < fl->nval ? c->nval : fl->nval, false);
}

static void scenario_ready(void)
{
	struct cont cs[4];
	int nc = 0;

	memset(cs, 0, sizeof(cs));
	cs[nc++] = (struct cont){ .name = "floor (inotify+connect)", .kind = K_RFLOOR };
	cs[nc++] = (struct cont){ .name = "pidring BIND", .kind = K_RPIDRING };
	cs[nc++] = (struct cont){ .name = "same-job floor",
				  .kind = K_RSAMEJOB };
	cs[nc++] = (struct cont){ .name = "python 50 ms sleep-poll", .kind = K_RPOLL };
	peer_skip_note(&cs[3], g.python, "py_ready_poll.py");
	run_rounds(cs, nc, "ready", ready_round, NULL);

	for (int i = 0; i < nc; i++) {
		struct cont *c = &cs[i];
		struct row *lr = add_row("ready", "spawn→ready", c->name, M_LAT);
		struct row *cr = add_row("ready", "cycle", c->name, M_RATE);

		if (!lr || !cr)
			break;
		if (c->skip || (c->failed && !c->nval)) {
			snprintf(lr->note, sizeof(lr->note), "%s%s",
				 c->failed ? "FAILED: " : "", c->why);
			snprintf(cr->note, sizeof(cr->note), "%s", lr->note);
			continue;
		}
		lr->p50 = pct(c->lat.v, c->lat.n, 0.50);
		lr->p99 = pct(c->lat.v, c->lat.n, 0.99);
		lr->median = lr->p50 / 1e3;
		lr->rate = cr->median = cr->rate = median(c->val, c->nval);
		lr->ratio = cs[0].nval ? paired_p50_ratio(c, &cs[0]) : NAN;
		lr->rounds = cr->rounds = c->nval;
		lr->samples = c->lat.n;
		cr->samples = c->lat2.n;
		cr->p50 = pct(c->lat2.v, c->lat2.n, 0.50);
		cr->p99 = pct(c->lat2.v, c->lat2.n, 0.99);
		cr->ratio = cs[0].nval ? paired_ratio(c, &cs[0], true) : NAN;
		if (c->kind == K_RPIDRING && !c->failed && cs[2].nval) {
			snprintf(lr->note, sizeof(lr->note), "x%.2f of the same-job floor",
				 paired_p50_ratio(c, &cs[2]));
			snprintf(cr->note, sizeof(cr->note), "x%.2f of the same-job floor",
				 paired_ratio(c, &cs[2], true));
		}
		if (c->failed) {
			snprintf(lr->note, sizeof(lr->note), "FAILED in a round: %s", c->why);
			snprintf(cr->note, sizeof(cr->note), "%s", lr->note);
		}
	}
	note("ready: one proc at a time; cycle = spawn, ready, cancel (SIGKILL), DONE "
	     "(socket unlinked, pidfd closed). The floor retries a refused connect at "
	     "once (sched_yield); its first connect after IN_CREATE was refused in "
	     "%lu of %lu cycles. The sleep-poll peer sleeps 50 ms before each check",
	     floor_refused, floor_ready_total);
	cont_free(cs, nc);
	check_reaped("ready");
}

/* ---- scenario 3 (and 6): cancel storm ---- */

static int pr_storm(unsigned flags, unsigned n, double *ms, double *cancel_ms)
{
	struct pidring_spawn s = {
		.path = g.child, .argv = argv_never, .ready = PIDRING_READY_BIND,
		.ready_timeout_ms = 600000,
	};
	struct pidring_event ev[256];
	pidring_id *ids = calloc(n, sizeof(*ids));
	struct pidring *pr;
	unsigned done = 0, spawned = 0;
	uint64_t t0, t1;
	int r;

	if (!ids)
		return -ENOMEM;
	r = pr_new(&pr, flags, n + 64 > 4096 ? n + 64 : 0);
	if (r < 0) {
		free(ids);
		return r;
	}
	for (; spawned < n; spawned++) {
		s.user = (void *)(uintptr_t)(spawned + 1);
		r = pidring_spawn(pr, &s, &ids[spawned]);
		if (r < 0)
			goto out;
	}
	/* Nothing is expected (no child binds); anything there is not timed. */
	while (pidring_wait(pr, ev, 256, 0) > 0)
		;
	t0 = now_ns();
	for (unsigned i = 0; i < n; i++) {
		r = pidring_cancel(pr, ids[i]);
		if (r < 0)
			goto out;
	}
	*cancel_ms = (double)(now_ns() - t0) / 1e6;
	while (done < n) {
		int k = pidring_wait(pr, ev, 256, 10000);

		if (k == -EINTR)
			continue;
		if (k <= 0) {
			r = k ? k : -ETIMEDOUT;
			goto out;
		}
		for (int j = 0; j < k; j++) {
			if (ev[j].type != PIDRING_EV_DONE)
				continue;
			if (ev[j].reason != PIDRING_CANCELLED) {
				r = -EPROTO;
				goto out;
			}
			done++;
		}
	}
	t1 = now_ns();
	*ms = (double)(t1 - t0) / 1e6;
	if (pidring_live(pr))
		r = -EPROTO;
out:
	if (pidring_destroy(pr, 20000) < 0 && !r)
		r = -ETIMEDOUT;
	free(ids);
	return r;
}

static int floor_storm(unsigned n, double *ms, double *kill_ms)
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

enum { K_SFLOOR, K_SPIDRING };

static int storm_round(struct cont *c, void *arg)
{
	double ms = 0, first = 0;
	int r;

	(void)arg;
	if (c->kind == K_SFLOOR)
		r = floor_storm(cfg.storm_n, &ms, &first);
	else
		r = pr_storm(c->flags, cfg.storm_n, &ms, &first);
	if (r) {
		snprintf(c->why, sizeof(c->why), "%s", strerror(-r));
		return r;
	}
	if (c->nval < MAX_ROUNDS)
		c->val[c->nval++] = ms;
	push(&c->lat2, first * 1e3);
	return 0;
}

static void scenario_storm(void)
{
	bool main_ = want("storm"), fb = want("fallback");
	struct cont cs[3];
	char what[32];
	int nc = 0;

	memset(cs, 0, sizeof(cs));
	cs[nc++] = (struct cont){ .name = "floor (kill+waitid)", .kind = K_SFLOOR };
	if (main_)
		cs[nc++] = (struct cont){ .name = "pidring", .kind = K_SPIDRING };
	if (fb)
		cs[nc++] = (struct cont){ .name = "pidring NO_WAITID", .kind = K_SPIDRING,
					  .flags = PIDRING_F_NO_WAITID };
	snprintf(what, sizeof(what), "storm %u", cfg.storm_n);
	run_rounds(cs, nc, what, storm_round, NULL);
	for (int i = 0; i < nc; i++) {
		struct cont *c = &cs[i];
		bool isfb = c->flags & PIDRING_F_NO_WAITID;
		char variant[40];
		struct row *r;

		if (c->kind == K_SFLOOR && !main_ && !fb)
			continue;
		snprintf(variant, sizeof(variant), "%u cancelled", cfg.storm_n);
		r = add_row(isfb || !main_ ? "fallback" : "storm", variant, c->name, M_TIME);
		if (!r)
			break;
		if (!c->nval) {
			snprintf(r->note, sizeof(r->note), "FAILED: %s", c->why);
			continue;
		}
		r->median = median(c->val, c->nval);
		r->rate = cfg.storm_n / (r->median / 1e3);
		r->ratio = cs[0].nval ? paired_ratio(c, &cs[0], false) : NAN;
		r->rounds = c->nval;
		snprintf(r->note, sizeof(r->note), "%s %.2f ms (median)%s%s%s",
			 c->kind == K_SFLOOR ? "all SIGKILLs sent in" : "all cancel calls took",
			 pct(c->lat2.v, c->lat2.n, 0.5) / 1e3,
			 isfb && main_ ? "; same rounds as storm, ratio vs the floor there" : "",
			 c->failed ? "; FAILED in a round: " : "", c->failed ? c->why : "");
	}
	cont_free(cs, nc);
	check_reaped("storm");
	if (no_children())
		note("storm: every proc reaped (pidring_live 0 after each round; the bench has no child left)");
}

/* ---- scenario 4: big parent ---- */

enum { K_BPIDRING, K_BFLOOR, K_BNODE, K_BNODEHEAP };

static int big_round(struct cont *c, void *arg)
{
	double rate = 0;
	int r;

	(void)arg;
	switch (c->kind) {
	case K_BPIDRING:
		r = pr_spawn_cycles(0, cfg.big_n, 1, &c->lat, &rate);
		break;
	case K_BFLOOR:
		r = floor_cycles(WARMUP, 1, 0, NULL, &rate);
		if (!r)
			r = floor_cycles(cfg.big_n, 1, 0, &c->lat, &rate);
		break;
	default: {
		char ns[16], err[600];
		const char *args[] = { "--child", g.child, "--n", ns, "--c", "1",
				       "--warmup", "3", "--heap-mib",
				       c->kind == K_BNODEHEAP ? "1024" : "0", NULL };
		struct peer_out po;

		snprintf(ns, sizeof(ns), "%u", cfg.big_node_n);
		memset(&po, 0, sizeof(po));
		po.lat = c->lat;
		r = run_peer(g.node, "node_spawn.js", args, &po, err, sizeof(err));
		c->lat = po.lat;
		free(po.lat2.v);
		if (r) {
			snprintf(c->why, sizeof(c->why), "%.199s", err);
			return r;
		}
		snprintf(g.node_ver, sizeof(g.node_ver), "%s", po.ver);
		snprintf(g.node_uv, sizeof(g.node_uv), "%s", po.uv);
		rate = po.rate;
		break;
	}
	}
	if (r) {
		snprintf(c->why, sizeof(c->why), "%s", strerror(-r));
		return r;
	}
	if (c->nval < MAX_ROUNDS)
		c->val[c->nval++] = rate;
	return 0;
}

static void big_rows(struct cont *c, int nc, const char *variant, const struct cont *floor_c,
		     const struct cont *before)
{
	double fl = floor_c->lat.n ? pct(floor_c->lat.v, floor_c->lat.n, 0.5) : NAN;

	for (int i = 0; i < nc; i++, c++) {
		struct row *r = add_row("big", variant, c->name, M_LAT);

		if (!r)
			return;
		snprintf(r->baseline, sizeof(r->baseline), "floor, no heap");
		if (c->skip || (c->failed && !c->nval)) {
			snprintf(r->note, sizeof(r->note), "%s%s", c->failed ? "FAILED: " : "",
				 c->why);
			continue;
		}
		r->p50 = pct(c->lat.v, c->lat.n, 0.50);
		r->p99 = pct(c->lat.v, c->lat.n, 0.99);
		r->median = r->p50 / 1e3;
		r->rate = median(c->val, c->nval);
		r->ratio = fl / r->p50;
		r->rounds = c->nval;
		r->samples = c->lat.n;
		if (before && before[i].lat.n) {
			double p0 = pct(before[i].lat.v, before[i].lat.n, 0.5);

			snprintf(r->note, sizeof(r->note), "p50 with heap / without: x%.2f%s",
				 r->p50 / p0, c->kind == K_BNODEHEAP ?
				 " (this libuv forks: the page tables are copied)" : "");
		}
	}
}

/*
 * Phase one runs the no-heap rounds, alternating Node with and without its
 * 1 GiB Buffer. Phase two touches a 1 GiB heap in this process once (every
 * page written) and runs our contenders again. A touched heap cannot be
 * un-touched between rounds short of freeing it, and touching it again costs
 * seconds.
 */
static void scenario_big(void)
{
	struct cont no[4], with[2];
	double touch_s;
	char *heap;
	uint64_t t0;

	memset(no, 0, sizeof(no));
	memset(with, 0, sizeof(with));
	no[0] = (struct cont){ .name = "floor (clone)", .kind = K_BFLOOR };
	no[1] = (struct cont){ .name = "pidring", .kind = K_BPIDRING };
	no[2] = (struct cont){ .name = "node child_process", .kind = K_BNODE };
	no[3] = (struct cont){ .name = "node child_process", .kind = K_BNODEHEAP };
	peer_skip_note(&no[2], g.node, "node_spawn.js");
	peer_skip_note(&no[3], g.node, "node_spawn.js");
	with[0] = (struct cont){ .name = "floor (clone)", .kind = K_BFLOOR };
	with[1] = (struct cont){ .name = "pidring", .kind = K_BPIDRING };

	run_rounds(no, 4, "big (no heap; node with and without 1 GiB)", big_round, NULL);
	progress("big: touching a 1 GiB heap");
	t0 = now_ns();
	heap = malloc(HEAP_BYTES);
	if (!heap) {
		fail("big: 1 GiB heap", ENOMEM);
	} else {
		memset(heap, 0x5a, HEAP_BYTES);
		touch_s = (double)(now_ns() - t0) / 1e9;
		run_rounds(with, 2, "big (1 GiB heap)", big_round, NULL);
		if (((volatile char *)heap)[HEAP_BYTES - 1] != 0x5a)
			note("big: the heap changed under us");
		free(heap);
		note("big: spawn→DONE latency, C=1. Writing every page of the 1 GiB heap "
		     "took %.2f s (untimed). Node allocates and fills its own 1 GiB Buffer. "
		     "The ratio is against the floor without a heap", touch_s);
	}
	big_rows(no, 3, "no heap", &no[0], NULL);
	{
		/* the heap rows: ours, then Node's, each against its no-heap self */
		struct cont before[3] = { no[0], no[1], no[2] };
		struct cont heaped[3] = { with[0], with[1], no[3] };

		big_rows(heaped, 3, "1 GiB heap", &no[0], before);
	}
	cont_free(no, 4);
	cont_free(with, 2);
	check_reaped("big");
}

/* ---- scenario 5: population ---- */

/* How many more tasks may we create? Counts pid_max, threads-max, cgroup
 * pids.max, RLIMIT_NPROC and RLIMIT_NOFILE against what exists now. */
static long task_room(char *why, size_t len)
{
	long pid_max = read_long_file("/proc/sys/kernel/pid_max");
	long thr_max = read_long_file("/proc/sys/kernel/threads-max");
	long cg = read_long_file("/sys/fs/cgroup/pids.max");
	long tasks = 0, room = LONG_MAX;
	struct rlimit rl;
	char line[256];
	FILE *f;

	f = fopen("/proc/loadavg", "r");
	if (f) {
		double a, b, c;
		long run;

		if (fscanf(f, "%lf %lf %lf %ld/%ld", &a, &b, &c, &run, &tasks) != 5)
			tasks = 0;
		fclose(f);
	}
	/* cgroup v1 pids controller, when this process sits in one */
	f = fopen("/proc/self/cgroup", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, ":pids:"), path[PATH_MAX];
		long v;

		if (!p)
			continue;
		p += 6;
		p[strcspn(p, "\n")] = '\0';
		if (FMT(path, "/sys/fs/cgroup/pids%s/pids.max", p))
			continue;
		v = read_long_file(path);
		if (v > 0 && (cg < 0 || v < cg))
			cg = v;
	}
	if (f)
		fclose(f);
	snprintf(why, len, "pid_max %ld, threads-max %ld, cgroup pids.max %s, tasks now %ld",
		 pid_max, thr_max, cg == LONG_MAX || cg < 0 ? "max" : "set", tasks);
	if (pid_max > 0 && pid_max - tasks < room)
		room = pid_max - tasks;
	if (thr_max > 0 && thr_max - tasks < room)
		room = thr_max - tasks;
	if (cg > 0 && cg != LONG_MAX && cg - tasks < room)
		room = cg - tasks;
	if (!getrlimit(RLIMIT_NPROC, &rl) && rl.rlim_cur != RLIM_INFINITY && geteuid() != 0 &&
	    (long)rl.rlim_cur - tasks < room)
		room = (long)rl.rlim_cur - tasks;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    (long)rl.rlim_cur - 256 < room)
		room = (long)rl.rlim_cur - 256;    /* one pidfd per live proc */
	return room;
}

static int spawn_sleepers(struct pidring *pr, unsigned from, unsigned to)
{
	struct pidring_spawn s = {
		.path = g.child, .argv = argv_sleep, .ready = PIDRING_READY_EXEC,
	};
	struct pidring_event ev[64];

	for (unsigned i = from; i < to; i++) {
		int r = pidring_spawn(pr, &s, NULL);

		if (r < 0)
			return r;
		/* Keep the event queue small: it would count as per-proc heap. */
		if (i % 32 == 31)
			while (pidring_wait(pr, ev, 64, 0) > 0)
				;
	}
	while (pidring_wait(pr, ev, 64, 0) > 0)
		;
	return pidring_live(pr) == to ? 0 : -EPROTO;
}

enum { K_PPIDRING, K_PFLOOR, K_PUNSHARE };

static struct pidring *pop_pr;

static int pop_round(struct cont *c, void *arg)
{
	double rate = 0;
	int r;

	(void)arg;
	/* Each run is capped in time: at a large population a cycle may be slow. */
	cycle_deadline = now_ns() + (cfg.quick ? 1000000000ull : 5000000000ull);
	if (c->kind == K_PPIDRING) {
		r = pr_cycles(pop_pr, WARMUP, 1, NULL, &rate);
		if (!r)
			r = pr_cycles(pop_pr, cfg.pop_rate_n, 1, &c->lat, &rate);
	} else {
		bool u = c->kind == K_PUNSHARE;

		r = floor_cycles(WARMUP, 1, u ? FL_UNSHARE : 0, NULL, &rate);
		if (!r)
			r = floor_cycles(cfg.pop_rate_n, 1, u ? FL_UNSHARE : 0, &c->lat, &rate);
	}
	cycle_deadline = 0;
	if (r) {
		snprintf(c->why, sizeof(c->why), "%s", strerror(-r));
		return r;
	}
	if (c->nval < MAX_ROUNDS)
		c->val[c->nval++] = rate;
	return 0;
}

static void pop_init(struct cont *c)
{
	memset(c, 0, 3 * sizeof(*c));
	c[0] = (struct cont){ .name = "floor (clone)", .kind = K_PFLOOR };
	c[1] = (struct cont){ .name = "pidring", .kind = K_PPIDRING };
	c[2] = (struct cont){ .name = "floor CLONE_FILES+UNSHARE", .kind = K_PUNSHARE };
}

static void scenario_population(unsigned flags)
{
	const char *scen = flags ? "pop-fallback" : "population";
	char why[200], what[64], variant[2][40];
	long room = task_room(why, sizeof(why));
	unsigned pop = cfg.pop_n, small = 10;
	struct cont cs[2][3];
	double spawn_s, destroy_s;
	size_t h_pre, h0, h1;
	long rss0, rss1;
	uint64_t t0;
	int r;

	if (room - 1024 < (long)pop) {
		long p = room - 1024;

		pop = p < 100 ? 100 : (unsigned)p;
		note("population: scaled down from %u to %u live procs (%s)", cfg.pop_n, pop, why);
	}
	pop_init(cs[0]);
	pop_init(cs[1]);
	progress("%s: %u sleeping children", scen, pop);
	h_pre = heap_bytes();
	r = pr_new(&pop_pr, flags, pop + 64 > 16384 ? pop + 64 : 16384);
	if (r < 0) {
		fail("population: pidring_new", r);
		return;
	}
	h0 = heap_bytes();
	rss0 = rss_bytes();
	r = spawn_sleepers(pop_pr, 0, small);
	if (!r) {
		snprintf(what, sizeof(what), "%s @%u live", scen, small);
		run_rounds(cs[0], 3, what, pop_round, NULL);
	}
	t0 = now_ns();
	if (!r)
		r = spawn_sleepers(pop_pr, small, pop);
	spawn_s = (double)(now_ns() - t0) / 1e9;
	h1 = heap_bytes();
	rss1 = rss_bytes();
	if (!r) {
		snprintf(what, sizeof(what), "%s @%u live", scen, pop);
		run_rounds(cs[1], 3, what, pop_round, NULL);
	}
	if (r)
		fail("population: spawning the sleepers", r);
	progress("%s: destroying %u live procs", scen, pidring_live(pop_pr));
	t0 = now_ns();
	if (pidring_destroy(pop_pr, 120000) < 0)
		fail("population: pidring_destroy", ETIMEDOUT);
	destroy_s = (double)(now_ns() - t0) / 1e9;
	pop_pr = NULL;

	struct row *row = add_row(scen, "heap / live proc", "pidring", M_BYTES);
	if (row) {
		row->median = (double)((long)h1 - (long)h0) / pop;
		snprintf(row->baseline, sizeof(row->baseline), "n/a");
		snprintf(row->note, sizeof(row->note),
			 "mallinfo2 uordblks+hblkhd delta / %u; fixed at pidring_new: %zu KiB "
			 "(the slot table for max_procs)", pop, (h0 - h_pre) / 1024);
	}
	row = add_row(scen, "RSS / live proc", "pidring", M_BYTES);
	if (row) {
		row->median = (double)(rss1 - rss0) / pop;
		snprintf(row->baseline, sizeof(row->baseline), "n/a");
		snprintf(row->note, sizeof(row->note),
			 "bench RSS delta / %u (slots are touched as they are used)", pop);
	}
	snprintf(variant[0], sizeof(variant[0]), "spawn C=1 @%u live", small);
	snprintf(variant[1], sizeof(variant[1]), "spawn C=1 @%u live", pop);
	for (int k = 0; k < 2; k++) {
		double fl = cs[k][0].nval ? median(cs[k][0].val, cs[k][0].nval) : NAN;

		for (int i = 0; i < 3; i++) {
			struct cont *c = &cs[k][i];

			row = add_row(scen, variant[k], c->name, M_RATE);
			if (!row)
				break;
			snprintf(row->baseline, sizeof(row->baseline), "floor @%u live",
				 k ? pop : small);
			if (!c->nval) {
				snprintf(row->note, sizeof(row->note), "%s%s",
					 c->failed ? "FAILED: " : "", c->why);
				continue;
			}
			row->median = row->rate = median(c->val, c->nval);
			row->p50 = pct(c->lat.v, c->lat.n, 0.5);
			row->p99 = pct(c->lat.v, c->lat.n, 0.99);
			row->rounds = c->nval;
			row->samples = c->lat.n;
			row->ratio = row->rate / fl;
			if (k && cs[0][i].nval)
				snprintf(row->note, sizeof(row->note), "rate @%u / @%u: x%.2f",
					 pop, small, row->rate / median(cs[0][i].val, cs[0][i].nval));
		}
	}
	note("%s: %u sleepers (pidring-child --sleep-forever) in one engine "
	     "(max_procs %u%s). Spawning them took %.2f s, and pidring_destroy of all "
	     "%u took %.2f s. The floors run in the same process, so they inherit "
	     "its %u pidfds; the CLONE_FILES+UNSHARE floor copies only fds 0-2 "
	     "into the child", scen, pop - small, pop + 64 > 16384 ? pop + 64 : 16384,
	     flags ? ", NO_WAITID" : "", spawn_s, pop, destroy_s, pop);
	cont_free(cs[0], 3);
	cont_free(cs[1], 3);
	check_reaped("population");
}

/* ---- output ---- */

static int scen_rank(const char *s)
{
	static const char *const order[] = {
		"spawn", "ready", "storm", "big", "population", "fallback", "pop-fallback",
	};

	for (int i = 0; i < (int)(sizeof(order) / sizeof(order[0])); i++)
		if (!strcmp(s, order[i]))
			return i;
	return 99;
}

/* Group rows by scenario in the order above, keeping their order within one. */
static void order_rows(void)
{
	for (int i = 1; i < nrows; i++) {
		struct row t = rows[i];
		int j = i;

		while (j > 0 && scen_rank(rows[j - 1].scen) > scen_rank(t.scen)) {
			rows[j] = rows[j - 1];
			j--;
		}
		rows[j] = t;
	}
}

static void fmt_val(char *b, size_t n, enum metric m, double v)
{
	if (isnan(v))
		snprintf(b, n, "—");
	else if (m == M_RATE)
		snprintf(b, n, "%.0f /s", v);
	else if (m == M_BYTES)
		snprintf(b, n, "%.0f B", v);
	else
		snprintf(b, n, v < 10 ? "%.3f ms" : "%.1f ms", v);
}

static void fmt_us(char *b, size_t n, double us)
{
	if (isnan(us))
		snprintf(b, n, "—");
	else if (us < 10000)
		snprintf(b, n, "%.3f ms", us / 1e3);
	else
		snprintf(b, n, "%.1f ms", us / 1e3);
}

static void print_table(double secs)
{
	struct utsname u;

	uname(&u);
	printf("## pidring-bench%s — pidring %s, %ld cores, Linux %s, %d round%s, %.0f s\n\n",
	       cfg.quick ? " --quick" : "", pidring_version(), sysconf(_SC_NPROCESSORS_ONLN),
	       u.release, cfg.rounds, cfg.rounds == 1 ? "" : "s", secs);
	printf("ratio = floor cost / contender cost (rate: contender/floor; latency, time: "
	       "floor/contender); 1.00 = the floor, < 1 slower. The ratio is the median "
	       "of per-round ratios (each round runs every contender back to back; "
	       "for ready latency, of the rounds' p50s). median: over rounds for rates "
	       "and times, over all samples for latencies; p50/p99: per-proc latency over all "
	       "samples. spawn runs %d rounds, the other scenarios %d.\n\n",
	       cfg.spawn_rounds, cfg.rounds);
	printf("| scenario | variant | contender | median | p50 | p99 | rate | ratio | note |\n");
	printf("|---|---|---|---:|---:|---:|---:|---:|---|\n");
	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		char med[32], p50[32], p99[32], rate[32], ratio[32];

		fmt_val(med, sizeof(med), r->metric, r->median);
		fmt_us(p50, sizeof(p50), r->p50);
		fmt_us(p99, sizeof(p99), r->p99);
		fmt_val(rate, sizeof(rate), M_RATE, r->rate);
		if (isnan(r->ratio))
			snprintf(ratio, sizeof(ratio), "—");
		else
			snprintf(ratio, sizeof(ratio), "%.2f", r->ratio);
		printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r->scen, r->variant,
		       r->cont, med, p50, p99, rate, ratio, r->note);
	}
	if (nnotes) {
		printf("\n");
		for (int i = 0; i < nnotes; i++)
			printf("- %s\n", notes[i]);
	}
	fflush(stdout);
}

static void json_esc(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_dbl(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", f);
	else
		fprintf(f, "%.6g", v);
}

static int write_json(const char *path, double secs)
{
	FILE *f = fopen(path, "w");
	struct utsname u;

	if (!f)
		return -errno;
	uname(&u);
	fprintf(f, "{\n  \"tool\": \"pidring-bench\",\n  \"pidring_version\": ");
	json_esc(f, pidring_version());
	fprintf(f, ",\n  \"quick\": %s,\n  \"rounds\": %d,\n  \"seconds\": %.1f,\n",
		cfg.quick ? "true" : "false", cfg.rounds, secs);
	fprintf(f, "  \"machine\": { \"cores\": %ld, \"kernel\": ", sysconf(_SC_NPROCESSORS_ONLN));
	json_esc(f, u.release);
	fprintf(f, ", \"kernel_waitid\": %s, \"node\": ", g.kernel_waitid ? "true" : "false");
	json_esc(f, g.node_ver);
	fprintf(f, ", \"libuv\": ");
	json_esc(f, g.node_uv);
	fprintf(f, ", \"python\": ");
	json_esc(f, g.py_ver);
	fprintf(f, " },\n  \"convention\": ");
	json_esc(f, "ratio_to_floor = floor cost / contender cost: rate metrics contender/floor, "
		 "latency and time metrics floor/contender; 1.0 is the floor, < 1 slower. "
		 "median: for rate and time metrics the median over rounds of the per-round "
		 "value, for latency metrics the p50 over all samples; p50_us/p99_us: per-proc "
		 "latency over all samples; rate_per_s: median per-round rate");
	fprintf(f, ",\n  \"entries\": [\n");
	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];

		fprintf(f, "    { \"scenario\": ");
		json_esc(f, r->scen);
		fprintf(f, ", \"variant\": ");
		json_esc(f, r->variant);
		fprintf(f, ", \"contender\": ");
		json_esc(f, r->cont);
		fprintf(f, ", \"metric\": \"%s\", \"unit\": \"%s\", \"median\": ",
			metric_name[r->metric], metric_unit[r->metric]);
		json_dbl(f, r->median);
		fprintf(f, ", \"p50_us\": ");
		json_dbl(f, r->p50);
		fprintf(f, ", \"p99_us\": ");
		json_dbl(f, r->p99);
		fprintf(f, ", \"rate_per_s\": ");
		json_dbl(f, r->rate);
		fprintf(f, ", \"ratio_to_floor\": ");
		json_dbl(f, r->ratio);
		fprintf(f, ", \"baseline\": ");
		json_esc(f, r->baseline);
		fprintf(f, ", \"rounds\": %d, \"samples\": %zu, \"note\": ", r->rounds, r->samples);
		json_esc(f, r->note);
		fprintf(f, " }%s\n", i + 1 < nrows ? "," : "");
	}
	fprintf(f, "  ],\n  \"notes\": [");
	for (int i = 0; i < nnotes; i++) {
		fprintf(f, "%s\n    ", i ? "," : "");
		json_esc(f, notes[i]);
	}
	fprintf(f, "%s]\n}\n", nnotes ? "\n  " : "");
	return fclose(f) ? -errno : 0;
}

static void csv_field(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void csv_dbl(FILE *f, double v)
{
	if (!isnan(v) && !isinf(v))
		fprintf(f, "%.6g", v);
}

static int write_csv(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "scenario,variant,contender,metric,unit,median,p50_us,p99_us,rate_per_s,"
		   "ratio_to_floor,baseline,rounds,samples,note\n");
	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];

		csv_field(f, r->scen);
		fputc(',', f);
		csv_field(f, r->variant);
		fputc(',', f);
		csv_field(f, r->cont);
		fprintf(f, ",%s,%s,", metric_name[r->metric], metric_unit[r->metric]);
		csv_dbl(f, r->median);
		fputc(',', f);
		csv_dbl(f, r->p50);
		fputc(',', f);
		csv_dbl(f, r->p99);
		fputc(',', f);
		csv_dbl(f, r->rate);
		fputc(',', f);
		csv_dbl(f, r->ratio);
		fputc(',', f);
		csv_field(f, r->baseline);
		fprintf(f, ",%d,%zu,", r->rounds, r->samples);
		csv_field(f, r->note);
		fputc('\n', f);
	}
	return fclose(f) ? -errno : 0;
}

/* ---- setup ---- */

static bool find_in_path(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t l = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)l, path, name);
		if (l && !access(buf, X_OK)) {
			snprintf(out, len, "%s", buf);
			return true;
		}
		path += l;
		if (*path == ':')
			path++;
	}
	return false;
}

static void find_interp(const char *env, const char *const *names, char *out, size_t len)
{
	const char *e = getenv(env);

	out[0] = '\0';
	if (e) {
		snprintf(out, len, "%s", e);   /* empty: skip */
		return;
	}
	for (; *names; names++)
		if (find_in_path(*names, out, len))
			return;
}

/*
 * python3 on PATH may be a shim (pyenv) that costs a shell and a second
 * interpreter start each time. Ask it once for the real executable.
 */
static void resolve_python(void)
{
	char out[PATH_MAX] = "";
	int p[2], st;
	pid_t pid;
	ssize_t n;
	char *argv[] = { g.python, "-c", "import sys; print(sys.executable)", NULL };
	posix_spawn_file_actions_t fa;

	if (pipe2(p, O_CLOEXEC))
		return;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	if (posix_spawn(&pid, g.python, &fa, NULL, argv, environ)) {
		posix_spawn_file_actions_destroy(&fa);
		close(p[0]);
		close(p[1]);
		return;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	n = read(p[0], out, sizeof(out) - 1);
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (n <= 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		return;
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
	if (out[0] == '/' && !access(out, X_OK))
		snprintf(g.python, sizeof(g.python), "%s", out);
}

static bool probe_waitid(void)
{
	struct io_uring_probe *p = io_uring_get_probe();
	bool ok;

	if (!p)
		return false;
	ok = io_uring_opcode_supported(p, OP_WAITID);
	io_uring_free_probe(p);
	return ok;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void cleanup_tmp(void)
{
	int n = 0;
	DIR *d;

	if (!g.tmp[0])
		return;
	/* Expected: fdir and pdir, empty. Anything else was left behind. */
	d = opendir(g.tmp);
	if (d) {
		struct dirent *e;

		while ((e = readdir(d))) {
			char p[PATH_MAX];
			DIR *sub;

			if (e->d_name[0] == '.')
				continue;
			if (FMT(p, "%s/%s", g.tmp, e->d_name))
				continue;
			if (strcmp(e->d_name, "floor") && strcmp(e->d_name, "poll")) {
				n++;
				continue;
			}
			sub = opendir(p);
			if (sub) {
				struct dirent *se;

				while ((se = readdir(sub)))
					if (se->d_name[0] != '.')
						n++;
				closedir(sub);
			}
		}
		closedir(d);
	}
	if (n) {
		g.failed = true;
		note("LEAK: %d file(s) left in the runtime dir %s; removed", n, g.tmp);
	}
	nftw(g.tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pidring-bench [--quick] [--rounds R] [--only LIST] [--no-peers]\n"
		"                     [--pop N] [--json FILE] [--csv FILE]\n"
		"  --pop N: live procs in the population scenario (default 10000)\n"
		"  LIST: comma-separated of spawn,ready,storm,big,population,fallback,\n"
		"        pop-fallback (population with NO_WAITID; only when listed)\n"
		"  env: PIDRING_CHILD, PIDRING_BENCH_SCRIPTS, PIDRING_BENCH_NODE,\n"
		"       PIDRING_BENCH_PYTHON (empty: skip that peer)\n");
}

int pool_bench_main(int argc, char **argv);   /* tools/bench/pool.c */

int main(int argc, char **argv)
{
	static const char *const node_names[] = { "node", "nodejs", NULL };
	static const char *const py_names[] = { "python3", NULL };
	char exe[PATH_MAX], *slash;
	const char *e;
	struct rlimit rl;
	uint64_t t_start;
	ssize_t l;
	int rounds = 0, pop = 0;

	if (argc > 1 && !strcmp(argv[1], "--pool"))
		return pool_bench_main(argc - 1, argv + 1);
	cfg.peers = true;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--quick")) {
			cfg.quick = true;
		} else if (!strcmp(a, "--no-peers")) {
			cfg.peers = false;
		} else if (!strcmp(a, "--json") && i + 1 < argc) {
			cfg.json = argv[++i];
		} else if (!strcmp(a, "--csv") && i + 1 < argc) {
			cfg.csv = argv[++i];
		} else if (!strcmp(a, "--only") && i + 1 < argc) {
			cfg.only = argv[++i];
		} else if (!strcmp(a, "--pop") && i + 1 < argc) {
			pop = atoi(argv[++i]);
			if (pop < 20 || pop > 1000000) {
				fprintf(stderr, "pidring-bench: --pop 20..1000000\n");
				return 2;
			}
		} else if (!strcmp(a, "--rounds") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
			if (rounds < 1 || rounds > MAX_ROUNDS) {
				fprintf(stderr, "pidring-bench: --rounds 1..%d\n", MAX_ROUNDS);
				return 2;
			}
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (cfg.quick) {
		cfg.rounds = 3;
		cfg.spawn_rounds = 9;
		cfg.spawn_n = 300;
		cfg.ready_n = 200;
		cfg.poll_n = 20;
		cfg.big_n = 200;
		cfg.big_node_n = 15;
		cfg.pop_rate_n = 500;
		cfg.peer_timeout_s = 60;
	} else {
		cfg.rounds = 5;
		cfg.spawn_rounds = 11;
		cfg.spawn_n = 1000;
		cfg.ready_n = 1000;
		cfg.poll_n = 40;
		cfg.big_n = 500;
		cfg.big_node_n = 50;
		cfg.pop_rate_n = 1000;
		cfg.peer_timeout_s = 300;
	}
	cfg.storm_n = 1000;
	cfg.pop_n = 10000;
	if (rounds)
		cfg.rounds = cfg.spawn_rounds = rounds;
	if (pop)
		cfg.pop_n = (unsigned)pop;

	/* Where the child and the peer scripts are. */
	l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[l > 0 ? l : 0] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	e = getenv("PIDRING_CHILD");
	if (e && *e)
		snprintf(g.child, sizeof(g.child), "%s", e);
	else if (FMT(g.child, "%s/pidring-child", exe))
		g.child[0] = '\0';
	if (!g.child[0] || access(g.child, X_OK)) {
		fprintf(stderr, "pidring-bench: no child at %s (set PIDRING_CHILD)\n", g.child);
		return 2;
	}
	if (g.child[0] != '/') {
		char abs[PATH_MAX];

		if (realpath(g.child, abs))
			snprintf(g.child, sizeof(g.child), "%s", abs);
	}
	e = getenv("PIDRING_BENCH_SCRIPTS");
	if (e && *e)
		snprintf(g.scripts, sizeof(g.scripts), "%s", e);
	else if (FMT(g.scripts, "%s/../tools/bench", exe))
		g.scripts[0] = '\0';
	find_interp("PIDRING_BENCH_NODE", node_names, g.node, sizeof(g.node));
	find_interp("PIDRING_BENCH_PYTHON", py_names, g.python, sizeof(g.python));
	if (cfg.peers && g.python[0])
		resolve_python();

	argv_plain[0] = g.child;
	argv_bind[0] = g.child;
	argv_bind[1] = "--bind-after-ms";
	argv_bind[2] = "0";
	argv_never[0] = g.child;
	argv_never[1] = "--never-ready";
	argv_sleep[0] = g.child;
	argv_sleep[1] = "--sleep-forever";

	/* One pidfd per live proc: 10,000 of them in the population scenario. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!no_children()) {
		fprintf(stderr, "pidring-bench: this process already has children\n");
		return 2;
	}
	g.stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (g.stack == MAP_FAILED) {
		perror("pidring-bench: mmap");
		return 2;
	}
	g.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (g.devnull < 0) {
		perror("pidring-bench: /dev/null");
		return 2;
	}
	e = getenv("TMPDIR");
	snprintf(g.tmp, sizeof(g.tmp), "%s/pidring-bench.XXXXXX", e && *e ? e : "/tmp");
	if (!mkdtemp(g.tmp)) {
		perror("pidring-bench: mkdtemp");
		return 2;
	}
	/* Socket paths go below: keep them well inside sun_path. */
	if (strlen(g.tmp) > 64 || FMT(g.fdir, "%s/floor", g.tmp) ||
	    FMT(g.pdir, "%s/poll", g.tmp)) {
		fprintf(stderr, "pidring-bench: TMPDIR too long for socket paths\n");
		rmdir(g.tmp);
		return 2;
	}
	if (mkdir(g.fdir, 0700) || mkdir(g.pdir, 0700)) {
		perror("pidring-bench: mkdir");
		cleanup_tmp();
		return 2;
	}
	g.kernel_waitid = probe_waitid();
	if (!g.kernel_waitid)
		note("this kernel has no IORING_OP_WAITID: pidring runs its POLL_ADD fallback "
		     "everywhere");
	if (cfg.peers && !g.node[0])
		note("node not found: Node contenders skipped");
	if (cfg.peers && !g.python[0])
		note("python3 not found: Python contenders skipped");

	t_start = now_ns();
	if (want("spawn") || want("fallback"))
		scenario_spawn();
	if (want("ready"))
		scenario_ready();
	if (want("storm") || want("fallback"))
		scenario_storm();
	if (want("big"))
		scenario_big();
	if (want("population"))
		scenario_population(0);
	if (cfg.only && want("pop-fallback"))
		scenario_population(PIDRING_F_NO_WAITID);
	if (g.node_ver[0])
		note("peers: Node %s (libuv %s)%s%s", g.node_ver, g.node_uv,
		     g.py_ver[0] ? ", Python " : "", g.py_ver);
	else if (g.py_ver[0])
		note("peers: Python %s", g.py_ver);

	double secs = (double)(now_ns() - t_start) / 1e9;

	check_reaped("the run");
	cleanup_tmp();
	order_rows();
	print_table(secs);
	if (cfg.json) {
		int r = write_json(cfg.json, secs);

		if (r)
			fprintf(stderr, "pidring-bench: %s: %s\n", cfg.json, strerror(-r));
	}
	if (cfg.csv) {
		int r = write_csv(cfg.csv);

		if (r)
			fprintf(stderr, "pidring-bench: %s: %s\n", cfg.csv, strerror(-r));
	}
	munmap(g.stack, STACK_SIZE);
	return g.failed ? 1 : 0;
}
