/* SPDX-License-Identifier: MIT */
/*
 * Scenario ready: spawn→READY latency and the spawn, ready, cancel, DONE
 * cycle against the floor (issue 14's bar).
 */
#include "bench.h"

static int ready_round(struct cont *c, void *arg, double *val)
{
	double el = 0, rate;
	int r;

	(void)arg;
	switch (c->kind) {
	case K_RPIDRING:
		r = pr_ready_cycles(WARMUP, NULL, NULL, &el);
		if (!r)
			r = pr_ready_cycles(cfg.ready_n, &c->lat, &c->lat2, &el);
		rate = cfg.ready_n / el;
		break;
	case K_RFLOOR:
	case K_RSAMEJOB:
	case K_RRING: {
		unsigned mode = c->kind == K_RFLOOR ? 0 : c->kind == K_RSAMEJOB ?
				FR_SAMEJOB : FR_SAMEJOB | FR_RING_UNLINK;

		r = floor_ready_cycles(WARMUP, mode, NULL, NULL, &el);
		if (!r)
			r = floor_ready_cycles(cfg.ready_n, mode, &c->lat, &c->lat2, &el);
		rate = cfg.ready_n / el;
		break;
	}
	default: {
		char ns[16], err[600];
		const char *args[] = { "--child", g.child, "--dir", g.pdir, "--n", ns,
				       "--warmup", "2", NULL };
		struct peer_out po;

		snprintf(ns, sizeof(ns), "%u", cfg.poll_n);
		memset(&po, 0, sizeof(po));
		po.lat = c->lat;
		po.lat2 = c->lat2;
		r = run_peer(g.python, "py_ready_poll.py", args, &po, err, sizeof(err));
		c->lat = po.lat;
		c->lat2 = po.lat2;
		if (r) {
			snprintf(c->why, sizeof(c->why), "%.199s", err);
			return r;
		}
		rate = po.rate;
		break;
	}
	}
	*val = rate;
	return round_err(c, r);
}

/* pidring's notes: its ratio to the same-job floor and to the ring-unlink
 * floor, each where that floor has rounds. */
static void ready_vs_floors(struct row *lr, struct row *cr, const struct cont *c,
			    const struct cont *sj, const struct cont *ring)
{
	int nl = 0, nc = 0;

	if (sj->nval) {
		nl = snprintf(lr->note, sizeof(lr->note), "x%.2f of the same-job floor",
			      paired_p50_ratio(c, sj));
		nc = snprintf(cr->note, sizeof(cr->note), "x%.2f of the same-job floor",
			      paired_ratio(c, sj, true));
	}
	if (!ring->nval)
		return;
	snprintf(lr->note + nl, sizeof(lr->note) - (size_t)nl, "%sx%.2f of the ring-unlink "
		 "floor", nl ? ", " : "", paired_p50_ratio(c, ring));
	snprintf(cr->note + nc, sizeof(cr->note) - (size_t)nc, "%sx%.2f of the ring-unlink "
		 "floor", nc ? ", " : "", paired_ratio(c, ring, true));
}

void scenario_ready(void)
{
	struct cont cs[5];
	int nc = 0;

	memset(cs, 0, sizeof(cs));
	cs[nc++] = (struct cont){ .name = "floor (inotify+connect)", .kind = K_RFLOOR };
	cs[nc++] = (struct cont){ .name = "pidring BIND", .kind = K_RPIDRING };
	cs[nc++] = (struct cont){ .name = "same-job floor",
				  .kind = K_RSAMEJOB };
	cs[nc++] = (struct cont){ .name = "ring-unlink floor (same-job+UNLINKAT)",
				  .kind = K_RRING };
	cs[nc++] = (struct cont){ .name = "python 50 ms sleep-poll", .kind = K_RPOLL };
	peer_skip_note(&cs[4], g.python, "py_ready_poll.py");
	run_rounds(cs, nc, "ready", cfg.ready_rounds, ready_round, NULL);

	for (int i = 0; i < nc; i++) {
		struct cont *c = &cs[i];
		struct row *lr = add_row("ready", "spawn→ready", c->name, M_LAT);
		struct row *cr = add_row("ready", "cycle", c->name, M_RATE);

		if (!lr || !cr)
			break;
		if (c->skip || (c->failed && !c->nval)) {
			snprintf(lr->note, sizeof(lr->note), "%s%s",
				 c->failed ? "FAILED: " : "", c->why);
			snprintf(cr->note, sizeof(cr->note), "%s", lr->note);
			continue;
		}
		lr->p50 = pct(c->lat.v, c->lat.n, 0.50);
		lr->p99 = pct(c->lat.v, c->lat.n, 0.99);
		lr->median = lr->p50 / 1e3;
		lr->rate = cr->median = cr->rate = median(c->val, c->nval);
		lr->ratio = cs[0].nval ? paired_p50_ratio(c, &cs[0]) : NAN;
		row_rounds(lr, c, c->kind == K_RPOLL ? cfg.poll_n : cfg.ready_n);
		row_rounds(cr, c, c->kind == K_RPOLL ? cfg.poll_n : cfg.ready_n);
		lr->samples = c->lat.n;
		cr->samples = c->lat2.n;
		cr->p50 = pct(c->lat2.v, c->lat2.n, 0.50);
		cr->p99 = pct(c->lat2.v, c->lat2.n, 0.99);
		cr->ratio = cs[0].nval ? paired_ratio(c, &cs[0], true) : NAN;
		if (c->kind == K_RPIDRING && cs[0].nval)
			bar("issue 14", "spawn, ready (BIND), cancel, DONE cycle: pidring / floor "
			    "throughput, median of %d rounds", cr->ratio, 0.90, true, c->nval);
		if (c->kind == K_RPIDRING && !c->failed)
			ready_vs_floors(lr, cr, c, &cs[2], &cs[3]);
		if (c->kind == K_RRING && !c->failed && cs[2].nval)
			snprintf(cr->note, sizeof(cr->note), "x%.2f of the same-job floor: "
				 "what the chain's UNLINKAT (always on an io-wq worker) "
				 "costs the cycle", paired_ratio(c, &cs[2], true));
		if (c->failed) {
			snprintf(lr->note, sizeof(lr->note), "FAILED in a round: %s", c->why);
			snprintf(cr->note, sizeof(cr->note), "%s", lr->note);
		}
	}
	note("ready: one proc at a time; cycle = spawn, ready, cancel (SIGKILL), DONE "
	     "(socket unlinked, pidfd closed). The floor retries a refused connect at "
	     "once (sched_yield); its first connect after IN_CREATE was refused in "
	     "%lu of %lu cycles. The sleep-poll peer sleeps 50 ms before each check",
	     floor_refused, floor_ready_total);
	cont_free(cs, nc);
	check_reaped("ready");
}
