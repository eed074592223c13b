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
 * The reap chain (DESIGN.md) is one batch of SQEs, each hardlinked to the
 * next so that a failed step (the host already reaped the child, the socket
 * was never bound) never skips the steps after it, built by pr_put_chain:
 *
 *   ASYNC_CANCEL | TIMEOUT_REMOVE (each armed op, the exit watch included)
 *     [-> WRITE "1" to cgroup.kill -> CLOSE of it]       cgroup mode
 *     -> POLL_ADD(pidfd, POLLIN)                         the child is dead
 *     -> WAITID(P_PIDFD, WEXITED)                        its status
 *     [-> UNLINKAT(socket)] [-> UNLINKAT(cgroup, AT_REMOVEDIR)] -> CLOSE(pidfd)
 *
 * pidring_cancel, a stop whose grace ran out (or whose leader exited), a
 * missed ready deadline and pidring_destroy all end in it (pr_kill_chain),
 * and it is submitted before the call that started it returns. The POLL
 * comes before the WAITID so that the WAITID is issued only on a dead child
 * and completes at once, never waiting on the shared child-exit queue: a
 * storm of n cancels stays linear in n. Without a ring WAITID (kernels
 * before 6.7, PIDRING_F_NO_WAITID) the chain stops at the POLL, whose
 * completion runs waitid(WNOHANG) and puts the rest of the chain, the tail,
 * on the ring.
 *
 * A natural exit is found by the exit watch's completion, on the engine's
 * thread, with the status already in hand from its waitid: nothing is left
 * to kill or wait for, so a proc without a cgroup runs the same tail inline
 * (unlinkat and close: a few microseconds, where the ring's UNLINKAT goes
 * through an io-wq worker). pr_tail is the one function for both.
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
#include "pool.h"
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

/* READY: once, before DONE, only from BINDING (or right after an exec). */
void pr_emit_ready(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct pidring_event *ev;

	if (p->flags & PRF_READY)
		return;
	p->flags |= PRF_READY;
	p->state = PR_RUNNING;
	p->ready_ns = pr_now_ns();
	if (p->flags & PRF_POOL) {
		pr_pool_ready(pr, p, idx);   /* the pool's, not the caller's */
		return;
	}
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

/* ---- the reap chain ---- */

/* The steps of a chain, in their order on the ring. */
#define PR_CH_CANCEL  (1u << 0)   /* ASYNC_CANCEL / TIMEOUT_REMOVE, each armed op */
#define PR_CH_CGKILL  (1u << 1)   /* WRITE "1" to cgroup.kill -> CLOSE of it */
#define PR_CH_POLL    (1u << 2)   /* POLL_ADD(pidfd, POLLIN) */
#define PR_CH_WAITID  (1u << 3)   /* WAITID(P_PIDFD, WEXITED) */
#define PR_CH_TAIL    (1u << 4)   /* [UNLINKAT socket] [UNLINKAT cgroup] CLOSE */

static unsigned pr_chain_len(const struct pr_proc *p, unsigned steps)
{
	unsigned n = 0;

	if (steps & PR_CH_CANCEL)
		n += pr_popcount(p->armed & PR_CANCELLABLE);
	if (steps & PR_CH_CGKILL)
		n += 2;
	if (steps & PR_CH_POLL)
		n++;
	if (steps & PR_CH_WAITID)
		n++;
	if (steps & PR_CH_TAIL)
		n += 1 + ((p->flags & PRF_SOCK) ? 1 : 0) + pr_tree_tail_len(p);
	return n;
}

/*
 * Put the chain's steps on the SQ, each hardlinked to the next and the last
 * to nothing (room for pr_chain_len of them is reserved by the caller;
 * cg_fd is the open cgroup.kill for PR_CH_CGKILL). The one builder of every
 * reap: a kill's whole chain, the fallback's poll and its tail, the tail of
 * a natural exit that needs the ring.
 */
static void pr_put_chain(struct pidring *pr, struct pr_proc *p, uint32_t idx,
			 unsigned steps, int cg_fd)
{
	struct io_uring_sqe *sqe = NULL;

	if (steps & PR_CH_CANCEL)
		sqe = pr_put_mcancels(pr, p, idx, PR_CANCELLABLE);
	if (steps & PR_CH_CGKILL)
		sqe = pr_tree_put_kill(pr, p, idx, cg_fd);
	if (steps & PR_CH_POLL) {
		sqe = pr_psqe(pr, p, idx, PR_OP_POLL);
		io_uring_prep_poll_add(sqe, p->pidfd, POLLIN);
		sqe->flags |= IOSQE_IO_HARDLINK;
	}
	if (steps & PR_CH_WAITID) {
		sqe = pr_psqe(pr, p, idx, PR_OP_REAP);
		memset(&p->reap_si, 0, sizeof(p->reap_si));
		pr_prep_waitid(sqe, (idtype_t)P_PIDFD, (id_t)p->pidfd, &p->reap_si,
			       WEXITED);
		sqe->flags |= IOSQE_IO_HARDLINK;
		p->flags |= PRF_CHAIN_WAITID;
	}
	if (steps & PR_CH_TAIL) {
		if (p->flags & PRF_SOCK) {
			sqe = pr_psqe(pr, p, idx, PR_OP_UNLINK);
			pr_ready_prep_unlink(pr, p, idx, sqe);
			sqe->flags |= IOSQE_IO_HARDLINK;
		}
		pr_tree_put_rmdir(pr, p, idx);
		sqe = pr_psqe(pr, p, idx, PR_OP_CLOSE);
		io_uring_prep_close(sqe, p->pidfd);
	}
	if (sqe)
		sqe->flags &= ~IOSQE_IO_HARDLINK;
}

/*
 * The reap chain of a killed proc (SIGKILL already sent): the whole chain
 * with a ring WAITID, up to the POLL without. Submitted here: once this
 * returns 0 the kernel holds the chain, and it completes whatever the caller
 * does next (rule 3). A submit the kernel refuses leaves the chain in the SQ,
 * whole, for the next entry into the ring.
 */
static int pr_put_kill(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	unsigned steps = PR_CH_CANCEL | PR_CH_POLL;
	int cg_fd = -1, ret;

	if (p->flags & PRF_CGROUP)
		steps |= PR_CH_CGKILL;
	if (pr->has_waitid)
		steps |= PR_CH_WAITID | PR_CH_TAIL;
	ret = pr_reserve(pr, pr_chain_len(p, steps));
	if (ret)
		return ret;
	if (steps & PR_CH_CGKILL) {
		cg_fd = pr_tree_kill_open(pr, p, idx);
		if (cg_fd < 0)
			steps &= ~PR_CH_CGKILL;
	}
	pr_put_chain(pr, p, idx, steps, cg_fd);
	pr_submit(pr);
	return 0;
}

int pr_kill_chain(struct pidring *pr, struct pr_proc *p, uint32_t idx, int reason)
{
	if (!p->reason)
		p->reason = (uint8_t)reason;
	p->state = PR_KILLING;
	/*
	 * io_uring has no signal opcode: SIGKILL goes out by
	 * pidfd_send_signal, to the group where the proc leads one, right
	 * before the chain is built and submitted — and before the room for it
	 * is made, so that a chain the ring cannot take now (deferred to
	 * pr_run_pending) never delays the kill. ESRCH (a host thread reaped
	 * our child) is fine: the POLL fires at once, the WAITID reports
	 * -ECHILD and the status stays unknown.
	 */
	pr_signal(p, SIGKILL);
	return pr_put_kill(pr, p, idx);
}

/*
 * The status is in hand (p->state is PR_REAPING): unlink the socket,
 * remove the cgroup, close the pidfd. On the ring, as the chain's tail, when
 * the proc has a cgroup (its removal may have to be waited for), after a
 * kill in the fallback (PRF_RING_TAIL: the rest of the chain), or while an
 * exit watch is still armed on the pidfd; inline otherwise, where only the
 * ops that never use the pidfd (a deadline, a probe) are left to cancel.
 */
static int pr_tail(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	int ret;

	if (!(p->flags & (PRF_CGROUP | PRF_RING_TAIL)) &&
	    !(p->armed & PR_ARM(PR_OP_WATCH))) {
		ret = pr_cancel_ops(pr, p, idx, PR_CANCELLABLE);
		if (ret)
			return ret;
		if (p->flags & PRF_SOCK)
			pr_ready_unlink_now(pr, p);
		close(p->pidfd);
		p->pidfd = -1;
		p->flags |= PRF_CLOSED;
		return 0;
	}
	ret = pr_reserve(pr, pr_chain_len(p, PR_CH_CANCEL | PR_CH_TAIL));
	if (ret)
		return ret;
	pr_put_chain(pr, p, idx, PR_CH_CANCEL | PR_CH_TAIL, -1);
	pr_submit(pr);
	return 0;
}

/*
 * SIGTERM, then SIGKILL after the grace in p->grace (set by pidring_stop,
 * kept for a batch the ring refused and pr_run_pending retries):
 * ASYNC_CANCEL (each armed op) -> POLL_ADD(pidfd) linked to a LINK_TIMEOUT
 * of the grace. The POLL only tells that the leader exited: unreaped, it
 * pins the process group, which gets SIGKILL from the kill chain that
 * follows either way, so that no descendant that ignored SIGTERM outlives
 * the stop. A POLL, not a WAITID(WNOWAIT): a WAITID pending through the
 * grace would wait on the shared child-exit queue. SIGTERM goes out only
 * after the batch is in, once the exit watch (which would reap) is cancelled.
 */
int pr_stop_chain(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct io_uring_sqe *sqe, *last;
	int ret = pr_reserve(pr, pr_chain_len(p, PR_CH_CANCEL) + 2);

	if (ret)
		return ret;
	p->reason = PIDRING_STOPPED;
	p->state = PR_STOPPING;
	last = pr_put_mcancels(pr, p, idx, PR_CANCELLABLE);
	if (last)
		last->flags &= ~IOSQE_IO_HARDLINK;
	sqe = pr_psqe(pr, p, idx, PR_OP_STOPWAIT);
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
	/* A destroy discards DONE: no event slot is taken for it. The pool
	 * takes its runners' DONE itself. */
	struct pidring_event *ev = pr->destroying || (p->flags & PRF_POOL) ? NULL :
				   pr_event_slot(pr);

	if (p->flags & PRF_POOL)
		pr_pool_done(pr, p, idx);

	if (ev) {
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

/* The status is in hand, from the exit watch, the fallback's waitid or a
 * give-up: nothing is left to kill; run the tail (ring: after a kill). */
static void pr_reaped(struct pidring *pr, struct pr_proc *p, uint32_t idx, bool ring)
{
	p->state = PR_REAPING;
	if (ring)
		p->flags |= PRF_RING_TAIL;
	if (pr_tail(pr, p, idx) < 0)
		pr_defer(pr, p, PR_PEND_TAIL);
}

void pr_kill_or_defer(struct pidring *pr, struct pr_proc *p, uint32_t idx, int reason)
{
	/* The signal is out whatever the ring says: only the SQEs wait. */
	if (pr_kill_chain(pr, p, idx, reason) < 0)
		pr_defer(pr, p, PR_PEND_KILL);
}

void pr_defer_cg(struct pidring *pr, struct pr_proc *p)
{
	pr_defer(pr, p, PR_PEND_CG);
}

/*
 * The fallback's chain stopped at its POLL, which completed: the child is
 * dead (SIGKILL went first), so collect its status and put the rest of the
 * chain on the ring, or poll the pidfd again if the exit is not reapable
 * yet. A destroy that gave up cancelled the poll (-ECANCELED): its procs get
 * no second chance, the tail runs and the child is left to the process.
 */
static void pr_reap_or_repoll(struct pidring *pr, struct pr_proc *p, uint32_t idx, int res)
{
	if (pr_waitid_now(p) || (res == -ECANCELED && pr->destroying)) {
		pr_reaped(pr, p, idx, true);
		return;
	}
	if (pr_reserve(pr, 1) < 0) {
		pr_defer(pr, p, PR_PEND_REAP);
		return;
	}
	pr_put_chain(pr, p, idx, PR_CH_POLL, -1);
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
			if (pr_tail(pr, p, i) < 0)
				pr_defer(pr, p, PR_PEND_TAIL);
			break;
		case PR_PEND_KILL:
			if (pr_put_kill(pr, p, i) < 0)
				pr_defer(pr, p, PR_PEND_KILL);
			break;
		case PR_PEND_REAP:
			pr_reap_or_repoll(pr, p, i, 0);
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

/* The exit watch fired: a natural exit, unless a chain has the proc. */
static void pr_on_watch(struct pidring *pr, struct pr_proc *p, uint32_t idx, int res)
{
	p->armed &= ~PR_ARM(PR_OP_WATCH);
	if (p->state != PR_BINDING && p->state != PR_RUNNING)
		return;          /* the chain's own POLL and WAITID reap */
	if (res < 0 && res != -ECANCELED) {
		pr_kill_or_defer(pr, p, idx, PIDRING_CANCELLED);
		return;
	}
	if (pr_waitid_now(p)) {
		p->reason = (p->flags & PRF_READY) ? PIDRING_EXITED : PIDRING_EXITED_EARLY;
		pr_reaped(pr, p, idx, false);
	} else if (pr_arm_watch(pr, p, idx) == 0) {
		pr_submit(pr);
	} else {
		pr_kill_or_defer(pr, p, idx, PIDRING_CANCELLED);
	}
}

/* The chain's POLL: with its WAITID linked behind it, nothing to do. */
static void pr_on_poll(struct pidring *pr, struct pr_proc *p, uint32_t idx, int res)
{
	if (!(p->flags & PRF_CHAIN_WAITID))
		pr_reap_or_repoll(pr, p, idx, res);
}

/* The chain's WAITID: keep the status (a cancel that raced with it still
 * gets it in the CQE); -ECHILD, a host thread reaped our child: unknown.
 * The tail is linked behind it, hardlinked: it runs whatever the result. */
static void pr_on_reap(struct pr_proc *p, int res)
{
	if (res == 0 && p->reap_si.si_pid)
		pr_take_status(p, &p->reap_si);
	p->state = PR_REAPING;
}

/*
 * The stop's POLL ended: the leader exited (unreaped) or the grace ran out
 * (-ECANCELED). Either way the kill chain follows: SIGKILL to what is left
 * of the group, then the reap.
 */
static void pr_on_stopwait(struct pidring *pr, struct pr_proc *p, uint32_t idx, int res)
{
	(void)res;
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
		else if (op == PR_OP_POOLTIMER)
			pr_pool_timer_cqe(pr, ud, cqe->res);
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
	case PR_OP_POLL:
		pr_on_poll(pr, p, idx, cqe->res);
		break;
	case PR_OP_REAP:
		pr_on_reap(p, cqe->res);
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
 * pair visible. STOPPING escalates to SIGKILL at once (the stop's POLL then
 * completes and the kill chain follows) but keeps the STOPPED reason.
 * KILLING and REAPING: a chain has the proc; nothing is submitted (rule 3).
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
