/*
 * pidring-child — a configurable stand-in for any runner, exec'd by the tests, the
 * stress tool and the benchmark.
 *
 * With no arguments it exits 0 at once. It prints nothing unless an option asks it to
 * write to an fd. Every time below is counted from process start.
 *
 *   --exit N                 exit code when it exits on its own (0..255, default 0)
 *   --after-ms M             exit at M ms (default 0). Ignored by --sleep-forever and
 *                            --never-ready. Without it, a process that has a readiness
 *                            step scheduled (--bind-after-ms, --notify-after-ms,
 *                            --notify-from-grandchild) never exits on its own.
 *   --signal SIG             at exit time, die by signal number SIG instead (disposition
 *                            reset to default, unblocked, no core dump written). If SIG
 *                            does not kill (e.g. SIGCHLD, or SIGSTOP then SIGCONT) it
 *                            then exits with --exit.
 *   --sleep-forever          never exit on its own
 *   --ignore-term            SIGTERM is ignored, from the first instruction on
 *   --report-fd FD           at start write "fd N" per open fd (as inherited, FD itself
 *                            included), "env K=V" per environment entry, then "end";
 *                            close FD
 *   --argv-echo-fd FD        at start write each argv element (argv[0] included) on its
 *                            own line, then "end"; close FD
 *   --fork N                 fork N grandchildren that sleep forever
 *   --fork-tree D,W          fork a tree W wide and D deep (D=1: W children); every node
 *                            sleeps forever. At most 4096 nodes (and 4096 for --fork).
 *   --grandchild-ignore-term every forked descendant ignores SIGTERM (otherwise they get
 *                            the default SIGTERM, whatever --ignore-term says)
 *   --grandchild-setsid      the direct children call setsid()
 *   --pidfile-fd FD          after forking, write the pid of every descendant, one per
 *                            line, then "end"; close FD
 *   --socket PATH            bind path (overrides env PIDRING_SOCKET)
 *   --bind-after-ms M        at M ms bind an AF_UNIX stream socket to the path
 *   --listen-after-ms L      listen (backlog 128) L ms after the bind (default 0), then
 *                            accept and close every connection until the process ends
 *   --echo-line              on each accepted connection first read one line (up to
 *                            4 KiB, at most 1 s for it), write it back, then close; the
 *                            timeline waits meanwhile. EOF or nothing in time: just close
 *   --notify-after-ms M      at M ms send READY=1 to $NOTIFY_SOCKET ('@' = abstract)
 *   --status TEXT            send STATUS=TEXT right before READY=1 (at start if no
 *                            READY=1 is scheduled)
 *   --extend-usec N          send EXTEND_TIMEOUT_USEC=N at start
 *   --garbage                at start, before anything else on $NOTIFY_SOCKET, send
 *                            malformed datagrams: empty, binary with NULs, 64 KiB of
 *                            'A', a line without '='
 *   --notify-from-grandchild a dedicated grandchild sends READY=1 at the notify time
 *                            (--notify-after-ms, default 0) and then sleeps forever; this
 *                            process never sends READY=1 (it still sends the rest)
 *   --never-ready            no bind, no notify, sleep forever
 *   --exit-before-ready      no bind, no notify; exit at --after-ms (default 0: at once)
 *
 * Arguments that do not start with "--" are ignored (tests pass the socket path as a
 * positional to check {socket} substitution); "--" ends the options. "--opt=value" is
 * accepted too. Delays are at most INT_MAX ms. Exit 2 on bad usage (one line on stderr), 3 when a system call it
 * depends on fails (bind, fork, writing a report).
 *
 * The bind socket is left on disk at exit: removing it is the supervisor's job, and
 * tests check that it does.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NEVER LLONG_MAX
#define EXIT_USAGE 2
#define EXIT_SYSFAIL 3
/* Enough for any test; a typo such as --fork-tree 10,10 must not fork-bomb the host. */
#define MAX_DESCENDANTS 4096

extern char **environ;

static struct {
	long long exit_code, after_ms, signo, fork_n, bind_ms, listen_ms, notify_ms;
	long long extend_usec, report_fd, argv_echo_fd, pidfile_fd;
	long long tree_depth, tree_width;
	bool after_set, bind_set, notify_set, extend_set;
	bool sleep_forever, ignore_term, gc_ignore_term, gc_setsid, garbage;
	bool notify_from_gc, never_ready, exit_before_ready, echo_line;
	const char *socket, *status, *tree;
} o = { .report_fd = -1, .argv_echo_fd = -1, .pidfile_fd = -1 };

enum kind { FLAG, NUM, STR };
static const struct optdef {
	const char *name;
	enum kind kind;
	void *dst;
	bool *set;
	long long min, max;
} optdefs[] = {
	{ "exit", NUM, &o.exit_code, NULL, 0, 255 },
	{ "after-ms", NUM, &o.after_ms, &o.after_set, 0, INT_MAX },
	{ "signal", NUM, &o.signo, NULL, 1, NSIG - 1 },
	{ "sleep-forever", FLAG, &o.sleep_forever, NULL, 0, 0 },
	{ "ignore-term", FLAG, &o.ignore_term, NULL, 0, 0 },
	{ "report-fd", NUM, &o.report_fd, NULL, 0, INT_MAX },
	{ "argv-echo-fd", NUM, &o.argv_echo_fd, NULL, 0, INT_MAX },
	{ "fork", NUM, &o.fork_n, NULL, 0, MAX_DESCENDANTS },
	{ "fork-tree", STR, &o.tree, NULL, 0, 0 },
	{ "grandchild-ignore-term", FLAG, &o.gc_ignore_term, NULL, 0, 0 },
	{ "grandchild-setsid", FLAG, &o.gc_setsid, NULL, 0, 0 },
	{ "pidfile-fd", NUM, &o.pidfile_fd, NULL, 0, INT_MAX },
	{ "socket", STR, &o.socket, NULL, 0, 0 },
	{ "bind-after-ms", NUM, &o.bind_ms, &o.bind_set, 0, INT_MAX },
	{ "listen-after-ms", NUM, &o.listen_ms, NULL, 0, INT_MAX },
	{ "echo-line", FLAG, &o.echo_line, NULL, 0, 0 },
	{ "notify-after-ms", NUM, &o.notify_ms, &o.notify_set, 0, INT_MAX },
	{ "status", STR, &o.status, NULL, 0, 0 },
	{ "extend-usec", NUM, &o.extend_usec, &o.extend_set, 0, LLONG_MAX },
	{ "garbage", FLAG, &o.garbage, NULL, 0, 0 },
	{ "notify-from-grandchild", FLAG, &o.notify_from_gc, NULL, 0, 0 },
	{ "never-ready", FLAG, &o.never_ready, NULL, 0, 0 },
	{ "exit-before-ready", FLAG, &o.exit_before_ready, NULL, 0, 0 },
};

/* Descendants report their pid here so the root can list nodes it did not fork. */
static int pid_pipe[2] = { -1, -1 };
static long long t0;

static void die(int code, const char *what, const char *arg)
{
	/* stderr is usually /dev/null; the line is for a human running it by hand. */
	char line[512];
	int n = snprintf(line, sizeof(line), "pidring-child: %s%s%s\n", what,
			 arg ? ": " : "", arg ? arg : "");
	if (n > 0)
		(void)!write(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	_exit(code);
}

static bool parse_num(const char *s, long long min, long long max, long long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0)
			continue;
		if (a[2] == '\0')
			break;

		const char *name = a + 2, *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		const struct optdef *d = NULL;
		for (size_t k = 0; k < sizeof(optdefs) / sizeof(optdefs[0]); k++)
			if (strlen(optdefs[k].name) == len && !memcmp(optdefs[k].name, name, len))
				d = &optdefs[k];
		if (!d)
			die(EXIT_USAGE, "unknown option", a);

		if (d->kind == FLAG) {
			if (eq)
				die(EXIT_USAGE, "option takes no value", a);
			*(bool *)d->dst = true;
			continue;
		}
		const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (!val)
			die(EXIT_USAGE, "missing value for", a);
		if (d->kind == STR)
			*(const char **)d->dst = val;
		else if (!parse_num(val, d->min, d->max, d->dst))
			die(EXIT_USAGE, "bad value for", a);
		if (d->set)
			*d->set = true;
	}

	if (o.tree) {
		char *end;
		errno = 0;
		o.tree_depth = strtoll(o.tree, &end, 10);
		if (errno || *end != ',' || o.tree_depth < 1 || o.tree_depth > MAX_DESCENDANTS)
			die(EXIT_USAGE, "bad --fork-tree (want D,W)", o.tree);
		if (!parse_num(end + 1, 1, MAX_DESCENDANTS, &o.tree_width))
			die(EXIT_USAGE, "bad --fork-tree (want D,W)", o.tree);
		long long total = 0, level = 1;
		for (long long d = 0; d < o.tree_depth; d++) {
			level *= o.tree_width;
			total += level;
			if (total > MAX_DESCENDANTS)
				die(EXIT_USAGE, "--fork-tree too large", o.tree);
		}
	}
	if (o.never_ready && o.exit_before_ready)
		die(EXIT_USAGE, "--never-ready and --exit-before-ready conflict", NULL);
	if (o.never_ready || o.exit_before_ready)
		o.bind_set = o.notify_set = o.notify_from_gc = false;
	if (o.notify_from_gc)
		o.notify_set = true;
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until(long long at)
{
	struct timespec ts = { .tv_sec = at / 1000000000LL, .tv_nsec = at % 1000000000LL };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static _Noreturn void sleep_forever(void)
{
	for (;;)
		pause();
}

static int write_full(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Batches the report into few write(2)s; a failure is remembered and checked once. */
struct out {
	int fd;
	bool failed;
	size_t n;
	char buf[4096];
};

static void out_flush(struct out *w)
{
	if (w->n && !w->failed && write_full(w->fd, w->buf, w->n))
		w->failed = true;
	w->n = 0;
}

static void out_put(struct out *w, const char *s, size_t n)
{
	if (n > sizeof(w->buf) - w->n)
		out_flush(w);
	if (n > sizeof(w->buf)) {
		if (!w->failed && write_full(w->fd, s, n))
			w->failed = true;
		return;
	}
	memcpy(w->buf + w->n, s, n);
	w->n += n;
}

static void out_line(struct out *w, const char *prefix, const char *s)
{
	out_put(w, prefix, strlen(prefix));
	out_put(w, s, strlen(s));
	out_put(w, "\n", 1);
}

static void out_fdline(struct out *w, const char *prefix, long long v)
{
	char num[24];
	snprintf(num, sizeof(num), "%lld", v);
	out_line(w, prefix, num);
}

static void out_end(struct out *w)
{
	out_put(w, "end\n", 4);
	out_flush(w);
	close(w->fd);
	if (w->failed)
		die(EXIT_SYSFAIL, "write to report fd failed", NULL);
}

static void report(int fd)
{
	struct out w = { .fd = fd };

	/*
	 * The directory fd is the only one this process opened itself so far, so leaving
	 * it out gives exactly the inherited set (fd itself included).
	 */
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		int self = dirfd(d);
		struct dirent *e;
		while ((e = readdir(d))) {
			long long n;
			if (parse_num(e->d_name, 0, INT_MAX, &n) && n != self)
				out_fdline(&w, "fd ", n);
		}
		closedir(d);
	} else {
		/* No /proc (a bare chroot): probe every possible fd instead. */
		struct rlimit rl;
		long long lim = 65536;
		if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < (rlim_t)lim)
			lim = (long long)rl.rlim_cur;
		for (long long n = 0; n < lim; n++)
			if (fcntl((int)n, F_GETFD) != -1)
				out_fdline(&w, "fd ", n);
	}
	for (char **e = environ; *e; e++)
		out_line(&w, "env ", *e);
	out_end(&w);
}

static void argv_echo(int fd, int argc, char **argv)
{
	struct out w = { .fd = fd };
	for (int i = 0; i < argc; i++)
		out_line(&w, "", argv[i]);
	out_end(&w);
}

/* ---- notify ---- */

static struct sockaddr_un notify_sa;
static socklen_t notify_salen;
static int notify_fd = -1;

/* sd_notify's rules: unset means nobody listens, which is not an error. */
static bool notify_resolve(void)
{
	const char *e = getenv("NOTIFY_SOCKET");
	if (!e || (e[0] != '/' && e[0] != '@'))
		return false;
	size_t n = strlen(e);
	if (n > sizeof(notify_sa.sun_path) || (e[0] == '/' && n == sizeof(notify_sa.sun_path)))
		return false;
	notify_sa.sun_family = AF_UNIX;
	memcpy(notify_sa.sun_path, e, n);
	if (e[0] == '@') {
		/* An abstract address is exactly its bytes: no NUL terminator in the length. */
		notify_sa.sun_path[0] = '\0';
		notify_salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		notify_salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return true;
}

static void notify_send(const void *msg, size_t len)
{
	if (!notify_salen)
		return;
	if (notify_fd < 0)
		notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (notify_fd < 0)
		return;
	/*
	 * Failures are ignored like sd_notify callers do; a test sees them as a missing
	 * READY. EMSGSIZE on the 64 KiB garbage datagram is expected on small wmem limits.
	 */
	while (sendto(notify_fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *)&notify_sa,
		      notify_salen) < 0 && errno == EINTR)
		;
}

static void notify_str(const char *prefix, const char *val)
{
	char buf[4096];
	int n = snprintf(buf, sizeof(buf), "%s%s", prefix, val);
	if (n > 0)
		notify_send(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void notify_garbage(void)
{
	static const char junk[] = { 0, (char)0xff, 'x', 0, 1, 2, '=', 0, '\n', 0 };
	static char big[65536];

	notify_send("", 0);
	notify_send(junk, sizeof(junk));
	memset(big, 'A', sizeof(big));
	notify_send(big, sizeof(big));
	notify_str("NO_EQUALS_SIGN_HERE", "");
}

/* ---- descendants ---- */

/*
 * Everything a descendant must drop so it shows no behaviour of the root: the root's
 * SIGTERM choice, and the fds whose readers wait for EOF (a grandchild holding the
 * pidfile fd or the pid pipe would make the reader hang).
 */
static void descendant_setup(bool direct)
{
	signal(SIGTERM, o.gc_ignore_term ? SIG_IGN : SIG_DFL);
	if (direct && o.gc_setsid)
		setsid();
	if (o.pidfile_fd >= 0)
		close((int)o.pidfile_fd);
	o.pidfile_fd = -1;
	if (pid_pipe[0] >= 0)
		close(pid_pipe[0]);
	pid_pipe[0] = -1;
	if (pid_pipe[1] >= 0) {
		pid_t self = getpid();
		/* Below PIPE_BUF, so atomic: concurrent nodes never interleave. */
		(void)!write(pid_pipe[1], &self, sizeof(self));
	}
}

static void descendant_release(void)
{
	if (pid_pipe[1] >= 0)
		close(pid_pipe[1]);
	pid_pipe[1] = -1;
}

static _Noreturn void tree_node(long long depth_left, bool direct)
{
	/* A loop, not recursion: the forked child simply becomes the node one level down. */
node:
	descendant_setup(direct);
	for (long long i = 0; depth_left > 0 && i < o.tree_width; i++) {
		if (fork() == 0) {
			depth_left--;
			direct = false;
			goto node;
		}
	}
	descendant_release();
	sleep_forever();
}

static _Noreturn void notifier(void)
{
	descendant_setup(true);
	descendant_release();
	sleep_until(t0 + o.notify_ms * 1000000LL);
	notify_send("READY=1", 7);
	sleep_forever();
}

static void spawn(long long depth, bool is_notifier)
{
	pid_t pid = fork();
	if (pid < 0)
		die(EXIT_SYSFAIL, "fork failed", strerror(errno));
	if (pid > 0)
		return;
	if (is_notifier)
		notifier();
	tree_node(depth, true);
}

static void write_pidfile(void)
{
	struct out w = { .fd = (int)o.pidfile_fd };
	char buf[512];
	size_t have = 0;

	for (;;) {
		ssize_t r = read(pid_pipe[0], buf + have, sizeof(buf) - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
		size_t i = 0;
		for (; have - i >= sizeof(pid_t); i += sizeof(pid_t)) {
			pid_t p;
			memcpy(&p, buf + i, sizeof(p));
			out_fdline(&w, "", p);
		}
		memmove(buf, buf + i, have - i);
		have -= i;
	}
	close(pid_pipe[0]);
	pid_pipe[0] = -1;
	out_end(&w);
}

static void fork_descendants(void)
{
	bool any = o.fork_n || o.tree || o.notify_from_gc;

	if (o.pidfile_fd >= 0 && any && pipe2(pid_pipe, O_CLOEXEC))
		die(EXIT_SYSFAIL, "pipe failed", strerror(errno));
	for (long long i = 0; i < o.fork_n; i++)
		spawn(0, false);
	for (long long i = 0; o.tree && i < o.tree_width; i++)
		spawn(o.tree_depth - 1, false);
	if (o.notify_from_gc)
		spawn(0, true);
	if (o.pidfile_fd < 0)
		return;
	/* EOF on the pipe arrives once every node wrote its pid and dropped its end. */
	descendant_release();
	if (pid_pipe[0] >= 0)
		write_pidfile();
	else
		out_end(&(struct out){ .fd = (int)o.pidfile_fd });
}

/* ---- the root's own timeline ---- */

static _Noreturn void finish(void)
{
	if (o.signo) {
		int sig = (int)o.signo;
		struct sigaction sa = { .sa_handler = SIG_DFL };
		sigset_t set;

		sigemptyset(&sa.sa_mask);
		sigaction(sig, &sa, NULL);
		/*
		 * A crash test must not leave core files in the cwd (tests check for leftover
		 * files) nor hand each death to a core_pattern pipe (slow in loops). Dumpable 0
		 * covers the pipe case, which RLIMIT_CORE alone does not.
		 */
		setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(sig);
	}
	_exit((int)o.exit_code);
}

static int bind_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(path);

	if (n >= sizeof(sa.sun_path))
		die(EXIT_SYSFAIL, "socket path too long", path);
	memcpy(sa.sun_path, path, n);
	/* Non-blocking: the accept loop drains until EAGAIN and goes back to poll(). */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die(EXIT_SYSFAIL, "bind failed", strerror(errno));
	return fd;
}

/*
 * --echo-line: the bytes up to and including the first newline go back (all of them
 * when the peer closes or stops sending first). Bounded, so that a peer that connects
 * and says nothing (the engine's readiness probe) costs at most a second.
 */
static void echo_line(int c)
{
	struct pollfd pfd = { .fd = c, .events = POLLIN };
	char buf[4096];
	size_t have = 0;
	char *nl = NULL;

	while (!nl && have < sizeof(buf) && poll(&pfd, 1, 1000) > 0) {
		ssize_t r = read(c, buf + have, sizeof(buf) - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		nl = memchr(buf + have, '\n', (size_t)r);
		have += (size_t)r;
	}
	if (nl)
		have = (size_t)(nl - buf) + 1;
	/* MSG_NOSIGNAL: a peer that already left must not kill us with SIGPIPE. */
	for (size_t off = 0; off < have;) {
		ssize_t w = send(c, buf + off, have - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

static void accept_all(int lfd)
{
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0) {
			if (o.echo_line)
				echo_line(c);
			close(c);
			continue;
		}
		/* A peer that gave up before we accepted it is no reason to stop. */
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		return;
	}
}

static _Noreturn void run(void)
{
	enum { EV_BIND, EV_LISTEN, EV_NOTIFY, EV_EXIT, EV_N };
	long long at[EV_N] = { NEVER, NEVER, NEVER, NEVER };
	const char *path = o.socket ? o.socket : getenv("PIDRING_SOCKET");
	int lfd = -1;
	bool listening = false;

	if (o.bind_set) {
		if (!path || !*path)
			die(EXIT_USAGE, "--bind-after-ms needs --socket or PIDRING_SOCKET", NULL);
		at[EV_BIND] = t0 + o.bind_ms * 1000000LL;
		at[EV_LISTEN] = at[EV_BIND] + o.listen_ms * 1000000LL;
	}
	if (o.notify_set)
		at[EV_NOTIFY] = t0 + o.notify_ms * 1000000LL;

	/* A child asked to become ready stays up afterwards unless told when to exit. */
	bool stays = o.sleep_forever || o.never_ready ||
		     (!o.after_set && (o.bind_set || o.notify_set));
	if (o.exit_before_ready || !stays)
		at[EV_EXIT] = t0 + o.after_ms * 1000000LL;

	for (;;) {
		long long now = now_ns();

		/* Same-instant events run in timeline order: ready first, then exit. */
		if (at[EV_BIND] <= now) {
			lfd = bind_socket(path);
			at[EV_BIND] = NEVER;
		}
		if (at[EV_LISTEN] <= now) {
			if (listen(lfd, 128))
				die(EXIT_SYSFAIL, "listen failed", strerror(errno));
			listening = true;
			at[EV_LISTEN] = NEVER;
		}
		if (at[EV_NOTIFY] <= now) {
			if (o.status)
				notify_str("STATUS=", o.status);
			/* The engine must ignore a READY=1 that does not come from its own pid. */
			if (!o.notify_from_gc)
				notify_send("READY=1", 7);
			at[EV_NOTIFY] = NEVER;
		}
		if (at[EV_EXIT] <= now)
			finish();

		long long next = NEVER;
		for (int i = 0; i < EV_N; i++)
			if (at[i] < next)
				next = at[i];
		int timeout = -1;
		if (next != NEVER) {
			/* Round up: waking a hair early would cost a useless extra iteration. */
			long long ms = (next - now + 999999) / 1000000;
			timeout = ms > INT_MAX ? INT_MAX : (int)ms;
		}
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		if (poll(&pfd, listening ? 1 : 0, timeout) > 0)
			accept_all(lfd);
	}
}

int main(int argc, char **argv)
{
	if (argc <= 1)
		return 0;
	parse_args(argc, argv);
	t0 = now_ns();

	/* First, so a SIGTERM sent right after exec finds it already ignored. */
	if (o.ignore_term)
		signal(SIGTERM, SIG_IGN);
	/* Before anything else opens an fd, so the report shows only what was inherited. */
	if (o.report_fd >= 0)
		report((int)o.report_fd);
	if (o.argv_echo_fd >= 0)
		argv_echo((int)o.argv_echo_fd, argc, argv);

	bool readiness_off = o.never_ready || o.exit_before_ready;
	bool notifying = !readiness_off && (o.notify_set || o.garbage || o.extend_set || o.status);
	if (notifying)
		notify_resolve();

	fork_descendants();

	if (notifying) {
		if (o.garbage)
			notify_garbage();
		if (o.extend_set) {
			char num[24];
			snprintf(num, sizeof(num), "%lld", o.extend_usec);
			notify_str("EXTEND_TIMEOUT_USEC=", num);
		}
		if (o.status && !o.notify_set)
			notify_str("STATUS=", o.status);
	}
	run();
}
