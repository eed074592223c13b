/* SPDX-License-Identifier: MIT */
/*
 * Scenario storm (and the fallback's storm row): the cancel storm at a
 * small and a large n, and its cost per proc across n (issue 14's bar).
 */
#include "bench.h"

static int storm_round(struct cont *c, void *arg, double *ms)
{
	double first = 0;
	int r;

	(void)arg;
	if (c->kind == K_SFLOOR)
		r = floor_storm(c->n, ms, &first);
	else
		r = pr_storm(c->flags, c->n, ms, &first);
	if (!r)
		push(&c->lat2, first * 1e3);
	return round_err(c, r);
}

/*
 * The per-proc cost at the large n against the small n, paired by round:
 * (ms_large / n_large) / (ms_small / n_small), median over rounds. 1.00 is
 * a storm that costs each proc the same whatever the crowd.
 */
static double storm_scaling(const struct cont *big, const struct cont *small)
{
	double t[MAX_ROUNDS];
	int n = big->nval < small->nval ? big->nval : small->nval;

	for (int k = 0; k < n; k++)
		t[k] = (big->val[k] / big->n) / (small->val[k] / small->n);
	return median(t, n);
}

static void storm_row(struct cont *c, const struct cont *fl, bool fb_scen, bool also)
{
	char variant[40];
	struct row *r;

	snprintf(variant, sizeof(variant), "%u cancelled", c->n);
	r = add_row(fb_scen ? "fallback" : "storm", variant, c->name, M_TIME);
	if (!r)
		return;
	if (!c->nval) {
		snprintf(r->note, sizeof(r->note), "FAILED: %.150s", c->why);
		return;
	}
	r->median = median(c->val, c->nval);
	r->rate = c->n / (r->median / 1e3);
	r->ratio = fl && fl->nval ? paired_ratio(c, fl, false) : NAN;
	row_rounds(r, c, c->n);
	if (c->failed) {
		snprintf(r->note, sizeof(r->note), "FAILED in a round: %.150s", c->why);
		return;
	}
	snprintf(r->note, sizeof(r->note), "%.1f µs/proc; %s %.2f ms (median)%s",
		 r->median * 1e3 / c->n, c->kind == K_SFLOOR ? "all SIGKILLs sent in" :
		 "all cancel calls took", pct(c->lat2.v, c->lat2.n, 0.5) / 1e3,
		 also ? "; same rounds as storm, ratio vs the floor there" : "");
}

/*
 * n procs waiting to bind (a child that never binds), all cancelled in one
 * tick, at a small and a large n: the wall time from the first cancel to
 * the last DONE, and its cost per proc. The large n is scaled down to what
 * the machine's task limits allow.
 */
void scenario_storm(void)
{
	bool main_ = want("storm"), fb = want("fallback");
	unsigned small = cfg.storm_small, big = cfg.storm_n;
	char why[200], what[48];
	long room = task_room(why, sizeof(why));
	struct cont cs[5];
	int nc = 0;

	if (room - 1024 < (long)big) {
		big = room - 1024 < (long)small * 2 ? small * 2 : (unsigned)(room - 1024);
		note("storm: scaled down from %u to %u procs (%s)", cfg.storm_n, big, why);
	}
	memset(cs, 0, sizeof(cs));
	cs[nc++] = (struct cont){ .name = "floor (kill+waitid)", .kind = K_SFLOOR, .n = big };
	if (main_) {
		cs[nc++] = (struct cont){ .name = "pidring", .kind = K_SPIDRING, .n = big };
		cs[nc++] = (struct cont){ .name = "floor (kill+waitid)", .kind = K_SFLOOR,
					  .n = small };
		cs[nc++] = (struct cont){ .name = "pidring", .kind = K_SPIDRING, .n = small };
	}
	if (fb)
		/* --quick: the fallback at the small n, against the floor there */
		cs[nc++] = (struct cont){ .name = "pidring NO_WAITID", .kind = K_SPIDRING,
					  .flags = PIDRING_F_NO_WAITID,
					  .n = cfg.quick && main_ ? small : big };
	snprintf(what, sizeof(what), "storm %u and %u", small, big);
	run_rounds(cs, nc, what, cfg.storm_rounds, storm_round, NULL);
	if (main_) {
		storm_row(&cs[2], &cs[2], false, false);
		storm_row(&cs[3], &cs[2], false, false);
		storm_row(&cs[0], &cs[0], false, false);
		storm_row(&cs[1], &cs[0], false, false);
		if (cs[1].nval && cs[3].nval) {
			double s = storm_scaling(&cs[1], &cs[3]);

			bar("issue 14", "cancel storm: pidring cost per proc at n=%u / at n=%u",
			    s, 1.2, false, big, small);
			if (cs[0].nval && cs[2].nval)
				note("storm: cost per proc at n=%u / at n=%u, median of per-round "
				     "ratios: pidring x%.2f, floor x%.2f", big, small, s,
				     storm_scaling(&cs[0], &cs[2]));
		}
	}
	if (fb)
		storm_row(&cs[nc - 1], cs[nc - 1].n == big ? &cs[0] : &cs[2], true, main_);
	cont_free(cs, nc);
	check_reaped("storm");
	if (no_children())
		note("storm: every proc reaped (pidring_live 0 after each round; the bench has no child left)");
}
