/* SPDX-License-Identifier: MIT */
/*
 * The session pool: a key maps to at most one runner, started on the first
 * get, shared by every get for the key (single-flight), kept for idle_ttl_ms
 * after its last lease, stopped on evict, capped.
 *
 * Runners and leases live in index tables (realloc'd: indices, never
 * pointers, are kept). A runner's record stays until its engine DONE *and*
 * its last lease is gone, so a lease never names a reused record. The
 * engine tells the pool of its runners' READY and DONE through the hooks in
 * pool.h (PRF_POOL procs), which only change the pool's memory: stopping,
 * refilling and handing out events happen in the verbs and in pr_pool_run,
 * never mid-dispatch.
 *
 * Idle runners sit on one list in release order; with one TTL for all, that
 * is deadline order too, and also least-recently-used order: its head is
 * both the next to expire and the one a get at the cap evicts. One ring
 * TIMEOUT is armed for the head's deadline.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pool.h"

#define PP_FLAGS    PIDRING_POOL_EVICT_LRU

/* ---- answers ---- */

static void pp_note(struct pidring_pool *pool, uint32_t li, int type, int error)
{
	struct pp_lease *l = &pool->leases[li];

	l->state = PP_L_NOTE;
	l->type = type;
	l->error = error;
	pr_pp_ll_add(pool, &pool->note_head, &pool->note_tail, li);
}

/* Every get waiting on r fails: the runner ended (-ECHILD, with its DONE)
 * or is being stopped (-ECANCELED). The lease lets go of the runner; the
 * DONE it reports is copied when the answer goes out. */
static void pp_fail_waiters(struct pidring_pool *pool, uint32_t ri, int error)
{
	struct pp_runner *r = &pool->runs[ri];

	while (r->wait_head != PP_NONE) {
		uint32_t li = r->wait_head;

		pr_pp_ll_del(pool, &r->wait_head, &r->wait_tail, li);
		pp_note(pool, li, PIDRING_EV_LEASE_FAILED, error);
		/* keeps naming the runner for its DONE; let go when it goes out */
	}
}

/* Move answers into the engine's event queue (outside dispatch). A READY
 * answer whose runner ended meanwhile goes out as a failure instead. */
static void pp_flush(struct pidring_pool *pool)
{
	while (pool->note_head != PP_NONE) {
		uint32_t li = pool->note_head;
		struct pp_lease *l = &pool->leases[li];
		struct pp_runner *r = &pool->runs[l->runner];
		struct pidring_event *ev = pr_event_slot(pool->pr);

		if (!ev)
			return;   /* -ENOMEM: the rest waits for the next pass */
		pr_pp_ll_del(pool, &pool->note_head, &pool->note_tail, li);
		if (l->type == PIDRING_EV_LEASE_READY && r->state != PP_R_READY) {
			l->type = PIDRING_EV_LEASE_FAILED;
			l->error = r->state == PP_R_DEAD ? -ECHILD : -ECANCELED;
		}
		if (l->type == PIDRING_EV_LEASE_FAILED && l->error == -ECHILD)
			*ev = r->done;
		else
			memset(ev, 0, sizeof(*ev));
		ev->type = (enum pidring_event_type)l->type;
		ev->id = r->id;
		ev->pid = r->pid;
		ev->user = l->user;
		ev->lease = pr_pp_ticket(pool, li);
		ev->error = l->type == PIDRING_EV_LEASE_FAILED ? l->error : 0;
		if (l->type == PIDRING_EV_LEASE_READY) {
			l->state = PP_L_HELD;
			continue;
		}
		l->runner = PP_NONE;
		pr_pp_lease_free(pool, li);
		r->nleases--;
		pr_pp_runner_put(pool, (uint32_t)(r - pool->runs));
	}
}

/* ---- runners ---- */

/* Stop r and drop its key: from a verb or pr_pool_run, never mid-dispatch.
 * A runner still starting is cancelled (mid-bind: its reap chain is in
 * before this returns); a ready one gets stop_grace_ms. */
static void pp_stop(struct pidring_pool *pool, uint32_t ri)
{
	struct pp_runner *r = &pool->runs[ri];
	bool starting = r->state == PP_R_STARTING;

	if (r->state != PP_R_STARTING && r->state != PP_R_READY)
		return;
	pr_pp_hash_del(pool, ri);
	pr_pp_rl_del(pool, r);
	pp_fail_waiters(pool, ri, -ECANCELED);
	r->state = PP_R_STOPPING;
	pool->nrun--;
	pool->nstopping++;
	/* -ESRCH cannot happen: its DONE would have made it DEAD. */
	if (starting || !pool->stop_grace_ms)
		pidring_cancel(pool->pr, r->id);
	else
		pidring_stop(pool->pr, r->id, pool->stop_grace_ms);
}

/* r's last lease is gone. */
static void pp_unref(struct pidring_pool *pool, uint32_t ri)
{
	struct pp_runner *r = &pool->runs[ri];

	if (r->nleases)
		return;
	if (r->state == PP_R_STARTING && !r->warm) {
		pp_stop(pool, ri);           /* the seed bug: never a runner on no register */
	} else if (r->state == PP_R_READY && r->hashed) {
		if (!pool->idle_ttl_ms) {
			pp_stop(pool, ri);
			return;
		}
		r->idle_ns = pr_now_ns() + (uint64_t)pool->idle_ttl_ms * 1000000u;
		pr_pp_rl_add(pool, ri, PP_LIST_IDLE, false);
	} else {
		pr_pp_runner_put(pool, ri);
	}
}

/* Spawn a runner: bound to key (hashed; the caller reserved the bucket
 * room) or warm (key NULL). */
static int pp_spawn(struct pidring_pool *pool, const void *key, size_t klen, uint64_t h,
		    uint32_t *out)
{
	struct pidring_spawn s = pool->tpl;
	char **argv = NULL, **envp = NULL;
	struct pidring *pr = pool->pr;
	struct pp_runner *r;
	pidring_id id = 0;
	char *kc = NULL;
	uint32_t ri;
	int ret = key && !(kc = malloc(klen)) ? -ENOMEM : pr_pp_runner_alloc(pool, &ri);

	if (ret) {
		free(kc);
		return ret;
	}
	if (key && pool->key_tpl) {
		ret = pr_strv_subst(s.argv, PP_KEY_TOK, key, klen, &argv);
		if (!ret && s.envp)
			ret = pr_strv_subst(s.envp, PP_KEY_TOK, key, klen, &envp);
	}
	if (!ret) {
		s.argv = argv ? argv : s.argv;
		s.envp = envp ? envp : s.envp;
		s.user = (void *)(uintptr_t)ri;
		pool->spawning = ri;
		pr->pool_spawn = true;
		ret = pidring_spawn(pr, &s, &id);
		pr->pool_spawn = false;
		pool->spawning = PP_NONE;
	}
	free(argv);
	free(envp);
	r = &pool->runs[ri];
	if (ret) {
		free(kc);
		pr_pp_runner_free(pool, ri);
		return ret;
	}
	r->id = id;
	if (!r->pid)
		r->pid = pidring_pid(pr, id);
	pool->started++;
	pool->nrun++;
	if (key) {
		memcpy(kc, key, klen);
		r->key = kc;
		r->keylen = (uint32_t)klen;
		r->hash = h;
		pr_pp_hash_add(pool, ri);
	} else {
		r->warm = true;
		pr_pp_rl_add(pool, ri, PP_LIST_WARM, r->state == PP_R_READY);
	}
	*out = ri;
	return 0;
}

/* The runner named by a PRF_POOL proc, or NULL (a pool since destroyed). */
static struct pp_runner *pp_of(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct pidring_pool *pool = pr->pool;
	uint32_t ri = (uint32_t)(uintptr_t)p->user;
	pidring_id id = pr_make_id(idx, p->gen);
	struct pp_runner *r;

	if (!pool || ri >= pool->runs_cap)
		return NULL;
	r = &pool->runs[ri];
	/* id 0: only the runner whose spawn is under way (READY_EXEC). */
	if (r->id ? r->id != id : ri != pool->spawning)
		return NULL;
	r->id = id;
	return r;
}

void pr_pool_ready(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct pp_runner *r = pp_of(pr, p, idx);
	struct pidring_pool *pool = pr->pool;
	uint32_t ri;

	if (!r || r->state != PP_R_STARTING)
		return;
	ri = (uint32_t)(r - pool->runs);
	r->state = PP_R_READY;
	r->pid = p->pid;
	if (r->warm && r->list == PP_LIST_WARM) {
		pr_pp_rl_del(pool, r);
		pr_pp_rl_add(pool, ri, PP_LIST_WARM, true);   /* ready ones first */
	}
	/* single-flight: every get that waited on this spawn is answered */
	while (r->wait_head != PP_NONE) {
		uint32_t li = r->wait_head;

		pr_pp_ll_del(pool, &r->wait_head, &r->wait_tail, li);
		pp_note(pool, li, PIDRING_EV_LEASE_READY, 0);
	}
}

void pr_pool_done(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct pp_runner *r = pp_of(pr, p, idx);
	struct pidring_pool *pool = pr->pool;
	uint32_t ri;

	if (!r || r->state == PP_R_DEAD || r->state == PP_R_FREE)
		return;
	ri = (uint32_t)(r - pool->runs);
	memset(&r->done, 0, sizeof(r->done));
	r->done.reason = (enum pidring_reason)p->reason;
	if (p->flags & PRF_HAVE_STATUS) {
		r->done.code = p->code;
		r->done.status = p->status;
	}
	r->done.spawn_ns = p->spawn_ns;
	r->done.ready_ns = p->ready_ns;
	r->done.done_ns = pr_now_ns();
	pool->done++;
	if (r->state == PP_R_STOPPING) {
		pool->nstopping--;
	} else {
		/* It died on its own: drop its key now; a warm one is not
		 * replaced until the next get (no spawn loop on a bad runner). */
		if (r->warm)
			pool->refill_hold = true;
		pool->nrun--;
		pr_pp_hash_del(pool, ri);
		pr_pp_rl_del(pool, r);
		r->state = PP_R_DEAD;
		pp_fail_waiters(pool, ri, -ECHILD);
	}
	r->state = PP_R_DEAD;
	pr_pp_runner_put(pool, ri);
}

/* ---- the timer ---- */

static uint64_t pp_timer_ud(const struct pidring_pool *pool)
{
	return pr_ud(PR_OP_POOLTIMER, PR_ENGINE_SLOT, pool->timer_gen);
}

void pr_pool_timer_cqe(struct pidring *pr, struct pr_proc *p, uint32_t gen,
		       enum pr_op op, int res)
{
	(void)p, (void)op;
	(void)res;   /* -ETIME (fired) or -ECANCELED: either way it is gone */
	if (pr->pool && gen == pr_ud_gen(pp_timer_ud(pr->pool)))
		pr->pool->timer_armed = false;
}

/* One TIMEOUT for the earliest idle deadline: armed when none is, moved
 * earlier with TIMEOUT_UPDATE; a later one is left to fire early (the pass
 * it wakes re-arms it). */
static void pp_timer_arm(struct pidring_pool *pool)
{
	struct pidring *pr = pool->pr;
	struct io_uring_sqe *sqe;
	uint64_t due;

	if (pool->idle.head == PP_NONE)
		return;
	due = pool->runs[pool->idle.head].idle_ns;
	if ((pool->timer_armed && pool->timer_ns <= due) || pr_reserve(pr, 1) < 0)
		return;
	if (!pool->timer_armed) {
		pool->ts_arm.tv_sec = (long long)(due / 1000000000u);
		pool->ts_arm.tv_nsec = (long long)(due % 1000000000u);
		sqe = pr_esqe(pr, PR_OP_POOLTIMER);
		io_uring_prep_timeout(sqe, &pool->ts_arm, 0, IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data64(sqe, pp_timer_ud(pool));
		pool->timer_armed = true;
	} else {
		pool->ts_upd.tv_sec = (long long)(due / 1000000000u);
		pool->ts_upd.tv_nsec = (long long)(due % 1000000000u);
		sqe = pr_esqe(pr, PR_OP_NOP);
		io_uring_prep_timeout_update(sqe, &pool->ts_upd, pp_timer_ud(pool),
					     IORING_TIMEOUT_ABS);
	}
	pool->timer_ns = due;
	pr_submit_lazy(pr);
}

/* After a verb: answers out, the timer right, a poller told. */
static void pp_settle(struct pidring_pool *pool)
{
	pp_timer_arm(pool);
	pp_flush(pool);
	pr_signal_leftovers(pool->pr);
}

void pr_pool_run(struct pidring *pr)
{
	struct pidring_pool *pool = pr->pool;
	uint64_t now;

	if (!pool)
		return;
	now = pr_now_ns();
	while (pool->idle.head != PP_NONE && pool->runs[pool->idle.head].idle_ns <= now)
		pp_stop(pool, pool->idle.head);
	while (!pool->refill_hold && pool->warm.n < pool->min_idle &&
	       (!pool->max_runners || pool->nrun < pool->max_runners)) {
		uint32_t ri;

		if (pp_spawn(pool, NULL, 0, 0, &ri) < 0)
			pool->refill_hold = true;
	}
	pp_timer_arm(pool);
	pp_flush(pool);
}

/* ---- the verbs ---- */

static void pp_free(struct pidring_pool *pool)
{
	for (uint32_t i = 0; i < pool->runs_cap; i++)
		free(pool->runs[i].key);
	free(pool->runs);
	free(pool->leases);
	free(pool->bk);
	pr_pool_tpl_free(&pool->tpl);
	free(pool);
}

static int pp_check_opts(const struct pidring_pool_opts *o)
{
	int ret;

	if (!o->spawn || o->flags & ~PP_FLAGS)
		return -EINVAL;
	ret = pr_spawn_validate(o->spawn);
	if (ret)
		return ret;
	if (o->idle_ttl_ms > PP_DAY_MS || o->stop_grace_ms > PP_DAY_MS)
		return -EINVAL;
	if (o->max_runners && o->min_idle > o->max_runners)
		return -EINVAL;
	return 0;
}

/* How the engine's lower layers reach the pool (they do not know it by
 * name: the pool is on top of the public API). */
static const struct pr_pool_hooks pp_hooks = {
	.ready = pr_pool_ready,
	.done = pr_pool_done,
	.run = pr_pool_run,
	.destroy = pidring_pool_destroy,
	.timer = pr_pool_timer_cqe,
};

int pidring_pool_new(struct pidring *pr, const struct pidring_pool_opts *opts,
		     struct pidring_pool **out)
{
	struct pidring_pool *pool;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!pr || !opts)
		return -EINVAL;
	ret = pp_check_opts(opts);
	if (ret)
		return ret;
	if (pr->pool)
		return -EBUSY;
	if (pr->destroying)
		return -ESHUTDOWN;
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	ret = pr_pp_init(pool, pr, opts);
	if (ret) {
		pp_free(pool);
		return ret;
	}
	pr->pool = pool;
	pr->pool_hooks = &pp_hooks;
	while (pool->warm.n < pool->min_idle) {
		uint32_t ri;

		ret = pp_spawn(pool, NULL, 0, 0, &ri);
		if (ret) {
			pidring_pool_destroy(pool);
			return ret;
		}
	}
	*out = pool;
	return 0;
}

int pidring_pool_destroy(struct pidring_pool *pool)
{
	struct pidring *pr;

	if (!pool)
		return 0;
	pr = pool->pr;
	for (uint32_t ri = 0; ri < pool->runs_cap; ri++) {
		struct pp_runner *r = &pool->runs[ri];

		/* Their DONE still comes, inside the engine, and goes nowhere. */
		if (r->state == PP_R_STARTING || r->state == PP_R_READY)
			pidring_cancel(pr, r->id);
	}
	if (pool->timer_armed && pr_reserve(pr, 1) == 0)
		io_uring_prep_cancel64(pr_esqe(pr, PR_OP_NOP), pp_timer_ud(pool), 0);
	/* The kernel reads a TIMEOUT's timespec when it takes the SQE: every
	 * SQE naming the pool's memory goes in before that memory goes. */
	pr_submit(pr);
	pr->pool = NULL;
	pr->pool_hooks = NULL;
	pp_free(pool);
	return 0;
}

/* Bind lease li to runner ri: held at once when ready, else waiting. */
static int pp_attach(struct pidring_pool *pool, uint32_t li, uint32_t ri,
		     struct pidring_lease *out)
{
	struct pp_runner *r = &pool->runs[ri];
	struct pp_lease *l = &pool->leases[li];

	r->nleases++;
	l->runner = ri;
	out->ticket = pr_pp_ticket(pool, li);
	out->id = 0;
	out->pid = 0;
	if (r->state == PP_R_READY) {
		if (r->list == PP_LIST_IDLE)
			pr_pp_rl_del(pool, r);
		l->state = PP_L_HELD;
		out->id = r->id;
		out->pid = r->pid;
		return 0;
	}
	l->state = PP_L_WAIT;
	pr_pp_ll_add(pool, &r->wait_head, &r->wait_tail, li);
	return PIDRING_POOL_PENDING;
}

/* A runner for a key that has none: a warm one, or a new spawn. */
static int pp_runner_for(struct pidring_pool *pool, const void *key, size_t len,
			 uint64_t h, uint32_t *ri)
{
	int ret = pr_pp_hash_reserve(pool);

	if (ret)
		return ret;
	if (pool->warm.head != PP_NONE) {
		uint32_t wi = pool->warm.head;
		struct pp_runner *r = &pool->runs[wi];
		char *kc = malloc(len);

		if (!kc)
			return -ENOMEM;
		memcpy(kc, key, len);
		pr_pp_rl_del(pool, r);
		r->key = kc;
		r->keylen = (uint32_t)len;
		r->hash = h;
		r->warm = false;
		pr_pp_hash_add(pool, wi);
		*ri = wi;
		return 0;
	}
	if (pool->max_runners && pool->nrun >= pool->max_runners) {
		if (!(pool->flags & PIDRING_POOL_EVICT_LRU) || pool->idle.head == PP_NONE)
			return -EAGAIN;
		pp_stop(pool, pool->idle.head);
	}
	ret = pp_spawn(pool, key, len, h, ri);
	if (!ret)
		pool->refill_hold = false;   /* the template works: refill again */
	return ret;
}

int pidring_pool_get(struct pidring_pool *pool, const void *key, size_t keylen,
		     void *user, struct pidring_lease *lease)
{
	uint32_t li, ri;
	uint64_t h;
	int ret;

	if (!pool || !lease || !pr_pp_key_ok(pool, key, keylen))
		return -EINVAL;
	h = pr_pool_hash(pool->k0, pool->k1, key, keylen);
	ret = pr_pp_lease_alloc(pool, &li);
	if (ret)
		return ret;
	pool->leases[li].user = user;
	ri = pr_pp_find(pool, key, keylen, h);
	if (ri == PP_NONE) {
		ret = pp_runner_for(pool, key, keylen, h, &ri);
		if (ret) {
			pr_pp_lease_free(pool, li);
			pp_settle(pool);
			return ret;
		}
	}
	ret = pp_attach(pool, li, ri, lease);
	pp_settle(pool);
	return ret;
}

static struct pp_lease *pp_lease_of(struct pidring_pool *pool, uint64_t ticket,
				    uint32_t *li)
{
	uint32_t i = (uint32_t)ticket - 1;

	if ((uint32_t)ticket == 0 || i >= pool->leases_cap ||
	    pool->leases[i].state == PP_L_FREE || pool->leases[i].gen != ticket >> 32)
		return NULL;
	*li = i;
	return &pool->leases[i];
}

int pidring_pool_release(struct pidring_pool *pool, uint64_t ticket)
{
	struct pp_lease *l;
	uint32_t li, ri;

	if (!pool)
		return -EINVAL;
	l = pp_lease_of(pool, ticket, &li);
	if (!l)
		return -ESRCH;
	ri = l->runner;
	if (l->state == PP_L_WAIT)
		pr_pp_ll_del(pool, &pool->runs[ri].wait_head, &pool->runs[ri].wait_tail, li);
	else if (l->state == PP_L_NOTE)
		pr_pp_ll_del(pool, &pool->note_head, &pool->note_tail, li);
	pr_pp_lease_free(pool, li);
	if (ri != PP_NONE) {
		pool->runs[ri].nleases--;
		pp_unref(pool, ri);
	}
	pp_settle(pool);
	return 0;
}

int pidring_pool_evict(struct pidring_pool *pool, const void *key, size_t keylen)
{
	uint32_t ri;

	if (!pool || !pr_pp_key_ok(pool, key, keylen))
		return -EINVAL;
	ri = pr_pp_find(pool, key, keylen, pr_pool_hash(pool->k0, pool->k1, key, keylen));
	if (ri == PP_NONE)
		return -ENOENT;
	pp_stop(pool, ri);
	pp_settle(pool);
	return 0;
}
