/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: pr_spawn_validate, everything pidring_spawn checks about a
 * struct pidring_spawn before the kernel is involved. Nothing is spawned or
 * exec'd here: the validator is pure.
 *
 * The bytes are read as a recipe for a spec: which pointers are NULL, the
 * flags, the ready mode and timeout, and the fds, groups and rlimits arrays
 * with their counts. Each array is allocated with exactly its count of
 * entries, so that ASan catches a read past it. Counts over the documented
 * limits (1024 fds, 65536 groups, 64 rlimits) come with a short array: the
 * validator must reject those on the count alone, before walking entries
 * that are not there (and before a quadratic duplicate scan of up to 2^32
 * fds). Counts are biased towards the limits and small values.
 *
 * The result must be 0 or -EINVAL and must match a reference validator
 * written from the contract in include/pidring.h; the spec must be left
 * untouched, and a second call must agree with the first.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_seed { const void *data; size_t len; };
#define SEED(s) { s, sizeof(s) - 1 }
/* Hand-written seeds for fuzz/driver.c (dumped as the libFuzzer corpus);
 * the layout is the one read by LLVMFuzzerTestOneInput below. */
const struct fuzz_seed fuzz_seeds[] = {
	/* a valid spec: EXEC, no fds, groups or rlimits */
	SEED("\x00\x01\x00\x00\x00\x02\x00\x02\x00\x02\x00\x02\x00"),
	/* NULL spec */
	SEED("\xff"),
	/* NULL path */
	SEED("\x02\x01\x00\x00\x00\x02\x00\x02\x00\x02\x00\x02\x00"),
	/* NULL argv */
	SEED("\x04\x01\x00\x00\x00\x02\x00\x02\x00\x02\x00\x02\x00"),
	/* empty argv */
	SEED("\x00\x00\x00\x00\x00\x02\x00\x02\x00\x02\x00\x02\x00"),
	/* SETSID | KEEP_PGRP */
	SEED("\x00\x01\x00\x03\x00\x02\x00\x02\x00\x02\x00\x02\x00"),
	/* every known flag but KEEP_PGRP, 3 groups */
	SEED("\x00\x01\x00\x3d\x00\x02\x00\x02\x00\x02\x03\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\xff\xfe\x02\x00"),
	/* an unknown flag bit */
	SEED("\x00\x01\x01\x00\x00\x00\x40\x00\x02\x00\x02\x00\x02\x00\x02\x00"),
	/* ready mode 3 */
	SEED("\x00\x01\x00\x00\x03\x02\x00\x02\x00\x02\x00\x02\x00"),
	/* ready mode 0xffffffff */
	SEED("\x00\x01\x04\x00\xff\xff\xff\xff\x02\x00\x02\x00\x02\x00\x02\x00"),
	/* BIND, timeout a day */
	SEED("\x00\x01\x00\x00\x01\x00\x05\x26\x5c\x00\x02\x00\x02\x00\x02\x00"),
	/* NOTIFY, timeout a day + 1 ms */
	SEED("\x00\x01\x00\x00\x02\x00\x05\x26\x5c\x01\x02\x00\x02\x00\x02\x00"),
	/* fds 3, 4, 3: a duplicate child fd */
	SEED("\x00\x01\x00\x00\x00\x02\x00\x02\x03\x05\x02\x06\x03\x05\x04\x02\x00\x02\x00"),
	/* fds swapping 0, 1, 2 */
	SEED("\x00\x01\x00\x00\x00\x02\x00\x02\x03\x02\x04\x03\x02\x04\x03\x02\x00\x02\x00"),
	/* a negative child fd */
	SEED("\x00\x01\x00\x00\x00\x02\x00\x02\x02\x02\x02\x01\x03\x02\x00\x02\x00"),
	/* 1025 fds, short array */
	SEED("\x00\x01\x00\x00\x00\x02\x00\x01\x02\x02\x00\x02\x00"),
	/* 2^32 - 1 fds, short array */
	SEED("\x00\x01\x00\x00\x00\x02\x00\x00\xff\xff\xff\xff\x02\x00\x02\x00"),
	/* 2 fds, fds NULL */
	SEED("\x08\x01\x00\x00\x00\x02\x00\x02\x02\x02\x00\x02\x00"),
	/* SETGROUPS, 65537 groups */
	SEED("\x00\x01\x00\x10\x00\x02\x00\x02\x00\x01\x02\x02\x00"),
	/* SETGROUPS, 3 groups, groups NULL */
	SEED("\x10\x01\x00\x10\x00\x02\x00\x02\x00\x02\x03\x02\x00"),
	/* 3 groups, groups NULL, no SETGROUPS */
	SEED("\x10\x01\x00\x00\x00\x02\x00\x02\x00\x02\x03\x02\x00"),
	/* rlimits NOFILE 64/200, CORE 0/INFINITY */
	SEED("\x00\x01\x00\x00\x00\x02\x00\x02\x00\x02\x00\x02\x02\x09\x02\x40\xc8\x06\x01\x00\x00\x01"),
	/* an rlimit with cur > max */
	SEED("\x00\x01\x00\x00\x00\x02\x00\x02\x00\x02\x00\x02\x01\x09\x02\xc9\xc8"),
	/* an unknown rlimit resource (16) */
	SEED("\x00\x01\x00\x00\x00\x02\x00\x02\x00\x02\x00\x02\x01\x12\x02\x00\x00"),
	/* a negative rlimit resource */
	SEED("\x00\x01\x00\x00\x00\x02\x00\x02\x00\x02\x00\x02\x01\x01\x02\x00\x00"),
	/* 65 rlimits, short array */
	SEED("\x00\x01\x00\x00\x00\x02\x00\x02\x00\x02\x00\x01\x02"),
	/* 2 rlimits, rlimits NULL */
	SEED("\x20\x01\x00\x00\x00\x02\x00\x02\x00\x02\x00\x02\x02"),
};
const size_t fuzz_nseeds = sizeof(fuzz_seeds) / sizeof(fuzz_seeds[0]);

/* The limits the validator enforces (engine/spawn.c, engine/internal.h). */
#define MAX_FDS      1024u
#define MAX_GROUPS   65536u
#define MAX_RLIMITS  64u
#define MAX_READY_MS (24u * 3600u * 1000u)
#define KNOWN_FLAGS  (PIDRING_SPAWN_SETSID | PIDRING_SPAWN_KEEP_PGRP | \
		      PIDRING_SPAWN_SETUID | PIDRING_SPAWN_SETGID | \
		      PIDRING_SPAWN_SETGROUPS | PIDRING_SPAWN_NO_NEW_PRIVS | \
		      PIDRING_SPAWN_SOCKET)

struct reader { const uint8_t *p; size_t n; };

static uint8_t u8(struct reader *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static uint32_t u32(struct reader *r)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | u8(r);
	return v;
}

static uint64_t u64(struct reader *r)
{
	uint64_t hi = u32(r);

	return hi << 32 | u32(r);
}

/* A count: 0 raw 32 bits, 1 around the limit, else small. */
static unsigned count(struct reader *r, unsigned limit, unsigned small)
{
	uint8_t mode = u8(r);

	if (mode == 0)
		return u32(r);
	if (mode == 1)
		return limit - 1 + u8(r) % 3;
	return u8(r) % small;
}

/* An fd or rlimit resource: mostly small (a few negative), sometimes raw. */
static int small_int(struct reader *r, unsigned span)
{
	uint8_t c = u8(r);

	if (c >= 0xf0)
		return (int)u32(r);
	return (int)(c % span) - 2;
}

/* The contract, from include/pidring.h ("Errors: -EINVAL (...)"), plus the
 * rules the header leaves to spawn.c: SETSID with KEEP_PGRP, the groups
 * checks apply only with SETGROUPS (groups are not read otherwise), at most
 * 65536 groups and 64 rlimits. */
static int ref_validate(const struct pidring_spawn *s)
{
	if (!s || !s->path || !s->argv || !s->argv[0])
		return -EINVAL;
	if (s->flags & ~KNOWN_FLAGS)
		return -EINVAL;
	if ((s->flags & PIDRING_SPAWN_SETSID) && (s->flags & PIDRING_SPAWN_KEEP_PGRP))
		return -EINVAL;
	if (s->ready != PIDRING_READY_EXEC && s->ready != PIDRING_READY_BIND &&
	    s->ready != PIDRING_READY_NOTIFY)
		return -EINVAL;
	if (s->ready_timeout_ms > MAX_READY_MS)
		return -EINVAL;
	if (s->nfds > MAX_FDS || (s->nfds && !s->fds))
		return -EINVAL;
	for (unsigned i = 0; i < s->nfds; i++) {
		if (s->fds[i].child_fd < 0)
			return -EINVAL;
		for (unsigned j = i + 1; j < s->nfds; j++)
			if (s->fds[i].child_fd == s->fds[j].child_fd)
				return -EINVAL;
	}
	if ((s->flags & PIDRING_SPAWN_SETGROUPS) &&
	    (s->ngroups > MAX_GROUPS || (s->ngroups && !s->groups)))
		return -EINVAL;
	if (s->nrlimits > MAX_RLIMITS || (s->nrlimits && !s->rlimits))
		return -EINVAL;
	for (unsigned i = 0; i < s->nrlimits; i++) {
		const struct pidring_rlimit *rl = &s->rlimits[i];

		if (rl->resource < 0 || rl->resource >= RLIMIT_NLIMITS || rl->cur > rl->max)
			return -EINVAL;
	}
	return 0;
}

static _Noreturn void fail(const char *what, int got, int want, const uint8_t *data,
			   size_t size)
{
	fprintf(stderr, "fuzz_spec: %s: pr_spawn_validate -> %d, reference -> %d; input:",
		what, got, want);
	for (size_t i = 0; i < size && i < 128; i++)
		fprintf(stderr, " %02x", data[i]);
	fprintf(stderr, "%s\n", size > 128 ? " ..." : "");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[] = "/bin/true", arg[] = "a";
	struct reader r = { data, size };
	struct pidring_spawn s, before;
	struct pidring_fd_map *fds = NULL, *fds_copy = NULL;
	struct pidring_rlimit *rls = NULL, *rls_copy = NULL;
	gid_t *groups = NULL;
	char *argv[5];
	size_t nfd_alloc, nrl_alloc, ngr_alloc;
	uint8_t nulls, sel;
	unsigned argc;
	int got, want;

	if (size > 65536)
		return 0;
	nulls = u8(&r);
	if (nulls == 0xff) {
		got = pr_spawn_validate(NULL);
		if (got != -EINVAL)
			fail("NULL spec", got, -EINVAL, data, size);
		return 0;
	}
	memset(&s, 0, sizeof(s));
	argc = u8(&r) % 5;
	for (unsigned i = 0; i < argc; i++)
		argv[i] = arg;
	argv[argc] = NULL;
	s.path = nulls & 0x02 ? NULL : path;
	s.argv = nulls & 0x04 ? NULL : argv;
	s.envp = nulls & 0x40 ? NULL : argv;
	s.cwd = nulls & 0x40 ? "/" : NULL;

	sel = u8(&r);
	if (sel & 1) {
		s.flags = u32(&r);
	} else {
		s.flags = u8(&r) & KNOWN_FLAGS;
		if (sel & 2)
			s.flags |= 1u << (u8(&r) % 32);
	}
	s.ready = (enum pidring_ready)(sel & 4 ? u32(&r) : u8(&r) % 4u);
	switch (u8(&r) % 3) {
	case 0: s.ready_timeout_ms = u32(&r); break;
	case 1: s.ready_timeout_ms = MAX_READY_MS - 1 + u8(&r) % 3; break;
	default: s.ready_timeout_ms = u8(&r) * 1000u; break;
	}

	s.nfds = count(&r, MAX_FDS, 24);
	nfd_alloc = s.nfds <= MAX_FDS ? s.nfds : 4;
	if (!(nulls & 0x08)) {
		/* malloc(0) still gives an object ASan guards */
		fds = malloc(nfd_alloc * sizeof(*fds) + !nfd_alloc);
		if (!fds)
			goto out;
		for (size_t i = 0; i < nfd_alloc; i++) {
			fds[i].child_fd = small_int(&r, 40);
			fds[i].parent_fd = small_int(&r, 40);
		}
		s.fds = fds;
	}

	s.ngroups = count(&r, MAX_GROUPS, 16);
	ngr_alloc = s.ngroups <= MAX_GROUPS ? s.ngroups : 4;
	if (!(nulls & 0x10)) {
		groups = calloc(ngr_alloc + !ngr_alloc, sizeof(*groups));
		if (!groups)
			goto out;
		for (size_t i = 0; i < ngr_alloc && i < 16; i++)
			groups[i] = u32(&r);
		s.groups = groups;
	}

	s.nrlimits = count(&r, MAX_RLIMITS, 8);
	nrl_alloc = s.nrlimits <= MAX_RLIMITS ? s.nrlimits : 4;
	if (!(nulls & 0x20)) {
		rls = malloc(nrl_alloc * sizeof(*rls) + !nrl_alloc);
		if (!rls)
			goto out;
		for (size_t i = 0; i < nrl_alloc; i++) {
			rls[i].resource = small_int(&r, 20);
			switch (u8(&r) % 3) {
			case 0:
				rls[i].cur = u64(&r);
				rls[i].max = u64(&r);
				break;
			case 1:
				rls[i].cur = u8(&r) & 1 ? RLIM_INFINITY : u8(&r);
				rls[i].max = u8(&r) & 1 ? RLIM_INFINITY : u8(&r);
				break;
			default:
				rls[i].cur = u8(&r);
				rls[i].max = u8(&r);
				break;
			}
		}
		s.rlimits = rls;
	}
	s.uid = u32(&r);
	s.gid = u32(&r);
	s.user = &s;

	/* Snapshots: the validator takes a const spec and must honour it. */
	memcpy(&before, &s, sizeof(s));
	if (fds && nfd_alloc) {
		fds_copy = malloc(nfd_alloc * sizeof(*fds));
		if (!fds_copy)
			goto out;
		memcpy(fds_copy, fds, nfd_alloc * sizeof(*fds));
	}
	if (rls && nrl_alloc) {
		rls_copy = malloc(nrl_alloc * sizeof(*rls));
		if (!rls_copy)
			goto out;
		memcpy(rls_copy, rls, nrl_alloc * sizeof(*rls));
	}

	got = pr_spawn_validate(&s);
	want = ref_validate(&s);
	if (got != 0 && got != -EINVAL)
		fail("neither 0 nor -EINVAL", got, want, data, size);
	if (got != want)
		fail("differs from the contract", got, want, data, size);
	if (memcmp(&before, &s, sizeof(s)) != 0 ||
	    (fds_copy && memcmp(fds_copy, fds, nfd_alloc * sizeof(*fds)) != 0) ||
	    (rls_copy && memcmp(rls_copy, rls, nrl_alloc * sizeof(*rls)) != 0))
		fail("the spec was modified", got, want, data, size);
	if (pr_spawn_validate(&s) != got)
		fail("a second call disagrees", got, want, data, size);
out:
	free(fds);
	free(fds_copy);
	free(groups);
	free(rls);
	free(rls_copy);
	return 0;
}
