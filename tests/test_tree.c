/* SPDX-License-Identifier: MIT */
/*
 * Process trees: what happens to a proc's descendants. Group mode (the
 * default: the proc leads its own process group and is killed through it),
 * PIDRING_SPAWN_KEEP_PGRP and PIDRING_SPAWN_SETSID, cgroup mode
 * (opts.cgroup_dir: a cgroup per proc, killed through cgroup.kill) and the
 * subreaper (PIDRING_F_SUBREAPER: orphans are adopted and reaped).
 *
 * th_leak_check only sees direct children, so every test that makes a tree
 * asks pidring-child for the pids of all its descendants (--pidfile-fd),
 * opens a pidfd on each while they are certainly alive, and later checks
 * each is dead by polling that pidfd (readable = exited: a zombie or gone;
 * a zombie of init is dead). A pidfd names the process, not the number, so
 * a recycled pid cannot fool the check. With PIDRING_F_SUBREAPER the orphans
 * are our children and th_leak_check sees any the engine failed to reap.
 *
 * The fixture's engine part (struct fx: runtime base, fd baseline, owned
 * fds, leak check) and the spawn spec are test_util.h's; struct tr adds the
 * instance, the cgroup and the descendants.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#define TR_DEAD_MS   2000   /* descendants must be gone within this */
#define TR_MAXD      64     /* descendants tracked per test */

struct tr {
	struct fx fx;               /* first: t_cur points at it (see tr_abort_cleanup) */
	char inst[64];              /* the engine's instance (and cgroup) name */
	const char *cg;             /* opts.cgroup_dir, or NULL */
	pid_t dpid[TR_MAXD];        /* descendants reported by --pidfile-fd */
	int dfd[TR_MAXD];           /* a pidfd on each */
	int nd;
};

/*
 * The suite's .fini after an abort: t_cur is the fx at the head of the
 * running test's struct tr. Its descendants are killed first, then the
 * engine part is cleaned up as in every suite.
 */
static void tr_abort_cleanup(void)
{
	struct tr *t = (struct tr *)t_cur;

	if (!t)
		return;
	for (int i = 0; i < t->nd; i++) {
		syscall(SYS_pidfd_send_signal, t->dfd[i], SIGKILL, NULL, 0);
		close(t->dfd[i]);
	}
	t->nd = 0;
	fx_abort_cleanup();
	/* Adopted orphans (subreaper tests) must not outlive the worker as zombies. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

TestSuite(tree, .fini = tr_abort_cleanup, .timeout = 60);
TestSuite(cgroup, .fini = tr_abort_cleanup, .timeout = 60);
TestSuite(subreaper, .fini = tr_abort_cleanup, .timeout = 60);

/* ---- fixture ---- */

/* The engine's instance directory: the one entry of the runtime base. */
static void tr_find_inst(struct tr *t)
{
	DIR *d = opendir(t->fx.dir);
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d, "opendir %s: %s", t->fx.dir, strerror(errno));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		t_fmt(t->inst, sizeof t->inst, "%s", de->d_name);
		n++;
	}
	closedir(d);
	cr_assert_eq(n, 1, "expected one instance directory in %s, found %d", t->fx.dir, n);
}

static int tr_new(struct tr *t, unsigned flags, const char *cg)
{
	struct pidring_opts o = { 0 };
	int r;

	memset(t, 0, sizeof *t);
	o.flags = flags;
	o.cgroup_dir = cg;
	r = fx_new(&t->fx, &o);
	t->cg = cg;
	return r;
}

static void tr_open(struct tr *t, unsigned flags, const char *cg)
{
	int r = tr_new(t, flags, cg);

	cr_assert_eq(r, 0, "pidring_new(flags=%#x, cgroup_dir=%s): %d (%s)", flags,
		     cg ? cg : "NULL", r, strerror(-r));
	cr_assert_not_null(t->fx.pr);
	tr_find_inst(t);
}

/* Forget the descendants (all checked dead by the test) and their pidfds. */
static void tr_drop_descendants(struct tr *t)
{
	for (int i = 0; i < t->nd; i++)
		close(t->dfd[i]);
	t->nd = 0;
}

/* Destroy the engine, then the rules: no child, no fd, nothing on disk. */
static void tr_close(struct tr *t)
{
	tr_drop_descendants(t);
	fx_close(&t->fx);
}

/* ---- descendants ---- */

/* 1 when the process behind pidfd has exited (zombie or reaped). */
static int tr_dead(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

/* /proc/<pid>/stat state letter, '-' when there is no such process. */
static char tr_state(pid_t pid)
{
	char path[64], line[512], *rp;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '-';
	n = read(fd, line, sizeof line - 1);
	close(fd);
	if (n <= 0)
		return '-';
	line[n] = '\0';
	rp = strrchr(line, ')');
	return rp && rp[1] == ' ' ? rp[2] : '?';
}

/*
 * Wait until every descendant has exited or ms passed; returns how many are
 * still alive and lists them (pid and /proc state) in buf.
 */
static int tr_wait_dead(struct tr *t, int ms, char *buf, size_t len)
{
	uint64_t end = th_now_ns() + (uint64_t)ms * 1000000u;
	int alive;

	for (;;) {
		alive = 0;
		for (int i = 0; i < t->nd; i++)
			alive += !tr_dead(t->dfd[i]);
		if (!alive || th_now_ns() >= end)
			break;
		usleep(2000);
	}
	if (len)
		buf[0] = '\0';
	for (int i = 0, pos = 0; i < t->nd && len; i++) {
		if (tr_dead(t->dfd[i]))
			continue;
		pos += snprintf(buf + pos, len - (size_t)pos, " %d(%c)", (int)t->dpid[i],
				tr_state(t->dpid[i]));
		if ((size_t)pos >= len)
			break;
	}
	return alive;
}

static void tr_expect_all_dead(struct tr *t, const char *what)
{
	char buf[1024];
	int alive = tr_wait_dead(t, TR_DEAD_MS, buf, sizeof buf);

	cr_expect_eq(alive, 0, "%s: %d of %d descendant(s) still alive after %d ms:%s",
		     what, alive, t->nd, TR_DEAD_MS, buf);
}

/* SIGKILL the descendants ourselves (those a mode documents as surviving). */
static void tr_kill_descendants(struct tr *t)
{
	for (int i = 0; i < t->nd; i++)
		syscall(SYS_pidfd_send_signal, t->dfd[i], SIGKILL, NULL, 0);
}

/*
 * Read a --pidfile-fd report ("<pid>\n"... "end\n") from fd until EOF, open a
 * pidfd on each pid (they sleep forever, so they are alive now) and record
 * them. Returns how many.
 */
static int tr_read_pidfile(struct tr *t, int fd)
{
	char buf[8192], *line, *save = NULL;
	int r = th_read_all(fd, buf, sizeof buf), n = 0;
	bool ended = false;

	cr_assert_gt(r, 0, "reading the pidfile: %d (%s)", r, r < 0 ? strerror(-r) : "EOF");
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		long v;
		char *end;

		cr_assert(!ended, "pidfile has lines after \"end\": %s", line);
		if (!strcmp(line, "end")) {
			ended = true;
			continue;
		}
		v = strtol(line, &end, 10);
		cr_assert(*line && !*end && v > 1, "bad pidfile line \"%s\"", line);
		cr_assert_lt(t->nd, TR_MAXD, "more than %d descendants", TR_MAXD);
		t->dpid[t->nd] = (pid_t)v;
		t->dfd[t->nd] = t_pidfd_open((pid_t)v);
		cr_assert_geq(t->dfd[t->nd], 0, "pidfd_open(%ld): %s (a descendant died early)",
			      v, strerror(errno));
		t->nd++;
		n++;
	}
	cr_assert(ended, "pidfile does not end with \"end\"");
	return n;
}

/* ---- spawning and events ---- */

static pidring_id tr_spawn(struct tr *t, char *const *argv, unsigned sflags, void *user)
{
	struct pidring_spawn s = t_spec(argv, user);
	pidring_id id = 0;
	int r;

	s.flags = sflags;
	r = pidring_spawn(t->fx.pr, &s, &id);
	cr_assert_eq(r, 0, "pidring_spawn: %d (%s)", r, strerror(-r));
	cr_assert_neq(id, 0);
	return id;
}

/*
 * Spawn a tree maker: argv must hold "--pidfile-fd", "5". Returns once every
 * descendant exists and has done its setup (setsid, SIGTERM disposition), and
 * checks there are `expect` of them.
 */
static pidring_id tr_spawn_tree(struct tr *t, char *const *argv, unsigned sflags,
				int expect)
{
	struct pidring_spawn s = t_spec(argv, NULL);
	struct pidring_fd_map map;
	pidring_id id = 0;
	int p[2], r, n;

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0, "pipe2: %s", strerror(errno));
	fx_own(&t->fx, p[0]);
	fx_own(&t->fx, p[1]);
	map.parent_fd = p[1];
	map.child_fd = 5;
	s.fds = &map;
	s.nfds = 1;
	s.flags = sflags;
	r = pidring_spawn(t->fx.pr, &s, &id);
	cr_assert_eq(r, 0, "pidring_spawn: %d (%s)", r, strerror(-r));
	fx_close_fd(&t->fx, p[1]);
	n = tr_read_pidfile(t, p[0]);
	fx_close_fd(&t->fx, p[0]);
	cr_assert_eq(n, expect, "%d descendants reported, expected %d", n, expect);
	return id;
}

/* The DONE of id (its READY, if it comes first, is checked and skipped). */
static struct pidring_event tr_done(struct tr *t, pidring_id id, int reason, int code,
				    int status)
{
	struct pidring_event ev = t_next(&t->fx, T_EV_MS);

	if (ev.type == PIDRING_EV_READY) {
		cr_assert_eq(ev.id, id, "READY of %#llx, expected %#llx",
			     (unsigned long long)ev.id, (unsigned long long)id);
		ev = t_next(&t->fx, T_EV_MS);
	}
	t_check_done(&ev, id, reason, code, status);
	cr_expect_eq(pidring_pid(t->fx.pr, id), -ESRCH);
	return ev;
}

/* Consume the READY that READY_EXEC queues at spawn. */
static void tr_ready(struct tr *t, pidring_id id)
{
	struct pidring_event ev = t_next(&t->fx, T_EV_MS);

	cr_assert_eq(ev.type, PIDRING_EV_READY, "expected READY, got type %d", ev.type);
	cr_assert_eq(ev.id, id);
}

/* ---- cgroup v2 discovery: th_cgroup_dir (helpers.c) ---- */

#define TR_NEED_CGROUP(var)                                                     \
	char var##_why[PATH_MAX + 128];                                         \
	const char *var = th_cgroup_dir(var##_why, sizeof var##_why);          \
	if (!var) {                                                             \
		cr_skip_test("no writable cgroup v2: %s", var##_why);           \
		return;                                                         \
	}

/* The cgroup directory of a proc: <cgroup_dir>/<instance>/<slot>.<gen>. */
static void tr_proc_cg_name(pidring_id id, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u", (unsigned)((uint32_t)id - 1), (unsigned)(id >> 32));
}

static void tr_proc_cg_path(const struct tr *t, pidring_id id, char *buf, size_t len)
{
	char name[32];

	tr_proc_cg_name(id, name, sizeof name);
	snprintf(buf, len, "%s/%s/%s", t->cg, t->inst, name);
}

static int tr_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/*
 * Entries of dir, listed in buf: with prefix, those whose name starts with
 * it; with dirs, the directories only (never "." or ".."). Returns how many.
 */
static int tr_list(const char *dir, const char *prefix, bool dirs, char *buf, size_t len)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	size_t pos = 0;
	int n = 0;

	if (len)
		buf[0] = '\0';
	cr_assert_not_null(d, "opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		if (prefix && strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		if (dirs && (de->d_type != DT_DIR || de->d_name[0] == '.'))
			continue;
		n++;
		if (pos + 1 < len)
			pos += (size_t)snprintf(buf + pos, len - pos, " %s", de->d_name);
		if (pos >= len)
			pos = len - 1;
	}
	closedir(d);
	return n;
}

/* Entries of dir whose name starts with "<our pid>-" (an engine instance of ours). */
static int tr_our_instances(const char *dir, char *buf, size_t len)
{
	char prefix[32];

	snprintf(prefix, sizeof prefix, "%d-", (int)getpid());
	return tr_list(dir, prefix, false, buf, len);
}

/* ---- group mode ---- */

/*
 * A three-level tree whose every node ignores SIGTERM: the cancel's SIGKILL
 * goes to the process group, which holds the whole tree.
 */
BOTH(tree, cancel_kills_term_ignoring_tree)
{
	static struct tr t;
	pidring_id id;

	tr_open(&t, flags, NULL);
	id = tr_spawn_tree(&t, ARGV("--fork-tree", "3,2", "--grandchild-ignore-term",
				       "--ignore-term", "--sleep-forever", "--pidfile-fd", "5"),
			   0, 2 + 4 + 8);
	for (int i = 0; i < t.nd; i++)
		cr_expect_eq(getpgid(t.dpid[i]), pidring_pid(t.fx.pr, id),
			     "descendant %d not in the proc's group", (int)t.dpid[i]);
	cr_assert_eq(pidring_cancel(t.fx.pr, id), 0);
	tr_done(&t, id, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	tr_expect_all_dead(&t, "after the cancel's DONE");
	tr_close(&t);
}

/* The same tree stopped with a short grace: SIGTERM is ignored, SIGKILL follows. */
BOTH(tree, stop_escalates_to_kill_on_tree)
{
	static struct tr t;
	pidring_id id;

	tr_open(&t, flags, NULL);
	id = tr_spawn_tree(&t, ARGV("--fork-tree", "2,2", "--grandchild-ignore-term",
				       "--ignore-term", "--sleep-forever", "--pidfile-fd", "5"),
			   0, 2 + 4);
	cr_assert_eq(pidring_stop(t.fx.pr, id, 100), 0);
	tr_done(&t, id, PIDRING_STOPPED, CLD_KILLED, SIGKILL);
	tr_expect_all_dead(&t, "after the stop's DONE");
	tr_close(&t);
}

/*
 * Grandchildren that setsid()'d have left the process group: group mode does
 * not reach them (documented). They are alive after the DONE; the test kills
 * them itself.
 */
BOTH(tree, setsid_grandchildren_survive_group_mode)
{
	static struct tr t;
	char buf[1024];
	pidring_id id;
	int alive;

	tr_open(&t, flags, NULL);
	id = tr_spawn_tree(&t, ARGV("--fork", "3", "--grandchild-setsid", "--sleep-forever",
				       "--pidfile-fd", "5"),
			   0, 3);
	for (int i = 0; i < t.nd; i++)
		cr_expect_eq(getsid(t.dpid[i]), t.dpid[i], "grandchild %d did not setsid",
			     (int)t.dpid[i]);
	cr_assert_eq(pidring_cancel(t.fx.pr, id), 0);
	tr_done(&t, id, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	/* Give a stray SIGKILL, had one been sent, time to land. */
	usleep(200 * 1000);
	alive = 0;
	for (int i = 0; i < t.nd; i++)
		alive += !tr_dead(t.dfd[i]);
	cr_expect_eq(alive, 3, "group mode reached %d setsid grandchild(ren)", 3 - alive);
	tr_kill_descendants(&t);
	alive = tr_wait_dead(&t, TR_DEAD_MS, buf, sizeof buf);
	cr_expect_eq(alive, 0, "our own SIGKILL left %d alive:%s", alive, buf);
	tr_close(&t);
}

/*
 * pidring_stop signals the whole group with SIGTERM: TERM-obeying
 * grandchildren die at once, not when the grace (2 s) runs out.
 */
BOTH(tree, stop_sends_sigterm_to_the_group)
{
	static struct tr t;
	struct pidring_event ev;
	char buf[1024];
	uint64_t t_stop, t_dead;
	pidring_id id;
	int alive;

	tr_open(&t, flags, NULL);
	id = tr_spawn_tree(&t, ARGV("--fork", "3", "--sleep-forever", "--pidfile-fd", "5"),
			   0, 3);
	tr_ready(&t, id);
	t_stop = th_now_ns();
	cr_assert_eq(pidring_stop(t.fx.pr, id, 2000), 0);
	ev = tr_done(&t, id, PIDRING_STOPPED, CLD_KILLED, SIGTERM);
	alive = tr_wait_dead(&t, TR_DEAD_MS, buf, sizeof buf);
	t_dead = th_now_ns();
	cr_expect_eq(alive, 0, "%d grandchild(ren) survived the stop:%s", alive, buf);
	/* Not a speed check: 1 s against a 2 s grace tells SIGTERM from the
	 * SIGKILL that would follow the grace. */
	cr_expect_lt(ev.done_ns - t_stop, 1000000000ull,
		     "DONE %llu ms after the stop: the grace ran out?",
		     (unsigned long long)((ev.done_ns - t_stop) / 1000000u));
	cr_expect_lt(t_dead - t_stop, 1000000000ull,
		     "grandchildren dead %llu ms after the stop: SIGTERM did not reach them",
		     (unsigned long long)((t_dead - t_stop) / 1000000u));
	tr_close(&t);
}

/*
 * PIDRING_SPAWN_KEEP_PGRP: the child stays in our process group, so a cancel
 * signals its pid only: a grandchild survives (and the test, in the same
 * group, obviously does too).
 */
BOTH(tree, keep_pgrp_cancel_kills_only_the_child)
{
	static struct tr t;
	char buf[1024];
	pidring_id id;
	int pid, alive;

	tr_open(&t, flags, NULL);
	id = tr_spawn_tree(&t, ARGV("--fork", "1", "--sleep-forever", "--pidfile-fd", "5"),
			   PIDRING_SPAWN_KEEP_PGRP, 1);
	pid = pidring_pid(t.fx.pr, id);
	cr_assert_gt(pid, 0);
	cr_expect_eq(getpgid(pid), getpgrp(), "child's pgid %d, ours %d", (int)getpgid(pid),
		     (int)getpgrp());
	cr_expect_eq(getsid(pid), getsid(0));
	cr_expect_eq(getpgid(t.dpid[0]), getpgrp());
	cr_assert_eq(pidring_cancel(t.fx.pr, id), 0);
	tr_done(&t, id, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	usleep(200 * 1000);
	cr_expect(!tr_dead(t.dfd[0]), "KEEP_PGRP: the grandchild was killed too (state %c)",
		  tr_state(t.dpid[0]));
	tr_kill_descendants(&t);
	alive = tr_wait_dead(&t, TR_DEAD_MS, buf, sizeof buf);
	cr_expect_eq(alive, 0, "our own SIGKILL left %d alive:%s", alive, buf);
	tr_close(&t);
}

/* Where each mode puts the child: its own group (default), its own session. */
BOTH(tree, group_and_session_placement)
{
	static struct tr t;
	pidring_id a, b;
	int pa, pb;

	tr_open(&t, flags, NULL);
	a = tr_spawn(&t, ARGV("--sleep-forever"), 0, NULL);
	b = tr_spawn(&t, ARGV("--sleep-forever"), PIDRING_SPAWN_SETSID, NULL);
	pa = pidring_pid(t.fx.pr, a);
	pb = pidring_pid(t.fx.pr, b);
	cr_assert(pa > 0 && pb > 0);
	cr_expect_eq(getpgid(pa), pa, "default: pgid %d, pid %d", (int)getpgid(pa), pa);
	cr_expect_eq(getsid(pa), getsid(0), "default: the child changed session");
	cr_expect_eq(getpgid(pb), pb, "SETSID: pgid %d, pid %d", (int)getpgid(pb), pb);
	cr_expect_eq(getsid(pb), pb, "SETSID: sid %d, pid %d", (int)getsid(pb), pb);
	/* SETSID together with KEEP_PGRP is a contradiction. */
	{
		struct pidring_spawn s = t_spec(ARGV("--sleep-forever"), NULL);
		pidring_id id = 0;

		s.flags = PIDRING_SPAWN_SETSID | PIDRING_SPAWN_KEEP_PGRP;
		cr_expect_eq(pidring_spawn(t.fx.pr, &s, &id), -EINVAL);
		cr_expect_eq(id, 0);
	}
	cr_assert_eq(pidring_cancel(t.fx.pr, a), 0);
	cr_assert_eq(pidring_cancel(t.fx.pr, b), 0);
	for (int i = 0; i < 4; i++) {
		struct pidring_event ev = t_next(&t.fx, T_EV_MS);

		cr_assert(ev.id == a || ev.id == b);
		if (ev.type == PIDRING_EV_DONE) {
			cr_expect_eq(ev.reason, PIDRING_CANCELLED);
			cr_expect_eq(ev.code, CLD_KILLED);
			cr_expect_eq(ev.status, SIGKILL);
		}
	}
	cr_expect_eq(pidring_live(t.fx.pr), 0u);
	tr_close(&t);
}

/* A SETSID proc leads its session's group: the cancel reaches its tree. */
BOTH(tree, setsid_proc_tree_is_killed)
{
	static struct tr t;
	pidring_id id;

	tr_open(&t, flags, NULL);
	id = tr_spawn_tree(&t, ARGV("--fork-tree", "2,2", "--grandchild-ignore-term",
				       "--sleep-forever", "--pidfile-fd", "5"),
			   PIDRING_SPAWN_SETSID, 2 + 4);
	cr_assert_eq(pidring_cancel(t.fx.pr, id), 0);
	tr_done(&t, id, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	tr_expect_all_dead(&t, "SETSID proc cancelled");
	tr_close(&t);
}

/* ---- cgroup mode ---- */

/*
 * The setsid grandchildren that group mode misses die in cgroup mode, and
 * the proc's cgroup is gone by its DONE; the engine's cgroup by destroy.
 */
BOTH(cgroup, setsid_grandchildren_die)
{
	TR_NEED_CGROUP(cg);
	static struct tr t;
	char path[PATH_MAX + 128], want[PATH_MAX + 128], got[PATH_MAX], buf[1024];
	pidring_id id;
	int n;

	n = tr_our_instances(cg, buf, sizeof buf);
	cr_assert_eq(n, 0, "instances of this process in %s before the test:%s", cg, buf);
	tr_open(&t, flags, cg);
	snprintf(path, sizeof path, "%s/%s", cg, t.inst);
	cr_expect(tr_exists(path), "the engine's cgroup %s does not exist", path);

	id = tr_spawn_tree(&t, ARGV("--fork", "3", "--grandchild-setsid", "--sleep-forever",
				       "--pidfile-fd", "5"),
			   0, 3);
	tr_proc_cg_path(&t, id, path, sizeof path);
	cr_expect(tr_exists(path), "the proc's cgroup %s does not exist", path);
	tr_proc_cg_name(id, buf, sizeof buf);
	t_fmt(want, sizeof want, "%s/%s/%s", strcmp(th_cgroup_self(), "/") ? th_cgroup_self() : "",
		 t.inst, buf);
	for (int i = 0; i < t.nd; i++) {
		cr_expect(th_proc_cgroup(t.dpid[i], got, sizeof got), "no cgroup for %d",
			  (int)t.dpid[i]);
		cr_expect_str_eq(got, want, "grandchild %d in %s, expected %s",
				 (int)t.dpid[i], got, want);
	}
	cr_assert_eq(pidring_cancel(t.fx.pr, id), 0);
	tr_done(&t, id, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	cr_expect(!tr_exists(path), "the proc's cgroup %s still exists after its DONE", path);
	tr_expect_all_dead(&t, "cgroup mode, setsid grandchildren");
	tr_close(&t);

	snprintf(path, sizeof path, "%s/%s", cg, t.inst);
	cr_expect(!tr_exists(path), "the engine's cgroup %s survived pidring_destroy", path);
	n = tr_our_instances(cg, buf, sizeof buf);
	cr_expect_eq(n, 0, "left in %s after pidring_destroy:%s", cg, buf);
}

/*
 * A plain child in cgroup mode exits with its own status; it ran in its own
 * cgroup, which is gone by its DONE.
 */
BOTH(cgroup, plain_child_exits)
{
	TR_NEED_CGROUP(cg);
	static struct tr t;
	char path[PATH_MAX + 128], want[PATH_MAX + 128], got[PATH_MAX], name[32];
	pidring_id id;
	int pid;

	tr_open(&t, flags, cg);
	/* Long enough to look at it; the check right below takes microseconds. */
	id = tr_spawn(&t, ARGV("--exit", "3", "--after-ms", "500"), 0, NULL);
	pid = pidring_pid(t.fx.pr, id);
	cr_assert_gt(pid, 0);
	tr_proc_cg_path(&t, id, path, sizeof path);
	tr_proc_cg_name(id, name, sizeof name);
	t_fmt(want, sizeof want, "%s/%s/%s", strcmp(th_cgroup_self(), "/") ? th_cgroup_self() : "",
		 t.inst, name);
	cr_assert(th_proc_cgroup(pid, got, sizeof got), "no /proc/%d/cgroup (exited already?)",
		  pid);
	cr_expect_str_eq(got, want, "child in %s, expected %s", got, want);
	cr_expect(tr_exists(path), "the proc's cgroup %s does not exist while it runs", path);
	tr_done(&t, id, PIDRING_EXITED, CLD_EXITED, 3);
	cr_expect(!tr_exists(path), "the proc's cgroup %s still exists after DONE", path);
	tr_close(&t);
}

/* How tr_cgroup_tree_dies ends the proc. */
enum tr_end { TR_END_CANCEL, TR_END_STOP, TR_END_EXIT };

/*
 * A tree from argv (with `expect` descendants) in cgroup mode under cg, ended
 * by a cancel, a stop with a 100 ms grace, or its own exit: its DONE has this
 * reason/code/status, the proc's cgroup is gone by then and every descendant
 * is dead (what names the case).
 */
static void tr_cgroup_tree_dies(unsigned flags, const char *cg, char *const *argv,
				int expect, enum tr_end end, int reason, int code, int status,
				const char *what)
{
	static struct tr t;
	char path[PATH_MAX + 128];
	pidring_id id;

	tr_open(&t, flags, cg);
	id = tr_spawn_tree(&t, argv, 0, expect);
	tr_proc_cg_path(&t, id, path, sizeof path);
	if (end == TR_END_CANCEL)
		cr_assert_eq(pidring_cancel(t.fx.pr, id), 0);
	else if (end == TR_END_STOP)
		cr_assert_eq(pidring_stop(t.fx.pr, id, 100), 0);
	tr_done(&t, id, reason, code, status);
	cr_expect(!tr_exists(path), "the proc's cgroup %s still exists after DONE", path);
	tr_expect_all_dead(&t, what);
	tr_close(&t);
}

/* A cgroup tree of setsid'd, TERM-ignoring nodes, cancelled: all of it dies. */
BOTH(cgroup, tree_cancelled)
{
	TR_NEED_CGROUP(cg);
	tr_cgroup_tree_dies(flags, cg, ARGV("--fork-tree", "2,3", "--grandchild-setsid",
					    "--grandchild-ignore-term", "--ignore-term",
					    "--sleep-forever", "--pidfile-fd", "5"),
			    3 + 9, TR_END_CANCEL, PIDRING_CANCELLED, CLD_KILLED, SIGKILL,
			    "cgroup tree cancelled");
}

/*
 * The leader exits on its own and leaves setsid'd grandchildren behind: the
 * cgroup cannot be removed while they live, so the engine kills them
 * (cgroup.kill) and waits for the cgroup to empty before the DONE.
 */
BOTH(cgroup, leader_exit_leaves_no_stragglers)
{
	TR_NEED_CGROUP(cg);
	tr_cgroup_tree_dies(flags, cg, ARGV("--fork", "3", "--grandchild-setsid",
					    "--grandchild-ignore-term", "--exit", "4",
					    "--after-ms", "50", "--pidfile-fd", "5"),
			    3, TR_END_EXIT, PIDRING_EXITED, CLD_EXITED, 4,
			    "leader exited in cgroup mode");
}

/* Stop in cgroup mode: SIGTERM to the group, then cgroup.kill after the grace. */
BOTH(cgroup, stop_kills_tree_after_grace)
{
	TR_NEED_CGROUP(cg);
	tr_cgroup_tree_dies(flags, cg, ARGV("--fork", "2", "--grandchild-setsid",
					    "--grandchild-ignore-term", "--ignore-term",
					    "--sleep-forever", "--pidfile-fd", "5"),
			    2, TR_END_STOP, PIDRING_STOPPED, CLD_KILLED, SIGKILL,
			    "stopped in cgroup mode");
}

/* Sub-cgroups (directories) left in the engine's cgroup; listed in buf. */
static int tr_sub_cgroups(const struct tr *t, char *buf, size_t len)
{
	char inst[PATH_MAX + 128];

	t_fmt(inst, sizeof inst, "%s/%s", t->cg, t->inst);
	return tr_list(inst, NULL, true, buf, len);
}

/* Several procs in cgroup mode, each its own cgroup, all removed. */
BOTH(cgroup, many_procs_each_own_cgroup)
{
	TR_NEED_CGROUP(cg);
	static struct tr t;
	char path[8][PATH_MAX + 128], buf[2048];
	pidring_id id[8];
	int done = 0, n;

	tr_open(&t, flags, cg);
	for (int i = 0; i < 8; i++) {
		id[i] = tr_spawn(&t, i % 2 ? ARGV("--sleep-forever")
					   : ARGV("--exit", "9", "--after-ms", "20"),
				 0, NULL);
		tr_proc_cg_path(&t, id[i], path[i], sizeof path[i]);
		for (int j = 0; j < i; j++)
			cr_expect_str_neq(path[i], path[j]);
	}
	for (int i = 1; i < 8; i += 2)
		cr_assert_eq(pidring_cancel(t.fx.pr, id[i]), 0);
	while (done < 8) {
		struct pidring_event ev = t_next(&t.fx, T_EV_MS);
		int k = -1;

		for (int i = 0; i < 8; i++)
			if (id[i] == ev.id)
				k = i;
		cr_assert_geq(k, 0, "event for an unknown id");
		if (ev.type != PIDRING_EV_DONE)
			continue;
		done++;
		if (k % 2) {
			cr_expect_eq(ev.reason, PIDRING_CANCELLED);
			cr_expect_eq(ev.code, CLD_KILLED);
		} else {
			cr_expect_eq(ev.reason, PIDRING_EXITED);
			cr_expect_eq(ev.code, CLD_EXITED);
			cr_expect_eq(ev.status, 9);
		}
		cr_expect(!tr_exists(path[k]), "%s still exists after DONE", path[k]);
	}
	n = tr_sub_cgroups(&t, buf, sizeof buf);
	cr_expect_eq(n, 0, "sub-cgroup(s) left after every DONE:%s", buf);
	tr_close(&t);
}

/* A spawn that fails after its cgroup was made (exec fails) removes it. */
BOTH(cgroup, failed_spawn_leaves_no_cgroup)
{
	TR_NEED_CGROUP(cg);
	static struct tr t;
	struct pidring_spawn s = t_spec(ARGV("--exit", "0"), NULL);
	char buf[1024];
	pidring_id id = 0;
	int r, n;

	tr_open(&t, flags, cg);
	s.path = "/nonexistent/pidring-child";
	r = pidring_spawn(t.fx.pr, &s, &id);
	cr_expect_eq(r, -ENOENT, "spawn of a missing program: %d (%s)", r, strerror(-r));
	cr_expect_eq(pidring_live(t.fx.pr), 0u);
	n = tr_sub_cgroups(&t, buf, sizeof buf);
	cr_expect_eq(n, 0, "sub-cgroup(s) left by a failed spawn:%s", buf);
	/* The slot is reused: the next proc gets the next generation's cgroup. */
	id = tr_spawn(&t, ARGV("--exit", "2"), 0, NULL);
	tr_done(&t, id, PIDRING_EXITED, CLD_EXITED, 2);
	n = tr_sub_cgroups(&t, buf, sizeof buf);
	cr_expect_eq(n, 0, "sub-cgroup(s) left after DONE:%s", buf);
	tr_close(&t);
}

/*
 * KEEP_PGRP in cgroup mode: the proc leads no group, but its cgroup holds its
 * tree, so the cancel still takes the grandchild; and cgroup.kill does not
 * reach us although we share the process group.
 */
BOTH(cgroup, keep_pgrp_tree_still_killed)
{
	TR_NEED_CGROUP(cg);
	static struct tr t;
	pidring_id id;
	int pid;

	tr_open(&t, flags, cg);
	id = tr_spawn_tree(&t, ARGV("--fork", "1", "--sleep-forever", "--pidfile-fd", "5"),
			   PIDRING_SPAWN_KEEP_PGRP, 1);
	pid = pidring_pid(t.fx.pr, id);
	cr_assert_gt(pid, 0);
	cr_expect_eq(getpgid(pid), getpgrp());
	cr_assert_eq(pidring_cancel(t.fx.pr, id), 0);
	tr_done(&t, id, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	tr_expect_all_dead(&t, "KEEP_PGRP in cgroup mode");
	tr_close(&t);
}

/*
 * cgroup_dir must be cgroup v2: anything else is refused at pidring_new and
 * nothing is left behind (no fd, no instance directory, nothing in the dir).
 */
BOTH(cgroup, bad_cgroup_dir_refused)
{
	static struct tr t;
	char tmp[] = "/tmp/pidring-cgtest.XXXXXX", missing[64], file[64], buf[1024];
	char v1[PATH_MAX], v1root[PATH_MAX];
	struct {
		const char *dir;
		int want;
	} cases[] = {
		{ tmp, -ENOTSUP },          /* a plain tmpfs/ext4 directory */
		{ "", -EINVAL },
		{ missing, -ENOENT },
		{ file, -ENOTDIR },
		{ NULL, 0 },                /* a cgroup v1 hierarchy, if mounted */
	};
	int r, fd;

	cr_assert_not_null(mkdtemp(tmp), "mkdtemp: %s", strerror(errno));
	snprintf(missing, sizeof missing, "%s/missing", tmp);
	snprintf(file, sizeof file, "%s.file", tmp);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0, "creating %s: %s", file, strerror(errno));
	close(fd);
	if (th_find_mount("cgroup", v1, sizeof v1, v1root, sizeof v1root)) {
		cases[4].dir = v1;
		cases[4].want = -ENOTSUP;
	}

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (!cases[i].dir)
			continue;
		r = tr_new(&t, flags, cases[i].dir);
		cr_expect_eq(r, cases[i].want, "cgroup_dir \"%s\": %d (%s), expected %d (%s)",
			     cases[i].dir, r, strerror(-r), cases[i].want,
			     strerror(-cases[i].want));
		cr_expect_null(t.fx.pr, "pidring_new failed but set *out");
		if (!r && t.fx.pr)
			pidring_destroy(t.fx.pr, 1000);
		t.fx.pr = NULL;
		th_leak_check(&t.fx.base, t.fx.dir);
		th_rmtree(t.fx.dir);
		free(t.fx.dir);
		t.fx.dir = NULL;
		t_cur = NULL;
		cr_expect_eq(th_dir_entries(tmp, buf, sizeof buf), 0,
			     "left in %s:\n%s", tmp, buf);
	}
	unlink(file);
	th_rmtree(tmp);
}

/* ---- subreaper ---- */

static int tr_subreaper(void)
{
	int v = -1;

	cr_assert_eq(prctl(PR_GET_CHILD_SUBREAPER, &v), 0);
	return v;
}

/*
 * Drive the engine (pidring_wait with a short timeout: it returns at once
 * when nothing is live, after handling what completed) until it has reaped
 * `want` orphans or ms passed. Events must not appear.
 */
static unsigned long tr_drive_orphans(struct tr *t, unsigned long want, int ms)
{
	uint64_t end = th_now_ns() + (uint64_t)ms * 1000000u;

	while (pidring_orphans(t->fx.pr) < want && th_now_ns() < end) {
		struct pidring_event ev;
		int r = pidring_wait(t->fx.pr, &ev, 1, 10);

		cr_assert(r == 0 || r == -EINTR, "unexpected pidring_wait -> %d (type %d)", r,
			  r > 0 ? (int)ev.type : 0);
		usleep(1000);
	}
	return pidring_orphans(t->fx.pr);
}

/*
 * The group kill takes the grandchildren with the runner; they are
 * reparented to us (the subreaper) and the engine must reap them.
 *
 * Without WAITID there is no ring peek: a grandchild hit by the same group
 * SIGKILL may become our zombie only after the runner's DONE, so a sweep
 * right after a DONE is not enough (this variant failed ~5-10% of runs at
 * -j4 before pidring_wait and pidring_destroy swept too).
 */
BOTH(subreaper, reaps_killed_grandchildren)
{
	static struct tr t;
	unsigned long got;
	pidring_id id;

	cr_assert_eq(tr_subreaper(), 0, "the worker is a subreaper already");
	tr_open(&t, flags | PIDRING_F_SUBREAPER, NULL);
	cr_expect_eq(tr_subreaper(), 1, "pidring_new did not make us a subreaper");
	cr_expect_eq(pidring_orphans(t.fx.pr), 0ul);
	id = tr_spawn_tree(&t, ARGV("--fork", "3", "--sleep-forever", "--pidfile-fd", "5"),
			   0, 3);
	cr_assert_eq(pidring_cancel(t.fx.pr, id), 0);
	tr_done(&t, id, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	tr_expect_all_dead(&t, "subreaper, group cancelled");
	got = tr_drive_orphans(&t, 3, TR_DEAD_MS);
	cr_expect_eq(got, 3ul, "pidring_orphans: %lu, expected 3 (zombie children now: %d)",
		     got, th_zombie_children());
	tr_close(&t);
	cr_expect_eq(tr_subreaper(), 0, "pidring_destroy did not undo PR_SET_CHILD_SUBREAPER");
}

/*
 * Orphans that die after their parent proc is DONE (it exited on its own and
 * left them running) are reaped too, whenever they die.
 *
 * The _fallback variant failed every run while the fallback swept only right
 * after a DONE: orphans exiting after the last DONE stayed zombies (neither
 * pidring_wait nor pidring_destroy swept).
 */
BOTH(subreaper, reaps_orphans_that_die_later)
{
	static struct tr t;
	unsigned long got;
	pid_t ppid;
	pidring_id id;

	tr_open(&t, flags | PIDRING_F_SUBREAPER, NULL);
	id = tr_spawn_tree(&t, ARGV("--fork", "2", "--exit", "6", "--after-ms", "30",
				       "--pidfile-fd", "5"),
			   0, 2);
	tr_done(&t, id, PIDRING_EXITED, CLD_EXITED, 6);
	for (int i = 0; i < t.nd; i++) {
		char path[64], line[512], *rp;
		FILE *f;

		cr_expect(!tr_dead(t.dfd[i]), "orphan %d died with its parent", (int)t.dpid[i]);
		snprintf(path, sizeof path, "/proc/%d/stat", (int)t.dpid[i]);
		f = fopen(path, "re");
		cr_assert_not_null(f);
		cr_assert_not_null(fgets(line, sizeof line, f));
		fclose(f);
		rp = strrchr(line, ')');
		cr_assert(rp && sscanf(rp + 2, "%*c %d", &ppid) == 1);
		cr_expect_eq(ppid, getpid(), "orphan %d adopted by %d, not by us (%d)",
			     (int)t.dpid[i], (int)ppid, (int)getpid());
	}
	cr_expect_eq(pidring_orphans(t.fx.pr), 0ul);
	/* Now they die, with no proc live in the engine. */
	tr_kill_descendants(&t);
	tr_expect_all_dead(&t, "orphans killed by the test");
	got = tr_drive_orphans(&t, 2, TR_DEAD_MS);
	cr_expect_eq(got, 2ul, "pidring_orphans: %lu, expected 2 (zombie children now: %d)",
		     got, th_zombie_children());
	tr_close(&t);
}

/*
 * The orphan reaper must never consume a tracked child's status: while it is
 * busy reaping orphans, 20 children that exit with distinct codes all get
 * their own status in their DONE. Three rounds.
 */
BOTH(subreaper, never_steals_a_tracked_status)
{
	static struct tr t;
	unsigned seed = (unsigned)th_now_ns();
	unsigned long want_orphans = 0;

	tr_open(&t, flags | PIDRING_F_SUBREAPER, NULL);
	for (int round = 0; round < 3; round++) {
		char codes[20][8], delays[20][8];
		pidring_id id[20], maker;
		int done = 0, ready = 0;

		/* An orphan maker, cancelled in the middle of the 20 exits. */
		maker = tr_spawn_tree(&t, ARGV("--fork", "3", "--sleep-forever",
						  "--pidfile-fd", "5"),
				      0, 3);
		for (int i = 0; i < 20; i++) {
			snprintf(codes[i], sizeof codes[i], "%d", round * 20 + i + 1);
			snprintf(delays[i], sizeof delays[i], "%d", (int)(rand_r(&seed) % 21));
			id[i] = tr_spawn(&t, ARGV("--exit", codes[i], "--after-ms", delays[i]),
					 0, (void *)(intptr_t)(i + 1));
			if (i == 10)
				cr_assert_eq(pidring_cancel(t.fx.pr, maker), 0);
		}
		want_orphans += 3;
		while (done < 21) {
			struct pidring_event ev = t_next(&t.fx, T_EV_MS);

			if (ev.type == PIDRING_EV_READY) {
				ready++;
				continue;
			}
			cr_assert_eq(ev.type, PIDRING_EV_DONE);
			done++;
			if (ev.id == maker) {
				cr_expect_eq(ev.reason, PIDRING_CANCELLED);
				cr_expect_eq(ev.code, CLD_KILLED);
				cr_expect_eq(ev.status, SIGKILL);
				continue;
			}
			{
				int i = (int)(intptr_t)ev.user - 1;

				cr_assert(i >= 0 && i < 20 && ev.id == id[i],
					  "DONE with a foreign user pointer");
				cr_expect_eq(ev.reason, PIDRING_EXITED, "child %d: reason %d", i,
					     ev.reason);
				cr_expect_eq(ev.code, CLD_EXITED,
					     "child %d (seed %u): code %d status %d: status stolen?",
					     i, seed, ev.code, ev.status);
				cr_expect_eq(ev.status, round * 20 + i + 1,
					     "child %d: status %d, expected %d", i, ev.status,
					     round * 20 + i + 1);
			}
		}
		cr_expect_eq(ready, 21);
		tr_expect_all_dead(&t, "orphan maker's grandchildren");
		tr_drop_descendants(&t);
		cr_expect_eq(tr_drive_orphans(&t, want_orphans, TR_DEAD_MS), want_orphans,
			     "round %d: orphans %lu, expected %lu", round,
			     pidring_orphans(t.fx.pr), want_orphans);
	}
	tr_close(&t);
}

/* A subreaper engine with no orphans at all: nothing reaped, nothing broken. */
BOTH(subreaper, no_orphans_plain_children)
{
	static struct tr t;
	pidring_id a, b;

	tr_open(&t, flags | PIDRING_F_SUBREAPER, NULL);
	a = tr_spawn(&t, ARGV("--exit", "11"), 0, NULL);
	tr_done(&t, a, PIDRING_EXITED, CLD_EXITED, 11);
	b = tr_spawn(&t, ARGV("--sleep-forever"), 0, NULL);
	tr_ready(&t, b);
	cr_assert_eq(pidring_cancel(t.fx.pr, b), 0);
	tr_done(&t, b, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	cr_expect_eq(pidring_orphans(t.fx.pr), 0ul);
	tr_close(&t);
}

/* Subreaper and cgroup mode together: setsid orphans are killed and reaped. */
BOTH(subreaper, with_cgroup_mode)
{
	TR_NEED_CGROUP(cg);
	static struct tr t;
	pidring_id id;

	tr_open(&t, flags | PIDRING_F_SUBREAPER, cg);
	id = tr_spawn_tree(&t, ARGV("--fork", "3", "--grandchild-setsid", "--sleep-forever",
				       "--pidfile-fd", "5"),
			   0, 3);
	cr_assert_eq(pidring_cancel(t.fx.pr, id), 0);
	tr_done(&t, id, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	tr_expect_all_dead(&t, "subreaper + cgroup");
	cr_expect_eq(tr_drive_orphans(&t, 3, TR_DEAD_MS), 3ul,
		     "pidring_orphans: %lu, expected 3", pidring_orphans(t.fx.pr));
	tr_close(&t);
}

/*
 * Engine death in cgroup mode: a process holding an engine whose proc has
 * setsid'd grandchildren is SIGKILLed. The proc dies by PDEATHSIG, the
 * grandchildren (out of its group) live on in its cgroup; the next engine
 * made under the same cgroup dir kills them through cgroup.kill and removes
 * the dead engine's cgroups, and its runtime sweep removes the instance
 * directory.
 */
static void dead_engine_swept_body(unsigned flags);
Test(cgroup, dead_engine_swept) { dead_engine_swept_body(0); }
static void dead_engine_swept_body(unsigned flags)
{
	TR_NEED_CGROUP(cg);
	static struct tr t;
	char prefix[32], buf[1024];
	int p[2], st, alive;
	pid_t helper;

	tr_open(&t, flags, cg);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	helper = fork();
	cr_assert_geq(helper, 0);
	if (helper == 0) {
		/* The helper: an engine of its own, one proc, then wait to die. */
		struct pidring_opts o = { .runtime_dir = t.fx.dir, .flags = flags,
					  .cgroup_dir = cg };
		struct pidring_fd_map m = { p[1], 5 };
		char *const argv[] = { "pidring-child", "--fork", "2", "--grandchild-setsid",
				       "--sleep-forever", "--pidfile-fd", "5", NULL };
		struct pidring_spawn s = { .path = th_child_path(), .argv = argv,
					   .fds = &m, .nfds = 1 };
		struct pidring *pr;
		pidring_id id;

		close(p[0]);
		if (pidring_new(&pr, &o) < 0 || pidring_spawn(pr, &s, &id) < 0)
			_exit(1);
		close(p[1]);
		for (;;)
			pause();
	}
	close(p[1]);
	tr_read_pidfile(&t, p[0]);
	close(p[0]);
	cr_assert_eq(t.nd, 2, "descendants: %d", t.nd);

	cr_assert_eq(kill(helper, SIGKILL), 0);
	cr_assert_eq(waitpid(helper, &st, 0), helper);
	snprintf(prefix, sizeof prefix, "%d-", (int)helper);
	{
		DIR *d = opendir(cg);
		struct dirent *de;
		int n = 0;

		cr_assert_not_null(d);
		while ((de = readdir(d)))
			n += !strncmp(de->d_name, prefix, strlen(prefix));
		closedir(d);
		cr_assert_eq(n, 1, "the dead engine's cgroup %s* is not there", prefix);
	}
	/* (The setsid'd grandchildren outlive their engine; any engine made
	 * under this cgroup dir now sweeps them — a test running beside this
	 * one may be first, so only the outcome is checked.) */

	/* A new engine under the same cgroup dir and runtime base sweeps them. */
	{
		struct pidring_opts o = { .runtime_dir = t.fx.dir, .flags = flags, .cgroup_dir = cg };
		struct pidring *pr2 = NULL;
		DIR *d;
		struct dirent *de;
		int n = 0;

		cr_assert_eq(pidring_new(&pr2, &o), 0);
		d = opendir(cg);
		cr_assert_not_null(d);
		while ((de = readdir(d)))
			n += !strncmp(de->d_name, prefix, strlen(prefix));
		closedir(d);
		cr_expect_eq(n, 0, "the dead engine's cgroup %s* survived the sweep", prefix);
		cr_assert_eq(pidring_destroy(pr2, 2000), 0);
	}
	alive = tr_wait_dead(&t, TR_DEAD_MS, buf, sizeof buf);
	cr_expect_eq(alive, 0, "grandchildren alive after the sweep:%s", buf);
	tr_close(&t);
}
