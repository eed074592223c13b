/*
 * What the three examples share: the runner they spawn, the line they send
 * it, and the check each one ends with (no child alive or zombie, no fd
 * more than at start, nothing left in the runtime directory).
 *
 * Plain static functions: an example includes this file once. Messages go
 * to stderr as one line, "name: reason", and the functions that find a
 * problem return 1, the example's exit status.
 */
#ifndef PIDRING_EXAMPLES_COMMON_H
#define PIDRING_EXAMPLES_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <pidring.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNNERS     100   /* runners each example spawns */
#define GRACE_MS    2000  /* pidring_stop: SIGTERM, then SIGKILL after this */
#define DEADLINE_S  60    /* an example that is not done by then gives up */

/* What an example started with, compared with what it ends with. */
struct start {
	const char *name;    /* the example's name, for its messages */
	const char *runner;  /* the runner's executable */
	int fds;             /* fds open at start */
	time_t deadline;     /* CLOCK_MONOTONIC seconds */
	char rundir[40];     /* the engine's runtime directory, ours alone */
};

/*
 * The runner: build/pidring-child binds its socket at once (at the path the
 * engine passes in $PIDRING_SOCKET), and on each connection sends back the
 * first line it reads, then closes. A real server would spawn its own.
 */
static char *runner_argv[] = {
	"pidring-child", "--bind-after-ms", "0", "--echo-line", NULL
};

static int say(const struct start *st, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", st->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* Entries of a directory, "." and ".." not counted (-1: cannot open it). */
static int dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/*
 * Record the fds open now, make a private runtime directory and find the
 * runner: argv[1], else $PIDRING_CHILD, else build/pidring-child.
 */
static int start(struct start *st, const char *name, int argc, char **argv)
{
	st->name = name;
	st->runner = argc > 1 ? argv[1] : getenv("PIDRING_CHILD");
	if (!st->runner)
		st->runner = "build/pidring-child";
	st->fds = dir_entries("/proc/self/fd");
	st->deadline = now_s() + DEADLINE_S;
	strcpy(st->rundir, "/tmp/pidring-example.XXXXXX");
	if (!mkdtemp(st->rundir))
		return say(st, "mkdtemp: %s", strerror(errno));
	return 0;
}

/* Spawn one runner, READY once it has bound its socket. */
static int spawn_runner(struct pidring *pr, const struct start *st, void *user,
			pidring_id *id)
{
	struct pidring_spawn s = {
		.path = st->runner,
		.argv = runner_argv,
		.ready = PIDRING_READY_BIND,
		.ready_timeout_ms = 10000,
		.user = user,
	};
	int r = pidring_spawn(pr, &s, id);

	if (r < 0)
		return say(st, "pidring_spawn %s: %s", st->runner, strerror(-r));
	return 0;
}

/* SIGTERM now, SIGKILL if it is still there after GRACE_MS; DONE follows. */
static int stop_runner(struct pidring *pr, const struct start *st, pidring_id id)
{
	int r = pidring_stop(pr, id, GRACE_MS);

	if (r < 0)
		return say(st, "pidring_stop: %s", strerror(-r));
	return 0;
}

/* The line sent to runner i; the answer must be the same bytes. */
static void request_line(char *buf, size_t len, unsigned i)
{
	snprintf(buf, len, "hello runner %u\n", i);
}

/* A DONE that is not the end of a pidring_stop. */
static int bad_done(const struct start *st, const struct pidring_event *ev)
{
	if (ev->reason == PIDRING_STOPPED)
		return 0;
	return say(st, "pid %d DONE with reason %d (code %d, status %d), not STOPPED",
		   (int)ev->pid, ev->reason, ev->code, ev->status);
}

/*
 * The end of every example, once the engine is destroyed and the loop's own
 * fds are closed: nothing of ours may be left. 0 when clean, else 1 with
 * the reason.
 */
static int check_clean(const struct start *st)
{
	siginfo_t si = { 0 };
	int fds;

	/* WNOWAIT: look, do not reap. ECHILD means no child at all. */
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0)
		return si.si_pid ? say(st, "child %d is a zombie", (int)si.si_pid)
				 : say(st, "a child is still running");
	if (errno != ECHILD)
		return say(st, "waitid: %s", strerror(errno));
	fds = dir_entries("/proc/self/fd");
	if (fds != st->fds)
		return say(st, "%d fds open at the end, %d at start", fds, st->fds);
	if (dir_entries(st->rundir) != 0)
		return say(st, "%s is not empty", st->rundir);
	return 0;
}

/*
 * The last call: after a failure (already reported) or else after the
 * check, remove the runtime directory; rmdir leaves one that is not empty,
 * for a look.
 */
static int finish(const struct start *st, int failed)
{
	int r = failed ? 1 : check_clean(st);

	rmdir(st->rundir);
	return r;
}

#endif /* PIDRING_EXAMPLES_COMMON_H */
