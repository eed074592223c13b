/* SPDX-License-Identifier: MIT */
/*
 * The pool's tables: runner and lease records in realloc'd arrays (named by
 * index, so growth never moves what a name points to), their free lists, the
 * idle / warm lists of runners and the wait / answer lists of leases, and
 * the key table (separate chaining through the runner records, at most one
 * key per bucket on average); and the look-ups that only read them
 * (pidring_pool_find, pidring_pool_stats).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "pool.h"

/* ---- lists ---- */

void pr_pp_rl_del(struct pidring_pool *pool, struct pp_runner *r)
{
	struct pp_list *l = r->list == PP_LIST_IDLE ? &pool->idle : &pool->warm;

	if (r->list == PP_LIST_NONE)
		return;
	if (r->prev != PP_NONE)
		pool->runs[r->prev].next = r->next;
	else
		l->head = r->next;
	if (r->next != PP_NONE)
		pool->runs[r->next].prev = r->prev;
	else
		l->tail = r->prev;
	l->n--;
	r->list = PP_LIST_NONE;
}

void pr_pp_rl_add(struct pidring_pool *pool, uint32_t ri, int which, bool at_head)
{
	struct pp_list *l = which == PP_LIST_IDLE ? &pool->idle : &pool->warm;
	struct pp_runner *r = &pool->runs[ri];

	r->list = (uint8_t)which;
	if (at_head) {
		r->prev = PP_NONE;
		r->next = l->head;
		if (l->head != PP_NONE)
			pool->runs[l->head].prev = ri;
		else
			l->tail = ri;
		l->head = ri;
	} else {
		r->next = PP_NONE;
		r->prev = l->tail;
		if (l->tail != PP_NONE)
			pool->runs[l->tail].next = ri;
		else
			l->head = ri;
		l->tail = ri;
	}
	l->n++;
}

void pr_pp_ll_del(struct pidring_pool *pool, uint32_t *head, uint32_t *tail, uint32_t li)
{
	struct pp_lease *l = &pool->leases[li];

	if (l->prev != PP_NONE)
		pool->leases[l->prev].next = l->next;
	else
		*head = l->next;
	if (l->next != PP_NONE)
		pool->leases[l->next].prev = l->prev;
	else
		*tail = l->prev;
}

void pr_pp_ll_add(struct pidring_pool *pool, uint32_t *head, uint32_t *tail, uint32_t li)
{
	struct pp_lease *l = &pool->leases[li];

	l->next = PP_NONE;
	l->prev = *tail;
	if (*tail != PP_NONE)
		pool->leases[*tail].next = li;
	else
		*head = li;
	*tail = li;
}

/* ---- tables ---- */

/* Grow an index table to hold one more record; new records go on its free
 * list (linked through the field at link_off). */
static int pp_grow(void **tab, uint32_t *cap, uint32_t *freel, size_t size, size_t link_off)
{
	uint32_t nc = *cap ? *cap * 2 : 64;
	char *nt;

	if (*freel != PP_NONE)
		return 0;
	if (*cap >= (1u << 30))
		return -ENOMEM;
	nt = realloc(*tab, (size_t)nc * size);
	if (!nt)
		return -ENOMEM;
	memset(nt + (size_t)*cap * size, 0, (size_t)(nc - *cap) * size);
	for (uint32_t i = nc; i-- > *cap;) {
		memcpy(nt + (size_t)i * size + link_off, freel, sizeof(uint32_t));
		*freel = i;
	}
	*tab = nt;
	*cap = nc;
	return 0;
}

int pr_pp_runner_alloc(struct pidring_pool *pool, uint32_t *ri)
{
	struct pp_runner *r;
	int ret = pp_grow((void **)&pool->runs, &pool->runs_cap, &pool->rfree,
			  sizeof(*r), offsetof(struct pp_runner, hnext));

	if (ret)
		return ret;
	*ri = pool->rfree;
	r = &pool->runs[*ri];
	pool->rfree = r->hnext;
	memset(r, 0, sizeof(*r));
	r->state = PP_R_STARTING;
	r->hnext = r->prev = r->next = PP_NONE;
	r->wait_head = r->wait_tail = PP_NONE;
	return 0;
}

/* The record goes once nothing names it: DONE seen (or never spawned) and
 * no lease left. */
void pr_pp_runner_put(struct pidring_pool *pool, uint32_t ri)
{
	struct pp_runner *r = &pool->runs[ri];

	if (r->nleases || r->state != PP_R_DEAD)
		return;
	pr_pp_runner_free(pool, ri);
}

void pr_pp_runner_free(struct pidring_pool *pool, uint32_t ri)
{
	struct pp_runner *r = &pool->runs[ri];

	free(r->key);
	r->key = NULL;
	r->state = PP_R_FREE;
	r->hnext = pool->rfree;
	pool->rfree = ri;
}

int pr_pp_lease_alloc(struct pidring_pool *pool, uint32_t *li)
{
	struct pp_lease *l;
	int ret = pp_grow((void **)&pool->leases, &pool->leases_cap, &pool->lfree,
			  sizeof(*l), offsetof(struct pp_lease, next));

	if (ret)
		return ret;
	*li = pool->lfree;
	l = &pool->leases[*li];
	pool->lfree = l->next;
	l->gen = l->gen + 1 ? l->gen + 1 : 1;
	l->state = PP_L_WAIT;
	l->runner = l->prev = l->next = PP_NONE;
	pool->nleases++;
	return 0;
}

void pr_pp_lease_free(struct pidring_pool *pool, uint32_t li)
{
	struct pp_lease *l = &pool->leases[li];

	l->state = PP_L_FREE;
	l->next = pool->lfree;
	pool->lfree = li;
	pool->nleases--;
}

uint64_t pr_pp_ticket(const struct pidring_pool *pool, uint32_t li)
{
	return (uint64_t)pool->leases[li].gen << 32 | (uint64_t)(li + 1);
}

/* ---- the key table ---- */

uint32_t pr_pp_find(const struct pidring_pool *pool, const void *key, size_t len,
			uint64_t h)
{
	for (uint32_t ri = pool->bk[h & pool->mask]; ri != PP_NONE;
	     ri = pool->runs[ri].hnext) {
		const struct pp_runner *r = &pool->runs[ri];

		if (r->hash == h && r->keylen == len && !memcmp(r->key, key, len))
			return ri;
	}
	return PP_NONE;
}

/* Room for one more key, taken before a runner is bound to it, so that
 * binding cannot fail. The load stays at most one key per bucket. */
int pr_pp_hash_reserve(struct pidring_pool *pool)
{
	uint32_t nb = (pool->mask + 1) * 2, *bk;

	if (pool->nkeys + 1 <= pool->mask + 1)
		return 0;
	bk = malloc(nb * sizeof(*bk));
	if (!bk)
		return -ENOMEM;
	memset(bk, 0xff, nb * sizeof(*bk));
	for (uint32_t b = 0; b <= pool->mask; b++) {
		for (uint32_t ri = pool->bk[b], nx; ri != PP_NONE; ri = nx) {
			struct pp_runner *r = &pool->runs[ri];

			nx = r->hnext;
			r->hnext = bk[r->hash & (nb - 1)];
			bk[r->hash & (nb - 1)] = ri;
		}
	}
	free(pool->bk);
	pool->bk = bk;
	pool->mask = nb - 1;
	return 0;
}

void pr_pp_hash_add(struct pidring_pool *pool, uint32_t ri)
{
	struct pp_runner *r = &pool->runs[ri];
	uint32_t *b = &pool->bk[r->hash & pool->mask];

	r->hnext = *b;
	*b = ri;
	r->hashed = true;
	pool->nkeys++;
}

void pr_pp_hash_del(struct pidring_pool *pool, uint32_t ri)
{
	struct pp_runner *r = &pool->runs[ri];
	uint32_t *at = &pool->bk[r->hash & pool->mask];

	if (!r->hashed)
		return;
	while (*at != ri)
		at = &pool->runs[*at].hnext;
	*at = r->hnext;
	r->hnext = PP_NONE;
	r->hashed = false;
	pool->nkeys--;
}

/* ---- look-ups ---- */

/* A key the verbs take: 1..PIDRING_POOL_KEY_MAX bytes, no NUL for "{key}". */
bool pr_pp_key_ok(const struct pidring_pool *pool, const void *key, size_t len)
{
	return key && len && len <= PIDRING_POOL_KEY_MAX &&
	       !(pool->key_tpl && memchr(key, 0, len));
}

int pidring_pool_find(struct pidring_pool *pool, const void *key, size_t keylen,
		      pidring_id *id)
{
	uint32_t ri;

	if (!pool || !id || !pr_pp_key_ok(pool, key, keylen))
		return -EINVAL;
	ri = pr_pp_find(pool, key, keylen, pr_pool_hash(pool->k0, pool->k1, key, keylen));
	if (ri == PP_NONE)
		return -ENOENT;
	*id = pool->runs[ri].id;
	return 0;
}

int pidring_pool_stats(const struct pidring_pool *pool, struct pidring_pool_stats *st)
{
	if (!pool || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->keys = pool->nkeys;
	st->warm = pool->warm.n;
	for (uint32_t ri = pool->warm.head; ri != PP_NONE && pool->runs[ri].state == PP_R_READY;
	     ri = pool->runs[ri].next)
		st->warm_ready++;
	st->idle = pool->idle.n;
	st->stopping = pool->nstopping;
	st->leases = pool->nleases;
	st->started = pool->started;
	st->done = pool->done;
	return 0;
}

/* A new pool's fields from its options: lists empty, hash table and key,
 * the template copied. -errno leaves what was made for pp_free. */
int pr_pp_init(struct pidring_pool *pool, struct pidring *pr,
	       const struct pidring_pool_opts *opts)
{
	static uint32_t gens;
	uint64_t seed[2];
	int ret;

	pool->pr = pr;
	pool->max_runners = opts->max_runners;
	pool->min_idle = opts->min_idle;
	pool->idle_ttl_ms = opts->idle_ttl_ms;
	pool->stop_grace_ms = opts->stop_grace_ms;
	pool->flags = opts->flags;
	pool->rfree = pool->lfree = pool->spawning = PP_NONE;
	pool->idle.head = pool->idle.tail = pool->warm.head = pool->warm.tail = PP_NONE;
	pool->note_head = pool->note_tail = PP_NONE;
	pool->timer_gen = __atomic_add_fetch(&gens, 1, __ATOMIC_RELAXED);
	/* No entropy yet (early boot): a weaker seed, still not a constant. */
	if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
		seed[0] = pr_now_ns() ^ (uint64_t)(uintptr_t)pool;
		seed[1] = (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)&seed;
	}
	pool->k0 = seed[0];
	pool->k1 = seed[1];
	pool->mask = 63;
	pool->bk = malloc(64 * sizeof(*pool->bk));
	ret = pool->bk ? pr_pool_tpl_copy(&pool->tpl, opts->spawn) : -ENOMEM;
	if (!ret) {
		memset(pool->bk, 0xff, 64 * sizeof(*pool->bk));
		pool->key_tpl = pr_strv_has(pool->tpl.argv, PP_KEY_TOK) ||
				pr_strv_has(pool->tpl.envp, PP_KEY_TOK);
		if (pool->key_tpl && pool->min_idle)
			ret = -EINVAL;   /* a warm runner has no key to be given */
	}
	return ret;
}
