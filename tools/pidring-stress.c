/* SPDX-License-Identifier: MIT */
/*
 * pidring-stress — a chaos driver that proves nothing leaks.
 *
 *   pidring-stress [--procs N] [--concurrency C] [--seed S] [--duration SEC]
 *                  [--engines K] [--json] [--no-waitid] [--no-clone3] [--child PATH]
 *                  [--runtime-dir DIR] [--ring-entries N] [--quiet]
 *                  [--cgroup DIR] [--inject dup-done|leak-fd]
 *
 * Spawns N pidring-child processes (default 16000, for at most 50 s when
 * neither --procs nor --duration is given), C at a time (default 64), on K
 * engines driven round-robin from this one thread (default 1). Each proc gets
 * a behaviour and an action drawn from the seed:
 *
 *   behaviours  bind (after 0-50 ms), listen-late (bind, listen 5-100 ms later),
 *               exit-early (exits before it is ready), crash (binds, then dies
 *               of SIGSEGV), never-ready (short ready deadline), ignore-term,
 *               fork (1-3 grandchildren, never exits on its own), exec-fail (a
 *               path that does not exist: pidring_spawn must say -ENOENT),
 *               notify (sd_notify READY=1), exec-ready (PIDRING_READY_EXEC)
 *   actions     none, cancel in the same tick as the spawn, cancel while
 *               binding, cancel once running, cancel twice in a row, stale-id
 *               calls after DONE (must say -ESRCH), stop with a short grace,
 *               stop then cancel, cancel then stop
 *
 * The procs are cut into epochs of 300-900 (from the seed too): at the end of
 * each, the driver stops spawning, waits 0-40 ms and destroys the engines with
 * whatever is in flight, then starts new ones. The last epoch runs until every
 * proc is DONE.
 *
 * The schedule — each proc's behaviour, timings, action and engine, and the
 * epoch cuts — is a pure function of (seed, proc index, K); the printed
 * schedule hash shows it. What the kernel does with it (which of a cancel and an exit
 * wins) varies run to run, and the audit accepts exactly the outcomes each
 * such race allows (see audit_done()).
 *
 * Checked continuously: one DONE per spawn, at most one READY and before it, a
 * reason, code and status consistent with the behaviour and with what the
 * driver did, event timestamps consistent with the child's own timeline, no
 * event for an unknown id, pid/user echoed, a cancel/stop/pid on a live id is
 * accepted and on a DONE or forged id is -ESRCH, pidring_live() matches, the
 * bind socket is gone when DONE arrives. Checked after each teardown and at the
 * end: no process whose parent is us (zombies included), no descendant of our
 * procs alive, the fd count back to its baseline, no file under the runtime
 * dir, and the heap (mallinfo2 uordblks, with the tcache off so that it is
 * exact: see tcache_off()) measured around the engines back to its baseline.
 *
 * Exit status: 0 when there was no violation and nothing leaked, 1 otherwise,
 * 2 on bad usage or when the run could not start.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pidring.h"
#include "tool_util.h"

#define DEF_PROCS        16000
#define DEF_CONCURRENCY  64
#define DEF_DURATION_CAP 50.0     /* s: only when neither --procs nor --duration */
#define MAX_ENGINES      16
#define EVMAX            64
#define EPOCH_MIN        300
#define EPOCH_SPAN       600      /* epoch length: EPOCH_MIN + [0, EPOCH_SPAN) */
#define EPOCH_MAX        (EPOCH_MIN + EPOCH_SPAN)
#define BIND_TIMEOUT_MS  10000    /* deadline of procs that are meant to get ready */
#define DESTROY_MS       10000
#define FINAL_DRAIN_MS   15000    /* the last epoch: every proc must be DONE by then */
#define STALE_RING       1024
#define SPAWN_BURST      8        /* spawns per loop turn */
#define MAX_REPORTS      60       /* violations described in full; the rest counted */
#define REPORTS_PER_KIND 6
#define NS               1000000000ull
#define MS               1000000ull
#define HEAP_SLACK       65536    /* B: only when the tcache could not be turned off */

/* ---- the schedule ---- */

enum behav {
	B_BIND, B_LISTEN_LATE, B_EXIT_EARLY, B_CRASH, B_NEVER_READY, B_IGNORE_TERM,
	B_FORK, B_EXEC_FAIL, B_NOTIFY, B_EXEC_READY, B_N
};
static const char *const behav_name[B_N] = {
	"bind", "listen-late", "exit-early", "crash", "never-ready", "ignore-term",
	"fork", "exec-fail", "notify", "exec-ready",
};
static const unsigned behav_weight[B_N] = { 16, 10, 10, 10, 8, 8, 8, 4, 16, 10 };

enum action {
	A_NONE, A_CANCEL_SPAWN, A_CANCEL_BINDING, A_CANCEL_RUNNING, A_CANCEL_TWICE,
	A_AFTER_DONE, A_STOP, A_STOP_CANCEL, A_CANCEL_STOP, A_N
};
static const char *const action_name[A_N] = {
	"none", "cancel-at-spawn", "cancel-binding", "cancel-running", "cancel-twice",
	"after-done", "stop", "stop-then-cancel", "cancel-then-stop",
};
static const unsigned action_weight[A_N] = { 34, 8, 10, 10, 8, 6, 12, 6, 6 };

static const int exit_codes[] = { 0, 1, 4, 5, 7, 42, 99, 255 };

/* How a proc ends when nobody touches it. */
enum natural { NAT_EXIT, NAT_SIGNAL, NAT_TIMEOUT, NAT_NONE };

struct plan {
	uint64_t index;
	uint8_t  behav, action, mode;   /* mode: enum pidring_ready */
	uint8_t  engine;                /* 0..K-1 */
	uint8_t  nat;                   /* enum natural */
	bool     post_done;             /* stale-id calls after its DONE */
	bool     forge;                 /* forged-id calls right after its spawn */
	bool     sock_arg;              /* --socket {socket}: argv substitution */
	bool     status, garbage;       /* NOTIFY extras */
	bool     gc_ignore_term;        /* fork: the grandchildren ignore SIGTERM */
	bool     tree;                  /* fork: a tree two levels deep, nfork wide */
	int      bind_ms, listen_ms, notify_ms;
	int      ready_ms;              /* earliest readiness, from the child's start */
	int      nat_ms;                /* natural end, from the child's start */
	int      code;                  /* exit code (NAT_EXIT) or signal (NAT_SIGNAL) */
	int      nfork;
	unsigned ready_timeout_ms;
	int      act_ms, act2_ms;       /* action delays */
	unsigned grace_ms;
};

struct rng { uint64_t s; };

static uint64_t rng_next(struct rng *r)          /* splitmix64 */
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int rng_int(struct rng *r, int lo, int hi)  /* uniform in [lo, hi] */
{
	return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

static unsigned rng_pick(struct rng *r, const unsigned *w, unsigned n)
{
	unsigned total = 0, x;

	for (unsigned i = 0; i < n; i++)
		total += w[i];
	x = (unsigned)(rng_next(r) % total);
	for (unsigned i = 0; i < n; i++) {
		if (x < w[i])
			return i;
		x -= w[i];
	}
	return n - 1;
}

/* ---- options and global state ---- */

static struct {
	uint64_t procs;
	unsigned concurrency;
	uint64_t seed;
	double   duration;             /* 0: none */
	unsigned engines;
	unsigned ring_entries;         /* 0: the engine's default */
	bool     json, no_waitid, no_clone3, quiet;
	bool     procs_set, duration_set;
	const char *inject;            /* self-test: a fault the audit must catch */
	const char *cgroup_dir;        /* engines in cgroup mode */
	char     child[PATH_MAX];
	char     rundir[PATH_MAX];
	bool     own_rundir;
} opt;

static char missing_path[PATH_MAX + 32];  /* exec-fail: never exists */

struct stats {
	uint64_t spawned, ready, done, exited, exited_early, cancelled, stopped, timeouts;
	uint64_t exec_failures, destroyed, ready_missed;
	uint64_t cancel_calls, stop_calls, stale_checks, forged_checks;
	uint64_t engines, teardowns, violations;
	uint64_t leaked_procs, leaked_fds, leaked_files;
	long long heap_first_delta, heap_max_delta, leaked_heap;
	uint64_t sched_hash;
} st = { .sched_hash = 0xcbf29ce484222325ull };

static uint64_t t_start;
static bool heap_exact;
static pid_t me;
static pid_t my_sid;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static double since_start(void)
{
	return (double)(now_ns() - t_start) / 1e9;
}

/* ---- per-proc records: a fixed pool and an open-addressing map ---- */

struct logged_call { char what; int rc; uint64_t at; };
struct logged_ev {
	uint8_t type, reason;
	int code, status;
	uint64_t at;       /* ready_ns or done_ns */
};

struct rec {
	bool       used;
	struct plan pl;
	unsigned   k;                   /* engine slot */
	unsigned   eserial;             /* engine serial number, for reports */
	pidring_id id;
	pid_t      pid;
	uint64_t   t_pre, t_post;       /* around pidring_spawn */
	uint64_t   due;                 /* next action step (0: none) */
	int        step;                /* action steps done */
	char       eff;                 /* first accepted verb: 'C', 'S' or 0 */
	uint64_t   eff_start, eff_end;
	bool       ready_before_eff;    /* READY delivered before that verb */
	bool       esrch_pending;       /* a verb said -ESRCH before we saw DONE */
	int        nready;
	uint64_t   ready_ns;
	int        ncalls, nevs;
	struct logged_call calls[6];
	struct logged_ev evs[4];
	int        ep;                  /* its epoch_procs entry, -1: none */
	char       sock[108];
};

static struct rec *pool;
static unsigned pool_cap, inflight;
static unsigned *free_stack, free_top;

struct mslot { uint64_t key; unsigned k; unsigned rec; };  /* key 0: empty */
static struct mslot *map;
static unsigned map_mask;

static unsigned map_hash(unsigned k, uint64_t id)
{
	uint64_t h = (id ^ ((uint64_t)k << 56)) * 0x9e3779b97f4a7c15ull;

	return (unsigned)(h >> 32) & map_mask;
}

static void map_put(unsigned k, uint64_t id, unsigned r)
{
	unsigned i = map_hash(k, id);

	while (map[i].key)
		i = (i + 1) & map_mask;
	map[i] = (struct mslot){ id, k, r };
}

static long map_find(unsigned k, uint64_t id)
{
	unsigned i = map_hash(k, id);

	while (map[i].key) {
		if (map[i].key == id && map[i].k == k)
			return (long)i;
		i = (i + 1) & map_mask;
	}
	return -1;
}

/* Linear probing with backward-shift deletion: no tombstones. */
static void map_del_at(unsigned i)
{
	unsigned j = i;

	map[i].key = 0;
	for (;;) {
		j = (j + 1) & map_mask;
		if (!map[j].key)
			return;
		unsigned h = map_hash(map[j].k, map[j].key);
		/* j's entry may move to i only if its home is not in (i, j]. */
		bool between = i <= j ? (h > i && h <= j) : (h > i || h <= j);
		if (between)
			continue;
		map[i] = map[j];
		map[j].key = 0;
		i = j;
	}
}

static struct rec *rec_alloc(void)
{
	struct rec *r = &pool[free_stack[--free_top]];

	memset(r, 0, sizeof(*r));
	r->used = true;
	r->ep = -1;
	inflight++;
	return r;
}

static void rec_free(struct rec *r)
{
	r->used = false;
	free_stack[free_top++] = (unsigned)(r - pool);
	inflight--;
}

/* ---- engines ---- */

struct stale { pidring_id id; uint64_t index; };

struct eng {
	struct pidring *pr;
	unsigned serial;
	unsigned ours;                  /* our records not yet DONE */
	struct stale stale[STALE_RING];
	unsigned stale_head, stale_len, stale_ready;
};
static struct eng eng[MAX_ENGINES];

/* ---- violations ---- */

static bool progress_dirty;        /* a \r progress line is on the terminal */
static bool tty;

static void clear_progress(void)
{
	if (progress_dirty) {
		fputs("\r\033[K", stdout);
		fflush(stdout);
		progress_dirty = false;
	}
}

static const char *code_name(int c)
{
	switch (c) {
	case CLD_EXITED: return "exited";
	case CLD_KILLED: return "killed";
	case CLD_DUMPED: return "dumped";
	case 0:          return "unknown";
	default:         return "?";
	}
}

static double rel_ms(const struct rec *r, uint64_t t)
{
	return t ? ((double)t - (double)r->t_pre) / 1e6 : 0.0;
}

static void describe(FILE *f, const struct rec *r)
{
	const struct plan *p = &r->pl;
	static const char *const mode[] = { "EXEC", "BIND", "NOTIFY" };

	fprintf(f, "  behaviour %s (mode %s", behav_name[p->behav], mode[p->mode]);
	if (p->behav == B_BIND || p->behav == B_LISTEN_LATE || p->behav == B_CRASH ||
	    p->behav == B_IGNORE_TERM || p->behav == B_FORK)
		fprintf(f, ", bind at %d ms, listen +%d ms", p->bind_ms, p->listen_ms);
	if (p->behav == B_NOTIFY)
		fprintf(f, ", READY=1 at %d ms%s%s", p->notify_ms, p->status ? ", STATUS" : "",
			p->garbage ? ", garbage" : "");
	if (p->nfork)
		fprintf(f, ", %d %s%s", p->tree ? p->nfork + p->nfork * p->nfork : p->nfork,
			p->tree ? "descendants in a tree" : "grandchildren",
			p->gc_ignore_term ? " that ignore SIGTERM" : "");
	switch (p->nat) {
	case NAT_EXIT:    fprintf(f, ", exits %d at %d ms", p->code, p->nat_ms); break;
	case NAT_SIGNAL:  fprintf(f, ", dies of signal %d at %d ms", p->code, p->nat_ms); break;
	case NAT_TIMEOUT: fprintf(f, ", never ready, deadline %d ms", p->nat_ms); break;
	default:          fprintf(f, ", never exits on its own"); break;
	}
	fprintf(f, ")\n  action %s", action_name[p->action]);
	switch (p->action) {
	case A_CANCEL_RUNNING: fprintf(f, " (%d ms after READY)", p->act_ms); break;
	case A_STOP:
		fprintf(f, " (at %d ms, grace %u ms)", p->act_ms, p->grace_ms); break;
	case A_STOP_CANCEL:
		fprintf(f, " (stop at %d ms, grace %u ms, cancel %d ms later)", p->act_ms,
			p->grace_ms, p->act2_ms); break;
	case A_CANCEL_BINDING: case A_CANCEL_TWICE: case A_CANCEL_STOP:
		fprintf(f, " (at %d ms)", p->act_ms); break;
	default: break;
	}
	fprintf(f, "%s; calls:", p->post_done ? ", stale-id calls after DONE" : "");
	if (!r->ncalls)
		fprintf(f, " none");
	for (int i = 0; i < r->ncalls; i++)
		fprintf(f, " %s@%.2fms=%d", r->calls[i].what == 'C' ? "cancel" :
			r->calls[i].what == 'S' ? "stop" : "stale", rel_ms(r, r->calls[i].at),
			r->calls[i].rc);
	fprintf(f, "\n  events (ms from spawn call):");
	if (!r->nevs)
		fprintf(f, " none");
	for (int i = 0; i < r->nevs; i++) {
		const struct logged_ev *e = &r->evs[i];
		if (e->type == PIDRING_EV_READY)
			fprintf(f, " READY@%.2f", rel_ms(r, e->at));
		else if (e->type == PIDRING_EV_DONE)
			fprintf(f, " DONE@%.2f %s %s %d", rel_ms(r, e->at), reason_name(e->reason),
				code_name(e->code), e->status);
		else
			fprintf(f, " type%u", e->type);
	}
	fputc('\n', f);
}

/*
 * Every violation is counted; the first few of each kind (its format string)
 * are described in full, so that one flood does not hide another kind.
 */
static struct { const char *fmt; unsigned n; char first[200]; } kinds[64];
static unsigned nkinds;

__attribute__((format(printf, 2, 3)))
static void violation(const struct rec *r, const char *fmt, ...)
{
	static unsigned nreported;
	unsigned i;
	va_list ap;

	st.violations++;
	for (i = 0; i < nkinds && kinds[i].fmt != fmt; i++)
		;
	if (i == nkinds && nkinds < sizeof(kinds) / sizeof(kinds[0])) {
		kinds[nkinds++].fmt = fmt;
		va_start(ap, fmt);
		vsnprintf(kinds[i].first, sizeof(kinds[i].first), fmt, ap);
		va_end(ap);
	}
	if (i < nkinds && kinds[i].n++ == REPORTS_PER_KIND) {
		clear_progress();
		fprintf(stderr, "pidring-stress: (more violations like the one above follow, "
			"only counted)\n");
	}
	if (i >= nkinds || kinds[i].n > REPORTS_PER_KIND || nreported >= MAX_REPORTS)
		return;
	nreported++;
	clear_progress();
	fprintf(stderr, "VIOLATION [seed %" PRIu64 "]", opt.seed);
	if (r)
		fprintf(stderr, " proc #%" PRIu64 " engine %u (#%u) id 0x%" PRIx64 " pid %d",
			r->pl.index, r->k, r->eserial, (uint64_t)r->id, (int)r->pid);
	fputs(": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (r)
		describe(stderr, r);
}

static void log_call(struct rec *r, char what, int rc, uint64_t at)
{
	if (r->ncalls < (int)(sizeof(r->calls) / sizeof(r->calls[0])))
		r->calls[r->ncalls++] = (struct logged_call){ what, rc, at };
}

static void log_ev(struct rec *r, const struct pidring_event *ev)
{
	if (r->nevs < (int)(sizeof(r->evs) / sizeof(r->evs[0])))
		r->evs[r->nevs++] = (struct logged_ev){
			(uint8_t)ev->type, (uint8_t)ev->reason, ev->code, ev->status,
			ev->type == PIDRING_EV_READY ? ev->ready_ns : ev->done_ns };
}

/* ---- the plan of proc #index: a pure function of (seed, index) ---- */

static void make_plan(uint64_t index, struct plan *p)
{
	struct rng r = { opt.seed * 0x2545f4914f6cdd1dull ^ (index + 1) * 0x9e3779b97f4a7c15ull };

	memset(p, 0, sizeof(*p));
	rng_next(&r);
	p->index = index;
	p->behav = (uint8_t)rng_pick(&r, behav_weight, B_N);
	p->action = (uint8_t)rng_pick(&r, action_weight, A_N);
	p->engine = (uint8_t)(rng_next(&r) % opt.engines);
	p->post_done = rng_int(&r, 0, 3) == 0;
	p->forge = rng_int(&r, 0, 15) == 0;
	p->mode = PIDRING_READY_BIND;
	p->ready_timeout_ms = BIND_TIMEOUT_MS;
	p->code = exit_codes[rng_int(&r, 0, (int)(sizeof(exit_codes) / sizeof(exit_codes[0])) - 1)];
	p->nat = NAT_EXIT;
	p->bind_ms = rng_int(&r, 0, 50);

	switch (p->behav) {
	case B_BIND:
		p->sock_arg = rng_int(&r, 0, 3) == 0;
		p->ready_ms = p->bind_ms;
		p->nat_ms = p->bind_ms + rng_int(&r, 50, 300);
		break;
	case B_LISTEN_LATE:
		p->listen_ms = rng_int(&r, 5, 100);
		p->ready_ms = p->bind_ms + p->listen_ms;
		p->nat_ms = p->ready_ms + rng_int(&r, 50, 200);
		break;
	case B_EXIT_EARLY:
		p->mode = rng_int(&r, 0, 1) ? PIDRING_READY_NOTIFY : PIDRING_READY_BIND;
		p->bind_ms = 0;
		p->nat_ms = rng_int(&r, 0, 100);
		break;
	case B_CRASH:
		p->ready_ms = p->bind_ms;
		p->nat_ms = p->bind_ms + rng_int(&r, 0, 200);
		p->nat = NAT_SIGNAL;
		p->code = SIGSEGV;
		break;
	case B_NEVER_READY:
		p->mode = rng_int(&r, 0, 1) ? PIDRING_READY_NOTIFY : PIDRING_READY_BIND;
		p->bind_ms = 0;
		p->ready_timeout_ms = (unsigned)rng_int(&r, 30, 200);
		p->nat = NAT_TIMEOUT;
		p->nat_ms = (int)p->ready_timeout_ms;
		break;
	case B_IGNORE_TERM:
		p->ready_ms = p->bind_ms;
		p->nat_ms = p->bind_ms + rng_int(&r, 100, 400);
		/* The interesting verb for it: half of them are stopped. */
		if (rng_int(&r, 0, 1))
			p->action = A_STOP;
		break;
	case B_FORK:
		p->ready_ms = p->bind_ms;
		p->nfork = rng_int(&r, 1, 3);
		/* Half of them: grandchildren that ignore SIGTERM. A stop then
		 * kills the leader but not them; they must not outlive the proc
		 * (the teardown scan looks for them). */
		p->gc_ignore_term = rng_int(&r, 0, 1);
		/* A third of them fork a whole tree (children of children). */
		p->tree = rng_int(&r, 0, 2) == 0;
		p->nat = NAT_NONE;
		/*
		 * It never exits on its own: a natural exit runs the reap chain
		 * without a kill (by design), which would orphan the grandchildren.
		 * Something must end it, so it always gets a verb.
		 */
		if (p->action == A_NONE || p->action == A_AFTER_DONE)
			p->action = rng_int(&r, 0, 1) ? A_STOP : A_CANCEL_BINDING;
		break;
	case B_EXEC_FAIL:
		p->mode = (uint8_t)rng_int(&r, 0, 2);
		p->action = A_NONE;
		p->post_done = p->forge = false;
		p->bind_ms = 0;
		break;
	case B_NOTIFY:
		p->mode = PIDRING_READY_NOTIFY;
		p->bind_ms = 0;
		p->notify_ms = rng_int(&r, 0, 50);
		p->status = rng_int(&r, 0, 1);
		p->garbage = rng_int(&r, 0, 7) == 0;
		p->ready_ms = p->notify_ms;
		p->nat_ms = p->notify_ms + rng_int(&r, 50, 300);
		break;
	case B_EXEC_READY:
		p->mode = PIDRING_READY_EXEC;
		p->bind_ms = 0;
		p->ready_timeout_ms = 0;
		p->nat_ms = rng_int(&r, 0, 200);
		break;
	}

	switch (p->action) {
	case A_CANCEL_BINDING: {
		int upto = p->ready_ms > 0 ? p->ready_ms : 50;
		p->act_ms = rng_int(&r, 0, upto);
		break;
	}
	case A_CANCEL_RUNNING: p->act_ms = rng_int(&r, 0, 50); break;
	case A_CANCEL_TWICE:   p->act_ms = rng_int(&r, 0, 100); break;
	case A_STOP:           p->act_ms = rng_int(&r, 0, 150); break;
	case A_STOP_CANCEL:
		p->act_ms = rng_int(&r, 0, 150);
		p->act2_ms = rng_int(&r, 0, 20);
		break;
	case A_CANCEL_STOP:    p->act_ms = rng_int(&r, 0, 100); break;
	case A_AFTER_DONE:     p->post_done = true; break;
	default: break;
	}
	p->grace_ms = (unsigned)rng_int(&r, 5, 100);
}

static void hash_bytes(const void *b, size_t n)
{
	const unsigned char *c = b;

	for (size_t i = 0; i < n; i++) {
		st.sched_hash ^= c[i];
		st.sched_hash *= 0x100000001b3ull;
	}
}

static void hash_plan(const struct plan *p)
{
	int v[] = { p->behav, p->action, p->mode, p->engine, p->post_done, p->forge,
		    p->sock_arg, p->status, p->garbage, p->gc_ignore_term, p->bind_ms, p->listen_ms,
		    p->notify_ms, p->nat_ms, p->code, p->nfork, p->tree, (int)p->ready_timeout_ms,
		    p->act_ms, p->act2_ms, (int)p->grace_ms };

	hash_bytes(v, sizeof(v));
}

/* Epoch cuts: a separate stream of the same seed. */
static unsigned epoch_len(uint64_t epoch)
{
	struct rng r = { opt.seed ^ 0x5bd1e995u ^ (epoch + 1) * 0xd6e8feb86659fd93ull };

	rng_next(&r);
	return (unsigned)(EPOCH_MIN + rng_next(&r) % EPOCH_SPAN);
}

static unsigned epoch_delay_ms(uint64_t epoch)
{
	struct rng r = { opt.seed ^ 0x1b873593u ^ (epoch + 1) * 0xa0761d6478bd642full };

	rng_next(&r);
	return (unsigned)(rng_next(&r) % 41);
}

/* ---- /proc and directory scans ---- */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && atoi(de->d_name) != dirfd(d))
			n++;
	closedir(d);
	return n;
}

/* The procs spawned this epoch, by pid once sorted: whose group a leftover
 * descendant belongs to, and how that proc ended. */
struct eproc {
	pid_t    pid;
	uint8_t  behav, action, reason;  /* reason 0: destroyed in flight */
	bool     gc_ignore_term;
	int      code, status;
	uint64_t index;
};
static struct eproc epoch_procs[EPOCH_MAX];
static size_t nepoch;

/* A group SIGKILL marks every member's pending set at once: such a process is
 * on its way out, not a leftover (yet). */
static bool sigkill_pending(const char *pid)
{
	char path[300], buf[2048];
	unsigned long long mask = 0, m;
	const char *keys[] = { "SigPnd:", "ShdPnd:" };
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;   /* gone already */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	for (int i = 0; i < 2; i++) {
		const char *p = strstr(buf, keys[i]);
		if (p && sscanf(p + strlen(keys[i]), " %llx", &m) == 1)
			mask |= m;
	}
	return mask & (1ull << (SIGKILL - 1));
}

static int cmp_eproc(const void *a, const void *b)
{
	pid_t x = ((const struct eproc *)a)->pid, y = ((const struct eproc *)b)->pid;

	return (x > y) - (x < y);
}

/*
 * Our leftovers: processes whose parent is us (zombies included), and live
 * descendants of our procs — a pidring-child in our session whose process
 * group is one that a proc of this epoch led (epoch_procs, sorted). A
 * grandchild that outlives its proc has been reparented, so it is no longer
 * our child; comm and session guard against a pid recycled by somebody else
 * (pid_max may be small). With report, each is a violation, and a leftover
 * descendant is then killed: it would sleep forever on this machine.
 */
static unsigned scan_procs(unsigned *children, unsigned *dying, bool report)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	unsigned desc = 0;

	*children = *dying = 0;
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct pstat ps;

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || !read_stat(de->d_name, &ps))
			continue;
		if (ps.ppid == me) {
			(*children)++;
			if (report)
				violation(NULL, "leftover child pid %d (%s) state %c", (int)ps.pid,
					  ps.comm, ps.state);
			continue;
		}
		struct eproc key = { .pid = ps.pgrp }, *ep;
		if (ps.state == 'Z' || ps.state == 'X' || ps.sid != my_sid ||
		    strcmp(ps.comm, "pidring-child") ||
		    !(ep = bsearch(&key, epoch_procs, nepoch, sizeof(key), cmp_eproc)))
			continue;
		if (!report && sigkill_pending(de->d_name)) {
			(*dying)++;
			continue;
		}
		desc++;
		if (!report)
			continue;
		struct plan pl;
		make_plan(ep->index, &pl);   /* the plan is a function of the index */
		violation(NULL, "pid %d (state %c, parent %d) of the process group of proc #%"
			  PRIu64 " (pid %d, %s%s, action %s at %d ms, grace %u ms) is alive after "
			  "that proc ended: %s %s %d", (int)ps.pid, ps.state, (int)ps.ppid,
			  ep->index, (int)ep->pid, behav_name[ep->behav],
			  ep->gc_ignore_term ? ", grandchildren ignore SIGTERM" : "",
			  action_name[ep->action], pl.act_ms, pl.grace_ms,
			  ep->reason ? reason_name(ep->reason) : "destroyed in flight",
			  ep->reason ? code_name(ep->code) : "", ep->status);
		kill(ps.pid, SIGKILL);
	}
	closedir(d);
	return desc;
}

/* Entries below dirfd, recursively; with remove, unlink them as it goes. */
static long walk_dir(int dfd, bool remove, bool report, const char *where)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	long n = 0;

	if (!d) {
		close(dfd);
		return 0;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n++;
		if (report)
			violation(NULL, "file left in the runtime dir: %s/%s", where, de->d_name);
		if (de->d_type == DT_DIR) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY |
					 O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				char w[PATH_MAX];
				snprintf(w, sizeof(w), "%s/%s", where, de->d_name);
				n += walk_dir(sub, remove, report, w);
			}
			if (remove)
				unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
		} else if (remove) {
			unlinkat(dirfd(d), de->d_name, 0);
		}
	}
	closedir(d);
	return n;
}

static long rundir_entries(bool remove, bool report)
{
	int dfd = open(opt.rundir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return 0;
	return walk_dir(dfd, remove, report, opt.rundir);
}

/* ---- the audit ---- */

/* Procs meant to get ready that ended on their own, untouched, by mode. */
static uint64_t ready_by_mode[3], missed_by_mode[3];

static bool can_ready(const struct plan *p)
{
	return p->behav != B_EXIT_EARLY && p->behav != B_NEVER_READY &&
	       p->behav != B_EXEC_FAIL;
}

static bool is_natural_status(const struct plan *p, int code, int status)
{
	if (p->nat == NAT_EXIT)
		return code == CLD_EXITED && status == p->code;
	if (p->nat == NAT_SIGNAL)
		/* No core is written (RLIMIT_CORE 0, not dumpable), but either is a
		 * death by that signal. */
		return (code == CLD_KILLED || code == CLD_DUMPED) && status == p->code;
	return false;
}

/*
 * Could the proc have ended on its own (exit, crash, ready deadline) before
 * the first verb we applied to it returned? Its natural end comes at least
 * nat_ms after its start, and it starts after we called pidring_spawn
 * (t_pre), so when the verb returned before t_pre + nat_ms it cannot have.
 */
static bool natural_before_verb(const struct rec *r)
{
	if (r->pl.nat == NAT_NONE)
		return false;
	if (!r->eff)
		return true;
	return r->eff_end >= r->t_pre + (uint64_t)r->pl.nat_ms * MS;
}

/*
 * What DONE may say, given the behaviour and what we did. The allowances for
 * races, each needed for a correct run:
 *
 *  - A verb (cancel/stop) that comes while the proc is ending on its own is a
 *    no-op if the engine already knew (the reason stays EXITED, EXITED_EARLY,
 *    READY_TIMEOUT), and otherwise wins (CANCELLED/STOPPED) even though the
 *    status may be the child's own exit. Both are allowed only when the natural
 *    end could have happened before the verb returned (natural_before_verb);
 *    otherwise the verb's reason and SIGKILL/SIGTERM status are required.
 *  - A proc that becomes ready and later exits may be EXITED_EARLY when it
 *    exited before the engine confirmed the bind/notify (a loaded machine):
 *    the reason must match whether READY was delivered, both ways; these are
 *    counted (ready_missed) and a run where most are missed is a violation.
 *  - STOPPED may carry SIGTERM (the child died of it), SIGKILL (the grace ran
 *    out, or a cancel escalated the stop), or the natural status (above; and
 *    a proc that ignores SIGTERM may also reach its own end during the grace,
 *    so for it any natural end before DONE will do). A
 *    proc that ignores SIGTERM can only die of it when the stop reached it
 *    before it had run its first instruction (it ignores SIGTERM first thing,
 *    before binding): so not if READY was delivered before the stop.
 *  - A cancel after a stop keeps STOPPED; a stop after a cancel is a no-op.
 */
static void audit_done(struct rec *r, const struct pidring_event *ev)
{
	const struct plan *p = &r->pl;
	bool ready = r->nready > 0;
	bool nat_ok = natural_before_verb(r);
	bool natural = is_natural_status(p, ev->code, ev->status);
	bool k9 = ev->code == CLD_KILLED && ev->status == SIGKILL;
	bool t15 = ev->code == CLD_KILLED && ev->status == SIGTERM;
	uint64_t life = ev->done_ns - ev->spawn_ns;

	if (ev->done_ns < ev->spawn_ns || (ready && ev->done_ns < r->ready_ns))
		violation(r, "DONE timestamps out of order (spawn %" PRIu64 " ready %" PRIu64
			  " done %" PRIu64 ")", ev->spawn_ns, ev->ready_ns, ev->done_ns);
	if (ready ? ev->ready_ns != r->ready_ns : ev->ready_ns != 0)
		violation(r, "DONE ready_ns %" PRIu64 " disagrees with the READY event (%" PRIu64 ")",
			  ev->ready_ns, ready ? r->ready_ns : 0);

	switch (ev->reason) {
	case PIDRING_EXITED:
	case PIDRING_EXITED_EARLY:
		if (p->nat != NAT_EXIT && p->nat != NAT_SIGNAL)
			violation(r, "%s, but this proc never exits on its own",
				  reason_name(ev->reason));
		else if (!nat_ok)
			violation(r, "%s, but our %s returned at %.2f ms, before it could have "
				  "exited (%d ms)", reason_name(ev->reason),
				  r->eff == 'C' ? "cancel" : "stop", rel_ms(r, r->eff_end), p->nat_ms);
		else if (!natural)
			violation(r, "%s with %s %d, expected its own end", reason_name(ev->reason),
				  code_name(ev->code), ev->status);
		else if ((ev->reason == PIDRING_EXITED) != ready)
			violation(r, "%s but READY was %sdelivered", reason_name(ev->reason),
				  ready ? "" : "not ");
		else if (life < (uint64_t)p->nat_ms * MS)
			violation(r, "%s after %.2f ms, the child exits at %d ms",
				  reason_name(ev->reason), (double)life / 1e6, p->nat_ms);
		if (ev->reason == PIDRING_EXITED)
			st.exited++;
		else
			st.exited_early++;
		if (can_ready(p) && !r->eff) {
			if (ev->reason == PIDRING_EXITED_EARLY) {
				st.ready_missed++;
				missed_by_mode[p->mode]++;
			} else {
				ready_by_mode[p->mode]++;
			}
		}
		break;
	case PIDRING_READY_TIMEOUT:
		st.timeouts++;
		if (p->nat != NAT_TIMEOUT)
			violation(r, "READY_TIMEOUT, but its deadline is %u ms", p->ready_timeout_ms);
		else if (ready)
			violation(r, "READY_TIMEOUT after READY");
		else if (!nat_ok)
			violation(r, "READY_TIMEOUT, but our %s returned at %.2f ms, before the "
				  "deadline (%u ms)", r->eff == 'C' ? "cancel" : "stop",
				  rel_ms(r, r->eff_end), p->ready_timeout_ms);
		else if (!k9)
			violation(r, "READY_TIMEOUT with %s %d, expected SIGKILL",
				  code_name(ev->code), ev->status);
		else if (life < (uint64_t)p->ready_timeout_ms * MS)
			violation(r, "READY_TIMEOUT after %.2f ms, deadline %u ms",
				  (double)life / 1e6, p->ready_timeout_ms);
		break;
	case PIDRING_CANCELLED:
		st.cancelled++;
		if (r->eff != 'C')
			violation(r, "CANCELLED, but %s", r->eff == 'S' ? "it was stopped first" :
				  "we never cancelled it");
		else if (!k9 && !(natural && nat_ok))
			violation(r, "CANCELLED with %s %d, expected SIGKILL%s", code_name(ev->code),
				  ev->status, nat_ok ? " or its own end" : "");
		break;
	case PIDRING_STOPPED:
		st.stopped++;
		if (r->eff != 'S')
			violation(r, "STOPPED, but %s", r->eff == 'C' ? "it was cancelled first" :
				  "we never stopped it");
		else if (t15 && p->behav == B_IGNORE_TERM && r->ready_before_eff)
			violation(r, "STOPPED by SIGTERM, but it ignores SIGTERM and was ready "
				  "before the stop");
		else if (!k9 && !t15 && !(natural && (nat_ok || (p->behav == B_IGNORE_TERM &&
							       life >= (uint64_t)p->nat_ms * MS))))
			violation(r, "STOPPED with %s %d, expected SIGTERM or SIGKILL%s",
				  code_name(ev->code), ev->status, nat_ok ? " or its own end" : "");
		break;
	default:
		violation(r, "DONE with unknown reason %d", (int)ev->reason);
		break;
	}
}

/* ---- events ---- */

static void stale_push(struct eng *e, const struct rec *r)
{
	if (e->stale_len == STALE_RING)
		return;
	e->stale[(e->stale_head + e->stale_len++) % STALE_RING] =
		(struct stale){ r->id, r->pl.index };
}

static void on_event(unsigned k, const struct pidring_event *ev)
{
	struct eng *e = &eng[k];
	long mi = map_find(k, ev->id);
	struct rec *r;

	if (mi < 0) {
		violation(NULL, "engine %u (#%u): %s event for unknown id 0x%" PRIx64
			  " (pid %d, user %p, reason %s)", k, e->serial,
			  ev->type == PIDRING_EV_READY ? "READY" :
			  ev->type == PIDRING_EV_DONE ? "DONE" : "unknown", (uint64_t)ev->id,
			  (int)ev->pid, ev->user, reason_name(ev->reason));
		return;
	}
	r = &pool[map[mi].rec];
	log_ev(r, ev);
	if (ev->pid != r->pid)
		violation(r, "event pid %d, the proc's pid is %d", (int)ev->pid, (int)r->pid);
	if ((uintptr_t)ev->user != (uintptr_t)(r->pl.index + 1))
		violation(r, "event user %p, expected %p", ev->user,
			  (void *)(uintptr_t)(r->pl.index + 1));
	if (ev->spawn_ns < r->t_pre || ev->spawn_ns > r->t_post)
		violation(r, "spawn_ns outside the pidring_spawn call");

	if (ev->type == PIDRING_EV_READY) {
		st.ready++;
		if (r->nready++) {
			violation(r, "second READY");
			return;
		}
		r->ready_ns = ev->ready_ns;
		if (!can_ready(&r->pl))
			violation(r, "READY from a proc that never gets ready");
		else if (ev->ready_ns < ev->spawn_ns + (uint64_t)r->pl.ready_ms * MS)
			violation(r, "READY %.2f ms after spawn, the child is ready at %d ms at "
				  "the earliest", ((double)ev->ready_ns - (double)ev->spawn_ns) / 1e6,
				  r->pl.ready_ms);
		/* Verbs come after a full drain, so a READY the engine emitted after
		 * an accepted verb returned is one it should not have emitted. */
		if (r->eff && ev->ready_ns > r->eff_end)
			violation(r, "READY emitted after our %s was accepted",
				  r->eff == 'C' ? "cancel" : "stop");
		if (r->pl.behav == B_NOTIFY && r->pl.status) {
			/* STATUS= is sent in the datagram before READY=1. The proc may
			 * be DONE already, its DONE queued behind this READY (it exited
			 * before the engine got to READY=1): then -ESRCH, and the DONE
			 * must come in this same drain. */
			char buf[64], want[64];
			int n = pidring_status(e->pr, r->id, buf, sizeof(buf));
			snprintf(want, sizeof(want), "stress %" PRIu64, r->pl.index);
			if (n == -ESRCH)
				r->esrch_pending = true;
			else if (n < 0 || strcmp(buf, want))
				violation(r, "pidring_status = %d \"%s\" at READY, expected \"%s\"",
					  n, n >= 0 ? buf : "", want);
		}
		if (r->pl.action == A_CANCEL_RUNNING && r->step == 0)
			r->due = now_ns() + (uint64_t)r->pl.act_ms * MS;
		return;
	}
	if (ev->type != PIDRING_EV_DONE) {
		violation(r, "event of unknown type %d", (int)ev->type);
		return;
	}

	st.done++;
	audit_done(r, ev);
	if (r->ep >= 0) {
		epoch_procs[r->ep].reason = (uint8_t)ev->reason;
		epoch_procs[r->ep].code = ev->code;
		epoch_procs[r->ep].status = ev->status;
	}
	if (r->sock[0]) {
		struct stat sb;
		if (lstat(r->sock, &sb) == 0 || errno != ENOENT) {
			violation(r, "bind socket %s still there at DONE", r->sock);
			st.leaked_files++;
		}
	}
	if (r->pl.post_done)
		stale_push(e, r);
	map_del_at((unsigned)mi);
	e->ours--;
	rec_free(r);
}

static void drain(unsigned k, int timeout_ms)
{
	struct pidring_event evs[EVMAX];
	int n = pidring_wait(eng[k].pr, evs, EVMAX, timeout_ms);

	for (;;) {
		if (n == -EINTR) {
			n = pidring_wait(eng[k].pr, evs, EVMAX, 0);
			continue;
		}
		if (n < 0) {
			violation(NULL, "pidring_wait on engine %u: %s", k, strerror(-n));
			return;
		}
		for (int i = 0; i < n; i++)
		{
			static bool injected;

			on_event(k, &evs[i]);
			/* --inject dup-done: hand the auditor the first DONE twice. */
			if (opt.inject && !strcmp(opt.inject, "dup-done") && !injected &&
			    evs[i].type == PIDRING_EV_DONE) {
				injected = true;
				on_event(k, &evs[i]);
			}
		}
		if (n < EVMAX)
			break;
		n = pidring_wait(eng[k].pr, evs, EVMAX, 0);
	}
}

/* After a full drain the engine's event queue is empty. */
static void after_drain(unsigned k)
{
	struct eng *e = &eng[k];
	unsigned live = pidring_live(e->pr);

	if (live != e->ours)
		violation(NULL, "engine %u (#%u): pidring_live = %u, %u of our procs have "
			  "no DONE yet", k, e->serial, live, e->ours);
	for (unsigned i = 0; i < pool_cap; i++) {
		struct rec *r = &pool[i];
		if (r->used && r->k == k && r->esrch_pending) {
			violation(r, "a verb returned -ESRCH, but no DONE followed");
			r->esrch_pending = false;
		}
	}
	e->stale_ready = e->stale_len;   /* checked after the next spawns */
}

/* ---- verbs ---- */

static void verb(struct rec *r, char what)
{
	struct pidring *pr = eng[r->k].pr;
	uint64_t a = now_ns(), b;
	int rc;

	if (what == 'C') {
		st.cancel_calls++;
		rc = pidring_cancel(pr, r->id);
	} else {
		st.stop_calls++;
		rc = pidring_stop(pr, r->id, r->pl.grace_ms);
	}
	b = now_ns();
	log_call(r, what, rc, a);
	if (rc == -ESRCH) {
		/*
		 * We have not seen its DONE (its record would be gone): fine only if
		 * the engine finished it inside this very call and queued the DONE.
		 */
		r->esrch_pending = true;
		return;
	}
	if (rc != 0) {
		violation(r, "pidring_%s returned %d (%s)", what == 'C' ? "cancel" : "stop",
			  rc, strerror(-rc));
		return;
	}
	if (!r->eff) {
		r->eff = what;
		r->eff_start = a;
		r->eff_end = b;
		r->ready_before_eff = r->nready > 0;
	}
}

/* The record is live and due: the next step of its action. */
static void act(struct rec *r)
{
	r->due = 0;
	switch (r->pl.action) {
	case A_CANCEL_BINDING:
	case A_CANCEL_RUNNING:
		verb(r, 'C');
		r->step = 1;
		break;
	case A_CANCEL_TWICE:
		verb(r, 'C');
		verb(r, 'C');
		r->step = 1;
		break;
	case A_STOP:
		verb(r, 'S');
		r->step = 1;
		break;
	case A_STOP_CANCEL:
		if (r->step == 0) {
			verb(r, 'S');
			r->step = 1;
			r->due = now_ns() + (uint64_t)r->pl.act2_ms * MS;
			if (!r->due)
				r->due = 1;
		} else {
			verb(r, 'C');
			r->step = 2;
		}
		break;
	case A_CANCEL_STOP:
		verb(r, 'C');
		verb(r, 'S');
		r->step = 1;
		break;
	default:
		break;
	}
}

/* Ids whose DONE we saw: every call must say -ESRCH, even once the slot is
 * reused (the checks run after the next spawns). */
static void stale_checks(unsigned k)
{
	struct eng *e = &eng[k];
	char buf[128];

	while (e->stale_ready) {
		struct stale s = e->stale[e->stale_head];
		int rc[5];

		e->stale_head = (e->stale_head + 1) % STALE_RING;
		e->stale_len--;
		e->stale_ready--;
		st.stale_checks++;
		rc[0] = pidring_pid(e->pr, s.id);
		rc[1] = pidring_cancel(e->pr, s.id);
		rc[2] = pidring_stop(e->pr, s.id, 10);
		rc[3] = pidring_socket_path(e->pr, s.id, buf, sizeof(buf));
		rc[4] = pidring_status(e->pr, s.id, buf, sizeof(buf));
		for (int i = 0; i < 5; i++)
			if (rc[i] != -ESRCH) {
				static const char *const fn[] = { "pid", "cancel", "stop",
								  "socket_path", "status" };
				violation(NULL, "engine %u (#%u): pidring_%s on the id 0x%" PRIx64
					  " of proc #%" PRIu64 ", DONE already delivered, returned %d",
					  k, e->serial, fn[i], (uint64_t)s.id, s.index, rc[i]);
			}
	}
}

static void forged_checks(struct rec *r)
{
	struct pidring *pr = eng[r->k].pr;
	pidring_id forged[] = {
		r->id ^ (1ull << 63),                           /* another generation */
		(r->id & 0xffffffff00000000ull) | 0x00fffff0u,  /* a slot far out */
		0,
	};

	for (unsigned i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		int a = pidring_pid(pr, forged[i]), b = pidring_cancel(pr, forged[i]);
		st.forged_checks++;
		if (a != -ESRCH || b != -ESRCH)
			violation(r, "forged id 0x%" PRIx64 ": pidring_pid %d, pidring_cancel %d, "
				  "expected -ESRCH", (uint64_t)forged[i], a, b);
	}
}

/* ---- spawning ---- */


static void spawn_one(uint64_t index)
{
	struct plan pl;
	char a[12][40];
	char *argv[24];
	int ac = 0;

	make_plan(index, &pl);
	hash_plan(&pl);
	struct eng *e = &eng[pl.engine];

#define ARG(...) do { snprintf(a[ac], sizeof(a[ac]), __VA_ARGS__); argv[ac] = a[ac]; ac++; } while (0)
	ARG("pidring-child");
	switch (pl.behav) {
	case B_BIND:
	case B_LISTEN_LATE:
	case B_IGNORE_TERM:
		if (pl.behav == B_IGNORE_TERM)
			ARG("--ignore-term");
		ARG("--bind-after-ms=%d", pl.bind_ms);
		if (pl.listen_ms)
			ARG("--listen-after-ms=%d", pl.listen_ms);
		ARG("--after-ms=%d", pl.nat_ms);
		ARG("--exit=%d", pl.code);
		if (pl.sock_arg) {
			ARG("--socket");
			ARG("{socket}");
		}
		break;
	case B_EXIT_EARLY:
		ARG("--exit-before-ready");
		ARG("--after-ms=%d", pl.nat_ms);
		ARG("--exit=%d", pl.code);
		break;
	case B_CRASH:
		ARG("--bind-after-ms=%d", pl.bind_ms);
		ARG("--after-ms=%d", pl.nat_ms);
		ARG("--signal=%d", pl.code);
		break;
	case B_NEVER_READY:
		ARG("--never-ready");
		break;
	case B_FORK:
		ARG("--bind-after-ms=%d", pl.bind_ms);
		if (pl.tree)
			ARG("--fork-tree=2,%d", pl.nfork);
		else
			ARG("--fork=%d", pl.nfork);
		if (pl.gc_ignore_term)
			ARG("--grandchild-ignore-term");
		break;
	case B_EXEC_FAIL:
		break;
	case B_NOTIFY:
		ARG("--notify-after-ms=%d", pl.notify_ms);
		ARG("--after-ms=%d", pl.nat_ms);
		ARG("--exit=%d", pl.code);
		if (pl.status)
			ARG("--status=stress %" PRIu64, index);
		if (pl.garbage)
			ARG("--garbage");
		break;
	case B_EXEC_READY:
		ARG("--after-ms=%d", pl.nat_ms);
		ARG("--exit=%d", pl.code);
		break;
	}
	argv[ac] = NULL;
#undef ARG

	struct pidring_spawn sp = {
		.path = pl.behav == B_EXEC_FAIL ? missing_path : opt.child,
		.argv = argv,
		/* Where a broken {socket} substitution would bind: we would see the file. */
		.cwd = opt.rundir,
		.ready = (enum pidring_ready)pl.mode,
		.ready_timeout_ms = pl.ready_timeout_ms,
		.user = (void *)(uintptr_t)(index + 1),
	};
	pidring_id id = 0;

	if (pl.behav == B_EXEC_FAIL) {
		unsigned live = pidring_live(e->pr);
		int rc = pidring_spawn(e->pr, &sp, &id);
		st.exec_failures++;
		if (rc != -ENOENT)
			violation(NULL, "proc #%" PRIu64 " (exec-fail, engine %u): pidring_spawn of "
				  "a missing path returned %d, expected -ENOENT", index, pl.engine, rc);
		if (rc == 0) {
			/* Track it anyway so its events do not look unknown. */
			struct rec *r = rec_alloc();
			r->pl = pl;
			r->k = pl.engine;
			r->eserial = e->serial;
			r->id = id;
			r->pid = pidring_pid(e->pr, id);
			r->t_pre = r->t_post = now_ns();
			map_put(r->k, id, (unsigned)(r - pool));
			e->ours++;
			st.spawned++;
		} else if (pidring_live(e->pr) != live) {
			violation(NULL, "proc #%" PRIu64 ": a failed spawn changed pidring_live "
				  "from %u to %u", index, live, pidring_live(e->pr));
		}
		return;
	}

	struct rec *r = rec_alloc();
	r->pl = pl;
	r->k = pl.engine;
	r->eserial = e->serial;
	r->t_pre = now_ns();
	int rc = pidring_spawn(e->pr, &sp, &id);
	r->t_post = now_ns();
	if (rc < 0) {
		violation(r, "pidring_spawn returned %d (%s)", rc, strerror(-rc));
		rec_free(r);
		return;
	}
	st.spawned++;
	r->id = id;
	r->pid = pidring_pid(e->pr, id);
	if (id == 0 || r->pid <= 0)
		violation(r, "pidring_spawn gave id 0x%" PRIx64 ", pidring_pid %d",
			  (uint64_t)id, (int)r->pid);
	if (map_find(r->k, id) >= 0)
		violation(r, "pidring_spawn returned an id that is still live");
	map_put(r->k, id, (unsigned)(r - pool));
	e->ours++;
	r->ep = -1;
	if (nepoch < EPOCH_MAX && r->pid > 0) {
		r->ep = (int)nepoch;
		epoch_procs[nepoch++] = (struct eproc){ .pid = r->pid, .behav = pl.behav,
			.action = pl.action, .gc_ignore_term = pl.gc_ignore_term, .index = index };
	}

	int n = pidring_socket_path(e->pr, id, r->sock, sizeof(r->sock));
	if (pl.mode == PIDRING_READY_BIND) {
		size_t bl = strlen(opt.rundir);
		if (n <= 0 || strncmp(r->sock, opt.rundir, bl) || r->sock[bl] != '/')
			violation(r, "pidring_socket_path = %d \"%s\", expected a path under %s",
				  n, n > 0 ? r->sock : "", opt.rundir);
		if (n <= 0)
			r->sock[0] = '\0';
	} else {
		if (n != -ENOENT)
			violation(r, "pidring_socket_path = %d for a proc without a bind socket", n);
		r->sock[0] = '\0';
	}
	if (pl.forge)
		forged_checks(r);

	switch (pl.action) {
	case A_CANCEL_SPAWN:
		verb(r, 'C');
		r->step = 1;
		break;
	case A_CANCEL_BINDING:
	case A_CANCEL_TWICE:
	case A_STOP:
	case A_STOP_CANCEL:
	case A_CANCEL_STOP:
		r->due = r->t_post + (uint64_t)pl.act_ms * MS;
		break;
	default:
		break;
	}
}

/* ---- progress ---- */

static uint64_t last_progress;

static void progress(bool force)
{
	uint64_t t = now_ns();
	uint64_t every = tty ? 200 * MS : 5 * NS;

	if (opt.quiet || (!force && t - last_progress < every))
		return;
	last_progress = t;
	if (tty) {
		printf("\r  spawned %" PRIu64 "  ready %" PRIu64 "  done %" PRIu64 "  cancelled %"
		       PRIu64 "  stopped %" PRIu64 "  in flight %u  engines %" PRIu64
		       "  violations %" PRIu64 "  %.1fs\033[K", st.spawned, st.ready, st.done,
		       st.cancelled, st.stopped, inflight, st.engines, st.violations,
		       since_start());
		progress_dirty = true;
	} else {
		printf("  spawned %" PRIu64 " ready %" PRIu64 " done %" PRIu64 " cancelled %"
		       PRIu64 " stopped %" PRIu64 " in-flight %u engines %" PRIu64
		       " violations %" PRIu64 " elapsed %.1fs\n", st.spawned, st.ready, st.done,
		       st.cancelled, st.stopped, inflight, st.engines, st.violations,
		       since_start());
	}
	fflush(stdout);
}

/* ---- epochs ---- */

static int fd_baseline;
static long files_baseline;
static uint64_t next_index;
static uint64_t epoch_no;

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Time to stop spawning: --duration reached, or ^C (a second one kills us;
 * the children die with us through their PDEATHSIG). */
static bool time_up(void)
{
	return interrupted || (opt.duration > 0 && since_start() >= opt.duration);
}

static void wait_tick(int timeout_ms)
{
	unsigned K = opt.engines;

	if (K == 1) {
		if (pidring_live(eng[0].pr) == 0 && timeout_ms > 0) {
			/* pidring_wait returns at once with nothing live. */
			struct timespec ts = { 0, (long)timeout_ms * 1000000L };
			nanosleep(&ts, NULL);
			timeout_ms = 0;
		}
		drain(0, timeout_ms);
	} else {
		struct pollfd pfd[MAX_ENGINES];
		for (unsigned k = 0; k < K; k++)
			pfd[k] = (struct pollfd){ .fd = pidring_fd(eng[k].pr), .events = POLLIN };
		/* pidring_fd polls readable when there is work; the timeout (10 ms at
		 * most) bounds any missed wakeup anyway. */
		poll(pfd, K, timeout_ms);
		for (unsigned k = 0; k < K; k++)
			drain(k, 0);
	}
	for (unsigned k = 0; k < K; k++)
		after_drain(k);
}

static void report_teardown(uint64_t n, unsigned destroyed, long long dheap, int fds,
			    unsigned children, unsigned desc, long files, double ms)
{
	if (opt.quiet)
		return;
	clear_progress();
	printf("  teardown %" PRIu64 ": %u procs in flight destroyed in %.1f ms; heap %+lld B, "
	       "fds %+d, children %u, descendants %u, files %ld\n", n, destroyed, ms, dheap,
	       fds, children, desc, files);
	fflush(stdout);
}

/* Run one epoch: K fresh engines; returns false when the run is over. */
static bool run_epoch(void)
{
	unsigned K = opt.engines;
	uint64_t end_index;
	bool last;
	uint64_t destroy_at = 0, final_deadline = 0;
	struct pidring_opts po = {
		.runtime_dir = opt.rundir,
		.ring_entries = opt.ring_entries,
		.flags = (opt.no_waitid ? PIDRING_F_NO_WAITID : 0) |
			 (opt.no_clone3 ? PIDRING_F_NO_CLONE3 : 0),
		.max_procs = opt.concurrency + 64 > 4096 ? opt.concurrency + 64 : 0,
		.cgroup_dir = opt.cgroup_dir,
	};

	unsigned len = epoch_len(epoch_no);
	hash_bytes(&len, sizeof(len));
	end_index = next_index + len;
	if (end_index > opt.procs || end_index < next_index)
		end_index = opt.procs;
	nepoch = 0;

	/* The heap baseline: right before the engines exist. Between here and
	 * the last destroy this tool allocates nothing (records, map and rings
	 * were allocated up front; stdout's buffer exists already). */
	size_t heap0 = mallinfo2().uordblks;
	for (unsigned k = 0; k < K; k++) {
		int rc = pidring_new(&eng[k].pr, &po);
		if (rc < 0) {
			violation(NULL, "pidring_new: %s", strerror(-rc));
			while (k--) {
				pidring_destroy(eng[k].pr, DESTROY_MS);
				eng[k].pr = NULL;
			}
			return false;
		}
		eng[k].serial = (unsigned)st.engines++;
		eng[k].ours = 0;
		eng[k].stale_head = eng[k].stale_len = eng[k].stale_ready = 0;
	}

	for (;;) {
		uint64_t t = now_ns();
		bool stop_spawning = next_index >= end_index || time_up();

		/* A few spawns per tick: each blocks us until the child has exec'd,
		 * and a burst of hundreds would starve the engines of pidring_wait
		 * calls (READY would lag the binds by hundreds of ms). */
		for (unsigned n = 0; !stop_spawning && inflight < opt.concurrency &&
				     n < SPAWN_BURST; n++) {
			spawn_one(next_index++);
			stop_spawning = next_index >= end_index || time_up();
		}
		for (unsigned k = 0; k < K; k++)
			stale_checks(k);

		t = now_ns();
		uint64_t next_due = UINT64_MAX;
		for (unsigned i = 0; i < pool_cap; i++) {
			struct rec *r = &pool[i];
			if (!r->used || !r->due)
				continue;
			if (r->due <= t)
				act(r);
			if (r->used && r->due && r->due < next_due)
				next_due = r->due;
		}

		last = next_index >= opt.procs || time_up();
		if (stop_spawning) {
			if (last) {
				if (!final_deadline)
					final_deadline = t + FINAL_DRAIN_MS * MS;
				if (!inflight)
					break;
				if (t >= final_deadline) {
					for (unsigned i = 0; i < pool_cap; i++)
						if (pool[i].used)
							violation(&pool[i], "no DONE %u ms after the last "
								  "spawn", FINAL_DRAIN_MS);
					break;
				}
			} else {
				if (!destroy_at)
					destroy_at = t + epoch_delay_ms(epoch_no) * MS;
				if (t >= destroy_at || !inflight)
					break;
			}
		}

		int timeout = 10;
		if (!stop_spawning && inflight < opt.concurrency)
			timeout = 0;
		if (next_due != UINT64_MAX) {
			uint64_t tt = now_ns();
			int ms = next_due <= tt ? 0 : (int)((next_due - tt + MS - 1) / MS);
			if (ms < timeout)
				timeout = ms;
		}
		if (destroy_at) {
			uint64_t tt = now_ns();
			int ms = destroy_at <= tt ? 0 : (int)((destroy_at - tt + MS - 1) / MS);
			if (ms < timeout)
				timeout = ms;
		}
		wait_tick(timeout);
		progress(false);
	}

	/* Teardown: empty the queues first, so that what destroy discards is
	 * exactly the procs still in flight. */
	for (unsigned k = 0; k < K; k++)
		drain(k, 0);
	for (unsigned k = 0; k < K; k++)
		after_drain(k);

	unsigned destroyed = inflight;
	uint64_t td = now_ns();
	for (unsigned k = 0; k < K; k++) {
		int rc = pidring_destroy(eng[k].pr, DESTROY_MS);
		eng[k].pr = NULL;
		if (rc)
			violation(NULL, "pidring_destroy of engine %u (#%u): %s", k, eng[k].serial,
				  strerror(-rc));
	}
	double dms = (double)(now_ns() - td) / 1e6;
	long long dheap = (long long)mallinfo2().uordblks - (long long)heap0;

	/* Destroy is the end of the procs still in flight: no more events. */
	for (unsigned i = 0; i < pool_cap; i++) {
		struct rec *r = &pool[i];
		if (!r->used)
			continue;
		if (r->esrch_pending)
			violation(r, "a verb returned -ESRCH, but no DONE followed");
		if (r->sock[0]) {
			struct stat sb;
			if (lstat(r->sock, &sb) == 0 || errno != ENOENT) {
				violation(r, "bind socket %s still there after pidring_destroy",
					  r->sock);
				st.leaked_files++;
			}
		}
		long mi = map_find(r->k, r->id);
		if (mi >= 0)
			map_del_at((unsigned)mi);
		st.destroyed++;
		rec_free(r);
	}
	for (unsigned k = 0; k < K; k++)
		eng[k].ours = 0;
	st.teardowns++;

	/*
	 * The first epoch's delta includes what libc may allocate once on the
	 * engine's behalf: reported, not a leak. After it, the engines must give
	 * back every byte: tolerance 0 — when the count is exact (tcache off,
	 * see tcache_off()); otherwise blocks parked in the tcache look in use
	 * and only a delta above HEAP_SLACK counts.
	 */
	if (epoch_no == 0)
		st.heap_first_delta = dheap;
	else if (dheap > (heap_exact ? 0 : HEAP_SLACK)) {
		violation(NULL, "teardown %" PRIu64 ": heap grew by %lld bytes across the "
			  "engines' life", epoch_no + 1, dheap);
		st.leaked_heap += dheap;
	}
	if (epoch_no && dheap > st.heap_max_delta)
		st.heap_max_delta = dheap;

	/* --inject leak-fd: an fd that outlives the first teardown. */
	if (opt.inject && !strcmp(opt.inject, "leak-fd") && epoch_no == 0 &&
	    open("/dev/null", O_RDONLY | O_CLOEXEC) < 0)
		perror("open");
	int fds = count_fds();
	if (fds != fd_baseline) {
		violation(NULL, "teardown %" PRIu64 ": %d fds open, %d at start", epoch_no + 1,
			  fds, fd_baseline);
		if (fds > fd_baseline)
			st.leaked_fds += (uint64_t)(fds - fd_baseline);
	}

	qsort(epoch_procs, nepoch, sizeof(epoch_procs[0]), cmp_eproc);
	unsigned children, desc;
	/* Killed grandchildren die asynchronously (and are not ours to reap):
	 * those with a SIGKILL pending get two seconds. Our own children must
	 * be gone at once. */
	unsigned dying;
	desc = scan_procs(&children, &dying, false);
	for (int i = 0; i < 100 && dying; i++) {
		struct timespec ts = { 0, 20000000L };
		nanosleep(&ts, NULL);
		desc = scan_procs(&children, &dying, false);
	}
	if (children || desc || dying) {
		desc = scan_procs(&children, &dying, true) + dying;
		st.leaked_procs += children + desc;
	}

	long files = rundir_entries(false, false) - files_baseline;
	if (files > 0) {
		rundir_entries(false, true);
		st.leaked_files += (uint64_t)files;
	}
	report_teardown(epoch_no + 1, destroyed, dheap, fds - fd_baseline, children, desc,
			files, dms);
	epoch_no++;
	return !last;
}

/* ---- setup ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pidring-stress [--procs N] [--concurrency C] [--seed S] [--duration SEC]\n"
		"                      [--engines K] [--json] [--no-waitid] [--no-clone3]\n"
		"                      [--child PATH]\n"
		"                      [--runtime-dir DIR] [--ring-entries N] [--quiet]\n"
		"  --procs N        procs to spawn (default %d; unlimited with --duration alone)\n"
		"  --concurrency C  procs in flight (default %d)\n"
		"  --seed S         schedule seed (default: random, printed)\n"
		"  --duration SEC   stop spawning after SEC seconds\n"
		"  --engines K      engines driven round-robin in this thread (default 1, max %d)\n"
		"  --json           last line: one JSON object\n"
		"  --no-waitid      PIDRING_F_NO_WAITID: POLL_ADD + waitid fallback\n"
		"  --no-clone3      PIDRING_F_NO_CLONE3: spawn through clone()\n"
		"  --child PATH     the child program (default $PIDRING_CHILD, else\n"
		"                   pidring-child next to this binary)\n"
		"  --runtime-dir D  runtime base (default: a fresh temporary dir, removed after)\n"
		"  --ring-entries N SQ size of each engine (default: the engine's; small\n"
		"                   sizes exercise submission back-pressure)\n"
		"  --quiet          no progress or teardown lines\n"
		"  --cgroup DIR     engines in cgroup mode under the cgroup v2 dir DIR: each\n"
		"                   proc in its own cgroup, killed through cgroup.kill\n"
		"  --inject KIND    self-test of the auditor: dup-done (a DONE seen twice)\n"
		"                   or leak-fd (an fd left open); the run must fail\n",
		DEF_PROCS, DEF_CONCURRENCY, MAX_ENGINES);
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static int parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "procs", required_argument, NULL, 'n' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "seed", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' },
		{ "engines", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-waitid", no_argument, NULL, 'W' },
		{ "no-clone3", no_argument, NULL, '3' },
		{ "child", required_argument, NULL, 'C' },
		{ "runtime-dir", required_argument, NULL, 'R' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "ring-entries", required_argument, NULL, 'r' },
		{ "inject", required_argument, NULL, 'I' },
		{ "cgroup", required_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool seed_set = false;
	uint64_t v;
	int c;

	opt.procs = DEF_PROCS;
	opt.concurrency = DEF_CONCURRENCY;
	opt.engines = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!parse_u64(optarg, &v) || v == 0)
				goto bad;
			opt.procs = v;
			opt.procs_set = true;
			break;
		case 'c':
			if (!parse_u64(optarg, &v) || v == 0 || v > 100000)
				goto bad;
			opt.concurrency = (unsigned)v;
			break;
		case 's':
			if (!parse_u64(optarg, &v))
				goto bad;
			opt.seed = v;
			seed_set = true;
			break;
		case 'd': {
			char *end;
			errno = 0;
			opt.duration = strtod(optarg, &end);
			if (errno || *end || !(opt.duration > 0))
				goto bad;
			opt.duration_set = true;
			break;
		}
		case 'k':
			if (!parse_u64(optarg, &v) || v == 0 || v > MAX_ENGINES)
				goto bad;
			opt.engines = (unsigned)v;
			break;
		case 'r':
			if (!parse_u64(optarg, &v) || v > 32768)
				goto bad;
			opt.ring_entries = (unsigned)v;
			break;
		case 'j': opt.json = true; break;
		case 'W': opt.no_waitid = true; break;
		case '3': opt.no_clone3 = true; break;
		case 'q': opt.quiet = true; break;
		case 'G':
			opt.cgroup_dir = optarg;
			break;
		case 'I':
			if (strcmp(optarg, "dup-done") && strcmp(optarg, "leak-fd"))
				goto bad;
			opt.inject = optarg;
			break;
		case 'C':
			if (strlen(optarg) >= sizeof(opt.child))
				goto bad;
			strcpy(opt.child, optarg);
			break;
		case 'R':
			if (strlen(optarg) >= sizeof(opt.rundir) - 64)
				goto bad;
			strcpy(opt.rundir, optarg);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pidring-stress: unexpected argument %s\n", argv[optind]);
		return -1;
	}
	if (opt.duration_set && !opt.procs_set)
		opt.procs = UINT64_MAX;
	if (!opt.duration_set && !opt.procs_set)
		opt.duration = DEF_DURATION_CAP;
	if (!seed_set) {
		uint32_t s;
		if (getrandom(&s, sizeof(s), 0) != sizeof(s))
			s = (uint32_t)(now_ns() ^ (uint64_t)getpid());
		opt.seed = s;
	}
	return 0;
bad:
	fprintf(stderr, "pidring-stress: bad value for --%s: %s\n",
		c == 'n' ? "procs" : c == 'c' ? "concurrency" : c == 's' ? "seed" :
		c == 'd' ? "duration" : c == 'k' ? "engines" : c == 'C' ? "child" :
		c == 'r' ? "ring-entries" : "runtime-dir", optarg);
	return -1;
}

static int find_child(void)
{
	if (!opt.child[0]) {
		const char *e = getenv("PIDRING_CHILD");
		if (e && *e && strlen(e) < sizeof(opt.child)) {
			strcpy(opt.child, e);
		} else {
			char self[PATH_MAX];
			ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 32);
			if (n <= 0)
				return -1;
			self[n] = '\0';
			char *slash = strrchr(self, '/');
			if (!slash)
				return -1;
			strcpy(slash + 1, "pidring-child");
			strcpy(opt.child, self);
		}
	}
	/* The engine does not search PATH; and a relative path would resolve
	 * against the child's cwd, which we set. */
	if (opt.child[0] != '/') {
		char abs[PATH_MAX];
		if (!realpath(opt.child, abs))
			return -1;
		strcpy(opt.child, abs);
	}
	return access(opt.child, X_OK);
}

static void json_summary(double secs, int exitc)
{
	printf("{\"procs\":%" PRIu64 ",\"spawned\":%" PRIu64 ",\"ready\":%" PRIu64
	       ",\"done\":%" PRIu64 ",\"exited\":%" PRIu64 ",\"exited_early\":%" PRIu64
	       ",\"cancelled\":%" PRIu64 ",\"stopped\":%" PRIu64 ",\"timeouts\":%" PRIu64
	       ",\"exec_failures\":%" PRIu64 ",\"destroyed_in_flight\":%" PRIu64
	       ",\"ready_missed\":%" PRIu64 ",\"cancel_calls\":%" PRIu64 ",\"stop_calls\":%"
	       PRIu64 ",\"stale_checks\":%" PRIu64 ",\"forged_checks\":%" PRIu64
	       ",\"engines\":%" PRIu64 ",\"teardowns\":%" PRIu64 ",\"violations\":%" PRIu64
	       ",\"leaked_procs\":%" PRIu64 ",\"leaked_fds\":%" PRIu64 ",\"leaked_files\":%"
	       PRIu64 ",\"leaked_heap\":%lld,\"heap_first_delta\":%lld,\"heap_max_delta\":%lld"
	       ",\"seconds\":%.2f,\"seed\":%" PRIu64 ",\"schedule\":\"%016" PRIx64 "\""
	       ",\"concurrency\":%u,\"engines_at_once\":%u,\"waitid\":%s,\"clone3\":%s,"
	       "\"ok\":%s}\n",
	       next_index, st.spawned, st.ready, st.done, st.exited, st.exited_early,
	       st.cancelled, st.stopped, st.timeouts, st.exec_failures, st.destroyed,
	       st.ready_missed, st.cancel_calls, st.stop_calls, st.stale_checks,
	       st.forged_checks, st.engines, st.teardowns, st.violations, st.leaked_procs,
	       st.leaked_fds, st.leaked_files, st.leaked_heap, st.heap_first_delta,
	       st.heap_max_delta, secs, opt.seed, st.sched_hash, opt.concurrency, opt.engines,
	       opt.no_waitid ? "false" : "true", opt.no_clone3 ? "false" : "true",
	       exitc == 0 ? "true" : "false");
}

/*
 * mallinfo2() counts the chunks parked in the thread's tcache as in use, so a
 * free()d block can look leaked until the cache fills up (seen here: +608 B per
 * engine for the first seven engines, then 0). With the tcache off the count is
 * exact. The tunable is only read at startup: set it and exec ourselves once;
 * the children get the caller's own GLIBC_TUNABLES back.
 */
#define TUNABLES_MARK "PIDRING_STRESS_TUNABLES"

static void tcache_off(char **argv)
{
	const char *mark = getenv(TUNABLES_MARK), *old;
	char *val, *mval;

	if (mark) {
		if (mark[0] == '=')
			setenv("GLIBC_TUNABLES", mark + 1, 1);
		else
			unsetenv("GLIBC_TUNABLES");
		unsetenv(TUNABLES_MARK);
		return;
	}
	old = getenv("GLIBC_TUNABLES");
	if (asprintf(&val, "%s%sglibc.malloc.tcache_count=0", old ? old : "",
		     old ? ":" : "") < 0)
		return;
	if (asprintf(&mval, "%s%s", old ? "=" : "-", old ? old : "") < 0) {
		free(val);
		return;
	}
	setenv(TUNABLES_MARK, mval, 1);
	setenv("GLIBC_TUNABLES", val, 1);
	execv("/proc/self/exe", argv);
	/* No exec: go on with an approximate heap count. */
	if (mval[0] == '=')
		setenv("GLIBC_TUNABLES", mval + 1, 1);
	else
		unsetenv("GLIBC_TUNABLES");
	unsetenv(TUNABLES_MARK);
	free(val);
	free(mval);
}

/* Does a free() show in mallinfo2 at once (no tcache hiding it)? */
static bool heap_count_exact(void)
{
	void *volatile p = malloc(40);   /* the first malloc sets the heap up */
	size_t a, b;

	free(p);
	a = mallinfo2().uordblks;
	p = malloc(40);
	b = mallinfo2().uordblks;
	free(p);
	return b > a && mallinfo2().uordblks == a;
}

int pool_stress_main(int argc, char **argv);   /* tools/stress/pool.c */

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--pool"))
		return pool_stress_main(argc - 1, argv + 1);
	tcache_off(argv);
	heap_exact = heap_count_exact();
	if (parse_args(argc, argv))
		return 2;
	if (find_child()) {
		fprintf(stderr, "pidring-stress: no executable child at '%s' (use --child or "
			"PIDRING_CHILD)\n", opt.child);
		return 2;
	}
	me = getpid();
	my_sid = getsid(0);
	tty = isatty(1);
	/* A dead pipe reader must not kill us before the engines are destroyed. */
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_interrupt, .sa_flags = SA_RESETHAND };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (!opt.rundir[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(opt.rundir, sizeof(opt.rundir), "%s/pidring-stress.XXXXXX",
			 tmp && *tmp && strlen(tmp) < 256 ? tmp : "/tmp");
		if (!mkdtemp(opt.rundir)) {
			fprintf(stderr, "pidring-stress: mkdtemp %s: %s\n", opt.rundir,
				strerror(errno));
			return 2;
		}
		opt.own_rundir = true;
	} else if (mkdir(opt.rundir, 0700) && errno != EEXIST) {
		fprintf(stderr, "pidring-stress: mkdir %s: %s\n", opt.rundir, strerror(errno));
		return 2;
	}
	{
		/* Socket paths are checked against it: make it canonical. */
		char abs[PATH_MAX];
		if (!realpath(opt.rundir, abs) || strlen(abs) >= sizeof(opt.rundir) - 64) {
			fprintf(stderr, "pidring-stress: %s: %s\n", opt.rundir, strerror(errno));
			return 2;
		}
		strcpy(opt.rundir, abs);
	}
	snprintf(missing_path, sizeof(missing_path), "%s/no-such-child", opt.rundir);

	/* Everything the loop needs, allocated once: the heap checks measure
	 * around the engines only. */
	pool_cap = opt.concurrency + 1;
	pool = calloc(pool_cap, sizeof(*pool));
	free_stack = calloc(pool_cap, sizeof(*free_stack));
	unsigned mcap = 16;
	while (mcap < 4 * pool_cap)
		mcap *= 2;
	map = calloc(mcap, sizeof(*map));
	map_mask = mcap - 1;
	if (!pool || !free_stack || !map) {
		fprintf(stderr, "pidring-stress: out of memory\n");
		return 2;
	}
	for (unsigned i = 0; i < pool_cap; i++)
		free_stack[free_top++] = pool_cap - 1 - i;

	char nprocs[32] = "unlimited";
	if (opt.procs != UINT64_MAX)
		snprintf(nprocs, sizeof(nprocs), "%" PRIu64, opt.procs);
	t_start = now_ns();
	printf("pidring-stress %s: seed %" PRIu64 ", %s procs, concurrency %u, %u engine%s at "
	       "a time, %s, %s, child %s, runtime dir %s%s\n", pidring_version(), opt.seed,
	       nprocs, opt.concurrency, opt.engines,
	       opt.engines == 1 ? "" : "s", opt.no_waitid ? "no WAITID (fallback)" : "WAITID",
	       opt.no_clone3 ? "clone()" : "clone3",
	       opt.child, opt.rundir, heap_exact ? "" : " (heap count approximate)");
	fflush(stdout);

	fd_baseline = count_fds();
	files_baseline = opt.own_rundir ? 0 : rundir_entries(false, false);

	while (run_epoch())
		;

	double secs = since_start();
	/*
	 * A proc that gets ready and exits 50+ ms later may still exit before
	 * the engine confirmed it on an overloaded machine (seen: a third of
	 * them at load 25 on 2 cores with 256 in flight), so a miss is allowed
	 * one by one. But a mode in which not one of many procs got READY is
	 * broken readiness, not a race.
	 */
	for (int m = PIDRING_READY_BIND; m <= PIDRING_READY_NOTIFY; m++) {
		uint64_t all = ready_by_mode[m] + missed_by_mode[m];
		const char *name = m == PIDRING_READY_BIND ? "BIND" : "NOTIFY";
		if (all >= 20 && !ready_by_mode[m])
			violation(NULL, "not one of %" PRIu64 " %s procs left alone got READY "
				  "before it exited", all, name);
		else if (all >= 20 && missed_by_mode[m] * 4 > all && !opt.quiet)
			printf("note: %" PRIu64 " of %" PRIu64 " %s procs left alone exited before "
			       "READY (allowed one by one: an overloaded machine, or readiness "
			       "is slow)\n", missed_by_mode[m], all, name);
	}

	if (opt.own_rundir) {
		rundir_entries(true, false);
		if (rmdir(opt.rundir) && errno != ENOENT)
			fprintf(stderr, "pidring-stress: rmdir %s: %s\n", opt.rundir, strerror(errno));
	}

	int exitc = (st.violations || st.leaked_procs || st.leaked_fds || st.leaked_files ||
		     st.leaked_heap) ? 1 : 0;
	clear_progress();
	if (!opt.quiet)
		progress(true);
	clear_progress();
	if (nkinds) {
		fprintf(stderr, "violations by kind (count, first one):\n");
		for (unsigned i = 0; i < nkinds; i++)
			fprintf(stderr, "  %6u  %s\n", kinds[i].n, kinds[i].first);
	}
	if (exitc) {
		printf("reproduce: %s --seed %" PRIu64, argv[0], opt.seed);
		if (opt.procs != UINT64_MAX)
			printf(" --procs %" PRIu64, opt.procs);
		if (opt.duration_set)
			printf(" --duration %g", opt.duration);
		if (opt.ring_entries)
			printf(" --ring-entries %u", opt.ring_entries);
		printf(" --concurrency %u --engines %u%s%s\n", opt.concurrency, opt.engines,
		       opt.no_waitid ? " --no-waitid" : "", opt.no_clone3 ? " --no-clone3" : "");
	}
	printf("%s: %" PRIu64 " procs, %" PRIu64 " spawned, %" PRIu64 " ready, %" PRIu64
	       " done (%" PRIu64 " exited, %" PRIu64 " exited early, %" PRIu64 " cancelled, %"
	       PRIu64 " stopped, %" PRIu64 " timeouts), %" PRIu64 " destroyed in flight, %"
	       PRIu64 " exec failures, %" PRIu64 " engines, %" PRIu64 " violations, leaked: %"
	       PRIu64 " procs %" PRIu64 " fds %" PRIu64 " files %lld heap bytes; %.1f s, "
	       "seed %" PRIu64 ", schedule %016" PRIx64 "\n",
	       exitc ? "FAIL" : "OK", next_index, st.spawned, st.ready, st.done, st.exited,
	       st.exited_early, st.cancelled, st.stopped, st.timeouts, st.destroyed,
	       st.exec_failures, st.engines, st.violations, st.leaked_procs, st.leaked_fds,
	       st.leaked_files, st.leaked_heap, secs, opt.seed, st.sched_hash);
	if (opt.json)
		json_summary(secs, exitc);
	fflush(stdout);
	free(pool);
	free(free_stack);
	free(map);
	return exitc;
}
