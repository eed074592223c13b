/* SPDX-License-Identifier: MIT */
/*
 * pidring-stress — a chaos driver that proves nothing leaks.
 *
 *   pidring-stress [--procs N] [--concurrency C] [--seed S] [--duration SEC]
 *                  [--engines K] [--json] [--no-waitid] [--no-clone3] [--child PATH]
 *                  [--runtime-dir DIR] [--ring-entries N] [--quiet]
 *                  [--cgroup DIR] [--inject dup-done|leak-fd]
 *
 * Spawns N pidring-child processes (default 16000, for at most 50 s when
 * neither --procs nor --duration is given), C at a time (default 64), on K
 * engines driven round-robin from this one thread (default 1). Each proc gets
 * a behaviour and an action drawn from the seed:
 *
 *   behaviours  bind (after 0-50 ms), listen-late (bind, listen 5-100 ms later),
 *               exit-early (exits before it is ready), crash (binds, then dies
 *               of SIGSEGV), never-ready (short ready deadline), ignore-term,
 *               fork (1-3 grandchildren, never exits on its own), exec-fail (a
 *               path that does not exist: pidring_spawn must say -ENOENT),
 *               notify (sd_notify READY=1), exec-ready (PIDRING_READY_EXEC)
 *   actions     none, cancel in the same tick as the spawn, cancel while
 *               binding, cancel once running, cancel twice in a row, stale-id
 *               calls after DONE (must say -ESRCH), stop with a short grace,
 *               stop then cancel, cancel then stop
 *
 * The procs are cut into epochs of 300-900 (from the seed too): at the end of
 * each, the driver stops spawning, waits 0-40 ms and destroys the engines with
 * whatever is in flight, then starts new ones. The last epoch runs until every
 * proc is DONE.
 *
 * The schedule — each proc's behaviour, timings, action and engine, and the
 * epoch cuts — is a pure function of (seed, proc index, K); the printed
 * schedule hash shows it. What the kernel does with it (which of a cancel and an exit
 * wins) varies run to run, and the audit accepts exactly the outcomes each
 * such race allows (see audit_done()).
 *
 * Checked continuously: one DONE per spawn, at most one READY and before it, a
 * reason, code and status consistent with the behaviour and with what the
 * driver did, event timestamps consistent with the child's own timeline, no
 * event for an unknown id, pid/user echoed, a cancel/stop/pid on a live id is
 * accepted and on a DONE or forged id is -ESRCH, pidring_live() matches, the
 * bind socket is gone when DONE arrives. Checked after each teardown and at the
 * end: no process whose parent is us (zombies included), no descendant of our
 * procs alive, the fd count back to its baseline, no file under the runtime
 * dir, and the heap (mallinfo2 uordblks, with the tcache off so that it is
 * exact: see tcache_off()) measured around the engines back to its baseline.
 *
 * Exit status: 0 when there was no violation and nothing leaked, 1 otherwise,
 * 2 on bad usage or when the run could not start.
 */
#include "stress.h"

struct stress_opt opt;

char missing_path[PATH_MAX + 32];
struct stats st = { .sched_hash = 0xcbf29ce484222325ull };

uint64_t t_start;
bool heap_exact;
pid_t me;
pid_t my_sid;

/* ---- setup ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pidring-stress [--procs N] [--concurrency C] [--seed S] [--duration SEC]\n"
		"                      [--engines K] [--json] [--no-waitid] [--no-clone3]\n"
		"                      [--child PATH]\n"
		"                      [--runtime-dir DIR] [--ring-entries N] [--quiet]\n"
		"  --procs N        procs to spawn (default %d; unlimited with --duration alone)\n"
		"  --concurrency C  procs in flight (default %d)\n"
		"  --seed S         schedule seed (default: random, printed)\n"
		"  --duration SEC   stop spawning after SEC seconds\n"
		"  --engines K      engines driven round-robin in this thread (default 1, max %d)\n"
		"  --json           last line: one JSON object\n"
		"  --no-waitid      PIDRING_F_NO_WAITID: POLL_ADD + waitid fallback\n"
		"  --no-clone3      PIDRING_F_NO_CLONE3: spawn through clone()\n"
		"  --child PATH     the child program (default $PIDRING_CHILD, else\n"
		"                   pidring-child next to this binary)\n"
		"  --runtime-dir D  runtime base (default: a fresh temporary dir, removed after)\n"
		"  --ring-entries N SQ size of each engine (default: the engine's; small\n"
		"                   sizes exercise submission back-pressure)\n"
		"  --quiet          no progress or teardown lines\n"
		"  --cgroup DIR     engines in cgroup mode under the cgroup v2 dir DIR: each\n"
		"                   proc in its own cgroup, killed through cgroup.kill\n"
		"  --inject KIND    self-test of the auditor: dup-done (a DONE seen twice)\n"
		"                   or leak-fd (an fd left open); the run must fail\n",
		DEF_PROCS, DEF_CONCURRENCY, MAX_ENGINES);
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static int parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "procs", required_argument, NULL, 'n' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "seed", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' },
		{ "engines", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-waitid", no_argument, NULL, 'W' },
		{ "no-clone3", no_argument, NULL, '3' },
		{ "child", required_argument, NULL, 'C' },
		{ "runtime-dir", required_argument, NULL, 'R' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "ring-entries", required_argument, NULL, 'r' },
		{ "inject", required_argument, NULL, 'I' },
		{ "cgroup", required_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool seed_set = false;
	uint64_t v;
	int c;

	opt.procs = DEF_PROCS;
	opt.concurrency = DEF_CONCURRENCY;
	opt.engines = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!parse_u64(optarg, &v) || v == 0)
				goto bad;
			opt.procs = v;
			opt.procs_set = true;
			break;
		case 'c':
			if (!parse_u64(optarg, &v) || v == 0 || v > 100000)
				goto bad;
			opt.concurrency = (unsigned)v;
			break;
		case 's':
			if (!parse_u64(optarg, &v))
				goto bad;
			opt.seed = v;
			seed_set = true;
			break;
		case 'd': {
			char *end;
			errno = 0;
			opt.duration = strtod(optarg, &end);
			if (errno || *end || !(opt.duration > 0))
				goto bad;
			opt.duration_set = true;
			break;
		}
		case 'k':
			if (!parse_u64(optarg, &v) || v == 0 || v > MAX_ENGINES)
				goto bad;
			opt.engines = (unsigned)v;
			break;
		case 'r':
			if (!parse_u64(optarg, &v) || v > 32768)
				goto bad;
			opt.ring_entries = (unsigned)v;
			break;
		case 'j': opt.json = true; break;
		case 'W': opt.no_waitid = true; break;
		case '3': opt.no_clone3 = true; break;
		case 'q': opt.quiet = true; break;
		case 'G':
			opt.cgroup_dir = optarg;
			break;
		case 'I':
			if (strcmp(optarg, "dup-done") && strcmp(optarg, "leak-fd"))
				goto bad;
			opt.inject = optarg;
			break;
		case 'C':
			if (strlen(optarg) >= sizeof(opt.child))
				goto bad;
			strcpy(opt.child, optarg);
			break;
		case 'R':
			if (strlen(optarg) >= sizeof(opt.rundir) - 64)
				goto bad;
			strcpy(opt.rundir, optarg);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pidring-stress: unexpected argument %s\n", argv[optind]);
		return -1;
	}
	if (opt.duration_set && !opt.procs_set)
		opt.procs = UINT64_MAX;
	if (!opt.duration_set && !opt.procs_set)
		opt.duration = DEF_DURATION_CAP;
	if (!seed_set) {
		uint32_t s;
		if (getrandom(&s, sizeof(s), 0) != sizeof(s))
			s = (uint32_t)(now_ns() ^ (uint64_t)getpid());
		opt.seed = s;
	}
	return 0;
bad:
	fprintf(stderr, "pidring-stress: bad value for --%s: %s\n",
		c == 'n' ? "procs" : c == 'c' ? "concurrency" : c == 's' ? "seed" :
		c == 'd' ? "duration" : c == 'k' ? "engines" : c == 'C' ? "child" :
		c == 'r' ? "ring-entries" : "runtime-dir", optarg);
	return -1;
}

static int find_child(void)
{
	if (!opt.child[0]) {
		const char *e = getenv("PIDRING_CHILD");
		if (e && *e && strlen(e) < sizeof(opt.child)) {
			strcpy(opt.child, e);
		} else {
			char self[PATH_MAX];
			ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 32);
			if (n <= 0)
				return -1;
			self[n] = '\0';
			char *slash = strrchr(self, '/');
			if (!slash)
				return -1;
			strcpy(slash + 1, "pidring-child");
			strcpy(opt.child, self);
		}
	}
	/* The engine does not search PATH; and a relative path would resolve
	 * against the child's cwd, which we set. */
	if (opt.child[0] != '/') {
		char abs[PATH_MAX];
		if (!realpath(opt.child, abs))
			return -1;
		strcpy(opt.child, abs);
	}
	return access(opt.child, X_OK);
}
/*
 * mallinfo2() counts the chunks parked in the thread's tcache as in use, so a
 * free()d block can look leaked until the cache fills up (seen here: +608 B per
 * engine for the first seven engines, then 0). With the tcache off the count is
 * exact. The tunable is only read at startup: set it and exec ourselves once;
 * the children get the caller's own GLIBC_TUNABLES back.
 */
#define TUNABLES_MARK "PIDRING_STRESS_TUNABLES"

static void tcache_off(char **argv)
{
	const char *mark = getenv(TUNABLES_MARK), *old;
	char *val, *mval;

	if (mark) {
		if (mark[0] == '=')
			setenv("GLIBC_TUNABLES", mark + 1, 1);
		else
			unsetenv("GLIBC_TUNABLES");
		unsetenv(TUNABLES_MARK);
		return;
	}
	old = getenv("GLIBC_TUNABLES");
	if (asprintf(&val, "%s%sglibc.malloc.tcache_count=0", old ? old : "",
		     old ? ":" : "") < 0)
		return;
	if (asprintf(&mval, "%s%s", old ? "=" : "-", old ? old : "") < 0) {
		free(val);
		return;
	}
	setenv(TUNABLES_MARK, mval, 1);
	setenv("GLIBC_TUNABLES", val, 1);
	execv("/proc/self/exe", argv);
	/* No exec: go on with an approximate heap count. */
	if (mval[0] == '=')
		setenv("GLIBC_TUNABLES", mval + 1, 1);
	else
		unsetenv("GLIBC_TUNABLES");
	unsetenv(TUNABLES_MARK);
	free(val);
	free(mval);
}

/* Does a free() show in mallinfo2 at once (no tcache hiding it)? */
static bool heap_count_exact(void)
{
	void *volatile p = malloc(40);   /* the first malloc sets the heap up */
	size_t a, b;

	free(p);
	a = mallinfo2().uordblks;
	p = malloc(40);
	b = mallinfo2().uordblks;
	free(p);
	return b > a && mallinfo2().uordblks == a;
}

/* The runtime base: a fresh temporary dir unless given; made canonical,
 * since socket paths are checked against it. 0 or -1 (said why). */
static int make_rundir(void)
{
	char abs[PATH_MAX];

	if (!opt.rundir[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(opt.rundir, sizeof(opt.rundir), "%s/pidring-stress.XXXXXX",
			 tmp && *tmp && strlen(tmp) < 256 ? tmp : "/tmp");
		if (!mkdtemp(opt.rundir)) {
			fprintf(stderr, "pidring-stress: mkdtemp %s: %s\n", opt.rundir,
				strerror(errno));
			return -1;
		}
		opt.own_rundir = true;
	} else if (mkdir(opt.rundir, 0700) && errno != EEXIST) {
		fprintf(stderr, "pidring-stress: mkdir %s: %s\n", opt.rundir, strerror(errno));
		return -1;
	}
	if (!realpath(opt.rundir, abs) || strlen(abs) >= sizeof(opt.rundir) - 64) {
		fprintf(stderr, "pidring-stress: %s: %s\n", opt.rundir, strerror(errno));
		return -1;
	}
	strcpy(opt.rundir, abs);
	return 0;
}

/* Readiness as a whole, once the run is over. */
static void check_readiness(void)
{
	/*
	 * A proc that gets ready and exits 50+ ms later may still exit before
	 * the engine confirmed it on an overloaded machine (seen: a third of
	 * them at load 25 on 2 cores with 256 in flight), so a miss is allowed
	 * one by one. But a mode in which not one of many procs got READY is
	 * broken readiness, not a race.
	 */
	for (int m = PIDRING_READY_BIND; m <= PIDRING_READY_NOTIFY; m++) {
		uint64_t all = ready_by_mode[m] + missed_by_mode[m];
		const char *name = m == PIDRING_READY_BIND ? "BIND" : "NOTIFY";
		if (all >= 20 && !ready_by_mode[m])
			violation(NULL, "not one of %" PRIu64 " %s procs left alone got READY "
				  "before it exited", all, name);
		else if (all >= 20 && missed_by_mode[m] * 4 > all && !opt.quiet)
			printf("note: %" PRIu64 " of %" PRIu64 " %s procs left alone exited before "
			       "READY (allowed one by one: an overloaded machine, or readiness "
			       "is slow)\n", missed_by_mode[m], all, name);
	}

}

/*
 * Modes that a module of their own runs in place of the chaos driver: when
 * an argument is a mode's flag, main hands the whole command line to its
 * entry function and returns what it returns. A module (tools/stress/<name>.c)
 * declares its entry function in stress.h and adds its line here.
 */
/* pool_stress_main takes "--pool" as its argv[0], its options after. */
static int run_pool(int argc, char **argv)
{
	char *v[argc + 1];
	int n = 0;

	v[n++] = "--pool";
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--pool"))
			v[n++] = argv[i];
	v[n] = NULL;
	return pool_stress_main(n, v);
}

static const struct mode {
	const char *flag;
	int (*run)(int argc, char **argv);
} modes[] = {
	{ "--pool", run_pool },      /* tools/stress/pool.c */
	{ NULL, NULL },
};

static const struct mode *find_mode(int argc, char **argv)
{
	for (const struct mode *m = modes; m->flag; m++)
		for (int i = 1; i < argc; i++)
			if (!strcmp(argv[i], m->flag))
				return m;
	return NULL;
}

int main(int argc, char **argv)
{
	const struct mode *mode = find_mode(argc, argv);

	if (mode)
		return mode->run(argc, argv);
	tcache_off(argv);
	heap_exact = heap_count_exact();
	if (parse_args(argc, argv))
		return 2;
	if (find_child()) {
		fprintf(stderr, "pidring-stress: no executable child at '%s' (use --child or "
			"PIDRING_CHILD)\n", opt.child);
		return 2;
	}
	me = getpid();
	my_sid = getsid(0);
	tty = isatty(1);
	/* A dead pipe reader must not kill us before the engines are destroyed. */
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_interrupt, .sa_flags = SA_RESETHAND };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (make_rundir())
		return 2;
	snprintf(missing_path, sizeof(missing_path), "%s/no-such-child", opt.rundir);

	if (records_init()) {
		fprintf(stderr, "pidring-stress: out of memory\n");
		return 2;
	}
	char nprocs[32] = "unlimited";
	if (opt.procs != UINT64_MAX)
		snprintf(nprocs, sizeof(nprocs), "%" PRIu64, opt.procs);
	t_start = now_ns();
	printf("pidring-stress %s: seed %" PRIu64 ", %s procs, concurrency %u, %u engine%s at "
	       "a time, %s, %s, child %s, runtime dir %s%s\n", pidring_version(), opt.seed,
	       nprocs, opt.concurrency, opt.engines,
	       opt.engines == 1 ? "" : "s", opt.no_waitid ? "no WAITID (fallback)" : "WAITID",
	       opt.no_clone3 ? "clone()" : "clone3",
	       opt.child, opt.rundir, heap_exact ? "" : " (heap count approximate)");
	fflush(stdout);

	fd_baseline = count_fds();
	files_baseline = opt.own_rundir ? 0 : rundir_entries(false, false);

	while (run_epoch())
		;

	double secs = since_start();
	check_readiness();
	if (opt.own_rundir) {
		rundir_entries(true, false);
		if (rmdir(opt.rundir) && errno != ENOENT)
			fprintf(stderr, "pidring-stress: rmdir %s: %s\n", opt.rundir, strerror(errno));
	}

	int exitc = (st.violations || st.leaked_procs || st.leaked_fds || st.leaked_files ||
		     st.leaked_heap) ? 1 : 0;
	clear_progress();
	if (!opt.quiet)
		progress(true);
	clear_progress();
	if (nkinds) {
		fprintf(stderr, "violations by kind (count, first one):\n");
		for (unsigned i = 0; i < nkinds; i++)
			fprintf(stderr, "  %6u  %s\n", kinds[i].n, kinds[i].first);
	}
	report_end(argv[0], secs, exitc);
	fflush(stdout);
	free(pool);
	free(free_stack);
	free(map);
	return exitc;
}
