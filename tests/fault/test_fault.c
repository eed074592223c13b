/*
 * Fault injection: for every site kind (allocation, submit — through which
 * SQE acquisition fails —, clone, socket, inotify, open, mkdir), make its 1st, 2nd, ... Nth call fail
 * during a scenario that creates an engine, spawns procs of every readiness
 * mode, cancels, stops and destroys, until the scenario no longer reaches an
 * Nth call. Each time: every call returns 0 or a clean -errno, every
 * successful spawn gets exactly one DONE, nothing leaks, and the engine still
 * serves the next spawn once the fault is lifted.
 *
 * Built against the -DPR_FAULT_INJECTION library (build/fault/), never the
 * shipped one.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../engine/fault.h"
#include "helpers.h"
#include "pidring.h"

void pidring__fault_set(int site, unsigned long nth);
unsigned long pidring__fault_calls(int site);

static const char *site_name[PR_FS_NSITES] = {
	"alloc", "sqe", "submit", "clone", "socket", "inotify", "open", "mkdir",
	"clone3",
};

enum kind { K_EXIT, K_SLEEP, K_BIND, K_NOTIFY, K_NEVER, K_BADPATH, K_N };
#define PR_BURST 6

struct rec {
	pidring_id id;
	enum kind kind;
	int ready, done, reason;
};

static int spawn_kind(struct pidring *pr, enum kind k, pidring_id *id)
{
	static char *a_exit[] = { "pidring-child", NULL };
	static char *a_sleep[] = { "pidring-child", "--sleep-forever", NULL };
	static char *a_bind[] = { "pidring-child", "--bind-after-ms", "0", NULL };
	static char *a_notify[] = { "pidring-child", "--notify-after-ms", "0",
				    "--status", "up", NULL };
	static char *a_never[] = { "pidring-child", "--never-ready", NULL };
	struct pidring_spawn s = { .path = th_child_path() };

	switch (k) {
	case K_EXIT:   s.argv = a_exit; break;
	case K_SLEEP:  s.argv = a_sleep; break;
	case K_BIND:   s.argv = a_bind; s.ready = PIDRING_READY_BIND; break;
	case K_NOTIFY: s.argv = a_notify; s.ready = PIDRING_READY_NOTIFY; break;
	case K_NEVER:  s.argv = a_never; s.ready = PIDRING_READY_BIND;
		       s.ready_timeout_ms = 100; break;
	default:       s.argv = a_exit; s.path = "/nonexistent/pidring-child"; break;
	}
	return pidring_spawn(pr, &s, id);
}

static struct rec *find(struct rec *r, int n, pidring_id id)
{
	for (int i = 0; i < n; i++)
		if (r[i].id == id)
			return &r[i];
	return NULL;
}

/* One run of the scenario with the nth call of site failing. Returns how many
 * calls of site the run made (so the walk knows when it has covered all). */
static unsigned long scenario(unsigned flags, int site, unsigned long nth)
{
	struct th_baseline b;
	struct rec recs[K_N * 2 + PR_BURST];
	struct pidring_event ev[16];
	struct pidring *pr = NULL;
	struct pidring_opts o = { .flags = flags, .ring_entries = 8 };
	unsigned long calls;
	int n = 0, r;
	char *dir;

	th_baseline_take(&b);
	dir = th_mkdtemp();
	o.runtime_dir = dir;

	pidring__fault_set(site, nth);
	r = pidring_new(&pr, &o);
	if (r < 0) {
		calls = pidring__fault_calls(site);
		pidring__fault_set(site, 0);
		cr_assert(r > -4096, "pidring_new: %d", r);
		th_leak_check(&b, dir);
		th_rmtree(dir);
		free(dir);
		return calls;
	}

	/* A burst of READY_EXEC spawns, whose exit watches wait in the SQ for
	 * the next entry into the ring: the 8-entry ring then needs a flush
	 * to make room (what the SQE walk refuses). */
	for (int i = 0; i < PR_BURST; i++) {
		pidring_id id = 0;

		r = spawn_kind(pr, K_EXIT, &id);
		cr_assert(r == 0 || (r < 0 && r > -4096), "burst spawn: %d", r);
		if (r == 0)
			recs[n++] = (struct rec){ .id = id, .kind = K_EXIT };
	}
	for (int round = 0; round < 2; round++)
		for (int k = 0; k < K_N; k++) {
			pidring_id id = 0;

			r = spawn_kind(pr, (enum kind)k, &id);
			if (k == K_BADPATH) {
				cr_assert(r < 0, "spawn of a bad path: %d", r);
				continue;
			}
			cr_assert(r == 0 || (r < 0 && r > -4096), "spawn: %d", r);
			if (r == 0) {
				cr_assert(id != 0);
				recs[n++] = (struct rec){ .id = id, .kind = (enum kind)k };
			}
		}

	/* Drive: cancel sleepers when READY, stop binders, let the rest be. */
	for (uint64_t end = th_now_ns() + 5000000000ull; pidring_live(pr) && th_now_ns() < end;) {
		int m = pidring_wait(pr, ev, 16, 50);

		if (m == -ENOMEM || m == -EINTR)
			continue;
		cr_assert(m >= 0, "pidring_wait: %d", m);
		for (int i = 0; i < m; i++) {
			struct rec *x = find(recs, n, ev[i].id);

			cr_assert(x, "event for an unknown id %#llx", (unsigned long long)ev[i].id);
			if (ev[i].type == PIDRING_EV_READY) {
				cr_assert(!x->done && !x->ready, "READY after DONE or twice");
				x->ready = 1;
				/* A refused chain is the engine's to retry: the
				 * verbs never report it (their errors are EINVAL
				 * and ESRCH only). */
				if (x->kind == K_SLEEP || x->kind == K_NOTIFY)
					cr_assert_eq(pidring_cancel(pr, x->id), 0);
				else if (x->kind == K_BIND)
					cr_assert_eq(pidring_stop(pr, x->id, 50), 0);
			} else {
				cr_assert(!x->done, "two DONEs for one id");
				x->done = 1;
				x->reason = ev[i].reason;
			}
		}
	}
	calls = pidring__fault_calls(site);
	pidring__fault_set(site, 0);
	cr_assert(pidring_live(pr) == 0, "%s #%lu: %u procs never DONE",
		  site_name[site], nth, pidring_live(pr));
	for (int i = 0; i < n; i++)
		cr_assert(recs[i].done == 1, "%s #%lu: proc %d (kind %d) has no DONE",
			  site_name[site], nth, i, recs[i].kind);

	/* The engine still serves. */
	{
		pidring_id id;
		int got = 0;

		cr_assert(spawn_kind(pr, K_EXIT, &id) == 0);
		for (uint64_t end = th_now_ns() + 3000000000ull; !got && th_now_ns() < end;) {
			int m = pidring_wait(pr, ev, 16, 50);

			for (int i = 0; i < m; i++)
				got |= ev[i].type == PIDRING_EV_DONE && ev[i].id == id;
		}
		cr_assert(got, "%s #%lu: no DONE after the fault was lifted", site_name[site], nth);
	}
	cr_assert(pidring_destroy(pr, 2000) == 0);
	th_leak_check(&b, dir);
	th_rmtree(dir);
	free(dir);
	return calls;
}

static void walk(unsigned flags, int site)
{
	unsigned long nth, calls = 0, failed = 0;

	for (nth = 1; nth <= 400; nth++) {
		calls = scenario(flags, site, nth);
		if (calls < nth)
			break;      /* the nth call was never reached: all covered */
		failed++;
	}
	cr_assert(nth <= 400, "%s: the walk did not end", site_name[site]);
	cr_log_info("%s: %lu injected failures walked", site_name[site], failed);
}

#define WALK(site)                                                            \
	Test(fault, site##_waitid, .timeout = 120) { walk(0, PR_FS_##site); }  \
	Test(fault, site##_fallback, .timeout = 120) { walk(PIDRING_F_NO_WAITID, PR_FS_##site); }

/*
 * The SQE walk refuses the flush that makes room for a spawn's or a chain's
 * SQEs: the scenario's burst of READY_EXEC spawns fills the 8-entry SQ with
 * exit watches waiting for the next entry into the ring.
 */
WALK(ALLOC)
WALK(SQE)
WALK(SUBMIT)
WALK(CLONE)
WALK(SOCKET)
WALK(INOTIFY)
WALK(OPEN)
WALK(MKDIR)
/* The kernel hides clone3 from the nth spawn on: the engine goes on with
 * clone() (the walk checks every rule on the way). */
WALK(CLONE3)

/*
 * Spawn three children on an engine with these flags and cgroup_dir; count
 * the clone3 calls (the fault site counts them, no fault injected).
 */
static unsigned long clone3_calls(unsigned flags, const char *cg)
{
	struct pidring_opts o = { .flags = flags, .cgroup_dir = cg };
	struct pidring_event ev[8];
	struct th_baseline b;
	struct pidring *pr = NULL;
	unsigned long calls;
	int r, done = 0;
	char *dir;

	th_baseline_take(&b);
	dir = th_mkdtemp();
	o.runtime_dir = dir;
	r = pidring_new(&pr, &o);
	cr_assert_eq(r, 0, "pidring_new(flags=%#x, cgroup_dir=%s): %d", flags,
		     cg ? cg : "none", r);
	pidring__fault_set(PR_FS_CLONE3, 0);
	for (int i = 0; i < 3; i++) {
		pidring_id id;

		r = spawn_kind(pr, K_EXIT, &id);
		cr_assert_eq(r, 0, "spawn %d: %d", i, r);
	}
	calls = pidring__fault_calls(PR_FS_CLONE3);
	while (done < 3) {
		r = th_drain(pr, ev, 8, 5000);
		cr_assert_gt(r, 0, "no DONE within 5 s (%d of 3)", done);
		for (int i = 0; i < r; i++)
			done += ev[i].type == PIDRING_EV_DONE;
	}
	cr_assert_eq(pidring_destroy(pr, 2000), 0);
	th_leak_check(&b, dir);
	th_rmtree(dir);
	free(dir);
	return calls;
}

/*
 * This kernel has clone3 with CLONE_INTO_CGROUP and CLONE_CLEAR_SIGHAND: each
 * spawn goes through it, in cgroup mode too, and PIDRING_F_NO_CLONE3 keeps
 * the engine off it. An engine that fell back to clone() for good would pass
 * every other test, slower, its children outside their cgroup until they
 * join it; this one would see a single clone3 call.
 */
Test(fault, clone3_in_use, .timeout = 60)
{
#ifdef __x86_64__
	const unsigned long want = 3;
#else
	const unsigned long want = 0;   /* clone() only, elsewhere */
#endif
	char why[512];
	const char *cg;

	cr_expect_eq(clone3_calls(0, NULL), want, "plain spawns");
	cr_expect_eq(clone3_calls(PIDRING_F_NO_CLONE3, NULL), 0, "with PIDRING_F_NO_CLONE3");
	cg = th_cgroup_dir(why, sizeof why);
	if (!cg) {
		cr_log_info("cgroup mode not checked: %s", why);
		return;
	}
	cr_expect_eq(clone3_calls(0, cg), want, "cgroup mode");
}
