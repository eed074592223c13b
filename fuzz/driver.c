/* SPDX-License-Identifier: MIT */
/*
 * A deterministic stand-in for libFuzzer's main(), for machines without
 * clang's libFuzzer: link it with one fuzz target (and ASan/UBSan) and it
 * calls LLVMFuzzerTestOneInput on
 *   1. the target's hand-written seeds (fuzz_seeds[]),
 *   2. -runs=N inputs made from a fixed -seed=S: random bytes, seeds
 *      mutated (bit flips, interesting bytes, insertions, deletions, copies
 *      within the input, splices of two seeds) and seeds cut short.
 * The same binary and flags always run the same inputs, so a failure in CI
 * reproduces on a developer's machine. When an input fails (a sanitizer
 * report, or the target's own check aborts) it is written to
 * <-artifact_prefix>crash-<index> on the way down.
 *
 * Usage: fuzz-x [-runs=N] [-seed=S] [-max_len=N] [-artifact_prefix=P]
 *               [-dump_seeds=DIR] [FILE...]
 * With FILE arguments each file is run once (to replay a crash, from this
 * driver or from libFuzzer), and nothing else. -dump_seeds writes the seeds
 * into DIR (a libFuzzer corpus) and exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The sanitizers' runtime (ASan or UBSan) has it; weak, so that the driver
 * also links without one. */
extern void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_seed { const void *data; size_t len; };
extern const struct fuzz_seed fuzz_seeds[];
extern const size_t fuzz_nseeds;

static uint64_t rng_state;

/* splitmix64: tiny, fast, and the same everywhere. */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

static const char *artifact_prefix = "";

static int write_file(const char *path, const uint8_t *d, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || (n && fwrite(d, 1, n, f) != n) || fclose(f) != 0) {
		fprintf(stderr, "driver: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The input being run, saved as <artifact_prefix>crash-<index> when the run
 * dies: from the sanitizers' death callback (ASan, UBSan with
 * -fno-sanitize-recover) or from a fatal signal (the targets' own checks
 * abort()). Only async-signal-safe calls from here on.
 */
static const uint8_t *cur_data;
static size_t cur_len;
static unsigned long cur_idx;
static char crash_path[4096];

static void put(const char *s)
{
	ssize_t r = write(2, s, strlen(s));

	(void)r;
}

static void save_current(void)
{
	static volatile sig_atomic_t saved;
	char num[24], *p = num + sizeof(num) - 1;
	unsigned long v = cur_idx;
	size_t plen = strlen(artifact_prefix), off = 0;
	int fd;

	if (saved || !cur_data)
		return;
	saved = 1;
	*p = 0;
	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	if (plen + 6 + strlen(p) + 1 > sizeof(crash_path))
		return;
	memcpy(crash_path, artifact_prefix, plen);
	memcpy(crash_path + plen, "crash-", 6);
	strcpy(crash_path + plen + 6, p);
	fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	while (off < cur_len) {
		ssize_t w = write(fd, cur_data + off, cur_len - off);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fd);
	put("driver: the failing input (#");
	put(p);
	put(") is in ");
	put(crash_path);
	put("; replay it with this binary and that path\n");
}

static void on_fatal(int sig)
{
	save_current();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void catch_deaths(void)
{
	static const int sigs[] = { SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL };

	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(save_current);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], on_fatal);
}

static void run(const uint8_t *d, size_t n, unsigned long idx)
{
	cur_data = d;
	cur_len = n;
	cur_idx = idx;
	LLVMFuzzerTestOneInput(d, n);
	cur_data = NULL;
}

static const uint8_t interesting[] = {
	0x00, 0x01, 0x02, 0x03, 0x07, 0x0a, 0x10, 0x20, 0x3d, 0x3f, 0x40,
	0x7f, 0x80, 0xfe, 0xff, '0', '9', '=', '\n',
};

/* Mutate buf[0..n) in place (capacity cap); returns the new length. */
static size_t mutate(uint8_t *buf, size_t n, size_t cap)
{
	unsigned steps = 1 + (unsigned)below(8);

	for (unsigned s = 0; s < steps; s++) {
		size_t pos = below(n + 1), len;

		switch (below(8)) {
		case 0:         /* flip a bit */
			if (n)
				buf[below(n)] ^= (uint8_t)(1u << below(8));
			break;
		case 1:         /* an interesting byte */
			if (n)
				buf[below(n)] = interesting[below(sizeof(interesting))];
			break;
		case 2:         /* a random byte */
			if (n)
				buf[below(n)] = (uint8_t)rnd();
			break;
		case 3:         /* insert random bytes */
			len = 1 + below(8);
			if (n + len > cap)
				break;
			memmove(buf + pos + len, buf + pos, n - pos);
			for (size_t i = 0; i < len; i++)
				buf[pos + i] = (uint8_t)rnd();
			n += len;
			break;
		case 4:         /* delete a range */
			if (!n)
				break;
			pos = below(n);
			len = 1 + below(n - pos);
			memmove(buf + pos, buf + pos + len, n - pos - len);
			n -= len;
			break;
		case 5: {       /* copy a range of the input over another place */
			size_t from;

			if (!n)
				break;
			from = below(n);
			len = 1 + below(n - from);
			pos = below(n);
			if (pos + len > cap)
				len = cap - pos;
			memmove(buf + pos, buf + from, len);
			if (pos + len > n)
				n = pos + len;
			break;
		}
		case 6: {       /* insert part of a seed */
			const struct fuzz_seed *sd = &fuzz_seeds[below(fuzz_nseeds)];
			size_t from = below(sd->len);

			len = below(sd->len - from + 1);
			if (n + len > cap)
				break;
			memmove(buf + pos + len, buf + pos, n - pos);
			memcpy(buf + pos, (const uint8_t *)sd->data + from, len);
			n += len;
			break;
		}
		default:        /* cut short */
			n = below(n + 1);
			break;
		}
	}
	return n;
}

static int replay(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *d = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (n == cap) {
			uint8_t *g = realloc(d, cap = cap ? cap * 2 : 4096);

			if (!g) {
				free(d);
				fclose(f);
				return -1;
			}
			d = g;
		}
		size_t got = fread(d + n, 1, cap - n, f);

		if (!got)
			break;
		n += got;
	}
	fclose(f);
	fprintf(stderr, "driver: running %s (%zu bytes)\n", path, n);
	LLVMFuzzerTestOneInput(d, n);
	free(d);
	return 0;
}

static int dump_seeds(const char *dir)
{
	for (size_t i = 0; i < fuzz_nseeds; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/seed-%02zu", dir, i);
		if (write_file(path, fuzz_seeds[i].data, fuzz_seeds[i].len))
			return 1;
	}
	return 0;
}

static int flag(const char *arg, const char *name, const char **val)
{
	size_t n = strlen(name);

	if (strncmp(arg, name, n) || arg[n] != '=')
		return 0;
	*val = arg + n + 1;
	return 1;
}

int main(int argc, char **argv)
{
	unsigned long runs = 1000000, seed = 1, max_len = 4096;
	const char *v, *dump = NULL;
	int files = 0;
	struct timespec t0, t1;
	uint8_t *buf;

	for (int i = 1; i < argc; i++) {
		if (flag(argv[i], "-runs", &v))
			runs = strtoul(v, NULL, 0);
		else if (flag(argv[i], "-seed", &v))
			seed = strtoul(v, NULL, 0);
		else if (flag(argv[i], "-max_len", &v))
			max_len = strtoul(v, NULL, 0);
		else if (flag(argv[i], "-artifact_prefix", &v))
			artifact_prefix = v;
		else if (flag(argv[i], "-dump_seeds", &v))
			dump = v;
		else if (argv[i][0] == '-') {
			fprintf(stderr, "driver: unknown flag %s\n", argv[i]);
			return 2;
		} else
			files++;
	}
	if (dump)
		return dump_seeds(dump);
	if (files) {
		for (int i = 1; i < argc; i++)
			if (argv[i][0] != '-' && replay(argv[i]))
				return 1;
		return 0;
	}
	if (max_len < 16)
		max_len = 16;
	buf = malloc(max_len);
	if (!buf)
		return 1;

	catch_deaths();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < fuzz_nseeds; i++)
		run(fuzz_seeds[i].data, fuzz_seeds[i].len, (unsigned long)i);

	rng_state = seed;
	for (unsigned long r = 0; r < runs; r++) {
		size_t n;
		unsigned long idx = fuzz_nseeds + r;

		switch (below(4)) {
		case 0:         /* random bytes, mostly short */
			n = below(below(2) ? 64 : max_len + 1);
			for (size_t i = 0; i < n; i++)
				buf[i] = (uint8_t)rnd();
			break;
		default: {      /* a mutated seed, sometimes spliced with another */
			const struct fuzz_seed *sd = &fuzz_seeds[below(fuzz_nseeds)];

			n = sd->len < max_len ? sd->len : max_len;
			memcpy(buf, sd->data, n);
			if (!below(4)) {
				const struct fuzz_seed *o = &fuzz_seeds[below(fuzz_nseeds)];
				size_t cut = below(n + 1), add = o->len;

				if (cut + add > max_len)
					add = max_len - cut;
				memcpy(buf + cut, o->data, add);
				n = cut + add;
			}
			n = mutate(buf, n, max_len);
			break;
		}
		}
		run(buf, n, idx);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("driver: %zu seeds + %lu generated inputs (-seed=%lu, -max_len=%lu) in %.1f s: ok\n",
	       fuzz_nseeds, runs, seed, max_len,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	free(buf);
	return 0;
}
