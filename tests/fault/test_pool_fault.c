/*
 * Fault injection through the session pool: for each site kind, make its
 * 1st, 2nd, ... Nth call fail during a scenario that makes a pool (warm
 * runners, a cap with LRU, a short idle TTL), gets keys (single-flight and
 * warm), releases, evicts and lets idle runners expire. Each time: every
 * call returns 0, PIDRING_POOL_PENDING or a clean -errno, every pending get
 * is answered at most once, every runner the pool started ends in exactly
 * one DONE, nothing leaks, and the pool serves a get once the fault is
 * lifted.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../../engine/fault.h"
#include "helpers.h"
#include "pidring.h"

void pidring__fault_set(int site, unsigned long nth);
unsigned long pidring__fault_calls(int site);

#define PF_GETS 12

struct pf_get { uint64_t ticket; int state; };   /* 0 none, 1 pending, 2 held */

static void pf_answer(struct pf_get *g, const struct pidring_event *ev)
{
	for (int i = 0; i < PF_GETS; i++) {
		if (g[i].ticket != ev->lease)
			continue;
		cr_assert_eq(g[i].state, 1, "an answer for a get that is not pending");
		g[i].state = ev->type == PIDRING_EV_LEASE_READY ? 2 : 0;
		return;
	}
	cr_assert_fail("an answer for an unknown lease %#llx", (unsigned long long)ev->lease);
}

/* Drive until no get is pending (5 s at most); engine events of the
 * pool's runners never come out. */
static void pf_drive(struct pidring *pr, struct pf_get *g)
{
	struct pidring_event ev[16];

	for (uint64_t end = th_now_ns() + 5000000000ull; th_now_ns() < end;) {
		int m = pidring_wait(pr, ev, 16, 20);
		bool pending = false;

		if (m == -ENOMEM || m == -EINTR)
			continue;
		cr_assert(m >= 0, "pidring_wait: %d", m);
		for (int i = 0; i < m; i++) {
			cr_assert(ev[i].type == PIDRING_EV_LEASE_READY ||
				  ev[i].type == PIDRING_EV_LEASE_FAILED,
				  "engine event %d of a pool runner", ev[i].type);
			pf_answer(g, &ev[i]);
		}
		for (int i = 0; i < PF_GETS; i++)
			pending |= g[i].state == 1;
		if (!pending)
			return;
	}
	cr_assert_fail("a pending get was never answered");
}

static unsigned long pf_scenario(int site, unsigned long nth)
{
	static char *argv[] = { "pidring-child", "--bind-after-ms", "0", NULL };
	struct pidring_spawn tpl = { .path = th_child_path(), .argv = argv,
				     .ready = PIDRING_READY_BIND };
	struct pidring_pool_opts po = { .spawn = &tpl, .min_idle = 2, .max_runners = 5,
					.idle_ttl_ms = 30, .flags = PIDRING_POOL_EVICT_LRU };
	struct pidring_opts o = { .ring_entries = 8 };
	struct pidring_pool_stats st;
	struct pf_get g[PF_GETS] = { 0 };
	struct pidring_pool *pool = NULL;
	struct pidring *pr = NULL;
	struct pidring_lease l;
	struct th_baseline b;
	unsigned long calls;
	char key[8], *dir;
	int r;

	th_baseline_take(&b);
	dir = th_mkdtemp();
	o.runtime_dir = dir;
	cr_assert_eq(pidring_new(&pr, &o), 0);
	pidring__fault_set(site, nth);
	r = pidring_pool_new(pr, &po, &pool);
	cr_assert(r == 0 || (r < 0 && r > -4096), "pidring_pool_new: %d", r);
	if (r == 0) {
		for (int i = 0; i < PF_GETS; i++) {
			snprintf(key, sizeof key, "k%d", i % 6);
			r = pidring_pool_get(pool, key, strlen(key), NULL, &l);
			cr_assert(r >= 0 || (r > -4096), "get: %d", r);
			if (r >= 0)
				g[i] = (struct pf_get){ l.ticket, r == 0 ? 2 : 1 };
		}
		pf_drive(pr, g);
		for (int i = 0; i < PF_GETS; i++)
			if (g[i].state)
				cr_assert_eq(pidring_pool_release(pool, g[i].ticket), 0);
		pidring_pool_evict(pool, "k0", 2);
		pidring_pool_evict(pool, "k1", 2);
		/* the rest expire on the TTL; warm ones go with the pool */
		for (uint64_t end = th_now_ns() + 5000000000ull; th_now_ns() < end;) {
			struct pidring_event ev[4];

			cr_assert_geq(pidring_wait(pr, ev, 4, 20), -ENOMEM);
			pidring_pool_stats(pool, &st);
			if (!st.keys)
				break;
		}
		cr_assert_eq(st.keys, 0u, "an idle runner never expired");
	}
	calls = pidring__fault_calls(site);
	pidring__fault_set(site, 0);
	if (pool) {
		/* The pool still serves. */
		memset(g, 0, sizeof(g));
		r = pidring_pool_get(pool, "again", 5, NULL, &l);
		cr_assert(r == 0 || r == PIDRING_POOL_PENDING, "get after the fault: %d", r);
		g[0] = (struct pf_get){ l.ticket, r == 0 ? 2 : 1 };
		pf_drive(pr, g);
		cr_assert_eq(g[0].state, 2, "no runner after the fault was lifted");
		cr_assert_eq(pidring_pool_release(pool, l.ticket), 0);
		pidring_pool_destroy(pool);
	}
	for (uint64_t end = th_now_ns() + 5000000000ull; pidring_live(pr) && th_now_ns() < end;) {
		struct pidring_event ev[4];
		int m = pidring_wait(pr, ev, 4, 20);

		cr_assert(m == 0 || m == -ENOMEM || m == -EINTR, "event after the pool: %d", m);
	}
	cr_assert_eq(pidring_live(pr), 0u, "a runner never ended");
	cr_assert(pidring_destroy(pr, 2000) == 0);
	th_leak_check(&b, dir);
	th_rmtree(dir);
	free(dir);
	return calls;
}

static void pf_walk(int site, const char *name)
{
	unsigned long nth, failed = 0;

	for (nth = 1; nth <= 300; nth++) {
		if (pf_scenario(site, nth) < nth)
			break;
		failed++;
	}
	cr_assert(nth <= 300, "%s: the walk did not end", name);
	cr_log_info("pool %s: %lu injected failures walked", name, failed);
}

Test(pool_fault, alloc, .timeout = 300) { pf_walk(PR_FS_ALLOC, "alloc"); }
Test(pool_fault, sqe, .timeout = 300) { pf_walk(PR_FS_SQE, "sqe"); }
Test(pool_fault, submit, .timeout = 300) { pf_walk(PR_FS_SUBMIT, "submit"); }
Test(pool_fault, clone, .timeout = 300) { pf_walk(PR_FS_CLONE, "clone"); }
