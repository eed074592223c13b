/*
 * The session pool on an attached engine: its one TIMEOUT goes on the
 * caller's ring with the engine's user_data tag, so pidring_owns_cqe claims
 * it, pidring_handle_cqe takes it, and the idle runner expires from the
 * caller's own loop; the caller's CQEs are never taken.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <liburing.h>
#include <stdbool.h>
#include <string.h>

#include "helpers.h"
#include "pidring.h"

struct pa {
	struct th_baseline b;
	char *dir;
	struct io_uring ring;
	struct pidring *pr;
	struct pidring_pool *pool;
	unsigned foreign, ready, failed, engine_events;
	uint64_t last_lease;
};

/* One turn of the caller's loop (up to 20 ms), with a NOP of its own
 * when nop says so. */
static void pa_turn(struct pa *t, bool nop)
{
	struct __kernel_timespec ts = { .tv_nsec = 20000000 };
	struct pidring_event ev[16];
	struct io_uring_cqe *cqe;
	unsigned head, n = 0, ours = 0;
	int r;

	if (nop) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);

		cr_assert(sqe);
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)t);
	}
	r = io_uring_submit_and_wait_timeout(&t->ring, &cqe, 1, &ts, NULL);
	cr_assert(r >= 0 || r == -ETIME || r == -EINTR, "submit_and_wait: %d", r);
	io_uring_for_each_cqe(&t->ring, head, cqe) {
		if (pidring_owns_cqe(cqe)) {
			cr_assert_eq(pidring_handle_cqe(t->pr, cqe), 0);
			ours++;
		} else
			t->foreign += cqe->user_data == (uint64_t)(uintptr_t)t;
		n++;
	}
	io_uring_cq_advance(&t->ring, n);
	/* The engine is asked only when one of its CQEs came: an idle runner
	 * can expire only through the pool's TIMEOUT. */
	if (!ours)
		return;
	while ((r = pidring_wait(t->pr, ev, 16, 0)) > 0)
		for (int i = 0; i < r; i++) {
			if (ev[i].type == PIDRING_EV_LEASE_READY) {
				t->ready++;
				t->last_lease = ev[i].lease;
			} else if (ev[i].type == PIDRING_EV_LEASE_FAILED) {
				t->failed++;
			} else {
				t->engine_events++;
			}
		}
	cr_assert_eq(r, 0, "pidring_wait: %d", r);
}

static struct pidring_pool_stats pa_stats(struct pa *t)
{
	struct pidring_pool_stats st;

	cr_assert_eq(pidring_pool_stats(t->pool, &st), 0);
	return st;
}

Test(pool_attach, idle_ttl_on_the_callers_ring, .timeout = 60)
{
	static struct pa t;
	static char *argv[] = { "pidring-child", "--bind-after-ms", "0", NULL };
	struct pidring_spawn tpl = { .path = th_child_path(), .argv = argv,
				     .ready = PIDRING_READY_BIND };
	struct pidring_pool_opts po = { .spawn = &tpl, .idle_ttl_ms = 50 };
	struct pidring_opts o = { 0 };
	struct pidring_lease l;
	int r, turns = 0;

	th_baseline_take(&t.b);
	t.dir = th_mkdtemp();
	cr_assert_eq(io_uring_queue_init(64, &t.ring, 0), 0);
	o.runtime_dir = t.dir;
	o.ring = &t.ring;
	cr_assert_eq(pidring_new(&t.pr, &o), 0);
	cr_assert_eq(pidring_pool_new(t.pr, &po, &t.pool), 0);
	cr_assert_eq(pidring_pool_get(t.pool, "a", 1, NULL, &l), PIDRING_POOL_PENDING);
	while (!t.ready && turns++ < 500)
		pa_turn(&t, turns == 1);
	cr_assert_eq(t.ready, 1u);
	cr_expect_eq(t.last_lease, l.ticket);
	cr_assert_eq(pidring_pool_release(t.pool, l.ticket), 0);
	cr_expect_eq(pa_stats(&t).idle, 1u);
	/* Only the pool's TIMEOUT, handed over like any engine CQE, expires it. */
	for (turns = 0; pa_stats(&t).done < 1 && turns < 500; turns++)
		pa_turn(&t, false);
	cr_expect_eq(pa_stats(&t).done, 1u, "the idle runner expired");
	cr_expect_eq(pa_stats(&t).keys, 0u);
	cr_expect_eq(pidring_live(t.pr), 0u);
	cr_expect_eq(t.engine_events, 0u, "the pool's runners' own events stay inside");
	cr_expect_gt(t.foreign, 0u);
	cr_expect_eq(pidring_pool_destroy(t.pool), 0);
	for (turns = 0; (r = pidring_destroy(t.pr, 0)) == -EINPROGRESS && turns < 200; turns++)
		pa_turn(&t, false);
	cr_assert_eq(r, 0, "pidring_destroy: %d", r);
	io_uring_queue_exit(&t.ring);
	th_leak_check(&t.b, t.dir);
	th_rmtree(t.dir);
	free(t.dir);
}
