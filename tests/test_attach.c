/*
 * Attach mode: the engine on the caller's ring. The caller reaps the CQ,
 * hands the engine's CQEs to pidring_handle_cqe and keeps its own; the
 * engine never consumes a CQE that is not its own, its chains are in the
 * kernel when its calls return, and its destroy waits (-EINPROGRESS) for the
 * completions only the caller can hand over.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <liburing.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "helpers.h"
#include "pidring.h"

struct at {
	struct th_baseline b;
	char *dir;
	struct io_uring ring;
	struct pidring *pr;
	unsigned foreign;      /* the caller's own CQEs seen */
	unsigned ready, done;
};

/* The ring a loop would make: SINGLE_ISSUER | DEFER_TASKRUN where the
 * kernel has them. */
static void at_ring(struct io_uring *ring, unsigned entries)
{
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, 0,
	};
	int r = -EINVAL;

	for (unsigned i = 0; i < 2 && r == -EINVAL; i++)
		r = io_uring_queue_init(entries, ring, tries[i]);
	cr_assert_eq(r, 0, "io_uring_queue_init: %d", r);
}

static void at_open(struct at *t, unsigned flags)
{
	struct pidring_opts o = { .flags = flags };
	int r;

	th_baseline_take(&t->b);
	t->dir = th_mkdtemp();
	at_ring(&t->ring, 64);
	o.runtime_dir = t->dir;
	o.ring = &t->ring;
	r = pidring_new(&t->pr, &o);
	cr_assert_eq(r, 0, "pidring_new(attached): %d", r);
}

/* One turn of the caller's loop: submit, wait up to 50 ms, sort the CQEs. */
static void at_turn(struct at *t)
{
	struct __kernel_timespec ts = { .tv_nsec = 50000000 };
	struct pidring_event ev[32];
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	int r;

	r = io_uring_submit_and_wait_timeout(&t->ring, &cqe, 1, &ts, NULL);
	cr_assert(r >= 0 || r == -ETIME || r == -EINTR, "submit_and_wait: %d", r);
	io_uring_for_each_cqe(&t->ring, head, cqe) {
		if (pidring_owns_cqe(cqe)) {
			r = pidring_handle_cqe(t->pr, cqe);
			cr_assert_eq(r, 0, "pidring_handle_cqe: %d", r);
		} else {
			cr_expect_eq(cqe->user_data, (uint64_t)(uintptr_t)t,
				     "a foreign CQE that is not ours: %llx",
				     (unsigned long long)cqe->user_data);
			t->foreign++;
		}
		n++;
	}
	io_uring_cq_advance(&t->ring, n);
	if (!t->pr)
		return;
	while ((r = pidring_wait(t->pr, ev, 32, 0)) > 0)
		for (int i = 0; i < r; i++) {
			if (ev[i].type == PIDRING_EV_READY)
				t->ready++;
			else
				t->done++;
		}
	cr_assert(r == 0, "pidring_wait: %d", r);
}

/* The caller's own op on the same ring: a NOP tagged with a pointer. */
static void at_own_nop(struct at *t)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);

	cr_assert(sqe);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)t);
}

static void at_close(struct at *t)
{
	int r, turns = 0;

	while ((r = pidring_destroy(t->pr, 0)) == -EINPROGRESS && turns++ < 200)
		at_turn(t);
	cr_assert_eq(r, 0, "pidring_destroy: %d after %d turns", r, turns);
	t->pr = NULL;
	io_uring_queue_exit(&t->ring);
	th_leak_check(&t->b, t->dir);
	th_rmtree(t->dir);
	free(t->dir);
}

static pidring_id at_spawn(struct at *t, bool bind)
{
	static char *a_bind[] = { "pidring-child", "--bind-after-ms", "0", NULL };
	static char *a_never[] = { "pidring-child", "--never-ready", NULL };
	struct pidring_spawn s = {
		.path = th_child_path(),
		.argv = bind ? a_bind : a_never,
		.ready = PIDRING_READY_BIND,
	};
	pidring_id id = 0;
	int r = pidring_spawn(t->pr, &s, &id);

	cr_assert_eq(r, 0, "pidring_spawn: %d", r);
	return id;
}

/* 20 runners on the caller's ring beside the caller's own NOPs: all READY,
 * all cancelled, all DONE; each of the caller's CQEs reaches the caller. */
Test(attach, runners_beside_callers_ops)
{
	enum { N = 20 };
	static struct at t;
	pidring_id id[N];
	unsigned nops = 0;

	at_open(&t, 0);
	for (int i = 0; i < N; i++) {
		id[i] = at_spawn(&t, true);
		at_own_nop(&t);
		nops++;
	}
	for (int turns = 0; t.ready < N && turns < 200; turns++)
		at_turn(&t);
	cr_assert_eq(t.ready, N, "%u READY", t.ready);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(pidring_cancel(t.pr, id[i]), 0);
		/* Rule 3 on the caller's ring: the chain is in the kernel
		 * before the call returns, not left in the SQ. */
		cr_expect_eq(io_uring_sq_ready(&t.ring), 0, "SQEs left after cancel %d", i);
	}
	at_own_nop(&t);
	nops++;
	for (int turns = 0; (t.done < N || t.foreign < nops) && turns < 200; turns++)
		at_turn(&t);
	cr_expect_eq(t.done, N, "%u DONE", t.done);
	cr_expect_eq(t.foreign, nops, "%u of the caller's %u CQEs", t.foreign, nops);
	cr_expect_eq(pidring_live(t.pr), 0);
	at_close(&t);
}

/* What attach mode refuses, and what it checks. */
Test(attach, errors)
{
	static struct at t;
	struct pidring_event ev[4];
	struct io_uring_cqe foreign = { .user_data = 42 };
	struct io_uring small;
	struct pidring *own = NULL, *pr = NULL;
	struct pidring_opts o = { 0 };

	at_open(&t, 0);
	cr_expect_eq(pidring_fd(t.pr), -EOPNOTSUPP);
	cr_expect_eq(pidring_wait(t.pr, ev, 4, 10), -EINVAL);
	cr_expect_eq(pidring_wait(t.pr, ev, 4, -1), -EINVAL);
	cr_expect_eq(pidring_wait(t.pr, ev, 4, 0), 0);
	cr_expect_eq(pidring_owns_cqe(&foreign), 0);
	cr_expect_eq(pidring_owns_cqe(NULL), 0);
	cr_expect_eq(pidring_handle_cqe(t.pr, &foreign), -EINVAL);
	cr_expect_eq(pidring_handle_cqe(t.pr, NULL), -EINVAL);
	/* Tagged like ours but naming no op kind the engine has (every value
	 * of the 5-bit op field, engine slot and proc slot alike): taken,
	 * ignored, no event and nothing in flight changes. */
	for (uint64_t op = 0; op < 32; op++)
		for (int slot = 0; slot < 2; slot++) {
			struct io_uring_cqe forged = {
				.user_data = PIDRING_UD_TAG | op << 56 |
					     (slot ? 0xffffffull : 0) << 32 | 7,
				.res = -ECANCELED,
			};

			cr_expect_eq(pidring_handle_cqe(t.pr, &forged), 0);
		}
	cr_expect_eq(pidring_wait(t.pr, ev, 4, 0), 0);
	cr_expect_eq(pidring_live(t.pr), 0);
	/* An engine with its own ring takes no CQE from outside. */
	o.runtime_dir = t.dir;
	cr_assert_eq(pidring_new(&own, &o), 0);
	foreign.user_data = PIDRING_UD_TAG | 1;
	cr_expect_eq(pidring_owns_cqe(&foreign), 1);
	cr_expect_eq(pidring_handle_cqe(own, &foreign), -EINVAL);
	cr_assert_eq(pidring_destroy(own, 1000), 0);
	/* A ring too small for a whole chain. */
	at_ring(&small, 8);
	o.ring = &small;
	cr_expect_eq(pidring_new(&pr, &o), -EINVAL);
	cr_expect_null(pr);
	io_uring_queue_exit(&small);
	at_close(&t);
}

/* destroy with procs in flight: -EINPROGRESS (spawns refused) until the
 * caller has handed over the last completion; then 0, nothing left. */
Test(attach, destroy_in_flight)
{
	static struct at t;
	struct pidring_spawn s = { .path = "/bin/true", .argv = (char *[]){ "true", NULL } };
	pidring_id id;
	int r, turns = 0;

	at_open(&t, 0);
	for (int i = 0; i < 5; i++)
		at_spawn(&t, false);
	at_turn(&t);
	cr_assert_eq(pidring_destroy(t.pr, 0), -EINPROGRESS);
	cr_expect_eq(io_uring_sq_ready(&t.ring), 0, "the kill chains were left in the SQ");
	cr_expect_eq(pidring_spawn(t.pr, &s, &id), -ESHUTDOWN);
	while ((r = pidring_destroy(t.pr, 0)) == -EINPROGRESS && turns++ < 200)
		at_turn(&t);
	cr_assert_eq(r, 0, "pidring_destroy: %d", r);
	cr_expect_eq(t.done, 0, "DONE events after destroy: %u", t.done);
	t.pr = NULL;
	io_uring_queue_exit(&t.ring);
	th_leak_check(&t.b, t.dir);
	th_rmtree(t.dir);
	free(t.dir);
}

/* The fallback (no ring WAITID) on the caller's ring: the chain's POLL
 * completes through pidring_handle_cqe, which puts the tail. */
Test(attach, cancel_fallback)
{
	static struct at t;
	pidring_id id;

	at_open(&t, PIDRING_F_NO_WAITID);
	id = at_spawn(&t, false);
	cr_assert_eq(pidring_cancel(t.pr, id), 0);
	for (int turns = 0; t.done < 1 && turns < 200; turns++)
		at_turn(&t);
	cr_expect_eq(t.done, 1);
	at_close(&t);
}
