/* SPDX-License-Identifier: MIT */
/*
 * pidring-demo — a one-minute tour of pidring, and a self-check.
 *
 *   pidring-demo /abs/path/to/pidring-child [SEED]
 *
 * Makes an engine in a private runtime dir, spawns 100 pidring-child processes
 * that behave differently (exit after 0-200 ms with code 0 or another code,
 * sleep forever, die of SIGSEGV, ignore SIGTERM and sleep forever), cancels
 * half of them at random moments (right after spawn, a few ms later, twice),
 * stops a few with a 100 ms grace, and cancels whatever still runs after 1 s.
 * It prints the first events, a summary, and then checks the library's
 * promises: one DONE per spawn (at most one READY, before it), no child left,
 * no descriptor left, no file left. Exit 0 when all hold, 1 otherwise.
 *
 * The plan (who does what, who is cancelled when) comes from SEED; the races
 * it sets up (a cancel against an exit) are real and differ run to run.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "pidring.h"
#include "tool_util.h"

#define NKIDS        100
#ifndef LOG_EVENTS
#define LOG_EVENTS   12       /* then only the first DONE of each new kind */
#endif
#define STOP_GRACE   100      /* ms */
#define SWEEP_MS     1000     /* cancel everything still running */
#define DRAIN_MS     3000     /* give up waiting for DONEs */
#define DESTROY_MS   2000
#define MAX_PROBLEMS 8

enum behav { B_EXIT0, B_EXITN, B_SLEEP, B_SEGV, B_IGNTERM, B_COUNT };
static const char *const behav_name[B_COUNT] = {
	"exit 0", "exit N", "sleep", "SIGSEGV", "ignore TERM",
};

enum cplan { C_NONE, C_AT_SPAWN, C_LATER, C_TWICE };

struct kid {
	int         n;                /* our number, 0..NKIDS-1 */
	enum behav  b;
	int         after_ms, code;   /* exit time and code (B_EXIT*, B_SEGV) */
	char        abuf[6][24];
	char       *argv[8];

	enum cplan  cplan;
	bool        stop_planned;

	bool        spawned;
	pidring_id  id;
	pid_t       pid;
	uint64_t    stop_ns;          /* when we called pidring_stop */
	int         ncancel;          /* pidring_cancel calls made */
	int         cancel_rc[2];
	int         stop_rc;
	bool        stopped, swept;

	int         nready, ndone;
	bool        ready_after_done;
	struct pidring_event done;
};

enum act_type { A_CANCEL, A_STOP };
struct action {
	double        at_ms;          /* since t0 (planned: since its spawn) */
	int           kid;
	enum act_type type;
	bool          done;
};

static struct kid kids[NKIDS];
static struct action acts[2 * NKIDS];
static int nacts;
static uint64_t t0_ns;
static int nlogged, nevents;
static int kinds_seen[16], nkinds;
static int nproblems;
static char problems[MAX_PROBLEMS][160];

/* ---- small helpers ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double ms_since_t0(uint64_t ns)
{
	return ns ? ((double)ns - (double)t0_ns) / 1e6 : 0.0;
}

static double elapsed_ms(void)
{
	return ms_since_t0(now_ns());
}

static uint64_t rng_state;

static uint64_t rng_next(void)          /* splitmix64 */
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int rng_int(int lo, int hi)      /* uniform in [lo, hi] */
{
	return lo + (int)(rng_next() % (uint64_t)(hi - lo + 1));
}

__attribute__((format(printf, 1, 2)))
static void problem(const char *fmt, ...)
{
	va_list ap;

	if (nproblems < MAX_PROBLEMS) {
		va_start(ap, fmt);
		vsnprintf(problems[nproblems], sizeof(problems[0]), fmt, ap);
		va_end(ap);
	}
	nproblems++;
}

static const char *code_name(int code)
{
	switch (code) {
	case CLD_EXITED: return "CLD_EXITED";
	case CLD_KILLED: return "CLD_KILLED";
	case CLD_DUMPED: return "CLD_DUMPED";
	case 0:          return "unknown";
	}
	return "?";
}

static void status_str(int code, int status, char *buf, size_t len)
{
	static const struct { int sig; const char *name; } sigs[] = {
		{ SIGKILL, "SIGKILL" }, { SIGTERM, "SIGTERM" }, { SIGSEGV, "SIGSEGV" },
		{ SIGABRT, "SIGABRT" }, { SIGINT, "SIGINT" },  { SIGHUP, "SIGHUP" },
	};

	if (code == CLD_KILLED || code == CLD_DUMPED) {
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			if (sigs[i].sig == status) {
				snprintf(buf, len, "%s", sigs[i].name);
				return;
			}
		snprintf(buf, len, "signal %d", status);
	} else {
		snprintf(buf, len, "%d", status);
	}
}

static int ceil_ms(double ms)           /* no libm */
{
	int i = (int)ms;

	return i + (ms > i);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double percentile(const double *sorted, int n, int p)
{
	int rank = (p * n + 99) / 100;          /* nearest rank */

	if (n == 0)
		return 0.0;
	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

/* ---- leak probes ---- */

#define FD_TRACK 1024

/* Open descriptors (this DIR's own aside); which ones below FD_TRACK go to open_fds. */
static int count_fds(bool *open_fds)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	if (open_fds)
		memset(open_fds, 0, FD_TRACK * sizeof(bool));
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || fd == dirfd(d))
			continue;
		n++;
		if (open_fds && fd >= 0 && fd < FD_TRACK)
			open_fds[fd] = true;
	}
	closedir(d);
	return n;
}

/* Processes whose parent is us, zombies included; their pids go to buf. */
static int count_children(char *buf, size_t len)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t me = getpid();
	size_t off = 0;
	int n = 0;

	if (buf && len)
		buf[0] = '\0';
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		struct pstat ps;

		/* a process gone meanwhile reads as false */
		if (de->d_name[0] < '0' || de->d_name[0] > '9' || !read_stat(de->d_name, &ps) ||
		    ps.ppid != me)
			continue;
		n++;
		if (buf && off < len) {
			int w = snprintf(buf + off, len - off, " %s(%c)", de->d_name, ps.state);

			if (w > 0)
				off += (size_t)w;
		}
	}
	closedir(d);
	return n;
}

/* Entries under dir (one level down too); names go to buf. */
static int list_dir(const char *dir, char *buf, size_t len, bool remove)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t off = 0;
	int n = 0;

	if (buf && len)
		buf[0] = '\0';
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char sub[4096];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		n++;
		if (buf && off < len) {
			int w = snprintf(buf + off, len - off, " %s", de->d_name);

			if (w > 0)
				off += (size_t)w;
		}
		if (de->d_type == DT_DIR) {
			char inner[256];
			int m = list_dir(sub, inner, sizeof(inner), remove);

			if (m > 0) {
				n += m;
				if (buf && off < len) {
					int w = snprintf(buf + off, len - off, " {%s }", inner);

					if (w > 0)
						off += (size_t)w;
				}
			}
			if (remove)
				rmdir(sub);
		} else if (remove) {
			unlink(sub);
		}
	}
	closedir(d);
	return n;
}

/* ---- the plan ---- */

static void plan(void)
{
	int order[NKIDS], ncancel = NKIDS / 2, nstop = 0;

	for (int i = 0; i < NKIDS; i++) {
		struct kid *k = &kids[i];
		int r = rng_int(0, 99), a = 0;

		k->n = i;
		k->b = r < 20 ? B_EXIT0 : r < 40 ? B_EXITN : r < 60 ? B_SLEEP :
		       r < 80 ? B_SEGV : B_IGNTERM;
		k->after_ms = rng_int(0, 200);
		k->code = k->b == B_EXITN ? rng_int(1, 255) : 0;

		snprintf(k->abuf[a++], sizeof(k->abuf[0]), "pidring-child");
		switch (k->b) {
		case B_EXIT0:
		case B_EXITN:
			snprintf(k->abuf[a++], sizeof(k->abuf[0]), "--exit=%d", k->code);
			snprintf(k->abuf[a++], sizeof(k->abuf[0]), "--after-ms=%d", k->after_ms);
			break;
		case B_SEGV:
			snprintf(k->abuf[a++], sizeof(k->abuf[0]), "--signal=%d", SIGSEGV);
			snprintf(k->abuf[a++], sizeof(k->abuf[0]), "--after-ms=%d", k->after_ms);
			break;
		case B_IGNTERM:
			snprintf(k->abuf[a++], sizeof(k->abuf[0]), "--ignore-term");
			/* fall through */
		case B_SLEEP:
			snprintf(k->abuf[a++], sizeof(k->abuf[0]), "--sleep-forever");
			break;
		case B_COUNT:
			break;
		}
		for (int j = 0; j < a; j++)
			k->argv[j] = k->abuf[j];
		k->argv[a] = NULL;
		order[i] = i;
	}

	for (int i = NKIDS - 1; i > 0; i--) {   /* Fisher-Yates */
		int j = rng_int(0, i), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}

	/* Half are cancelled: a third right after spawn, a third once 1-250 ms
	 * after it, a third twice (back to back, or a few ms apart). */
	for (int i = 0; i < ncancel; i++) {
		struct kid *k = &kids[order[i]];
		double at = rng_int(1, 250);

		k->cplan = (enum cplan)(C_AT_SPAWN + i % 3);
		if (k->cplan == C_AT_SPAWN)
			continue;
		acts[nacts++] = (struct action){ at, k->n, A_CANCEL, false };
		if (k->cplan == C_TWICE)
			acts[nacts++] = (struct action){ at + (rng_int(0, 1) ? rng_int(1, 20) : 0),
							 k->n, A_CANCEL, false };
	}
	/* A few of the others are stopped 20-300 ms after spawn; preferably
	 * those that would not exit anyway. */
	for (int pass = 0; pass < 2 && nstop < 6; pass++)
		for (int i = ncancel; i < NKIDS && nstop < 6; i++) {
			struct kid *k = &kids[order[i]];

			if (k->stop_planned ||
			    (pass == 0 && k->b != B_SLEEP && k->b != B_IGNTERM))
				continue;
			k->stop_planned = true;
			acts[nacts++] = (struct action){ rng_int(20, 300), k->n, A_STOP, false };
			nstop++;
		}
}

/* ---- events and actions ---- */

static void log_event(const struct pidring_event *e, const struct kid *k)
{
	char st[24];

	if (nlogged == 0)
		printf("%8s  %-5s  %-11s %7s  %-15s %-10s %-10s %s\n", "ms", "event", "id",
		       "pid", "child", "reason", "code", "status");
	nlogged++;
	if (e->type == PIDRING_EV_READY) {
		printf("%8.2f  READY  %#-11llx %7d  #%-2d %-11s\n", ms_since_t0(e->ready_ns),
		       (unsigned long long)e->id, (int)e->pid, k->n, behav_name[k->b]);
		return;
	}
	status_str(e->code, e->status, st, sizeof(st));
	printf("%8.2f  DONE   %#-11llx %7d  #%-2d %-11s %-10s %-10s %s\n",
	       ms_since_t0(e->done_ns), (unsigned long long)e->id, (int)e->pid, k->n,
	       behav_name[k->b], reason_name(e->reason), code_name(e->code), st);
}

/* A DONE's kind: reason, code, and the signal (or exit 0 / not 0). */
static bool new_kind(const struct pidring_event *e)
{
	int kind = e->reason << 12 | e->code << 8 |
		   (e->code == CLD_EXITED ? e->status != 0 : e->status & 0xff);

	for (int i = 0; i < nkinds; i++)
		if (kinds_seen[i] == kind)
			return false;
	if (nkinds < (int)(sizeof(kinds_seen) / sizeof(kinds_seen[0])))
		kinds_seen[nkinds++] = kind;
	return true;
}

static struct kid *find_kid(const struct pidring_event *e)
{
	struct kid *k = e->user;

	if (k >= kids && k < kids + NKIDS && k->spawned && k->id == e->id)
		return k;
	problem("event for id %#llx with user %p matches no spawn",
		(unsigned long long)e->id, e->user);
	return NULL;
}

static void on_event(const struct pidring_event *e)
{
	struct kid *k = find_kid(e);

	nevents++;
	if (!k)
		return;
	if (nevents <= LOG_EVENTS) {
		if (e->type == PIDRING_EV_DONE)
			new_kind(e);
		log_event(e, k);
	} else if (e->type == PIDRING_EV_DONE && new_kind(e)) {
		if (nlogged == LOG_EVENTS)
			printf("  ... from here on only the first DONE of each kind:\n");
		log_event(e, k);
	}
	if (e->pid != k->pid)
		problem("#%d: event pid %d, spawn said %d", k->n, (int)e->pid, (int)k->pid);
	if (e->type == PIDRING_EV_READY) {
		k->nready++;
		if (k->ndone)
			k->ready_after_done = true;
	} else if (e->type == PIDRING_EV_DONE) {
		if (k->ndone++ == 0)
			k->done = *e;
	} else {
		problem("#%d: event of unknown type %d", k->n, (int)e->type);
	}
}

static int cancel_kid(struct pidring *pr, struct kid *k)
{
	int rc = pidring_cancel(pr, k->id);

	if (k->ncancel < 2)
		k->cancel_rc[k->ncancel] = rc;
	k->ncancel++;
	if (rc != 0 && rc != -ESRCH)
		problem("#%d: pidring_cancel returned %d (%s)", k->n, rc, strerror(-rc));
	if (k->ndone && rc != -ESRCH)
		problem("#%d: pidring_cancel after its DONE returned %d, not -ESRCH", k->n, rc);
	return rc;
}

static void run_action(struct pidring *pr, struct action *a)
{
	struct kid *k = &kids[a->kid];

	a->done = true;
	if (!k->spawned)
		return;
	if (a->type == A_CANCEL) {
		cancel_kid(pr, k);
		return;
	}
	k->stop_ns = now_ns();
	k->stopped = true;
	k->stop_rc = pidring_stop(pr, k->id, STOP_GRACE);
	if (k->stop_rc != 0 && k->stop_rc != -ESRCH)
		problem("#%d: pidring_stop returned %d (%s)", k->n, k->stop_rc,
			strerror(-k->stop_rc));
}

/* Run every action that is due; return ms until the next one (or -1). */
static double run_due(struct pidring *pr)
{
	for (;;) {
		struct action *next = NULL;

		for (int i = 0; i < nacts; i++)
			if (!acts[i].done && (!next || acts[i].at_ms < next->at_ms))
				next = &acts[i];
		if (!next)
			return -1;
		if (next->at_ms > elapsed_ms())
			return next->at_ms - elapsed_ms();
		run_action(pr, next);
	}
}

/* Wait up to timeout_ms for events and handle them. */
static int pump(struct pidring *pr, int timeout_ms)
{
	struct pidring_event ev[32];
	int n = pidring_wait(pr, ev, 32, timeout_ms);

	if (n == -EINTR || n == -ENOMEM)    /* nothing lost: call again */
		return 0;
	if (n < 0) {
		problem("pidring_wait returned %d (%s)", n, strerror(-n));
		return n;
	}
	for (int i = 0; i < n; i++)
		on_event(&ev[i]);
	return n;
}

static int ndone_total(void)
{
	int n = 0;

	for (int i = 0; i < NKIDS; i++)
		n += kids[i].spawned && kids[i].ndone;
	return n;
}

/* ---- verdict on one child's DONE ---- */

/* Does (code, status) say the child did what it was told to do by itself? */
static bool natural(const struct kid *k, int code, int status)
{
	switch (k->b) {
	case B_EXIT0:
	case B_EXITN:
		return code == CLD_EXITED && status == k->code;
	case B_SEGV:
		return (code == CLD_KILLED || code == CLD_DUMPED) && status == SIGSEGV;
	default:
		return false;
	}
}

static void check_kid(const struct kid *k)
{
	const struct pidring_event *e = &k->done;
	bool killed = e->code == CLD_KILLED && e->status == SIGKILL;
	bool termed = e->code == CLD_KILLED && e->status == SIGTERM;
	char st[24];

	if (!k->spawned)
		return;
	if (k->ndone != 1) {
		problem("#%d (pid %d, %s): %d DONE events", k->n, (int)k->pid,
			behav_name[k->b], k->ndone);
		return;
	}
	if (k->nready > 1 || k->ready_after_done)
		problem("#%d: %d READY events%s", k->n, k->nready,
			k->ready_after_done ? ", one after DONE" : "");
	status_str(e->code, e->status, st, sizeof(st));
	switch (e->reason) {
	case PIDRING_EXITED:
		if (!natural(k, e->code, e->status))
			problem("#%d (%s): EXITED with %s %s", k->n, behav_name[k->b],
				code_name(e->code), st);
		break;
	case PIDRING_CANCELLED:
		if (!k->ncancel)
			problem("#%d: CANCELLED but never cancelled", k->n);
		else if (!killed && !natural(k, e->code, e->status))
			problem("#%d (%s): CANCELLED with %s %s", k->n, behav_name[k->b],
				code_name(e->code), st);
		break;
	case PIDRING_STOPPED:
		if (!k->stopped)
			problem("#%d: STOPPED but never stopped", k->n);
		else if (!killed && !termed && !natural(k, e->code, e->status))
			problem("#%d (%s): STOPPED with %s %s", k->n, behav_name[k->b],
				code_name(e->code), st);
		else if (killed && e->done_ns - k->stop_ns < (uint64_t)STOP_GRACE * 1000000u)
			problem("#%d: SIGKILLed %.1f ms after pidring_stop, grace is %d ms",
				k->n, (double)(e->done_ns - k->stop_ns) / 1e6, STOP_GRACE);
		break;
	default:
		problem("#%d (%s): unexpected reason %s", k->n, behav_name[k->b],
			reason_name(e->reason));
	}
}

/* ---- the report ---- */

static void print_table(void)
{
	static const int codes[] = { CLD_EXITED, CLD_KILLED, CLD_DUMPED, 0 };
	int cnt[PIDRING_READY_TIMEOUT + 1][4] = { { 0 } }, col[4] = { 0 }, all = 0;
	bool unknown = false;

	for (int i = 0; i < NKIDS; i++) {
		const struct kid *k = &kids[i];
		int r = k->done.reason, c = 3;

		if (!k->ndone || r < PIDRING_EXITED || r > PIDRING_READY_TIMEOUT)
			continue;
		for (int j = 0; j < 3; j++)
			if (k->done.code == codes[j])
				c = j;
		unknown |= c == 3;
		cnt[r][c]++;
		col[c]++;
		all++;
	}
	printf("\n%-14s%12s%12s%12s", "DONE by", "CLD_EXITED", "CLD_KILLED", "CLD_DUMPED");
	if (unknown)
		printf("%12s", "unknown");
	printf("%8s\n", "total");
	for (int r = PIDRING_EXITED; r <= PIDRING_READY_TIMEOUT; r++) {
		int row = cnt[r][0] + cnt[r][1] + cnt[r][2] + cnt[r][3];

		if (!row)
			continue;
		printf("  %-12s%12d%12d%12d", reason_name((enum pidring_reason)r), cnt[r][0],
		       cnt[r][1], cnt[r][2]);
		if (unknown)
			printf("%12d", cnt[r][3]);
		printf("%8d\n", row);
	}
	printf("  %-12s%12d%12d%12d", "total", col[0], col[1], col[2]);
	if (unknown)
		printf("%12d", col[3]);
	printf("%8d\n", all);
}

static void print_latency(void)
{
	double lat[NKIDS], lag[NKIDS];
	int n = 0;

	for (int i = 0; i < NKIDS; i++) {
		const struct kid *k = &kids[i];

		if (!k->ndone || k->done.reason != PIDRING_EXITED)
			continue;
		lat[n] = (double)(k->done.done_ns - k->done.spawn_ns) / 1e6;
		lag[n] = lat[n] - k->after_ms;
		n++;
	}
	qsort(lat, (size_t)n, sizeof(double), cmp_double);
	qsort(lag, (size_t)n, sizeof(double), cmp_double);
	printf("exited on their own: %d; spawn->DONE p50 %.1f ms, p99 %.1f ms; "
	       "past the planned exit p50 %.2f ms, p99 %.2f ms\n",
	       n, percentile(lat, n, 50), percentile(lat, n, 99),
	       percentile(lag, n, 50), percentile(lag, n, 99));
}

static void print_actions(void)
{
	int plan_n[4] = { 0 }, first[2] = { 0 }, second[2] = { 0 };
	int nstop = 0, stop_gone = 0, by_term = 0, by_kill = 0, stop_other = 0;
	double kmin = 1e9, kmax = 0;

	for (int i = 0; i < NKIDS; i++) {
		const struct kid *k = &kids[i];

		if (!k->spawned)
			continue;
		plan_n[k->cplan]++;
		if (k->cplan != C_NONE && k->ncancel >= 1)
			first[k->cancel_rc[0] == 0 ? 0 : 1]++;
		if (k->cplan == C_TWICE && k->ncancel >= 2)
			second[k->cancel_rc[1] == 0 ? 0 : 1]++;
		if (!k->stopped)
			continue;
		nstop++;
		if (k->stop_rc == -ESRCH || k->done.reason != PIDRING_STOPPED) {
			stop_gone++;
		} else if (k->done.code == CLD_KILLED && k->done.status == SIGTERM) {
			by_term++;
		} else if (k->done.code == CLD_KILLED && k->done.status == SIGKILL) {
			double ms = (double)(k->done.done_ns - k->stop_ns) / 1e6;

			by_kill++;
			kmin = ms < kmin ? ms : kmin;
			kmax = ms > kmax ? ms : kmax;
		} else {
			stop_other++;
		}
	}
	printf("cancel: %d at spawn, %d later, %d twice; 1st call: 0 x%d, -ESRCH "
	       "(already DONE) x%d; 2nd call: 0 (no-op) x%d, -ESRCH x%d\n",
	       plan_n[C_AT_SPAWN], plan_n[C_LATER], plan_n[C_TWICE], first[0], first[1],
	       second[0], second[1]);
	printf("stop:   %d with %d ms grace: %d died of SIGTERM, %d ignored it",
	       nstop, STOP_GRACE, by_term, by_kill);
	if (by_kill == 1)
		printf(" (SIGKILL %.1f ms later)", kmin);
	else if (by_kill)
		printf(" (SIGKILL %.1f-%.1f ms later)", kmin, kmax);
	if (stop_gone || stop_other)
		printf(", %d exited first", stop_gone + stop_other);
	printf("\n");
}

int main(int argc, char **argv)
{
	char tmpdir[] = "/tmp/pidring-demo-XXXXXX", buf[512];
	struct pidring_opts opts = { 0 };
	struct pidring *pr = NULL;
	int count[B_COUNT] = { 0 }, base_fds, rc, nspawned = 0, nswept = 0, status = 0;
	int leaked_kids, leaked_fds, leaked_files, nready = 0, ndone = 0;
	uint64_t seed, t_spawned, t_last = 0, t_destroy;
	const char *child;
	static bool base_fdset[FD_TRACK], now_fds[FD_TRACK];

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s /abs/path/to/pidring-child [seed]\n", argv[0]);
		return 2;
	}
	child = argv[1];
	if (access(child, X_OK) < 0) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], child, strerror(errno));
		return 2;
	}
	seed = argc == 3 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL);
	rng_state = seed;
	plan();
	for (int i = 0; i < NKIDS; i++)
		count[kids[i].b]++;

	printf("pidring %s demo, seed %llu (same plan again: %s CHILD %llu)\n",
	       pidring_version(), (unsigned long long)seed, argv[0],
	       (unsigned long long)seed);
	printf("%d children: %d exit 0, %d exit N, %d sleep, %d SIGSEGV, %d ignore "
	       "SIGTERM (exits at 0-200 ms)\n", NKIDS, count[B_EXIT0], count[B_EXITN],
	       count[B_SLEEP], count[B_SEGV], count[B_IGNTERM]);
	printf("plan: cancel half at random moments, stop a few, cancel the rest at "
	       "%d ms, destroy, check\n\n", SWEEP_MS);
	fflush(stdout);

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	base_fds = count_fds(base_fdset);
	opts.runtime_dir = tmpdir;
	rc = pidring_new(&pr, &opts);
	if (rc < 0) {
		fprintf(stderr, "pidring_new: %s\n", strerror(-rc));
		rmdir(tmpdir);
		return 1;
	}

	/* Spawn, collecting whatever events are already there in between. */
	t0_ns = now_ns();
	for (int i = 0; i < NKIDS; i++) {
		struct kid *k = &kids[i];
		struct pidring_spawn s = {
			.path = child, .argv = k->argv, .ready = PIDRING_READY_EXEC, .user = k,
		};

		rc = pidring_spawn(pr, &s, &k->id);
		if (rc < 0) {
			problem("#%d: pidring_spawn: %s", i, strerror(-rc));
			continue;
		}
		k->spawned = true;
		nspawned++;
		k->pid = pidring_pid(pr, k->id);
		if (k->pid <= 0)
			problem("#%d: pidring_pid right after spawn returned %d", i, (int)k->pid);
		for (int j = 0; j < nacts; j++)     /* its plan counts from now */
			if (acts[j].kid == i)
				acts[j].at_ms += elapsed_ms();
		if (k->cplan == C_AT_SPAWN)
			cancel_kid(pr, k);
		while (pump(pr, 0) > 0)      /* drain: no waiting */
			;
	}
	t_spawned = now_ns();

	/* Let them run; cancel and stop as planned. */
	while (elapsed_ms() < SWEEP_MS) {
		double wait = run_due(pr), left = SWEEP_MS - elapsed_ms();

		if (wait < 0 || wait > left)
			wait = left;
		if (pump(pr, wait > 0 ? ceil_ms(wait) : 0) < 0)
			break;
	}
	run_due(pr);

	/* Whatever still runs is cancelled; then every DONE must come. */
	for (int i = 0; i < NKIDS; i++)
		if (kids[i].spawned && !kids[i].ndone) {
			kids[i].swept = true;
			nswept += cancel_kid(pr, &kids[i]) == 0;
		}
	while (ndone_total() < nspawned && elapsed_ms() < DRAIN_MS)
		if (pump(pr, 50) < 0)
			break;
	for (int i = 0; i < NKIDS; i++)
		if (kids[i].ndone && kids[i].done.done_ns > t_last)
			t_last = kids[i].done.done_ns;
	if (pidring_live(pr) != 0)
		problem("pidring_live() is %u after every DONE", pidring_live(pr));

	t_destroy = now_ns();
	rc = pidring_destroy(pr, DESTROY_MS);
	t_destroy = now_ns() - t_destroy;
	if (rc != 0)
		problem("pidring_destroy returned %d (%s)", rc, strerror(-rc));

	printf("  (%d events, %d shown)\n", nevents, nlogged);
	print_table();
	print_latency();
	print_actions();
	printf("end:    %d spawned in %.1f ms; at %d ms cancelled %d still running; "
	       "last DONE at %.1f ms; destroy %.2f ms\n",
	       nspawned, (double)(t_spawned - t0_ns) / 1e6, SWEEP_MS, nswept,
	       ms_since_t0(t_last), (double)t_destroy / 1e6);

	/* The promises. */
	for (int i = 0; i < NKIDS; i++)
		check_kid(&kids[i]);
	for (int i = 0; i < NKIDS; i++) {
		nready += kids[i].nready;
		ndone += kids[i].ndone;
	}
	printf("events: %d spawns, %d DONE, %d READY: %s\n", nspawned, ndone, nready,
	       nproblems ? "PROBLEMS" : "one DONE each, "
	       "READY before it, outcomes as expected — OK");
	for (int i = 0; i < nproblems && i < MAX_PROBLEMS; i++)
		printf("  problem: %s\n", problems[i]);
	if (nproblems > MAX_PROBLEMS)
		printf("  ... and %d more problems\n", nproblems - MAX_PROBLEMS);

	leaked_kids = count_children(buf, sizeof(buf));
	if (leaked_kids)
		printf("  leaked children (pid(state)):%s\n", buf);
	leaked_fds = count_fds(now_fds) - base_fds;
	if (leaked_fds) {
		printf("  new fds:");
		for (int fd = 0; fd < FD_TRACK; fd++) {
			char path[64], target[256];
			ssize_t len;

			if (!now_fds[fd] || base_fdset[fd])
				continue;
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			len = readlink(path, target, sizeof(target) - 1);
			target[len < 0 ? 0 : len] = '\0';
			printf(" %d->%s", fd, target);
		}
		printf("\n");
	}
	leaked_files = list_dir(tmpdir, buf, sizeof(buf), true);
	if (leaked_files)
		printf("  left in %s:%s\n", tmpdir, buf);
	if (rmdir(tmpdir) < 0)
		printf("  cannot remove %s: %s\n", tmpdir, strerror(errno));

	if (leaked_kids || leaked_fds || leaked_files || nproblems)
		status = 1;
	printf("leak check: %d children, %d extra fds, %d files — %s\n", leaked_kids,
	       leaked_fds, leaked_files, status ? "FAIL" : "OK");
	return status;
}
