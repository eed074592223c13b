/* SPDX-License-Identifier: MIT */
/*
 * pidring-bench --pool — the session pool's costs, on real bind runners.
 *
 *   pidring-bench --pool [--n N] [--churn K] [--child PATH] [--json]
 *
 *   warm   a get for a new key with min_idle 8 warm runners ready: the
 *          get's own time (it returns 0, the lease held); N samples
 *   cold   a get for a new key with no warm runner, to its LEASE_READY
 *          (spawn, bind, connect); N / 4 samples
 *   churn  K keys (default 10^4), 64 gets in flight, each released at its
 *          LEASE_READY with idle_ttl 0 (stopped at once): keys per second
 *
 * Latencies are p50 / p99 (nearest rank) in microseconds. The asyncio peer
 * written the way a naive server does it (a lock per key, a 50 ms
 * connect-poll for the bind) is tools/bench/py_pool_naive.py.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pidring.h"

int pool_bench_main(int argc, char **argv);

static uint64_t pb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int pb_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pb_pct(uint64_t *v, unsigned n, double p)
{
	unsigned k;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), pb_cmp);
	k = (unsigned)(p * n + 0.999999);
	return (double)v[k ? k - 1 : 0] / 1000.0;
}

struct pb {
	struct pidring *pr;
	struct pidring_pool *pool;
	char dir[64];
	const char *child;
};

static int pb_open(struct pb *b, unsigned min_idle, unsigned ttl_ms, unsigned cap)
{
	static char *const argv[] = { "pidring-child", "--bind-after-ms", "0", NULL };
	struct pidring_spawn tpl = { .path = b->child, .argv = argv,
				     .ready = PIDRING_READY_BIND };
	struct pidring_pool_opts po = { .spawn = &tpl, .min_idle = min_idle,
					.idle_ttl_ms = ttl_ms, .max_runners = cap,
					.flags = PIDRING_POOL_EVICT_LRU };
	struct pidring_opts eo = { .ring_entries = 1024 };
	int r;

	snprintf(b->dir, sizeof(b->dir), "/tmp/pidring-pool-bench.XXXXXX");
	if (!mkdtemp(b->dir))
		return -errno;
	eo.runtime_dir = b->dir;
	r = pidring_new(&b->pr, &eo);
	if (!r)
		r = pidring_pool_new(b->pr, &po, &b->pool);
	return r;
}

static void pb_close(struct pb *b)
{
	pidring_pool_destroy(b->pool);
	pidring_destroy(b->pr, 10000);
	rmdir(b->dir);
}

/* Drive the engine until the pool's LEASE_READY (or FAILED) for ticket. */
static int pb_wait_ticket(struct pb *b, uint64_t ticket)
{
	struct pidring_event ev[16];

	for (;;) {
		int n = pidring_wait(b->pr, ev, 16, 1000);

		if (n < 0 && n != -EINTR)
			return n;
		for (int i = 0; i < n; i++)
			if (ev[i].lease == ticket)
				return ev[i].type == PIDRING_EV_LEASE_READY ? 0 : ev[i].error;
	}
}

static int pb_warm(struct pb *b, uint64_t *lat, unsigned n)
{
	struct pidring_pool_stats st;
	struct pidring_lease l;
	struct pidring_event ev[4];
	char key[32];

	for (unsigned i = 0; i < n; i++) {
		uint64_t t0;
		int r;

		do {
			pidring_wait(b->pr, ev, 4, 5);
			pidring_pool_stats(b->pool, &st);
		} while (st.warm_ready < 8);
		snprintf(key, sizeof(key), "w%u", i);
		t0 = pb_now();
		r = pidring_pool_get(b->pool, key, strlen(key), NULL, &l);
		lat[i] = pb_now() - t0;
		if (r != 0)
			return r < 0 ? r : -EAGAIN;
		pidring_pool_release(b->pool, l.ticket);   /* idle_ttl 0: stopped */
	}
	return 0;
}

static int pb_cold(struct pb *b, uint64_t *lat, unsigned n)
{
	struct pidring_lease l;
	char key[32];

	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = pb_now();
		int r;

		snprintf(key, sizeof(key), "c%u", i);
		r = pidring_pool_get(b->pool, key, strlen(key), NULL, &l);
		if (r == PIDRING_POOL_PENDING)
			r = pb_wait_ticket(b, l.ticket);
		lat[i] = pb_now() - t0;
		if (r)
			return r;
		pidring_pool_release(b->pool, l.ticket);
	}
	return 0;
}

static int pb_churn(struct pb *b, unsigned keys, double *per_s)
{
	struct pidring_event ev[64];
	unsigned next = 0, inflight = 0, done = 0;
	uint64_t t0 = pb_now();
	char key[32];

	while (done < keys) {
		while (inflight < 64 && next < keys) {
			struct pidring_lease l;
			int r;

			snprintf(key, sizeof(key), "k%u", next++);
			r = pidring_pool_get(b->pool, key, strlen(key), NULL, &l);
			if (r < 0)
				return r;
			if (r == 0) {
				pidring_pool_release(b->pool, l.ticket);
				done++;
			} else {
				inflight++;
			}
		}
		int n = pidring_wait(b->pr, ev, 64, 1000);

		for (int i = 0; i < n; i++) {
			if (ev[i].type == PIDRING_EV_LEASE_READY)
				pidring_pool_release(b->pool, ev[i].lease);
			else if (ev[i].type != PIDRING_EV_LEASE_FAILED)
				continue;
			inflight--;
			done++;
		}
	}
	*per_s = keys / ((double)(pb_now() - t0) / 1e9);
	return 0;
}

int pool_bench_main(int argc, char **argv)
{
	unsigned n = 2000, churn = 10000;
	bool json = false;
	const char *child = getenv("PIDRING_CHILD");
	uint64_t *lat;
	struct pb b = { 0 };
	double w50, w99, c50, c99, kps = 0;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--n") && i + 1 < argc)
			n = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--churn") && i + 1 < argc)
			churn = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--child") && i + 1 < argc)
			child = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else {
			fprintf(stderr, "usage: pidring-bench --pool [--n N] [--churn K] "
				"[--child PATH] [--json]\n");
			return 2;
		}
	}
	if (!child || access(child, X_OK) || n < 4 || !(lat = calloc(n, sizeof(*lat)))) {
		fprintf(stderr, "pidring-bench --pool: need an executable --child / "
			"$PIDRING_CHILD and --n >= 4\n");
		return 2;
	}
	b.child = child;
	r = pb_open(&b, 8, 0, 0);
	if (!r)
		r = pb_warm(&b, lat, n);
	pb_close(&b);
	w50 = pb_pct(lat, n, 0.50);
	w99 = pb_pct(lat, n, 0.99);
	memset(&b, 0, sizeof(b));
	b.child = child;
	if (!r)
		r = pb_open(&b, 0, 0, 0);
	if (!r)
		r = pb_cold(&b, lat, n / 4);
	pb_close(&b);
	c50 = pb_pct(lat, n / 4, 0.50);
	c99 = pb_pct(lat, n / 4, 0.99);
	memset(&b, 0, sizeof(b));
	b.child = child;
	if (!r)
		r = pb_open(&b, 0, 0, 64);
	if (!r)
		r = pb_churn(&b, churn, &kps);
	pb_close(&b);
	free(lat);
	if (r) {
		fprintf(stderr, "pidring-bench --pool: %s\n", strerror(-r));
		return 1;
	}
	if (json)
		printf("{\"warm_get_p50_us\":%.1f,\"warm_get_p99_us\":%.1f,"
		       "\"cold_get_ready_p50_us\":%.1f,\"cold_get_ready_p99_us\":%.1f,"
		       "\"churn_keys_per_s\":%.0f}\n", w50, w99, c50, c99, kps);
	else
		printf("warm get (min_idle 8): p50 %.1f us, p99 %.1f us (%u)\n"
		       "cold get to ready:     p50 %.1f us, p99 %.1f us (%u)\n"
		       "churn, %u keys, 64 in flight: %.0f keys/s\n",
		       w50, w99, n, c50, c99, n / 4, churn, kps);
	return 0;
}
