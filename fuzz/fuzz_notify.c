/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: pr_notify_parse, the parser of sd_notify datagrams. A child
 * (any child: the socket is reachable by every process the engine spawned)
 * writes these bytes, so the parser must hold up against anything.
 *
 * Beyond "no crash" under ASan and UBSan, every result is checked against a
 * reference parser written independently from the same rules:
 *   - an empty datagram or one holding a NUL byte is -EINVAL, with *m zeroed;
 *   - lines are split on '\n'; "READY=1" alone on a line sets ready;
 *   - the last "STATUS=" line wins; status points into the datagram, just
 *     past that line's "STATUS=", and status_len is the rest of the line
 *     capped at 1024 bytes (PR_STATUS_MAX in engine/ready.h);
 *   - the last valid "EXTEND_TIMEOUT_USEC=<1 to 20 digits>" wins, valid
 *     meaning its exact decimal value is at most a year in microseconds.
 * The input is copied into a buffer of exactly its size so that ASan sees a
 * read one byte past the datagram.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ready.h"

#define STATUS_MAX 1024u
#define YEAR_US    (1000000ull * 86400 * 365)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Hand-written seeds for fuzz/driver.c (dumped as the libFuzzer corpus). */
struct fuzz_seed { const void *data; size_t len; };
#define SEED(s) { s, sizeof(s) - 1 }
const struct fuzz_seed fuzz_seeds[] = {
	SEED("READY=1"),
	SEED("READY=1\n"),
	SEED("READY=1\nSTATUS=listening on /run/x.sock\n"),
	SEED("STATUS=\nREADY=0\nREADY=1x\nREADY=11"),
	SEED("STATUS=first\nSTATUS=second"),
	SEED("EXTEND_TIMEOUT_USEC=5000000\nREADY=1"),
	SEED("EXTEND_TIMEOUT_USEC=\nEXTEND_TIMEOUT_USEC=12a\nEXTEND_TIMEOUT_USEC=-1"),
	SEED("EXTEND_TIMEOUT_USEC=31536000000000"),        /* exactly a year */
	SEED("EXTEND_TIMEOUT_USEC=31536000000001"),        /* a year and 1 us */
	SEED("EXTEND_TIMEOUT_USEC=00000000000000000001"),  /* 20 digits */
	SEED("EXTEND_TIMEOUT_USEC=000000000000000000001"), /* 21 digits */
	SEED("EXTEND_TIMEOUT_USEC=99999999999999999999"),  /* overflows */
	/* 2^64 and 2^64 + 1000: a parser that wraps reads them as 0 and 1000 */
	SEED("EXTEND_TIMEOUT_USEC=18446744073709551616"),
	SEED("EXTEND_TIMEOUT_USEC=18446744073709552616\nREADY=1"),
	SEED("\n\n\nREADY=1\n\n"),
	SEED("MAINPID=42\nWATCHDOG=1\nERRNO=2\nFDSTORE=1\nREADY=1\nSTOPPING=1"),
	SEED("READY=1\0STATUS=hidden"),
	SEED("\0"),
	SEED("STATUS=\xff\xfe\x80 not utf-8\r\n"),
};
const size_t fuzz_nseeds = sizeof(fuzz_seeds) / sizeof(fuzz_seeds[0]);

struct ref {
	bool        ready, has_status, has_extend;
	size_t      status_off, status_len;
	uint64_t    extend_us;
};

static bool starts(const uint8_t *l, size_t n, const char *key)
{
	size_t k = strlen(key);

	return n >= k && memcmp(l, key, k) == 0;
}

/* Exact decimal value of digits[0..n), false when not all digits, empty,
 * longer than 20 digits, or more than UINT64_MAX. */
static bool ref_number(const uint8_t *d, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned digit;

		if (d[i] < '0' || d[i] > '9')
			return false;
		digit = (unsigned)(d[i] - '0');
		if (v > (UINT64_MAX - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	*out = v;
	return true;
}

static void ref_line(const uint8_t *buf, size_t off, size_t n, struct ref *r)
{
	const uint8_t *l = buf + off;
	uint64_t us;

	if (n == 7 && memcmp(l, "READY=1", 7) == 0) {
		r->ready = true;
	} else if (starts(l, n, "STATUS=")) {
		r->has_status = true;
		r->status_off = off + 7;
		r->status_len = n - 7 < STATUS_MAX ? n - 7 : STATUS_MAX;
	} else if (starts(l, n, "EXTEND_TIMEOUT_USEC=") &&
		   ref_number(l + 20, n - 20, &us) && us <= YEAR_US) {
		r->has_extend = true;
		r->extend_us = us;
	}
}

static void ref_parse(const uint8_t *buf, size_t len, struct ref *r)
{
	size_t start = 0;

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i <= len; i++) {
		if (i == len || buf[i] == '\n') {
			ref_line(buf, start, i - start, r);
			start = i + 1;
		}
	}
}

static _Noreturn void fail(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_notify: %s; input (%zu bytes): \"", what, size);
	for (size_t i = 0; i < size && i < 256; i++)
		fprintf(stderr, data[i] >= 0x20 && data[i] < 0x7f && data[i] != '"' &&
			data[i] != '\\' ? "%c" : "\\x%02x", data[i]);
	fprintf(stderr, "%s\"\n", size > 256 ? "..." : "");
	abort();
}

#define CHECK(cond) do { if (!(cond)) fail("check failed: " #cond, data, size); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pr_notify_msg m;
	struct ref r;
	char *buf;
	int ret;

	/* The engine reads at most PR_NOTIFY_MAX (4096) bytes a datagram. */
	if (size > 4096)
		return 0;
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	else
		buf[0] = 0;     /* not part of the datagram: len is 0 */
	memset(&m, 0xa5, sizeof(m));
	ret = pr_notify_parse(buf, size, &m);

	if (size == 0 || memchr(data, 0, size)) {
		CHECK(ret == -EINVAL);
		CHECK(!m.ready && !m.has_status && !m.has_extend);
		CHECK(m.status == NULL && m.status_len == 0 && m.extend_us == 0);
		free(buf);
		return 0;
	}
	CHECK(ret == 0);
	ref_parse(data, size, &r);

	CHECK(m.ready == r.ready);
	CHECK(m.has_status == r.has_status);
	if (m.has_status) {
		CHECK(m.status >= buf && m.status <= buf + size);
		CHECK(m.status_len <= STATUS_MAX);
		CHECK(m.status_len <= (size_t)(buf + size - m.status));
		CHECK(memchr(m.status, '\n', m.status_len) == NULL);
		CHECK((size_t)(m.status - buf) == r.status_off);
		CHECK(m.status_len == r.status_len);
	} else {
		CHECK(m.status == NULL && m.status_len == 0);
	}
	if (m.has_extend != r.has_extend)
		fail(m.has_extend ? "EXTEND_TIMEOUT_USEC accepted, expected rejected"
				  : "EXTEND_TIMEOUT_USEC rejected, expected accepted",
		     data, size);
	if (m.has_extend) {
		CHECK(m.extend_us <= YEAR_US);
		CHECK(m.extend_us == r.extend_us);
	} else {
		CHECK(m.extend_us == 0);
	}
	free(buf);
	return 0;
}
