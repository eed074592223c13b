/* SPDX-License-Identifier: MIT */
/*
 * Exit watches, reap chains and the lifecycle state machine.
 *
 * A proc's exit watch is a POLL_ADD on its pidfd, on every kernel; when it
 * fires, waitid(WNOHANG) takes the status. Not a ring WAITID: each pending
 * WAITID waits on the parent's one child-exit queue, which every exit of
 * any child of the process walks under the tasklist lock, so n live procs
 * made each exit cost O(n) (spawning at 10,000 live procs ran at 0.45x of
 * the rate at 10). The pidfd's queue is the pid's own.
 *
 * A chain is one batch of SQEs, each hardlinked to the next, so that a failed
 * step (the host already reaped the child, the socket was never bound) never
 * skips the steps after it:
 *
 *   ASYNC_CANCEL (each armed op) -> WAITID | POLL_ADD
 *       [-> UNLINKAT -> UNLINKAT(AT_REMOVEDIR) of the cgroup -> CLOSE]
 *
 * The bracketed tail is on the ring only for a proc with a cgroup (whose
 * removal is watched there). Every other proc's tail, the socket's unlinkat
 * and the pidfd's close, runs inline once the status is in: from the
 * WAITID's completion whatever its result (PRF_TAIL_INLINE), or from the
 * fallback's waitid. The kill goes right before the batch:
 * pidfd_send_signal(SIGKILL) to the group, and in cgroup mode a WRITE to
 * cgroup.kill in a batch of its own. A stop sends SIGTERM and peeks at the
 * leader's exit (WAITID with WNOWAIT, linked to a timeout of the grace); the
 * kill chain follows either way. A natural exit runs the tail without the
 * kill.
 *
 * The slot is freed, and DONE emitted, only when the pidfd is closed, no
 * other SQE of the proc is in flight (pr_proc.inflight) and its cgroup is
 * gone: no completion can ever arrive for a freed slot.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "ready.h"
#include "tree.h"

#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP (1u << 2)   /* kernel 6.9 */
#endif

/* Ops a chain cancels before it reaps. */
#define PR_CANCELLABLE (PR_ARM(PR_OP_WATCH) | PR_ARM(PR_OP_DEADLINE) | \
			PR_ARM(PR_OP_CONNECT) | PR_ARM(PR_OP_RETRY))

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

/*
 * Signal the proc, and its whole group when it leads one. The group is
 * signalled through the pidfd where the kernel can (6.9+), which cannot hit a
 * recycled pgid; otherwise kill(-pid) right after the pidfd signal
 * succeeded, while our unreaped leader still pins the pgid.
 */
int pr_signal(struct pr_proc *p, int sig)
{
	long r;

	if (p->flags & PRF_GROUP) {
		r = syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL,
			    PIDFD_SIGNAL_PROCESS_GROUP);
		if (r == 0)
			return 0;
		if (errno != EINVAL)
			return -errno;
	}
	r = syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0);
	if (r < 0)
		return -errno;
	if (p->flags & PRF_GROUP)
		kill(-p->pid, sig);
	return 0;
}

int pr_arm_watch(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct io_uring_sqe *sqe;
	int ret = pr_reserve(pr, 1);

	if (ret)
		return ret;
	sqe = pr_psqe(pr, p, idx, PR_OP_WATCH);
	io_uring_prep_poll_add(sqe, p->pidfd, POLLIN);
	p->armed |= PR_ARM(PR_OP_WATCH);
	return 0;
}

static void pr_take_status(struct pr_proc *p, const siginfo_t *si)
{
	if (p->flags & PRF_HAVE_STATUS)
		return;
	p->code = si->si_code;
	p->status = si->si_status;
	p->flags |= PRF_HAVE_STATUS;
}

/*
 * The exit watch's synchronous half: the pidfd polled readable, so the child
 * has exited; collect its status without blocking. Returns 1 when the child
 * was reaped (or is gone: -ECHILD, a host thread reaped it), 0 if not yet.
 */
static int pr_waitid_now(struct pr_proc *p)
{
	siginfo_t si;
	int r;

	memset(&si, 0, sizeof(si));
	do
		r = waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return 1;
	if (si.si_pid == 0)
		return 0;
	pr_take_status(p, &si);
	return 1;
}

/* Cancels for every armed op in mask, each hardlinked to what follows.
 * Returns the last one (NULL if none). */
static struct io_uring_sqe *pr_put_mcancels(struct pidring *pr, struct pr_proc *p,
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
		 * again, nor counts on it (an exit watch that would reap). */
		p->armed &= ~PR_ARM(op);
	}
	return sqe;
}

static void pr_put_cancels(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	pr_put_mcancels(pr, p, idx, PR_CANCELLABLE);
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

/* READY: once, before DONE, only from BINDING (or right after an exec). */
void pr_emit_ready(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct pidring_event *ev;

	if (p->flags & PRF_READY)
		return;
	p->flags |= PRF_READY;
	p->state = PR_RUNNING;
	p->ready_ns = pr_now_ns();
	ev = pr_event_slot(pr);
	if (!ev)
		return;
	memset(ev, 0, sizeof(*ev));
	ev->type = PIDRING_EV_READY;
	ev->id = pr_make_id(idx, p->gen);
	ev->pid = p->pid;
	ev->user = p->user;
	ev->spawn_ns = p->spawn_ns;
	ev->ready_ns = p->ready_ns;
}

/* The tail of every chain: [UNLINKAT] -> CLOSE. */
static void pr_put_tail(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct io_uring_sqe *sqe;

	if (p->flags & PRF_SOCK) {
		sqe = pr_psqe(pr, p, idx, PR_OP_UNLINK);
		pr_ready_prep_unlink(pr, p, idx, sqe);
		sqe->flags |= IOSQE_IO_HARDLINK;
	}
	pr_tree_put_rmdir(pr, p, idx);
	sqe = pr_psqe(pr, p, idx, PR_OP_CLOSE);
	io_uring_prep_close(sqe, p->pidfd);
}

static unsigned pr_tail_len(const struct pr_proc *p)
{
	return 1 + ((p->flags & PRF_SOCK) ? 1 : 0) + pr_tree_tail_len(p);
}

/*
 * The tail without the ring, for a reaped proc without a cgroup: unlink its
 * socket and close its pidfd here. On the ring, UNLINKAT always goes to an
 * io-wq worker and CLOSE costs a submit and a wake-up; inline, the two
 * system calls take a few microseconds (the bench: a ring CLOSE was some 4%
 * of a whole spawn-to-DONE cycle, a ring UNLINKAT some 20 us of a cancel).
 */
static void pr_tail_inline(struct pidring *pr, struct pr_proc *p)
{
	if (p->flags & PRF_SOCK)
		pr_ready_unlink_now(pr, p);
	close(p->pidfd);
	p->pidfd = -1;
	p->flags |= PRF_CLOSED;
}

/* Status known: cancel what is left, unlink, close. */
static int pr_reap_tail(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	int ret;

	/* Ops still armed besides the exit watch (a deadline, a probe) never
	 * use the pidfd: the tail need not wait for their cancels. */
	if (!(p->flags & PRF_CGROUP) && !(p->armed & PR_ARM(PR_OP_WATCH))) {
		ret = pr_cancel_ops(pr, p, idx, PR_CANCELLABLE);
		if (ret)
			return ret;
		p->state = PR_REAPING;
		pr_tail_inline(pr, p);
		return 0;
	}
	ret = pr_reserve(pr, pr_popcount(p->armed & PR_CANCELLABLE) + pr_tail_len(p));
	if (ret)
		return ret;
	p->state = PR_REAPING;
	pr_put_cancels(pr, p, idx);
	pr_put_tail(pr, p, idx);
	/* Queued: a refused submit is retried by the next enter. */
	pr_submit(pr);
	return 0;
}

int pr_kill_chain(struct pidring *pr, struct pr_proc *p, uint32_t idx, int reason)
{
	struct io_uring_sqe *sqe;
	/* An exit watch still armed (the pidfd poll) reaps the killed child
	 * itself: the chain cancels only the rest. */
	bool watch = p->armed & PR_ARM(PR_OP_WATCH);
	unsigned mask = PR_CANCELLABLE & ~(watch ? PR_ARM(PR_OP_WATCH) : 0u);
	unsigned n = pr_popcount(p->armed & mask) + (watch ? 0 : 1);
	int ret;

	/* With WAITID, a cgroup's tail is linked into the chain; any other
	 * tail runs inline when the WAITID completes (pr_on_reap). */
	if (!watch && pr->has_waitid && (p->flags & PRF_CGROUP))
		n += pr_tail_len(p);
	/* In cgroup mode the WRITE to cgroup.kill is a batch of its own, put
	 * in first (a failure there leaves the group signal to do the work). */
	pr_tree_kill(pr, p, idx);
	ret = pr_reserve(pr, n);
	if (ret)
		return ret;

	if (!p->reason)
		p->reason = (uint8_t)reason;
	p->state = PR_KILLING;
	/* io_uring has no signal opcode: the kill is issued right before the
	 * batch. ESRCH (a host thread reaped our child) is fine: the chain's
	 * WAITID reports -ECHILD and the status stays unknown. */
	pr_signal(p, SIGKILL);

	if (watch) {
		/* Only cancels to queue (room reserved above): the kill is
		 * out, the watch reaps, the next entry takes them. */
		pr_cancel_ops(pr, p, idx, mask);
		p->flags |= PRF_WATCH_REAPS;
		pr_submit_lazy(pr);
		return 0;
	}
	pr_put_cancels(pr, p, idx);
	sqe = pr_psqe(pr, p, idx, PR_OP_REAP);
	if (pr->has_waitid) {
		pr_prep_waitid(sqe, (idtype_t)P_PIDFD, (id_t)p->pidfd, &p->reap_si,
			       WEXITED);
		if (p->flags & PRF_CGROUP) {
			sqe->flags |= IOSQE_IO_HARDLINK;
			pr_put_tail(pr, p, idx);
		} else {
			p->flags |= PRF_TAIL_INLINE;
		}
	} else {
		/* The fallback's waitid runs in our completion handler, so the
		 * tail cannot be linked: a CLOSE that ran first would leave
		 * waitid(P_PIDFD) nothing to wait on. */
		io_uring_prep_poll_add(sqe, p->pidfd, POLLIN);
	}
	/* Queued: a refused submit is retried by the next enter. */
	pr_submit(pr);
	return 0;
}

/* SIGTERM, then SIGKILL after the grace in p->grace (set by pidring_stop,
 * kept for a chain the ring refused and pr_run_pending retries). */
int pr_stop_chain(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct io_uring_sqe *sqe;
	int ret = pr_reserve(pr, pr_popcount(p->armed & PR_CANCELLABLE) + 2);

	if (ret)
		return ret;
	p->reason = PIDRING_STOPPED;
	p->state = PR_STOPPING;

	/*
	 * The leader's exit is only peeked at (WNOWAIT): unreaped, it pins the
	 * process group, which gets SIGKILL once the leader is gone or the
	 * grace has run out, so that no descendant that ignored SIGTERM
	 * outlives the stop. For the same reason SIGTERM goes out only after
	 * the batch is in, once the exit watch (which would reap) is cancelled.
	 */
	pr_put_cancels(pr, p, idx);
	sqe = pr_psqe(pr, p, idx, PR_OP_STOPWAIT);
	if (pr->has_waitid)
		pr_prep_waitid(sqe, (idtype_t)P_PIDFD, (id_t)p->pidfd, &p->reap_si,
			       WEXITED | WNOWAIT);
	else
		io_uring_prep_poll_add(sqe, p->pidfd, POLLIN);
	sqe->flags |= IOSQE_IO_LINK;
	sqe = pr_psqe(pr, p, idx, PR_OP_LTIMEOUT);
	io_uring_prep_link_timeout(sqe, &p->grace, 0);
	/* Queued: a refused submit is retried by the next enter. */
	pr_submit(pr);
	pr_signal(p, SIGTERM);
	return 0;
}

/* Queue DONE and free the slot: the CLOSE is done and nothing is in flight. */
static void pr_done(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct pidring_event *ev = pr_event_slot(pr);

	if (!pr->destroying && ev) {
		memset(ev, 0, sizeof(*ev));
		ev->type = PIDRING_EV_DONE;
		ev->id = pr_make_id(idx, p->gen);
		ev->pid = p->pid;
		ev->user = p->user;
		ev->reason = (enum pidring_reason)p->reason;
		if (p->flags & PRF_HAVE_STATUS) {
			ev->code = p->code;
			ev->status = p->status;
		}
		ev->spawn_ns = p->spawn_ns;
		ev->ready_ns = p->ready_ns;
		ev->done_ns = pr_now_ns();
	}
	pr_ready_release(pr, p, idx);
	pr_tree_release(pr, p, idx);
	pr_slot_release(pr, idx);
}

/*
 * A chain that cannot be put on the ring now (the kernel refused the flush
 * that would make room) is kept as the proc's pending action and retried from
 * pidring_wait and pidring_destroy: a completion handler never drops it.
 */
static void pr_defer(struct pidring *pr, struct pr_proc *p, uint8_t what)
{
	if (!p->pend)
		pr->npending++;
	p->pend = what;
}

static void pr_tail_or_defer(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	if (pr_reap_tail(pr, p, idx) < 0)
		pr_defer(pr, p, PR_PEND_TAIL);
}

void pr_kill_or_defer(struct pidring *pr, struct pr_proc *p, uint32_t idx, int reason)
{
	if (pr_kill_chain(pr, p, idx, reason) < 0) {
		if (!p->reason)
			p->reason = (uint8_t)reason;
		pr_defer(pr, p, PR_PEND_KILL);
	}
}

void pr_defer_cg(struct pidring *pr, struct pr_proc *p)
{
	pr_defer(pr, p, PR_PEND_CG);
}

/* Collect the status now, or poll the pidfd again. */
static void pr_reap_or_repoll(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct io_uring_sqe *sqe;

	if (pr_waitid_now(p)) {
		pr_tail_or_defer(pr, p, idx);
		return;
	}
	if (pr_reserve(pr, 1) < 0) {
		pr_defer(pr, p, PR_PEND_REAP);
		return;
	}
	sqe = pr_psqe(pr, p, idx, PR_OP_REAP);
	io_uring_prep_poll_add(sqe, p->pidfd, POLLIN);
	pr_submit(pr);
}

static void pr_maybe_done(struct pidring *pr, struct pr_proc *p, uint32_t idx);

void pr_run_pending(struct pidring *pr)
{
	for (uint32_t i = 0; pr->npending && i < pr->used; i++) {
		struct pr_proc *p = &pr->procs[i];
		uint8_t what = p->pend;

		if (!what || p->state == PR_FREE)
			continue;
		p->pend = 0;
		pr->npending--;
		switch (what) {
		case PR_PEND_TAIL:
			if (p->state != PR_REAPING)
				pr_tail_or_defer(pr, p, i);
			break;
		case PR_PEND_KILL:
			if (p->state != PR_KILLING && p->state != PR_REAPING)
				pr_kill_or_defer(pr, p, i, p->reason);
			break;
		case PR_PEND_REAP:
			pr_reap_or_repoll(pr, p, i);
			break;
		case PR_PEND_CG:
			pr_tree_linger(pr, p, i);
			break;
		case PR_PEND_STOP:
			if ((p->state == PR_BINDING || p->state == PR_RUNNING) &&
			    pr_stop_chain(pr, p, i) < 0)
				pr_defer(pr, p, PR_PEND_STOP);
			break;
		}
		pr_maybe_done(pr, p, i);
	}
}

/* The proc's exit is known outside of any chain: run the tail. */
static void pr_exited(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	p->reason = (p->flags & PRF_READY) ? PIDRING_EXITED : PIDRING_EXITED_EARLY;
	pr_tail_or_defer(pr, p, idx);
}

static void pr_on_watch(struct pidring *pr, struct pr_proc *p, uint32_t idx, int res)
{
	bool live = p->state == PR_BINDING || p->state == PR_RUNNING;

	p->armed &= ~PR_ARM(PR_OP_WATCH);
	if (p->flags & PRF_WATCH_REAPS) {
		/* A kill chain left the reap to this watch: the status now
		 * (the tail follows), or another poll, unless a destroy that
		 * gave up cancelled it (its procs get no second chance: the
		 * tail runs, the child is left to the process). */
		p->flags &= ~PRF_WATCH_REAPS;
		if (res == -ECANCELED && pr->destroying) {
			pr_waitid_now(p);        /* its status, if it has one */
			pr_tail_or_defer(pr, p, idx);
		} else {
			pr_reap_or_repoll(pr, p, idx);
		}
		return;
	}
	if (!live)
		return;          /* the chain's own reap takes it from here */
	if (res < 0 && res != -ECANCELED) {
		pr_kill_or_defer(pr, p, idx, PIDRING_CANCELLED);
		return;
	}
	if (pr_waitid_now(p))
		pr_exited(pr, p, idx);
	else if (pr_arm_watch(pr, p, idx) == 0)
		pr_submit(pr);
	else
		pr_kill_or_defer(pr, p, idx, PIDRING_CANCELLED);
}

static void pr_on_reap(struct pidring *pr, struct pr_proc *p, uint32_t idx, int res)
{
	if (pr->has_waitid) {
		if (res == 0)
			pr_take_status(p, &p->reap_si);
		p->state = PR_REAPING;
		/* Whatever the WAITID said (a hard link would not skip the
		 * tail either): unlink and close now. */
		if (p->flags & PRF_TAIL_INLINE) {
			p->flags &= ~PRF_TAIL_INLINE;
			pr_tail_inline(pr, p);
		}
		return;
	}
	/* Fallback: the pidfd is readable (or the poll failed); the child is
	 * dead or dying since the chain sent SIGKILL first. */
	(void)res;
	pr_reap_or_repoll(pr, p, idx);
}

/*
 * The stop's wait ended: the leader exited (peeked, still unreaped) or the
 * grace ran out (-ECANCELED). Either way the kill chain follows: SIGKILL to
 * what is left of the group, then the reap. Only a leader that some other
 * thread already reaped (-ECHILD) leaves nothing to kill safely.
 */
static void pr_on_stopwait(struct pidring *pr, struct pr_proc *p, uint32_t idx, int res)
{
	if (res == 0 && pr->has_waitid)
		pr_take_status(p, &p->reap_si);
	if (res == -ECHILD)
		pr_tail_or_defer(pr, p, idx);
	else
		pr_kill_or_defer(pr, p, idx, PIDRING_STOPPED);
}

/* One completion that names a proc. */
void pr_complete(struct pidring *pr, struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	enum pr_op op = pr_ud_op(ud);
	uint32_t idx = pr_ud_slot(ud);
	struct pr_proc *p;

	if (idx == PR_ENGINE_SLOT) {
		if (pr->engine_inflight)
			pr->engine_inflight--;
		if (op == PR_OP_INOTIFY || op == PR_OP_NOTIFY)
			pr_ready_engine_cqe(pr, op, cqe->res);
		else if (op == PR_OP_ORPHAN || op == PR_OP_ORETRY)
			pr_orphans_cqe(pr, op, cqe->res);
		return;
	}
	if (idx >= pr->used)
		return;
	p = &pr->procs[idx];
	/* The inflight count keeps the slot until its last completion; a
	 * mismatch here would be an engine bug, never touch another proc. */
	if (p->state == PR_FREE || p->gen != pr_ud_gen(ud) || !p->inflight)
		return;
	p->inflight--;

	switch (op) {
	case PR_OP_WATCH:
		pr_on_watch(pr, p, idx, cqe->res);
		break;
	case PR_OP_REAP:
		pr_on_reap(pr, p, idx, cqe->res);
		break;
	case PR_OP_STOPWAIT:
		pr_on_stopwait(pr, p, idx, cqe->res);
		break;
	case PR_OP_CLOSE:
		p->flags |= PRF_CLOSED;
		p->pidfd = -1;
		break;
	case PR_OP_CANCEL:
	case PR_OP_LTIMEOUT:
	case PR_OP_UNLINK:
	case PR_OP_CGKILL:
		break;
	case PR_OP_CGRMDIR:
	case PR_OP_CGWATCH:
		pr_tree_cqe(pr, p, idx, op, cqe->res);
		break;
	case PR_OP_DEADLINE:
	case PR_OP_CONNECT:
	case PR_OP_RETRY:
	case PR_OP_PCLOSE:
		p->armed &= ~PR_ARM(op);
		pr_ready_cqe(pr, p, idx, op, cqe->res);
		break;
	default:
		break;
	}
	pr_maybe_done(pr, p, idx);
}

/* DONE: the pidfd is closed, nothing of the proc is in flight, and its
 * cgroup (if any) is gone. */
static void pr_maybe_done(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	if ((p->flags & PRF_CLOSED) && p->inflight == 0 && !(p->flags & PRF_CGROUP)) {
		pr_done(pr, p, idx);
		if (pr->subreaper && !pr->has_waitid)
			pr_orphans_sweep(pr);
	}
}

/* ---- the public verbs of the lifecycle ---- */

/*
 * What cancel does in each state: s6's habit of making every (state, event)
 * pair visible. STOPPING escalates to SIGKILL at once (the stop's WAITID then
 * completes with the status) but keeps the STOPPED reason.
 */
int pidring_cancel(struct pidring *pr, pidring_id id)
{
	struct pr_proc *p;
	uint32_t idx;
	int ret = pr_verb_lookup(pr, id, &p, &idx);

	if (ret)
		return ret;
	switch (p->state) {
	case PR_BINDING:
	case PR_RUNNING:
		/* A chain the ring cannot take now is the engine's to retry
		 * (pr_run_pending), not the caller's error. */
		pr_kill_or_defer(pr, p, idx, PIDRING_CANCELLED);
		return 0;
	case PR_STOPPING:
		pr_signal(p, SIGKILL);
		return 0;
	case PR_KILLING:
	case PR_REAPING:
	default:
		return 0;
	}
}

int pidring_stop(struct pidring *pr, pidring_id id, unsigned grace_ms)
{
	struct pr_proc *p;
	uint32_t idx;
	int ret = pr_verb_lookup(pr, id, &p, &idx);

	if (ret)
		return ret;
	switch (p->state) {
	case PR_BINDING:
	case PR_RUNNING:
		if (p->pend == PR_PEND_KILL)
			return 0;       /* a cancel is on its way already */
		p->grace.tv_sec = grace_ms / 1000;
		p->grace.tv_nsec = (long long)(grace_ms % 1000) * 1000000;
		/* As in pidring_cancel: the engine retries a refused chain. */
		if (pr_stop_chain(pr, p, idx) < 0)
			pr_defer(pr, p, PR_PEND_STOP);
		return 0;
	default:
		return 0;
	}
}

int pidring_pid(struct pidring *pr, pidring_id id)
{
	struct pr_proc *p;
	int ret = pr_verb_lookup(pr, id, &p, NULL);

	return ret ? ret : p->pid;
}
