/* SPDX-License-Identifier: MIT */
/*
 * What the modules of pidring-bench share: the configuration, the contenders'
 * and rows' shapes, and the functions one module offers the others. main.c
 * says what the bench measures and how.
 */
#ifndef PIDRING_BENCH_H
#define PIDRING_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <ftw.h>
#include <limits.h>
#include <liburing.h>
#include <malloc.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pidring.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#define OP_WAITID 50          /* IORING_OP_WAITID, kernel >= 6.7 */

#define MAX_ROUNDS   15
#define MAX_C        64
#define MAX_ROWS     96
#define MAX_NOTES    40
#define WARMUP       20       /* untimed cycles before each timed run */
#define STACK_SIZE   (64 * 1024)

/* snprintf into an array; true when the result was truncated. */
#define FMT(buf, ...) ((size_t)snprintf(buf, sizeof(buf), __VA_ARGS__) >= sizeof(buf))

extern char **environ;

/* ---- configuration and shared state ---- */

struct bench_cfg {
	bool     quick, peers;
	int      rounds;
	int      spawn_rounds;    /* spawn and fallback: more, shorter rounds */
	unsigned spawn_n;         /* spawn: cycles per contender per round */
	unsigned ready_n;         /* ready: cycles (pidring, floor) */
	unsigned poll_n;          /* ready: cycles of the sleep-poll peer */
	unsigned storm_n, storm_small;  /* storm: the large and the small n */
	int      storm_rounds, ready_rounds;
	unsigned big_n, big_node_n;
	unsigned heap_mib;        /* big: the parent's touched heap */
	unsigned pop_n, pop_rate_n;
	int      peer_timeout_s;
	const char *only;
	const char *json, *csv;
};

struct bench_state {
	char  child[PATH_MAX];
	char  scripts[PATH_MAX];
	char  node[PATH_MAX], python[PATH_MAX];
	char  tmp[PATH_MAX];      /* private runtime dir */
	char  fdir[PATH_MAX];     /* the ready floor's socket dir */
	char  pdir[PATH_MAX];     /* the sleep-poll peer's socket dir */
	char  node_ver[64], node_uv[32], py_ver[64];
	char *stack;              /* the floor's clone stack */
	int   devnull;            /* the same-job floor's 0, 1 and 2 */
	bool  kernel_waitid;
	bool  failed;             /* a contender failed or something leaked */
};

/*
 * A bar an issue set: a ratio judged against its goal. Bars are printed as
 * PASS or MISS lines and never fail the run (the machines are small and
 * noisy; the exit status speaks of failures and leaks only).
 */
#define MAX_BARS 16

struct bar {
	char   issue[16], what[160];
	double value, goal;
	bool   at_least;
};

struct samples {
	double *v;
	size_t  n, cap;
};

/* ---- results ---- */

enum metric { M_RATE, M_LAT, M_TIME, M_BYTES };

struct row {
	char   scen[16], variant[40], cont[40], baseline[48];
	enum metric metric;
	double median;            /* in the metric's unit */
	double p50, p99;          /* µs; NAN: n/a */
	double rate;              /* 1/s; NAN: n/a */
	double ratio;             /* ratio_to_floor; NAN: n/a */
	double min, max;          /* over rounds, in the metric's unit; NAN: n/a */
	int    rounds;
	unsigned count;           /* procs (cycles) per contender per round */
	size_t samples;
	char   note[200];
};

/*
 * One contender in one scenario. val holds the per-round rates; lat and lat2
 * hold latency samples (µs) over all rounds.
 */
struct cont {
	const char *name;
	int    kind;              /* scenario-specific */
	unsigned flags;           /* pidring_opts.flags */
	unsigned n;               /* storm: procs per round */
	double val[MAX_ROUNDS];
	double p50[MAX_ROUNDS];   /* each round's latency p50 (lat) */
	int    nval;
	struct samples lat, lat2;
	bool   skip, failed;
	char   why[200];          /* why skipped or failed */
};

/* floor.c: what a floor child is given. */
struct fspawn {
	const char   *path;
	char *const  *argv;
	char *const  *envp;
	bool          pdeath;
	bool          unshare;    /* CLONE_FILES, then close_range(UNSHARE) */
	bool          hygiene;    /* also what DESIGN rule 6 asks (see below) */
	int           devnull;
	pid_t         parent;
	volatile int  err;
};

/* The kernel's struct sigaction, for rt_sigaction. */
struct ksigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

enum { FL_UNSHARE = 1, FL_HYGIENE = 2 };

/* peers.c: what a peer script said. */
struct peer_out {
	double rate;
	struct samples lat, lat2;
	char   ver[64], uv[32];
};

/* The contenders' kinds (struct cont.kind), a set per scenario. */
enum { K_PIDRING, K_FLOOR, K_SAMEJOB, K_PSX, K_NODE, K_PY };    /* spawn */
enum { K_RPIDRING, K_RFLOOR, K_RSAMEJOB, K_RRING, K_RPOLL };   /* ready */
#define FR_SAMEJOB     1u   /* floor_ready_cycles: the child does pidring's steps */
#define FR_RING_UNLINK 2u   /* ... and the socket goes by a ring UNLINKAT */
enum { K_SFLOOR, K_SPIDRING };                                 /* storm */
enum { K_BPIDRING, K_BFLOOR, K_BNODE, K_BNODEHEAP };           /* big */
enum { K_PPIDRING, K_PFLOOR, K_PUNSHARE };                     /* population */

struct spawn_arg { unsigned n, c; };


/* util.c */
extern struct bench_cfg cfg;
extern struct bench_state g;
extern char *argv_plain[2], *argv_bind[4], *argv_never[3], *argv_sleep[3];
extern uint64_t cycle_deadline;   /* cycle loops stop spawning after it; 0: none */
extern char notes[MAX_NOTES][400];
extern int nnotes;
extern struct bar bars[MAX_BARS];
extern int nbars;
uint64_t now_ns(void);
bool past_deadline(void);
bool want(const char *name);
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bar(const char *issue, const char *fmt, double value, double goal,
	 bool at_least, ...) __attribute__((format(printf, 2, 6)));
bool bar_met(const struct bar *b);
/* Progress goes to stderr, so that stdout is the table alone. */
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fail(const char *what, int err);
void push(struct samples *s, double x);
double pct(double *v, size_t n, double p);
double median(const double *v, int n);
long rss_bytes(void);
size_t heap_bytes(void);
bool no_children(void);
void check_reaped(const char *scenario);
long task_room(char *why, size_t len);

/* rounds.c: the one timing loop, the ETA and the paired ratios. A round
 * function runs contender c once and stores its value for the round in *val
 * (a rate, or a time in ms); it returns 0 or -errno with c->why set. */
typedef int round_fn(struct cont *c, void *arg, double *val);
void cont_free(struct cont *c, int n);
void run_rounds(struct cont *cs, int nc, const char *what, int rounds, round_fn *fn,
		void *arg);
int round_err(struct cont *c, int r);
double paired_ratio(const struct cont *c, const struct cont *fl, bool rate);
double paired_p50_ratio(const struct cont *c, const struct cont *fl);
void round_range(const struct cont *c, double *lo, double *hi);
void eta_plan(double total_weight);
void eta_scenario(double weight);
double eta_left(void);

/* floor.c */
extern unsigned long floor_refused, floor_ready_total;
int floor_cycles(unsigned n, unsigned c, unsigned mode, struct samples *lat, double *rate);
int floor_ready_cycles(unsigned n, unsigned mode, struct samples *lr, struct samples *lc,
		       double *el);
int floor_storm(unsigned n, double *ms, double *kill_ms);

/* pidring.c */
int pr_new(struct pidring **pr, unsigned flags, unsigned max_procs);
int pr_cycles(struct pidring *pr, unsigned n, unsigned c, struct samples *lat,
	      double *rate);
int pr_spawn_cycles(unsigned flags, unsigned n, unsigned c, struct samples *lat,
		    double *rate);
int pr_ready_cycles(unsigned n, struct samples *lr, struct samples *lc, double *el);
int pr_storm(unsigned flags, unsigned n, double *ms, double *cancel_ms);

/* peers.c */
int psx_cycles(unsigned n, unsigned c, struct samples *lat, double *rate);
int run_peer(const char *interp, const char *script, const char *const *args,
	     struct peer_out *po, char *err, size_t errlen);
void peer_skip_note(struct cont *c, const char *interp, const char *script);
void find_interp(const char *env, const char *const *names, char *out, size_t len);
void resolve_python(void);

/* The scenarios (spawn.c, ready.c, storm.c, big.c, population.c); main.c
 * runs them from its table. */
void scenario_spawn(void);
void scenario_ready(void);
void scenario_storm(void);
void scenario_big(void);
void scenario_population(unsigned flags);

/* report.c and json.c */
extern const char *const metric_name[], *const metric_unit[];
extern struct row rows[MAX_ROWS];
extern int nrows;
struct row *add_row(const char *scen, const char *variant, const char *cont, enum metric m);
void row_rounds(struct row *r, const struct cont *c, unsigned count);
void order_rows(void);
void print_table(double secs);
int write_csv(const char *path);
int write_json(const char *path, double secs);

int pool_bench_main(int argc, char **argv);   /* pool.c: --pool */

#endif
