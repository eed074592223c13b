/* SPDX-License-Identifier: MIT */
/*
 * Spawning: exit statuses, exec failures, what a child inherits (fds, env,
 * signal state, process group) and the argument checks of the API.
 */
#include "test_util.h"

#include <sys/stat.h>

TestSuite(spawn, .fini = fx_abort_cleanup, .timeout = 30);
TestSuite(errors, .fini = fx_abort_cleanup, .timeout = 30);
TestSuite(inherit, .fini = fx_abort_cleanup, .timeout = 30);

/* ---- exit statuses ---- */

BOTH(spawn, exit0_ready_then_done)
{
	static struct fx f;
	struct pidring_event ev[8];
	int marker, pid, n;
	uint64_t t0, t1, t2;
	pidring_id id;

	fx_open(&f, flags);
	t0 = th_now_ns();
	id = t_spawn(&f, ARGV0, &marker);
	t1 = th_now_ns();
	pid = pidring_pid(f.pr, id);
	cr_assert_gt(pid, 0, "pidring_pid: %d", pid);
	cr_expect_eq(pidring_live(f.pr), 1u);

	n = th_drain(f.pr, ev, 8, T_DRAIN_MS);
	t2 = th_now_ns();
	cr_assert_eq(n, 2, "expected READY + DONE, got %d event(s)", n);

	cr_expect_eq(ev[0].type, PIDRING_EV_READY);
	cr_expect_eq(ev[0].id, id);
	cr_expect_eq(ev[0].pid, pid);
	cr_expect_eq(ev[0].user, &marker);
	cr_expect_eq(ev[0].reason, 0);
	cr_expect_eq(ev[0].code, 0);
	cr_expect_eq(ev[0].status, 0);
	cr_expect(ev[0].spawn_ns >= t0 && ev[0].spawn_ns <= t1, "spawn_ns outside the call");
	cr_expect(ev[0].ready_ns >= ev[0].spawn_ns && ev[0].ready_ns <= t1,
		  "READY_EXEC ready_ns must be within the spawn call");
	cr_expect_eq(ev[0].done_ns, 0);

	cr_expect_eq(ev[1].type, PIDRING_EV_DONE);
	cr_expect_eq(ev[1].id, id);
	cr_expect_eq(ev[1].pid, pid);
	cr_expect_eq(ev[1].user, &marker);
	cr_expect_eq(ev[1].reason, PIDRING_EXITED);
	cr_expect_eq(ev[1].code, CLD_EXITED);
	cr_expect_eq(ev[1].status, 0);
	cr_expect_eq(ev[1].spawn_ns, ev[0].spawn_ns);
	cr_expect_eq(ev[1].ready_ns, ev[0].ready_ns);
	cr_expect(ev[1].done_ns >= ev[1].ready_ns && ev[1].done_ns <= t2,
		  "done_ns out of order");

	cr_expect_eq(pidring_live(f.pr), 0u);
	t_expect_gone(&f, id);
	t_expect_quiet(&f, 100);
	fx_close(&f);
}

BOTH(spawn, exit_status_and_signal)
{
	const struct {
		char *const *argv;
		int code, alt_code, status;
	} cases[] = {
		{ ARGV("--exit", "7"), CLD_EXITED, CLD_EXITED, 7 },
		{ ARGV("--exit", "255", "--after-ms", "30"), CLD_EXITED, CLD_EXITED, 255 },
		{ ARGV("--signal", "11"), CLD_KILLED, CLD_DUMPED, SIGSEGV },
		{ ARGV("--signal", "15", "--after-ms", "20"), CLD_KILLED, CLD_KILLED, SIGTERM },
	};
	static struct fx f;

	fx_open(&f, flags);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		pidring_id id = t_spawn(&f, cases[i].argv, (void *)(uintptr_t)(i + 1));
		struct pidring_event ev;

		t_expect_ready(&f, id, (void *)(uintptr_t)(i + 1));
		ev = t_next(&f, T_EV_MS);
		cr_assert_eq(ev.type, PIDRING_EV_DONE, "case %zu", i);
		cr_expect_eq(ev.id, id, "case %zu", i);
		cr_expect_eq(ev.reason, PIDRING_EXITED, "case %zu: reason %d", i, ev.reason);
		cr_expect(ev.code == cases[i].code || ev.code == cases[i].alt_code,
			  "case %zu (%s): code %d, expected %d or %d", i, cases[i].argv[1],
			  ev.code, cases[i].code, cases[i].alt_code);
		cr_expect_eq(ev.status, cases[i].status, "case %zu: status %d, expected %d",
			     i, ev.status, cases[i].status);
		t_expect_gone(&f, id);
	}
	cr_expect_eq(pidring_live(f.pr), 0u);
	fx_close(&f);
}

/* ---- exec failures ---- */

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	cr_assert_geq(fd, 0, "creating %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cr_assert_eq(chmod(path, mode), 0);
}

BOTH(spawn, exec_failures)
{
	char *scratch = th_mkdtemp();
	char noexec[256], garbage[256], missing_dir[256], file_cwd[256];
	static struct fx f;
	int fds_after_new;
	struct {
		const char *what, *path, *cwd;
		int err;
	} cases[6];
	size_t nc = 0;

	snprintf(noexec, sizeof noexec, "%s/noexec.sh", scratch);
	snprintf(garbage, sizeof garbage, "%s/garbage", scratch);
	snprintf(missing_dir, sizeof missing_dir, "%s/no-such-dir", scratch);
	snprintf(file_cwd, sizeof file_cwd, "%s/noexec.sh", scratch);
	write_file(noexec, "#!/bin/sh\nexit 0\n", 0644);
	write_file(garbage, "\x01\x02\x03 not an executable format\n", 0755);

	cases[nc++] = (typeof(cases[0])){ "nonexistent path", "/nonexistent-pidring/child",
					  NULL, -ENOENT };
	cases[nc++] = (typeof(cases[0])){ "non-executable file", noexec, NULL, -EACCES };
	cases[nc++] = (typeof(cases[0])){ "directory as path", scratch, NULL, -EACCES };
	cases[nc++] = (typeof(cases[0])){ "missing cwd", NULL, missing_dir, -ENOENT };
	cases[nc++] = (typeof(cases[0])){ "unknown binary format", garbage, NULL, -ENOEXEC };
	cases[nc++] = (typeof(cases[0])){ "cwd is a file", NULL, file_cwd, -ENOTDIR };

	fx_open(&f, flags);
	fds_after_new = th_fd_count();
	for (size_t i = 0; i < nc; i++) {
		struct pidring_spawn s = t_spec(ARGV0, NULL);
		pidring_id id = 0;
		int r;

		if (cases[i].path)
			s.path = cases[i].path;
		s.cwd = cases[i].cwd;
		r = pidring_spawn(f.pr, &s, &id);
		cr_expect_eq(r, cases[i].err, "%s: pidring_spawn -> %d (%s), expected %d (%s)",
			     cases[i].what, r, strerror(-r), cases[i].err,
			     strerror(-cases[i].err));
		cr_expect_eq(pidring_live(f.pr), 0u, "%s: live after a failed spawn",
			     cases[i].what);
		t_expect_quiet(&f, 100);
		cr_expect_eq(th_children(NULL, 0), 0, "%s: the failed child was not reaped",
			     cases[i].what);
		cr_expect_eq(th_fd_count(), fds_after_new, "%s: fds leaked by a failed spawn",
			     cases[i].what);
	}

	/* A failed spawn with a mapped pipe: the dead child's copy is gone too,
	 * so once we drop ours the reader sees EOF at once. */
	{
		struct pidring_spawn s = t_spec(ARGV0, NULL);
		struct pidring_fd_map map;
		char buf[16];
		int p[2];

		t_pipe(&f, p);
		map = (struct pidring_fd_map){ p[1], 5 };
		s.path = "/nonexistent-pidring/child";
		s.fds = &map;
		s.nfds = 1;
		cr_expect_eq(pidring_spawn(f.pr, &s, NULL), -ENOENT);
		fx_close_fd(&f, p[1]);
		cr_expect_eq(th_read_all(p[0], buf, sizeof buf), 0,
			     "the pipe's write end outlived the failed spawn");
		fx_close_fd(&f, p[0]);
		cr_expect_eq(th_children(NULL, 0), 0);
	}

	/* The engine is intact: a good spawn still works, exactly once. */
	{
		pidring_id id = t_spawn(&f, ARGV0, NULL);

		t_expect_ready(&f, id, NULL);
		t_expect_done(&f, id, T_EV_MS, PIDRING_EXITED, CLD_EXITED, 0);
		t_expect_quiet(&f, 0);
	}
	fx_close(&f);
	th_rmtree(scratch);
	free(scratch);
}

/* ---- API argument checks ---- */

/* Each bad spawn: exactly err, and nothing happened. */
static void bad_spawn(struct fx *f, const char *what, const struct pidring_spawn *s,
		      int err, int fds_before)
{
	pidring_id id = 0;
	int r = pidring_spawn(f->pr, s, &id);

	cr_expect_eq(r, err, "%s: pidring_spawn -> %d (%s), expected %d (%s)", what, r,
		     strerror(-r), err, strerror(-err));
	cr_expect_eq(pidring_live(f->pr), 0u, "%s: live", what);
	cr_expect_eq(th_children(NULL, 0), 0, "%s: a child exists", what);
	cr_expect_eq(th_fd_count(), fds_before, "%s: fd count changed", what);
}

BOTH(errors, bad_arguments)
{
	struct pidring_event ev[2];
	struct pidring_fd_map map[2];
	struct pidring_spawn s;
	static struct fx f;
	int closed_fd, fds_before;

	fx_open(&f, flags);
	fds_before = th_fd_count();

	/* An fd number that is certainly not open. */
	closed_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(closed_fd, 0);
	close(closed_fd);

	bad_spawn(&f, "NULL spec", NULL, -EINVAL, fds_before);
	s = t_spec(ARGV0, NULL);
	s.path = NULL;
	bad_spawn(&f, "NULL path", &s, -EINVAL, fds_before);
	s = t_spec(NULL, NULL);
	bad_spawn(&f, "NULL argv", &s, -EINVAL, fds_before);
	s = t_spec((char *const[]){ NULL }, NULL);
	bad_spawn(&f, "empty argv", &s, -EINVAL, fds_before);

	s = t_spec(ARGV0, NULL);
	/* Bits far above any defined flag (more flags are being added). */
	s.flags = 1u << 20;
	bad_spawn(&f, "unknown spawn flag 1<<20", &s, -EINVAL, fds_before);
	s.flags = 1u << 31;
	bad_spawn(&f, "unknown spawn flag 1<<31", &s, -EINVAL, fds_before);
	s.flags = PIDRING_SPAWN_SETSID | PIDRING_SPAWN_KEEP_PGRP;
	bad_spawn(&f, "SETSID|KEEP_PGRP", &s, -EINVAL, fds_before);

	s = t_spec(ARGV0, NULL);
	s.ready = (enum pidring_ready)(PIDRING_READY_NOTIFY + 1);
	bad_spawn(&f, "ready mode NOTIFY+1", &s, -EINVAL, fds_before);
	s.ready = (enum pidring_ready)-1;
	bad_spawn(&f, "ready mode -1", &s, -EINVAL, fds_before);

	s = t_spec(ARGV0, NULL);
	map[0] = (struct pidring_fd_map){ closed_fd, 5 };
	s.fds = map;
	s.nfds = 1;
	bad_spawn(&f, "closed parent fd", &s, -EBADF, fds_before);
	map[0] = (struct pidring_fd_map){ -1, 5 };
	bad_spawn(&f, "negative parent fd", &s, -EBADF, fds_before);
	map[0] = (struct pidring_fd_map){ 0, -1 };
	bad_spawn(&f, "negative child fd", &s, -EINVAL, fds_before);
	map[0] = (struct pidring_fd_map){ 0, 5 };
	map[1] = (struct pidring_fd_map){ 1, 5 };
	s.nfds = 2;
	bad_spawn(&f, "duplicate child fd", &s, -EINVAL, fds_before);
	s.fds = NULL;
	s.nfds = 1;
	bad_spawn(&f, "nfds > 0 with fds NULL", &s, -EINVAL, fds_before);

	cr_expect_eq(pidring_wait(f.pr, NULL, 1, 0), -EINVAL, "wait with ev NULL");
	cr_expect_eq(pidring_wait(f.pr, ev, 0, 0), -EINVAL, "wait with max 0");
	cr_expect_eq(pidring_wait(f.pr, NULL, 0, -1), -EINVAL, "wait with both");
	cr_expect_eq(pidring_wait(NULL, ev, 1, 0), -EINVAL, "wait with pr NULL");
	cr_expect_eq(pidring_cancel(f.pr, 0), -ESRCH);
	cr_expect_eq(pidring_stop(f.pr, 0, 0), -ESRCH);
	cr_expect_eq(pidring_pid(f.pr, 0), -ESRCH);

	/* Still fully working after all that. */
	{
		pidring_id id = t_spawn(&f, ARGV("--exit", "3"), NULL);

		t_expect_ready(&f, id, NULL);
		t_expect_done(&f, id, T_EV_MS, PIDRING_EXITED, CLD_EXITED, 3);
	}
	t_expect_quiet(&f, 0);
	fx_close(&f);
}

Test(errors, new_and_destroy_arguments)
{
	struct th_baseline base;
	char *dir = th_mkdtemp();
	struct pidring_opts o = { .runtime_dir = dir };
	struct pidring *pr = (struct pidring *)&o;   /* must be reset to NULL */
	int r;

	th_baseline_take(&base);
	/* Bits far above any defined flag (more flags are being added). */
	o.flags = 1u << 31;
	r = pidring_new(&pr, &o);
	cr_expect_eq(r, -EINVAL, "unknown flag 1<<31: %d", r);
	cr_expect_null(pr, "*out must be NULL after a failure");
	if (r == 0)
		pidring_destroy(pr, 1000);
	o.flags = PIDRING_F_NO_WAITID | (1u << 20);
	cr_expect_eq(pidring_new(&pr, &o), -EINVAL, "unknown flag 1<<20 with NO_WAITID");
	o.flags = 0;
	o.ring_entries = 1;
	cr_expect_eq(pidring_new(&pr, &o), -EINVAL, "ring_entries 1");
	o.ring_entries = 1u << 20;
	cr_expect_eq(pidring_new(&pr, &o), -EINVAL, "ring_entries 1<<20");
	o.ring_entries = 0;
	o.max_procs = (1u << 24) + 1;
	cr_expect_eq(pidring_new(&pr, &o), -EINVAL, "max_procs (1<<24)+1");
	cr_expect_eq(pidring_new(NULL, &o), -EINVAL, "out NULL");

	cr_expect_eq(pidring_destroy(NULL, 0), 0);
	cr_expect_eq(pidring_destroy(NULL, -1), 0);
	cr_expect_eq(pidring_live(NULL), 0u);
	cr_expect_eq(pidring_fd(NULL), -EINVAL);

	th_leak_check(&base, dir);
	th_rmtree(dir);
	free(dir);
}

/* ---- what a child inherits ---- */

static int pick_free_fd(int lo, int hi)
{
	for (int fd = lo; fd <= hi; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			return fd;
	return -1;
}

struct report {
	int fds[64];
	int nfds;
	char *env[64];
	int nenv;
	int ended;
};

/* Parse a pidring-child --report-fd text in place. */
static void parse_report(char *text, struct report *rep)
{
	char *save = NULL;

	memset(rep, 0, sizeof *rep);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		cr_assert(!rep->ended, "line after \"end\": %s", line);
		if (!strncmp(line, "fd ", 3)) {
			cr_assert_lt(rep->nfds, 64);
			rep->fds[rep->nfds++] = atoi(line + 3);
		} else if (!strncmp(line, "env ", 4)) {
			cr_assert_lt(rep->nenv, 64);
			rep->env[rep->nenv++] = line + 4;
		} else if (!strcmp(line, "end")) {
			rep->ended = 1;
		} else {
			cr_assert_fail("unexpected report line: %s", line);
		}
	}
	cr_assert(rep->ended, "report has no \"end\" line");
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* The reported fd set must be exactly want[] (any order). */
static void expect_fd_set(const char *what, struct report *rep, int *want, int nwant)
{
	char got[256] = "", exp[256] = "";
	size_t gp = 0, ep = 0;
	int same = rep->nfds == nwant;

	qsort(rep->fds, (size_t)rep->nfds, sizeof(int), cmp_int);
	qsort(want, (size_t)nwant, sizeof(int), cmp_int);
	for (int i = 0; i < rep->nfds; i++)
		gp += (size_t)snprintf(got + gp, sizeof got - gp, " %d", rep->fds[i]);
	for (int i = 0; i < nwant; i++) {
		ep += (size_t)snprintf(exp + ep, sizeof exp - ep, " %d", want[i]);
		if (same && rep->fds[i] != want[i])
			same = 0;
	}
	cr_expect(same, "%s: child fds {%s }, expected exactly {%s }", what, got, exp);
}

static void expect_env(const char *what, const struct report *rep, char *const *envp)
{
	int n = 0;

	while (envp[n])
		n++;
	cr_expect_eq(rep->nenv, n, "%s: %d env entries, expected %d", what, rep->nenv, n);
	for (int i = 0; i < n && i < rep->nenv; i++)
		cr_expect_str_eq(rep->env[i], envp[i], "%s: env[%d]", what, i);
}

/* Read one pipe to EOF, expecting the whole text to be a report. */
static void read_report(int fd, char *buf, size_t len, struct report *rep)
{
	int r = th_read_all(fd, buf, len);

	cr_assert_gt(r, 0, "reading the report: %d", r);
	parse_report(buf, rep);
}

static void expect_exit0(struct fx *f, pidring_id id)
{
	t_expect_ready(f, id, NULL);
	t_expect_done(f, id, T_EV_MS, PIDRING_EXITED, CLD_EXITED, 0);
}

/* Is fd open without FD_CLOEXEC (so only the engine's close keeps it from a child)? */
static int inheritable(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && !(fl & FD_CLOEXEC);
}

BOTH(inherit, fd_map_and_env)
{
	static char *const envp[] = { "A=1", "PIDRING_X=with spaces and = signs", "EMPTY=",
				      "Z=last", NULL };
	/* Targets lo and hi; strays below lo, in the gap between them and above. */
	static const struct { int lo, hi; } cfg[] = { { 5, 9 }, { 40, 49 } };
	static struct fx f;

	fx_open(&f, flags);
	for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
		struct pidring_fd_map map[2];
		struct pidring_spawn s;
		struct report rep;
		char buf[8192], arg[16], what[32];
		int rp[2], op[2], stray, gap, want[5], r, strays_below = 0, strays_gap = 0;
		pidring_id id;

		snprintf(what, sizeof what, "targets %d and %d", cfg[c].lo, cfg[c].hi);
		/* Strays, not CLOEXEC: one far above the targets, one in the gap
		 * when a number there is free (else whatever is open there is one). */
		stray = fx_own(&f, open("/dev/null", O_RDONLY));
		fx_own(&f, fcntl(stray, F_DUPFD, 200));
		gap = pick_free_fd(cfg[c].lo + 1, cfg[c].hi - 1);
		if (gap >= 0) {
			cr_assert_eq(dup2(stray, gap), gap);
			fx_own(&f, gap);
		}
		t_pipe(&f, rp);                 /* CLOEXEC: mapping must clear it */
		cr_assert_eq(pipe(op), 0);      /* not CLOEXEC: its read end is a stray */
		fx_own(&f, op[0]);
		fx_own(&f, op[1]);
		for (int fd = 3; fd < cfg[c].lo; fd++)
			strays_below += inheritable(fd);
		for (int fd = cfg[c].lo + 1; fd < cfg[c].hi; fd++)
			strays_gap += fd != op[1] && inheritable(fd);
		cr_assert_gt(strays_below + strays_gap, 0,
			     "%s: no inheritable stray below the highest target", what);

		map[0] = (struct pidring_fd_map){ rp[1], cfg[c].lo };
		map[1] = (struct pidring_fd_map){ op[1], cfg[c].hi };
		snprintf(arg, sizeof arg, "%d", cfg[c].lo);
		s = t_spec((char *const[]){ "pidring-child", "--report-fd", arg, NULL }, NULL);
		s.envp = envp;
		s.fds = map;
		s.nfds = 2;
		r = pidring_spawn(f.pr, &s, &id);
		cr_assert_eq(r, 0, "%s: pidring_spawn: %d (%s)", what, r, strerror(-r));
		fx_close_fd(&f, rp[1]);
		fx_close_fd(&f, op[1]);

		read_report(rp[0], buf, sizeof buf, &rep);
		want[0] = 0, want[1] = 1, want[2] = 2, want[3] = cfg[c].lo, want[4] = cfg[c].hi;
		expect_fd_set(what, &rep, want, 5);
		expect_env(what, &rep, envp);
		/* The hi target is the other pipe: EOF only once the child exited, no data. */
		cr_expect_eq(th_read_all(op[0], buf, sizeof buf), 0, "%s: fd %d pipe got: %s",
			     what, cfg[c].hi, buf);
		expect_exit0(&f, id);
		while (f.nfds)
			fx_close_fd(&f, f.fds[0]);
	}
	fx_close(&f);
}

/*
 * Spawn pidring-child --report-fd child_fd with the one map p[1] -> child_fd
 * and read its report from p[0]; both ends of the pipe are closed after.
 */
static pidring_id spawn_report_one(struct fx *f, int p[2], int child_fd, const char *what,
				   char *buf, size_t len, struct report *rep)
{
	struct pidring_fd_map map = { p[1], child_fd };
	struct pidring_spawn s;
	pidring_id id;
	char arg[16];
	int r;

	snprintf(arg, sizeof arg, "%d", child_fd);
	s = t_spec(ARGV("--report-fd", arg), NULL);
	s.fds = &map;
	s.nfds = 1;
	r = pidring_spawn(f->pr, &s, &id);
	cr_assert_eq(r, 0, "%s: pidring_spawn: %d", what, r);
	fx_close_fd(f, p[1]);
	read_report(p[0], buf, len, rep);
	fx_close_fd(f, p[0]);
	return id;
}

BOTH(inherit, fd_map_identity_swap_stdio)
{
	struct pidring_fd_map map[2];
	struct pidring_spawn s;
	struct report rep;
	static struct fx f;
	char buf[8192], arg_a[16];
	int A[2], B[2], C[2], D[2], want[5], a, b, r;
	pidring_id id;

	fx_open(&f, flags);

	/* child_fd == parent_fd */
	t_pipe(&f, C);
	id = spawn_report_one(&f, C, C[1], "identity", buf, sizeof buf, &rep);
	want[0] = 0, want[1] = 1, want[2] = 2, want[3] = C[1];
	expect_fd_set("identity", &rep, want, 4);
	expect_env("identity", &rep, t_envp);
	expect_exit0(&f, id);

	/* swap: a -> b, b -> a. The child reports on its fd a, which is B. */
	t_pipe(&f, A);
	t_pipe(&f, B);
	a = A[1];
	b = B[1];
	snprintf(arg_a, sizeof arg_a, "%d", a);
	map[0] = (struct pidring_fd_map){ a, b };
	map[1] = (struct pidring_fd_map){ b, a };
	s = t_spec(ARGV("--report-fd", arg_a), NULL);
	s.fds = map;
	s.nfds = 2;
	r = pidring_spawn(f.pr, &s, &id);
	cr_assert_eq(r, 0, "swap: pidring_spawn: %d", r);
	fx_close_fd(&f, A[1]);
	fx_close_fd(&f, B[1]);
	read_report(B[0], buf, sizeof buf, &rep);
	want[0] = 0, want[1] = 1, want[2] = 2, want[3] = a, want[4] = b;
	expect_fd_set("swap", &rep, want, 5);
	cr_expect_eq(th_read_all(A[0], buf, sizeof buf), 0,
		     "swap: the report went to A, not B: %s", buf);
	expect_exit0(&f, id);

	/* onto stdout: the report fd is 1 itself; 0 and 2 are /dev/null */
	t_pipe(&f, D);
	id = spawn_report_one(&f, D, 1, "stdout", buf, sizeof buf, &rep);
	want[0] = 0, want[1] = 1, want[2] = 2;
	expect_fd_set("stdout", &rep, want, 3);
	expect_exit0(&f, id);

	fx_close(&f);
}

/* More maps than the spawn path keeps on its stack, sources above the targets. */
BOTH(inherit, many_fd_maps)
{
	enum { NMAP = 24 };
	struct pidring_fd_map map[NMAP + 1];
	struct pidring_spawn s;
	struct report rep;
	static struct fx f;
	char buf[8192];
	int p[2], hi_src, want[NMAP + 4], r;
	pidring_id id;

	fx_open(&f, flags);
	t_pipe(&f, p);
	hi_src = fx_own(&f, fcntl(p[1], F_DUPFD_CLOEXEC, 300));
	fx_close_fd(&f, p[1]);
	map[0] = (struct pidring_fd_map){ hi_src, 3 };
	want[0] = 0, want[1] = 1, want[2] = 2, want[3] = 3;
	for (int i = 0; i < NMAP; i++) {
		/* One parent fd (the pipe's read end: holding it does not delay
		 * the EOF we wait for) to every target from 10 up. */
		map[i + 1] = (struct pidring_fd_map){ p[0], 10 + i };
		want[4 + i] = 10 + i;
	}
	s = t_spec(ARGV("--report-fd", "3"), NULL);
	s.fds = map;
	s.nfds = NMAP + 1;
	r = pidring_spawn(f.pr, &s, &id);
	cr_assert_eq(r, 0, "pidring_spawn with %d maps: %d (%s)", NMAP + 1, r, strerror(-r));
	fx_close_fd(&f, hi_src);
	read_report(p[0], buf, sizeof buf, &rep);
	expect_fd_set("24 maps", &rep, want, NMAP + 4);
	expect_exit0(&f, id);
	fx_close(&f);
}

BOTH(inherit, null_envp_is_environ)
{
	extern char **environ;
	struct pidring_fd_map map;
	struct pidring_spawn s;
	struct report rep;
	static struct fx f;
	char buf[65536];
	int p[2], r;
	pidring_id id;

	cr_assert_eq(setenv("PIDRING_TEST_MARK", "from-the-parent", 1), 0);
	fx_open(&f, flags);
	t_pipe(&f, p);
	map = (struct pidring_fd_map){ p[1], 3 };
	s = t_spec(ARGV("--report-fd", "3"), NULL);
	s.envp = NULL;
	s.fds = &map;
	s.nfds = 1;
	r = pidring_spawn(f.pr, &s, &id);
	cr_assert_eq(r, 0, "pidring_spawn: %d", r);
	fx_close_fd(&f, p[1]);
	r = th_read_all(p[0], buf, sizeof buf);
	cr_assert_gt(r, 0);
	cr_assert_lt(r, (int)sizeof buf - 1, "report too long for the buffer");
	{
		/* parse_report keeps at most 64 env entries: count them ourselves. */
		int n = 0, k = 0, ok = 1;
		char *save = NULL;

		for (char *line = strtok_r(buf, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			if (strncmp(line, "env ", 4))
				continue;
			if (!environ[k] || strcmp(environ[k], line + 4))
				ok = 0;
			if (environ[k])
				k++;
			n++;
		}
		while (environ[k])
			k++, ok = 0;
		cr_expect(ok, "child env differs from the caller's environ (%d lines)", n);
		(void)rep;
	}
	expect_exit0(&f, id);
	fx_close(&f);
	unsetenv("PIDRING_TEST_MARK");
}

/* Spawn a /bin/sh script with fd 5 on a pipe; returns what it wrote there. */
static void run_sh(struct fx *f, const char *script, char *buf, size_t len)
{
	struct pidring_fd_map map;
	struct pidring_spawn s;
	pidring_id id;
	int p[2], r;

	t_pipe(f, p);
	map = (struct pidring_fd_map){ p[1], 5 };
	s = t_spec((char *const[]){ "sh", "-c", (char *)script, NULL }, NULL);
	s.path = "/bin/sh";
	s.fds = &map;
	s.nfds = 1;
	r = pidring_spawn(f->pr, &s, &id);
	cr_assert_eq(r, 0, "pidring_spawn /bin/sh: %d (%s)", r, strerror(-r));
	fx_close_fd(f, p[1]);
	r = th_read_all(p[0], buf, len);
	fx_close_fd(f, p[0]);
	cr_assert_geq(r, 0, "reading the script's output: %d", r);
	expect_exit0(f, id);
}

static void on_usr2(int sig)
{
	(void)sig;
}

BOTH(inherit, signal_state_reset)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, hnd = { .sa_handler = on_usr2 };
	struct sigaction old_pipe, old_usr2, old_rt;
	sigset_t block, old_mask;
	static struct fx f;
	char buf[512];

	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGRTMIN + 1);
	cr_assert_eq(sigprocmask(SIG_BLOCK, &block, &old_mask), 0);
	cr_assert_eq(sigaction(SIGPIPE, &ign, &old_pipe), 0);
	cr_assert_eq(sigaction(SIGUSR2, &hnd, &old_usr2), 0);
	/* A real-time signal too: /proc/<pid>/stat, for one, shows only 1-31. */
	cr_assert_eq(sigaction(SIGRTMIN + 6, &ign, &old_rt), 0);

	fx_open(&f, flags);
	run_sh(&f, "grep -E '^Sig(Blk|Ign)' /proc/self/status >&5", buf, sizeof buf);
	cr_expect_str_eq(buf, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
			 "through /bin/sh");
	/* dash empties its signal mask at startup, which would hide a mask the
	 * engine failed to reset: also exec grep directly, stdout on the pipe. */
	{
		struct pidring_fd_map map;
		struct pidring_spawn s;
		pidring_id id;
		int p[2], r;

		t_pipe(&f, p);
		map = (struct pidring_fd_map){ p[1], 1 };
		s = t_spec((char *const[]){ "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status",
					    NULL }, NULL);
		s.path = access("/usr/bin/grep", X_OK) == 0 ? "/usr/bin/grep" : "/bin/grep";
		s.fds = &map;
		s.nfds = 1;
		r = pidring_spawn(f.pr, &s, &id);
		cr_assert_eq(r, 0, "pidring_spawn grep: %d (%s)", r, strerror(-r));
		fx_close_fd(&f, p[1]);
		r = th_read_all(p[0], buf, sizeof buf);
		fx_close_fd(&f, p[0]);
		cr_assert_geq(r, 0);
		cr_expect_str_eq(buf, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
				 "grep exec'd directly");
		expect_exit0(&f, id);
	}
	fx_close(&f);

	sigaction(SIGRTMIN + 6, &old_rt, NULL);
	sigaction(SIGUSR2, &old_usr2, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
}

BOTH(inherit, unmapped_stdio_is_dev_null)
{
	static struct fx f;
	char buf[512];

	fx_open(&f, flags);
	/* $$ is the shell, whose own 0, 1, 2 no redirection touched. */
	run_sh(&f, "echo \"$(readlink /proc/$$/fd/0) $(readlink /proc/$$/fd/1) "
		   "$(readlink /proc/$$/fd/2)\" >&5", buf, sizeof buf);
	cr_expect_str_eq(buf, "/dev/null /dev/null /dev/null\n");
	fx_close(&f);
}

/* ---- process group and session ---- */

BOTH(inherit, process_group_and_session)
{
	static const struct {
		const char *what;
		unsigned sflags;
	} cases[] = {
		{ "default", 0 },
		{ "SETSID", PIDRING_SPAWN_SETSID },
		{ "KEEP_PGRP", PIDRING_SPAWN_KEEP_PGRP },
	};
	pid_t my_pgid = getpgid(0), my_sid = getsid(0);
	static struct fx f;

	fx_open(&f, flags);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct pidring_spawn s = t_spec(ARGV("--sleep-forever"), NULL);
		pidring_id id;
		pid_t pid, pgid, sid;
		int r;

		s.flags = cases[i].sflags;
		r = pidring_spawn(f.pr, &s, &id);
		cr_assert_eq(r, 0, "%s: pidring_spawn: %d", cases[i].what, r);
		pid = pidring_pid(f.pr, id);
		cr_assert_gt(pid, 0);
		/* setpgid/setsid run before exec, and spawn returns after exec. */
		pgid = getpgid(pid);
		sid = getsid(pid);
		switch (cases[i].sflags) {
		case 0:
			cr_expect_eq(pgid, pid, "default: pgid %d, pid %d", pgid, pid);
			cr_expect_eq(sid, my_sid, "default: sid %d, ours %d", sid, my_sid);
			break;
		case PIDRING_SPAWN_SETSID:
			cr_expect_eq(sid, pid, "SETSID: sid %d, pid %d", sid, pid);
			cr_expect_eq(pgid, pid, "SETSID: pgid %d, pid %d", pgid, pid);
			break;
		default:
			cr_expect_eq(pgid, my_pgid, "KEEP_PGRP: pgid %d, ours %d", pgid, my_pgid);
			cr_expect_eq(sid, my_sid, "KEEP_PGRP: sid %d, ours %d", sid, my_sid);
			break;
		}
		t_expect_ready(&f, id, NULL);
		cr_expect_eq(pidring_cancel(f.pr, id), 0);
		t_expect_done(&f, id, T_EV_MS, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	}
	{
		struct pidring_spawn s = t_spec(ARGV("--sleep-forever"), NULL);
		pidring_id id = 0;

		s.flags = PIDRING_SPAWN_SETSID | PIDRING_SPAWN_KEEP_PGRP;
		cr_expect_eq(pidring_spawn(f.pr, &s, &id), -EINVAL);
		cr_expect_eq(pidring_live(f.pr), 0u);
	}
	fx_close(&f);
}
