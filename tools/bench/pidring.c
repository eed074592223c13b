/* SPDX-License-Identifier: MIT */
/*
 * pidring as a contender: spawn cycles, the ready cycle and the cancel
 * storm on an engine of its own.
 */
#include "bench.h"

/* ---- pidring ---- */

int pr_new(struct pidring **pr, unsigned flags, unsigned max_procs)
{
	struct pidring_opts o = {
		.runtime_dir = g.tmp, .flags = flags, .max_procs = max_procs,
	};

	return pidring_new(pr, &o);
}

/*
 * N spawn→DONE cycles of the do-nothing child, C in flight, on an existing
 * engine. Events whose user is NULL belong to others (population sleepers).
 */
int pr_cycles(struct pidring *pr, unsigned n, unsigned c, struct samples *lat,
		     double *rate)
{
	struct pidring_spawn s = {
		.path = g.child, .argv = argv_plain, .ready = PIDRING_READY_EXEC,
	};
	struct pidring_event ev[64];
	uint64_t t0[MAX_C], start;
	unsigned spawned = 0, done = 0, slot_free[MAX_C], nfree = 0;
	int r;

	for (unsigned i = 0; i < c; i++)
		slot_free[nfree++] = c - 1 - i;
	start = now_ns();
	while (spawned < c && spawned < n) {
		unsigned k = slot_free[--nfree];

		s.user = (void *)(uintptr_t)(k + 1);
		t0[k] = now_ns();
		r = pidring_spawn(pr, &s, NULL);
		if (r < 0)
			return r;
		spawned++;
	}
	while (done < n) {
		uint64_t t;
		int k = pidring_wait(pr, ev, 64, -1);

		if (k == -EINTR)
			continue;
		if (k < 0)
			return k;
		t = now_ns();
		for (int i = 0; i < k; i++) {
			unsigned slot;

			if (ev[i].type != PIDRING_EV_DONE || !ev[i].user)
				continue;
			slot = (unsigned)((uintptr_t)ev[i].user - 1);
			if (ev[i].code != CLD_EXITED || ev[i].status != 0)
				return -ECHILD;
			push(lat, (double)(t - t0[slot]) / 1e3);
			done++;
			if (spawned < n && past_deadline())
				n = spawned;
			if (spawned < n) {
				s.user = ev[i].user;
				t0[slot] = now_ns();
				r = pidring_spawn(pr, &s, NULL);
				if (r < 0)
					return r;
				spawned++;
			}
		}
	}
	*rate = done / ((double)(now_ns() - start) / 1e9);
	return 0;
}

int pr_spawn_cycles(unsigned flags, unsigned n, unsigned c, struct samples *lat,
			   double *rate)
{
	struct pidring *pr;
	int r = pr_new(&pr, flags, 0);

	if (r < 0)
		return r;
	r = pr_cycles(pr, WARMUP, 1, NULL, rate);
	if (!r)
		r = pr_cycles(pr, n, c, lat, rate);
	if (pidring_destroy(pr, 10000) < 0 && !r)
		r = -ETIMEDOUT;
	return r;
}

/* ---- scenario 2: ready ---- */

int pr_ready_cycles(unsigned n, struct samples *lr, struct samples *lc, double *el)
{
	struct pidring_spawn s = {
		.path = g.child, .argv = argv_bind, .ready = PIDRING_READY_BIND,
		.ready_timeout_ms = 10000,
	};
	struct pidring_event ev[8];
	struct pidring *pr;
	uint64_t start;
	int r = pr_new(&pr, 0, 0);

	if (r < 0)
		return r;
	start = now_ns();
	for (unsigned i = 0; i < n && !r; i++) {
		uint64_t t0 = now_ns(), t1 = 0;
		bool ready = false, done = false;
		pidring_id id;

		r = pidring_spawn(pr, &s, &id);
		if (r < 0)
			break;
		while (!done) {
			int k = pidring_wait(pr, ev, 8, 10000);

			if (k == -EINTR)
				continue;
			if (k <= 0) {
				r = k ? k : -ETIMEDOUT;
				break;
			}
			for (int j = 0; j < k; j++) {
				if (ev[j].id != id)
					continue;
				if (ev[j].type == PIDRING_EV_READY) {
					t1 = now_ns();
					ready = true;
					pidring_cancel(pr, id);
				} else {
					done = true;
					if (!ready || ev[j].reason != PIDRING_CANCELLED)
						r = -EPROTO;
				}
			}
		}
		if (r)
			break;
		push(lr, (double)(t1 - t0) / 1e3);
		push(lc, (double)(now_ns() - t0) / 1e3);
	}
	*el = (double)(now_ns() - start) / 1e9;
	if (pidring_destroy(pr, 10000) < 0 && !r)
		r = -ETIMEDOUT;
	return r;
}

/* ---- scenario 3 (and 6): cancel storm ---- */

int pr_storm(unsigned flags, unsigned n, double *ms, double *cancel_ms)
{
	struct pidring_spawn s = {
		.path = g.child, .argv = argv_never, .ready = PIDRING_READY_BIND,
		.ready_timeout_ms = 600000,
	};
	struct pidring_event ev[256];
	pidring_id *ids = calloc(n, sizeof(*ids));
	struct pidring *pr;
	unsigned done = 0, spawned = 0;
	uint64_t t0, t1;
	int r;

	if (!ids)
		return -ENOMEM;
	r = pr_new(&pr, flags, n + 64 > 4096 ? n + 64 : 0);
	if (r < 0) {
		free(ids);
		return r;
	}
	for (; spawned < n; spawned++) {
		s.user = (void *)(uintptr_t)(spawned + 1);
		r = pidring_spawn(pr, &s, &ids[spawned]);
		if (r < 0)
			goto out;
	}
	/* Nothing is expected (no child binds); anything there is not timed. */
	while (pidring_wait(pr, ev, 256, 0) > 0)
		;
	t0 = now_ns();
	for (unsigned i = 0; i < n; i++) {
		r = pidring_cancel(pr, ids[i]);
		if (r < 0)
			goto out;
	}
	*cancel_ms = (double)(now_ns() - t0) / 1e6;
	while (done < n) {
		int k = pidring_wait(pr, ev, 256, 10000);

		if (k == -EINTR)
			continue;
		if (k <= 0) {
			r = k ? k : -ETIMEDOUT;
			goto out;
		}
		for (int j = 0; j < k; j++) {
			if (ev[j].type != PIDRING_EV_DONE)
				continue;
			if (ev[j].reason != PIDRING_CANCELLED) {
				r = -EPROTO;
				goto out;
			}
			done++;
		}
	}
	t1 = now_ns();
	*ms = (double)(t1 - t0) / 1e6;
	if (pidring_live(pr))
		r = -EPROTO;
out:
	if (pidring_destroy(pr, 20000) < 0 && !r)
		r = -ETIMEDOUT;
	free(ids);
	return r;
}
