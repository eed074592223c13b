/*
 * The session pool: keyed get-or-spawn over real bind-mode runners. Each
 * test ends as every suite does (no child, no fd, no file), and where the
 * pool's runners all end inside the test, with as many DONEs as spawns.
 * The pool's runners' own READY and DONE never reach the caller: only
 * LEASE_READY / LEASE_FAILED for gets that returned PIDRING_POOL_PENDING.
 */
#include "test_util.h"

#include <libgen.h>
#include <limits.h>
#include <spawn.h>

extern char **environ;

TestSuite(pool, .fini = fx_abort_cleanup, .timeout = 60);

/* A runner that binds after bind_ms; "{key}" is its exit code's argument
 * or ignored (a positional). */
#define P_BIND(ms) ((char *const[]){ "pidring-child", "--bind-after-ms", ms, "{key}", NULL })

struct pt {
	struct pidring_spawn tpl;
	struct pidring_pool_opts po;
	struct pidring_pool *pool;
};

static struct pidring_pool *pt_open(struct fx *f, struct pt *t, char *const *argv)
{
	int r;

	t->tpl = t_spec(argv, NULL);
	t->tpl.ready = PIDRING_READY_BIND;
	t->po.spawn = &t->tpl;
	r = pidring_pool_new(f->pr, &t->po, &t->pool);
	cr_assert_eq(r, 0, "pidring_pool_new: %d (%s)", r, strerror(-r));
	return t->pool;
}

static struct pidring_pool_stats pt_stats(struct pidring_pool *pool)
{
	struct pidring_pool_stats st;

	cr_assert_eq(pidring_pool_stats(pool, &st), 0);
	return st;
}

static int pt_get(struct pidring_pool *pool, const char *key, void *user,
		  struct pidring_lease *l)
{
	int r = pidring_pool_get(pool, key, strlen(key), user, l);

	cr_assert(r == 0 || r == PIDRING_POOL_PENDING, "get(%s): %d (%s)", key, r,
		  r < 0 ? strerror(-r) : "");
	cr_assert_neq(l->ticket, 0);
	return r;
}

/* The next event must be a pool answer of this type. */
static struct pidring_event pt_answer(struct fx *f, int type)
{
	struct pidring_event ev = t_next(f, T_EV_MS);

	cr_assert_eq(ev.type, type, "event type %d, expected %d (error %d)", ev.type, type,
		     ev.error);
	cr_assert_neq(ev.lease, 0);
	return ev;
}

/* Drive the engine until cond holds (nothing else may come out), bounded. */
#define PT_UNTIL(f, cond)                                                      \
	do {                                                                   \
		uint64_t end_ = th_now_ns() + (uint64_t)T_DRAIN_MS * 1000000u;  \
		while (!(cond)) {                                              \
			struct pidring_event ev_;                              \
			int r_ = pidring_wait((f)->pr, &ev_, 1, 20);            \
			cr_assert(r_ == 0 || r_ == -EINTR,                     \
				  "unexpected: pidring_wait -> %d type %d", r_, \
				  r_ > 0 ? (int)ev_.type : 0);                 \
			cr_assert_lt(th_now_ns(), end_, "never: %s", #cond);    \
		}                                                              \
	} while (0)

/* Destroy the pool, let the engine reap what it had (no event may reach
 * the caller), then the usual rule checks. */
static void pt_close(struct fx *f, struct pt *t)
{
	struct pidring_event ev[8];
	int n;

	cr_expect_eq(pidring_pool_destroy(t->pool), 0);
	t->pool = NULL;
	n = th_drain(f->pr, ev, 8, T_DRAIN_MS);
	cr_expect_eq(n, 0, "%d events after the pool's destroy (first type %d)", n,
		     n > 0 ? (int)ev[0].type : 0);
	cr_expect_eq(pidring_live(f->pr), 0u);
	fx_close(f);
}

/* Every runner started has ended in exactly one DONE. */
static void pt_all_done(struct fx *f, struct pidring_pool *pool)
{
	PT_UNTIL(f, pt_stats(pool).done == pt_stats(pool).started);
	cr_expect_eq(pt_stats(pool).stopping, 0u);
	cr_expect_eq(pidring_live(f->pr), 0u);
}

BOTH(pool, single_flight_100_gets)
{
	static struct fx f;
	static struct pt t = { .po = { .idle_ttl_ms = 60000 } };
	static struct pidring_lease l[101];
	static unsigned seen[100];
	struct pidring_pool *pool;
	pidring_id id = 0;

	fx_open(&f, flags);
	pool = pt_open(&f, &t, P_BIND("20"));
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(pt_get(pool, "conv-1", &seen[i], &l[i]), PIDRING_POOL_PENDING);
		for (int j = 0; j < i; j++)
			cr_assert_neq(l[i].ticket, l[j].ticket);
	}
	cr_expect_eq(pt_stats(pool).started, 1u, "one spawn for 100 gets");
	cr_expect_eq(pidring_live(f.pr), 1u);
	for (int i = 0; i < 100; i++) {
		struct pidring_event ev = pt_answer(&f, PIDRING_EV_LEASE_READY);
		unsigned *u = ev.user;

		cr_assert(u >= seen && u < seen + 100);
		cr_expect_eq(ev.lease, l[u - seen].ticket);
		cr_expect_eq((*u)++, 0u, "get %td answered twice", u - seen);
		if (!id)
			id = ev.id;
		cr_expect_eq(ev.id, id, "every waiter gets the one runner");
		cr_expect_eq(ev.pid, pidring_pid(f.pr, id));
	}
	cr_assert_eq(pt_get(pool, "conv-1", NULL, &l[100]), 0, "ready now: answered at once");
	cr_expect_eq(l[100].id, id);
	t_expect_quiet(&f, 50);
	for (int i = 0; i < 101; i++)
		cr_expect_eq(pidring_pool_release(pool, l[i].ticket), 0);
	cr_expect_eq(pidring_pool_release(pool, l[0].ticket), -ESRCH);
	cr_expect_eq(pt_stats(pool).idle, 1u);
	cr_expect_eq(pt_stats(pool).leases, 0u);
	cr_expect_eq(pidring_pool_evict(pool, "conv-1", 6), 0);
	pt_all_done(&f, pool);
	cr_expect_eq(pt_stats(pool).started, 1u);
	pt_close(&f, &t);
}

/*
 * The seed bug: the request goes away while its runner binds. Released
 * after 0..7 passes of the engine (before the spawn's completions, between
 * the bind and the connect, ...): the runner is cancelled, its get never
 * answered, and it is reaped.
 */
BOTH(pool, release_during_spawn)
{
	static struct fx f;
	static struct pt t = { .po = { .idle_ttl_ms = 60000 } };
	struct pidring_pool *pool;

	fx_open(&f, flags);
	pool = pt_open(&f, &t, P_BIND("3"));
	for (int i = 0; i < 64; i++) {
		struct pidring_lease l;
		struct pidring_event ev;
		bool answered = false;
		int r;

		cr_assert_eq(pt_get(pool, "k", NULL, &l), PIDRING_POOL_PENDING);
		for (int pass = 0; pass < i % 8 && !answered; pass++) {
			r = pidring_wait(f.pr, &ev, 1, 0);
			if (r == 1) {
				cr_assert_eq(ev.type, PIDRING_EV_LEASE_READY);
				answered = true;
			}
		}
		cr_assert_eq(pidring_pool_release(pool, l.ticket), 0);
		if (!answered) {
			cr_expect_eq(pt_stats(pool).keys, 0u, "released mid-spawn: key dropped");
			cr_expect_eq(pidring_pool_find(pool, "k", 1, &(pidring_id){ 0 }), -ENOENT);
		} else {
			cr_assert_eq(pidring_pool_evict(pool, "k", 1), 0);
		}
		pt_all_done(&f, pool);   /* no answer comes for the released get */
	}
	cr_expect_eq(pt_stats(pool).leases, 0u);
	pt_close(&f, &t);
}

BOTH(pool, evict_during_spawn)
{
	static struct fx f;
	static struct pt t = { .po = { .idle_ttl_ms = 60000 } };
	struct pidring_lease l[3], m;
	struct pidring_pool *pool;
	struct pidring_event ev;
	pidring_id old = 0;

	fx_open(&f, flags);
	pool = pt_open(&f, &t, P_BIND("2000"));
	for (int i = 0; i < 3; i++)
		cr_assert_eq(pt_get(pool, "k", &l[i], &l[i]), PIDRING_POOL_PENDING);
	cr_assert_eq(pidring_pool_find(pool, "k", 1, &old), 0);
	cr_assert_eq(pidring_pool_evict(pool, "k", 1), 0);
	cr_expect_eq(pidring_pool_evict(pool, "k", 1), -ENOENT);
	for (int i = 0; i < 3; i++) {
		ev = pt_answer(&f, PIDRING_EV_LEASE_FAILED);
		cr_expect_eq(ev.error, -ECANCELED);
		cr_expect_eq(ev.lease, ((struct pidring_lease *)ev.user)->ticket);
		cr_expect_eq(pidring_pool_release(pool, ev.lease), -ESRCH, "a failed get is over");
	}
	pt_all_done(&f, pool);
	/* The next get starts a new runner. */
	cr_assert_eq(pt_get(pool, "k", NULL, &m), PIDRING_POOL_PENDING);
	cr_assert_eq(pidring_pool_find(pool, "k", 1, &ev.id), 0);
	cr_expect_neq(ev.id, old);
	cr_expect_eq(pt_stats(pool).started, 2u);
	cr_expect_eq(pidring_pool_evict(pool, "k", 1), 0);
	ev = pt_answer(&f, PIDRING_EV_LEASE_FAILED);
	cr_expect_eq(ev.lease, m.ticket);
	pt_all_done(&f, pool);
	pt_close(&f, &t);
}

BOTH(pool, idle_ttl_expiry)
{
	static struct fx f;
	static struct pt t = { .po = { .idle_ttl_ms = 100, .stop_grace_ms = 1000 } };
	struct pidring_pool *pool;
	struct pidring_lease l;
	struct pidring_event ev;
	pidring_id id;

	fx_open(&f, flags);
	pool = pt_open(&f, &t, P_BIND("0"));
	cr_assert_eq(pt_get(pool, "a", NULL, &l), PIDRING_POOL_PENDING);
	ev = pt_answer(&f, PIDRING_EV_LEASE_READY);
	id = ev.id;
	cr_assert_eq(pidring_pool_release(pool, l.ticket), 0);
	cr_expect_eq(pt_stats(pool).idle, 1u);
	/* Expiry happens only inside pidring_wait: a get right away reuses it. */
	cr_assert_eq(pt_get(pool, "a", NULL, &l), 0);
	cr_expect_eq(l.id, id);
	cr_expect_eq(pt_stats(pool).idle, 0u);
	cr_assert_eq(pidring_pool_release(pool, l.ticket), 0);
	/* Then the pool's one TIMEOUT stops it (SIGTERM; it exits at once). */
	pt_all_done(&f, pool);
	cr_expect_eq(pt_stats(pool).keys, 0u);
	cr_expect_eq(pt_stats(pool).idle, 0u);
	cr_expect_eq(pidring_pid(f.pr, id), -ESRCH);
	pt_close(&f, &t);
}

/* The idle TTL with a blocking wait: the ring TIMEOUT wakes it. */
Test(pool, idle_ttl_wakes_blocking_wait)
{
	static struct fx f;
	static struct pt t = { .po = { .idle_ttl_ms = 50 } };
	struct pidring_pool *pool;
	struct pidring_lease l[20];
	char key[16];

	fx_open(&f, 0);
	pool = pt_open(&f, &t, P_BIND("0"));
	for (int i = 0; i < 20; i++) {
		t_fmt(key, sizeof key, "k%d", i);
		cr_assert_eq(pt_get(pool, key, NULL, &l[i]), PIDRING_POOL_PENDING);
	}
	for (int i = 0; i < 20; i++)
		cr_assert_eq(pidring_pool_release(pool,
			     pt_answer(&f, PIDRING_EV_LEASE_READY).lease), 0);
	/* Each released runner is idle, or already past its 50 ms TTL (a loaded
	 * host can take that long to hand out the twenty answers): none lost. */
	{
		struct pidring_pool_stats ps = pt_stats(pool);

		cr_expect_eq(ps.idle + ps.stopping + ps.done, 20u, "idle %u stopping %u done %llu",
			     ps.idle, ps.stopping, ps.done);
	}
	/* One wait for everything: returns 0 once nothing is live. */
	cr_expect_eq(th_drain(f.pr, (struct pidring_event[1]){ 0 }, 1, T_DRAIN_MS), 0);
	cr_expect_eq(pidring_live(f.pr), 0u);
	cr_expect_eq(pt_stats(pool).done, 20u);
	pt_close(&f, &t);
}

static void pt_ready(struct fx *f, struct pidring_pool *pool, const char *key,
		     struct pidring_lease *l)
{
	if (pt_get(pool, key, NULL, l) == PIDRING_POOL_PENDING) {
		struct pidring_event ev = pt_answer(f, PIDRING_EV_LEASE_READY);

		cr_assert_eq(ev.lease, l->ticket);
		l->id = ev.id;
	}
}

Test(pool, cap_lru)
{
	static struct fx f;
	static struct pt t = { .po = { .max_runners = 2, .idle_ttl_ms = 60000,
				       .flags = PIDRING_POOL_EVICT_LRU } };
	struct pidring_lease a, b, c, d;
	struct pidring_pool *pool;
	pidring_id id;

	fx_open(&f, 0);
	pool = pt_open(&f, &t, P_BIND("0"));
	pt_ready(&f, pool, "a", &a);
	pt_ready(&f, pool, "b", &b);
	cr_assert_eq(pidring_pool_release(pool, a.ticket), 0);   /* a: least recent */
	cr_assert_eq(pidring_pool_release(pool, b.ticket), 0);
	pt_ready(&f, pool, "c", &c);
	cr_expect_eq(pidring_pool_find(pool, "a", 1, &id), -ENOENT, "a was evicted");
	cr_expect_eq(pidring_pool_find(pool, "b", 1, &id), 0);
	cr_expect_eq(id, b.id);
	pt_ready(&f, pool, "b", &b);                               /* b leased again */
	cr_expect_eq(pidring_pool_get(pool, "d", 1, NULL, &d), -EAGAIN,
		     "every runner leased: nothing to evict");
	cr_expect_eq(pt_stats(pool).keys, 2u);
	cr_assert_eq(pidring_pool_release(pool, b.ticket), 0);
	cr_assert_eq(pidring_pool_release(pool, c.ticket), 0);
	cr_expect_eq(pidring_pool_evict(pool, "b", 1), 0);
	cr_expect_eq(pidring_pool_evict(pool, "c", 1), 0);
	pt_all_done(&f, pool);
	cr_expect_eq(pt_stats(pool).started, 3u);
	pt_close(&f, &t);
}

Test(pool, cap_eagain)
{
	static struct fx f;
	static struct pt t = { .po = { .max_runners = 1, .idle_ttl_ms = 60000 } };
	struct pidring_lease a, b;
	struct pidring_pool *pool;
	pidring_id id;

	fx_open(&f, 0);
	pool = pt_open(&f, &t, P_BIND("0"));
	pt_ready(&f, pool, "a", &a);
	cr_assert_eq(pidring_pool_release(pool, a.ticket), 0);
	cr_expect_eq(pidring_pool_get(pool, "b", 1, NULL, &b), -EAGAIN);
	cr_expect_eq(pidring_pool_find(pool, "a", 1, &id), 0, "a stays without EVICT_LRU");
	cr_expect_eq(pt_stats(pool).leases, 0u);
	cr_expect_eq(pidring_pool_evict(pool, "a", 1), 0);
	pt_all_done(&f, pool);
	pt_ready(&f, pool, "b", &b);   /* room again once a was stopped */
	cr_assert_eq(pidring_pool_release(pool, b.ticket), 0);
	pt_close(&f, &t);
}

/* A runner that exits before it binds: its waiters are told its status
 * ("{key}" is the exit code). */
BOTH(pool, crash_before_ready)
{
	static struct fx f;
	static struct pt t;
	struct pidring_lease l[2];
	struct pidring_pool *pool;
	struct pidring_event ev;

	fx_open(&f, flags);
	pool = pt_open(&f, &t, ARGV("--exit-before-ready", "--after-ms", "20", "--exit", "{key}"));
	cr_assert_eq(pt_get(pool, "7", NULL, &l[0]), PIDRING_POOL_PENDING);
	cr_assert_eq(pt_get(pool, "7", NULL, &l[1]), PIDRING_POOL_PENDING);
	for (int i = 0; i < 2; i++) {
		ev = pt_answer(&f, PIDRING_EV_LEASE_FAILED);
		cr_expect_eq(ev.error, -ECHILD);
		cr_expect_eq(ev.reason, PIDRING_EXITED_EARLY);
		cr_expect_eq(ev.code, CLD_EXITED);
		cr_expect_eq(ev.status, 7, "exit status %d: {key} substituted", ev.status);
		cr_expect_neq(ev.done_ns, 0);
	}
	cr_expect_eq(pt_stats(pool).keys, 0u);
	cr_expect_eq(pt_stats(pool).leases, 0u);
	pt_all_done(&f, pool);
	pt_close(&f, &t);
}

/* A ready runner killed under its lease: dropped from its key; the lease
 * is still released; the next get starts a new one. */
BOTH(pool, crash_and_reget)
{
	static struct fx f;
	static struct pt t = { .po = { .idle_ttl_ms = 60000 } };
	struct pidring_lease a, b;
	struct pidring_pool *pool;
	pidring_id id;

	fx_open(&f, flags);
	pool = pt_open(&f, &t, P_BIND("0"));
	pt_ready(&f, pool, "a", &a);
	cr_assert_gt(pidring_pid(f.pr, a.id), 0);
	cr_assert_eq(kill(pidring_pid(f.pr, a.id), SIGKILL), 0);
	PT_UNTIL(&f, pidring_pool_find(pool, "a", 1, &id) == -ENOENT);
	cr_expect_eq(pt_stats(pool).done, 1u);
	pt_ready(&f, pool, "a", &b);
	cr_expect_neq(b.id, a.id);
	cr_expect_eq(pidring_pool_release(pool, a.ticket), 0, "the dead runner's lease");
	cr_expect_eq(pidring_pool_release(pool, b.ticket), 0);
	cr_expect_eq(pidring_pool_find(pool, "a", 1, &id), 0);
	cr_expect_eq(id, b.id);
	cr_expect_eq(pidring_pool_evict(pool, "a", 1), 0);
	pt_all_done(&f, pool);
	pt_close(&f, &t);
}

BOTH(pool, destroy_with_gets_in_flight)
{
	static struct fx f;
	static struct pt t = { .po = { .idle_ttl_ms = 60000, .stop_grace_ms = 5000 } };
	struct pidring_pool *pool;
	struct pidring_lease l;
	char key[16];

	fx_open(&f, flags);
	pool = pt_open(&f, &t, P_BIND("2000"));
	for (int i = 0; i < 30; i++) {
		t_fmt(key, sizeof key, "k%d", i % 10);
		cr_assert_eq(pt_get(pool, key, NULL, &l), PIDRING_POOL_PENDING);
	}
	cr_expect_eq(pidring_live(f.pr), 10u, "one runner per key");
	cr_expect_eq(pt_stats(pool).leases, 30u);
	pt_close(&f, &t);   /* cancels all ten mid-bind; no answer comes */
}

Test(pool, warm_runners)
{
	static struct fx f;
	static struct pt t = { .po = { .min_idle = 2, .idle_ttl_ms = 60000 } };
	struct pidring_lease l;
	struct pidring_pool *pool;

	fx_open(&f, 0);
	pool = pt_open(&f, &t, ARGV("--bind-after-ms", "0"));
	cr_expect_eq(pt_stats(pool).warm, 2u);
	PT_UNTIL(&f, pt_stats(pool).warm_ready == 2);
	cr_assert_eq(pt_get(pool, "a", NULL, &l), 0, "a warm runner, at once");
	cr_expect_neq(l.id, 0);
	cr_expect_gt(l.pid, 0);
	cr_expect_eq(pt_stats(pool).warm, 1u);
	PT_UNTIL(&f, pt_stats(pool).warm_ready == 2);   /* topped up */
	cr_expect_eq(pt_stats(pool).started, 3u);
	cr_assert_eq(pidring_pool_release(pool, l.ticket), 0);
	pt_close(&f, &t);
}

Test(pool, bad_input)
{
	static struct fx f;
	static struct pt t;
	struct pidring_pool_opts po = { 0 };
	struct pidring_spawn tpl = t_spec(P_BIND("0"), NULL);
	struct pidring_pool *p2 = (void *)1;
	struct pidring_lease l;
	pidring_id id;
	char big[PIDRING_POOL_KEY_MAX + 1];

	fx_open(&f, 0);
	tpl.ready = PIDRING_READY_BIND;
	cr_expect_eq(pidring_pool_new(NULL, &po, &p2), -EINVAL);
	cr_expect_null(p2);
	cr_expect_eq(pidring_pool_new(f.pr, NULL, &p2), -EINVAL);
	cr_expect_eq(pidring_pool_new(f.pr, &po, NULL), -EINVAL);
	cr_expect_eq(pidring_pool_new(f.pr, &po, &p2), -EINVAL, "no template");
	po.spawn = &tpl;
	po.flags = 1u << 7;
	cr_expect_eq(pidring_pool_new(f.pr, &po, &p2), -EINVAL, "unknown flag");
	po.flags = 0;
	po.min_idle = 1;
	cr_expect_eq(pidring_pool_new(f.pr, &po, &p2), -EINVAL, "warm with {key}");
	po.max_runners = 1;
	po.min_idle = 2;
	cr_expect_eq(pidring_pool_new(f.pr, &po, &p2), -EINVAL, "min_idle > cap");
	po.min_idle = 0;
	po.idle_ttl_ms = 25u * 3600u * 1000u;
	cr_expect_eq(pidring_pool_new(f.pr, &po, &p2), -EINVAL, "TTL over a day");
	po.idle_ttl_ms = 0;
	tpl.argv = (char *const[]){ NULL };
	cr_expect_eq(pidring_pool_new(f.pr, &po, &p2), -EINVAL, "bad template");
	pt_open(&f, &t, P_BIND("0"));
	tpl = t.tpl;
	cr_expect_eq(pidring_pool_new(f.pr, &po, &p2), -EBUSY, "one pool per engine");

	memset(big, 'a', sizeof big);
	cr_expect_eq(pidring_pool_get(NULL, "a", 1, NULL, &l), -EINVAL);
	cr_expect_eq(pidring_pool_get(t.pool, NULL, 1, NULL, &l), -EINVAL);
	cr_expect_eq(pidring_pool_get(t.pool, "a", 0, NULL, &l), -EINVAL);
	cr_expect_eq(pidring_pool_get(t.pool, "a", 1, NULL, NULL), -EINVAL);
	cr_expect_eq(pidring_pool_get(t.pool, big, sizeof big, NULL, &l), -EINVAL);
	cr_expect_eq(pidring_pool_get(t.pool, "a\0b", 3, NULL, &l), -EINVAL, "NUL in {key}");
	cr_expect_eq(pidring_pool_release(NULL, 1), -EINVAL);
	cr_expect_eq(pidring_pool_release(t.pool, 0), -ESRCH);
	cr_expect_eq(pidring_pool_release(t.pool, 1ull << 32 | 1), -ESRCH, "never issued");
	cr_expect_eq(pidring_pool_release(t.pool, ~0ull), -ESRCH, "forged");
	cr_expect_eq(pidring_pool_evict(t.pool, "a", 1), -ENOENT);
	cr_expect_eq(pidring_pool_evict(t.pool, NULL, 1), -EINVAL);
	cr_expect_eq(pidring_pool_find(t.pool, "a", 1, &id), -ENOENT);
	cr_expect_eq(pidring_pool_find(t.pool, "a", 1, NULL), -EINVAL);
	cr_expect_eq(pidring_pool_stats(t.pool, NULL), -EINVAL);
	cr_expect_eq(pidring_pool_stats(NULL, &(struct pidring_pool_stats){ 0 }), -EINVAL);
	cr_expect_eq(pidring_pool_destroy(NULL), 0);
	/* A stale ticket after a release, and a ticket of a reused slot. */
	cr_assert_eq(pt_get(t.pool, "a", NULL, &l), PIDRING_POOL_PENDING);
	cr_assert_eq(pidring_pool_release(t.pool, l.ticket), 0);
	cr_expect_eq(pidring_pool_release(t.pool, l.ticket), -ESRCH);
	pt_all_done(&f, t.pool);
	pt_close(&f, &t);
}

/* The engine's destroy takes the pool with it. */
Test(pool, engine_destroy_frees_pool)
{
	static struct fx f;
	static struct pt t = { .po = { .idle_ttl_ms = 60000 } };
	struct pidring_lease l;

	fx_open(&f, 0);
	pt_open(&f, &t, P_BIND("0"));
	pt_ready(&f, t.pool, "a", &l);
	cr_assert_eq(pt_get(t.pool, "b", NULL, &l), PIDRING_POOL_PENDING);
	fx_close(&f);
}

/* pidring-stress --pool, short: its auditor finds nothing (it sits next to
 * the child program in build/). */
Test(pool, stress_pool_mode_is_clean, .timeout = 120)
{
	static char out[1 << 14];
	char dir[PATH_MAX], path[PATH_MAX + 32];
	char *argv[] = { path, "--pool", "--keys", "200", "--ops", "1500", "--quiet", NULL };
	posix_spawn_file_actions_t fa;
	struct th_baseline b;
	int p[2], st;
	pid_t pid;

	t_fmt(dir, sizeof dir, "%s", th_child_path());
	t_fmt(path, sizeof path, "%s/pidring-stress", dirname(dir));
	cr_assert_eq(access(path, X_OK), 0, "%s: %s", path, strerror(errno));
	th_baseline_take(&b);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	cr_assert_eq(posix_spawn(&pid, path, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	th_read_all(p[0], out, sizeof out);
	close(p[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "pidring-stress --pool: %#x\n%s",
		  st, out);
	th_leak_check(&b, NULL);
}
