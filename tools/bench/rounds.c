/* SPDX-License-Identifier: MIT */
/*
 * The one timing loop every scenario runs its contenders in: alternating
 * rounds, each contender once a round in an order that rotates, the round's
 * value and its latency p50 kept per contender; and the paired ratios taken
 * from those rounds. Also the run's ETA, which the loop prints with its
 * progress.
 */
#include <stdarg.h>

#include "bench.h"

void cont_free(struct cont *c, int n)
{
	for (int i = 0; i < n; i++) {
		free(c[i].lat.v);
		free(c[i].lat2.v);
	}
}

/*
 * The ETA: each scenario has a weight (its expected share of the run). The
 * seconds a unit of weight took in the scenarios done so far scale the
 * weight of those still to come.
 */
static struct {
	double   left;            /* weight of the scenarios not started */
	double   done_w, done_s;  /* weight and seconds of those finished */
	double   cur_w;
	uint64_t cur_t0;
	bool     on;
} eta;

void eta_plan(double total_weight)
{
	eta.left = total_weight;
	eta.on = total_weight > 0;
}

void eta_scenario(double weight)
{
	uint64_t t = now_ns();

	if (eta.cur_t0) {
		eta.done_w += eta.cur_w;
		eta.done_s += (double)(t - eta.cur_t0) / 1e9;
	}
	eta.cur_w = weight;
	eta.cur_t0 = weight > 0 ? t : 0;
	eta.left -= weight;
	if (eta.left < 0)
		eta.left = 0;
}

/* Seconds the run has still to go, by the estimate above; NAN: none. */
double eta_left(void)
{
	double scale, cur;

	if (!eta.on)
		return NAN;
	scale = eta.done_w > 0 ? eta.done_s / eta.done_w : 1.0;
	cur = eta.cur_t0 ? eta.cur_w * scale - (double)(now_ns() - eta.cur_t0) / 1e9 : 0;
	return (cur > 0 ? cur : 0) + eta.left * scale;
}

/* A line on stderr: time so far, the ETA, then what is running. */
void progress(const char *fmt, ...)
{
	static uint64_t t0;
	double left = eta_left();
	va_list ap;

	if (!t0)
		t0 = now_ns();
	va_start(ap, fmt);
	fprintf(stderr, "bench %6.1fs", (double)(now_ns() - t0) / 1e9);
	if (!isnan(left))
		fprintf(stderr, " (ETA %3.0fs)", left);
	fputs(": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* The p50 of the samples a contender took in one round (the tail of lat). */
static double round_p50(struct samples *s, size_t first)
{
	return s->n > first ? pct(s->v + first, s->n - first, 0.5) : NAN;
}

void run_rounds(struct cont *cs, int nc, const char *what, int rounds, round_fn *fn,
		void *arg)
{
	for (int rd = 0; rd < rounds; rd++) {
		progress("%s: round %d/%d", what, rd + 1, rounds);
		for (int j = 0; j < nc; j++) {
			struct cont *c = &cs[(j + rd) % nc];
			size_t first = c->lat.n;
			double v = NAN;

			if (c->skip || c->failed)
				continue;
			if (fn(c, arg, &v)) {
				c->failed = true;
				g.failed = true;
				progress("%s: %s failed: %s", what, c->name, c->why);
				continue;
			}
			if (c->nval < MAX_ROUNDS) {
				c->p50[c->nval] = round_p50(&c->lat, first);
				c->val[c->nval++] = v;
			}
		}
	}
}

/* A contender's round fails with its errno as the reason. */
int round_err(struct cont *c, int r)
{
	if (r)
		snprintf(c->why, sizeof(c->why), "%s", strerror(-r));
	return r;
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

/* The median of the per-round ratios of the latency p50s (floor / c). */
double paired_p50_ratio(const struct cont *c, const struct cont *fl)
{
	return paired(c->p50, fl->p50, c->nval < fl->nval ? c->nval : fl->nval, false);
}

/* The smallest and largest of a contender's per-round values. */
void round_range(const struct cont *c, double *lo, double *hi)
{
	*lo = *hi = NAN;
	for (int k = 0; k < c->nval; k++) {
		if (isnan(*lo) || c->val[k] < *lo)
			*lo = c->val[k];
		if (isnan(*hi) || c->val[k] > *hi)
			*hi = c->val[k];
	}
}
