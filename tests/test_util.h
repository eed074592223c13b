/* SPDX-License-Identifier: MIT */
/*
 * Shared by the test_*.c suites: the per-test fixture (private runtime dir,
 * fd baseline taken before pidring_new, engine in one of the two chain
 * variants, leak check at the end), spawn shorthands and strict event
 * expectations. Everything is static inline so each suite gets its own copy
 * and no prototype has to be exported.
 *
 * Every behaviour runs in both engine variants: BOTH(suite, name) defines
 * name (default flags: WAITID on the ring, clone3) and name_fallback
 * (PIDRING_F_NO_WAITID | PIDRING_F_NO_CLONE3: POLL_ADD + waitid, clone(),
 * what an older kernel gets), sharing one body that receives the engine
 * flags.
 */
#ifndef PIDRING_TEST_UTIL_H
#define PIDRING_TEST_UTIL_H

/* The Makefile passes -D_GNU_SOURCE; a bare #define would redefine it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "pidring.h"

/* Generous bounds for "it happens at all"; never a speed assertion. */
#define T_EV_MS     5000   /* one event that is due now */
#define T_DRAIN_MS 10000   /* a whole batch of DONEs */

/*
 * Each body runs twice: on this kernel's paths (WAITID, clone3) and on the
 * fallbacks an older kernel gets (POLL_ADD + waitid, clone()).
 */
#define T_FALLBACK (PIDRING_F_NO_WAITID | PIDRING_F_NO_CLONE3)
#define BOTH(suite, name)                                                      \
	static void name##_body(unsigned flags);                               \
	Test(suite, name) { name##_body(0); }                                  \
	Test(suite, name##_fallback) { name##_body(T_FALLBACK); }              \
	static void name##_body(unsigned flags)

/* argv for pidring-child: ARGV("--exit", "7") */
#define ARGV(...) ((char *const[]){ "pidring-child", __VA_ARGS__, NULL })
#define ARGV0     ((char *const[]){ "pidring-child", NULL })

static char *const t_envp[] = { "PATH=/usr/bin:/bin", "PIDRING_TEST=1", NULL };

struct fx {
	struct th_baseline base;
	char *dir;
	struct pidring *pr;
	unsigned flags;
	int fds[16];         /* test-owned fds, closed if the test aborts */
	int nfds;
	int pidfds[16];      /* pidfds of strays to SIGKILL if the test aborts */
	int npidfds;
};

/*
 * The fixture of the running test; the suite's .fini cleans up after an
 * abort. A failed cr_assert longjmps out of the test, so the fixture must not
 * live on the test's stack: tests declare it `static struct fx f;` (each test
 * runs in its own worker process, so nothing is shared).
 */
static struct fx *t_cur;

/*
 * Set the fixture up (private runtime dir, fd baseline, t_cur) and return
 * what pidring_new(o) says; o->runtime_dir is set to the fixture's dir. For
 * the tests that expect pidring_new to fail; fx_open_opts asserts success.
 */
static inline int fx_new(struct fx *f, struct pidring_opts *o)
{
	memset(f, 0, sizeof(*f));
	f->flags = o->flags;
	f->dir = th_mkdtemp();
	t_cur = f;
	th_baseline_take(&f->base);
	o->runtime_dir = f->dir;
	return pidring_new(&f->pr, o);
}

static inline void fx_open_opts(struct fx *f, unsigned flags, unsigned max_procs)
{
	struct pidring_opts o = { 0 };
	int r;

	o.flags = flags;
	o.max_procs = max_procs;
	r = fx_new(f, &o);
	cr_assert_eq(r, 0, "pidring_new(flags=%#x, max_procs=%u): %d (%s)", flags,
		     max_procs, r, strerror(-r));
	cr_assert_not_null(f->pr);
	cr_assert_eq(pidring_live(f->pr), 0u);
}

static inline void fx_open(struct fx *f, unsigned flags)
{
	fx_open_opts(f, flags, 0);
}

/* snprintf that fails the test rather than truncate (and keeps -Wformat-truncation quiet). */
__attribute__((format(printf, 3, 4)))
static inline void t_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < len, "string too long for its buffer: %s", buf);
}

/* Remember a test-owned fd so an aborted test still closes it. */
static inline int fx_own(struct fx *f, int fd)
{
	cr_assert_geq(fd, 0, "open: %s", strerror(errno));
	cr_assert_lt(f->nfds, 16);
	f->fds[f->nfds++] = fd;
	return fd;
}

/* Close a test-owned fd (and forget it). */
static inline void fx_close_fd(struct fx *f, int fd)
{
	for (int i = 0; i < f->nfds; i++) {
		if (f->fds[i] == fd) {
			f->fds[i] = f->fds[--f->nfds];
			break;
		}
	}
	close(fd);
}

static inline void t_pipe(struct fx *f, int p[2])
{
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0, "pipe2: %s", strerror(errno));
	fx_own(f, p[0]);
	fx_own(f, p[1]);
}

/* Destroy the engine, then check the rules: no child, no fd, nothing on disk. */
static inline void fx_close(struct fx *f)
{
	int r = pidring_destroy(f->pr, 10000);

	f->pr = NULL;
	cr_expect_eq(r, 0, "pidring_destroy: %d (%s)", r, strerror(-r));
	while (f->nfds)
		fx_close_fd(f, f->fds[0]);
	/* Strays a test watched: dead by now unless the test failed; never leave
	 * a failure's survivors running. */
	while (f->npidfds) {
		f->npidfds--;
		syscall(SYS_pidfd_send_signal, f->pidfds[f->npidfds], SIGKILL, NULL, 0);
		close(f->pidfds[f->npidfds]);
	}
	th_leak_check(&f->base, f->dir);
	th_rmtree(f->dir);
	free(f->dir);
	f->dir = NULL;
	t_cur = NULL;
}

/* Suite .fini: only does something when the test aborted before fx_close. */
static inline void fx_abort_cleanup(void)
{
	struct fx *f = t_cur;

	if (!f)
		return;
	t_cur = NULL;
	for (int i = 0; i < f->npidfds; i++) {
		syscall(SYS_pidfd_send_signal, f->pidfds[i], SIGKILL, NULL, 0);
		close(f->pidfds[i]);
	}
	if (f->pr)
		pidring_destroy(f->pr, 5000);
	for (int i = 0; i < f->nfds; i++)
		close(f->fds[i]);
	if (f->dir) {
		th_rmtree(f->dir);
		free(f->dir);
	}
}

static inline struct pidring_spawn t_spec(char *const *argv, void *user)
{
	struct pidring_spawn s = {
		.path = th_child_path(),
		.argv = argv,
		.envp = t_envp,
		.ready = PIDRING_READY_EXEC,
		.user = user,
	};
	return s;
}

/* Spawn pidring-child with argv; asserts success. */
static inline pidring_id t_spawn(struct fx *f, char *const *argv, void *user)
{
	struct pidring_spawn s = t_spec(argv, user);
	pidring_id id = 0;
	int r = pidring_spawn(f->pr, &s, &id);

	cr_assert_eq(r, 0, "pidring_spawn(%s %s): %d (%s)", argv[0],
		     argv[1] ? argv[1] : "", r, strerror(-r));
	cr_assert_neq(id, 0, "pidring_spawn returned id 0");
	return id;
}

/*
 * Spawn with --report-fd 3 on a pipe (argv must contain "--report-fd", "3")
 * and wait for the report's EOF: once it returns, the child has run its
 * main() up to the report (so --ignore-term is in effect).
 */
static inline pidring_id t_spawn_synced(struct fx *f, char *const *argv, unsigned sflags,
					void *user)
{
	struct pidring_spawn s = t_spec(argv, user);
	struct pidring_fd_map map;
	char buf[4096];
	pidring_id id = 0;
	int p[2], r;

	t_pipe(f, p);
	map.parent_fd = p[1];
	map.child_fd = 3;
	s.fds = &map;
	s.nfds = 1;
	s.flags = sflags;
	r = pidring_spawn(f->pr, &s, &id);
	cr_assert_eq(r, 0, "pidring_spawn: %d (%s)", r, strerror(-r));
	fx_close_fd(f, p[1]);
	r = th_read_all(p[0], buf, sizeof buf);
	fx_close_fd(f, p[0]);
	cr_assert_gt(r, 0, "reading the child's report: %d", r);
	cr_assert(r >= 4 && !strcmp(buf + r - 4, "end\n"),
		  "report does not end with \"end\": %s", buf);
	return id;
}

/* The next event; fails the test when none comes within timeout_ms. */
static inline struct pidring_event t_next(struct fx *f, int timeout_ms)
{
	struct pidring_event ev;
	int r;

	memset(&ev, 0, sizeof ev);
	r = th_wait_event(f->pr, &ev, timeout_ms);
	cr_assert_eq(r, 1, "no event within %d ms (pidring_wait -> %d, live %u)",
		     timeout_ms, r, pidring_live(f->pr));
	return ev;
}

/* The next event must be the READY of id (READY_EXEC: queued by the spawn). */
static inline struct pidring_event t_expect_ready(struct fx *f, pidring_id id, void *user)
{
	struct pidring_event ev = t_next(f, T_EV_MS);
	int pid = pidring_pid(f->pr, id);

	cr_assert_eq(ev.type, PIDRING_EV_READY, "expected READY, got type %d", ev.type);
	cr_assert_eq(ev.id, id, "READY for %#llx, expected %#llx",
		     (unsigned long long)ev.id, (unsigned long long)id);
	if (pid > 0)
		cr_expect_eq(ev.pid, pid);
	cr_expect_gt(ev.pid, 0);
	cr_expect_eq(ev.user, user);
	cr_expect_eq(ev.reason, 0);
	cr_expect_eq(ev.code, 0);
	cr_expect_eq(ev.status, 0);
	cr_expect_neq(ev.spawn_ns, 0);
	cr_expect_geq(ev.ready_ns, ev.spawn_ns);
	cr_expect_eq(ev.done_ns, 0);
	return ev;
}

/* ev must be the DONE of id, with exactly this reason/code/status. */
static inline void t_check_done(const struct pidring_event *ev, pidring_id id, int reason,
				int code, int status)
{
	cr_assert_eq(ev->type, PIDRING_EV_DONE, "expected DONE, got type %d", ev->type);
	cr_assert_eq(ev->id, id, "DONE for %#llx, expected %#llx",
		     (unsigned long long)ev->id, (unsigned long long)id);
	cr_expect_eq(ev->reason, reason, "reason %d, expected %d", ev->reason, reason);
	cr_expect_eq(ev->code, code, "code %d, expected %d (status %d)", ev->code, code,
		     ev->status);
	cr_expect_eq(ev->status, status, "status %d, expected %d", ev->status, status);
	cr_expect_gt(ev->pid, 0);
	cr_expect_neq(ev->spawn_ns, 0);
	cr_expect_geq(ev->done_ns, ev->spawn_ns);
	if (ev->ready_ns)
		cr_expect_geq(ev->done_ns, ev->ready_ns);
}

/* The next event must be the DONE of id, with exactly this reason/code/status. */
static inline struct pidring_event t_expect_done(struct fx *f, pidring_id id, int timeout_ms,
						 int reason, int code, int status)
{
	struct pidring_event ev = t_next(f, timeout_ms);

	t_check_done(&ev, id, reason, code, status);
	return ev;
}

/* No event may be pending or arrive within ms (while procs are live). */
static inline void t_expect_quiet(struct fx *f, int ms)
{
	struct pidring_event ev[4];
	int r = pidring_wait(f->pr, ev, 4, ms);

	while (r == -EINTR)
		r = pidring_wait(f->pr, ev, 4, ms);
	cr_assert_eq(r, 0, "unexpected: pidring_wait -> %d (first type %d id %#llx)", r,
		     r > 0 ? (int)ev[0].type : 0,
		     r > 0 ? (unsigned long long)ev[0].id : 0ull);
}

/* After a proc is DONE its id is dead for every verb. */
static inline void t_expect_gone(struct fx *f, pidring_id id)
{
	cr_expect_eq(pidring_cancel(f->pr, id), -ESRCH);
	cr_expect_eq(pidring_stop(f->pr, id, 0), -ESRCH);
	cr_expect_eq(pidring_pid(f->pr, id), -ESRCH);
}

static inline uint64_t t_ms(uint64_t ns)
{
	return ns / 1000000u;
}

static inline int t_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* 1 when the process behind pidfd has exited (zombie or reaped) within ms. */
static inline int t_pidfd_dead_within(int pidfd, int ms)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	uint64_t end = th_now_ns() + (uint64_t)ms * 1000000u;

	for (;;) {
		uint64_t now = th_now_ns();
		int left = now >= end ? 0 : (int)((end - now) / 1000000u) + 1;
		int r = poll(&p, 1, left);

		if (r > 0)
			return 1;
		if (r == 0 || (r < 0 && errno != EINTR))
			return 0;
	}
}

#endif /* PIDRING_TEST_UTIL_H */
