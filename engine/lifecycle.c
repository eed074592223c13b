/* SPDX-License-Identifier: MIT */
/*
 * The lifecycle: the one owner of pr_proc.state. Every transition a proc
 * makes is a row of pr_rules below, state × event → action, in the manner
 * of s6's supervision tables:
 *
 *   pidring_spawn ─► BINDING ──ready──► RUNNING ──exits──► REAPING ──► DONE
 *                      │   └──exits / deadline──────────► KILLING / REAPING
 *                      └──── cancel / stop ──► (STOPPING ─►) KILLING ─► REAPING
 *
 * The concerns below (readiness in ready.c, trees in tree.c) and this
 * file's own completion handlers report events; only the actions here
 * change a state. Two rules are visible in the table itself: an event that
 * a state does not expect is A_NONE (a second cancel, a stop after a
 * cancel, a destroy while a chain is in flight submit nothing: rule 3), and
 * READY has a row only in BINDING (at most one READY, never after DONE).
 * DONE comes once (rule 2) because only pr_settle frees a slot, and only
 * when the pidfd is closed, no SQE of the proc is in flight and its cgroup
 * is gone: no completion can ever arrive for a freed slot.
 *
 * A chain the ring cannot take now is kept as the proc's pending action
 * (pr_defer) and retried from pidring_wait and pidring_destroy
 * (pr_run_pending): a handler never drops it, and SIGKILL never waits for
 * it.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "ready.h"
#include "tree.h"

enum pr_action {
	A_NONE,      /* nothing to do: a chain has the proc, or the event is late */
	A_READY,     /* queue READY -> RUNNING */
	A_WATCH,     /* the exit watch fired: reap the natural exit -> REAPING */
	A_KILL,      /* SIGKILL and the reap chain -> KILLING */
	A_SIGKILL,   /* SIGKILL only: the stop's POLL ends, and A_KILL follows */
	A_STOP,      /* the stop's batch and SIGTERM -> STOPPING */
	A_REPOLL,    /* fallback: waitid and the tail, or poll again */
	A_STATUS,    /* keep the chain WAITID's status -> REAPING */
};

struct pr_rule {
	uint8_t action;
	uint8_t reason;      /* the DONE reason this row gives (kept if set) */
};

static const struct pr_rule pr_rules[PR_NSTATES][PR_NEVENTS] = {
	[PR_BINDING] = {
		[PR_EV_READY]        = { A_READY, 0 },
		[PR_EV_WATCH]        = { A_WATCH, PIDRING_EXITED_EARLY },
		[PR_EV_DEADLINE]     = { A_KILL, PIDRING_READY_TIMEOUT },
		[PR_EV_CANCEL]       = { A_KILL, PIDRING_CANCELLED },
		[PR_EV_STOP]         = { A_STOP, PIDRING_STOPPED },
	},
	[PR_RUNNING] = {
		[PR_EV_WATCH]        = { A_WATCH, PIDRING_EXITED },
		[PR_EV_CANCEL]       = { A_KILL, PIDRING_CANCELLED },
		[PR_EV_STOP]         = { A_STOP, PIDRING_STOPPED },
	},
	[PR_STOPPING] = {
		/* Cancel escalates at once but keeps the STOPPED reason. */
		[PR_EV_CANCEL]       = { A_SIGKILL, 0 },
		[PR_EV_GRACE_OVER]   = { A_KILL, PIDRING_STOPPED },
		[PR_EV_CHAIN_POLL]   = { A_REPOLL, 0 },
		[PR_EV_CHAIN_WAITID] = { A_STATUS, 0 },
	},
	[PR_KILLING] = {
		[PR_EV_CHAIN_POLL]   = { A_REPOLL, 0 },
		[PR_EV_CHAIN_WAITID] = { A_STATUS, 0 },
	},
	[PR_REAPING] = {
		[PR_EV_CHAIN_POLL]   = { A_REPOLL, 0 },
		[PR_EV_CHAIN_WAITID] = { A_STATUS, 0 },
	},
};

/* ---- actions ---- */

/* READY: once, before DONE. */
static void pr_emit_ready(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct pidring_event *ev;

	p->flags |= PRF_READY;
	p->state = PR_RUNNING;
	p->ready_ns = pr_now_ns();
	if (p->flags & PRF_POOL) {      /* the pool's runner: its READY is the pool's */
		if (pr->pool_hooks)
			pr->pool_hooks->ready(pr, p, idx);
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

/* Queue DONE and free the slot: the CLOSE is done and nothing is in flight. */
static void pr_done(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	/* A destroy discards DONE: no event slot is taken for it. The pool
	 * takes its runners' DONE itself. */
	struct pidring_event *ev = pr->destroying || (p->flags & PRF_POOL) ? NULL :
				   pr_event_slot(pr);

	if ((p->flags & PRF_POOL) && pr->pool_hooks)
		pr->pool_hooks->done(pr, p, idx);

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

static void pr_kill(struct pidring *pr, struct pr_proc *p, uint32_t idx, int reason)
{
	if (!p->reason)
		p->reason = (uint8_t)reason;
	p->state = PR_KILLING;
	/* The signal is out whatever the ring says: only the SQEs wait. */
	if (pr_kill_chain(pr, p, idx) < 0)
		pr_defer(pr, p, PR_PEND_KILL);
}

static int pr_stop(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	int ret = pr_stop_chain(pr, p, idx);

	if (ret == 0) {
		p->reason = PIDRING_STOPPED;
		p->state = PR_STOPPING;
	}
	return ret;
}

/* The exit watch fired: a natural exit (its reason from the row), unless
 * the watch broke; not yet reapable, watched again. */
static void pr_watch_fired(struct pidring *pr, struct pr_proc *p, uint32_t idx, int res,
			   int reason)
{
	if (res < 0 && res != -ECANCELED) {
		pr_kill(pr, p, idx, PIDRING_CANCELLED);
		return;
	}
	if (pr_waitid_now(p)) {
		p->reason = (uint8_t)reason;
		pr_reaped(pr, p, idx, false);
	} else if (pr_arm_watch(pr, p, idx) == 0) {
		pr_submit(pr);
	} else {
		pr_kill(pr, p, idx, PIDRING_CANCELLED);
	}
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
	if (pr_put_repoll(pr, p, idx) < 0)
		pr_defer(pr, p, PR_PEND_REAP);
}

/* The one place a proc's state changes: the event's row, then its action. */
static void pr_on_event(struct pidring *pr, struct pr_proc *p, uint32_t idx,
			enum pr_event ev, int res)
{
	const struct pr_rule *r = &pr_rules[p->state][ev];

	switch ((enum pr_action)r->action) {
	case A_NONE:
		return;
	case A_READY:
		pr_emit_ready(pr, p, idx);
		return;
	case A_WATCH:
		pr_watch_fired(pr, p, idx, res, r->reason);
		return;
	case A_KILL:
		pr_kill(pr, p, idx, r->reason);
		return;
	case A_SIGKILL:
		pr_signal(p, SIGKILL);
		return;
	case A_STOP:
		/* res: the grace in ms, kept for a batch pr_run_pending retries */
		p->grace.tv_sec = (unsigned)res / 1000;
		p->grace.tv_nsec = (long long)((unsigned)res % 1000) * 1000000;
		if (pr_stop(pr, p, idx) < 0)
			pr_defer(pr, p, PR_PEND_STOP);
		return;
	case A_REPOLL:
		/* With its WAITID linked behind it the POLL needs nothing. */
		if (!(p->flags & PRF_CHAIN_WAITID))
			pr_reap_or_repoll(pr, p, idx, res);
		return;
	case A_STATUS:
		/* A cancel that raced with the WAITID still gets the status in
		 * the CQE; -ECHILD, a host thread reaped our child: unknown.
		 * The tail is hardlinked behind it: it runs whatever the result. */
		if (res == 0 && p->reap_si.si_pid)
			pr_take_status(p, &p->reap_si);
		p->state = PR_REAPING;
		return;
	}
}

/* DONE: the pidfd is closed, nothing of the proc is in flight, and its
 * cgroup (if any) is gone. */
static void pr_settle(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	if ((p->flags & PRF_CLOSED) && p->inflight == 0 && !(p->flags & PRF_CGROUP)) {
		pr_done(pr, p, idx);
		if (pr->subreaper && !pr->has_waitid)
			pr_orphans_sweep(pr);
	}
}

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
			    pr_stop(pr, p, i) < 0)
				pr_defer(pr, p, PR_PEND_STOP);
			break;
		}
		pr_settle(pr, p, i);
	}
}

/* pidring_destroy's first step: every proc gets its cancel row. */
void pr_cancel_all(struct pidring *pr)
{
	pr->destroying = true;
	for (uint32_t i = 0; i < pr->used; i++)
		if (pr->procs[i].state != PR_FREE)
			pr_on_event(pr, &pr->procs[i], i, PR_EV_CANCEL, 0);
}

/* ---- the lifecycle's own completions ---- */

static void pr_cqe_watch(struct pidring *pr, struct pr_proc *p, uint32_t idx,
			 enum pr_op op, int res)
{
	p->armed &= ~PR_ARM(op);
	pr_on_event(pr, p, idx, PR_EV_WATCH, res);
}

static void pr_cqe_chain(struct pidring *pr, struct pr_proc *p, uint32_t idx,
			 enum pr_op op, int res)
{
	static const uint8_t ev[PR_NOPS] = {
		[PR_OP_POLL] = PR_EV_CHAIN_POLL,
		[PR_OP_REAP] = PR_EV_CHAIN_WAITID,
		[PR_OP_STOPWAIT] = PR_EV_GRACE_OVER,
	};

	pr_on_event(pr, p, idx, (enum pr_event)ev[op], res);
}

static void pr_cqe_close(struct pidring *pr, struct pr_proc *p, uint32_t idx,
			 enum pr_op op, int res)
{
	(void)pr, (void)idx, (void)op, (void)res;
	p->flags |= PRF_CLOSED;
	p->pidfd = -1;
}

/* The pool's TIMEOUT, while there is a pool. */
static void pr_cqe_pool(struct pidring *pr, struct pr_proc *p, uint32_t gen,
			enum pr_op op, int res)
{
	if (pr->pool_hooks)
		pr->pool_hooks->timer(pr, p, gen, op, res);
}

/* Every op kind's handler; cancels, LINK_TIMEOUT, UNLINKAT, cgroup.kill's
 * WRITE and the engine's NOPs need none beyond pr_settle. */
const struct pr_ops pr_lifecycle_ops = {
	.cqe = {
		[PR_OP_WATCH]    = pr_cqe_watch,
		[PR_OP_POLL]     = pr_cqe_chain,
		[PR_OP_REAP]     = pr_cqe_chain,
		[PR_OP_STOPWAIT] = pr_cqe_chain,
		[PR_OP_CLOSE]    = pr_cqe_close,
		[PR_OP_DEADLINE] = pr_ready_cqe,
		[PR_OP_CONNECT]  = pr_ready_cqe,
		[PR_OP_RETRY]    = pr_ready_cqe,
		[PR_OP_PCLOSE]   = pr_ready_cqe,
		[PR_OP_INOTIFY]  = pr_ready_engine_cqe,
		[PR_OP_NOTIFY]   = pr_ready_engine_cqe,
		[PR_OP_CGRMDIR]  = pr_tree_cqe,
		[PR_OP_CGWATCH]  = pr_tree_cqe,
		[PR_OP_ORPHAN]   = pr_orphans_cqe,
		[PR_OP_ORETRY]   = pr_orphans_cqe,
		[PR_OP_POOLTIMER] = pr_cqe_pool,
	},
	.engine_ops = PR_ARM(PR_OP_INOTIFY) | PR_ARM(PR_OP_NOTIFY) | PR_ARM(PR_OP_NOP) |
		      PR_ARM(PR_OP_ORPHAN) | PR_ARM(PR_OP_ORETRY) |
		      PR_ARM(PR_OP_POOLTIMER),
	.settle = pr_settle,
	.report = pr_on_event,
};

/* ---- the public verbs ---- */

/*
 * The child's making: its socket and environment, its cgroup, the clone.
 * On failure nothing is left: no child (a failed one is reaped), no socket
 * name, no cgroup, and the slot is free again — no event follows (rule 2).
 */
static int pr_birth(struct pidring *pr, struct pr_proc *p, uint32_t idx,
		    const struct pidring_spawn *s)
{
	struct pr_spawn_env env = { 0 };
	int ret, cg_dir = -1;

	p->spawn_ns = pr_now_ns();
	p->user = s->user;
	if (pr->pool_spawn)
		p->flags |= PRF_POOL;
	p->mode = (uint8_t)s->ready;
	ret = pr_ready_prepare(pr, p, idx, s, &env);
	if (!ret)
		ret = pr_tree_prepare(pr, p, idx, &cg_dir);
	if (!ret)
		ret = pr_clone(pr, p, s, env.argv ? env.argv : s->argv,
			       env.envp ? env.envp : s->envp, cg_dir);
	pr_ready_env_free(&env);
	if (cg_dir >= 0)
		close(cg_dir);
	if (ret) {
		pr_ready_release(pr, p, idx);
		pr_tree_release(pr, p, idx);
		pr_slot_release(pr, idx);
		return ret;
	}
	pr_tree_tracked(pr, p, idx);
	return 0;
}

int pidring_spawn(struct pidring *pr, const struct pidring_spawn *s, pidring_id *id)
{
	struct pr_proc *p;
	uint32_t idx;
	int ret;

	ret = pr_spawn_validate(s);
	if (!pr || ret)
		return pr ? ret : -EINVAL;
	if (pr->destroying)
		return -ESHUTDOWN;    /* an attached engine being destroyed */

	/* Room for the exit watch, the readiness operations and the orphan
	 * peek, taken before the child exists: arming them afterwards needs
	 * no flush, so it cannot fail. */
	ret = pr_reserve(pr, 4);
	if (ret)
		return ret;
	p = pr_slot_alloc(pr, &idx);       /* rule 1: registered before born */
	if (!p)
		return -EAGAIN;
	ret = pr_birth(pr, p, idx, s);
	if (ret)
		return ret;

	pr_arm_watch(pr, p, idx);
	p->state = PR_BINDING;
	if (s->ready == PIDRING_READY_EXEC)
		pr_on_event(pr, p, idx, PR_EV_READY, 0);
	else
		pr_ready_arm(pr, p, idx, s);
	/*
	 * A bare exit watch waits in the SQ for the next entry into the ring
	 * (pidring_wait's, or any other submit): one system call for a batch
	 * of spawns, not one each, and nothing is late for it, since the
	 * watch's completion runs only inside such an entry anyway (a child
	 * already gone is reaped there at once). Readiness deadlines count
	 * from their submit: those go in now.
	 */
	if (s->ready != PIDRING_READY_EXEC)
		pr_submit(pr);
	else
		pr_submit_lazy(pr);
	/* READY_EXEC queued its READY here, outside any wait: a poller must
	 * see the fd readable. */
	pr_signal_leftovers(pr);
	if (id)
		*id = pr_make_id(idx, p->gen);
	return 0;
}


int pidring_cancel(struct pidring *pr, pidring_id id)
{
	struct pr_proc *p;
	uint32_t idx;
	int ret = pr_verb_lookup(pr, id, &p, &idx);

	if (ret)
		return ret;
	/* A chain the ring cannot take now is the engine's to retry
	 * (pr_run_pending), not the caller's error. */
	pr_on_event(pr, p, idx, PR_EV_CANCEL, 0);
	return 0;
}

int pidring_stop(struct pidring *pr, pidring_id id, unsigned grace_ms)
{
	struct pr_proc *p;
	uint32_t idx;
	int ret = pr_verb_lookup(pr, id, &p, &idx);

	if (ret)
		return ret;
	pr_on_event(pr, p, idx, PR_EV_STOP, (int)grace_ms);   /* back to unsigned there */
	return 0;
}

int pidring_pid(struct pidring *pr, pidring_id id)
{
	struct pr_proc *p;
	int ret = pr_verb_lookup(pr, id, &p, NULL);

	return ret ? ret : p->pid;
}
