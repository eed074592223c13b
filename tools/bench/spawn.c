/* SPDX-License-Identifier: MIT */
/*
 * Scenario spawn (and the fallback's spawn rows): spawn→DONE cycles at
 * C = 1 and C = 32 against the floors and the peers (issue 18's bars).
 */
#include "bench.h"

static int run_spawn_cont(struct cont *c, unsigned n, unsigned conc, double *rate)
{
	char ns[16], cs[16], err[600];
	struct peer_out po;
	int r;

	switch (c->kind) {
	case K_PIDRING:
		r = pr_spawn_cycles(c->flags, n, conc, &c->lat, rate);
		break;
	case K_FLOOR:
		r = floor_cycles(WARMUP, 1, 0, NULL, rate);
		if (!r)
			r = floor_cycles(n, conc, 0, &c->lat, rate);
		break;
	case K_SAMEJOB:
		r = floor_cycles(WARMUP, 1, FL_HYGIENE, NULL, rate);
		if (!r)
			r = floor_cycles(n, conc, FL_HYGIENE, &c->lat, rate);
		break;
	case K_PSX:
		r = psx_cycles(WARMUP, 1, NULL, rate);
		if (!r)
			r = psx_cycles(n, conc, &c->lat, rate);
		break;
	default: {
		const char *args[] = { "--child", g.child, "--n", ns, "--c", cs,
				       "--warmup", "10", NULL };
		bool node = c->kind == K_NODE;

		snprintf(ns, sizeof(ns), "%u", n);
		snprintf(cs, sizeof(cs), "%u", conc);
		memset(&po, 0, sizeof(po));
		po.lat = c->lat;
		r = run_peer(node ? g.node : g.python, node ? "node_spawn.js" : "py_spawn.py",
			     args, &po, err, sizeof(err));
		c->lat = po.lat;
		free(po.lat2.v);
		if (r) {
			snprintf(c->why, sizeof(c->why), "%.199s", err);
			return r;
		}
		if (node) {
			snprintf(g.node_ver, sizeof(g.node_ver), "%s", po.ver);
			snprintf(g.node_uv, sizeof(g.node_uv), "%s", po.uv);
		} else {
			snprintf(g.py_ver, sizeof(g.py_ver), "%s", po.ver);
		}
		*rate = po.rate;
		return 0;
	}
	}
	if (r)
		snprintf(c->why, sizeof(c->why), "%s", strerror(-r));
	return r;
}

static int spawn_round(struct cont *c, void *arg, double *val)
{
	struct spawn_arg *a = arg;

	return run_spawn_cont(c, a->n, a->c, val);
}

/* Rows for contenders whose primary value is a rate (val) with latencies. */
static void rate_rows(const char *scen, const char *fb_scen, const char *variant,
		      struct cont *cs, int nc)
{
	const struct cont *fl = NULL, *sj = NULL;

	for (int i = 0; i < nc; i++) {
		if (cs[i].kind == K_FLOOR && cs[i].nval)
			fl = &cs[i];
		if (cs[i].kind == K_SAMEJOB && cs[i].nval)
			sj = &cs[i];
	}
	for (int i = 0; i < nc; i++) {
		struct cont *c = &cs[i];
		bool fb = c->kind == K_PIDRING && (c->flags & PIDRING_F_NO_WAITID);
		const char *sc = fb ? fb_scen : c->kind == K_FLOOR && !scen ? fb_scen : scen;
		struct row *r;

		if (!sc)
			continue;
		r = add_row(sc, variant, c->name, M_RATE);
		if (!r)
			return;
		if (c->skip || (c->failed && !c->nval)) {
			snprintf(r->note, sizeof(r->note), "%s%s",
				 c->failed ? "FAILED: " : "", c->why);
			continue;
		}
		r->median = r->rate = median(c->val, c->nval);
		row_rounds(r, c, cfg.spawn_n);
		r->samples = c->lat.n;
		r->p50 = pct(c->lat.v, c->lat.n, 0.50);
		r->p99 = pct(c->lat.v, c->lat.n, 0.99);
		if (fl)
			r->ratio = paired_ratio(c, fl, true);
		if (c->failed)
			snprintf(r->note, sizeof(r->note), "FAILED in a round: %s", c->why);
		else if (fb && scen)
			snprintf(r->note, sizeof(r->note), "same rounds as spawn %s; ratio vs "
				 "the floor there", variant);
		else if (c->kind == K_PIDRING && sj)
			snprintf(r->note, sizeof(r->note), "x%.2f of the same-job floor",
				 paired_ratio(c, sj, true));
		if (c->kind == K_PIDRING && !fb && sj)
			bar("issue 18", "spawn %s: pidring / same-job floor, median of %d rounds",
			    paired_ratio(c, sj, true), 0.97, true, variant, c->nval);
		if (c->kind == K_PIDRING && !fb && fl)
			bar("issue 18", "spawn %s: pidring / bare floor, median of %d rounds",
			    r->ratio, 0.93, true, variant, c->nval);
	}
}

void scenario_spawn(void)
{
	static const unsigned concs[] = { 1, 32 };
	bool main_ = want("spawn"), fb = want("fallback");

	for (unsigned ci = 0; ci < 2; ci++) {
		struct cont cs[8];
		struct spawn_arg a = { cfg.spawn_n, concs[ci] };
		char variant[16], what[32];
		int nc = 0;

		memset(cs, 0, sizeof(cs));
		cs[nc++] = (struct cont){ .name = "floor (clone+poll+waitid)", .kind = K_FLOOR };
		if (main_)
			cs[nc++] = (struct cont){ .name = "pidring", .kind = K_PIDRING };
		if (fb)
			cs[nc++] = (struct cont){ .name = "pidring NO_WAITID", .kind = K_PIDRING,
						  .flags = PIDRING_F_NO_WAITID };
		if (main_) {
			cs[nc++] = (struct cont){ .name = "same-job floor",
						  .kind = K_SAMEJOB };
			cs[nc++] = (struct cont){ .name = "posix_spawn+waitpid", .kind = K_PSX };
			cs[nc++] = (struct cont){ .name = "node child_process", .kind = K_NODE };
			peer_skip_note(&cs[nc - 1], g.node, "node_spawn.js");
			cs[nc++] = (struct cont){ .name = "python asyncio", .kind = K_PY };
			peer_skip_note(&cs[nc - 1], g.python, "py_spawn.py");
		}
		snprintf(variant, sizeof(variant), "C=%u", concs[ci]);
		snprintf(what, sizeof(what), "spawn %s", variant);
		run_rounds(cs, nc, what, cfg.spawn_rounds, spawn_round, &a);
		rate_rows(main_ ? "spawn" : NULL, fb ? "fallback" : NULL, variant, cs, nc);
		cont_free(cs, nc);
		check_reaped("spawn");
	}
}
