/*
 * The chaos driver, run briefly: it must pass on the engine as it is, and
 * its auditor must still catch what it exists to catch (a DONE seen twice,
 * an fd left open), so that a regression in the auditor fails here too.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

extern char **environ;

/* build/pidring-stress sits next to the child program in build/. */
static const char *stress_path(void)
{
	static char path[PATH_MAX];
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", th_child_path());
	snprintf(path, sizeof(path), "%s/pidring-stress", dirname(dir));
	cr_assert_eq(access(path, X_OK), 0, "%s: %s", path, strerror(errno));
	return path;
}

/* Run it with args, its output to out; returns its exit status. */
static int run_stress(const char *const *args, char *out, size_t len)
{
	char *argv[16];
	int p[2], n = 0, st;
	posix_spawn_file_actions_t fa;
	struct th_baseline b;
	pid_t pid;

	th_baseline_take(&b);
	argv[n++] = (char *)stress_path();
	for (; *args && n < 14; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	cr_assert_eq(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	th_read_all(p[0], out, len);
	close(p[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	th_leak_check(&b, NULL);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void clean_run(const char *variant)
{
	static char out[1 << 16];
	/* variant NULL: this kernel's paths; else the fallbacks too */
	const char *args[] = { "--procs", "400", "--seed", "11", "--json", "--quiet",
			       variant, variant ? "--no-clone3" : NULL, NULL };
	int rc = run_stress(args, out, sizeof(out));
	const char *last = strrchr(out, '{');

	cr_assert_eq(rc, 0, "pidring-stress failed (%d):\n%s", rc, out);
	cr_assert(last, "no JSON summary:\n%s", out);
	cr_expect(strstr(last, "\"violations\":0,"), "%s", last);
	cr_expect(strstr(last, "\"leaked_procs\":0,"), "%s", last);
	cr_expect(strstr(last, "\"ok\":true"), "%s", last);
}

Test(stress, clean_run_waitid, .timeout = 120) { clean_run(NULL); }
Test(stress, clean_run_fallback, .timeout = 120) { clean_run("--no-waitid"); }

static void must_catch(const char *kind, const char *needle)
{
	static char out[1 << 16];
	const char *args[] = { "--procs", "200", "--seed", "5", "--quiet", "--inject", kind,
			       NULL };
	int rc = run_stress(args, out, sizeof(out));

	cr_assert_eq(rc, 1, "--inject %s: exit %d, expected 1:\n%s", kind, rc, out);
	cr_expect(strstr(out, needle), "--inject %s: no \"%s\" in:\n%s", kind, needle, out);
	cr_expect(strstr(out, "reproduce:"), "no reproduce line:\n%s", out);
}

Test(stress, auditor_catches_a_second_done, .timeout = 120) { must_catch("dup-done", "DONE"); }
Test(stress, auditor_catches_a_leaked_fd, .timeout = 120) { must_catch("leak-fd", "fds open"); }
