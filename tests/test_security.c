/* SPDX-License-Identifier: MIT */
/*
 * What a child runs with: credentials (uid, gid, supplementary groups),
 * PR_SET_NO_NEW_PRIVS, resource limits, the exact environment and the exact
 * fd set; and the runtime base the engine refuses (symlink, another user's,
 * too long).
 *
 * The child's view is read where the kernel keeps it: /proc/self/status and
 * /proc/self/limits read by a /bin/sh child with shell builtins only (no
 * other program, so /proc/self is the shell the engine exec'd), and
 * /proc/<pid>/environ read by the test while the child is alive.
 *
 * The fixture (struct fx), spawn shorthands and event expectations are
 * test_util.h's, as in the other suites.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

extern char **environ;

/* Prints the credential lines of its own /proc/self/status. */
static char se_status_script[] =
	"while IFS= read -r l; do case \"$l\" in "
	"Uid:*|Gid:*|Groups:*|NoNewPrivs:*) printf '%s\\n' \"$l\";; esac; "
	"done < /proc/self/status";
/* Prints its own /proc/self/limits. */
static char se_limits_script[] =
	"while IFS= read -r l; do printf '%s\\n' \"$l\"; done < /proc/self/limits";

TestSuite(security, .fini = fx_abort_cleanup, .timeout = 60);
TestSuite(rundir_refused, .fini = fx_abort_cleanup, .timeout = 60);

/* READY (queued at spawn), then the DONE of id with this reason/code/status. */
static void se_ready_done(struct fx *s, pidring_id id, int reason, int code, int status)
{
	t_expect_ready(s, id, NULL);
	t_expect_done(s, id, T_EV_MS, reason, code, status);
}

/* A spawn that must fail with want, yield no event and leave nothing live. */
static void se_spawn_fails(struct fx *s, const struct pidring_spawn *sp, int want,
			   const char *what)
{
	struct pidring_event ev;
	pidring_id id = 0;
	int r = pidring_spawn(s->pr, sp, &id);

	cr_expect_eq(r, want, "%s: %d (%s), expected %d (%s)", what, r, strerror(-r), want,
		     strerror(-want));
	cr_expect_eq(id, 0, "%s: id set by a failed spawn", what);
	cr_expect_eq(pidring_live(s->pr), 0u, "%s: a failed spawn is live", what);
	r = pidring_wait(s->pr, &ev, 1, 0);
	cr_expect_eq(r, 0, "%s: a failed spawn yielded an event (type %d)", what,
		     r > 0 ? (int)ev.type : 0);
}

/*
 * Run /bin/sh -c script with stdout on a pipe and the given credentials,
 * limits and flags; collect what it printed and check it exited 0.
 */
static void se_sh(struct fx *s, struct pidring_spawn *sp, char *script, char *out, size_t len)
{
	char *argv[] = { "sh", "-c", script, NULL };
	struct pidring_fd_map map;
	pidring_id id = 0;
	int p[2], r;

	t_pipe(s, p);
	map.parent_fd = p[1];
	map.child_fd = 1;
	sp->path = "/bin/sh";
	sp->argv = argv;
	sp->envp = t_envp;
	sp->cwd = "/";
	sp->fds = &map;
	sp->nfds = 1;
	sp->ready = PIDRING_READY_EXEC;
	r = pidring_spawn(s->pr, sp, &id);
	cr_assert_eq(r, 0, "pidring_spawn(/bin/sh): %d (%s)", r, strerror(-r));
	fx_close_fd(s, p[1]);
	r = th_read_all(p[0], out, len);
	fx_close_fd(s, p[0]);
	cr_assert_geq(r, 0, "reading the child's output: %d", r);
	se_ready_done(s, id, PIDRING_EXITED, CLD_EXITED, 0);
}

/* The numbers after "<key>:" on its line of text (up to max); -1 if no such line. */
static int se_fields(const char *text, const char *key, long *v, int max)
{
	size_t kl = strlen(key);
	const char *line = text;
	int n = 0;

	while (line && *line) {
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			const char *p = line + kl + 1;
			char *end;

			for (;;) {
				while (*p == ' ' || *p == '\t')
					p++;
				if (*p == '\n' || !*p)
					return n;
				if (n == max)
					return n;
				v[n++] = strtol(p, &end, 10);
				if (end == p)
					return -1;
				p = end;
			}
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -1;
}

static void se_expect_ids(const char *out, const char *key, long want)
{
	long v[8];
	int n = se_fields(out, key, v, 8);

	cr_expect_eq(n, 4, "%s: %d fields in:\n%s", key, n, out);
	for (int i = 0; i < n; i++)
		cr_expect_eq(v[i], want, "%s field %d is %ld, expected %ld:\n%s", key, i, v[i],
			     want, out);
}

/* ---- credentials ---- */

/*
 * Dropping root: groups, then gid, then uid. With SETGROUPS the groups are
 * exactly spec.groups. Without it the child keeps the caller's supplementary
 * groups: to make that visible the test first gives itself groups {0, 4242}
 * (the worker is a throwaway process) and sees both in a child that runs as
 * uid/gid 65534 — the caller must pass SETGROUPS to shed root's groups.
 */
BOTH(security, credentials_dropped_as_root)
{
	static struct fx s;
	static const gid_t nobody_groups[] = { 65534 };
	static const gid_t ours[] = { 0, 4242 };
	struct pidring_spawn sp;
	char out[4096];
	long v[8];
	int n;

	if (geteuid() != 0) {
		cr_skip_test("needs root (euid %d)", (int)geteuid());
		return;
	}
	cr_assert_eq(setgroups(2, ours), 0, "setgroups: %s", strerror(errno));
	th_stage_child(0);      /* the runner is exec'd as uid 65534 */
	fx_open(&s, flags);

	/* All three. */
	memset(&sp, 0, sizeof sp);
	sp.flags = PIDRING_SPAWN_SETUID | PIDRING_SPAWN_SETGID | PIDRING_SPAWN_SETGROUPS;
	sp.uid = 65534;
	sp.gid = 65534;
	sp.groups = nobody_groups;
	sp.ngroups = 1;
	se_sh(&s, &sp, se_status_script, out, sizeof out);
	se_expect_ids(out, "Uid", 65534);
	se_expect_ids(out, "Gid", 65534);
	n = se_fields(out, "Groups", v, 8);
	cr_expect(n == 1 && v[0] == 65534, "Groups: %d field(s), expected just 65534:\n%s",
		  n, out);

	/* No SETGROUPS: root's supplementary groups stay (documented pitfall). */
	memset(&sp, 0, sizeof sp);
	sp.flags = PIDRING_SPAWN_SETUID | PIDRING_SPAWN_SETGID;
	sp.uid = 65534;
	sp.gid = 65534;
	se_sh(&s, &sp, se_status_script, out, sizeof out);
	se_expect_ids(out, "Uid", 65534);
	se_expect_ids(out, "Gid", 65534);
	n = se_fields(out, "Groups", v, 8);
	cr_expect(n == 2 && v[0] == 0 && v[1] == 4242,
		  "without SETGROUPS the child should keep our groups 0 4242:\n%s", out);

	/* SETGROUPS with none: an empty list; uid and gid untouched. */
	memset(&sp, 0, sizeof sp);
	sp.flags = PIDRING_SPAWN_SETGROUPS;
	se_sh(&s, &sp, se_status_script, out, sizeof out);
	se_expect_ids(out, "Uid", 0);
	se_expect_ids(out, "Gid", 0);
	n = se_fields(out, "Groups", v, 8);
	cr_expect_eq(n, 0, "SETGROUPS with ngroups 0: %d group(s) left:\n%s", n, out);

	/* SETGID alone. */
	memset(&sp, 0, sizeof sp);
	sp.flags = PIDRING_SPAWN_SETGID;
	sp.gid = 4243;
	se_sh(&s, &sp, se_status_script, out, sizeof out);
	se_expect_ids(out, "Uid", 0);
	se_expect_ids(out, "Gid", 4243);

	/* A child with dropped credentials is still killed and reaped. */
	{
		pidring_id id = 0;
		struct pidring_spawn k = {
			.path = th_child_path(), .argv = ARGV("--sleep-forever"),
			.envp = t_envp, .flags = PIDRING_SPAWN_SETUID | PIDRING_SPAWN_SETGID |
						  PIDRING_SPAWN_SETGROUPS,
			.uid = 65534, .gid = 65534, .groups = nobody_groups, .ngroups = 1,
		};
		struct stat st;
		char path[64];

		cr_assert_eq(pidring_spawn(s.pr, &k, &id), 0);
		t_fmt(path, sizeof path, "/proc/%d", pidring_pid(s.pr, id));
		cr_assert_eq(stat(path, &st), 0);
		cr_expect_eq(st.st_uid, 65534u);
		cr_assert_eq(pidring_cancel(s.pr, id), 0);
		se_ready_done(&s, id, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
	}
	fx_close(&s);
	th_unstage_child();
}

/* groups NULL with a count is refused before anything runs. */
BOTH(security, groups_null_with_count_is_einval)
{
	static struct fx s;
	struct pidring_spawn sp = {
		.path = th_child_path(), .argv = ARGV("--exit", "0"), .envp = t_envp,
		.flags = PIDRING_SPAWN_SETGROUPS, .groups = NULL, .ngroups = 2,
	};

	fx_open(&s, flags);
	se_spawn_fails(&s, &sp, -EINVAL, "SETGROUPS, groups NULL, ngroups 2");
	fx_close(&s);
}

/* ---- no_new_privs ---- */

/* Our own /proc/self/status, NUL-terminated. */
static void se_self_status(char *buf, size_t len)
{
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	int n;

	cr_assert_geq(fd, 0);
	n = (int)read(fd, buf, len - 1);
	close(fd);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
}

BOTH(security, no_new_privs)
{
	static struct fx s;
	struct pidring_spawn sp;
	char out[4096], self[4096];
	long v[2], mine[2];
	int n;

	/* What we have ourselves: the child without the flag inherits it. */
	se_self_status(self, sizeof self);
	cr_assert_eq(se_fields(self, "NoNewPrivs", mine, 2), 1, "no NoNewPrivs line");

	fx_open(&s, flags);
	memset(&sp, 0, sizeof sp);
	sp.flags = PIDRING_SPAWN_NO_NEW_PRIVS;
	se_sh(&s, &sp, se_status_script, out, sizeof out);
	n = se_fields(out, "NoNewPrivs", v, 2);
	cr_expect(n == 1 && v[0] == 1, "with the flag: NoNewPrivs not 1:\n%s", out);

	memset(&sp, 0, sizeof sp);
	se_sh(&s, &sp, se_status_script, out, sizeof out);
	n = se_fields(out, "NoNewPrivs", v, 2);
	cr_expect(n == 1 && v[0] == mine[0], "without the flag: NoNewPrivs %ld, ours %ld:\n%s",
		  n == 1 ? v[0] : -1, mine[0], out);
	cr_expect_eq(mine[0], 0, "the test process itself has no_new_privs (not an engine "
				 "fault, but the flag-less case then proves nothing)");

	/* Our own process is untouched by the child's prctl (CLONE_VM, not threads). */
	se_self_status(self, sizeof self);
	cr_expect(se_fields(self, "NoNewPrivs", v, 2) == 1 && v[0] == mine[0],
		  "the child's PR_SET_NO_NEW_PRIVS leaked into the parent");
	fx_close(&s);
}

/* ---- resource limits ---- */

/* "Max open files  64  128  files": the two limits of a /proc/<>/limits line. */
static int se_limit(const char *text, const char *name, char *soft, char *hard, size_t len)
{
	const char *p = strstr(text, name);
	char fmt[64];

	if (!p)
		return -1;
	p += strlen(name);
	t_fmt(fmt, sizeof fmt, "%%%zus %%%zus", len - 1, len - 1);
	return sscanf(p, fmt, soft, hard) == 2 ? 0 : -1;
}

BOTH(security, rlimits_applied)
{
	static struct fx s;
	const struct pidring_rlimit lims[] = {
		{ RLIMIT_NOFILE, 64, 128 },
		{ RLIMIT_CORE, 0, 0 },
		{ RLIMIT_FSIZE, RLIM_INFINITY, RLIM_INFINITY },
	};
	struct pidring_spawn sp;
	char out[8192], soft[32], hard[32];
	struct rlimit ours;

	fx_open(&s, flags);
	memset(&sp, 0, sizeof sp);
	sp.rlimits = lims;
	/* RLIMIT_FSIZE infinity only where that is not a raise we cannot make. */
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &ours), 0);
	sp.nrlimits = ours.rlim_max == RLIM_INFINITY ? 3 : 2;
	se_sh(&s, &sp, se_limits_script, out, sizeof out);

	cr_assert_eq(se_limit(out, "Max open files", soft, hard, sizeof soft), 0,
		     "no open files line:\n%s", out);
	cr_expect_str_eq(soft, "64", "NOFILE soft %s:\n%s", soft, out);
	cr_expect_str_eq(hard, "128", "NOFILE hard %s:\n%s", hard, out);
	cr_assert_eq(se_limit(out, "Max core file size", soft, hard, sizeof soft), 0,
		     "no core line:\n%s", out);
	cr_expect_str_eq(soft, "0");
	cr_expect_str_eq(hard, "0");
	if (sp.nrlimits == 3) {
		cr_assert_eq(se_limit(out, "Max file size", soft, hard, sizeof soft), 0);
		cr_expect_str_eq(soft, "unlimited");
		cr_expect_str_eq(hard, "unlimited");
	}

	/* Our own limits are the parent's, untouched. */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &ours), 0);
	cr_expect_neq(ours.rlim_max, 128u, "the child's prlimit hit the parent");
	fx_close(&s);
}

BOTH(security, rlimits_invalid_are_einval)
{
	static struct fx s;
	const struct {
		struct pidring_rlimit rl;
		const char *what;
	} bad[] = {
		{ { -1, 1, 1 }, "resource -1" },
		{ { 99, 1, 1 }, "resource 99" },
		{ { RLIMIT_NLIMITS, 1, 1 }, "resource RLIMIT_NLIMITS" },
		{ { RLIMIT_NOFILE, 128, 64 }, "cur > max" },
		{ { RLIMIT_CORE, RLIM_INFINITY, 0 }, "cur infinity > max 0" },
	};
	struct pidring_spawn sp = {
		.path = th_child_path(), .argv = ARGV("--exit", "0"), .envp = t_envp,
	};

	fx_open(&s, flags);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		/* A good limit first: the bad one is found wherever it is. */
		struct pidring_rlimit two[2] = { { RLIMIT_CORE, 0, 0 }, bad[i].rl };

		sp.rlimits = two;
		sp.nrlimits = 2;
		se_spawn_fails(&s, &sp, -EINVAL, bad[i].what);
	}
	sp.rlimits = NULL;
	sp.nrlimits = 1;
	se_spawn_fails(&s, &sp, -EINVAL, "rlimits NULL, nrlimits 1");
	fx_close(&s);
}

/*
 * A limit the kernel refuses in the child (RLIMIT_NOFILE above fs.nr_open:
 * -EPERM even for root) fails the spawn with that error, after the clone:
 * the failed child is reaped, nothing is left and no event follows.
 */
BOTH(security, rlimit_refused_in_child_is_eperm)
{
	static struct fx s;
	struct pidring_rlimit rl = { RLIMIT_NOFILE, 0, 0 };
	struct pidring_spawn sp = {
		.path = th_child_path(), .argv = ARGV("--exit", "0"), .envp = t_envp,
		.rlimits = &rl, .nrlimits = 1,
	};
	unsigned long long nr_open = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");

	cr_assert_not_null(f, "/proc/sys/fs/nr_open: %s", strerror(errno));
	cr_assert_eq(fscanf(f, "%llu", &nr_open), 1);
	fclose(f);
	rl.cur = rl.max = nr_open + 1;
	fx_open(&s, flags);
	se_spawn_fails(&s, &sp, -EPERM, "RLIMIT_NOFILE above fs.nr_open");
	/* And the engine still works. */
	{
		pidring_id id = 0;

		rl.cur = rl.max = 32;
		cr_assert_eq(pidring_spawn(s.pr, &sp, &id), 0);
		se_ready_done(&s, id, PIDRING_EXITED, CLD_EXITED, 0);
	}
	fx_close(&s);
}

/* ---- environment ---- */

/* /proc/<pid>/environ of a live child, byte for byte. */
static size_t se_environ_of(pid_t pid, char *buf, size_t len)
{
	char path[64];
	size_t have = 0;
	ssize_t n;
	int fd;

	t_fmt(path, sizeof path, "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	while ((n = read(fd, buf + have, len - have)) > 0)
		have += (size_t)n;
	close(fd);
	cr_assert_geq(n, 0, "read %s: %s", path, strerror(errno));
	cr_assert_lt(have, len, "environ larger than the buffer");
	return have;
}

/* The NUL-separated image of an envp, as the kernel lays it out. */
static size_t se_environ_image(char *const *envp, char *buf, size_t len)
{
	size_t have = 0;

	for (; *envp; envp++) {
		size_t l = strlen(*envp) + 1;

		cr_assert_lt(have + l, len, "environ larger than the buffer");
		memcpy(buf + have, *envp, l);
		have += l;
	}
	return have;
}

/*
 * The child reports first (--report-fd): /proc/<pid>/environ is only filled
 * in by the kernel after the exec has released the vfork'd parent, so reading
 * it the instant pidring_spawn returns can see it empty.
 */
static void se_check_environ(struct fx *s, char *const *envp, char *const *want)
{
	static char got[1 << 17], img[1 << 17], rep[1 << 17];
	struct pidring_fd_map map;
	struct pidring_spawn sp = {
		.path = th_child_path(), .envp = envp, .fds = &map, .nfds = 1,
		.argv = ARGV("--report-fd", "3", "--sleep-forever"),
	};
	size_t gl, wl;
	pidring_id id = 0;
	int p[2], r;

	t_pipe(s, p);
	map.parent_fd = p[1];
	map.child_fd = 3;
	cr_assert_eq(pidring_spawn(s->pr, &sp, &id), 0);
	fx_close_fd(s, p[1]);
	r = th_read_all(p[0], rep, sizeof rep);
	fx_close_fd(s, p[0]);
	cr_assert_gt(r, 0, "reading the report: %d", r);
	gl = se_environ_of(pidring_pid(s->pr, id), got, sizeof got);
	wl = se_environ_image(want, img, sizeof img);
	cr_expect_eq(gl, wl, "environ is %zu bytes, expected %zu", gl, wl);
	cr_expect(gl == wl && !memcmp(got, img, gl), "environ differs from what was given");
	cr_assert_eq(pidring_cancel(s->pr, id), 0);
	se_ready_done(s, id, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
}

BOTH(security, environment_exact)
{
	static struct fx s;
	static char *const given[] = { "A=1", "EMPTY=", "EQ=a=b=c", NULL };
	static char *const none[] = { NULL };

	fx_open(&s, flags);
	se_check_environ(&s, given, given);
	se_check_environ(&s, none, none);
	/* NULL: the caller's environ as it is now (a fresh setenv included). */
	cr_assert_eq(setenv("PIDRING_SECURITY_MARK", "x=y", 1), 0);
	se_check_environ(&s, NULL, environ);
	fx_close(&s);
}

/* ---- fds ---- */

/* The "fd N" lines of a pidring-child report, as a sorted list; -1 if no "end". */
static int se_report_fds(const char *rep, int *fds, int max)
{
	const char *line = rep;
	int n = 0;
	bool end = false;

	while (line && *line) {
		int fd;

		if (sscanf(line, "fd %d", &fd) == 1 && n < max)
			fds[n++] = fd;
		if (!strncmp(line, "end\n", 4))
			end = true;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
			int t = fds[j];
			fds[j] = fds[j - 1];
			fds[j - 1] = t;
		}
	return end ? n : -1;
}

/* Spawn --report-fd <child_fd> with parent_fd mapped there; read the report from rd. */
static void se_report(struct fx *s, int parent_fd, int child_fd, int rd, char *out, size_t len)
{
	char num[16];
	struct pidring_fd_map map = { parent_fd, child_fd };
	pidring_id id = 0;
	int r;

	t_fmt(num, sizeof num, "%d", child_fd);
	{
		struct pidring_spawn sp = {
			.path = th_child_path(), .argv = ARGV("--report-fd", num),
			.envp = t_envp, .fds = &map, .nfds = 1,
		};

		r = pidring_spawn(s->pr, &sp, &id);
	}
	cr_assert_eq(r, 0, "pidring_spawn: %d (%s)", r, strerror(-r));
	fx_close_fd(s, parent_fd);
	r = th_read_all(rd, out, len);
	cr_assert_gt(r, 0, "reading the report: %d", r);
	se_ready_done(s, id, PIDRING_EXITED, CLD_EXITED, 0);
}

/*
 * An fd of ours opened WITHOUT O_CLOEXEC and not mapped never reaches the
 * child, whether it sits in the gap below the highest mapped fd or above it.
 */
BOTH(security, unmapped_non_cloexec_fds_not_inherited)
{
	static struct fx s;
	char out[4096];
	int p[2], lo, hi, target, fds[32], n;

	fx_open(&s, flags);
	lo = fx_own(&s, open("/dev/null", O_RDONLY));           /* no O_CLOEXEC */
	target = lo + 3;                      /* lo sits in the gap 3 .. target-1 */
	hi = fx_own(&s, fcntl(lo, F_DUPFD, target + 100));       /* no FD_CLOEXEC */
	cr_assert_eq(fcntl(lo, F_GETFD) & FD_CLOEXEC, 0);
	cr_assert_eq(fcntl(hi, F_GETFD) & FD_CLOEXEC, 0);
	cr_assert_eq(pipe(p), 0);                                /* no O_CLOEXEC either */
	fx_own(&s, p[0]);
	fx_own(&s, p[1]);
	se_report(&s, p[1], target, p[0], out, sizeof out);
	n = se_report_fds(out, fds, 32);
	cr_assert_eq(n, 4, "child fds (%d): expected exactly 0 1 2 %d (lo %d, hi %d, pipe %d %d)"
			   ":\n%s", n, target, lo, hi, p[0], p[1], out);
	cr_expect(fds[0] == 0 && fds[1] == 1 && fds[2] == 2 && fds[3] == target,
		  "child fds: %d %d %d %d, expected 0 1 2 %d", fds[0], fds[1], fds[2], fds[3],
		  target);
	fx_close(&s);
}

/* A socket can be mapped: the report travels over it. Also identity mappings. */
BOTH(security, socket_mapped_to_child_fd3)
{
	static struct fx s;
	char out[4096];
	int sv[2], fds[32], n, k;

	fx_open(&s, flags);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0, "socketpair: %s",
		     strerror(errno));
	fx_own(&s, sv[0]);
	fx_own(&s, sv[1]);
	se_report(&s, sv[1], 3, sv[0], out, sizeof out);
	n = se_report_fds(out, fds, 32);
	cr_expect(n == 4 && fds[3] == 3, "child fds: expected 0 1 2 3:\n%s", out);
	fx_close_fd(&s, sv[0]);

	/* A close-on-exec socket mapped onto its own number still arrives. */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fx_own(&s, sv[0]);
	fx_own(&s, sv[1]);
	k = sv[1];
	se_report(&s, sv[1], k, sv[0], out, sizeof out);
	n = se_report_fds(out, fds, 32);
	cr_expect(n == 4 && fds[3] == k, "identity mapping of cloexec fd %d: got:\n%s", k, out);
	fx_close_fd(&s, sv[0]);
	fx_close(&s);
}

/* ---- the runtime base ---- */

/*
 * pidring_new with runtime_dir must fail with want, set nothing, leave no fd
 * and create nothing in `watch` (the directory the base points into).
 */
static void se_new_fails(unsigned flags, const char *rundir, int want, int alt,
			 const char *watch, const char *what)
{
	struct pidring_opts o = { .runtime_dir = rundir, .flags = flags };
	struct pidring *pr = (struct pidring *)0x1;
	struct th_baseline b;
	char buf[2048];
	int r;

	th_baseline_take(&b);
	r = pidring_new(&pr, &o);
	cr_expect(r == want || (alt && r == alt),
		  "%s: pidring_new -> %d (%s), expected %d (%s)%s", what, r, strerror(-r), want,
		  strerror(-want), alt ? " or the alternative" : "");
	if (r)
		cr_expect_null(pr, "%s: *out not NULL after a failure", what);
	if (!r && pr)
		pidring_destroy(pr, 1000);
	th_leak_check(&b, NULL);
	if (watch)
		cr_expect_eq(th_dir_entries(watch, buf, sizeof buf), 0,
			     "%s: created in %s:\n%s", what, watch, buf);
}

/*
 * A symlink as the base is refused with -ENOTDIR (open(2) with O_DIRECTORY |
 * O_NOFOLLOW on a symlink fails with ENOTDIR on Linux, not ELOOP), whether it
 * points to a directory of ours or nowhere; the target is not touched.
 */
BOTH(rundir_refused, symlink)
{
	char *top = th_mkdtemp();
	char real[256], link[256], dangling[256], gone[256];

	t_fmt(real, sizeof real, "%s/real", top);
	t_fmt(link, sizeof link, "%s/link", top);
	t_fmt(dangling, sizeof dangling, "%s/dangling", top);
	t_fmt(gone, sizeof gone, "%s/gone", top);
	cr_assert_eq(mkdir(real, 0700), 0);
	cr_assert_eq(symlink(real, link), 0);
	cr_assert_eq(symlink(gone, dangling), 0);

	se_new_fails(flags, link, -ENOTDIR, 0, real, "symlink to our own directory");
	se_new_fails(flags, dangling, -ENOTDIR, 0, NULL, "dangling symlink");
	cr_expect_neq(access(gone, F_OK), 0, "the dangling symlink's target was created");
	th_rmtree(top);
	free(top);
}

/*
 * Spellings of the same symlink that open(2) follows despite O_NOFOLLOW (a
 * trailing "/" or "/."), or that are relative, are refused all the same and
 * nothing is made in the link's target. (Found accepting "<link>/" and
 * "<link>/." before the engine stripped trailing slashes and dots.)
 */
BOTH(rundir_refused, symlink_spelled_otherwise)
{
	static const char *const tails[] = { "/", "/.", "//", "/./", "/./." };
	char *top = th_mkdtemp();
	char real[256], link[256], what[64];
	char cwd[PATH_MAX];

	t_fmt(real, sizeof real, "%s/real", top);
	t_fmt(link, sizeof link, "%s/link", top);
	cr_assert_eq(mkdir(real, 0700), 0);
	cr_assert_eq(symlink(real, link), 0);
	for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
		t_fmt(link, sizeof link, "%s/link%s", top, tails[i]);
		t_fmt(what, sizeof what, "symlink spelled \"link%s\"", tails[i]);
		se_new_fails(flags, link, -ENOTDIR, 0, real, what);
	}
	/* Relative, from inside top (the worker's cwd is its own to change). */
	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	cr_assert_eq(chdir(top), 0);
	se_new_fails(flags, "link/", -ENOTDIR, 0, real, "relative \"link/\"");
	se_new_fails(flags, "./link", -ENOTDIR, 0, real, "relative \"./link\"");
	cr_assert_eq(chdir(cwd), 0);
	th_rmtree(top);
	free(top);
}

/* A base another user owns could have its sockets swapped under us: -EPERM. */
BOTH(rundir_refused, other_users_directory)
{
	char *top;

	if (geteuid() != 0) {
		cr_skip_test("chown to another user needs root");
		return;
	}
	top = th_mkdtemp();
	cr_assert_eq(chown(top, 65534, 65534), 0, "chown: %s", strerror(errno));
	se_new_fails(flags, top, -EPERM, 0, top, "directory owned by uid 65534");
	/* Owned by us but another group: ours, accepted. */
	cr_assert_eq(chown(top, 0, 65534), 0);
	{
		struct pidring_opts o = { .runtime_dir = top, .flags = flags };
		struct pidring *pr = NULL;
		int r = pidring_new(&pr, &o);

		cr_expect_eq(r, 0, "our directory with another group: %d", r);
		pidring_destroy(pr, 1000);
	}
	th_rmtree(top);
	free(top);
}

/* Too long for base/<instance>/<slot>.<gen>.sock to fit sun_path: -ENAMETOOLONG. */
BOTH(rundir_refused, too_long)
{
	static char longer[5000];
	char *top = th_mkdtemp();
	char mid[256];

	/* Exists, so only the length can be the reason. */
	t_fmt(mid, sizeof mid, "%s/%0100d", top, 0);
	cr_assert_eq(mkdir(mid, 0700), 0, "mkdir %s: %s", mid, strerror(errno));
	se_new_fails(flags, mid, -ENAMETOOLONG, 0, mid, "a 125-character base");
	memset(longer, 'x', sizeof longer - 1);
	longer[0] = '/';
	se_new_fails(flags, longer, -ENAMETOOLONG, 0, NULL, "a 4999-character base");
	th_rmtree(top);
	free(top);
}

/* Not a directory, and a missing parent: refused with what the kernel said. */
BOTH(rundir_refused, not_a_directory_and_missing_parent)
{
	char *top = th_mkdtemp();
	char file[256], orphan[256];
	int fd;

	t_fmt(file, sizeof file, "%s/file", top);
	t_fmt(orphan, sizeof orphan, "%s/no/such", top);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	se_new_fails(flags, file, -ENOTDIR, 0, NULL, "a regular file");
	se_new_fails(flags, orphan, -ENOENT, 0, NULL, "a base whose parent does not exist");
	se_new_fails(flags, "", -EINVAL, 0, NULL, "an empty base");
	th_rmtree(top);
	free(top);
}

/* A missing base is created private (0700) and ours; it is accepted. */
BOTH(rundir_refused, created_base_is_private)
{
	char *top = th_mkdtemp();
	char base[256];
	struct pidring_opts o = { 0 };
	struct pidring *pr = NULL;
	struct stat st;
	mode_t old = umask(0);
	int r;

	t_fmt(base, sizeof base, "%s/base", top);
	o.runtime_dir = base;
	o.flags = flags;
	r = pidring_new(&pr, &o);
	umask(old);
	cr_assert_eq(r, 0, "pidring_new: %d (%s)", r, strerror(-r));
	cr_assert_eq(lstat(base, &st), 0);
	cr_expect(S_ISDIR(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0700, "base mode %o", (unsigned)(st.st_mode & 07777));
	cr_expect_eq(st.st_uid, geteuid());
	cr_expect_eq(pidring_destroy(pr, 1000), 0);
	th_rmtree(top);
	free(top);
}
