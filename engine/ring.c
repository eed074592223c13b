/* SPDX-License-Identifier: MIT */
/*
 * The engine: its ring, submission with back-pressure, completion dispatch
 * and the event queue handed out by pidring_wait.
 *
 * Completions are first copied out of the CQ into a backlog, then handled one
 * by one. Handling a completion may submit (a chain's next batch) and a full
 * SQ may need completions pulled to make progress; pulling only appends to the
 * backlog, so nothing re-enters a handler while another runs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

uint64_t pr_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- completions ---- */

/* Room in the backlog for n more completions. */
int pr_backlog_room(struct pidring *pr, unsigned n)
{
	unsigned cap = pr->cqb_cap ? pr->cqb_cap : 64;
	struct io_uring_cqe *nb;

	if (pr->cqb_len + n <= pr->cqb_cap)
		return 0;
	while (cap < pr->cqb_len + n)
		cap *= 2;
	nb = realloc(pr->cqb, cap * sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	pr->cqb = nb;
	pr->cqb_cap = cap;
	return 0;
}

/* Copy every CQE the kernel has posted into the backlog. An attached
 * engine never reads the caller's CQ: its completions come in through
 * pidring_handle_cqe. */
static int pr_pull(struct pidring *pr)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0, ready;

	if (pr->attached)
		return 0;
	ready = io_uring_cq_ready(pr->ring);
	if (!ready)
		return 0;
	if (pr_backlog_room(pr, ready))
		return -ENOMEM;   /* left in the CQ: nothing is lost */
	io_uring_for_each_cqe(pr->ring, head, cqe) {
		pr->cqb[pr->cqb_len++] = *cqe;
		n++;
	}
	io_uring_cq_advance(pr->ring, n);
	return (int)n;
}

/* Room for one more event; NULL only when memory ran out. */
struct pidring_event *pr_event_slot(struct pidring *pr)
{
	struct pr_evq *q = &pr->evq;

	if (q->len == q->cap) {
		unsigned cap = q->cap ? q->cap * 2 : 64;
		struct pidring_event *nev = malloc(cap * sizeof(*nev));

		if (!nev)
			return NULL;
		for (unsigned i = 0; i < q->len; i++)
			nev[i] = q->ev[(q->head + i) % q->cap];
		free(q->ev);
		q->ev = nev;
		q->head = 0;
		q->cap = cap;
	}
	return &q->ev[(q->head + q->len++) % q->cap];
}

/*
 * One completion, to the handler its op kind names (pr->ops). A proc's:
 * only while the slot is the one the SQE was for (the inflight count keeps
 * a slot until its last completion; a mismatch would be an engine bug, and
 * never touches another proc), then the lifecycle's settle.
 */
static void pr_dispatch(struct pidring *pr, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	enum pr_op op = pr_ud_op(ud);
	uint32_t idx = pr_ud_slot(ud);
	pr_cqe_fn *fn;
	struct pr_proc *p;

	/* 5 bits of op in user_data, PR_NOPS kinds: a forged tag (a caller's
	 * CQE that looks like ours) names no handler. */
	if (op >= PR_NOPS)
		return;
	fn = pr->ops->cqe[op];

	/* A kind is either the engine's own or a proc's: a completion that
	 * names the other slot is not one of ours, and names no handler. */
	if ((idx == PR_ENGINE_SLOT) != !!(pr->ops->engine_ops & PR_ARM(op)))
		fn = NULL;
	if (idx == PR_ENGINE_SLOT) {
		if (pr->engine_inflight)
			pr->engine_inflight--;
		if (fn)
			fn(pr, NULL, pr_ud_gen(ud), op, cqe->res);
		return;
	}
	if (idx >= pr->used)
		return;
	p = &pr->procs[idx];
	if (p->state == PR_FREE || p->gen != pr_ud_gen(ud) || !p->inflight)
		return;
	p->inflight--;
	if (fn)
		fn(pr, p, idx, op, cqe->res);
	pr->ops->settle(pr, p, idx);
}

/* Handle the backlog. Each completion yields at most one event, so one free
 * event slot is checked for before each is handled. */
int pr_process_cqes(struct pidring *pr)
{
	int ret = pr_pull(pr);

	if (pr->in_dispatch)
		return ret;
	pr->in_dispatch = true;
	while (pr->cqb_pos < pr->cqb_len) {
		struct io_uring_cqe cqe;

		if (!pr->destroying && pr->evq.len == pr->evq.cap) {
			if (!pr_event_slot(pr)) {
				ret = -ENOMEM;
				break;
			}
			pr->evq.len--;   /* reserved, not used */
		}
		cqe = pr->cqb[pr->cqb_pos++];
		pr_dispatch(pr, &cqe);
		if (pr->cqb_pos == pr->cqb_len)
			pr_pull(pr);
	}
	if (pr->cqb_pos == pr->cqb_len)
		pr->cqb_pos = pr->cqb_len = 0;
	pr->in_dispatch = false;
	return ret < 0 ? ret : 0;
}

/* ---- submissions ---- */

int pr_submit(struct pidring *pr)
{
	for (int stalls = 0;;) {
		int r;

		pr_trace_sq(pr);
		r = pr_fault(PR_FS_SUBMIT) ? -ENOMEM : io_uring_submit(pr->ring);

		if (r == -EINTR)
			continue;
		if (r >= 0 && !io_uring_sq_ready(pr->ring))
			return 0;
		if (r < 0 && r != -EAGAIN && r != -EBUSY)
			return r;
		/* Nothing (or not all) taken: the kernel wants completions
		 * reaped or memory freed first. Pull completions into the
		 * backlog (handled later, in order) and try again. */
		if (r <= 0 && (++stalls > 1000 || pr->attached))
			return -EAGAIN;   /* attached: only the caller can reap */
		io_uring_get_events(pr->ring);
		if (pr_pull(pr) < 0)
			return -ENOMEM;
	}
}

/* Make room for n SQEs that must go into the same submission (a chain). */
int pr_reserve(struct pidring *pr, unsigned n)
{
	if (n > pr->sq_entries)
		return -EINVAL;
	while (io_uring_sq_space_left(pr->ring) < n) {
		/* Injected: the flush this needs is refused. */
		int r = pr_fault(PR_FS_SQE) ? -EBUSY : pr_submit(pr);

		if (r < 0)
			return r;
	}
	return 0;
}

struct io_uring_sqe *pr_sqe(struct pidring *pr)
{
	return io_uring_get_sqe(pr->ring);
}

/* An SQE of the engine's own (no proc), counted until its completion. */
struct io_uring_sqe *pr_esqe(struct pidring *pr, enum pr_op op)
{
	struct io_uring_sqe *sqe = pr_sqe(pr);

	io_uring_sqe_set_data64(sqe, pr_ud(op, PR_ENGINE_SLOT, 0));
	pr->engine_inflight++;
	return sqe;
}

/* Cancel one of the engine's own operations (the caller reserved room). */
void pr_ecancel(struct pidring *pr, enum pr_op op)
{
	io_uring_prep_cancel64(pr_esqe(pr, PR_OP_NOP), pr_ud(op, PR_ENGINE_SLOT, 0), 0);
}

/* Wait for completions up to max_ns (at most), then handle them. */
void pr_drive(struct pidring *pr, uint64_t max_ns)
{
	struct __kernel_timespec ts = {
		.tv_sec = (long long)(max_ns / 1000000000u),
		.tv_nsec = (long long)(max_ns % 1000000000u),
	};
	struct io_uring_cqe *cqe;

	pr_trace_sq(pr);
	io_uring_submit_and_wait_timeout(pr->ring, &cqe, 1, &ts, NULL);
	pr_process_cqes(pr);
}

/* ---- a proc's SQEs ---- */

struct io_uring_sqe *pr_psqe(struct pidring *pr, struct pr_proc *p, uint32_t idx,
			     enum pr_op op)
{
	struct io_uring_sqe *sqe = pr_sqe(pr);

	/* pr_reserve() was called for the whole batch: this cannot fail. */
	io_uring_sqe_set_data64(sqe, pr_ud(op, idx, p->gen));
	p->inflight++;
	return sqe;
}

static unsigned pr_popcount(unsigned v)
{
	return (unsigned)__builtin_popcount(v);
}

/* Cancels for every armed op in mask, each hardlinked to what follows.
 * Returns the last one (NULL if none). */
struct io_uring_sqe *pr_put_mcancels(struct pidring *pr, struct pr_proc *p,
					    uint32_t idx, unsigned mask)
{
	unsigned armed = p->armed & mask;
	struct io_uring_sqe *sqe = NULL;

	for (int op = 0; armed; op++) {
		if (!(armed & PR_ARM(op)))
			continue;
		armed &= ~PR_ARM(op);
		sqe = pr_psqe(pr, p, idx, PR_OP_CANCEL);
		/*
		 * A TIMEOUT (the deadline, a probe's retry) is removed with
		 * TIMEOUT_REMOVE, which looks only at the ring's timeouts
		 * (ASYNC_CANCEL also walks the list of pending WAITIDs).
		 */
		if (op == PR_OP_DEADLINE || op == PR_OP_RETRY)
			io_uring_prep_timeout_remove(sqe, pr_ud((enum pr_op)op, idx, p->gen), 0);
		else
			io_uring_prep_cancel64(sqe, pr_ud((enum pr_op)op, idx, p->gen), 0);
		sqe->flags |= IOSQE_IO_HARDLINK;
		/* Being cancelled is no longer armed: no later chain cancels it
		 * again, nor counts on it. */
		p->armed &= ~PR_ARM(op);
	}
	return sqe;
}

/* Cancel some armed ops outside a chain: the deadline once readiness is
 * decided, what is still armed when a reaped proc's tail runs inline. */
int pr_cancel_ops(struct pidring *pr, struct pr_proc *p, uint32_t idx, unsigned mask)
{
	struct io_uring_sqe *last;
	unsigned n = pr_popcount(p->armed & mask);
	int ret;

	if (!n)
		return 0;
	ret = pr_reserve(pr, n);
	if (ret)
		return ret;
	/* The last cancel links to nothing. */
	last = pr_put_mcancels(pr, p, idx, mask);
	if (last)
		last->flags &= ~IOSQE_IO_HARDLINK;
	/* Nothing waits on these: they go in with the next entry into the
	 * ring rather than with a system call of their own. */
	return 0;
}


/* ---- engine life ---- */

/*
 * Attach mode: the caller's ring, checked for what the engine relies on.
 * The engine takes its SQ size as it is (no chain may be longer than 16).
 */
int pr_ring_attach(struct pidring *pr, struct io_uring *ring)
{
	if (!(ring->features & IORING_FEAT_NODROP))
		return -ENOSYS;
	if (ring->sq.ring_entries < PR_RING_MIN)
		return -EINVAL;
	pr->ring = ring;
	pr->attached = true;
	pr->taskrun_flag = ring->flags & IORING_SETUP_TASKRUN_FLAG;
	pr->sq_entries = ring->sq.ring_entries;
#ifdef PR_FAULT_INJECTION
	pr->trace_pos = ring->sq.sqe_tail;   /* the caller's SQEs so far are not ours */
#endif
	return 0;
}

/*
 * Make a ring into *ring. TASKRUN_FLAG: the kernel raises IORING_SQ_TASKRUN
 * when completions wait for us to enter, so a look that would find nothing
 * skips the system call (pr_ring_has_work). DEFER_TASKRUN unless the engine
 * is to be polled: a DEFER_TASKRUN ring signals its registered eventfd only
 * once someone enters it, 15-25 ms late on 6.18 (measured with a pipe POLL:
 * 18 ms late, against 1 ms with COOP_TASKRUN), so a poller gets
 * COOP_TASKRUN, whose completions post (and signal) on their own.
 */
static int pr_ring_make(struct pidring *pr, struct io_uring *ring, unsigned entries,
			bool polled)
{
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN |
			IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SINGLE_ISSUER,
		0,
	};
	struct io_uring_params p;
	int ret = -EINVAL;

	/* A smaller ring than asked would not hold the longest chain, which
	 * must go into one submission. */
	if (entries < PR_RING_MIN)
		entries = PR_RING_MIN;
	for (unsigned i = polled ? 1 : 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		memset(&p, 0, sizeof(p));
		/* CLAMP: the kernel caps the CQ (65536 entries) rather than
		 * refusing a large SQ's 4x CQ with the same -EINVAL that the
		 * loop reads as "flag not supported". */
		p.flags = tries[i] | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
		p.cq_entries = entries * 4;
		ret = io_uring_queue_init_params(entries, ring, &p);
		if (ret != -EINVAL)
			break;
	}
	if (ret < 0)
		return ret;
	/* Without NODROP an overflowing CQ loses completions, and a lost
	 * CLOSE completion is a proc that never gets its DONE. */
	if (!(p.features & IORING_FEAT_NODROP)) {
		io_uring_queue_exit(ring);
		return -ENOSYS;
	}
	pr->taskrun_flag = p.flags & IORING_SETUP_TASKRUN_FLAG;
	pr->deferred = p.flags & IORING_SETUP_DEFER_TASKRUN;
	pr->sq_entries = p.sq_entries;
	return 0;
}

int pr_ring_setup(struct pidring *pr, unsigned entries)
{
	int ret = pr_ring_make(pr, &pr->own, entries, false);

	if (ret)
		return ret;
	pr->ring = &pr->own;
	pr->ring_ok = true;
	return 0;
}

/*
 * The engine is about to be polled (pidring_fd's first call): trade a
 * DEFER_TASKRUN ring for a COOP_TASKRUN one, while nothing is on it — no
 * proc, no SQE, no completion, none of the engine's own reads — so that
 * the swap loses nothing. Not idle (or no memory): the ring stays, and its
 * fd is signalled late (see pr_ring_make).
 */
void pr_ring_for_polling(struct pidring *pr)
{
	struct io_uring nr;

	if (pr->attached || !pr->deferred || pr->live || pr->engine_inflight ||
	    io_uring_sq_ready(pr->ring) || io_uring_cq_ready(pr->ring) ||
	    pr->cqb_pos != pr->cqb_len)
		return;
	if (pr_ring_make(pr, &nr, pr->sq_entries, true) < 0)
		return;
	io_uring_queue_exit(&pr->own);
	pr->own = nr;            /* liburing's ring holds no pointer to itself */
#ifdef PR_FAULT_INJECTION
	pr->trace_pos = 0;
#endif
}

bool pr_probe_waitid(struct pidring *pr)
{
	struct io_uring_probe *probe = io_uring_get_probe_ring(pr->ring);
	bool ok;

	if (!probe)
		return false;
	ok = io_uring_opcode_supported(probe, PR_OP_WAITID);
	io_uring_free_probe(probe);
	return ok;
}

/* ---- waiting ---- */

void pr_evfd_drain(struct pidring *pr)
{
	uint64_t v;

	if (pr->evfd >= 0 && read(pr->evfd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing signalled since the last drain */
	}
}

/*
 * Completions the kernel holds that no new one will announce: some left in
 * the CQ, or held on its overflow list (a CQ that filled faster than we
 * took it; the flush happens only on an entry that asks for events, and
 * the eventfd is not signalled again for it).
 */
static bool pr_cq_behind(struct pidring *pr)
{
	return io_uring_cq_ready(pr->ring) ||
	       (IO_URING_READ_ONCE(*pr->ring->sq.kflags) & IORING_SQ_CQ_OVERFLOW);
}

/* Events stay queued past this call, in our queue or the kernel's: keep
 * the pollable fd readable, so that a poller comes back for them. */
void pr_signal_leftovers(struct pidring *pr)
{
	uint64_t one = 1;

	if (pr->evfd >= 0 &&
	    (pr->evq.len || pr->cqb_pos < pr->cqb_len || pr_cq_behind(pr)) &&
	    write(pr->evfd, &one, sizeof(one)) < 0) {
		/* EAGAIN only at a counter near 2^64: readable anyway */
	}
}

unsigned pr_pop_events(struct pidring *pr, struct pidring_event *ev, unsigned max)
{
	struct pr_evq *q = &pr->evq;
	unsigned n = 0;

	while (n < max && q->len) {
		ev[n++] = q->ev[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
	}
	return n;
}

/*
 * Whether entering the ring could bring anything: SQEs to submit, task work
 * the kernel flagged (IORING_SQ_TASKRUN, set as it queues a completion for
 * us), or completions held back by a full CQ. Without the flag, always.
 */
bool pr_ring_has_work(struct pidring *pr)
{
	if (!pr->taskrun_flag || io_uring_sq_ready(pr->ring))
		return true;
	return IO_URING_READ_ONCE(*pr->ring->sq.kflags) &
	       (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW);
}

/*
 * Some SQEs need no system call of their own (re-armed engine reads, READY's
 * deadline cancel, a spawn's exit watch, a kill chain's cancels): the next
 * entry into the ring takes them, and nothing of theirs happens on a
 * DEFER_TASKRUN ring before one anyway. A poller waits outside the ring, so
 * for it they go in now (and pidring_wait puts in what is left before it
 * returns).
 */
void pr_submit_lazy(struct pidring *pr)
{
	if (pr->evfd >= 0 && io_uring_sq_ready(pr->ring))
		pr_submit(pr);
}

/* ---- attach mode ---- */
