/* SPDX-License-Identifier: MIT */
/*
 * Cancel and stop: the kill and stop chains, idempotence, stale and forged
 * ids, the group kill, and a cancel-race loop.
 */
#include "test_util.h"

#include <time.h>

TestSuite(cancel, .fini = fx_abort_cleanup, .timeout = 30);
TestSuite(stop, .fini = fx_abort_cleanup, .timeout = 30);
TestSuite(group, .fini = fx_abort_cleanup, .timeout = 30);
TestSuite(race, .fini = fx_abort_cleanup, .timeout = 60);

/* ---- cancel ---- */

BOTH(cancel, sleeping_child)
{
	struct pidring_event ev;
	static struct fx f;
	pidring_id id;
	int marker, pid;

	fx_open(&f, flags);
	id = t_spawn(&f, ARGV("--sleep-forever"), &marker);
	pid = pidring_pid(f.pr, id);
	cr_assert_gt(pid, 0);
	t_expect_ready(&f, id, &marker);
	t_expect_quiet(&f, 50);                 /* it really sleeps */
	cr_expect_eq(pidring_cancel(f.pr, id), 0);
	/* Until its DONE is handed out the proc still exists. */
	cr_expect_eq(pidring_pid(f.pr, id), pid);
	cr_expect_eq(pidring_live(f.pr), 1u);
	ev = t_expect_done(&f, id, T_EV_MS, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	cr_expect_eq(ev.pid, pid);
	cr_expect_eq(ev.user, &marker);
	cr_expect_neq(ev.ready_ns, 0);
	cr_expect_eq(pidring_live(f.pr), 0u);
	t_expect_gone(&f, id);
	t_expect_quiet(&f, 0);
	fx_close(&f);
}

BOTH(cancel, twice_and_after_done)
{
	struct pidring_event ev[8];
	static struct fx f;
	pidring_id id;
	int n, dones = 0;

	fx_open(&f, flags);
	id = t_spawn(&f, ARGV("--sleep-forever"), NULL);
	cr_expect_eq(pidring_cancel(f.pr, id), 0);
	cr_expect_eq(pidring_cancel(f.pr, id), 0, "second cancel");
	cr_expect_eq(pidring_stop(f.pr, id, 1000), 0, "stop while killing");
	n = th_drain(f.pr, ev, 8, T_DRAIN_MS);
	cr_assert_eq(n, 2, "expected READY + one DONE, got %d events", n);
	cr_expect_eq(ev[0].type, PIDRING_EV_READY);
	for (int i = 0; i < n; i++) {
		cr_expect_eq(ev[i].id, id);
		if (ev[i].type != PIDRING_EV_DONE)
			continue;
		dones++;
		cr_expect_eq(ev[i].reason, PIDRING_CANCELLED);
		cr_expect_eq(ev[i].code, CLD_KILLED);
		cr_expect_eq(ev[i].status, SIGKILL);
	}
	cr_expect_eq(dones, 1);
	t_expect_gone(&f, id);

	/* A child that exited on its own: after its DONE, cancel is -ESRCH too. */
	id = t_spawn(&f, ARGV("--exit", "4"), NULL);
	t_expect_ready(&f, id, NULL);
	t_expect_done(&f, id, T_EV_MS, PIDRING_EXITED, CLD_EXITED, 4);
	t_expect_gone(&f, id);
	fx_close(&f);
}

/* Cancel interleaved with the chain's progress: cancel again after each wait. */
BOTH(cancel, repeated_during_chain)
{
	struct pidring_event ev[4];
	static struct fx f;
	pidring_id id;
	int dones = 0, readies = 0, queued = 0, rc;
	uint64_t end;

	fx_open(&f, flags);
	id = t_spawn(&f, ARGV("--sleep-forever"), NULL);
	cr_expect_eq(pidring_cancel(f.pr, id), 0);
	end = th_now_ns() + (uint64_t)T_DRAIN_MS * 1000000u;
	while (!dones && th_now_ns() < end) {
		int n = pidring_wait(f.pr, ev, 4, 0);

		cr_assert_geq(n, 0, "pidring_wait: %d", n);
		for (int i = 0; i < n; i++) {
			cr_expect_eq(ev[i].id, id);
			readies += ev[i].type == PIDRING_EV_READY;
			if (ev[i].type == PIDRING_EV_DONE) {
				dones++;
				cr_expect_eq(ev[i].reason, PIDRING_CANCELLED);
				cr_expect_eq(ev[i].code, CLD_KILLED);
				cr_expect_eq(ev[i].status, SIGKILL);
			}
		}
		cr_assert(!queued || dones, "-ESRCH said the DONE was queued; the wait had none");
		/* -ESRCH once its DONE was handed out; before that 0, or -ESRCH only
		 * when the DONE is already queued (the next wait must return it). */
		rc = pidring_cancel(f.pr, id);
		cr_expect(dones ? rc == -ESRCH : rc == 0 || rc == -ESRCH, "cancel: %d", rc);
		queued |= !dones && rc == -ESRCH;
		rc = pidring_stop(f.pr, id, 10);
		cr_expect(dones || queued ? rc == -ESRCH : rc == 0, "stop: %d", rc);
		queued |= !dones && rc == -ESRCH;
	}
	cr_expect_eq(dones, 1);
	cr_expect_eq(readies, 1);
	t_expect_quiet(&f, 0);
	fx_close(&f);
}

/* xorshift64*: a deterministic stream from a printed seed. */
static uint64_t rnd_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static uint64_t seed_from_env_or_time(const char *name)
{
	const char *e = getenv(name);
	uint64_t seed;

	if (e && *e)
		return strtoull(e, NULL, 0);
	seed = th_now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
	return seed ? seed : 1;
}

static void expect_esrch_all(struct fx *f, pidring_id bad, const char *what, uint64_t seed)
{
	int c = pidring_cancel(f->pr, bad), s = pidring_stop(f->pr, bad, 0);
	int p = pidring_pid(f->pr, bad);

	cr_expect(c == -ESRCH && s == -ESRCH && p == -ESRCH,
		  "%s id %#llx: cancel %d, stop %d, pid %d (all must be -ESRCH; seed %#llx)",
		  what, (unsigned long long)bad, c, s, p, (unsigned long long)seed);
}

BOTH(cancel, forged_and_stale_ids)
{
	uint64_t seed = seed_from_env_or_time("PIDRING_TEST_SEED"), st = seed;
	pidring_id id, id2, other;
	static struct fx f;
	int pid, pid2, other_pid;

	fx_open_opts(&f, flags, 8);
	id = t_spawn(&f, ARGV("--sleep-forever"), NULL);
	other = t_spawn(&f, ARGV("--sleep-forever"), NULL);
	pid = pidring_pid(f.pr, id);
	other_pid = pidring_pid(f.pr, other);
	cr_assert_gt(pid, 0);
	cr_assert_gt(other_pid, 0);
	t_expect_ready(&f, id, NULL);
	t_expect_ready(&f, other, NULL);

	expect_esrch_all(&f, 0, "zero", seed);
	expect_esrch_all(&f, id + (1ull << 32), "generation+1", seed);
	expect_esrch_all(&f, id - (1ull << 32), "generation-1", seed);
	expect_esrch_all(&f, id ^ (1ull << 63), "generation high bit", seed);
	expect_esrch_all(&f, (id & ~0xffffffffull) | 0xffffffffull, "index 2^32-1", seed);
	expect_esrch_all(&f, (id & ~0xffffffffull) | 9, "index past max_procs", seed);
	expect_esrch_all(&f, (id & ~0xffffffffull) | 3, "never-used index", seed);
	expect_esrch_all(&f, id & 0xffffffffull, "index only (generation 0)", seed);
	expect_esrch_all(&f, ~0ull, "all ones", seed);
	for (int i = 0; i < 2000; i++) {
		pidring_id bad = (pidring_id)rnd_next(&st);

		/* Low random bits would rarely name slot 1 or 2; force that half the time. */
		if (i & 1)
			bad = (bad & ~0xffffffffull) | (1 + (bad & 1));
		if (bad == id || bad == other)
			continue;
		expect_esrch_all(&f, bad, "random", seed);
	}
	/* None of that touched the real procs. */
	cr_expect_eq(pidring_pid(f.pr, id), pid);
	cr_expect_eq(pidring_pid(f.pr, other), other_pid);
	cr_expect_eq(pidring_live(f.pr), 2u);
	t_expect_quiet(&f, 50);

	/* Stale: after DONE the id is dead, even once its slot is reused. */
	cr_expect_eq(pidring_cancel(f.pr, id), 0);
	t_expect_done(&f, id, T_EV_MS, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	expect_esrch_all(&f, id, "stale", seed);
	id2 = t_spawn(&f, ARGV("--sleep-forever"), NULL);
	pid2 = pidring_pid(f.pr, id2);
	cr_assert_gt(pid2, 0);
	cr_expect_neq(id2, id, "a new proc got the old id");
	t_expect_ready(&f, id2, NULL);
	expect_esrch_all(&f, id, "stale after slot reuse", seed);
	cr_expect_eq(pidring_pid(f.pr, id2), pid2, "the stale id touched the slot's new proc");
	cr_expect_eq(pidring_pid(f.pr, other), other_pid);
	t_expect_quiet(&f, 50);

	cr_expect_eq(pidring_cancel(f.pr, id2), 0);
	t_expect_done(&f, id2, T_EV_MS, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	cr_expect_eq(pidring_cancel(f.pr, other), 0);
	t_expect_done(&f, other, T_EV_MS, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	fx_close(&f);
}

/* ---- stop ---- */

BOTH(stop, term_obeying_child)
{
	struct pidring_event ev;
	static struct fx f;
	pidring_id id;
	uint64_t t_stop;

	fx_open(&f, flags);
	id = t_spawn(&f, ARGV("--sleep-forever"), NULL);
	t_expect_ready(&f, id, NULL);
	t_stop = th_now_ns();
	cr_expect_eq(pidring_stop(f.pr, id, 5000), 0);
	cr_expect_eq(pidring_stop(f.pr, id, 5000), 0, "second stop");
	ev = t_expect_done(&f, id, T_EV_MS + 5000, PIDRING_STOPPED, CLD_KILLED, SIGTERM);
	/* SIGTERM, not SIGKILL: it ended inside the grace, not because it ran out. */
	cr_expect_lt(ev.done_ns - t_stop, 5000ull * 1000000u, "DONE %llu ms after stop",
		     (unsigned long long)t_ms(ev.done_ns - t_stop));
	t_expect_gone(&f, id);
	fx_close(&f);
}

BOTH(stop, term_ignoring_child_is_killed_after_grace)
{
	struct pidring_event ev;
	static struct fx f;
	pidring_id id;
	uint64_t t_stop, el;

	fx_open(&f, flags);
	id = t_spawn_synced(&f, ARGV("--ignore-term", "--sleep-forever", "--report-fd", "3"), 0,
			    NULL);
	t_expect_ready(&f, id, NULL);
	t_stop = th_now_ns();
	cr_expect_eq(pidring_stop(f.pr, id, 300), 0);
	/* A second stop neither shortens nor restarts the grace. */
	cr_expect_eq(pidring_stop(f.pr, id, 0), 0, "second stop");
	ev = t_expect_done(&f, id, T_EV_MS, PIDRING_STOPPED, CLD_KILLED, SIGKILL);
	el = ev.done_ns - t_stop;
	cr_expect_geq(el, 300ull * 1000000u, "killed %llu ms after stop, before the grace",
		      (unsigned long long)t_ms(el));
	cr_expect_lt(el, 2300ull * 1000000u, "killed %llu ms after stop (grace 300 ms)",
		     (unsigned long long)t_ms(el));
	t_expect_gone(&f, id);
	fx_close(&f);
}

BOTH(stop, cancel_during_grace)
{
	struct pidring_event ev;
	static struct fx f;
	pidring_id id;
	uint64_t t_stop, t_cancel;

	fx_open(&f, flags);
	id = t_spawn_synced(&f, ARGV("--ignore-term", "--sleep-forever", "--report-fd", "3"), 0,
			    NULL);
	t_expect_ready(&f, id, NULL);
	t_stop = th_now_ns();
	cr_expect_eq(pidring_stop(f.pr, id, 10000), 0);
	t_expect_quiet(&f, 100);                /* SIGTERM is ignored: still running */
	t_cancel = th_now_ns();
	cr_expect_eq(pidring_cancel(f.pr, id), 0);
	cr_expect_eq(pidring_cancel(f.pr, id), 0, "second cancel");
	ev = t_expect_done(&f, id, T_EV_MS, PIDRING_STOPPED, CLD_KILLED, SIGKILL);
	cr_expect_lt(ev.done_ns - t_cancel, 2000ull * 1000000u,
		     "DONE %llu ms after the cancel (grace was 10 s)",
		     (unsigned long long)t_ms(ev.done_ns - t_cancel));
	cr_expect_lt(ev.done_ns - t_stop, 10000ull * 1000000u);
	t_expect_gone(&f, id);
	fx_close(&f);
}

BOTH(stop, stop_after_cancel_keeps_cancelled)
{
	static struct fx f;
	pidring_id id;

	fx_open(&f, flags);
	id = t_spawn(&f, ARGV("--sleep-forever"), NULL);
	t_expect_ready(&f, id, NULL);
	cr_expect_eq(pidring_cancel(f.pr, id), 0);
	cr_expect_eq(pidring_stop(f.pr, id, 1000), 0);
	t_expect_done(&f, id, T_EV_MS, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	t_expect_gone(&f, id);
	fx_close(&f);
}

/* A child that exits on its own during the grace: STOPPED with its own status. */
BOTH(stop, exits_by_itself_during_grace)
{
	static struct fx f;
	pidring_id id;

	fx_open(&f, flags);
	id = t_spawn_synced(&f, ARGV("--ignore-term", "--after-ms", "150", "--exit", "5",
				     "--report-fd", "3"), 0, NULL);
	t_expect_ready(&f, id, NULL);
	cr_expect_eq(pidring_stop(f.pr, id, 10000), 0);
	t_expect_done(&f, id, T_EV_MS, PIDRING_STOPPED, CLD_EXITED, 5);
	t_expect_gone(&f, id);
	fx_close(&f);
}

/* ---- the group kill ---- */

/* Read a --pidfile-fd list: exactly n pids then "end". */
static void read_pids(int fd, pid_t *pids, int n)
{
	char buf[1024], *save = NULL;
	int got = 0, ended = 0, r = th_read_all(fd, buf, sizeof buf);

	cr_assert_gt(r, 0, "reading the pidfile: %d", r);
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		cr_assert(!ended, "line after end: %s", line);
		if (!strcmp(line, "end")) {
			ended = 1;
			continue;
		}
		cr_assert_lt(got, n, "more than %d pids in the pidfile", n);
		pids[got++] = atoi(line);
		cr_assert_gt(pids[got - 1], 0, "bad pid line: %s", line);
	}
	cr_assert(ended, "pidfile has no end line");
	cr_assert_eq(got, n, "%d pids in the pidfile, expected %d", got, n);
}

/*
 * A child with 3 grandchildren (--fork 3) is cancelled or stopped: with its
 * own group (default, SETSID) the grandchildren die too; with KEEP_PGRP only
 * the child is signalled. Grandchildren are watched through pidfds opened
 * while they live, so a recycled pid cannot fool the check, and a zombie
 * (reparented to init, reaped at its leisure) counts as dead.
 */
static void group_kill(unsigned flags, unsigned sflags, int use_stop)
{
	struct pidring_spawn s;
	struct pidring_fd_map map;
	static struct fx f;
	pid_t gpids[3];
	int p[2], r, pid, gfd[3];
	pidring_id id;

	fx_open(&f, flags);
	t_pipe(&f, p);
	map = (struct pidring_fd_map){ p[1], 3 };
	s = t_spec(ARGV("--fork", "3", "--pidfile-fd", "3", "--sleep-forever"), NULL);
	s.fds = &map;
	s.nfds = 1;
	s.flags = sflags;
	r = pidring_spawn(f.pr, &s, &id);
	cr_assert_eq(r, 0, "pidring_spawn: %d", r);
	fx_close_fd(&f, p[1]);
	pid = pidring_pid(f.pr, id);
	cr_assert_gt(pid, 0);
	read_pids(p[0], gpids, 3);
	fx_close_fd(&f, p[0]);
	for (int i = 0; i < 3; i++) {
		gfd[i] = t_pidfd_open(gpids[i]);
		cr_assert_geq(gfd[i], 0, "pidfd_open(%d): %s", gpids[i], strerror(errno));
		f.pidfds[f.npidfds++] = gfd[i];
		cr_assert_eq(getpgid(gpids[i]), getpgid(pid), "grandchild %d not in the group",
			     gpids[i]);
		cr_assert_eq(t_pidfd_dead_within(gfd[i], 0), 0, "grandchild %d already dead",
			     gpids[i]);
	}
	t_expect_ready(&f, id, NULL);

	if (use_stop) {
		cr_expect_eq(pidring_stop(f.pr, id, 5000), 0);
		t_expect_done(&f, id, T_EV_MS + 5000, PIDRING_STOPPED, CLD_KILLED, SIGTERM);
	} else {
		cr_expect_eq(pidring_cancel(f.pr, id), 0);
		t_expect_done(&f, id, T_EV_MS, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	}

	for (int i = 0; i < 3; i++) {
		if (sflags & PIDRING_SPAWN_KEEP_PGRP) {
			/* Not signalled: still alive a while later. Then ours to kill. */
			cr_expect_eq(t_pidfd_dead_within(gfd[i], i == 0 ? 200 : 0), 0,
				     "KEEP_PGRP: grandchild %d was signalled", gpids[i]);
			syscall(SYS_pidfd_send_signal, gfd[i], SIGKILL, NULL, 0);
		}
		cr_expect_eq(t_pidfd_dead_within(gfd[i], 5000), 1,
			     "grandchild %d still alive 5 s after the DONE", gpids[i]);
	}
	fx_close(&f);
}

/*
 * Stop of a tree where nobody obeys SIGTERM: the grace runs out and the kill
 * reaches the whole group, grandchildren included.
 */
BOTH(group, stop_grace_expiry_kills_grandchildren)
{
	struct pidring_fd_map map;
	struct pidring_spawn s;
	struct pidring_event ev;
	static struct fx f;
	pid_t gpids[3];
	int p[2], r, gfd[3];
	pidring_id id;
	uint64_t t_stop;

	fx_open(&f, flags);
	t_pipe(&f, p);
	map = (struct pidring_fd_map){ p[1], 3 };
	s = t_spec(ARGV("--fork", "3", "--grandchild-ignore-term", "--ignore-term",
			"--pidfile-fd", "3", "--sleep-forever"), NULL);
	s.fds = &map;
	s.nfds = 1;
	r = pidring_spawn(f.pr, &s, &id);
	cr_assert_eq(r, 0, "pidring_spawn: %d", r);
	fx_close_fd(&f, p[1]);
	read_pids(p[0], gpids, 3);           /* also: TERM is ignored everywhere now */
	fx_close_fd(&f, p[0]);
	for (int i = 0; i < 3; i++) {
		gfd[i] = t_pidfd_open(gpids[i]);
		cr_assert_geq(gfd[i], 0, "pidfd_open(%d): %s", gpids[i], strerror(errno));
		f.pidfds[f.npidfds++] = gfd[i];
	}
	t_expect_ready(&f, id, NULL);
	t_stop = th_now_ns();
	cr_expect_eq(pidring_stop(f.pr, id, 200), 0);
	/* During the grace SIGTERM changes nothing for anyone. */
	cr_expect_eq(t_pidfd_dead_within(gfd[0], 100), 0, "grandchild died of SIGTERM");
	ev = t_expect_done(&f, id, T_EV_MS, PIDRING_STOPPED, CLD_KILLED, SIGKILL);
	cr_expect_geq(ev.done_ns - t_stop, 200ull * 1000000u);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(t_pidfd_dead_within(gfd[i], 5000), 1,
			     "grandchild %d survived the kill after the grace", gpids[i]);
	fx_close(&f);
}

BOTH(group, cancel_kills_grandchildren)
{
	group_kill(flags, 0, 0);
}

BOTH(group, stop_terms_grandchildren)
{
	group_kill(flags, 0, 1);
}

BOTH(group, setsid_cancel_kills_grandchildren)
{
	group_kill(flags, PIDRING_SPAWN_SETSID, 0);
}

BOTH(group, keep_pgrp_signals_only_the_child)
{
	group_kill(flags, PIDRING_SPAWN_KEEP_PGRP, 0);
}

/* ---- the cancel race ---- */

#define RACE_N        1000
#define RACE_INFLIGHT 16

enum { CANCEL_NEVER = -2, CANCEL_NOW = -1 };

struct race_rec {
	pidring_id id;
	int pid;
	int when;          /* CANCEL_NOW, CANCEL_NEVER, or after this many waits */
	int waits;         /* pidring_wait(..., 0) calls since the spawn */
	int cancel_rc;     /* 1: not called yet */
	int queued;        /* -ESRCH before its DONE was handed out: due next wait */
	int readies, dones;
	struct pidring_event done;
};

static void race_check_done(const struct race_rec *r, const struct pidring_event *ev,
			    uint64_t seed, int i)
{
	int cancelled = r->cancel_rc == 0;   /* -ESRCH: the cancel changed nothing */
	int killed = ev->code == CLD_KILLED && ev->status == SIGKILL;
	int exited = ev->code == CLD_EXITED && ev->status == 0;

	cr_expect_eq(ev->pid, r->pid, "rec %d: pid (seed %#llx)", i, (unsigned long long)seed);
	if (!cancelled) {
		cr_expect(ev->reason == PIDRING_EXITED && exited,
			  "rec %d (no cancel): reason %d code %d status %d (seed %#llx)", i,
			  ev->reason, ev->code, ev->status, (unsigned long long)seed);
		return;
	}
	cr_expect((ev->reason == PIDRING_CANCELLED && (killed || exited)) ||
		  (ev->reason == PIDRING_EXITED && exited),
		  "rec %d (cancelled): reason %d code %d status %d (seed %#llx)", i, ev->reason,
		  ev->code, ev->status, (unsigned long long)seed);
}

static void race_cancel(struct fx *f, struct race_rec *r, uint64_t seed, int i)
{
	r->cancel_rc = pidring_cancel(f->pr, r->id);
	/* After its DONE was handed out: -ESRCH. Before: 0, or -ESRCH only if
	 * the DONE is already queued, which the next wait must then hand out
	 * (every wait takes all queued events). */
	if (r->dones)
		cr_assert_eq(r->cancel_rc, -ESRCH, "rec %d: cancel after DONE -> %d (seed %#llx)",
			     i, r->cancel_rc, (unsigned long long)seed);
	else
		cr_assert(r->cancel_rc == 0 || r->cancel_rc == -ESRCH,
			  "rec %d: cancel -> %d (seed %#llx)", i, r->cancel_rc,
			  (unsigned long long)seed);
	r->queued = !r->dones && r->cancel_rc == -ESRCH;
}

BOTH(race, spawn_cancel_1000)
{
	uint64_t seed = seed_from_env_or_time("PIDRING_TEST_SEED"), st = seed;
	struct race_rec *recs = calloc(RACE_N, sizeof *recs);
	struct pidring_event ev[64];
	int next = 0, lo = 0, inflight = 0, ndone = 0;
	static struct fx f;

	cr_assert_not_null(recs);
	cr_log_info("race seed %#llx (set PIDRING_TEST_SEED to replay)",
		    (unsigned long long)seed);
	fx_open(&f, flags);
	while (ndone < RACE_N) {
		int n, pending = 0, block;

		while (next < RACE_N && inflight < RACE_INFLIGHT) {
			struct race_rec *r = &recs[next];
			char ms[4];
			unsigned k = (unsigned)(rnd_next(&st) % 8);

			snprintf(ms, sizeof ms, "%u", (unsigned)(rnd_next(&st) % 4));
			r->cancel_rc = 1;
			r->when = k < 2 ? CANCEL_NOW : k < 5 ? (int)k - 2 : k < 7 ? (int)k - 5 :
				  CANCEL_NEVER;
			r->id = t_spawn(&f, (char *const[]){ "pidring-child", "--after-ms", ms,
							    NULL }, r);
			r->pid = pidring_pid(f.pr, r->id);
			cr_assert_gt(r->pid, 0, "rec %d: pid (seed %#llx)", next,
				     (unsigned long long)seed);
			if (r->when == CANCEL_NOW)
				race_cancel(&f, r, seed, next);
			inflight++;
			next++;
		}

		/* Cancels due before this wait (0 waits), then the wait itself. */
		for (int i = lo; i < next; i++)
			if (recs[i].cancel_rc == 1 && recs[i].when == recs[i].waits)
				race_cancel(&f, &recs[i], seed, i);
		for (int i = lo; i < next; i++)
			pending |= recs[i].cancel_rc == 1 && recs[i].when >= 0;
		/* Nothing to race with and no room to spawn: block (bounded). */
		block = !pending && (inflight == RACE_INFLIGHT || next == RACE_N);
		n = pidring_wait(f.pr, ev, 64, block ? T_EV_MS : 0);
		if (n == -EINTR)
			continue;
		cr_assert_geq(n, 0, "pidring_wait: %d (seed %#llx)", n, (unsigned long long)seed);
		if (block)
			cr_assert_gt(n, 0, "no event for %d ms with %d in flight (seed %#llx)",
				     T_EV_MS, inflight, (unsigned long long)seed);
		for (int i = lo; i < next; i++)
			recs[i].waits++;
		for (int j = 0; j < n; j++) {
			struct race_rec *r = ev[j].user;
			int i = (int)(r - recs);

			cr_assert(i >= 0 && i < next, "event with a foreign user pointer (seed %#llx)",
				  (unsigned long long)seed);
			cr_assert_eq(ev[j].id, r->id, "rec %d: event id (seed %#llx)", i,
				     (unsigned long long)seed);
			if (ev[j].type == PIDRING_EV_READY) {
				cr_assert(!r->readies && !r->dones,
					  "rec %d: READY #%d after %d DONE (seed %#llx)", i,
					  r->readies + 1, r->dones, (unsigned long long)seed);
				r->readies++;
				continue;
			}
			cr_assert_eq(ev[j].type, PIDRING_EV_DONE);
			cr_assert(r->readies == 1 && !r->dones,
				  "rec %d: DONE with %d READY, %d DONE before (seed %#llx)", i,
				  r->readies, r->dones, (unsigned long long)seed);
			r->dones++;
			r->done = ev[j];
			race_check_done(r, &ev[j], seed, i);
			inflight--;
			ndone++;
		}
		for (int i = lo; i < next; i++)
			cr_assert(!recs[i].queued || recs[i].dones, "rec %d: cancel said -ESRCH but "
				  "no DONE was queued (seed %#llx)", i, (unsigned long long)seed);
		/* A DONE that beat a scheduled cancel: the cancel must now say -ESRCH. */
		for (int i = lo; i < next; i++)
			if (recs[i].dones && recs[i].cancel_rc == 1 && recs[i].when >= 0)
				race_cancel(&f, &recs[i], seed, i);
		while (lo < next && recs[lo].dones &&
		       (recs[lo].cancel_rc != 1 || recs[lo].when == CANCEL_NEVER))
			lo++;
	}
	{
		int cancelled = 0, killed = 0, late = 0, reaping = 0, esrch = 0;

		for (int i = 0; i < RACE_N; i++) {
			cr_assert_eq(recs[i].dones, 1, "rec %d: %d DONE (seed %#llx)", i,
				     recs[i].dones, (unsigned long long)seed);
			cancelled += recs[i].done.reason == PIDRING_CANCELLED;
			killed += recs[i].done.code == CLD_KILLED;
			late += recs[i].done.reason == PIDRING_CANCELLED &&
				recs[i].done.code == CLD_EXITED;
			reaping += recs[i].cancel_rc == 0 &&
				   recs[i].done.reason == PIDRING_EXITED;
			esrch += recs[i].cancel_rc == -ESRCH;
		}
		/* The interleavings hit: killed; cancelled after it had exited;
		 * cancel while its exit was being reaped; cancel after DONE. */
		cr_log_info("race: %d CANCELLED (%d killed, %d had exited), %d cancel during "
			    "the exit's reap, %d cancel after DONE, of %d", cancelled, killed,
			    late, reaping, esrch, RACE_N);
		/* A quarter are cancelled before any wait: some must have been killed. */
		cr_expect_gt(killed, 0, "no proc was ever killed (seed %#llx)",
			     (unsigned long long)seed);
	}
	cr_expect_eq(pidring_live(f.pr), 0u);
	t_expect_quiet(&f, 0);
	fx_close(&f);
	free(recs);
}

/* ---- the stop race ---- */

#define SRACE_N 500

struct srace_rec {
	pidring_id id;
	int pid;
	int sleeper;       /* sleeps until killed (or TERMed); else exits 0 at 0..3 ms */
	int stop_at;       /* waits before the stop (-1: right after spawn, -2: never) */
	int cancel_at;     /* waits before the cancel (-2: never) */
	unsigned grace;    /* ms */
	int waits;
	int stop_rc, cancel_rc;   /* 1: not called yet */
	int queued;        /* -ESRCH before its DONE was handed out: due next wait */
	int readies, dones;
};

static void srace_verb(struct fx *f, struct srace_rec *r, int is_stop, uint64_t seed, int i)
{
	int rc = is_stop ? pidring_stop(f->pr, r->id, r->grace) : pidring_cancel(f->pr, r->id);

	if (is_stop)
		r->stop_rc = rc;
	else
		r->cancel_rc = rc;
	/* As in the cancel race: -ESRCH before the DONE only when it is queued. */
	cr_assert(rc == -ESRCH || (rc == 0 && !r->dones && !r->queued),
		  "rec %d: %s -> %d with %d DONE (seed %#llx)", i, is_stop ? "stop" : "cancel",
		  rc, r->dones, (unsigned long long)seed);
	r->queued |= !r->dones && rc == -ESRCH;
}

static void srace_check_done(const struct srace_rec *r, const struct pidring_event *ev,
			     uint64_t seed, int i)
{
	int exited = ev->code == CLD_EXITED && ev->status == 0 && !r->sleeper;
	int termed = ev->code == CLD_KILLED && ev->status == SIGTERM;
	int killed = ev->code == CLD_KILLED && ev->status == SIGKILL;
	int ok;

	if (r->stop_rc == 0)      /* a later cancel keeps STOPPED */
		ok = (ev->reason == PIDRING_STOPPED && (exited || termed || killed)) ||
		     (ev->reason == PIDRING_EXITED && exited);
	else if (r->cancel_rc == 0)
		ok = (ev->reason == PIDRING_CANCELLED && (exited || killed)) ||
		     (ev->reason == PIDRING_EXITED && exited);
	else
		ok = ev->reason == PIDRING_EXITED && exited;
	cr_expect(ok, "rec %d (%s, stop %d, cancel %d): reason %d code %d status %d "
		  "(seed %#llx)", i, r->sleeper ? "sleeper" : "exits", r->stop_rc, r->cancel_rc,
		  ev->reason, ev->code, ev->status, (unsigned long long)seed);
}

/*
 * Stops at random points with random short graces (0..5 ms), some followed
 * by a cancel during the grace, on children that exit by themselves within
 * 0..3 ms or sleep until signalled: every proc gets exactly one DONE, every
 * verb answers exactly 0 until that DONE is handed out and -ESRCH after, and
 * every DONE is consistent with what was done to the proc.
 */
BOTH(race, spawn_stop_cancel_500)
{
	uint64_t seed = seed_from_env_or_time("PIDRING_TEST_SEED"), st = seed;
	struct srace_rec *recs = calloc(SRACE_N, sizeof *recs);
	struct pidring_event ev[64];
	int next = 0, lo = 0, inflight = 0, ndone = 0, by_reason[6] = { 0 };
	int stop_kill = 0, stop_term = 0;
	static struct fx f;

	cr_assert_not_null(recs);
	cr_log_info("stop race seed %#llx (set PIDRING_TEST_SEED to replay)",
		    (unsigned long long)seed);
	fx_open(&f, flags);
	while (ndone < SRACE_N) {
		int n, pending = 0, block;

		while (next < SRACE_N && inflight < RACE_INFLIGHT) {
			struct srace_rec *r = &recs[next];
			char ms[4];

			snprintf(ms, sizeof ms, "%u", (unsigned)(rnd_next(&st) % 4));
			r->sleeper = rnd_next(&st) % 3 == 0;
			r->stop_at = (int)(rnd_next(&st) % 5) - 1;     /* -1..3 */
			if (!r->sleeper && rnd_next(&st) % 4 == 0)
				r->stop_at = -2;
			r->cancel_at = rnd_next(&st) % 3 == 0 ? r->stop_at + 1 +
				       (int)(rnd_next(&st) % 3) : -2;
			if (r->stop_at == -2)
				r->cancel_at = -2;
			r->grace = (unsigned)(rnd_next(&st) % 6);
			r->stop_rc = r->cancel_rc = 1;
			/* Half the sleepers ignore SIGTERM (once their main() runs):
			 * only the grace's end or a cancel ends them. */
			if (r->sleeper && rnd_next(&st) % 2)
				r->id = t_spawn(&f, ARGV("--ignore-term", "--sleep-forever"), r);
			else if (r->sleeper)
				r->id = t_spawn(&f, ARGV("--sleep-forever"), r);
			else
				r->id = t_spawn(&f, ((char *const[]){ "pidring-child", "--after-ms",
								     ms, NULL }), r);
			r->pid = pidring_pid(f.pr, r->id);
			cr_assert_gt(r->pid, 0);
			if (r->stop_at == -1)
				srace_verb(&f, r, 1, seed, next);
			if (r->cancel_at == -1 + 1 && r->stop_at == -1 && rnd_next(&st) % 2)
				srace_verb(&f, r, 0, seed, next);  /* stop + cancel back to back */
			inflight++;
			next++;
		}
		for (int i = lo; i < next; i++) {
			struct srace_rec *r = &recs[i];

			if (r->stop_rc == 1 && r->stop_at == r->waits)
				srace_verb(&f, r, 1, seed, i);
			if (r->cancel_rc == 1 && r->stop_rc != 1 && r->cancel_at == r->waits)
				srace_verb(&f, r, 0, seed, i);
			pending |= (r->stop_rc == 1 && r->stop_at >= 0) ||
				   (r->cancel_rc == 1 && r->cancel_at >= 0);
		}
		block = !pending && (inflight == RACE_INFLIGHT || next == SRACE_N);
		n = pidring_wait(f.pr, ev, 64, block ? T_EV_MS : 0);
		if (n == -EINTR)
			continue;
		cr_assert_geq(n, 0, "pidring_wait: %d (seed %#llx)", n, (unsigned long long)seed);
		if (block)
			cr_assert_gt(n, 0, "no event for %d ms with %d in flight (seed %#llx)",
				     T_EV_MS, inflight, (unsigned long long)seed);
		for (int i = lo; i < next; i++)
			recs[i].waits++;
		for (int j = 0; j < n; j++) {
			struct srace_rec *r = ev[j].user;
			int i = (int)(r - recs);

			cr_assert(i >= 0 && i < next, "foreign user pointer (seed %#llx)",
				  (unsigned long long)seed);
			cr_assert_eq(ev[j].id, r->id);
			if (ev[j].type == PIDRING_EV_READY) {
				cr_assert(!r->readies && !r->dones, "rec %d: READY out of order "
					  "(seed %#llx)", i, (unsigned long long)seed);
				r->readies++;
				continue;
			}
			cr_assert(r->readies == 1 && !r->dones, "rec %d: DONE #%d (seed %#llx)", i,
				  r->dones + 1, (unsigned long long)seed);
			r->dones++;
			srace_check_done(r, &ev[j], seed, i);
			by_reason[ev[j].reason < 6 ? ev[j].reason : 0]++;
			stop_kill += ev[j].reason == PIDRING_STOPPED && ev[j].status == SIGKILL;
			stop_term += ev[j].reason == PIDRING_STOPPED && ev[j].status == SIGTERM;
			inflight--;
			ndone++;
		}
		for (int i = lo; i < next; i++)
			cr_assert(!recs[i].queued || recs[i].dones, "rec %d: -ESRCH but no DONE was "
				  "queued (seed %#llx)", i, (unsigned long long)seed);
		/* Verbs that a DONE beat must now say -ESRCH. */
		for (int i = lo; i < next; i++) {
			struct srace_rec *r = &recs[i];

			if (!r->dones)
				continue;
			if (r->stop_rc == 1 && r->stop_at >= 0)
				srace_verb(&f, r, 1, seed, i);
			if (r->cancel_rc == 1 && r->cancel_at >= 0)
				srace_verb(&f, r, 0, seed, i);
		}
		while (lo < next && recs[lo].dones)
			lo++;
	}
	cr_log_info("stop race: %d EXITED, %d STOPPED (%d SIGTERM, %d SIGKILL) of %d",
		    by_reason[PIDRING_EXITED], by_reason[PIDRING_STOPPED], stop_term, stop_kill,
		    SRACE_N);
	cr_expect_eq(pidring_live(f.pr), 0u);
	t_expect_quiet(&f, 0);
	fx_close(&f);
	free(recs);
}
