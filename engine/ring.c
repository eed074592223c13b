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
#include "pool.h"
#include "ready.h"
#include "tree.h"

uint64_t pr_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *pidring_version(void)
{
#define PR_STR2(x) #x
#define PR_STR(x) PR_STR2(x)
	return PR_STR(PIDRING_VERSION_MAJOR) "." PR_STR(PIDRING_VERSION_MINOR) "."
	       PR_STR(PIDRING_VERSION_PATCH);
}

/* ---- completions ---- */

/* Room in the backlog for n more completions. */
static int pr_backlog_room(struct pidring *pr, unsigned n)
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
		pr_complete(pr, &cqe);
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

/* ---- engine life ---- */

/*
 * Attach mode: the caller's ring, checked for what the engine relies on.
 * The engine takes its SQ size as it is (no chain may be longer than 16).
 */
static int pr_ring_attach(struct pidring *pr, struct io_uring *ring)
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

static int pr_ring_setup(struct pidring *pr, unsigned entries)
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
static void pr_ring_for_polling(struct pidring *pr)
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

static bool pr_probe_waitid(struct pidring *pr)
{
	struct io_uring_probe *probe = io_uring_get_probe_ring(pr->ring);
	bool ok;

	if (!probe)
		return false;
	ok = io_uring_opcode_supported(probe, PR_OP_WAITID);
	io_uring_free_probe(probe);
	return ok;
}

static void pr_free(struct pidring *pr)
{
	pr_ready_fini(pr);
	if (pr->ring_ok)
		io_uring_queue_exit(pr->ring);
	if (pr->evfd >= 0)
		close(pr->evfd);
	pr_tree_fini(pr);
	pr_rundir_close(pr);
	pr_spawn_fini(pr);
	pr_slots_free(pr);
	free(pr->evq.ev);
	free(pr->cqb);
	free(pr);
}

int pidring_new(struct pidring **out, const struct pidring_opts *opts)
{
	struct pidring_opts o = { 0 };
	struct pidring *pr;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (opts)
		o = *opts;
	if (o.flags & ~(PIDRING_F_NO_WAITID | PIDRING_F_SUBREAPER | PIDRING_F_NO_CLONE3))
		return -EINVAL;
	if (!o.ring_entries)
		o.ring_entries = PR_DEFAULT_ENTRIES;
	if (!o.max_procs)
		o.max_procs = PR_DEFAULT_MAX_PROCS;
	if (o.ring_entries < PR_MIN_ENTRIES || o.ring_entries > 32768 ||
	    o.max_procs > PR_MAX_PROCS_LIMIT)
		return -EINVAL;

	pr = calloc(1, sizeof(*pr));
	if (!pr)
		return -ENOMEM;
	pr->flags = o.flags;
	pr->no_clone3 = o.flags & PIDRING_F_NO_CLONE3;
	pr->devnull = pr->inst_fd = pr->lock_fd = pr->base_fd = -1;
	pr->inotify_fd = pr->notify_fd = -1;
	pr->cg_fd = pr->cg_parent_fd = pr->evfd = -1;
	pr->owner_tid = (pid_t)syscall(SYS_gettid);
	pr->owner_pid = getpid();

	ret = pr_slots_init(pr, o.max_procs);
	if (!ret)
		ret = pr_spawn_init(pr);
	if (!ret)
		ret = o.ring ? pr_ring_attach(pr, o.ring) : pr_ring_setup(pr, o.ring_entries);
	if (!ret) {
		pr->has_waitid = !(o.flags & PIDRING_F_NO_WAITID) && pr_probe_waitid(pr);
		ret = pr_rundir_open(pr, o.runtime_dir);
	}
	if (!ret)
		ret = pr_ready_init(pr);
	if (!ret)
		ret = pr_tree_init(pr, o.cgroup_dir, o.flags);
	if (ret) {
		pr_free(pr);
		return ret;
	}
	*out = pr;
	return 0;
}

/* How long a timed-out destroy lets killed procs die before it gives up. */
#define PR_ABANDON_GRACE_NS 100000000ull

/*
 * Last resort of a destroy that timed out: cancel whatever is still in flight
 * so that no completion can write into memory we are about to free, then
 * reap what can be reaped and close what is open.
 */
static void pr_abandon(struct pidring *pr)
{
	struct io_uring_sqe *sqe;
	uint64_t now = pr_now_ns(), end = now + 1000000000ull;
	uint64_t grace = now + PR_ABANDON_GRACE_NS;
	bool busy = true;

	/*
	 * Every proc has been sent SIGKILL and has its chain in. Those not in
	 * uninterruptible sleep die within a moment: let their exit watches
	 * or chains reap them. Cancelling first would cancel those polls
	 * and WAITIDs too, and the tails that follow would leave the children
	 * zombies.
	 */
	while (pr->live && (now = pr_now_ns()) < grace) {
		pr_run_pending(pr);
		pr_drive(pr, grace - now);
	}
	while (busy && pr_now_ns() < end) {
		/* Again each round: a chain's WAITID is issued only once its
		 * POLL completed (cancelled by the round before). */
		if (pr_reserve(pr, 1) == 0) {
			sqe = pr_esqe(pr, PR_OP_NOP);
			io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY |
						       IORING_ASYNC_CANCEL_ALL);
			pr_submit(pr);
		}
		pr_drive(pr, 10000000u);
		busy = false;
		for (uint32_t i = 0; i < pr->used; i++)
			busy |= pr->procs[i].state != PR_FREE && pr->procs[i].inflight;
	}
	for (uint32_t i = 0; i < pr->used; i++) {
		struct pr_proc *p = &pr->procs[i];

		if (p->state == PR_FREE)
			continue;
		if (p->pidfd >= 0) {
			siginfo_t si;

			waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG);
			close(p->pidfd);
			p->pidfd = -1;
		}
		pr_ready_release(pr, p, i);
		pr_tree_release(pr, p, i);
	}
	/* An operation that still did not complete may write into procs: keep
	 * that memory rather than hand it back to the allocator. */
	if (busy)
		pr->procs = NULL;
}

/* The first step of a destroy: every live proc gets SIGKILL and its chain. */
static void pr_kill_all(struct pidring *pr)
{
	pr->destroying = true;
	for (uint32_t i = 0; i < pr->used; i++) {
		struct pr_proc *p = &pr->procs[i];

		if (p->state == PR_BINDING || p->state == PR_RUNNING)
			pr_kill_or_defer(pr, p, i, PIDRING_CANCELLED);
		else if (p->state == PR_STOPPING)
			pr_signal(p, SIGKILL);
	}
}

/*
 * Destroy on the caller's ring: the engine cannot wait for completions it
 * does not read, so the caller calls again, handing them over in between,
 * until nothing of the engine is in flight. Then the memory the kernel
 * writes into (a WAITID's siginfo, a read's buffer) can go.
 */
static int pr_destroy_attached(struct pidring *pr)
{
	if (!pr->destroying) {
		pr_kill_all(pr);
		pr_ready_quiesce(pr);     /* cancels; does not wait here */
	}
	pr_run_pending(pr);
	if (pr->live || pr->engine_inflight)
		return -EINPROGRESS;
	if (pr->subreaper)
		pr_orphans_sweep(pr);
	pr_free(pr);
	return 0;
}

int pidring_destroy(struct pidring *pr, int timeout_ms)
{
	uint64_t end;
	int ret = 0;

	if (!pr)
		return 0;
	/* The pool first: its runners are cancelled like the rest. */
	pidring_pool_destroy(pr->pool);
	if (pr->attached)
		return pr_destroy_attached(pr);
	end = timeout_ms < 0 ? UINT64_MAX :
	      pr_now_ns() + (uint64_t)timeout_ms * 1000000u;
	pr_kill_all(pr);
	while (pr->live) {
		uint64_t now = pr_now_ns();

		if (now >= end) {
			ret = -ETIMEDOUT;
			break;
		}
		pr_run_pending(pr);
		pr_drive(pr, end - now < 100000000u ? end - now : 100000000u);
	}
	if (ret)
		pr_abandon(pr);
	pr_ready_quiesce(pr);
	if (pr->subreaper)
		pr_orphans_sweep(pr);
	pr_free(pr);
	return ret;
}

/* ---- waiting ---- */

static void pr_evfd_drain(struct pidring *pr)
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

static unsigned pr_pop_events(struct pidring *pr, struct pidring_event *ev, unsigned max)
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
static bool pr_ring_has_work(struct pidring *pr)
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

int pidring_wait(struct pidring *pr, struct pidring_event *ev, unsigned max,
		 int timeout_ms)
{
	uint64_t end = 0;
	bool fetch;
	int ret;

	if (!pr || !ev || !max || (pr->attached && timeout_ms != 0))
		return -EINVAL;
	if (pr->attached) {
		/* Completions came in through pidring_handle_cqe. */
		pr_run_pending(pr);
		pr_pool_run(pr);
		return (int)pr_pop_events(pr, ev, max);
	}
	if (timeout_ms > 0)
		end = pr_now_ns() + (uint64_t)timeout_ms * 1000000u;
	/* A call that will block anyway enters the ring once, to wait: the
	 * blocking enter collects what is there as well as what comes. */
	fetch = !(timeout_ms != 0 && pr->evq.len == 0 && pr->live > 0 && !pr->npending);

	for (;;) {
		struct io_uring_cqe *cqe;
		/* Without the ring's WAITID peek, orphans are found by looking,
		 * at every call and every 100 ms while blocked (kernels < 6.7). */
		bool sweep = pr->subreaper && !pr->has_waitid;

		if (sweep)
			pr_orphans_sweep(pr);
		pr_run_pending(pr);
		if (fetch && pr->evq.len < max) {
			/* With DEFER_TASKRUN completions exist only once we
			 * enter the kernel asking for them. Ask even when some
			 * events are queued: a caller that spawns and waits in
			 * turn must still hear about exits. The pollable
			 * eventfd is reset right before: whatever completes
			 * after this makes it readable again. */
			pr_evfd_drain(pr);
			if (pr_ring_has_work(pr)) {
				pr_trace_sq(pr);
				ret = io_uring_submit_and_get_events(pr->ring);
				if (ret < 0 && ret != -EINTR && ret != -EAGAIN &&
				    ret != -EBUSY)
					return ret;
			}
		}
		ret = pr_process_cqes(pr);
		pr_pool_run(pr);    /* the pool's answers, timers and warm runners */
		if (pr->evq.len) {
			unsigned n = pr_pop_events(pr, ev, max);

			pr_submit_lazy(pr);
			pr_signal_leftovers(pr);
			return (int)n;
		}
		if (ret < 0)
			return ret;
		/* The pool's spawns may have pulled completions in (a full SQ's
		 * flush): handle them before any sleep. */
		if (pr->cqb_pos < pr->cqb_len)
			continue;
		if (timeout_ms == 0 || pr->live == 0) {
			pr_submit_lazy(pr);
			pr_signal_leftovers(pr);
			return 0;
		}
		pr_evfd_drain(pr);
		fetch = false;
		pr_trace_sq(pr);
		if (timeout_ms < 0 && !sweep) {
			ret = io_uring_submit_and_wait(pr->ring, 1);
		} else {
			uint64_t now = pr_now_ns(), left;
			struct __kernel_timespec ts;

			if (timeout_ms >= 0 && now >= end)
				return 0;
			left = timeout_ms < 0 ? UINT64_MAX : end - now;
			if (sweep && left > 100000000u)
				left = 100000000u;
			ts.tv_sec = (long long)(left / 1000000000u);
			ts.tv_nsec = (long long)(left % 1000000000u);
			ret = io_uring_submit_and_wait_timeout(pr->ring, &cqe, 1, &ts,
							       NULL);
			if (ret == -ETIME)
				continue;
		}
		if (ret == -EINTR)
			return -EINTR;
		if (ret < 0 && ret != -EAGAIN && ret != -EBUSY)
			return ret;
	}
}

/*
 * The pollable fd is an eventfd registered with the ring, made on first use
 * (engines that are never polled pay nothing for it). Not the ring fd: under
 * DEFER_TASKRUN a completion is task work queued for this thread, which does
 * not wake a poll() on the ring fd, and events already copied into our queue
 * are no longer in the CQ for the ring fd to report. The eventfd is signalled
 * by the kernel as completions are queued, and by pidring_wait itself when it
 * returns with events left over or with completions the kernel still holds
 * (pr_signal_leftovers). An attached engine has no eventfd.
 */
int pidring_fd(struct pidring *pr)
{
	uint64_t one = 1;
	int fd, ret;

	if (!pr)
		return -EINVAL;
	if (pr->attached)
		return -EOPNOTSUPP;
	if (pr->evfd >= 0)
		return pr->evfd;
	pr_ring_for_polling(pr);
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	ret = io_uring_register_eventfd(pr->ring, fd);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	pr->evfd = fd;
	/* Exit watches a spawn left for the next entry go in now: from here
	 * on the caller may wait outside the ring. */
	pr_submit_lazy(pr);
	/* Completions may have come before the fd existed: the first poll
	 * says "look", and pidring_wait(..., 0) finds out. */
	if (write(fd, &one, sizeof(one)) < 0) {
		/* cannot fail: the counter is 0 */
	}
	return fd;
}

/* ---- attach mode ---- */

int pidring_owns_cqe(const struct io_uring_cqe *cqe)
{
	return cqe && (cqe->user_data & PIDRING_UD_TAG_MASK) == PIDRING_UD_TAG;
}

int pidring_handle_cqe(struct pidring *pr, const struct io_uring_cqe *cqe)
{
	if (!pr || !pr->attached || !pidring_owns_cqe(cqe))
		return -EINVAL;
	if (pr_backlog_room(pr, 1))
		return -ENOMEM;
	/* The 16 bytes every CQE has (a CQE32 ring's extra half is unused). */
	pr->cqb[pr->cqb_len++] = *cqe;
	pr_run_pending(pr);
	return pr_process_cqes(pr);
}

unsigned pidring_live(const struct pidring *pr)
{
	return pr ? pr->live : 0;
}
