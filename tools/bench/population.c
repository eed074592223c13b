/* SPDX-License-Identifier: MIT */
/*
 * Scenario population: heap and RSS per live proc, and the spawn rate with
 * 10,000 (--quick: 2,000) sleeping children against 10.
 */
#include "bench.h"

static int spawn_sleepers(struct pidring *pr, unsigned from, unsigned to)
{
	struct pidring_spawn s = {
		.path = g.child, .argv = argv_sleep, .ready = PIDRING_READY_EXEC,
	};
	struct pidring_event ev[64];

	for (unsigned i = from; i < to; i++) {
		int r = pidring_spawn(pr, &s, NULL);

		if (r < 0)
			return r;
		/* Keep the event queue small: it would count as per-proc heap. */
		if (i % 32 == 31)
			while (pidring_wait(pr, ev, 64, 0) > 0)
				;
	}
	while (pidring_wait(pr, ev, 64, 0) > 0)
		;
	return pidring_live(pr) == to ? 0 : -EPROTO;
}

static struct pidring *pop_pr;

static int pop_round(struct cont *c, void *arg, double *rate)
{
	int r;

	(void)arg;
	/* Each run is capped in time: at a large population a cycle may be slow. */
	cycle_deadline = now_ns() + (cfg.quick ? 1000000000ull : 5000000000ull);
	if (c->kind == K_PPIDRING) {
		r = pr_cycles(pop_pr, WARMUP, 1, NULL, rate);
		if (!r)
			r = pr_cycles(pop_pr, cfg.pop_rate_n, 1, &c->lat, rate);
	} else {
		bool u = c->kind == K_PUNSHARE;

		r = floor_cycles(WARMUP, 1, u ? FL_UNSHARE : 0, NULL, rate);
		if (!r)
			r = floor_cycles(cfg.pop_rate_n, 1, u ? FL_UNSHARE : 0, &c->lat, rate);
	}
	cycle_deadline = 0;
	return round_err(c, r);
}

static void pop_init(struct cont *c)
{
	memset(c, 0, 3 * sizeof(*c));
	c[0] = (struct cont){ .name = "floor (clone)", .kind = K_PFLOOR };
	c[1] = (struct cont){ .name = "pidring", .kind = K_PPIDRING };
	c[2] = (struct cont){ .name = "floor CLONE_FILES+UNSHARE", .kind = K_PUNSHARE };
}

void scenario_population(unsigned flags)
{
	const char *scen = flags ? "pop-fallback" : "population";
	char why[200], what[64], variant[2][40];
	long room = task_room(why, sizeof(why));
	unsigned pop = cfg.pop_n, small = 10;
	struct cont cs[2][3];
	double spawn_s, destroy_s;
	size_t h_pre, h0, h1;
	long rss0, rss1;
	uint64_t t0;
	int r;

	if (room - 1024 < (long)pop) {
		long p = room - 1024;

		pop = p < 100 ? 100 : (unsigned)p;
		note("population: scaled down from %u to %u live procs (%s)", cfg.pop_n, pop, why);
	}
	pop_init(cs[0]);
	pop_init(cs[1]);
	progress("%s: %u sleeping children", scen, pop);
	h_pre = heap_bytes();
	r = pr_new(&pop_pr, flags, pop + 64 > 16384 ? pop + 64 : 16384);
	if (r < 0) {
		fail("population: pidring_new", r);
		return;
	}
	h0 = heap_bytes();
	rss0 = rss_bytes();
	r = spawn_sleepers(pop_pr, 0, small);
	if (!r) {
		snprintf(what, sizeof(what), "%s @%u live", scen, small);
		run_rounds(cs[0], 3, what, cfg.rounds, pop_round, NULL);
	}
	t0 = now_ns();
	if (!r)
		r = spawn_sleepers(pop_pr, small, pop);
	spawn_s = (double)(now_ns() - t0) / 1e9;
	h1 = heap_bytes();
	rss1 = rss_bytes();
	if (!r) {
		snprintf(what, sizeof(what), "%s @%u live", scen, pop);
		run_rounds(cs[1], 3, what, cfg.rounds, pop_round, NULL);
	}
	if (r)
		fail("population: spawning the sleepers", r);
	progress("%s: destroying %u live procs", scen, pidring_live(pop_pr));
	t0 = now_ns();
	if (pidring_destroy(pop_pr, 120000) < 0)
		fail("population: pidring_destroy", ETIMEDOUT);
	destroy_s = (double)(now_ns() - t0) / 1e9;
	pop_pr = NULL;

	struct row *row = add_row(scen, "heap / live proc", "pidring", M_BYTES);
	if (row) {
		row->median = (double)((long)h1 - (long)h0) / pop;
		snprintf(row->baseline, sizeof(row->baseline), "n/a");
		snprintf(row->note, sizeof(row->note),
			 "mallinfo2 uordblks+hblkhd delta / %u; fixed at pidring_new: %zu KiB "
			 "(the slot table for max_procs)", pop, (h0 - h_pre) / 1024);
	}
	row = add_row(scen, "RSS / live proc", "pidring", M_BYTES);
	if (row) {
		row->median = (double)(rss1 - rss0) / pop;
		snprintf(row->baseline, sizeof(row->baseline), "n/a");
		snprintf(row->note, sizeof(row->note),
			 "bench RSS delta / %u (slots are touched as they are used)", pop);
	}
	snprintf(variant[0], sizeof(variant[0]), "spawn C=1 @%u live", small);
	snprintf(variant[1], sizeof(variant[1]), "spawn C=1 @%u live", pop);
	for (int k = 0; k < 2; k++) {
		double fl = cs[k][0].nval ? median(cs[k][0].val, cs[k][0].nval) : NAN;

		for (int i = 0; i < 3; i++) {
			struct cont *c = &cs[k][i];

			row = add_row(scen, variant[k], c->name, M_RATE);
			if (!row)
				break;
			snprintf(row->baseline, sizeof(row->baseline), "floor @%u live",
				 k ? pop : small);
			if (!c->nval) {
				snprintf(row->note, sizeof(row->note), "%s%s",
					 c->failed ? "FAILED: " : "", c->why);
				continue;
			}
			row->median = row->rate = median(c->val, c->nval);
			row->p50 = pct(c->lat.v, c->lat.n, 0.5);
			row->p99 = pct(c->lat.v, c->lat.n, 0.99);
			row_rounds(row, c, cfg.pop_rate_n);
			row->samples = c->lat.n;
			row->ratio = row->rate / fl;
			if (k && cs[0][i].nval)
				snprintf(row->note, sizeof(row->note), "rate @%u / @%u: x%.2f",
					 pop, small, row->rate / median(cs[0][i].val, cs[0][i].nval));
		}
	}
	note("%s: %u sleepers (pidring-child --sleep-forever) in one engine "
	     "(max_procs %u%s). Spawning them took %.2f s, and pidring_destroy of all "
	     "%u took %.2f s. The floors run in the same process, so they inherit "
	     "its %u pidfds; the CLONE_FILES+UNSHARE floor copies only fds 0-2 "
	     "into the child", scen, pop - small, pop + 64 > 16384 ? pop + 64 : 16384,
	     flags ? ", NO_WAITID" : "", spawn_s, pop, destroy_s, pop);
	cont_free(cs[0], 3);
	cont_free(cs[1], 3);
	check_reaped("population");
}
