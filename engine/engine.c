/* SPDX-License-Identifier: MIT */
/*
 * The engine as the caller sees it: pidring_new and pidring_destroy, which
 * bring every layer up and down, pidring_wait, the pollable fd and attach
 * mode's entry points. The top of the engine: it calls every layer below
 * (the lifecycle, the concerns, the ring) and none calls it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "ready.h"
#include "tree.h"

/* How long a timed-out destroy lets killed procs die before it gives up. */
#define PR_ABANDON_GRACE_NS 100000000ull

const char *pidring_version(void)
{
#define PR_STR2(x) #x
#define PR_STR(x) PR_STR2(x)
	return PR_STR(PIDRING_VERSION_MAJOR) "." PR_STR(PIDRING_VERSION_MINOR) "."
	       PR_STR(PIDRING_VERSION_PATCH);
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
	pr->ops = &pr_lifecycle_ops;

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

/*
 * Destroy on the caller's ring: the engine cannot wait for completions it
 * does not read, so the caller calls again, handing them over in between,
 * until nothing of the engine is in flight. Then the memory the kernel
 * writes into (a WAITID's siginfo, a read's buffer) can go.
 */
static int pr_destroy_attached(struct pidring *pr)
{
	if (!pr->destroying) {
		pr_cancel_all(pr);
		pr_orphans_cancel(pr);
		pr_ready_quiesce(pr);     /* cancels; does not wait here */
	}
	pr_run_pending(pr);
	(void)pr_process_cqes(pr);     /* what pidring_handle_cqe kept */
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
	if (pr->pool_hooks)
		pr->pool_hooks->destroy(pr->pool);
	if (pr->attached)
		return pr_destroy_attached(pr);
	end = timeout_ms < 0 ? UINT64_MAX :
	      pr_now_ns() + (uint64_t)timeout_ms * 1000000u;
	pr_cancel_all(pr);
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
	pr_orphans_cancel(pr);
	pr_ready_quiesce(pr);
	if (pr->subreaper)
		pr_orphans_sweep(pr);
	pr_free(pr);
	return ret;
}

/* Attach mode: completions came in through pidring_handle_cqe; any it
 * kept without an event slot for them are handled here. */
static int pr_wait_attached(struct pidring *pr, struct pidring_event *ev, unsigned max)
{
	unsigned n;
	int ret;

	pr_run_pending(pr);
	ret = pr_process_cqes(pr);
	if (pr->pool_hooks)
		pr->pool_hooks->run(pr);
	n = pr_pop_events(pr, ev, max);
	return n ? (int)n : ret;
}

/*
 * With DEFER_TASKRUN completions exist only once we enter the kernel asking
 * for them. Ask even when some events are queued: a caller that spawns and
 * waits in turn must still hear about exits. The pollable eventfd is reset
 * right before: whatever completes after this makes it readable again.
 */
static int pr_wait_fetch(struct pidring *pr)
{
	int ret;

	pr_evfd_drain(pr);
	if (!pr_ring_has_work(pr))
		return 0;
	pr_trace_sq(pr);
	ret = io_uring_submit_and_get_events(pr->ring);
	return ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY ? ret : 0;
}

/* Block in the ring for a completion, until end (no more than 100 ms at a
 * time while sweeping for orphans). 1: look again; 0: the time is up. */
static int pr_wait_block(struct pidring *pr, int timeout_ms, uint64_t end, bool sweep)
{
	struct io_uring_cqe *cqe;
	int ret;

	pr_evfd_drain(pr);
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
		ret = io_uring_submit_and_wait_timeout(pr->ring, &cqe, 1, &ts, NULL);
		if (ret == -ETIME)
			return 1;
	}
	if (ret == -EINTR || (ret < 0 && ret != -EAGAIN && ret != -EBUSY))
		return ret;
	return 1;
}

int pidring_wait(struct pidring *pr, struct pidring_event *ev, unsigned max,
		 int timeout_ms)
{
	uint64_t end = 0;
	bool fetch;
	int ret;

	if (!pr || !ev || !max || (pr->attached && timeout_ms != 0))
		return -EINVAL;
	if (pr->attached)
		return pr_wait_attached(pr, ev, max);
	if (timeout_ms > 0)
		end = pr_now_ns() + (uint64_t)timeout_ms * 1000000u;
	/* A call that will block anyway enters the ring once, to wait: the
	 * blocking enter collects what is there as well as what comes. */
	fetch = !(timeout_ms != 0 && pr->evq.len == 0 && pr->live > 0 && !pr->npending);
	for (;;) {
		/* Without the ring's WAITID peek, orphans are found by looking,
		 * at every call and every 100 ms while blocked (kernels < 6.7). */
		bool sweep = pr->subreaper && !pr->has_waitid;

		if (sweep)
			pr_orphans_sweep(pr);
		pr_run_pending(pr);
		if (fetch && pr->evq.len < max && (ret = pr_wait_fetch(pr)) < 0)
			return ret;
		ret = pr_process_cqes(pr);
		if (pr->pool_hooks)      /* the pool's answers, timers, warm runners */
			pr->pool_hooks->run(pr);
		/* The pool's spawns may have pulled completions in (a full SQ's
		 * flush): handle them before any sleep. */
		if (!pr->evq.len && ret >= 0 && pr->cqb_pos < pr->cqb_len)
			continue;
		if (pr->evq.len || ret < 0 || timeout_ms == 0 || pr->live == 0) {
			unsigned n = pr_pop_events(pr, ev, max);

			if (!n && ret < 0)
				return ret;
			pr_submit_lazy(pr);
			pr_signal_leftovers(pr);
			return (int)n;
		}
		fetch = false;
		ret = pr_wait_block(pr, timeout_ms, end, sweep);
		if (ret <= 0)
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
	/* Kept, so 0 whatever follows: a completion that finds no event slot
	 * (memory ran out) waits in the backlog for the next call here, to
	 * pidring_wait or to pidring_destroy. Handed over again, it would
	 * count twice. */
	(void)pr_process_cqes(pr);
	return 0;
}

unsigned pidring_live(const struct pidring *pr)
{
	return pr ? pr->live : 0;
}
