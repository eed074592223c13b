/* SPDX-License-Identifier: MIT */
/*
 * The table on stdout (and --csv): the rows, their order, their formats,
 * and the PASS/MISS lines of the bars.
 */
#include "bench.h"

const char *const metric_name[] = { "rate", "latency", "time", "bytes" };
const char *const metric_unit[] = { "1/s", "ms", "ms", "B" };

struct row rows[MAX_ROWS];
int nrows;

struct row *add_row(const char *scen, const char *variant, const char *cont,
			   enum metric m)
{
	struct row *r;

	if (nrows == MAX_ROWS)
		return NULL;
	r = &rows[nrows++];
	memset(r, 0, sizeof(*r));
	snprintf(r->scen, sizeof(r->scen), "%s", scen);
	snprintf(r->variant, sizeof(r->variant), "%s", variant);
	snprintf(r->cont, sizeof(r->cont), "%s", cont);
	snprintf(r->baseline, sizeof(r->baseline), "floor");
	r->metric = m;
	r->median = r->p50 = r->p99 = r->rate = r->ratio = r->min = r->max = NAN;
	return r;
}

/*
 * A row's rounds, their count of procs, and the range of its per-round
 * values: the round's value for rates and times, the round's p50 for
 * latencies (whose median is the p50 over all samples).
 */
void row_rounds(struct row *r, const struct cont *c, unsigned count)
{
	r->rounds = c->nval;
	r->count = count;
	if (r->metric == M_LAT) {
		for (int k = 0; k < c->nval; k++) {
			double v = c->p50[k] / 1e3;

			if (isnan(r->min) || v < r->min)
				r->min = v;
			if (isnan(r->max) || v > r->max)
				r->max = v;
		}
	} else {
		round_range(c, &r->min, &r->max);
	}
}

/* ---- output ---- */

static int scen_rank(const char *s)
{
	static const char *const order[] = {
		"spawn", "ready", "storm", "big", "population", "fallback", "pop-fallback",
	};

	for (int i = 0; i < (int)(sizeof(order) / sizeof(order[0])); i++)
		if (!strcmp(s, order[i]))
			return i;
	return 99;
}

/* Group rows by scenario in the order above, keeping their order within one. */
void order_rows(void)
{
	for (int i = 1; i < nrows; i++) {
		struct row t = rows[i];
		int j = i;

		while (j > 0 && scen_rank(rows[j - 1].scen) > scen_rank(t.scen)) {
			rows[j] = rows[j - 1];
			j--;
		}
		rows[j] = t;
	}
}

static void fmt_val(char *b, size_t n, enum metric m, double v)
{
	if (isnan(v))
		snprintf(b, n, "—");
	else if (m == M_RATE)
		snprintf(b, n, "%.0f /s", v);
	else if (m == M_BYTES)
		snprintf(b, n, "%.0f B", v);
	else
		snprintf(b, n, v < 10 ? "%.3f ms" : "%.1f ms", v);
}

static void fmt_us(char *b, size_t n, double us)
{
	if (isnan(us))
		snprintf(b, n, "—");
	else if (us < 10000)
		snprintf(b, n, "%.3f ms", us / 1e3);
	else
		snprintf(b, n, "%.1f ms", us / 1e3);
}

void print_table(double secs)
{
	struct utsname u;

	uname(&u);
	printf("## pidring-bench%s — pidring %s, %ld cores, Linux %s, %d round%s, %.0f s\n\n",
	       cfg.quick ? " --quick" : "", pidring_version(), sysconf(_SC_NPROCESSORS_ONLN),
	       u.release, cfg.rounds, cfg.rounds == 1 ? "" : "s", secs);
	printf("ratio = floor cost / contender cost (rate: contender/floor; latency, time: "
	       "floor/contender); 1.00 = the floor, < 1 slower. The ratio is the median "
	       "of per-round ratios (each round runs every contender back to back; "
	       "for ready latency, of the rounds' p50s). median: over rounds for rates "
	       "and times, over all samples for latencies; p50/p99: per-proc latency over all "
	       "samples. spawn runs %d rounds, ready and storm %d, the other scenarios %d.\n\n",
	       cfg.spawn_rounds, cfg.ready_rounds, cfg.rounds);
	printf("| scenario | variant | contender | median | p50 | p99 | rate | ratio | note |\n");
	printf("|---|---|---|---:|---:|---:|---:|---:|---|\n");
	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		char med[32], p50[32], p99[32], rate[32], ratio[32];

		fmt_val(med, sizeof(med), r->metric, r->median);
		fmt_us(p50, sizeof(p50), r->p50);
		fmt_us(p99, sizeof(p99), r->p99);
		fmt_val(rate, sizeof(rate), M_RATE, r->rate);
		if (isnan(r->ratio))
			snprintf(ratio, sizeof(ratio), "—");
		else
			snprintf(ratio, sizeof(ratio), "%.2f", r->ratio);
		printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r->scen, r->variant,
		       r->cont, med, p50, p99, rate, ratio, r->note);
	}
	if (nnotes) {
		printf("\n");
		for (int i = 0; i < nnotes; i++)
			printf("- %s\n", notes[i]);
	}
	if (nbars)
		printf("\n");
	for (int i = 0; i < nbars; i++)
		printf("%s %s: %s: x%.2f (goal %s %.2f)\n", bar_met(&bars[i]) ? "PASS" : "MISS",
		       bars[i].issue, bars[i].what, bars[i].value,
		       bars[i].at_least ? ">=" : "<=", bars[i].goal);
	fflush(stdout);
}

static void csv_field(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void csv_dbl(FILE *f, double v)
{
	if (!isnan(v) && !isinf(v))
		fprintf(f, "%.6g", v);
}

int write_csv(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "scenario,variant,contender,metric,unit,median,p50_us,p99_us,rate_per_s,"
		   "ratio_to_floor,baseline,rounds,samples,note\n");
	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];

		csv_field(f, r->scen);
		fputc(',', f);
		csv_field(f, r->variant);
		fputc(',', f);
		csv_field(f, r->cont);
		fprintf(f, ",%s,%s,", metric_name[r->metric], metric_unit[r->metric]);
		csv_dbl(f, r->median);
		fputc(',', f);
		csv_dbl(f, r->p50);
		fputc(',', f);
		csv_dbl(f, r->p99);
		fputc(',', f);
		csv_dbl(f, r->rate);
		fputc(',', f);
		csv_dbl(f, r->ratio);
		fputc(',', f);
		csv_field(f, r->baseline);
		fprintf(f, ",%d,%zu,", r->rounds, r->samples);
		csv_field(f, r->note);
		fputc('\n', f);
	}
	return fclose(f) ? -errno : 0;
}
