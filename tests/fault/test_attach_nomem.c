/*
 * Attach mode when memory runs out: a CQE that pidring_handle_cqe has kept
 * is never asked for again. Here the event queue is full (64 READYs not yet
 * taken) when a cancel's completions are handed over, and the allocation
 * that would grow it fails: pidring_handle_cqe must still return 0 (a
 * caller told -ENOMEM passes the CQE again, and it would count twice), and
 * the kept completion is handled by a later call. Every proc ends in
 * exactly one DONE, nothing leaks.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/fault.h"
#include "helpers.h"
#include "pidring.h"

void pidring__fault_set(int site, unsigned long nth);

enum { NPROCS = 64 };   /* the event queue's first capacity */

struct nm {
	struct io_uring ring;
	struct pidring *pr;
	pidring_id id[NPROCS];
	int ready[NPROCS], done[NPROCS];
};

static int nm_index(const struct nm *t, pidring_id id)
{
	for (int i = 0; i < NPROCS; i++)
		if (t->id[i] == id)
			return i;
	cr_assert_fail("an event for an id never spawned: %llx", (unsigned long long)id);
	return -1;
}

/* Take every queued event. */
static void nm_events(struct nm *t)
{
	struct pidring_event ev[32];
	int n;

	while ((n = pidring_wait(t->pr, ev, 32, 0)) > 0)
		for (int k = 0; k < n; k++) {
			int i = nm_index(t, ev[k].id);

			if (ev[k].type == PIDRING_EV_READY)
				t->ready[i]++;
			else
				t->done[i]++;
		}
	cr_assert_eq(n, 0, "pidring_wait: %d", n);
}

/* One turn of the caller's loop; every handle_cqe must return 0. */
static void nm_turn(struct nm *t)
{
	struct __kernel_timespec ts = { .tv_nsec = 50000000 };
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	int r;

	r = io_uring_submit_and_wait_timeout(&t->ring, &cqe, 1, &ts, NULL);
	cr_assert(r >= 0 || r == -ETIME || r == -EINTR, "submit_and_wait: %d", r);
	io_uring_for_each_cqe(&t->ring, head, cqe) {
		cr_assert(pidring_owns_cqe(cqe));
		r = pidring_handle_cqe(t->pr, cqe);
		cr_assert_eq(r, 0, "pidring_handle_cqe: %d (a CQE it kept?)", r);
		n++;
	}
	io_uring_cq_advance(&t->ring, n);
}

Test(fault, attach_handle_cqe_keeps_what_it_took, .timeout = 60)
{
	static struct nm t;
	struct th_baseline b;
	struct pidring_opts o = { 0 };
	char *dir;
	int r;

	th_baseline_take(&b);
	dir = th_mkdtemp();
	cr_assert_eq(io_uring_queue_init(256, &t.ring, 0), 0);
	o.runtime_dir = dir;
	o.ring = &t.ring;
	cr_assert_eq(pidring_new(&t.pr, &o), 0);
	for (int i = 0; i < NPROCS; i++) {
		char *const argv[] = { "pidring-child", "--sleep-forever", NULL };
		struct pidring_spawn s = { .path = th_child_path(), .argv = argv,
					   .ready = PIDRING_READY_EXEC };

		r = pidring_spawn(t.pr, &s, &t.id[i]);
		cr_assert_eq(r, 0, "spawn #%d: %d", i, r);
	}
	/* 64 READYs queued, none taken: the queue is full. Grow the CQE
	 * backlog first (a CQE it cannot keep is rightly -ENOMEM), then make
	 * the event queue's growth fail. */
	cr_assert_eq(pidring_cancel(t.pr, t.id[0]), 0);
	pidring__fault_set(PR_FS_ALLOC, 2);
	for (int turn = 0; turn < 100 && pidring_live(t.pr) == NPROCS; turn++)
		nm_turn(&t);
	pidring__fault_set(PR_FS_ALLOC, 0);
	nm_events(&t);
	for (int i = 1; i < NPROCS; i++)
		cr_assert_eq(pidring_cancel(t.pr, t.id[i]), 0);
	for (int turn = 0; turn < 400 && pidring_live(t.pr); turn++) {
		nm_turn(&t);
		nm_events(&t);
	}
	nm_events(&t);
	for (int i = 0; i < NPROCS; i++) {
		cr_expect_eq(t.ready[i], 1, "proc %d: %d READY", i, t.ready[i]);
		cr_expect_eq(t.done[i], 1, "proc %d: %d DONE", i, t.done[i]);
	}
	for (int turn = 0; turn < 100; turn++) {
		r = pidring_destroy(t.pr, 0);
		if (r != -EINPROGRESS)
			break;
		nm_turn(&t);
	}
	cr_assert_eq(r, 0, "pidring_destroy: %d", r);
	io_uring_queue_exit(&t.ring);
	th_leak_check(&b, dir);
	th_rmtree(dir);
	free(dir);
}
