/* SPDX-License-Identifier: MIT */
/*
 * Per-proc records (a fixed pool and an open-addressing map by engine and
 * id) and the clock.
 */
#include "stress.h"

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

double since_start(void)
{
	return (double)(now_ns() - t_start) / 1e9;
}

struct rec *pool;
unsigned pool_cap, inflight;
unsigned *free_stack, free_top;  /* key 0: empty */
struct mslot *map;
unsigned map_mask;

static unsigned map_hash(unsigned k, uint64_t id)
{
	uint64_t h = (id ^ ((uint64_t)k << 56)) * 0x9e3779b97f4a7c15ull;

	return (unsigned)(h >> 32) & map_mask;
}

void map_put(unsigned k, uint64_t id, unsigned r)
{
	unsigned i = map_hash(k, id);

	while (map[i].key)
		i = (i + 1) & map_mask;
	map[i] = (struct mslot){ id, k, r };
}

long map_find(unsigned k, uint64_t id)
{
	unsigned i = map_hash(k, id);

	while (map[i].key) {
		if (map[i].key == id && map[i].k == k)
			return (long)i;
		i = (i + 1) & map_mask;
	}
	return -1;
}

/* Linear probing with backward-shift deletion: no tombstones. */
void map_del_at(unsigned i)
{
	unsigned j = i;

	map[i].key = 0;
	for (;;) {
		j = (j + 1) & map_mask;
		if (!map[j].key)
			return;
		unsigned h = map_hash(map[j].k, map[j].key);
		/* j's entry may move to i only if its home is not in (i, j]. */
		bool between = i <= j ? (h > i && h <= j) : (h > i || h <= j);
		if (between)
			continue;
		map[i] = map[j];
		map[j].key = 0;
		i = j;
	}
}

struct rec *rec_alloc(void)
{
	struct rec *r = &pool[free_stack[--free_top]];

	memset(r, 0, sizeof(*r));
	r->used = true;
	r->ep = -1;
	inflight++;
	return r;
}

void rec_free(struct rec *r)
{
	r->used = false;
	free_stack[free_top++] = (unsigned)(r - pool);
	inflight--;
}
struct eng eng[MAX_ENGINES];

/* Everything the loop needs, allocated once: the heap checks measure
 * around the engines only. 0 or -ENOMEM. */
int records_init(void)
{
	unsigned mcap = 16;

	pool_cap = opt.concurrency + 1;
	pool = calloc(pool_cap, sizeof(*pool));
	free_stack = calloc(pool_cap, sizeof(*free_stack));
	while (mcap < 4 * pool_cap)
		mcap *= 2;
	map = calloc(mcap, sizeof(*map));
	map_mask = mcap - 1;
	if (!pool || !free_stack || !map)
		return -ENOMEM;
	for (unsigned i = 0; i < pool_cap; i++)
		free_stack[free_top++] = pool_cap - 1 - i;
	return 0;
}
