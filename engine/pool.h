/* SPDX-License-Identifier: MIT */
/* Private to the engine: the session pool's hooks (engine/pool.c). */
#ifndef PR_POOL_H
#define PR_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/*
 * Called by the engine for a proc spawned by the pool (PRF_POOL), in place
 * of queueing its READY / DONE event. They may run mid-dispatch: they touch
 * the pool's memory only, never an engine verb; what they leave to do (stop
 * a runner, start a warm one, hand out events) is done by pr_pool_run.
 * With the pool gone (pidring_pool_destroy), they do nothing.
 */
void pr_pool_ready(struct pidring *pr, struct pr_proc *p, uint32_t idx);
void pr_pool_done(struct pidring *pr, struct pr_proc *p, uint32_t idx);

/* The completion of the pool's TIMEOUT (op PR_OP_POOLTIMER). */
void pr_pool_timer_cqe(struct pidring *pr, struct pr_proc *p, uint32_t gen,
		       enum pr_op op, int res);

/* From pidring_wait, outside dispatch: expire idle runners, refill warm
 * ones, re-arm the timer, move the pool's answers into the event queue. */
void pr_pool_run(struct pidring *pr);

/* pool_hash.c: SipHash-2-4 of the key under a per-pool random key, so
 * that keys chosen by remote users cannot pile into one bucket. */
uint64_t pr_pool_hash(uint64_t k0, uint64_t k1, const void *key, size_t len);

/* ---- the pool's records (pool.c; tables in pool_table.c) ---- */

#define PP_NONE     UINT32_MAX
#define PP_KEY_TOK  "{key}"   /* replaced by the key in a keyed spawn */
#define PP_DAY_MS   (24u * 3600u * 1000u)

enum pp_rstate {
	PP_R_FREE = 0,
	PP_R_STARTING,   /* spawned, not yet ready */
	PP_R_READY,
	PP_R_STOPPING,   /* cancelled or stopped; its key dropped; DONE to come */
	PP_R_DEAD,       /* DONE seen; kept while leases name it */
};

enum pp_lstate {
	PP_L_FREE = 0,
	PP_L_WAIT,       /* on its runner's wait list */
	PP_L_NOTE,       /* on the pool's queue of answers (ev says which) */
	PP_L_HELD,       /* ready, handed out, not yet released */
};

enum { PP_LIST_NONE, PP_LIST_IDLE, PP_LIST_WARM };

struct pp_runner {
	uint8_t  state;         /* enum pp_rstate */
	uint8_t  list;          /* PP_LIST_* it is on */
	bool     warm;          /* bound to no key yet */
	bool     hashed;
	uint32_t keylen;
	uint64_t hash;
	uint32_t hnext;         /* hash chain; free list */
	uint32_t prev, next;    /* idle or warm list */
	uint32_t wait_head, wait_tail;
	uint32_t nleases;       /* waiting, noted and held */
	pidring_id id;
	pid_t    pid;
	uint64_t idle_ns;       /* deadline on the idle list */
	char    *key;
	struct pidring_event done;  /* its DONE (state DEAD) */
};

struct pp_lease {
	uint32_t gen;
	uint8_t  state;         /* enum pp_lstate */
	uint32_t runner;        /* PP_NONE once it failed */
	uint32_t prev, next;    /* wait list or note queue; free list */
	void    *user;
	int      type, error;   /* PP_L_NOTE: the event to hand out */
};

struct pp_list { uint32_t head, tail, n; };

struct pidring_pool {
	struct pidring *pr;
	struct pidring_spawn tpl;       /* deep copy of the template */
	bool     key_tpl;               /* "{key}" in argv or envp */
	unsigned max_runners, min_idle, idle_ttl_ms, stop_grace_ms, flags;

	struct pp_runner *runs;
	uint32_t runs_cap, rfree;
	struct pp_lease *leases;
	uint32_t leases_cap, lfree;
	uint32_t *bk, mask;             /* key -> runner, chained */
	uint64_t k0, k1;                /* SipHash key */

	struct pp_list idle, warm;
	uint32_t note_head, note_tail;
	unsigned nrun;                  /* STARTING + READY: what the cap counts */
	unsigned nkeys, nstopping, nleases;
	unsigned long long started, done;
	uint32_t spawning;              /* runner whose pidring_spawn is under way */
	bool     refill_hold;           /* a warm runner died on its own */

	uint32_t timer_gen;             /* names this pool's TIMEOUT in user_data */
	bool     timer_armed;
	uint64_t timer_ns;
	struct __kernel_timespec ts_arm, ts_upd;
};

/* pool_table.c: lists, index tables, the key table */
void pr_pp_rl_del(struct pidring_pool *pool, struct pp_runner *r);
void pr_pp_rl_add(struct pidring_pool *pool, uint32_t ri, int which, bool at_head);
void pr_pp_ll_del(struct pidring_pool *pool, uint32_t *head, uint32_t *tail, uint32_t li);
void pr_pp_ll_add(struct pidring_pool *pool, uint32_t *head, uint32_t *tail, uint32_t li);
int pr_pp_runner_alloc(struct pidring_pool *pool, uint32_t *ri);
void pr_pp_runner_put(struct pidring_pool *pool, uint32_t ri);
void pr_pp_runner_free(struct pidring_pool *pool, uint32_t ri);
int pr_pp_lease_alloc(struct pidring_pool *pool, uint32_t *li);
void pr_pp_lease_free(struct pidring_pool *pool, uint32_t li);
uint64_t pr_pp_ticket(const struct pidring_pool *pool, uint32_t li);
uint32_t pr_pp_find(const struct pidring_pool *pool, const void *key, size_t len,
			uint64_t h);
int pr_pp_init(struct pidring_pool *pool, struct pidring *pr,
	       const struct pidring_pool_opts *opts);
int pr_pp_hash_reserve(struct pidring_pool *pool);
void pr_pp_hash_add(struct pidring_pool *pool, uint32_t ri);
void pr_pp_hash_del(struct pidring_pool *pool, uint32_t ri);
bool pr_pp_key_ok(const struct pidring_pool *pool, const void *key, size_t len);

/* pool_tpl.c: the template */
int pr_pool_tpl_copy(struct pidring_spawn *d, const struct pidring_spawn *s);
void pr_pool_tpl_free(struct pidring_spawn *d);

#endif /* PR_POOL_H */
