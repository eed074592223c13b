/* SPDX-License-Identifier: MIT */
/*
 * Small pieces every module uses: the clock, --only, notes, the bars,
 * progress lines, samples and their percentiles, the task room.
 */
#include "bench.h"

struct bench_cfg cfg;
struct bench_state g;

char *argv_plain[2], *argv_bind[4], *argv_never[3], *argv_sleep[3];

/* When set, cycle loops stop starting new procs after this time (CLOCK_MONOTONIC). */
uint64_t cycle_deadline;

/* ---- small utilities ---- */

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool past_deadline(void)
{
	return cycle_deadline && now_ns() >= cycle_deadline;
}

bool want(const char *name)
{
	size_t l = strlen(name);
	const char *p = cfg.only;

	if (!p)
		return true;
	while (*p) {
		if (!strncmp(p, name, l) && (p[l] == ',' || p[l] == '\0'))
			return true;
		p = strchr(p, ',');
		if (!p)
			break;
		p++;
	}
	return false;
}

char notes[MAX_NOTES][400];
int nnotes;
void note(const char *fmt, ...)
{
	va_list ap;

	if (nnotes == MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(notes[nnotes++], sizeof(notes[0]), fmt, ap);
	va_end(ap);
}
struct bar bars[MAX_BARS];
int nbars;

void bar(const char *issue, const char *fmt, double value, double goal,
		bool at_least, ...)
{
	struct bar *b;
	va_list ap;

	if (nbars == MAX_BARS)
		return;
	b = &bars[nbars++];
	snprintf(b->issue, sizeof(b->issue), "%s", issue);
	va_start(ap, at_least);
	vsnprintf(b->what, sizeof(b->what), fmt, ap);
	va_end(ap);
	b->value = value;
	b->goal = goal;
	b->at_least = at_least;
}

bool bar_met(const struct bar *b)
{
	return !isnan(b->value) && (b->at_least ? b->value >= b->goal : b->value <= b->goal);
}
void fail(const char *what, int err)
{
	g.failed = true;
	note("FAILED: %s: %s", what, strerror(err < 0 ? -err : err));
	progress("FAILED: %s: %s", what, strerror(err < 0 ? -err : err));
}

void push(struct samples *s, double x)
{
	if (!s)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		double *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			return;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = x;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile; NAN for no samples. Sorts in place. */
double pct(double *v, size_t n, double p)
{
	size_t k;

	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_dbl);
	k = (size_t)ceil(p * (double)n);
	return v[k ? k - 1 : 0];
}

double median(const double *v, int n)
{
	double t[MAX_ROUNDS];

	if (n <= 0)
		return NAN;
	memcpy(t, v, (size_t)n * sizeof(*t));
	qsort(t, (size_t)n, sizeof(*t), cmp_dbl);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

long rss_bytes(void)
{
	long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &res) != 2)
		res = 0;
	fclose(f);
	return res * sysconf(_SC_PAGESIZE);
}

size_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static long read_long_file(const char *path)
{
	char buf[64];
	long v = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return -1;
	buf[r] = '\0';
	if (!strncmp(buf, "max", 3))
		return LONG_MAX;
	sscanf(buf, "%ld", &v);
	return v;
}

/* Do we have no child left at all, not even a zombie? */
bool no_children(void)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

void check_reaped(const char *scenario)
{
	siginfo_t si;

	if (no_children())
		return;
	g.failed = true;
	note("LEAK after %s: a child of the bench is still there; reaping it now", scenario);
	/* Do not leave it behind: anything still ours gets killed and reaped. */
	for (int i = 0; i < 100000; i++) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
			break;
		if (si.si_pid == 0) {
			usleep(1000);
			continue;
		}
		waitpid(si.si_pid, NULL, 0);
	}
}

/* ---- scenario 5: population ---- */

/* How many more tasks may we create? Counts pid_max, threads-max, cgroup
 * pids.max, RLIMIT_NPROC and RLIMIT_NOFILE against what exists now. */
long task_room(char *why, size_t len)
{
	long pid_max = read_long_file("/proc/sys/kernel/pid_max");
	long thr_max = read_long_file("/proc/sys/kernel/threads-max");
	long cg = read_long_file("/sys/fs/cgroup/pids.max");
	long tasks = 0, room = LONG_MAX;
	struct rlimit rl;
	char line[256];
	FILE *f;

	f = fopen("/proc/loadavg", "r");
	if (f) {
		double a, b, c;
		long run;

		if (fscanf(f, "%lf %lf %lf %ld/%ld", &a, &b, &c, &run, &tasks) != 5)
			tasks = 0;
		fclose(f);
	}
	/* cgroup v1 pids controller, when this process sits in one */
	f = fopen("/proc/self/cgroup", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, ":pids:"), path[PATH_MAX];
		long v;

		if (!p)
			continue;
		p += 6;
		p[strcspn(p, "\n")] = '\0';
		if (FMT(path, "/sys/fs/cgroup/pids%s/pids.max", p))
			continue;
		v = read_long_file(path);
		if (v > 0 && (cg < 0 || v < cg))
			cg = v;
	}
	if (f)
		fclose(f);
	snprintf(why, len, "pid_max %ld, threads-max %ld, cgroup pids.max %s, tasks now %ld",
		 pid_max, thr_max, cg == LONG_MAX || cg < 0 ? "max" : "set", tasks);
	if (pid_max > 0 && pid_max - tasks < room)
		room = pid_max - tasks;
	if (thr_max > 0 && thr_max - tasks < room)
		room = thr_max - tasks;
	if (cg > 0 && cg != LONG_MAX && cg - tasks < room)
		room = cg - tasks;
	if (!getrlimit(RLIMIT_NPROC, &rl) && rl.rlim_cur != RLIM_INFINITY && geteuid() != 0 &&
	    (long)rl.rlim_cur - tasks < room)
		room = (long)rl.rlim_cur - tasks;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    (long)rl.rlim_cur - 256 < room)
		room = (long)rl.rlim_cur - 256;    /* one pidfd per live proc */
	return room;
}
