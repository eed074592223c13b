/* SPDX-License-Identifier: MIT */
/*
 * Real exhaustion ("Hardening", part 3): the engine under the limits a busy
 * host actually hits — out of fds (RLIMIT_NOFILE), out of processes
 * (RLIMIT_NPROC / a pids cgroup), a tiny ring (SQ 8, CQ 32) under a thousand
 * spawns, bursts of exits and cancels far past the CQ's size, ten thousand
 * live procs, max_procs while binding, and the range checks of pidring_new.
 *
 * Each test runs in its own Criterion worker, so a setrlimit, a setuid or a
 * move into a cgroup here affects only that worker; the suite's .fini undoes
 * what can be undone when a test aborts halfway.
 */
#include "test_util.h"

#include <dirent.h>
#include <grp.h>
#include <limits.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

static void lx_fini(void);

TestSuite(limits, .fini = lx_fini, .timeout = 60);

/* ---- argv of the runners ---- */

static char *const av_forever[] = { "pidring-child", "--sleep-forever", NULL };
static char *const av_bind[] = { "pidring-child", "--bind-after-ms", "0", NULL };
static char *const av_notify[] = { "pidring-child", "--notify-after-ms", "0", NULL };
static char *const av_never[] = { "pidring-child", "--never-ready", NULL };

enum { K_EXEC, K_BIND, K_NOTIFY, K_NKINDS };
static const char *const kind_name[] = { "EXEC", "BIND", "NOTIFY" };

/* A runner of the given kind that never exits on its own (once ready). */
static struct pidring_spawn lx_spec(int kind, unsigned ready_timeout_ms)
{
	struct pidring_spawn s = t_spec(av_forever, NULL);

	if (kind == K_BIND) {
		s.argv = av_bind;
		s.ready = PIDRING_READY_BIND;
	} else if (kind == K_NOTIFY) {
		s.argv = av_notify;
		s.ready = PIDRING_READY_NOTIFY;
	}
	s.ready_timeout_ms = ready_timeout_ms;
	return s;
}

/* ---- the fixture, with every pidring_opts field ---- */

/*
 * fx_open_opts with ring_entries too, and an optional runtime dir made by the
 * caller (the setuid test chowns it before dropping root). The fd baseline is
 * taken right before pidring_new, as everywhere.
 */
static void lx_open(struct fx *f, unsigned flags, unsigned ring_entries,
		    unsigned max_procs, char *dir)
{
	struct pidring_opts o = { 0 };
	int r;

	memset(f, 0, sizeof(*f));
	f->flags = flags;
	f->dir = dir ? dir : th_mkdtemp();
	t_cur = f;
	th_baseline_take(&f->base);
	o.runtime_dir = f->dir;
	o.flags = flags;
	o.ring_entries = ring_entries;
	o.max_procs = max_procs;
	r = pidring_new(&f->pr, &o);
	cr_assert_eq(r, 0, "pidring_new(flags=%#x, ring_entries=%u, max_procs=%u): %d (%s)",
		     flags, ring_entries, max_procs, r, strerror(-r));
	cr_assert_not_null(f->pr);
	cr_assert_eq(pidring_live(f->pr), 0u);
}

/* ---- RLIMIT_NOFILE, restored by .fini when a test aborts ---- */

static struct rlimit lx_nofile_orig;
static int lx_nofile_saved;

static void lx_nofile_save(void)
{
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &lx_nofile_orig), 0);
	lx_nofile_saved = 1;
}

/* Set the soft limit (the hard one is left alone). */
static void lx_nofile_set(rlim_t soft)
{
	struct rlimit rl = lx_nofile_orig;

	rl.rlim_cur = soft;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit(NOFILE, %llu): %s",
		     (unsigned long long)soft, strerror(errno));
}

static void lx_nofile_restore(void)
{
	if (lx_nofile_saved)
		setrlimit(RLIMIT_NOFILE, &lx_nofile_orig);
}

/* The lowest fd number not open now (no fd is needed to find it). */
static int lx_lowest_free_fd(void)
{
	int fd = 0;

	while (fcntl(fd, F_GETFD) >= 0)
		fd++;
	return fd;
}

/* The highest open fd below limit, by probing: works while out of fds. */
static int lx_highest_fd(int limit)
{
	int hi = -1;

	for (int fd = 0; fd < limit; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			hi = fd;
	return hi;
}

/* 1 when no new fd can be made right now. */
static int lx_out_of_fds(void)
{
	int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno == EMFILE;
}

/* ---- a pids cgroup the worker moves into, left by .fini ---- */

static char lx_cg_home[PATH_MAX];  /* the worker's own pids cgroup */
static char lx_cg[PATH_MAX + 64];  /* the one made for the test; "" when none */

static int lx_write(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	n = n < 0 ? -errno : 0;
	close(fd);
	return (int)n;
}

/* Read a file's first line; -errno. */
static int lx_read(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* A decimal file (pids.current); "max" and errors give -1. */
static long lx_read_long(const char *path)
{
	char buf[64];

	if (lx_read(path, buf, sizeof buf) < 0 || !strcmp(buf, "max"))
		return -1;
	return strtol(buf, NULL, 10);
}

/*
 * The directory of this process's cgroup in the hierarchy that has the pids
 * controller: a cgroup v1 "pids" mount, or the cgroup2 mount when pids is
 * among its controllers. 0, or -1 with the reason in why.
 */
static int lx_pids_home(char *out, size_t len, char *why, size_t wlen)
{
	char line[4096], mnt_v1[PATH_MAX] = "", mnt_v2[PATH_MAX] = "";
	char rel_v1[PATH_MAX] = "", rel_v2[PATH_MAX] = "", ctl[512];
	FILE *fp = fopen("/proc/self/mountinfo", "re");

	if (!fp) {
		snprintf(why, wlen, "/proc/self/mountinfo: %s", strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, fp)) {
		char root[PATH_MAX], mnt[PATH_MAX], fstype[64], super[1024];
		char *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 ||
		    sscanf(dash + 3, "%63s %*s %1023s", fstype, super) != 2)
			continue;
		if (!strcmp(fstype, "cgroup") && strstr(super, "pids") && !mnt_v1[0])
			snprintf(mnt_v1, sizeof mnt_v1, "%s", mnt);
		if (!strcmp(fstype, "cgroup2") && !mnt_v2[0])
			snprintf(mnt_v2, sizeof mnt_v2, "%s", mnt);
	}
	fclose(fp);
	fp = fopen("/proc/self/cgroup", "re");
	if (!fp) {
		snprintf(why, wlen, "/proc/self/cgroup: %s", strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, fp)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		c2[strcspn(c2, "\n")] = '\0';
		*c2 = '\0';
		if (!strcmp(c1 + 1, "") && line[0] == '0')
			snprintf(rel_v2, sizeof rel_v2, "%s", c2 + 1);
		else if (strstr(c1 + 1, "pids"))
			snprintf(rel_v1, sizeof rel_v1, "%s", c2 + 1);
	}
	fclose(fp);
	if (mnt_v1[0] && rel_v1[0]) {
		snprintf(out, len, "%s%s", mnt_v1, strcmp(rel_v1, "/") ? rel_v1 : "");
		return 0;
	}
	if (mnt_v2[0] && rel_v2[0]) {
		char path[PATH_MAX + 64];

		snprintf(out, len, "%s%s", mnt_v2, strcmp(rel_v2, "/") ? rel_v2 : "");
		snprintf(path, sizeof path, "%s/cgroup.controllers", out);
		if (lx_read(path, ctl, sizeof ctl) == 0 && strstr(ctl, "pids"))
			return 0;
		snprintf(why, wlen, "cgroup2 at %s has no pids controller", out);
		return -1;
	}
	snprintf(why, wlen, "no pids cgroup hierarchy mounted");
	return -1;
}

/*
 * Move this worker into a new pids cgroup below its own, limited to what it
 * holds now plus extra tasks. 0, or -1 with the reason in why (nothing is
 * left behind then).
 */
static int lx_cg_enter(int extra, char *why, size_t wlen)
{
	char path[PATH_MAX + 128], pid[32];
	long cur;
	int r;

	if (lx_pids_home(lx_cg_home, sizeof lx_cg_home, why, wlen) < 0)
		return -1;
	snprintf(lx_cg, sizeof lx_cg, "%s/pidring-limits.%d", lx_cg_home, (int)getpid());
	if (mkdir(lx_cg, 0755) < 0) {
		snprintf(why, wlen, "mkdir %s: %s", lx_cg, strerror(errno));
		lx_cg[0] = '\0';
		return -1;
	}
	snprintf(path, sizeof path, "%s/pids.max", lx_cg);
	if (access(path, W_OK) < 0) {
		snprintf(why, wlen, "%s: %s (pids controller not enabled there)", path,
			 strerror(errno));
		goto fail;
	}
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	snprintf(path, sizeof path, "%s/cgroup.procs", lx_cg);
	r = lx_write(path, pid);
	if (r < 0) {
		snprintf(why, wlen, "moving into %s: %s", lx_cg, strerror(-r));
		goto fail;
	}
	snprintf(path, sizeof path, "%s/pids.current", lx_cg);
	cur = lx_read_long(path);
	snprintf(path, sizeof path, "%s/pids.max", lx_cg);
	snprintf(pid, sizeof pid, "%ld", cur + extra);
	if (cur < 1 || (r = lx_write(path, pid)) < 0) {
		snprintf(why, wlen, "pids.current %ld; setting pids.max: %s", cur,
			 cur < 1 ? "unreadable" : strerror(-r));
		goto fail;
	}
	return 0;
fail:
	snprintf(path, sizeof path, "%s/cgroup.procs", lx_cg_home);
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	lx_write(path, pid);
	rmdir(lx_cg);
	lx_cg[0] = '\0';
	return -1;
}

/* Back to the worker's own cgroup; the test's cgroup is removed (it must be
 * empty by then: every child reaped). 0 or -errno. */
static int lx_cg_leave(void)
{
	char path[PATH_MAX + 128], pid[32];
	int r;

	if (!lx_cg[0])
		return 0;
	snprintf(path, sizeof path, "%s/cgroup.procs", lx_cg_home);
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	r = lx_write(path, pid);
	if (!r && rmdir(lx_cg) < 0)
		r = -errno;
	lx_cg[0] = '\0';
	return r;
}

static void lx_fini(void)
{
	lx_nofile_restore();
	fx_abort_cleanup();
	lx_cg_leave();
}

/* ---- bookkeeping: every id, its events, in order ---- */

struct lrec {
	pidring_id id;
	int kind;
	int ready, done;           /* events seen */
	int ready_after_done;
	int reason, code, status;  /* of the DONE */
	int cancel_ret;            /* 1: never cancelled */
	int exit_code;             /* what the child was told to exit with, or -1 */
};

struct lbook {
	struct lrec *r;
	int n, cap;
	int unknown;               /* events for ids we never got from a spawn */
	pidring_id first_unknown;
	int events;
};

static struct lbook lx_book;       /* static: a failed assert must not leak it */

static void lb_reset(struct lbook *b, int cap)
{
	free(b->r);
	memset(b, 0, sizeof(*b));
	b->r = calloc((size_t)cap, sizeof(*b->r));
	cr_assert_not_null(b->r);
	b->cap = cap;
}

static struct lrec *lb_add(struct lbook *b, pidring_id id, int kind)
{
	struct lrec *r;

	cr_assert_lt(b->n, b->cap, "book full");
	r = &b->r[b->n++];
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->kind = kind;
	r->cancel_ret = 1;
	r->exit_code = -1;
	return r;
}

static struct lrec *lb_find(struct lbook *b, pidring_id id)
{
	for (int i = b->n - 1; i >= 0; i--)
		if (b->r[i].id == id)
			return &b->r[i];
	return NULL;
}

static void lb_feed(struct lbook *b, const struct pidring_event *ev, int n)
{
	for (int i = 0; i < n; i++) {
		struct lrec *r = lb_find(b, ev[i].id);

		b->events++;
		if (!r) {
			if (!b->unknown++)
				b->first_unknown = ev[i].id;
			continue;
		}
		if (ev[i].type == PIDRING_EV_READY) {
			r->ready++;
			if (r->done)
				r->ready_after_done++;
		} else {
			r->done++;
			r->reason = ev[i].reason;
			r->code = ev[i].code;
			r->status = ev[i].status;
		}
	}
}

/* One pidring_wait into the book; returns what it returned. */
static int lb_poll(struct fx *f, struct lbook *b, int timeout_ms)
{
	struct pidring_event ev[64];
	int r;

	do
		r = pidring_wait(f->pr, ev, 64, timeout_ms);
	while (r == -EINTR);
	if (r > 0)
		lb_feed(b, ev, r);
	return r;
}

/* Collect events for ms (no proc needs to be done). */
static void lb_collect_for(struct fx *f, struct lbook *b, int ms)
{
	uint64_t end = th_now_ns() + (uint64_t)ms * 1000000u;

	for (;;) {
		uint64_t now = th_now_ns();
		int r;

		if (now >= end)
			return;
		r = lb_poll(f, b, (int)((end - now) / 1000000u) + 1);
		cr_assert_geq(r, 0, "pidring_wait: %d (%s)", r, strerror(-r));
		if (r == 0 && pidring_live(f->pr) == 0)
			return;
	}
}

/* Collect until nothing is live and nothing is queued; fails past timeout_ms. */
static void lb_drain(struct fx *f, struct lbook *b, int timeout_ms)
{
	uint64_t end = th_now_ns() + (uint64_t)timeout_ms * 1000000u;

	for (;;) {
		uint64_t now = th_now_ns();
		int r;

		cr_assert_lt(now, end, "drain: still %u live after %d ms",
			     pidring_live(f->pr), timeout_ms);
		r = lb_poll(f, b, (int)((end - now) / 1000000u) + 1);
		cr_assert_geq(r, 0, "pidring_wait: %d (%s)", r, strerror(-r));
		if (r == 0 && pidring_live(f->pr) == 0)
			return;
	}
}

/*
 * The rule for every id in the book: exactly one DONE, at most one READY and
 * never after the DONE; no event for an id we were not given.
 */
static void lb_check(const struct lbook *b)
{
	int bad = 0;

	cr_expect_eq(b->unknown, 0, "%d event(s) for ids no spawn returned (first %#llx)",
		     b->unknown, (unsigned long long)b->first_unknown);
	for (int i = 0; i < b->n; i++) {
		const struct lrec *r = &b->r[i];

		if (r->done == 1 && r->ready <= 1 && !r->ready_after_done)
			continue;
		if (bad++ < 5)
			cr_expect(0, "id %#llx (%s, #%d): %d DONE, %d READY, %d READY after DONE",
				  (unsigned long long)r->id, kind_name[r->kind], i, r->done,
				  r->ready, r->ready_after_done);
	}
	cr_expect_eq(bad, 0, "%d of %d ids broke exactly-one-DONE", bad, b->n);
}

/* Spawn, READY, cancel, DONE: the engine still serves. */
static void lx_normal_service(struct fx *f, int kind)
{
	struct pidring_spawn s = lx_spec(kind, 0);
	pidring_id id = 0;
	int r = pidring_spawn(f->pr, &s, &id);

	cr_assert_eq(r, 0, "%s spawn after recovery: %d (%s)", kind_name[kind], r,
		     strerror(-r));
	t_expect_ready(f, id, NULL);
	cr_assert_eq(pidring_cancel(f->pr, id), 0);
	t_expect_done(f, id, T_EV_MS, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	t_expect_gone(f, id);
}

/* =====================================================================
 * 1. RLIMIT_NOFILE
 * ===================================================================== */

/*
 * Spawning with the soft fd limit a few fds above what the engine holds:
 * spawns (BIND, NOTIFY, EXEC in turn, events polled in between so that BIND
 * probes take their fds too) run until one fails. The failure is -EMFILE:
 * clone(CLONE_PIDFD) finds no fd for the pidfd, or socket() for the engine's
 * notify socket / inotify_init1 for the first BIND fail the same way. It
 * yields no event, and every kind fails alike while the fds are gone. Every
 * successful spawn gets exactly one DONE after a cancel, drained with the fds
 * still exhausted (a reap chain needs none). With the limit back, normal
 * service.
 */
BOTH(limits, nofile_spawn_until_emfile)
{
	enum { EXTRA = 12, MAXN = 128 };
	static struct fx f;
	struct lbook *b = &lx_book;
	int hi, limit, r = 0, nok = 0, failed_kind = -1, first_err;

	lb_reset(b, MAXN);
	lx_open(&f, flags, 0, 0, NULL);
	lx_nofile_save();
	hi = lx_highest_fd(4096);
	limit = hi + 1 + EXTRA;
	lx_nofile_set((rlim_t)limit);

	for (int i = 0; i < MAXN; i++) {
		int kind = (i + 1) % K_NKINDS;        /* BIND first: it opens inotify */
		struct pidring_spawn s = lx_spec(kind, 0);
		pidring_id id = 0;

		r = pidring_spawn(f.pr, &s, &id);
		if (r) {
			failed_kind = kind;
			break;
		}
		cr_assert_neq(id, 0);
		lb_add(b, id, kind);
		nok++;
		r = lb_poll(&f, b, 0);
		cr_assert_geq(r, 0, "pidring_wait while filling: %d (%s)", r, strerror(-r));
		r = 0;
	}
	cr_assert_neq(r, 0, "%d spawns with the fd limit at %d and none failed", MAXN, limit);
	first_err = r;
	cr_expect_eq(r, -EMFILE, "spawn #%d (%s) with the fd limit at %d: %d (%s), expected "
		     "-EMFILE", nok + 1, kind_name[failed_kind], limit, r, strerror(-r));
	cr_expect_geq(nok, 1, "not one spawn fit under the fd limit %d (highest fd was %d)",
		      limit, hi);
	cr_expect_eq(pidring_live(f.pr), (unsigned)nok);

	/* While out of fds, every kind fails the same way and leaves nothing. */
	for (int kind = 0; kind < K_NKINDS; kind++) {
		struct pidring_spawn s = lx_spec(kind, 0);
		pidring_id id = 0;
		int hi_before = lx_highest_fd(limit + 64);

		if (!lx_out_of_fds())
			break;      /* a probe's fd came back meanwhile: nothing to test */
		r = pidring_spawn(f.pr, &s, &id);
		cr_expect_eq(r, -EMFILE, "%s spawn while out of fds: %d (%s)", kind_name[kind],
			     r, strerror(-r));
		if (r == 0)
			lb_add(b, id, kind);
		else
			cr_expect_eq(lx_highest_fd(limit + 64), hi_before,
				     "a failed %s spawn changed the fd table", kind_name[kind]);
		cr_expect_eq(pidring_live(f.pr), (unsigned)b->n);
	}

	/* Readiness with whatever fds come and go, then cancel everything and
	 * drain with the limit still low. */
	lb_collect_for(&f, b, 300);
	for (int i = 0; i < b->n; i++) {
		b->r[i].cancel_ret = pidring_cancel(f.pr, b->r[i].id);
		cr_expect_eq(b->r[i].cancel_ret, 0, "cancel #%d: %d", i, b->r[i].cancel_ret);
	}
	{
		int ready[K_NKINDS] = { 0 }, all[K_NKINDS] = { 0 };

		for (int i = 0; i < b->n; i++) {
			all[b->r[i].kind]++;
			ready[b->r[i].kind] += b->r[i].ready;
		}
		cr_log_info("nofile (flags %#x): limit %d, %d spawns then %d from a %s spawn; "
			    "ready before cancel: EXEC %d/%d BIND %d/%d NOTIFY %d/%d", flags,
			    limit, nok, first_err, kind_name[failed_kind], ready[K_EXEC], all[K_EXEC],
			    ready[K_BIND], all[K_BIND], ready[K_NOTIFY], all[K_NOTIFY]);
	}
	lb_drain(&f, b, T_DRAIN_MS);
	lb_check(b);
	for (int i = 0; i < b->n; i++)
		cr_expect(b->r[i].reason == PIDRING_CANCELLED && b->r[i].code == CLD_KILLED &&
			  b->r[i].status == SIGKILL,
			  "#%d (%s): reason %d code %d status %d, expected CANCELLED by SIGKILL",
			  i, kind_name[b->r[i].kind], b->r[i].reason, b->r[i].code,
			  b->r[i].status);

	lx_nofile_set(lx_nofile_orig.rlim_cur);
	for (int kind = 0; kind < K_NKINDS; kind++)
		lx_normal_service(&f, kind);
	fx_close(&f);
}

/*
 * The engine opens some fds on first use: the inotify fd with the first BIND
 * spawn, the notify socket with the first NOTIFY spawn, the eventfd with the
 * first pidring_fd. Out of fds, each of those fails cleanly (-EMFILE, no
 * event, no proc). With one fd left, the first NOTIFY spawn gets its socket
 * (kept: it is the engine's) but no pidfd, and the others then find no fd:
 * -EMFILE again, all of them. With the limit back, all of it works.
 */
BOTH(limits, nofile_first_use)
{
	static struct fx f;
	int low, r;

	lx_open(&f, flags, 0, 0, NULL);
	lx_nofile_save();
	low = lx_lowest_free_fd();
	lx_nofile_set((rlim_t)low);
	cr_assert(lx_out_of_fds());
	for (int kind = 0; kind < K_NKINDS; kind++) {
		struct pidring_spawn s = lx_spec(kind, 0);
		pidring_id id = 0;

		r = pidring_spawn(f.pr, &s, &id);
		cr_expect_eq(r, -EMFILE, "%s spawn with no fd: %d (%s)", kind_name[kind], r,
			     strerror(-r));
		cr_expect_eq(id, 0);
		cr_expect_eq(pidring_live(f.pr), 0u);
	}
	r = pidring_fd(f.pr);
	cr_expect_eq(r, -EMFILE, "pidring_fd with no fd: %d", r);
	cr_expect_eq(lx_lowest_free_fd(), low, "a failed call kept an fd");

	lx_nofile_set((rlim_t)low + 1);
	for (int kind = K_NKINDS - 1; kind >= 0; kind--) {
		struct pidring_spawn s = lx_spec(kind, 0);

		r = pidring_spawn(f.pr, &s, NULL);
		cr_expect_eq(r, -EMFILE, "%s spawn with one fd: %d (%s)", kind_name[kind], r,
			     strerror(-r));
		cr_expect_eq(pidring_live(f.pr), 0u);
	}
	t_expect_quiet(&f, 0);

	lx_nofile_set(lx_nofile_orig.rlim_cur);
	cr_expect_geq(pidring_fd(f.pr), 0);
	for (int kind = 0; kind < K_NKINDS; kind++)
		lx_normal_service(&f, kind);
	fx_close(&f);
}

/*
 * Set the soft RLIMIT_NOFILE so that exactly one fd is free and spawn s
 * there: the spawn must succeed and its pidfd take that last fd. Returns the
 * fd number it took (the lowest one free before the spawn).
 */
static int lx_spawn_at_edge(struct fx *f, const struct pidring_spawn *s, pidring_id *id,
			    const char *what)
{
	int low = lx_lowest_free_fd();
	int r;

	lx_nofile_set((rlim_t)low + 1);
	r = pidring_spawn(f->pr, s, id);
	cr_assert_eq(r, 0, "%s with one fd left (limit %d): %d (%s)", what, low + 1, r,
		     strerror(-r));
	cr_assert(lx_out_of_fds(), "%s: the pidfd did not take the last fd (limit %d)", what,
		  low + 1);
	return low;
}

/*
 * A BIND proc whose probe socket cannot be made: the soft limit is set so
 * that exactly one fd is free, the spawn's pidfd takes it, and the child
 * binds 200 ms later. No READY may come without a probe; once the limit is
 * raised the proc becomes READY (or, at worst, ends READY_TIMEOUT). Then a
 * second one is left at the edge for good: it must end READY_TIMEOUT, its
 * reap chain run without a single fd, its socket unlinked. Never a hang.
 */
BOTH(limits, nofile_bind_probe_at_the_edge)
{
	static struct fx f;
	struct pidring_spawn s = t_spec(ARGV("--bind-after-ms", "200"), NULL);
	struct pidring_event ev;
	struct stat st;
	char path[256];
	pidring_id a = 0, b = 0;
	int r, low;

	lx_open(&f, flags, 0, 0, NULL);
	lx_nofile_save();
	/* The engine's inotify fd exists from the first BIND spawn on. */
	lx_normal_service(&f, K_BIND);

	s.ready = PIDRING_READY_BIND;
	s.ready_timeout_ms = 5000;
	lx_spawn_at_edge(&f, &s, &a, "BIND spawn");
	cr_assert_gt(pidring_socket_path(f.pr, a, path, sizeof path), 0);

	/* The child binds at 200 ms; without an fd there is no probe and no READY. */
	r = pidring_wait(f.pr, &ev, 1, 700);
	cr_expect_eq(r, 0, "out of fds, yet pidring_wait -> %d (type %d reason %d)", r,
		     r > 0 ? (int)ev.type : 0, r > 0 ? (int)ev.reason : 0);
	cr_expect_eq(stat(path, &st), 0, "the child did not bind %s: %s", path,
		     strerror(errno));
	cr_expect(lx_out_of_fds());

	/* Fds again: READY (the 5 s deadline is far), or at worst READY_TIMEOUT. */
	lx_nofile_set(lx_nofile_orig.rlim_cur);
	ev = t_next(&f, 5000 + T_EV_MS);
	cr_assert_eq(ev.id, a);
	if (ev.type == PIDRING_EV_READY) {
		cr_assert_eq(pidring_cancel(f.pr, a), 0);
		t_expect_done(&f, a, T_EV_MS, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	} else {
		cr_expect_eq(ev.reason, PIDRING_READY_TIMEOUT,
			     "DONE without READY, reason %d", ev.reason);
	}
	t_expect_gone(&f, a);
	cr_expect_neq(stat(path, &st), 0, "%s left behind", path);

	/* At the edge for good: the deadline must end it. */
	s.ready_timeout_ms = 400;
	low = lx_spawn_at_edge(&f, &s, &b, "second BIND spawn");
	cr_assert_gt(pidring_socket_path(f.pr, b, path, sizeof path), 0);
	t_expect_done(&f, b, 400 + T_EV_MS, PIDRING_READY_TIMEOUT, CLD_KILLED, SIGKILL);
	/* Its pidfd's number, closed on the ring, is the one fd free again. */
	cr_expect_eq(lx_lowest_free_fd(), low, "fd %d free after the DONE, expected %d",
		     lx_lowest_free_fd(), low);
	cr_expect_neq(stat(path, &st), 0, "%s left behind by a reap chain run without fds",
		      path);
	t_expect_gone(&f, b);

	lx_nofile_set(lx_nofile_orig.rlim_cur);
	lx_normal_service(&f, K_BIND);
	fx_close(&f);
}

/*
 * Destroy with no fd to spare: procs of every kind, one BIND proc bound but
 * unprobed (its probe socket could not be made). Destroy needs no new fd: it
 * reaps them all and removes the instance directory (sockets included).
 */
BOTH(limits, nofile_destroy_out_of_fds)
{
	static struct fx f;
	struct pidring_spawn s = t_spec(ARGV("--bind-after-ms", "100"), NULL);
	struct pidring_event ev;
	int r;

	lx_open(&f, flags, 0, 0, NULL);
	lx_nofile_save();
	for (int kind = 0; kind < K_NKINDS; kind++) {
		struct pidring_spawn k = lx_spec(kind, 0);
		pidring_id id = 0;

		r = pidring_spawn(f.pr, &k, &id);
		cr_assert_eq(r, 0, "%s spawn: %d (%s)", kind_name[kind], r, strerror(-r));
		t_expect_ready(&f, id, NULL);
	}
	s.ready = PIDRING_READY_BIND;
	lx_spawn_at_edge(&f, &s, NULL, "BIND spawn");
	r = pidring_wait(f.pr, &ev, 1, 400);     /* it binds; no probe, no READY */
	cr_expect_eq(r, 0, "out of fds, yet pidring_wait -> %d (type %d)", r,
		     r > 0 ? (int)ev.type : 0);

	r = pidring_destroy(f.pr, 10000);
	f.pr = NULL;
	cr_expect_eq(r, 0, "pidring_destroy out of fds: %d (%s)", r, strerror(-r));
	lx_nofile_set(lx_nofile_orig.rlim_cur);
	fx_close(&f);              /* no child, no fd, empty runtime dir */
}

/* =====================================================================
 * 2. RLIMIT_NPROC
 * ===================================================================== */

/*
 * Spawns until clone is refused: it must be -EAGAIN, with no event and
 * nothing left behind. Cancelling two procs makes room for exactly two more
 * (the ones cancelled are EXEC procs: no UNLINKAT, so no io-wq worker that
 * would itself take a task from the same budget), after which -EAGAIN again.
 * room: how many tasks the limit leaves for children.
 */
static void lx_nproc_body(struct fx *f, int room)
{
	struct lbook *b = &lx_book;
	struct th_baseline base;
	char extra[1024];
	int r = 0, nok = 0, nexec = 0, kids;
	pidring_id ex[2] = { 0, 0 };

	lb_reset(b, room + 16);
	for (int i = 0; i < room + 8; i++) {
		int kind = i % K_NKINDS;
		struct pidring_spawn s = lx_spec(kind, 0);
		pidring_id id = 0;

		r = pidring_spawn(f->pr, &s, &id);
		if (r)
			break;
		lb_add(b, id, kind);
		if (kind == K_EXEC && nexec < 2)
			ex[nexec++] = id;
		nok++;
	}
	cr_assert_eq(r, -EAGAIN, "spawn #%d past a task limit with room for %d: %d (%s)",
		     nok + 1, room, r, strerror(-r));
	cr_expect_eq(nok, room, "%d spawns fit in a task limit with room for %d", nok, room);
	cr_assert_geq(nexec, 2, "fewer than 2 EXEC procs fit (%d spawns)", nok);

	/* Let the binders bind, then: the refusal left nothing behind. */
	lb_collect_for(f, b, 200);
	kids = th_children(NULL, 0);
	th_baseline_take(&base);
	for (int k = 0; k < K_NKINDS; k++) {
		struct pidring_spawn s = lx_spec(k, 0);

		r = pidring_spawn(f->pr, &s, NULL);
		cr_expect_eq(r, -EAGAIN, "%s spawn at the task limit: %d (%s)", kind_name[k], r,
			     strerror(-r));
	}
	cr_expect_eq(pidring_live(f->pr), (unsigned)nok);
	cr_expect_eq(th_children(NULL, 0), kids, "a refused spawn left a child");
	r = th_extra_fds(&base, extra, sizeof extra);
	cr_expect_eq(r, 0, "a refused spawn left %d fd(s):\n%s", r, extra);
	lb_collect_for(f, b, 50);

	/* Cancel two: room for exactly two again. */
	for (int i = 0; i < 2; i++) {
		struct lrec *rec = lb_find(b, ex[i]);

		rec->cancel_ret = pidring_cancel(f->pr, ex[i]);
		cr_expect_eq(rec->cancel_ret, 0);
	}
	for (uint64_t end = th_now_ns() + T_EV_MS * 1000000ull;
	     (lb_find(b, ex[0])->done == 0 || lb_find(b, ex[1])->done == 0) &&
	     th_now_ns() < end;)
		cr_assert_geq(lb_poll(f, b, 100), 0);
	cr_assert(lb_find(b, ex[0])->done && lb_find(b, ex[1])->done,
		  "no DONE for the two cancelled procs");
	for (int i = 0; i < 2; i++) {
		pidring_id id = 0;
		struct pidring_spawn s = lx_spec(i ? K_BIND : K_EXEC, 0);

		r = pidring_spawn(f->pr, &s, &id);
		cr_expect_eq(r, 0, "spawn %d after cancelling two at the task limit: %d (%s)",
			     i, r, strerror(-r));
		if (!r)
			lb_add(b, id, i ? K_BIND : K_EXEC);
	}
	r = pidring_spawn(f->pr, &(struct pidring_spawn){ .path = th_child_path(),
				.argv = av_forever, .envp = t_envp }, NULL);
	cr_expect_eq(r, -EAGAIN, "third spawn after cancelling two: %d (%s)", r, strerror(-r));

	/* Everything that got in is ready and ends with exactly one DONE. */
	lb_collect_for(f, b, 200);
	for (int i = 0; i < b->n; i++) {
		if (b->r[i].done)
			continue;
		b->r[i].cancel_ret = pidring_cancel(f->pr, b->r[i].id);
		cr_expect_eq(b->r[i].cancel_ret, 0);
	}
	lb_drain(f, b, T_DRAIN_MS);
	lb_check(b);
	for (int i = 0; i < b->n; i++)
		cr_expect(b->r[i].ready == 1 && b->r[i].reason == PIDRING_CANCELLED,
			  "#%d (%s): %d READY, DONE reason %d", i, kind_name[b->r[i].kind],
			  b->r[i].ready, b->r[i].reason);
}

/*
 * RLIMIT_NPROC is not enforced for root, so the limit is a pids cgroup the
 * worker moves into (pids.max = the tasks it has + ROOM). Children inherit
 * the cgroup, and clone() fails with EAGAIN past pids.max.
 */
BOTH(limits, nproc_pids_cgroup)
{
	enum { ROOM = 6 };
	static struct fx f;
	char why[PATH_MAX + 256];
	int r;

	if (lx_cg_enter(ROOM, why, sizeof why) < 0) {
		cr_skip_test("no usable pids cgroup: %s", why);
		return;
	}
	lx_open(&f, flags, 0, 0, NULL);
	lx_nproc_body(&f, ROOM);
	r = pidring_destroy(f.pr, 10000);
	f.pr = NULL;
	cr_expect_eq(r, 0);
	r = lx_cg_leave();
	cr_expect_eq(r, 0, "leaving the pids cgroup: %s", strerror(-r));
	fx_close(&f);
}

/* Tasks (threads included: RLIMIT_NPROC counts them) whose real uid is uid. */
static int lx_tasks_of(uid_t uid)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		char path[300], line[256];
		FILE *fp;
		unsigned ruid;
		int threads = 0, mine = 0;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/status", de->d_name);
		fp = fopen(path, "re");
		if (!fp)
			continue;
		while (fgets(line, sizeof line, fp)) {
			if (sscanf(line, "Uid: %u", &ruid) == 1)
				mine = ruid == uid;
			else
				sscanf(line, "Threads: %d", &threads);
		}
		fclose(fp);
		if (mine)
			n += threads ? threads : 1;
	}
	closedir(d);
	return n;
}

/*
 * The same through RLIMIT_NPROC itself. As root the worker first becomes an
 * unprivileged user that owns the runtime dir (a uid of its own, 60999 or
 * 60998 by variant, so that neither the other variant nor other suites'
 * children running as nobody share its budget); the test's cleanup works as
 * that user. Not root: the limit applies as is.
 */
#define LX_NPROC_UID (60999u - flags)   /* one per variant: they may run at once */

BOTH(limits, nproc_rlimit)
{
	enum { ROOM = 6 };
	static struct fx f;
	struct rlimit rl;
	char *dir = th_mkdtemp();
	int tasks;

	if (geteuid() == 0) {
		if (lx_tasks_of(LX_NPROC_UID) != 0) {
			th_rmtree(dir);
			free(dir);
			cr_skip_test("uid %u already runs processes here", LX_NPROC_UID);
			return;
		}
		/* This worker and its runners run as that uid from here on. */
		th_stage_child(LX_NPROC_UID);
		cr_assert_eq(chown(dir, LX_NPROC_UID, LX_NPROC_UID), 0, "chown: %s",
			     strerror(errno));
		cr_assert_eq(setgroups(0, NULL), 0, "setgroups: %s", strerror(errno));
		cr_assert_eq(setresgid(LX_NPROC_UID, LX_NPROC_UID, LX_NPROC_UID), 0);
		cr_assert_eq(setresuid(LX_NPROC_UID, LX_NPROC_UID, LX_NPROC_UID), 0);
		/* A uid change clears dumpable, and with it our access to
		 * /proc/self/fd, which the leak check reads. */
		cr_assert_eq(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), 0);
	}
	tasks = lx_tasks_of(getuid());
	cr_assert_geq(tasks, 1);
	cr_assert_eq(getrlimit(RLIMIT_NPROC, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)(tasks + ROOM)) {
		th_unstage_child();
		th_rmtree(dir);
		free(dir);
		cr_skip_test("RLIMIT_NPROC hard limit %llu, %d tasks of uid %d already",
			     (unsigned long long)rl.rlim_max, tasks, (int)getuid());
		return;
	}
	rl.rlim_cur = (rlim_t)(tasks + ROOM);
	cr_assert_eq(setrlimit(RLIMIT_NPROC, &rl), 0, "setrlimit(NPROC): %s", strerror(errno));
	lx_open(&f, flags, 0, 0, dir);
	lx_nproc_body(&f, ROOM);
	fx_close(&f);
	th_unstage_child();
}

/* =====================================================================
 * 3. An 8-entry ring under 1000 spawns and cancels
 * ===================================================================== */

/*
 * SQ 8 (CQ 32), up to 200 procs live, BIND and EXEC mixed, some exiting on
 * their own, others cancelled at random. The engine makes room in the SQ by
 * itself: no spawn and no cancel may fail, and every id ends with exactly one
 * DONE.
 */
BOTH(limits, ring8_thousand_spawns)
{
	enum { N = 1000, LIVE = 200 };
	static struct fx f;
	struct lbook *b = &lx_book;
	unsigned seed = 0x5eed1000u ^ flags;
	int cancels = 0, maxlive = 0, natural = 0;

	lb_reset(b, N);
	lx_open(&f, flags, 8, 256, NULL);
	for (int i = 0; i < N; i++) {
		int kind = rand_r(&seed) % 2 ? K_BIND : K_EXEC;
		char bind_ms[16], after_ms[16];
		char *av_b[] = { "pidring-child", "--bind-after-ms", bind_ms, NULL };
		char *av_x[] = { "pidring-child", "--after-ms", after_ms, NULL };
		struct pidring_spawn s = lx_spec(kind, 0);
		struct lrec *rec;
		pidring_id id = 0;
		int r, exits = kind == K_EXEC && rand_r(&seed) % 3 == 0;

		snprintf(bind_ms, sizeof bind_ms, "%d", rand_r(&seed) % 20);
		snprintf(after_ms, sizeof after_ms, "%d", rand_r(&seed) % 50);
		if (kind == K_BIND)
			s.argv = av_b;
		else if (exits)
			s.argv = av_x;
		r = pidring_spawn(f.pr, &s, &id);
		cr_assert_eq(r, 0, "spawn #%d (%s, %u live): %d (%s)", i, kind_name[kind],
			     pidring_live(f.pr), r, strerror(-r));
		rec = lb_add(b, id, kind);
		if (exits) {
			rec->exit_code = 0;
			natural++;
		}
		if ((int)pidring_live(f.pr) > maxlive)
			maxlive = (int)pidring_live(f.pr);

		/* Cancel at random, and always while LIVE are up. */
		while (rand_r(&seed) % 3 == 0 || (int)pidring_live(f.pr) >= LIVE) {
			int tries = 0, j;

			do
				j = rand_r(&seed) % b->n;
			while ((b->r[j].done || b->r[j].cancel_ret != 1) && ++tries < 64);
			if (b->r[j].done || b->r[j].cancel_ret != 1) {
				if ((int)pidring_live(f.pr) < LIVE)
					break;
				for (j = 0; j < b->n; j++)
					if (!b->r[j].done && b->r[j].cancel_ret == 1)
						break;
				cr_assert_lt(j, b->n, "%u live but nothing to cancel",
					     pidring_live(f.pr));
			}
			r = pidring_cancel(f.pr, b->r[j].id);
			b->r[j].cancel_ret = r;
			/* -ESRCH only for a proc whose DONE is queued, unread. */
			cr_assert(r == 0 || r == -ESRCH, "cancel of #%d: %d (%s)", j, r,
				  strerror(-r));
			cancels++;
			r = lb_poll(&f, b, (int)pidring_live(f.pr) >= LIVE ? 10 : 0);
			cr_assert_geq(r, 0, "pidring_wait: %d (%s)", r, strerror(-r));
		}
		r = lb_poll(&f, b, 0);
		cr_assert_geq(r, 0, "pidring_wait: %d (%s)", r, strerror(-r));
	}
	for (int j = 0; j < b->n; j++) {
		if (b->r[j].done || b->r[j].cancel_ret != 1)
			continue;
		b->r[j].cancel_ret = pidring_cancel(f.pr, b->r[j].id);
		cr_expect(b->r[j].cancel_ret == 0 || b->r[j].cancel_ret == -ESRCH,
			  "final cancel of #%d: %d", j, b->r[j].cancel_ret);
	}
	lb_drain(&f, b, T_DRAIN_MS * 2);
	lb_check(b);
	for (int j = 0, bad = 0; j < b->n; j++) {
		const struct lrec *r = &b->r[j];
		int ok;

		if (r->cancel_ret == -ESRCH)       /* was done already */
			ok = r->reason != PIDRING_CANCELLED;
		else if (r->exit_code >= 0)      /* raced its own exit */
			ok = r->reason == PIDRING_CANCELLED || r->reason == PIDRING_EXITED;
		else      /* a binder may be cancelled before it was ready */
			ok = r->reason == PIDRING_CANCELLED && r->status == SIGKILL &&
			     (r->ready == 1 || r->kind == K_BIND);
		if (!ok && bad++ < 5)
			cr_expect(0, "#%d (%s%s, cancel %d): reason %d code %d status %d ready %d",
				  j, kind_name[r->kind], r->exit_code >= 0 ? ", exits" : "",
				  r->cancel_ret, r->reason, r->code, r->status, r->ready);
	}
	cr_expect_eq(pidring_live(f.pr), 0u);
	cr_log_info("ring8 (flags %#x): %d spawns, %d cancels, %d exiting on their own, "
		    "at most %d live", flags, N, cancels, natural, maxlive);
	fx_close(&f);
}

/* =====================================================================
 * 4. CQ overflow
 * ===================================================================== */

/*
 * 500 children spawned on an 8-entry ring (CQ 32) all exit at the same
 * instant, and nothing enters the ring until they have all exited: their 500
 * exit completions are all due at once, against a 32-entry CQ. None may be
 * lost: 500 READY (EXEC) and exactly 500 DONE, each with its own exit code.
 * (Whether the CQ really overflows here is the kernel's business: see
 * cq_overflow_500_cancels for a burst that does, checked.)
 */
BOTH(limits, cq_overflow_500_exits)
{
	enum { N = 500, AT_MS = 1000 };
	static struct fx f;
	struct lbook *b = &lx_book;
	uint64_t t0, spawned_ms;
	int live_kids = -1;

	lb_reset(b, N);
	lx_open(&f, flags, 8, 0, NULL);
	t0 = th_now_ns();
	for (int i = 0; i < N; i++) {
		char after[16], code[16];
		uint64_t el = (th_now_ns() - t0) / 1000000u;
		struct pidring_spawn s;
		pidring_id id = 0;
		int r;

		/* Every child exits at t0 + AT_MS, whenever it was started. */
		snprintf(after, sizeof after, "%llu",
			 (unsigned long long)(el < AT_MS ? AT_MS - el : 0));
		snprintf(code, sizeof code, "%d", i % 256);
		s = t_spec(ARGV("--after-ms", after, "--exit", code), NULL);
		r = pidring_spawn(f.pr, &s, &id);
		cr_assert_eq(r, 0, "spawn #%d: %d (%s)", i, r, strerror(-r));
		lb_add(b, id, K_EXEC)->exit_code = i % 256;
	}
	spawned_ms = (th_now_ns() - t0) / 1000000u;

	/* Wait (without entering the ring) until none is running, then 500 ms. */
	for (uint64_t end = th_now_ns() + 20000000000ull; th_now_ns() < end;) {
		int kids = th_children(NULL, 0), zombies = th_zombie_children();

		live_kids = kids - zombies;
		if (live_kids <= 0)
			break;
		usleep(50000);
	}
	cr_assert_leq(live_kids, 0, "%d children still running", live_kids);
	usleep(500000);
	cr_expect_eq(pidring_live(f.pr), (unsigned)N);

	lb_drain(&f, b, T_DRAIN_MS);
	cr_expect_eq(b->events, 2 * N, "%d events for %d procs", b->events, N);
	lb_check(b);
	for (int i = 0, bad = 0; i < N; i++) {
		const struct lrec *r = &b->r[i];

		if (r->ready == 1 && r->reason == PIDRING_EXITED && r->code == CLD_EXITED &&
		    r->status == r->exit_code)
			continue;
		if (bad++ < 5)
			cr_expect(0, "#%d: ready %d reason %d code %d status %d, expected "
				  "EXITED with %d", i, r->ready, r->reason, r->code, r->status,
				  r->exit_code);
	}
	cr_log_info("cq overflow (flags %#x): %d spawns took %llu ms", flags, N,
		    (unsigned long long)spawned_ms);
	fx_close(&f);
}

/*
 * Entries now on the CQ overflow list of this process's io_uring instances
 * (the engine's ring is the only one), from /proc/self/fdinfo; -1 when no
 * ring or no such field is found.
 */
static int lx_cq_overflow_entries(void)
{
	int total = -1;

	for (int fd = 0; fd < 4096; fd++) {
		char path[64], link[64], line[256];
		ssize_t n;
		FILE *fp;
		int in_list = 0;

		if (fcntl(fd, F_GETFD) < 0)
			continue;
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		n = readlink(path, link, sizeof link - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, "anon_inode:[io_uring]"))
			continue;
		snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
		fp = fopen(path, "re");
		if (!fp)
			continue;
		while (fgets(line, sizeof line, fp)) {
			if (!strncmp(line, "CqOverflowList:", 15)) {
				in_list = 1;
				if (total < 0)
					total = 0;
			} else if (in_list && strstr(line, "user_data=")) {
				total++;
			} else if (in_list) {
				in_list = 0;
			}
		}
		fclose(fp);
	}
	return total;
}

/*
 * The exits above reach the CQ through task work, which a DEFER_TASKRUN
 * kernel runs a few (20 on 6.18) per ring entry, so they may never overflow
 * it. Cancels of procs still binding do: each chain removes the proc's ready
 * deadline, and a TIMEOUT_REMOVE completes inline, at submit, with the
 * timeout's own CQE. The chains wait in the 8-entry SQ for the next entry
 * into the ring, so 500 cancels without a pidring_wait flush it again and
 * again, and put ~1000 CQEs on a 32-entry CQ (the overflow list is checked
 * in /proc/self/fdinfo); the drain must still give exactly 500 DONE.
 */
BOTH(limits, cq_overflow_500_cancels)
{
	enum { N = 500 };
	static struct fx f;
	struct lbook *b = &lx_book;
	int over;

	lb_reset(b, N);
	lx_open(&f, flags, 8, 0, NULL);
	for (int i = 0; i < N; i++) {
		struct pidring_spawn s = t_spec(av_never, NULL);
		pidring_id id = 0;
		int r;

		s.ready = PIDRING_READY_BIND;
		s.ready_timeout_ms = 600000;
		r = pidring_spawn(f.pr, &s, &id);
		cr_assert_eq(r, 0, "spawn #%d: %d (%s)", i, r, strerror(-r));
		lb_add(b, id, K_BIND);
	}
	lb_collect_for(&f, b, 100);      /* nothing comes; the CQ emptied */
	for (int i = 0; i < N; i++) {
		b->r[i].cancel_ret = pidring_cancel(f.pr, b->r[i].id);
		cr_assert_eq(b->r[i].cancel_ret, 0, "cancel #%d: %d (%s)", i,
			     b->r[i].cancel_ret, strerror(-b->r[i].cancel_ret));
	}
	over = lx_cq_overflow_entries();
	cr_log_info("cq overflow by cancels (flags %#x): %d CQEs on the overflow list", flags,
		    over);
	/* Without the overflow the drain below proves far less. */
	cr_expect_gt(over, 0, "500 cancels did not overflow the CQ (flags %#x)", flags);
	lb_drain(&f, b, T_DRAIN_MS);
	cr_expect_eq(b->events, N, "%d events for %d procs", b->events, N);
	lb_check(b);
	for (int i = 0, bad = 0; i < N; i++) {
		const struct lrec *r = &b->r[i];

		if (r->ready == 0 && r->reason == PIDRING_CANCELLED && r->code == CLD_KILLED &&
		    r->status == SIGKILL)
			continue;
		if (bad++ < 5)
			cr_expect(0, "#%d: ready %d reason %d code %d status %d", i, r->ready,
				  r->reason, r->code, r->status);
	}
	cr_expect_eq(lx_cq_overflow_entries() > 0, 0, "CQEs left on the overflow list");
	fx_close(&f);
}

/*
 * Destroy on an 8-entry ring with 200 procs of every kind, some still
 * binding or waiting for READY=1: every kill chain has to find room in the
 * SQ, and destroy must reap them all in time.
 */
BOTH(limits, ring8_destroy_200_live)
{
	enum { N = 200 };
	static struct fx f;
	int r;

	lb_reset(&lx_book, 1);           /* events only polled, for none we track */
	lx_open(&f, flags, 8, 0, NULL);
	for (int i = 0; i < N; i++) {
		struct pidring_spawn s = lx_spec(i % K_NKINDS, 0);

		if (i % 10 == 9)          /* and some that never get ready */
			s.argv = av_never;
		r = pidring_spawn(f.pr, &s, NULL);
		cr_assert_eq(r, 0, "spawn #%d (%s): %d (%s)", i, kind_name[i % K_NKINDS], r,
			     strerror(-r));
		if (i % 16 == 0)
			cr_assert_geq(lb_poll(&f, &lx_book, 0), 0);
	}
	cr_expect_eq(pidring_live(f.pr), (unsigned)N);
	fx_close(&f);              /* destroy(10000) == 0, then the leak check */
}

/* =====================================================================
 * 5. Ten thousand live procs
 * ===================================================================== */

/* Room for n more tasks here, or the reason there is not. */
static int lx_room_for_tasks(long n, char *why, size_t wlen)
{
	char buf[256], home[PATH_MAX], path[PATH_MAX + 32], w2[PATH_MAX + 64];
	long pid_max, threads_max, tasks = -1, cur, max;
	FILE *fp;

	if (lx_read("/proc/sys/kernel/pid_max", buf, sizeof buf) < 0 ||
	    (pid_max = strtol(buf, NULL, 10)) <= 0) {
		snprintf(why, wlen, "cannot read kernel.pid_max");
		return 0;
	}
	threads_max = lx_read("/proc/sys/kernel/threads-max", buf, sizeof buf) < 0 ? -1 :
		      strtol(buf, NULL, 10);
	fp = fopen("/proc/loadavg", "re");
	if (fp) {
		if (fscanf(fp, "%*s %*s %*s %*d/%ld", &tasks) != 1)
			tasks = -1;
		fclose(fp);
	}
	if (tasks < 0)
		tasks = 0;
	if (pid_max - 300 - tasks < n) {
		snprintf(why, wlen, "kernel.pid_max %ld with %ld tasks running", pid_max, tasks);
		return 0;
	}
	if (threads_max > 0 && threads_max - tasks < n) {
		snprintf(why, wlen, "kernel.threads-max %ld with %ld tasks running",
			 threads_max, tasks);
		return 0;
	}
	if (lx_pids_home(home, sizeof home, w2, sizeof w2) == 0) {
		snprintf(path, sizeof path, "%s/pids.max", home);
		max = lx_read_long(path);
		snprintf(path, sizeof path, "%s/pids.current", home);
		cur = lx_read_long(path);
		if (max >= 0 && cur >= 0 && max - cur < n) {
			snprintf(why, wlen, "pids cgroup %s: pids.max %ld, pids.current %ld",
				 home, max, cur);
			return 0;
		}
	}
	if (geteuid() != 0) {
		struct rlimit rl;

		if (getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
		    rl.rlim_max < (rlim_t)(n + lx_tasks_of(getuid()))) {
			snprintf(why, wlen, "RLIMIT_NPROC hard limit %llu",
				 (unsigned long long)rl.rlim_max);
			return 0;
		}
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NPROC, &rl);
	}
	return 1;
}

Test(limits, ten_thousand_live, .timeout = 120)
{
	enum { N = 10000, NEED_FDS = 12000 };
	static struct fx f;
	char why[PATH_MAX + 256];
	struct pidring_event ev[256];
	uint64_t t0, t_first = 0, t_last = 0, t_spawned, t_destroyed;
	int r, kids;

	lx_nofile_save();
	if (lx_nofile_orig.rlim_max != RLIM_INFINITY && lx_nofile_orig.rlim_max < NEED_FDS) {
		cr_skip_test("RLIMIT_NOFILE hard limit %llu < %d",
			     (unsigned long long)lx_nofile_orig.rlim_max, NEED_FDS);
		return;
	}
	if (!lx_room_for_tasks(N + 2000, why, sizeof why)) {
		cr_skip_test("no room for %d more processes: %s", N + 2000, why);
		return;
	}
	lx_nofile_set(lx_nofile_orig.rlim_max);

	lx_open(&f, 0, 0, 16384, NULL);
	t0 = th_now_ns();
	for (int i = 0; i < N; i++) {
		struct pidring_spawn s = t_spec(av_forever, NULL);

		if (i == 1000)
			t_first = th_now_ns();
		if (i == N - 1000)
			t_last = th_now_ns();

		r = pidring_spawn(f.pr, &s, NULL);
		cr_assert_eq(r, 0, "spawn #%d: %d (%s)", i, r, strerror(-r));
		/* Their READY events: consumed as we go. */
		if (i % 256 == 255)
			while ((r = pidring_wait(f.pr, ev, 256, 0)) > 0)
				for (int k = 0; k < r; k++)
					cr_assert_eq(ev[k].type, PIDRING_EV_READY,
						     "a DONE among sleep-forever procs");
	}
	t_spawned = th_now_ns();
	cr_expect_eq(pidring_live(f.pr), (unsigned)N);
	kids = th_children(NULL, 0);
	cr_expect_eq(kids, N, "%d children for %d live procs", kids, N);

	r = pidring_destroy(f.pr, 60000);
	f.pr = NULL;
	t_destroyed = th_now_ns();
	cr_expect_eq(r, 0, "pidring_destroy(10000 live): %d (%s)", r, strerror(-r));
	cr_log_info("10000 live: spawned in %llu ms (first 1000: %llu ms, last 1000: %llu ms), "
		    "destroyed in %llu ms", (unsigned long long)((t_spawned - t0) / 1000000u),
		    (unsigned long long)((t_first - t0) / 1000000u),
		    (unsigned long long)((t_spawned - t_last) / 1000000u),
		    (unsigned long long)((t_destroyed - t_spawned) / 1000000u));
	fx_close(&f);
}

/* =====================================================================
 * 6. max_procs while binding
 * ===================================================================== */

BOTH(limits, max_procs_full_of_binders)
{
	enum { MAX = 8 };
	static struct fx f;
	struct pidring_spawn never = t_spec(av_never, NULL);
	struct pidring_spawn bind = lx_spec(K_BIND, 0);
	pidring_id ids[MAX], extra = 0;
	struct pidring_event ev;
	int r, fds, kids;

	never.ready = PIDRING_READY_BIND;
	lx_open(&f, flags, 0, MAX, NULL);
	for (int i = 0; i < MAX; i++) {
		r = pidring_spawn(f.pr, &never, &ids[i]);
		cr_assert_eq(r, 0, "binder #%d: %d (%s)", i, r, strerror(-r));
	}
	t_expect_quiet(&f, 50);
	fds = th_fd_count();
	kids = th_children(NULL, 0);
	r = pidring_spawn(f.pr, &bind, &extra);
	cr_expect_eq(r, -EAGAIN, "9th spawn with %d binding: %d (%s)", MAX, r, strerror(-r));
	cr_expect_eq(extra, 0, "a refused spawn wrote an id");
	cr_expect_eq(pidring_live(f.pr), (unsigned)MAX);
	cr_expect_eq(th_fd_count(), fds, "a refused spawn left an fd");
	cr_expect_eq(th_children(NULL, 0), kids, "a refused spawn left a child");
	t_expect_quiet(&f, 50);

	cr_assert_eq(pidring_cancel(f.pr, ids[0]), 0);
	/* Until the DONE the slot is held: still full. */
	r = pidring_spawn(f.pr, &bind, NULL);
	cr_expect_eq(r, -EAGAIN, "spawn before the cancelled binder's DONE: %d", r);
	t_expect_done(&f, ids[0], T_EV_MS, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	t_expect_gone(&f, ids[0]);

	extra = 0;
	r = pidring_spawn(f.pr, &bind, &extra);
	cr_assert_eq(r, 0, "9th spawn after a DONE: %d (%s)", r, strerror(-r));
	t_expect_ready(&f, extra, NULL);
	cr_expect_eq(pidring_spawn(f.pr, &bind, NULL), -EAGAIN, "full again");
	ids[0] = extra;

	for (int i = 0; i < MAX; i++)
		cr_expect_eq(pidring_cancel(f.pr, ids[i]), 0);
	for (int i = 0; i < MAX; i++) {
		ev = t_next(&f, T_EV_MS);
		cr_expect_eq(ev.type, PIDRING_EV_DONE);
		cr_expect_eq(ev.reason, PIDRING_CANCELLED);
		cr_expect_eq(ev.status, SIGKILL);
	}
	cr_expect_eq(pidring_live(f.pr), 0u);
	fx_close(&f);
}

/* =====================================================================
 * 7. pidring_new's ranges
 * ===================================================================== */

/* pidring_new must fail with want and leave nothing: no fd, no directory. */
static void lx_new_fails(unsigned ring_entries, unsigned max_procs, int want)
{
	struct th_baseline base;
	struct pidring_opts o = { .ring_entries = ring_entries, .max_procs = max_procs };
	struct pidring *pr = (struct pidring *)&o;
	char *dir = th_mkdtemp();
	char list[512];
	int r;

	o.runtime_dir = dir;
	th_baseline_take(&base);
	r = pidring_new(&pr, &o);
	cr_expect_eq(r, want, "pidring_new(ring_entries=%u, max_procs=%u): %d (%s), "
		     "expected %d", ring_entries, max_procs, r, strerror(-r), want);
	if (r == 0)
		pidring_destroy(pr, 1000);
	else
		cr_expect_null(pr, "*out not cleared on failure");
	cr_expect_eq(th_dir_entries(dir, list, sizeof list), 0, "left behind:\n%s", list);
	th_leak_check(&base, dir);
	th_rmtree(dir);
	free(dir);
}

Test(limits, new_ranges)
{
	static struct fx f;
	pidring_id id = 0;
	struct pidring_spawn s = t_spec(av_forever, NULL);

	lx_new_fails(7, 0, -EINVAL);
	lx_new_fails(1, 0, -EINVAL);
	lx_new_fails(32769, 0, -EINVAL);
	lx_new_fails(UINT_MAX, 0, -EINVAL);
	lx_new_fails(0, (1u << 24) + 1, -EINVAL);
	lx_new_fails(0, UINT_MAX, -EINVAL);

	/* The smallest ring works (and carries a spawn and a cancel). */
	lx_open(&f, 0, 8, 0, NULL);
	id = t_spawn(&f, av_forever, NULL);
	t_expect_ready(&f, id, NULL);
	cr_assert_eq(pidring_cancel(f.pr, id), 0);
	t_expect_done(&f, id, T_EV_MS, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	fx_close(&f);

	/* max_procs 1: one proc, then -EAGAIN until its DONE. */
	lx_open(&f, 0, 0, 1, NULL);
	id = t_spawn(&f, av_forever, NULL);
	t_expect_ready(&f, id, NULL);
	cr_expect_eq(pidring_spawn(f.pr, &s, NULL), -EAGAIN, "second proc with max_procs 1");
	cr_assert_eq(pidring_cancel(f.pr, id), 0);
	t_expect_done(&f, id, T_EV_MS, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	id = t_spawn(&f, av_forever, NULL);
	t_expect_ready(&f, id, NULL);
	cr_assert_eq(pidring_cancel(f.pr, id), 0);
	t_expect_done(&f, id, T_EV_MS, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	fx_close(&f);
}

/*
 * Regression (found by this test, since fixed): ring_entries 16385..32768
 * asked the kernel for a CQ of 4 * ring_entries past its 65536 maximum
 * without IORING_SETUP_CLAMP, and io_uring_setup refused every try.
 */
Test(limits, new_largest_ring)
{
	static struct fx f;
	pidring_id id;

	lx_open(&f, 0, 32768, 0, NULL);
	id = t_spawn(&f, av_forever, NULL);
	t_expect_ready(&f, id, NULL);
	cr_assert_eq(pidring_cancel(f.pr, id), 0);
	t_expect_done(&f, id, T_EV_MS, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	fx_close(&f);
}
