/* SPDX-License-Identifier: MIT */
/*
 * Exit watches and reap chains: the SQEs that watch a proc, kill it, reap it
 * and clean up after it. Which of them a proc gets, and when, is the
 * lifecycle's to decide (lifecycle.c); nothing here changes a proc's state.
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
#include "ready.h"
#include "tree.h"

#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP (1u << 2)   /* kernel 6.9 */
#endif

/* Ops a chain cancels before it reaps. */
#define PR_CANCELLABLE (PR_ARM(PR_OP_WATCH) | PR_ARM(PR_OP_DEADLINE) | \
			PR_ARM(PR_OP_CONNECT) | PR_ARM(PR_OP_RETRY))

/* The steps of a chain, in their order on the ring. */
#define PR_CH_CANCEL  (1u << 0)   /* ASYNC_CANCEL / TIMEOUT_REMOVE, each armed op */
#define PR_CH_CGKILL  (1u << 1)   /* WRITE "1" to cgroup.kill -> CLOSE of it */
#define PR_CH_POLL    (1u << 2)   /* POLL_ADD(pidfd, POLLIN) */
#define PR_CH_WAITID  (1u << 3)   /* WAITID(P_PIDFD, WEXITED) */
#define PR_CH_TAIL    (1u << 4)   /* [UNLINKAT socket] [UNLINKAT cgroup] CLOSE */

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

void pr_take_status(struct pr_proc *p, const siginfo_t *si)
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
int pr_waitid_now(struct pr_proc *p)
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

static unsigned pr_chain_len(const struct pr_proc *p, unsigned steps)
{
	unsigned n = 0;

	if (steps & PR_CH_CANCEL)
		n += (unsigned)__builtin_popcount(p->armed & PR_CANCELLABLE);
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
int pr_put_kill(struct pidring *pr, struct pr_proc *p, uint32_t idx)
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

int pr_kill_chain(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
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
 * The status is in hand (the lifecycle made the proc PR_REAPING): unlink the socket,
 * remove the cgroup, close the pidfd. On the ring, as the chain's tail, when
 * the proc has a cgroup (its removal may have to be waited for), after a
 * kill in the fallback (PRF_RING_TAIL: the rest of the chain), or while an
 * exit watch is still armed on the pidfd; inline otherwise, where only the
 * ops that never use the pidfd (a deadline, a probe) are left to cancel.
 */
int pr_tail(struct pidring *pr, struct pr_proc *p, uint32_t idx)
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

/* The fallback's chain again from its POLL: the exit is not reapable yet. */
int pr_put_repoll(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	int ret = pr_reserve(pr, 1);

	if (ret)
		return ret;
	pr_put_chain(pr, p, idx, PR_CH_POLL, -1);
	pr_submit(pr);
	return 0;
}
