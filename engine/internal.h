/* SPDX-License-Identifier: MIT */
/* Private to the engine: never installed. */
#ifndef PR_INTERNAL_H
#define PR_INTERNAL_H

#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "compat.h"
#include "fault.h"
#include "pidring.h"

#define PR_DEFAULT_ENTRIES     256u
#define PR_DEFAULT_MAX_PROCS   4096u
#define PR_MAX_PROCS_LIMIT     (1u << 24)    /* slot index is 24 bits in user_data */
#define PR_DEFAULT_READY_MS    30000u
#define PR_CHAIN_MAX           10u           /* longest batch of linked SQEs */
#define PR_RING_MIN            16u           /* the ring holds a whole chain */
#define PR_MIN_ENTRIES         8u            /* smallest ring_entries accepted */
#define PR_STACK_SIZE          (64u * 1024u) /* clone child stack */
#define PR_MAX_READY_MS       (24u * 3600u * 1000u)  /* a day */

/* Proc states (lifecycle.c owns the transitions). PR_FREE is a slot on the
 * free list. */
enum pr_state {
	PR_FREE = 0,
	PR_BINDING,     /* spawned, readiness pending; exit watched */
	PR_RUNNING,     /* ready (or READY_EXEC); exit watched */
	PR_STOPPING,    /* SIGTERM sent; POLL_ADD + LINK_TIMEOUT(grace) armed */
	PR_KILLING,     /* SIGKILL sent; the reap chain submitted (or pending) */
	PR_REAPING,     /* status known; the tail (UNLINKAT, CLOSE) under way */
	PR_NSTATES
};

/*
 * What a completion is for. user_data = PIDRING_UD_TAG | op << 56 |
 * slot << 32 | gen, so a completion names its proc and generation (and, on
 * a caller's ring, says it is ours: the top three bits); engine-wide
 * operations use slot 0xffffff.
 */
enum pr_op {
	PR_OP_NONE = 0,
	PR_OP_WATCH,      /* exit watch: POLL_ADD on the pidfd */
	PR_OP_CANCEL,     /* ASYNC_CANCEL (or TIMEOUT_REMOVE) step of a chain */
	PR_OP_REAP,       /* the chain's WAITID */
	PR_OP_STOPWAIT,   /* stop's POLL_ADD on the pidfd, linked to a timeout */
	PR_OP_LTIMEOUT,   /* LINK_TIMEOUT on PR_OP_STOPWAIT */
	PR_OP_UNLINK,     /* UNLINKAT of the bind socket */
	PR_OP_CLOSE,      /* CLOSE of the pidfd: the last step */
	PR_OP_DEADLINE,   /* readiness deadline TIMEOUT */
	PR_OP_CONNECT,    /* readiness CONNECT probe */
	PR_OP_RETRY,      /* TIMEOUT before the next CONNECT probe */
	PR_OP_PCLOSE,     /* CLOSE of a probe socket */
	PR_OP_INOTIFY,    /* engine: read of the instance directory's inotify fd */
	PR_OP_NOTIFY,     /* engine: recvmsg on the sd_notify socket */
	PR_OP_NOP,        /* engine: completions that need nothing */
	PR_OP_CGKILL,     /* WRITE "1" to cgroup.kill, and its CLOSE */
	PR_OP_CGRMDIR,    /* UNLINKAT(AT_REMOVEDIR) of the proc's cgroup */
	PR_OP_CGWATCH,    /* POLL_ADD(POLLPRI) on cgroup.events */
	PR_OP_ORPHAN,     /* engine: WAITID(P_ALL, WNOWAIT) peek (subreaper) */
	PR_OP_ORETRY,     /* engine: TIMEOUT before the next peek */
	PR_OP_POLL,       /* the chain's POLL_ADD on the pidfd, before its WAITID */
	PR_OP_POOLTIMER,  /* engine: the session pool's TIMEOUT (engine/pool.c) */
	PR_NOPS
};
_Static_assert(PR_NOPS <= 32, "an op kind has 5 bits in user_data");

#define PR_ENGINE_SLOT 0xffffffu

static inline uint64_t pr_ud(enum pr_op op, uint32_t slot, uint32_t gen)
{
	return PIDRING_UD_TAG | (uint64_t)op << 56 | (uint64_t)(slot & 0xffffffu) << 32 | gen;
}
static inline enum pr_op pr_ud_op(uint64_t ud) { return (enum pr_op)((ud >> 56) & 0x1f); }
static inline uint32_t pr_ud_slot(uint64_t ud) { return (uint32_t)(ud >> 32) & 0xffffffu; }
static inline uint32_t pr_ud_gen(uint64_t ud) { return (uint32_t)ud; }

/* pr_proc.pend */
enum {
	PR_PEND_NONE,
	PR_PEND_TAIL,    /* status in hand: the tail (pr_tail) */
	PR_PEND_KILL,    /* SIGKILL sent: the reap chain (pr_put_kill) */
	PR_PEND_REAP,    /* fallback: poll the pidfd again */
	PR_PEND_CG,      /* the cgroup still holds processes (pr_tree_linger) */
	PR_PEND_STOP,    /* the stop's batch (pr_stop_chain) */
};

/* A chain the ring cannot take now: kept as the proc's pending action
 * (PR_PEND_*), retried from pidring_wait and pidring_destroy. */
#define pr_defer(pr, p, what) do {                                           \
		if (!(p)->pend)                                               \
			(pr)->npending++;                                     \
		(p)->pend = (what);                                           \
	} while (0)

/* pr_proc.armed: the proc's operations that a chain must cancel. */
#define PR_ARM(op) (1u << (op))

/* pr_proc.flags */
#define PRF_GROUP        (1u << 0)  /* leads its own process group */
#define PRF_HAVE_STATUS  (1u << 1)  /* code/status are final */
#define PRF_READY        (1u << 2)  /* READY emitted (or READY_EXEC) */
#define PRF_CLOSED       (1u << 3)  /* pidfd CLOSE completed */
#define PRF_SOCK         (1u << 4)  /* owns a bind socket name */
#define PRF_PROBE        (1u << 5)  /* probe socket open (probe_fd) */
#define PRF_BOUND        (1u << 6)  /* inotify saw the socket appear */
#define PRF_HASHED       (1u << 7)  /* in the pid hash */
#define PRF_CGROUP       (1u << 8)  /* has a cgroup not yet removed */
#define PRF_REPROBED     (1u << 9)  /* a refused connect was asked again at once */
#define PRF_PROBE_NB     (1u << 10) /* probe_fd is O_NONBLOCK (inline connects) */
#define PRF_CHAIN_WAITID (1u << 11) /* the chain's POLL is followed by its WAITID */
#define PRF_RING_TAIL    (1u << 12) /* the tail goes on the ring, not inline */
#define PRF_POOL         (1u << 13) /* the session pool's: READY/DONE go to it */

struct pr_proc {
	uint32_t gen;
	uint32_t next_free;
	uint8_t  state;          /* enum pr_state */
	uint8_t  reason;         /* enum pidring_reason once decided */
	uint8_t  mode;           /* enum pidring_ready */
	uint16_t flags;          /* PRF_* */
	uint32_t armed;          /* PR_ARM(op) of in-flight cancellable ops */
	uint16_t inflight;       /* SQEs submitted for this proc, not yet completed */
	uint32_t pid_next;       /* next in the pid hash chain */
	uint8_t  pend;           /* PR_PEND_*: a chain to retry (pr_run_pending) */
	int      pidfd;
	pid_t    pid;
	int      code, status;
	int      probe_fd;
	unsigned retry_us;       /* next CONNECT retry backoff */
	void    *user;
	uint64_t spawn_ns, ready_ns;
	uint64_t deadline_ns;    /* absolute, for EXTEND_TIMEOUT_USEC */
	struct __kernel_timespec ts;     /* readiness deadline */
	struct __kernel_timespec rts;    /* CONNECT retry backoff */
	struct __kernel_timespec grace;  /* stop's LINK_TIMEOUT */
	siginfo_t reap_si;       /* written by the chain's WAITID */
	char    *status_text;    /* last STATUS= (NOTIFY), malloc'd */
	struct sockaddr_un *sun; /* BIND: the socket's address, malloc'd */
	int      cg_events_fd;   /* cgroup.events, while waiting for it to empty */
	char     cg_name[24];    /* "<slot>.<gen>", for the ring's UNLINKAT */
};

/*
 * Completion dispatch. ring.c reads a completion's op kind and slot and
 * calls the handler the table names for that kind; it knows no module
 * above it by name. The lifecycle (lifecycle.c) owns the table, filled
 * with its own handlers and those of the concerns (readiness, trees), and
 * the hooks below. For the engine's own operations p is NULL and idx is
 * the generation field of their user_data (a tag some of them use).
 */
typedef void pr_cqe_fn(struct pidring *pr, struct pr_proc *p, uint32_t idx,
		       enum pr_op op, int res);

/* What a concern tells the lifecycle happened to a proc (pr_report). */
enum pr_event {
	PR_EV_SPAWNED,     /* born, readiness armed (not READY_EXEC) */
	PR_EV_READY,       /* exec done (READY_EXEC), bound, or READY=1 */
	PR_EV_WATCH,       /* the exit watch fired (res: its result) */
	PR_EV_DEADLINE,    /* the ready deadline passed */
	PR_EV_CANCEL,      /* pidring_cancel, pidring_destroy */
	PR_EV_STOP,        /* pidring_stop */
	PR_EV_GRACE_OVER,  /* the stop's POLL ended: leader gone or grace out */
	PR_EV_CHAIN_POLL,  /* the chain's POLL: the child is dead */
	PR_EV_CHAIN_WAITID,/* the chain's WAITID: its status */
	PR_NEVENTS
};

struct pr_ops {
	pr_cqe_fn *cqe[PR_NOPS];
	unsigned engine_ops;   /* PR_ARM(op) of the kinds that are the engine's own */
	/* After each of a proc's completions: DONE once nothing is left. */
	void (*settle)(struct pidring *pr, struct pr_proc *p, uint32_t idx);
	/* A concern reports an event of a proc (res: the event's result). */
	void (*report)(struct pidring *pr, struct pr_proc *p, uint32_t idx,
		       enum pr_event ev, int res);
};

/*
 * The session pool (pool.c) sits on top of the public API. The layers below
 * reach it only through these, set while a pool exists (pr->pool_hooks).
 */
struct pidring_pool;
struct pr_pool_hooks {
	void (*ready)(struct pidring *pr, struct pr_proc *p, uint32_t idx);
	void (*done)(struct pidring *pr, struct pr_proc *p, uint32_t idx);
	void (*run)(struct pidring *pr);
	int  (*destroy)(struct pidring_pool *pool);
	pr_cqe_fn *timer;
};

struct pr_evq {
	struct pidring_event *ev;
	unsigned head, len, cap;
};

struct pidring {
	struct io_uring *ring;      /* &own, or the caller's (attach mode) */
	struct io_uring own;
	bool     attached;          /* opts.ring: the CQ is the caller's to read */
	unsigned flags;             /* opts flags */
	bool     has_waitid;        /* kernel WAITID and not PIDRING_F_NO_WAITID */
	bool     no_clone3;         /* spawn with clone(): PIDRING_F_NO_CLONE3, or
				       the kernel refused clone3 once */
	bool     taskrun_flag;      /* IORING_SQ_TASKRUN tells when to enter */
	bool     deferred;          /* the ring is DEFER_TASKRUN */
	bool     destroying;
	bool     ring_ok;
	bool     in_dispatch;       /* handling the backlog: do not re-enter */
	const struct pr_ops *ops;   /* completion handlers (lifecycle.c) */
	pid_t    owner_tid;
	pid_t    owner_pid;         /* getpid() at pidring_new */
	unsigned sq_entries;
	int      evfd;              /* pidring_fd()'s eventfd, or -1 until asked */
#ifdef PR_FAULT_INJECTION
	unsigned trace_pos;         /* next SQ index to trace (engine/fault.c) */
#endif

	/* completions copied out of the CQ, handled in order */
	struct io_uring_cqe *cqb;
	unsigned cqb_len, cqb_cap, cqb_pos;

	struct pr_proc *procs;
	uint32_t max_procs;
	uint32_t free_head;         /* UINT32_MAX: none */
	uint32_t used;              /* slots handed out, ever (lazy init) */
	unsigned live;
	unsigned npending;          /* procs with a pending chain (pr_proc.pend) */
	uint32_t *pid_buckets;      /* pid -> slot (pr_pids_*), NULL until needed */
	uint32_t pid_mask;

	struct pr_evq evq;

	/* clone */
	void    *stack;             /* mmap'd, with a guard page below */
	size_t   stack_len;
	int      devnull;

	/* instance directory */
	char    *base;              /* runtime base */
	char    *inst;              /* instance directory path */
	int      base_fd;           /* O_DIRECTORY fd of base */
	int      inst_fd;           /* O_DIRECTORY fd of inst */
	int      lock_fd;           /* flock'd for the engine's life */

	char     inst_name[32];     /* instance (and engine cgroup) name */

	/* readiness */
	int      inotify_fd;
	int      notify_fd;
	struct pr_ready_engine *rd;
	unsigned engine_inflight;   /* engine-wide SQEs in flight */

	/* process trees */
	int      cg_parent_fd;      /* opts.cgroup_dir */
	int      cg_fd;             /* <cgroup_dir>/<instance> */
	bool     subreaper, set_subreaper, orphan_armed, orphan_retry;
	siginfo_t orphan_si;
	struct __kernel_timespec orphan_ts;
	unsigned long orphans;

	/* the session pool (engine/pool.c), if one was made */
	struct pidring_pool *pool;
	const struct pr_pool_hooks *pool_hooks;
	bool     pool_spawn;        /* pidring_spawn is the pool's: mark PRF_POOL */
};

/* slots.c */
int  pr_slots_init(struct pidring *pr, unsigned max_procs);
void pr_slots_free(struct pidring *pr);
struct pr_proc *pr_slot_alloc(struct pidring *pr, uint32_t *idx);
void pr_slot_release(struct pidring *pr, uint32_t idx);
struct pr_proc *pr_lookup(struct pidring *pr, pidring_id id, uint32_t *idx);
int  pr_verb_lookup(struct pidring *pr, pidring_id id, struct pr_proc **p, uint32_t *idx);
int  pr_pids_init(struct pidring *pr);
void pr_pids_add(struct pidring *pr, struct pr_proc *p, uint32_t idx);
void pr_pids_del(struct pidring *pr, struct pr_proc *p, uint32_t idx);
struct pr_proc *pr_pids_find(struct pidring *pr, pid_t pid, uint32_t *idx);
static inline pidring_id pr_make_id(uint32_t idx, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint64_t)(idx + 1);
}

/* ring.c */
int  pr_ring_attach(struct pidring *pr, struct io_uring *ring);
int  pr_ring_setup(struct pidring *pr, unsigned entries);
void pr_ring_for_polling(struct pidring *pr);
bool pr_probe_waitid(struct pidring *pr);
int  pr_backlog_room(struct pidring *pr, unsigned n);
void pr_evfd_drain(struct pidring *pr);
unsigned pr_pop_events(struct pidring *pr, struct pidring_event *ev, unsigned max);
bool pr_ring_has_work(struct pidring *pr);
struct io_uring_sqe *pr_psqe(struct pidring *pr, struct pr_proc *p, uint32_t idx,
			     enum pr_op op);
int  pr_cancel_ops(struct pidring *pr, struct pr_proc *p, uint32_t idx, unsigned mask);
struct io_uring_sqe *pr_put_mcancels(struct pidring *pr, struct pr_proc *p,
				     uint32_t idx, unsigned mask);
struct io_uring_sqe *pr_sqe(struct pidring *pr);
struct io_uring_sqe *pr_esqe(struct pidring *pr, enum pr_op op);
void pr_ecancel(struct pidring *pr, enum pr_op op);
void pr_drive(struct pidring *pr, uint64_t max_ns);
int  pr_reserve(struct pidring *pr, unsigned n);
int  pr_submit(struct pidring *pr);
void pr_submit_lazy(struct pidring *pr);
struct pidring_event *pr_event_slot(struct pidring *pr);
uint64_t pr_now_ns(void);
int  pr_process_cqes(struct pidring *pr);
void pr_signal_leftovers(struct pidring *pr);

/* spawn.c */
#define PR_MAX_FDS 1024u
int  pr_spawn_validate(const struct pidring_spawn *s);
int  pr_spawn_init(struct pidring *pr);
void pr_spawn_fini(struct pidring *pr);
int  pr_clone(struct pidring *pr, struct pr_proc *p, const struct pidring_spawn *s,
	      char *const *argv, char *const *envp, int cg_dir);

/* chain.c: the SQEs of a proc's watch, stop, kill and reap */
int  pr_signal(struct pr_proc *p, int sig);
int  pr_arm_watch(struct pidring *pr, struct pr_proc *p, uint32_t idx);
void pr_take_status(struct pr_proc *p, const siginfo_t *si);
int  pr_waitid_now(struct pr_proc *p);
int  pr_kill_chain(struct pidring *pr, struct pr_proc *p, uint32_t idx);
int  pr_put_kill(struct pidring *pr, struct pr_proc *p, uint32_t idx);
int  pr_put_repoll(struct pidring *pr, struct pr_proc *p, uint32_t idx);
int  pr_tail(struct pidring *pr, struct pr_proc *p, uint32_t idx);
int  pr_stop_chain(struct pidring *pr, struct pr_proc *p, uint32_t idx);

/* lifecycle.c: the owner of pr_proc.state */
extern const struct pr_ops pr_lifecycle_ops;
void pr_run_pending(struct pidring *pr);
void pr_cancel_all(struct pidring *pr);

/* How a concern reports to the lifecycle, which it does not know by name. */
static inline void pr_report(struct pidring *pr, struct pr_proc *p, uint32_t idx,
			     enum pr_event ev, int res)
{
	pr->ops->report(pr, p, idx, ev, res);
}

/* strv.c: argv/envp vectors; a substituted copy is one block to free() */
size_t pr_strv_count(char *const *v);
bool pr_strv_has(char *const *v, const char *tok);
int  pr_strv_subst(char *const *v, const char *tok, const char *val, size_t vlen,
		   char ***out);

/* rundir.c */
DIR *pr_opendirat(int dirfd, const char *name);
int  pr_rundir_open(struct pidring *pr, const char *base);
void pr_rundir_close(struct pidring *pr);
int  pr_sock_name(const struct pr_proc *p, uint32_t idx, char *buf, size_t len);

#ifdef PR_FAULT_INJECTION
/* Every allocation of the engine can be made to fail (engine/fault.h). Each
 * engine file includes this header after the system ones. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#define socket(...)     (pr_fault(PR_FS_SOCKET) ? (errno = EMFILE, -1) : socket(__VA_ARGS__))
#define inotify_init1(f) (pr_fault(PR_FS_INOTIFY) ? (errno = EMFILE, -1) : inotify_init1(f))
#define open(...)       (pr_fault(PR_FS_OPEN) ? (errno = EMFILE, -1) : open(__VA_ARGS__))
#define openat(...)     (pr_fault(PR_FS_OPEN) ? (errno = EMFILE, -1) : openat(__VA_ARGS__))
#define mkdir(...)      (pr_fault(PR_FS_MKDIR) ? (errno = ENOSPC, -1) : mkdir(__VA_ARGS__))
#define mkdirat(...)    (pr_fault(PR_FS_MKDIR) ? (errno = ENOSPC, -1) : mkdirat(__VA_ARGS__))
#define malloc(n)       (pr_fault(PR_FS_ALLOC) ? NULL : malloc(n))
#define calloc(n, m)    (pr_fault(PR_FS_ALLOC) ? NULL : calloc(n, m))
#define realloc(q, n)   (pr_fault(PR_FS_ALLOC) ? NULL : realloc(q, n))
#define strdup(s)       (pr_fault(PR_FS_ALLOC) ? NULL : strdup(s))
#define asprintf(...)   (pr_fault(PR_FS_ALLOC) ? -1 : asprintf(__VA_ARGS__))
#endif

#endif /* PR_INTERNAL_H */
