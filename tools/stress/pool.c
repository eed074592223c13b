/* SPDX-License-Identifier: MIT */
/*
 * pidring-stress --pool — the session pool under random load.
 *
 *   pidring-stress --pool [--keys N] [--ops M] [--seed S] [--max-runners C]
 *                         [--no-lru] [--ring-entries N] [--child PATH] [--quiet]
 *
 * One engine, one pool of bind-mode runners (each gets its key as an
 * argument through "{key}"), N keys (default 10000, a hot tenth of them
 * drawing half the gets, so that gets pile onto starting runners), M
 * operations (default 30000) drawn from the seed: gets, releases of a held
 * or pending lease, evicts, SIGKILLs of a key's runner, short waits. At the
 * cap (default 256) a new key evicts the least recently used idle runner
 * (or, with --no-lru, fails with -EAGAIN, which is counted, not an error).
 *
 * The auditor, every 256 operations and at the end:
 *   - every key has at most one runner, and the pool's key count matches
 *     the keys it finds;
 *   - every process of ours is a runner the engine still tracks: one whose
 *     key names it (pidring_pool_find), or one the pool dropped and is
 *     stopping, which must be gone within 5 s of being first seen (a runner
 *     for a dropped key that stays is a runner on no register);
 *   - every answer names a lease we hold pending, READY answers name the
 *     key's current runner, and the engine's own READY/DONE of the pool's
 *     runners never come out.
 * At the end: every lease released, every key evicted, every runner DONE
 * (pool started == done), no process of ours, no extra fd, nothing left in
 * the runtime directory.
 *
 * Exit status: 0 clean, 1 on a violation, 2 on bad usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tool_util.h"

int pool_stress_main(int argc, char **argv);

#define PS_AUDIT_EVERY 256
#define PS_STRAY_NS    5000000000ull

enum { L_FREE, L_PENDING, L_HELD };

struct ps_lease { uint64_t ticket; pidring_id id; uint32_t key; uint8_t state; };

struct ps_stray { pid_t pid; uint64_t first_ns; bool seen; };

static struct {
	unsigned keys, ops, max_runners, seed, ring_entries;
	bool lru, quiet;
	const char *child;
} po = { 10000, 30000, 256, 1, 1024, true, false, NULL };

static struct {
	struct pidring *pr;
	struct pidring_pool *pool;
	struct ps_lease *leases;
	unsigned nleases, cap;
	struct ps_stray *strays;
	uint32_t *uses;             /* per key: our leases on its runner */
	unsigned nstrays;
	uint64_t rng;
	unsigned long gets, pending, ready, failed, releases, evicts, kills, eagain;
	unsigned long violations;
	pid_t me;
} ps;

__attribute__((format(printf, 1, 2)))
static void ps_violation(const char *fmt, ...)
{
	va_list ap;

	ps.violations++;
	if (ps.violations > 20)
		return;
	fputs("pool-stress: VIOLATION: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t ps_rand(void)
{
	/* xorshift64*: the schedule is a function of the seed */
	ps.rng ^= ps.rng >> 12;
	ps.rng ^= ps.rng << 25;
	ps.rng ^= ps.rng >> 27;
	return ps.rng * 2685821657736338717ull;
}

static uint64_t ps_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int ps_key(uint32_t k, char *buf)
{
	return snprintf(buf, 16, "k%05u", k);
}

static struct ps_lease *ps_lease_by_ticket(uint64_t t)
{
	for (unsigned i = 0; i < ps.nleases; i++)
		if (ps.leases[i].ticket == t && ps.leases[i].state != L_FREE)
			return &ps.leases[i];
	return NULL;
}

static void ps_lease_drop(struct ps_lease *l)
{
	*l = ps.leases[--ps.nleases];
}

static void ps_on_event(const struct pidring_event *ev)
{
	struct ps_lease *l;
	char key[16];
	pidring_id id;

	if (ev->type != PIDRING_EV_LEASE_READY && ev->type != PIDRING_EV_LEASE_FAILED) {
		ps_violation("engine event type %d of a pool runner came out", ev->type);
		return;
	}
	l = ps_lease_by_ticket(ev->lease);
	if (!l || l->state != L_PENDING) {
		ps_violation("answer for lease %#llx that is not pending",
			     (unsigned long long)ev->lease);
		return;
	}
	if (ev->type == PIDRING_EV_LEASE_FAILED) {
		if (ev->error != -ECHILD && ev->error != -ECANCELED)
			ps_violation("LEASE_FAILED with error %d", ev->error);
		ps.failed++;
		ps_lease_drop(l);
		return;
	}
	ps.ready++;
	l->state = L_HELD;
	ps_key(l->key, key);
	if (pidring_pool_find(ps.pool, key, strlen(key), &id) != 0 || id != ev->id)
		ps_violation("READY for %s names %#llx, not the key's runner", key,
			     (unsigned long long)ev->id);
}

static void ps_wait(int ms)
{
	struct pidring_event ev[64];
	int n = pidring_wait(ps.pr, ev, 64, ms);

	if (n < 0 && n != -EINTR)
		ps_violation("pidring_wait: %d", n);
	for (int i = 0; i < n; i++)
		ps_on_event(&ev[i]);
}

static uint32_t ps_pick_key(void)
{
	unsigned hot = po.keys / 10 ? po.keys / 10 : 1;

	return (uint32_t)(ps_rand() % 2 ? ps_rand() % hot : ps_rand() % po.keys);
}

static void ps_get(void)
{
	struct pidring_lease l;
	char key[16];
	uint32_t k = ps_pick_key();
	int r;

	ps_key(k, key);
	r = pidring_pool_get(ps.pool, key, strlen(key), NULL, &l);
	ps.gets++;
	if (r == -EAGAIN) {
		ps.eagain++;
		return;
	}
	if (r < 0) {
		ps_violation("get(%s): %d", key, r);
		return;
	}
	if (ps.nleases == ps.cap) {
		ps.cap = ps.cap ? ps.cap * 2 : 1024;
		ps.leases = realloc(ps.leases, ps.cap * sizeof(*ps.leases));
		if (!ps.leases) {
			fputs("pool-stress: out of memory\n", stderr);
			exit(2);
		}
	}
	ps.leases[ps.nleases] = (struct ps_lease){ l.ticket, 0, k,
		r == PIDRING_POOL_PENDING ? L_PENDING : L_HELD };
	/* the runner it waits on or holds: the key's, right after the get */
	if (pidring_pool_find(ps.pool, key, strlen(key), &ps.leases[ps.nleases].id) ||
	    (r == 0 && ps.leases[ps.nleases].id != l.id))
		ps_violation("get(%s) answered, but the key has no such runner", key);
	ps.nleases++;
	ps.pending += r == PIDRING_POOL_PENDING;
}

static void ps_release(void)
{
	struct ps_lease *l;
	int r;

	if (!ps.nleases)
		return;
	l = &ps.leases[ps_rand() % ps.nleases];
	r = pidring_pool_release(ps.pool, l->ticket);
	if (r)
		ps_violation("release of a %s lease: %d", l->state == L_HELD ? "held" : "pending",
			     r);
	ps.releases++;
	ps_lease_drop(l);
}

static void ps_evict_or_kill(bool kill_it)
{
	char key[16];
	uint32_t k = ps_pick_key();
	pidring_id id;
	int pid;

	ps_key(k, key);
	if (pidring_pool_find(ps.pool, key, strlen(key), &id))
		return;
	if (!kill_it) {
		if (pidring_pool_evict(ps.pool, key, strlen(key)))
			ps_violation("evict(%s) of a found key failed", key);
		ps.evicts++;
		return;
	}
	pid = pidring_pid(ps.pr, id);
	if (pid <= 0)
		ps_violation("the runner of %s is unknown to the engine: %d", key, pid);
	else if (kill(pid, SIGKILL) == 0)
		ps.kills++;
}

/* The key a runner of ours was given: its last argument. */
static bool ps_child_key(const char *pid, char *key, size_t len)
{
	char path[300], buf[512];
	size_t l;
	ssize_t n;
	int fd;
	char *last;

	snprintf(path, sizeof(path), "/proc/%.32s/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 1)
		return false;
	buf[n - 1] = '\0';
	last = memrchr(buf, '\0', (size_t)(n - 1));
	last = last ? last + 1 : buf;
	l = strlen(last);
	if (l >= len)
		return false;
	memcpy(key, last, l + 1);
	return key[0] == 'k';
}

static struct ps_stray *ps_stray(pid_t pid, uint64_t now)
{
	for (unsigned i = 0; i < ps.nstrays; i++)
		if (ps.strays[i].pid == pid)
			return &ps.strays[i];
	ps.strays = realloc(ps.strays, (ps.nstrays + 1) * sizeof(*ps.strays));
	if (!ps.strays)
		exit(2);
	ps.strays[ps.nstrays] = (struct ps_stray){ pid, now, false };
	return &ps.strays[ps.nstrays++];
}

/* Processes of ours: each the key's runner, or a dropped one on its way out. */
static void ps_audit_procs(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	uint64_t now = ps_now();

	for (unsigned i = 0; i < ps.nstrays; i++)
		ps.strays[i].seen = false;
	while (d && (de = readdir(d))) {
		struct pstat st;
		char key[32];
		pidring_id id;

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || !read_stat(de->d_name, &st) ||
		    st.ppid != ps.me || st.state == 'Z')
			continue;
		if (!ps_child_key(de->d_name, key, sizeof key))
			continue;   /* exec'ing: its cmdline is ours for a moment */
		if (pidring_pool_find(ps.pool, key, strlen(key), &id) == 0 &&
		    pidring_pid(ps.pr, id) == st.pid)
			continue;
		struct ps_stray *s = ps_stray(st.pid, now);

		s->seen = true;
		if (now - s->first_ns > PS_STRAY_NS)
			ps_violation("pid %d (key %s) outlived its key by %llu ms", st.pid, key,
				     (unsigned long long)((now - s->first_ns) / 1000000u));
	}
	if (d)
		closedir(d);
	for (unsigned i = 0; i < ps.nstrays;)
		if (!ps.strays[i].seen)
			ps.strays[i] = ps.strays[--ps.nstrays];
		else
			i++;
}

/*
 * A key whose runner no lease of ours names must be idle (on its TTL): a
 * starting runner nobody waits for is the seed bug, a ready one that never
 * expires a slow leak.
 */
static void ps_audit(void)
{
	struct pidring_pool_stats st;
	unsigned found = 0, unused = 0;
	char key[16];
	pidring_id id;

	if (!ps.uses && !(ps.uses = calloc(po.keys, sizeof(*ps.uses))))
		exit(2);
	memset(ps.uses, 0, po.keys * sizeof(*ps.uses));
	for (unsigned i = 0; i < ps.nleases; i++) {
		ps_key(ps.leases[i].key, key);
		if (pidring_pool_find(ps.pool, key, strlen(key), &id) == 0 &&
		    id == ps.leases[i].id)
			ps.uses[ps.leases[i].key]++;
	}
	for (uint32_t k = 0; k < po.keys; k++) {
		ps_key(k, key);
		if (pidring_pool_find(ps.pool, key, strlen(key), &id) == 0) {
			found++;
			unused += !ps.uses[k];
			if (pidring_pid(ps.pr, id) <= 0)
				ps_violation("key %s names %#llx, unknown to the engine", key,
					     (unsigned long long)id);
		}
	}
	pidring_pool_stats(ps.pool, &st);
	if (st.keys != found)
		ps_violation("pool says %u keys, %u found", st.keys, found);
	if (st.idle != unused)
		ps_violation("%u keys have a runner no lease names, %u of them idle", unused,
			     st.idle);
	if (po.max_runners && st.keys + st.warm > po.max_runners)
		ps_violation("%u runners over the cap %u", st.keys + st.warm, po.max_runners);
	ps_audit_procs();
}

static int ps_usage(void)
{
	fputs("usage: pidring-stress --pool [--keys N] [--ops M] [--seed S] "
	      "[--max-runners C] [--no-lru] [--ring-entries N] [--child PATH] [--quiet]\n",
	      stderr);
	return 2;
}

static int ps_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned *u = !strcmp(a, "--keys") ? &po.keys : !strcmp(a, "--ops") ? &po.ops :
			      !strcmp(a, "--seed") ? &po.seed :
			      !strcmp(a, "--max-runners") ? &po.max_runners :
			      !strcmp(a, "--ring-entries") ? &po.ring_entries : NULL;

		if (u && v) {
			char *end;
			unsigned long n = strtoul(v, &end, 10);

			/* Any 32-bit seed; counts up to 10^8. */
			if (!*v || *end || n > (u == &po.seed ? UINT_MAX : 100000000ul)) {
				fprintf(stderr, "pidring-stress --pool: bad %s value '%s'\n", a, v);
				return ps_usage();
			}
			*u = (unsigned)n;
			i++;
		} else if (!strcmp(a, "--no-lru")) {
			po.lru = false;
		} else if (!strcmp(a, "--quiet")) {
			po.quiet = true;
		} else if (!strcmp(a, "--child") && v) {
			po.child = v;
			i++;
		} else {
			return ps_usage();
		}
	}
	if (!po.child)
		po.child = getenv("PIDRING_CHILD");
	if (!po.child || access(po.child, X_OK) || !po.keys)
		return ps_usage();
	return 0;
}

static int ps_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = -1;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2;   /* . and .. (the listing's own fd is the -1 start) */
}

static int ps_our_children(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	struct pstat st;
	int n = 0;

	while (d && (de = readdir(d)))
		if (de->d_name[0] >= '1' && de->d_name[0] <= '9' &&
		    read_stat(de->d_name, &st) && st.ppid == ps.me)
			n++;
	if (d)
		closedir(d);
	return n;
}

/* Nothing may be left: leases, keys, runners, processes. */
static void ps_finish(void)
{
	struct pidring_pool_stats st;
	uint64_t end = ps_now() + 30000000000ull;
	char key[16];

	while (ps.nleases)
		ps_release();
	for (uint32_t k = 0; k < po.keys; k++) {
		ps_key(k, key);
		pidring_pool_evict(ps.pool, key, strlen(key));
	}
	do {
		ps_wait(50);
		pidring_pool_stats(ps.pool, &st);
	} while ((st.done != st.started || pidring_live(ps.pr)) && ps_now() < end);
	if (st.done != st.started || pidring_live(ps.pr))
		ps_violation("runners started %llu, DONE %llu, live %u", st.started, st.done,
			     pidring_live(ps.pr));
	if (st.keys || st.leases || st.idle || st.stopping)
		ps_violation("left: %u keys, %u leases, %u idle, %u stopping", st.keys,
			     st.leases, st.idle, st.stopping);
	if (!po.quiet)
		printf("pool-stress: %u keys, %u ops: %lu gets (%lu pending, %lu -EAGAIN), "
		       "%lu ready, %lu failed, %lu releases, %lu evicts, %lu kills; "
		       "runners %llu started, %llu DONE\n", po.keys, po.ops, ps.gets,
		       ps.pending, ps.eagain, ps.ready, ps.failed, ps.releases, ps.evicts,
		       ps.kills, st.started, st.done);
}

int pool_stress_main(int argc, char **argv)
{
	char dir[] = "/tmp/pidring-pool-stress.XXXXXX";
	char *const args[] = { "pidring-child", "--bind-after-ms", "2", "{key}", NULL };
	struct pidring_spawn tpl = { .argv = args, .ready = PIDRING_READY_BIND };
	struct pidring_pool_opts o = { .spawn = &tpl, .idle_ttl_ms = 200,
				       .stop_grace_ms = 100 };
	struct pidring_opts eo = { .max_procs = 8192 };
	int fds, r, left;

	if (ps_args(argc, argv))
		return 2;
	tpl.path = po.child;
	eo.ring_entries = po.ring_entries;
	o.max_runners = po.max_runners;
	o.flags = po.lru ? PIDRING_POOL_EVICT_LRU : 0;
	ps.rng = (uint64_t)po.seed * 0x9e3779b97f4a7c15ull + 1;
	ps.me = getpid();
	if (!mkdtemp(dir))
		return 2;
	fds = ps_fd_count();
	eo.runtime_dir = dir;
	r = pidring_new(&ps.pr, &eo);
	if (!r)
		r = pidring_pool_new(ps.pr, &o, &ps.pool);
	if (r) {
		fprintf(stderr, "pool-stress: setup: %s\n", strerror(-r));
		return 2;
	}
	for (unsigned op = 0; op < po.ops; op++) {
		unsigned c = (unsigned)(ps_rand() % 100);

		if (c < 45)
			ps_get();
		else if (c < 80)
			ps_release();
		else if (c < 86)
			ps_evict_or_kill(false);
		else if (c < 89)
			ps_evict_or_kill(true);
		ps_wait(c >= 98 ? 2 : 0);
		if (op % PS_AUDIT_EVERY == PS_AUDIT_EVERY - 1)
			ps_audit();
	}
	ps_audit();
	ps_finish();
	pidring_pool_destroy(ps.pool);
	r = pidring_destroy(ps.pr, 10000);
	if (r)
		ps_violation("pidring_destroy: %d", r);
	if ((left = ps_our_children()))
		ps_violation("%d processes of ours left", left);
	if (ps_fd_count() != fds)
		ps_violation("fds: %d at start, %d at the end", fds, ps_fd_count());
	if (rmdir(dir))
		ps_violation("runtime dir not empty: %s", strerror(errno));
	free(ps.leases);
	free(ps.strays);
	free(ps.uses);
	if (!po.quiet || ps.violations)
		printf("pool-stress: %s (%lu violations)\n", ps.violations ? "FAILED" : "clean",
		       ps.violations);
	return ps.violations ? 1 : 0;
}
