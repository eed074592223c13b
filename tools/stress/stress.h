/* SPDX-License-Identifier: MIT */
/*
 * What the modules of pidring-stress share: the options, the schedule's and
 * the records' shapes, and the functions one module offers the others.
 * main.c says what the chaos driver does and what the auditor checks.
 */
#ifndef PIDRING_STRESS_H
#define PIDRING_STRESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pidring.h"
#include "tool_util.h"

#define DEF_PROCS        16000
#define DEF_CONCURRENCY  64
#define DEF_DURATION_CAP 50.0     /* s: only when neither --procs nor --duration */
#define MAX_ENGINES      16
#define EVMAX            64
#define EPOCH_MIN        300
#define EPOCH_SPAN       600      /* epoch length: EPOCH_MIN + [0, EPOCH_SPAN) */
#define EPOCH_MAX        (EPOCH_MIN + EPOCH_SPAN)
#define BIND_TIMEOUT_MS  10000    /* deadline of procs that are meant to get ready */
#define DESTROY_MS       10000
#define FINAL_DRAIN_MS   15000    /* the last epoch: every proc must be DONE by then */
#define STALE_RING       1024
#define SPAWN_BURST      8        /* spawns per loop turn */
#define MAX_REPORTS      60       /* violations described in full; the rest counted */
#define REPORTS_PER_KIND 6
#define NS               1000000000ull
#define MS               1000000ull
#define HEAP_SLACK       65536    /* B: only when the tcache could not be turned off */

/* ---- the schedule ---- */

enum behav {
	B_BIND, B_LISTEN_LATE, B_EXIT_EARLY, B_CRASH, B_NEVER_READY, B_IGNORE_TERM,
	B_FORK, B_EXEC_FAIL, B_NOTIFY, B_EXEC_READY, B_N
};

enum action {
	A_NONE, A_CANCEL_SPAWN, A_CANCEL_BINDING, A_CANCEL_RUNNING, A_CANCEL_TWICE,
	A_AFTER_DONE, A_STOP, A_STOP_CANCEL, A_CANCEL_STOP, A_N
};

/* How a proc ends when nobody touches it. */
enum natural { NAT_EXIT, NAT_SIGNAL, NAT_TIMEOUT, NAT_NONE };

struct plan {
	uint64_t index;
	uint8_t  behav, action, mode;   /* mode: enum pidring_ready */
	uint8_t  engine;                /* 0..K-1 */
	uint8_t  nat;                   /* enum natural */
	bool     post_done;             /* stale-id calls after its DONE */
	bool     forge;                 /* forged-id calls right after its spawn */
	bool     sock_arg;              /* --socket {socket}: argv substitution */
	bool     status, garbage;       /* NOTIFY extras */
	bool     gc_ignore_term;        /* fork: the grandchildren ignore SIGTERM */
	bool     tree;                  /* fork: a tree two levels deep, nfork wide */
	int      bind_ms, listen_ms, notify_ms;
	int      ready_ms;              /* earliest readiness, from the child's start */
	int      nat_ms;                /* natural end, from the child's start */
	int      code;                  /* exit code (NAT_EXIT) or signal (NAT_SIGNAL) */
	int      nfork;
	unsigned ready_timeout_ms;
	int      act_ms, act2_ms;       /* action delays */
	unsigned grace_ms;
};

struct rng { uint64_t s; };

/* ---- options and global state ---- */

struct stress_opt {
	uint64_t procs;
	unsigned concurrency;
	uint64_t seed;
	double   duration;             /* 0: none */
	unsigned engines;
	unsigned ring_entries;         /* 0: the engine's default */
	bool     json, no_waitid, no_clone3, quiet;
	bool     procs_set, duration_set;
	const char *inject;            /* self-test: a fault the audit must catch */
	const char *cgroup_dir;        /* engines in cgroup mode */
	char     child[PATH_MAX];
	char     rundir[PATH_MAX];
	bool     own_rundir;
};  /* exec-fail: never exists */

struct stats {
	uint64_t spawned, ready, done, exited, exited_early, cancelled, stopped, timeouts;
	uint64_t exec_failures, destroyed, ready_missed;
	uint64_t cancel_calls, stop_calls, stale_checks, forged_checks;
	uint64_t engines, teardowns, violations;
	uint64_t leaked_procs, leaked_fds, leaked_files;
	long long heap_first_delta, heap_max_delta, leaked_heap;
	uint64_t sched_hash;
};

/* ---- per-proc records: a fixed pool and an open-addressing map ---- */

struct logged_call { char what; int rc; uint64_t at; };
struct logged_ev {
	uint8_t type, reason;
	int code, status;
	uint64_t at;       /* ready_ns or done_ns */
};

struct rec {
	bool       used;
	struct plan pl;
	unsigned   k;                   /* engine slot */
	unsigned   eserial;             /* engine serial number, for reports */
	pidring_id id;
	pid_t      pid;
	uint64_t   t_pre, t_post;       /* around pidring_spawn */
	uint64_t   due;                 /* next action step (0: none) */
	int        step;                /* action steps done */
	char       eff;                 /* first accepted verb: 'C', 'S' or 0 */
	uint64_t   eff_start, eff_end;
	bool       ready_before_eff;    /* READY delivered before that verb */
	bool       esrch_pending;       /* a verb said -ESRCH before we saw DONE */
	int        nready;
	uint64_t   ready_ns;
	int        ncalls, nevs;
	struct logged_call calls[6];
	struct logged_ev evs[4];
	int        ep;                  /* its epoch_procs entry, -1: none */
	char       sock[108];
};

struct mslot { uint64_t key; unsigned k; unsigned rec; };

/* ---- engines ---- */

struct stale { pidring_id id; uint64_t index; };

struct eng {
	struct pidring *pr;
	unsigned serial;
	unsigned ours;                  /* our records not yet DONE */
	struct stale stale[STALE_RING];
	unsigned stale_head, stale_len, stale_ready;
};

/*
 * Every violation is counted; the first few of each kind (its format string)
 * are described in full, so that one flood does not hide another kind.
 */
struct kind { const char *fmt; unsigned n; char first[200]; };

/* The procs spawned this epoch, by pid once sorted: whose group a leftover
 * descendant belongs to, and how that proc ended. */
struct eproc {
	pid_t    pid;
	uint8_t  behav, action, reason;  /* reason 0: destroyed in flight */
	bool     gc_ignore_term;
	int      code, status;
	uint64_t index;
};


/* main.c */
extern struct stress_opt opt;
extern char missing_path[PATH_MAX + 32];
extern struct stats st;
extern uint64_t t_start;
extern bool heap_exact;
extern pid_t me;
extern pid_t my_sid;

/* plan.c */
extern const char *const behav_name[B_N];
extern const char *const action_name[A_N];
void make_plan(uint64_t index, struct plan *p);
void hash_bytes(const void *b, size_t n);
void hash_plan(const struct plan *p);
unsigned epoch_len(uint64_t epoch);
unsigned epoch_delay_ms(uint64_t epoch);

/* records.c */
uint64_t now_ns(void);
double since_start(void);
extern struct rec *pool;
extern unsigned pool_cap, inflight;
extern unsigned *free_stack, free_top;
extern struct mslot *map;
extern unsigned map_mask;
void map_put(unsigned k, uint64_t id, unsigned r);
long map_find(unsigned k, uint64_t id);
void map_del_at(unsigned i);
struct rec *rec_alloc(void);
void rec_free(struct rec *r);
extern struct eng eng[MAX_ENGINES];
int records_init(void);

/* report.c */
extern bool tty;
void clear_progress(void);
const char *code_name(int c);
double rel_ms(const struct rec *r, uint64_t t);
extern struct kind kinds[64];
extern unsigned nkinds;
void violation(const struct rec *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_call(struct rec *r, char what, int rc, uint64_t at);
void log_ev(struct rec *r, const struct pidring_event *ev);
void progress(bool force);
void report_teardown(uint64_t n, unsigned destroyed, long long dheap, int fds,
			    unsigned children, unsigned desc, long files, double ms);
void json_summary(double secs, int exitc);
void report_end(const char *argv0, double secs, int exitc);

/* audit.c */
int count_fds(void);
extern struct eproc epoch_procs[EPOCH_MAX];
extern size_t nepoch;
int cmp_eproc(const void *a, const void *b);
unsigned scan_procs(unsigned *children, unsigned *dying, bool report);
long rundir_entries(bool remove, bool report);
extern uint64_t ready_by_mode[3], missed_by_mode[3];
bool can_ready(const struct plan *p);
void audit_done(struct rec *r, const struct pidring_event *ev);

/* driver.c */
void drain(unsigned k, int timeout_ms);
void after_drain(unsigned k);
void act(struct rec *r);
void stale_checks(unsigned k);
void forged_checks(struct rec *r);
void spawn_one(uint64_t index);

/* epoch.c */
extern int fd_baseline;
extern long files_baseline;
extern uint64_t next_index;
void on_interrupt(int sig);
bool run_epoch(void);

int records_init(void);
void report_end(const char *argv0, double secs, int exitc);

int pool_stress_main(int argc, char **argv);   /* pool.c: --pool */

#endif
