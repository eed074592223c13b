/* SPDX-License-Identifier: MIT */
#include "bench.h"


void cont_free(struct cont *c, int n)
{
	for (int i = 0; i < n; i++) {
		free(c[i].lat.v);
		free(c[i].lat2.v);
	}
}

void run_rounds_n(struct cont *cs, int nc, const char *what, int rounds,
			 int (*fn)(struct cont *, void *), void *arg)
{
	for (int rd = 0; rd < rounds; rd++) {
		progress("%s: round %d/%d", what, rd + 1, rounds);
		for (int j = 0; j < nc; j++) {
			struct cont *c = &cs[(j + rd) % nc];

			if (c->skip || c->failed)
				continue;
			if (fn(c, arg)) {
				c->failed = true;
				g.failed = true;
				progress("%s: %s failed: %s", what, c->name, c->why);
			}
		}
	}
}

void run_rounds(struct cont *cs, int nc, const char *what,
		       int (*fn)(struct cont *, void *), void *arg)
{
	run_rounds_n(cs, nc, what, cfg.rounds, fn, arg);
}

/*
 * The ratio to the floor, round by round: the median over rounds of the
 * contender's value in round k against the floor's in round k, which ran
 * next to it. Drift on a shared machine moves both values of a round
 * alike, so the per-round ratios scatter far less than the values do.
 * rate: values are rates (contender / floor); else times (floor / contender).
 * A contender stops at its first failed round, so val[k] is round k.
 */
static double paired(const double *cv, const double *fv, int n, bool rate)
{
	double t[MAX_ROUNDS];

	for (int k = 0; k < n; k++)
		t[k] = rate ? cv[k] / fv[k] : fv[k] / cv[k];
	return median(t, n);
}

double paired_ratio(const struct cont *c, const struct cont *fl, bool rate)
{
	return paired(c->val, fl->val, c->nval < fl->nval ? c->nval : fl->nval, rate);
}

/* The median of the per-round ratios of the spawn→ready p50s (floor / c). */
double paired_p50_ratio(const struct cont *c, const struct cont *fl)
{
	return paired(c->p50, fl->p50, c->nval < fl->nval ? c->nval : fl->nval, false);
}
