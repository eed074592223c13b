/* SPDX-License-Identifier: MIT */
/*
 * --json: the run as one JSON document. "scenarios" holds one object per
 * scenario and variant (the floor, pidring and the peers with their
 * medians, min/max over rounds and ratios, the counts, the kernel and the
 * liburing version); "bars" the bars the issues set; "entries" every row
 * of the table; tools/bench/plot.py draws docs/bench.png from it.
 */
#include "bench.h"

#ifndef LIBURING_VERSION_STR
#define LIBURING_VERSION_STR "unknown"   /* the Makefile asks pkg-config */
#endif

static void json_esc(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_dbl(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", f);
	else
		fprintf(f, "%.6g", v);
}

/* "key": value pairs, each after a comma. */
static void kv_str(FILE *f, const char *k, const char *v)
{
	fprintf(f, ", \"%s\": ", k);
	json_esc(f, v);
}

static void kv_dbl(FILE *f, const char *k, double v)
{
	fprintf(f, ", \"%s\": ", k);
	json_dbl(f, v);
}

/* One contender's figures; scen: also the row's scenario, variant, metric. */
static void json_row(FILE *f, const struct row *r, bool scen)
{
	fprintf(f, "{ \"contender\": ");
	json_esc(f, r->cont);
	if (scen) {
		kv_str(f, "scenario", r->scen);
		kv_str(f, "variant", r->variant);
		kv_str(f, "metric", metric_name[r->metric]);
		kv_str(f, "unit", metric_unit[r->metric]);
	}
	kv_dbl(f, "median", r->median);
	kv_dbl(f, "min", r->min);
	kv_dbl(f, "max", r->max);
	kv_dbl(f, "p50_us", r->p50);
	kv_dbl(f, "p99_us", r->p99);
	kv_dbl(f, "rate_per_s", r->rate);
	kv_dbl(f, "ratio_to_floor", r->ratio);
	kv_str(f, "baseline", r->baseline);
	fprintf(f, ", \"rounds\": %d, \"count\": %u, \"samples\": %zu", r->rounds, r->count,
		r->samples);
	kv_str(f, "note", r->note);
	fputs(" }", f);
}

static bool same_group(const struct row *a, const struct row *b)
{
	return !strcmp(a->scen, b->scen) && !strcmp(a->variant, b->variant);
}

/* The object of the scenario and variant that row first opens. */
static void json_group(FILE *f, int first, const char *kernel)
{
	const struct row *g0 = &rows[first], *fl = NULL, *pr = NULL;
	bool any = false;

	for (int i = first; i < nrows; i++) {
		if (!same_group(&rows[i], g0))
			continue;
		if (!fl && !strncmp(rows[i].cont, "floor", 5))
			fl = &rows[i];
		else if (!pr && !strncmp(rows[i].cont, "pidring", 7))
			pr = &rows[i];
	}
	fprintf(f, "    { \"scenario\": ");
	json_esc(f, g0->scen);
	kv_str(f, "variant", g0->variant);
	kv_str(f, "metric", metric_name[g0->metric]);
	kv_str(f, "unit", metric_unit[g0->metric]);
	fprintf(f, ", \"count\": %u, \"rounds\": %d", (pr ? pr : g0)->count, (pr ? pr : g0)->rounds);
	kv_str(f, "kernel", kernel);
	kv_str(f, "liburing", LIBURING_VERSION_STR);
	kv_dbl(f, "ratio", pr ? pr->ratio : NAN);
	fprintf(f, ",\n      \"floor\": ");
	if (fl)
		json_row(f, fl, false);
	else
		fputs("null", f);
	fprintf(f, ",\n      \"pidring\": ");
	if (pr)
		json_row(f, pr, false);
	else
		fputs("null", f);
	fprintf(f, ",\n      \"peers\": [");
	for (int i = first; i < nrows; i++) {
		if (!same_group(&rows[i], g0) || &rows[i] == fl || &rows[i] == pr)
			continue;
		fprintf(f, "%s\n        ", any ? "," : "");
		json_row(f, &rows[i], false);
		any = true;
	}
	fprintf(f, "%s] }", any ? "\n      " : "");
}

static void json_scenarios(FILE *f, const char *kernel)
{
	bool any = false;

	fprintf(f, ",\n  \"scenarios\": [");
	for (int i = 0; i < nrows; i++) {
		int j = 0;

		while (j < i && !same_group(&rows[j], &rows[i]))
			j++;
		if (j < i)
			continue;            /* not the group's first row */
		fprintf(f, "%s\n", any ? "," : "");
		json_group(f, i, kernel);
		any = true;
	}
	fprintf(f, "\n  ]");
}

static void json_bars(FILE *f)
{
	fprintf(f, ",\n  \"bars\": [");
	for (int i = 0; i < nbars; i++) {
		const struct bar *b = &bars[i];

		fprintf(f, "%s\n    { \"issue\": ", i ? "," : "");
		json_esc(f, b->issue);
		kv_str(f, "what", b->what);
		kv_dbl(f, "value", b->value);
		kv_dbl(f, "goal", b->goal);
		fprintf(f, ", \"at_least\": %s, \"pass\": %s }", b->at_least ? "true" : "false",
			bar_met(b) ? "true" : "false");
	}
	fprintf(f, "%s]", nbars ? "\n  " : "");
}

int write_json(const char *path, double secs)
{
	FILE *f = fopen(path, "w");
	struct utsname u;

	if (!f)
		return -errno;
	uname(&u);
	fprintf(f, "{\n  \"tool\": \"pidring-bench\"");
	kv_str(f, "pidring_version", pidring_version());
	kv_str(f, "liburing_version", LIBURING_VERSION_STR);
	kv_str(f, "kernel", u.release);
	fprintf(f, ",\n  \"quick\": %s, \"rounds\": %d, \"spawn_rounds\": %d, "
		"\"ready_rounds\": %d, \"seconds\": %.1f,\n", cfg.quick ? "true" : "false",
		cfg.rounds, cfg.spawn_rounds, cfg.ready_rounds, secs);
	fprintf(f, "  \"machine\": { \"cores\": %ld", sysconf(_SC_NPROCESSORS_ONLN));
	fprintf(f, ", \"kernel_waitid\": %s", g.kernel_waitid ? "true" : "false");
	kv_str(f, "node", g.node_ver);
	kv_str(f, "libuv", g.node_uv);
	kv_str(f, "python", g.py_ver);
	fprintf(f, " },\n  \"convention\": ");
	json_esc(f, "ratio_to_floor = floor cost / contender cost: rate metrics contender/floor, "
		 "latency and time metrics floor/contender; 1.0 is the floor, < 1 slower. "
		 "median: for rate and time metrics the median over rounds of the per-round "
		 "value, for latency metrics the p50 over all samples; min/max: over rounds "
		 "(the round's value, or for latencies the round's p50); p50_us/p99_us: "
		 "per-proc latency over all samples; count: procs per contender per round");
	json_scenarios(f, u.release);
	json_bars(f);
	fprintf(f, ",\n  \"entries\": [");
	for (int i = 0; i < nrows; i++) {
		fprintf(f, "%s\n    ", i ? "," : "");
		json_row(f, &rows[i], true);
	}
	fprintf(f, "\n  ],\n  \"notes\": [");
	for (int i = 0; i < nnotes; i++) {
		fprintf(f, "%s\n    ", i ? "," : "");
		json_esc(f, notes[i]);
	}
	fprintf(f, "%s]\n}\n", nnotes ? "\n  " : "");
	return fclose(f) ? -errno : 0;
}
