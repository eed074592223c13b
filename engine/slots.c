/* SPDX-License-Identifier: MIT */
/*
 * The slot table: O(1) allocate, free and look-up, and the generation that
 * makes a stale or forged pidring_id harmless (rule 4).
 *
 * An id is gen << 32 | (index + 1): 0 is never a valid id, and a slot's
 * generation moves on every time it is freed, so an old id no longer matches.
 * Slots are handed out lazily (used grows) so a large max_procs costs address
 * space, not resident memory, until it is needed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PR_NO_SLOT UINT32_MAX

int pr_slots_init(struct pidring *pr, unsigned max_procs)
{
	pr->procs = calloc(max_procs, sizeof(*pr->procs));
	if (!pr->procs)
		return -ENOMEM;
	pr->max_procs = max_procs;
	pr->free_head = PR_NO_SLOT;
	pr->used = 0;
	pr->live = 0;
	return 0;
}

void pr_slots_free(struct pidring *pr)
{
	if (!pr->procs)
		return;
	for (uint32_t i = 0; i < pr->used; i++) {
		free(pr->procs[i].status_text);
		free(pr->procs[i].sun);
	}
	free(pr->procs);
	pr->procs = NULL;
	free(pr->pid_buckets);
	pr->pid_buckets = NULL;
}

struct pr_proc *pr_slot_alloc(struct pidring *pr, uint32_t *idx)
{
	struct pr_proc *p;
	uint32_t i, gen;

	if (pr->free_head != PR_NO_SLOT) {
		i = pr->free_head;
		pr->free_head = pr->procs[i].next_free;
	} else if (pr->used < pr->max_procs) {
		i = pr->used++;
		pr->procs[i].gen = 1;
	} else {
		return NULL;
	}
	p = &pr->procs[i];
	gen = p->gen;
	memset(p, 0, offsetof(struct pr_proc, reap_si));
	p->gen = gen;
	p->pidfd = -1;
	p->probe_fd = -1;
	p->cg_events_fd = -1;
	p->next_free = PR_NO_SLOT;
	pr->live++;
	*idx = i;
	return p;
}

void pr_slot_release(struct pidring *pr, uint32_t idx)
{
	struct pr_proc *p = &pr->procs[idx];

	free(p->status_text);
	p->status_text = NULL;
	p->state = PR_FREE;
	p->gen++;
	if (p->gen == 0)        /* 0 would make the id look like index-only */
		p->gen = 1;
	p->next_free = pr->free_head;
	pr->free_head = idx;
	pr->live--;
}

struct pr_proc *pr_lookup(struct pidring *pr, pidring_id id, uint32_t *idx)
{
	uint32_t lo = (uint32_t)id, gen = (uint32_t)(id >> 32);
	struct pr_proc *p;

	if (!pr || lo == 0 || lo > pr->used)
		return NULL;
	p = &pr->procs[lo - 1];
	if (p->state == PR_FREE || p->gen != gen)
		return NULL;
	if (idx)
		*idx = lo - 1;
	return p;
}

/*
 * pid -> slot, for the procs that need it (NOTIFY senders are named by pid;
 * the subreaper must tell tracked children from adopted orphans). Chained
 * through pr_proc.pid_next; the table is sized once, to max_procs.
 */
int pr_pids_init(struct pidring *pr)
{
	uint32_t n = 64;

	if (pr->pid_buckets)
		return 0;
	while (n < pr->max_procs && n < (1u << 20))
		n <<= 1;
	pr->pid_buckets = malloc(n * sizeof(*pr->pid_buckets));
	if (!pr->pid_buckets)
		return -ENOMEM;
	memset(pr->pid_buckets, 0xff, n * sizeof(*pr->pid_buckets));
	pr->pid_mask = n - 1;
	return 0;
}

static uint32_t *pr_pids_bucket(struct pidring *pr, pid_t pid)
{
	return &pr->pid_buckets[((uint32_t)pid * 2654435761u) & pr->pid_mask];
}

void pr_pids_add(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	uint32_t *b = pr_pids_bucket(pr, p->pid);

	p->pid_next = *b;
	*b = idx;
	p->flags |= PRF_HASHED;
}

void pr_pids_del(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	uint32_t *b = pr_pids_bucket(pr, p->pid);

	while (*b != PR_NO_SLOT) {
		if (*b == idx) {
			*b = p->pid_next;
			break;
		}
		b = &pr->procs[*b].pid_next;
	}
	p->flags &= ~PRF_HASHED;
}

struct pr_proc *pr_pids_find(struct pidring *pr, pid_t pid, uint32_t *idx)
{
	if (!pr->pid_buckets)
		return NULL;
	for (uint32_t i = *pr_pids_bucket(pr, pid); i != PR_NO_SLOT;
	     i = pr->procs[i].pid_next)
		if (pr->procs[i].pid == pid) {
			*idx = i;
			return &pr->procs[i];
		}
	return NULL;
}

/* The public verbs' look-up: -EINVAL without an engine, -ESRCH for an id
 * that names no live proc. */
int pr_verb_lookup(struct pidring *pr, pidring_id id, struct pr_proc **p, uint32_t *idx)
{
	if (!pr)
		return -EINVAL;
	*p = pr_lookup(pr, id, idx);
	return *p ? 0 : -ESRCH;
}
