/* SPDX-License-Identifier: MIT */
/*
 * Scenario big: spawn→DONE latency with a large touched heap in the parent
 * (1 GiB; --quick: 256 MiB) and without one: pidring, the floor, and Node,
 * whose libuv forks.
 */
#include "bench.h"

static int big_round(struct cont *c, void *arg, double *rate)
{
	int r;

	(void)arg;
	switch (c->kind) {
	case K_BPIDRING:
		r = pr_spawn_cycles(0, cfg.big_n, 1, &c->lat, rate);
		break;
	case K_BFLOOR:
		r = floor_cycles(WARMUP, 1, 0, NULL, rate);
		if (!r)
			r = floor_cycles(cfg.big_n, 1, 0, &c->lat, rate);
		break;
	default: {
		char ns[16], mib[16], err[600];
		const char *args[] = { "--child", g.child, "--n", ns, "--c", "1",
				       "--warmup", "3", "--heap-mib", mib, NULL };
		struct peer_out po;

		snprintf(ns, sizeof(ns), "%u", cfg.big_node_n);
		snprintf(mib, sizeof(mib), "%u", c->kind == K_BNODEHEAP ? cfg.heap_mib : 0);
		memset(&po, 0, sizeof(po));
		po.lat = c->lat;
		r = run_peer(g.node, "node_spawn.js", args, &po, err, sizeof(err));
		c->lat = po.lat;
		free(po.lat2.v);
		if (r) {
			snprintf(c->why, sizeof(c->why), "%.199s", err);
			return r;
		}
		snprintf(g.node_ver, sizeof(g.node_ver), "%s", po.ver);
		snprintf(g.node_uv, sizeof(g.node_uv), "%s", po.uv);
		*rate = po.rate;
		break;
	}
	}
	return round_err(c, r);
}

static void big_rows(struct cont *c, int nc, const char *variant, const struct cont *floor_c,
		     const struct cont *before)
{
	double fl = floor_c->lat.n ? pct(floor_c->lat.v, floor_c->lat.n, 0.5) : NAN;

	for (int i = 0; i < nc; i++, c++) {
		struct row *r = add_row("big", variant, c->name, M_LAT);

		if (!r)
			return;
		snprintf(r->baseline, sizeof(r->baseline), "floor, no heap");
		if (c->skip || (c->failed && !c->nval)) {
			snprintf(r->note, sizeof(r->note), "%s%s", c->failed ? "FAILED: " : "",
				 c->why);
			continue;
		}
		r->p50 = pct(c->lat.v, c->lat.n, 0.50);
		r->p99 = pct(c->lat.v, c->lat.n, 0.99);
		r->median = r->p50 / 1e3;
		r->rate = median(c->val, c->nval);
		r->ratio = fl / r->p50;
		row_rounds(r, c, c->kind == K_BNODE || c->kind == K_BNODEHEAP ? cfg.big_node_n :
			   cfg.big_n);
		r->samples = c->lat.n;
		if (before && before[i].lat.n) {
			double p0 = pct(before[i].lat.v, before[i].lat.n, 0.5);

			snprintf(r->note, sizeof(r->note), "p50 with heap / without: x%.2f%s",
				 r->p50 / p0, c->kind == K_BNODEHEAP ?
				 " (this libuv forks: the page tables are copied)" : "");
		}
	}
}

/*
 * Phase one runs the no-heap rounds, alternating Node with and without its
 * own Buffer of that size. Phase two touches the heap in this process once (every
 * page written) and runs our contenders again. A touched heap cannot be
 * un-touched between rounds short of freeing it, and touching it again costs
 * seconds.
 */
void scenario_big(void)
{
	size_t bytes = (size_t)cfg.heap_mib << 20;
	struct cont no[4], with[2];
	char heapname[32], what[96];
	double touch_s;
	char *heap;
	uint64_t t0;

	if (cfg.heap_mib % 1024)
		snprintf(heapname, sizeof(heapname), "%u MiB heap", cfg.heap_mib);
	else
		snprintf(heapname, sizeof(heapname), "%u GiB heap", cfg.heap_mib / 1024);

	memset(no, 0, sizeof(no));
	memset(with, 0, sizeof(with));
	no[0] = (struct cont){ .name = "floor (clone)", .kind = K_BFLOOR };
	no[1] = (struct cont){ .name = "pidring", .kind = K_BPIDRING };
	no[2] = (struct cont){ .name = "node child_process", .kind = K_BNODE };
	no[3] = (struct cont){ .name = "node child_process", .kind = K_BNODEHEAP };
	peer_skip_note(&no[2], g.node, "node_spawn.js");
	peer_skip_note(&no[3], g.node, "node_spawn.js");
	with[0] = (struct cont){ .name = "floor (clone)", .kind = K_BFLOOR };
	with[1] = (struct cont){ .name = "pidring", .kind = K_BPIDRING };

	snprintf(what, sizeof(what), "big (no heap; node with and without %s)", heapname);
	run_rounds(no, 4, what, cfg.rounds, big_round, NULL);
	progress("big: touching a %s", heapname);
	t0 = now_ns();
	heap = malloc(bytes);
	if (!heap) {
		fail("big: the heap", ENOMEM);
	} else {
		memset(heap, 0x5a, bytes);
		touch_s = (double)(now_ns() - t0) / 1e9;
		snprintf(what, sizeof(what), "big (%s)", heapname);
		run_rounds(with, 2, what, cfg.rounds, big_round, NULL);
		if (((volatile char *)heap)[bytes - 1] != 0x5a)
			note("big: the heap changed under us");
		free(heap);
		note("big: spawn→DONE latency, C=1. Writing every page of the %s took %.2f s "
		     "(untimed). Node allocates and fills its own Buffer of that size. "
		     "The ratio is against the floor without a heap", heapname, touch_s);
	}
	big_rows(no, 3, "no heap", &no[0], NULL);
	{
		/* the heap rows: ours, then Node's, each against its no-heap self */
		struct cont before[3] = { no[0], no[1], no[2] };
		struct cont heaped[3] = { with[0], with[1], no[3] };

		big_rows(heaped, 3, heapname, &no[0], before);
	}
	cont_free(no, 4);
	cont_free(with, 2);
	check_reaped("big");
}
