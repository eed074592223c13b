/* SPDX-License-Identifier: MIT */
/*
 * pidring-bench — pidring against a hand-written floor and common practice.
 *
 *   pidring-bench [--quick] [--rounds R] [--only LIST] [--no-peers]
 *                 [--pop N] [--json FILE] [--csv FILE]
 *
 * Each scenario measures pidring and its baselines in the same run, in
 * alternating rounds. Every round runs every contender once, and the order
 * rotates from round to round. The report gives the median over rounds of the
 * per-round value, and latency percentiles over all samples:
 *
 *   spawn       N spawn→DONE cycles of the static do-nothing child, C = 1 and
 *               C = 32 in flight: pidring, the floor, the same-job floor,
 *               posix_spawn + waitpid, Node child_process and Python asyncio
 *               (tools/bench/). pidring's note gives its ratio to the
 *               same-job floor: the engine's own cost, without the rules'.
 *   ready       spawn→READY latency, and the full cycle (spawn, ready, cancel,
 *               DONE), for a child that binds at once: pidring BIND, the floor
 *               (inotify + connect, then pidfd_send_signal, waitid, unlink,
 *               close), the same-job floor, the same-job floor that unlinks
 *               by a ring UNLINKAT as the reap chain must (the kernel runs it
 *               on an io-wq worker), and the 50 ms sleep-poll practice
 *               (Python). The cycle throughput against the floor is issue
 *               14's bar (>= 0.90).
 *   storm       n procs waiting to bind (a child that never binds), all
 *               cancelled in one tick: the time from the first cancel to the
 *               last DONE, against kill + waitid, at n = 100 and n = 10,000
 *               (--quick: 2,000); the cost per proc at the large n over the
 *               small one is issue 14's bar (<= 1.2).
 *   big         spawn→DONE latency with a 1 GiB touched heap in the parent, and
 *               without one: pidring, the floor, and Node, whose libuv forks.
 *   population  engine heap and RSS per live proc with 10,000 sleeping
 *               children, and the spawn rate at that population against 10.
 *   fallback    spawn and storm with PIDRING_F_NO_WAITID. These are measured
 *               in the same rounds as spawn and storm, against the same floor.
 *   pop-fallback  population with PIDRING_F_NO_WAITID. Runs only when --only
 *               names it.
 *
 * LIST is a comma-separated list of those names.
 *
 * The floor is written here, and it does the minimum a correct spawner must
 * do: block signals, clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD), have the child
 * empty its signal mask and execve, then poll() on the pidfds and waitid(P_PIDFD).
 * Floor children that would outlive the bench if it crashed (those in ready
 * and storm) also set PDEATHSIG. The same-job floor is that floor with the
 * child doing by hand what DESIGN rule 6 and the process group ask of
 * pidring's (floor_hygiene): every signal disposition reset, setpgid,
 * PDEATHSIG, 0-2 on /dev/null, nothing else open.
 *
 * Convention: ratio_to_floor = floor cost / contender cost. For rates that is
 * contender / floor; for latencies and times it is floor / contender. 1.00
 * is the floor; a value below 1 is slower. It is the median of the
 * per-round ratios (paired_ratio; for the ready latency, of the rounds' p50s,
 * paired_p50_ratio).
 *
 * The child is $PIDRING_CHILD, or else pidring-child beside this binary. The
 * peer scripts come from $PIDRING_BENCH_SCRIPTS, or else ../tools/bench
 * relative to this binary. node and python3 are looked up on PATH;
 * $PIDRING_BENCH_NODE and $PIDRING_BENCH_PYTHON override that, and an empty
 * value skips the peer. Everything runs in a private directory under $TMPDIR,
 * which is removed at the end.
 *
 * Bars that issues set are printed last as PASS or MISS lines, judged on
 * medians over at least 5 alternating rounds; they never fail the run.
 *
 * Exit status: 0; 1 when a contender failed or a child or file was left
 * behind; 2 on bad usage.
 */
#include "bench.h"

static bool probe_waitid(void)
{
	struct io_uring_probe *p = io_uring_get_probe();
	bool ok;

	if (!p)
		return false;
	ok = io_uring_opcode_supported(p, OP_WAITID);
	io_uring_free_probe(p);
	return ok;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void cleanup_tmp(void)
{
	int n = 0;
	DIR *d;

	if (!g.tmp[0])
		return;
	/* Expected: fdir and pdir, empty. Anything else was left behind. */
	d = opendir(g.tmp);
	if (d) {
		struct dirent *e;

		while ((e = readdir(d))) {
			char p[PATH_MAX];
			DIR *sub;

			if (e->d_name[0] == '.')
				continue;
			if (FMT(p, "%s/%s", g.tmp, e->d_name))
				continue;
			if (strcmp(e->d_name, "floor") && strcmp(e->d_name, "poll")) {
				n++;
				continue;
			}
			sub = opendir(p);
			if (sub) {
				struct dirent *se;

				while ((se = readdir(sub)))
					if (se->d_name[0] != '.')
						n++;
				closedir(sub);
			}
		}
		closedir(d);
	}
	if (n) {
		g.failed = true;
		note("LEAK: %d file(s) left in the runtime dir %s; removed", n, g.tmp);
	}
	nftw(g.tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pidring-bench [--quick] [--rounds R] [--only LIST] [--no-peers]\n"
		"                     [--pop N] [--json FILE] [--csv FILE]\n"
		"  --pop N: live procs in the population scenario (default 10000)\n"
		"  LIST: comma-separated of spawn,ready,storm,big,population,fallback,\n"
		"        pop-fallback (population with NO_WAITID; only when listed)\n"
		"  env: PIDRING_CHILD, PIDRING_BENCH_SCRIPTS, PIDRING_BENCH_NODE,\n"
		"       PIDRING_BENCH_PYTHON (empty: skip that peer)\n");
}

/* The counts of a full run, and of --quick: every scenario, smaller. */
static void configure(int rounds, int pop)
{
	bool q = cfg.quick;

	cfg.rounds = q ? 3 : 5;
	cfg.spawn_rounds = q ? 5 : 11;
	cfg.spawn_n = q ? 200 : 1000;
	cfg.ready_n = q ? 100 : 1000;
	cfg.poll_n = q ? 10 : 40;
	cfg.big_n = q ? 100 : 500;
	cfg.big_node_n = q ? 10 : 50;
	cfg.heap_mib = q ? 256 : 1024;
	cfg.pop_n = q ? 2000 : 10000;
	cfg.pop_rate_n = q ? 300 : 1000;
	cfg.peer_timeout_s = q ? 60 : 300;
	cfg.storm_n = q ? 2000 : 10000;
	cfg.storm_small = 100;
	/* The bars are judged on medians over at least 5 alternating rounds. */
	cfg.storm_rounds = cfg.ready_rounds = cfg.rounds < 5 ? 5 : cfg.rounds;
	if (rounds)
		cfg.rounds = cfg.spawn_rounds = cfg.storm_rounds = cfg.ready_rounds = rounds;
	if (pop)
		cfg.pop_n = (unsigned)pop;
}

/* 0, or the exit status of a run that must not start. */
static int parse_args(int argc, char **argv)
{
	int rounds = 0, pop = 0;

	cfg.peers = true;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--quick")) {
			cfg.quick = true;
		} else if (!strcmp(a, "--no-peers")) {
			cfg.peers = false;
		} else if (!strcmp(a, "--json") && i + 1 < argc) {
			cfg.json = argv[++i];
		} else if (!strcmp(a, "--csv") && i + 1 < argc) {
			cfg.csv = argv[++i];
		} else if (!strcmp(a, "--only") && i + 1 < argc) {
			cfg.only = argv[++i];
		} else if (!strcmp(a, "--pop") && i + 1 < argc) {
			pop = atoi(argv[++i]);
			if (pop < 20 || pop > 1000000) {
				fprintf(stderr, "pidring-bench: --pop 20..1000000\n");
				return 2;
			}
		} else if (!strcmp(a, "--rounds") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
			if (rounds < 1 || rounds > MAX_ROUNDS) {
				fprintf(stderr, "pidring-bench: --rounds 1..%d\n", MAX_ROUNDS);
				return 2;
			}
		/* options of scenario modules go here, beside their table entry */
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return -1;
		} else {
			usage(stderr);
			return 2;
		}
	}
	configure(rounds, pop);
	return 0;
}

/* Where the child and the peer scripts are; 0 or 2. */
static int locate(void)
{
	static const char *const node_names[] = { "node", "nodejs", NULL };
	static const char *const py_names[] = { "python3", NULL };
	char exe[PATH_MAX], *slash;
	const char *e;
	ssize_t l;

	l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[l > 0 ? l : 0] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	e = getenv("PIDRING_CHILD");
	if (e && *e)
		snprintf(g.child, sizeof(g.child), "%s", e);
	else if (FMT(g.child, "%s/pidring-child", exe))
		g.child[0] = '\0';
	if (!g.child[0] || access(g.child, X_OK)) {
		fprintf(stderr, "pidring-bench: no child at %s (set PIDRING_CHILD)\n", g.child);
		return 2;
	}
	if (g.child[0] != '/') {
		char abs[PATH_MAX];

		if (realpath(g.child, abs))
			snprintf(g.child, sizeof(g.child), "%s", abs);
	}
	e = getenv("PIDRING_BENCH_SCRIPTS");
	if (e && *e)
		snprintf(g.scripts, sizeof(g.scripts), "%s", e);
	else if (FMT(g.scripts, "%s/../tools/bench", exe))
		g.scripts[0] = '\0';
	find_interp("PIDRING_BENCH_NODE", node_names, g.node, sizeof(g.node));
	find_interp("PIDRING_BENCH_PYTHON", py_names, g.python, sizeof(g.python));
	if (cfg.peers && g.python[0])
		resolve_python();

	argv_plain[0] = g.child;
	argv_bind[0] = g.child;
	argv_bind[1] = "--bind-after-ms";
	argv_bind[2] = "0";
	argv_never[0] = g.child;
	argv_never[1] = "--never-ready";
	argv_sleep[0] = g.child;
	argv_sleep[1] = "--sleep-forever";
	return 0;
}

/* The private runtime dir, the floor's stack, the limits; 0 or 2. */
static int setup(void)
{
	struct rlimit rl;
	const char *e;

	/* One pidfd per live proc: 10,000 of them in the population scenario. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!no_children()) {
		fprintf(stderr, "pidring-bench: this process already has children\n");
		return 2;
	}
	g.stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (g.stack == MAP_FAILED) {
		perror("pidring-bench: mmap");
		return 2;
	}
	g.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (g.devnull < 0) {
		perror("pidring-bench: /dev/null");
		return 2;
	}
	e = getenv("TMPDIR");
	snprintf(g.tmp, sizeof(g.tmp), "%s/pidring-bench.XXXXXX", e && *e ? e : "/tmp");
	if (!mkdtemp(g.tmp)) {
		perror("pidring-bench: mkdtemp");
		return 2;
	}
	/* Socket paths go below: keep them well inside sun_path. */
	if (strlen(g.tmp) > 64 || FMT(g.fdir, "%s/floor", g.tmp) ||
	    FMT(g.pdir, "%s/poll", g.tmp)) {
		fprintf(stderr, "pidring-bench: TMPDIR too long for socket paths\n");
		rmdir(g.tmp);
		return 2;
	}
	if (mkdir(g.fdir, 0700) || mkdir(g.pdir, 0700)) {
		perror("pidring-bench: mkdir");
		cleanup_tmp();
		return 2;
	}
	g.kernel_waitid = probe_waitid();
	if (!g.kernel_waitid)
		note("this kernel has no IORING_OP_WAITID: pidring runs its POLL_ADD fallback "
		     "everywhere");
	if (cfg.peers && !g.node[0])
		note("node not found: Node contenders skipped");
	if (cfg.peers && !g.python[0])
		note("python3 not found: Python contenders skipped");

	return 0;
}

static void run_population(void) { scenario_population(0); }
static void run_pop_fallback(void) { scenario_population(PIDRING_F_NO_WAITID); }

/*
 * The scenarios, in the order they run. A scenario runs when --only is not
 * given or names it (or its "also" name); an "only" one runs only when named.
 * weight: its rough share of a full run and of a quick one, in seconds on a
 * small machine, for the ETA. A module that brings a scenario of its own
 * (tools/bench/<name>.c) adds its entry function to bench.h and a line here.
 */
static const struct scenario {
	const char *name, *also;
	void (*run)(void);
	double weight_full, weight_quick;
	bool only;
} scenarios[] = {
	{ "spawn",        "fallback", scenario_spawn,   110, 14, false },
	{ "ready",        NULL,       scenario_ready,    25,  6, false },
	{ "storm",        "fallback", scenario_storm,    70, 10, false },
	{ "big",          NULL,       scenario_big,      25,  5, false },
	{ "population",   NULL,       run_population,    30,  5, false },
	{ "pop-fallback", NULL,       run_pop_fallback,  30,  5, true },
	/* more scenarios from their own modules go here */
};
#define NSCEN (sizeof(scenarios) / sizeof(scenarios[0]))

static bool scenario_wanted(const struct scenario *s)
{
	if (s->only)
		return cfg.only && want(s->name);
	return want(s->name) || (s->also && want(s->also));
}

static void run_scenarios(void)
{
	double total = 0;

	for (size_t i = 0; i < NSCEN; i++)
		if (scenario_wanted(&scenarios[i]))
			total += cfg.quick ? scenarios[i].weight_quick : scenarios[i].weight_full;
	eta_plan(total);
	for (size_t i = 0; i < NSCEN; i++) {
		const struct scenario *s = &scenarios[i];

		if (!scenario_wanted(s))
			continue;
		eta_scenario(cfg.quick ? s->weight_quick : s->weight_full);
		s->run();
	}
	eta_scenario(0);
	if (g.node_ver[0])
		note("peers: Node %s (libuv %s)%s%s", g.node_ver, g.node_uv,
		     g.py_ver[0] ? ", Python " : "", g.py_ver);
	else if (g.py_ver[0])
		note("peers: Python %s", g.py_ver);
}

int main(int argc, char **argv)
{
	uint64_t t_start;
	double secs;
	int r;

	if (argc > 1 && !strcmp(argv[1], "--pool"))   /* tools/bench/pool.c */
		return pool_bench_main(argc - 1, argv + 1);
	r = parse_args(argc, argv);
	if (r)
		return r < 0 ? 0 : r;
	r = locate();
	if (!r)
		r = setup();
	if (r)
		return r;
	t_start = now_ns();
	run_scenarios();
	secs = (double)(now_ns() - t_start) / 1e9;
	check_reaped("the run");
	cleanup_tmp();
	order_rows();
	print_table(secs);
	r = cfg.json ? write_json(cfg.json, secs) : 0;
	if (r)
		fprintf(stderr, "pidring-bench: %s: %s\n", cfg.json, strerror(-r));
	r = cfg.csv ? write_csv(cfg.csv) : 0;
	if (r)
		fprintf(stderr, "pidring-bench: %s: %s\n", cfg.csv, strerror(-r));
	munmap(g.stack, STACK_SIZE);
	return g.failed ? 1 : 0;
}
