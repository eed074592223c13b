/* SPDX-License-Identifier: MIT */
/*
 * pidring: spawn, supervise and reap child processes on io_uring.
 *
 * One engine per thread. Every call returns 0 (or a positive value where
 * documented) on success and a negative errno value on failure; errno is
 * never the channel. The library never exits, aborts or prints.
 */
#ifndef PIDRING_H
#define PIDRING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The one version source: the Makefile reads these for the SONAME and pidring.pc. */
#define PIDRING_VERSION_MAJOR 0
#define PIDRING_VERSION_MINOR 1
#define PIDRING_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

#if defined(PIDRING_BUILDING) && defined(__GNUC__)
#define PIDRING_API __attribute__((visibility("default")))
#else
#define PIDRING_API
#endif

struct pidring;                          /* opaque engine */
typedef uint64_t pidring_id;             /* 0 is never valid */
struct io_uring;                         /* liburing's, for attach mode */
struct io_uring_cqe;

/* pidring_opts.flags */
#define PIDRING_F_NO_WAITID   (1u << 0)  /* no ring WAITID: POLL_ADD + waitid(WNOHANG) */
#define PIDRING_F_SUBREAPER   (1u << 1)  /* adopt and reap orphaned descendants */
#define PIDRING_F_NO_CLONE3   (1u << 2)  /* spawn with clone(), not clone3 (for a
                                            seccomp filter that refuses clone3
                                            with EPERM, where ENOSYS would have
                                            made the engine fall back itself) */

struct pidring_opts {                    /* NULL opts = all defaults */
    unsigned    ring_entries;            /* 0: default (256); 8..32768, and
                                            the ring gets at least 16 SQEs so
                                            that a whole reap chain fits */
    unsigned    max_procs;               /* 0: default (4096) */
    const char *runtime_dir;             /* base for instance dirs; NULL: default */
    unsigned    flags;                   /* PIDRING_F_* */
    const char *cgroup_dir;              /* cgroup v2 directory the engine may
                                            write: each proc gets a child
                                            cgroup, killed through cgroup.kill;
                                            NULL: process groups only */
    struct io_uring *ring;               /* attach mode: the caller's ring
                                            (see "Attach mode" below);
                                            NULL: the engine makes its own */
};

/*
 * Create an engine: a ring (SINGLE_ISSUER, DEFER_TASKRUN where the kernel has
 * them), a slot table and an instance directory under the runtime base.
 * Kernel features are probed once, here. The engine belongs to the calling
 * thread: every later call on it must come from that thread.
 *
 * The runtime base is opts->runtime_dir, else $PIDRING_RUNTIME_DIR, else
 * $XDG_RUNTIME_DIR/pidring, else /tmp/pidring-<uid>. It is created (0700) when
 * missing and must be a real directory owned by the caller, not a symlink; a
 * relative path is taken from the current directory at this call.
 *
 * With PIDRING_F_SUBREAPER the process becomes a child subreaper
 * (PR_SET_CHILD_SUBREAPER, undone by pidring_destroy if this engine set it):
 * descendants orphaned by a proc's death are reparented to the process, and
 * the engine reaps every exited child it does not track (see pidring_orphans).
 * Use it in a process whose children all come from this one engine.
 *
 * With opts->cgroup_dir, each proc is spawned into its own cgroup
 * <cgroup_dir>/<instance>/<slot>.<gen> (born in it, through clone3's
 * CLONE_INTO_CGROUP; on the clone() path it joins it before anything
 * else); its whole tree is killed through
 * cgroup.kill (which also reaches grandchildren that left the process group)
 * and the cgroup is removed before its DONE. Cgroups left by an engine whose
 * process died are killed and removed here (waiting up to 100 ms for each to
 * empty); instance directories of dead engines under the runtime base too.
 *
 * Errors: -EINVAL (unknown flags, ring_entries or max_procs out of range,
 * empty cgroup_dir, an attached ring of fewer than 16 SQ entries), -ENOMEM, -ENAMETOOLONG (runtime base too long for a
 * socket path), -ENOTDIR (runtime base is a symlink or not a directory),
 * -EPERM (runtime base not ours), -ENOSYS (no io_uring, or no
 * IORING_FEAT_NODROP), -ENOTSUP (cgroup_dir is not cgroup v2 or lacks
 * cgroup.kill), -EACCES/-EROFS
 * (cgroup_dir not writable), or what the kernel returned for io_uring_setup,
 * mkdir, open.
 */
PIDRING_API int pidring_new(struct pidring **out, const struct pidring_opts *opts);

/*
 * Cancel every live proc and drive the ring until all are DONE (their events
 * are discarded), then remove the instance directory and free everything.
 * timeout_ms < 0 waits as long as it takes. pr == NULL is harmless (returns 0).
 * Returns 0, or -ETIMEDOUT when some proc was not reaped in time: every proc
 * has been sent SIGKILL by then and the engine is freed all the same (a child
 * stuck in uninterruptible sleep is left as a zombie of the process). Even
 * then, killed procs get up to 100 ms more to die and be reaped, so a short
 * timeout (0 included) leaves no zombie of a child that could die.
 *
 * Attach mode: the engine never reaps a ring it does not own, so it cannot
 * wait here. The first call sends SIGKILL to every live proc, submits their
 * chains and cancels the engine's own operations; timeout_ms is not used.
 * While any of that is still in flight it returns -EINPROGRESS and the
 * engine stays valid, refusing new spawns (-ESHUTDOWN): keep passing its
 * completions to pidring_handle_cqe and call pidring_destroy again; the call
 * that finds nothing left in flight frees the engine and returns 0. The
 * caller's ring must outlive that call.
 */
PIDRING_API int pidring_destroy(struct pidring *pr, int timeout_ms);

enum pidring_ready { PIDRING_READY_EXEC, PIDRING_READY_BIND, PIDRING_READY_NOTIFY };

struct pidring_fd_map { int parent_fd, child_fd; };

/* pidring_spawn.flags */
#define PIDRING_SPAWN_SETSID     (1u << 0) /* child starts a new session */
#define PIDRING_SPAWN_KEEP_PGRP  (1u << 1) /* child stays in the caller's group;
                                              signals reach only its pid */
#define PIDRING_SPAWN_SETUID     (1u << 2) /* child runs as spec.uid */
#define PIDRING_SPAWN_SETGID     (1u << 3) /* child runs as spec.gid */
#define PIDRING_SPAWN_SETGROUPS  (1u << 4) /* supplementary groups = spec.groups */
#define PIDRING_SPAWN_NO_NEW_PRIVS (1u << 5) /* PR_SET_NO_NEW_PRIVS before exec */
#define PIDRING_SPAWN_SOCKET     (1u << 6) /* a per-spawn socket path in any ready
                                              mode (see "The socket" below) */

struct pidring_rlimit { int resource; uint64_t cur, max; }; /* RLIMIT_*, RLIM_INFINITY */

struct pidring_spawn {
    const char  *path;                   /* executable */
    char *const *argv;
    char *const *envp;                   /* NULL: the caller's environ */
    const char  *cwd;                    /* NULL: inherit */
    const struct pidring_fd_map *fds;    /* unmapped 0, 1, 2 get /dev/null */
    unsigned     nfds;
    enum pidring_ready ready;
    unsigned     ready_timeout_ms;       /* 0: default (30 s) */
    unsigned     flags;                  /* PIDRING_SPAWN_* */
    void        *user;                   /* echoed in events */
    /* Credentials and limits, each applied only with its flag. Groups are
     * set before the gid, the gid before the uid, so that dropping root
     * leaves nothing of it behind. */
    uid_t        uid;
    gid_t        gid;
    const gid_t *groups;
    unsigned     ngroups;
    const struct pidring_rlimit *rlimits; /* set in the child before exec */
    unsigned     nrlimits;
};

/*
 * Spawn a child with clone3(CLONE_VM|CLONE_VFORK|CLONE_PIDFD|CLONE_CLEAR_SIGHAND):
 * no fork, no page table copy; returns once the child has exec'd. Where the
 * kernel has no clone3 (before 5.7, or hidden by a seccomp filter), on
 * architectures other than x86-64, or with PIDRING_F_NO_CLONE3, clone() with
 * the same flags but CLONE_CLEAR_SIGHAND does the same job, every signal
 * blocked in the calling thread around it. The slot exists before the
 * child does. On success *id is set and exactly one DONE event will follow
 * (and at most one READY before it). On failure nothing is left behind and no
 * event follows.
 *
 * The child: signal mask emptied and handled or ignored signals reset to
 * default, its own process group (or session, or the caller's group with
 * PIDRING_SPAWN_KEEP_PGRP), PR_SET_PDEATHSIG(SIGKILL) tied to the calling
 * thread, fds 0, 1, 2 and the mapped ones and nothing else, cwd, execve.
 *
 * The socket: a proc gets a per-spawn AF_UNIX path in the engine's instance
 * directory when it is PIDRING_READY_BIND, when it asks with
 * PIDRING_SPAWN_SOCKET, or when "{socket}" appears in its argv or envp,
 * whatever its ready mode (an sd_notify daemon still serves on a socket).
 * Then every "{socket}" in argv and in envp is replaced by the path,
 * PIDRING_SOCKET=<path> is in its environment, pidring_socket_path returns
 * it, and the reap chain unlinks it before DONE. Only BIND waits for the
 * socket to accept; NOTIFY waits for READY=1 and EXEC for the exec.
 *
 * Errors: -EINVAL (NULL engine, spec, path or argv, empty argv, unknown flags
 * or ready mode, ready_timeout_ms over a day, negative or duplicate child fd,
 * nfds > 0 with fds NULL, more than 1024 fds, rlimits NULL with a count or
 * more than 64, groups NULL with a count or more than 65536 under
 * PIDRING_SPAWN_SETGROUPS, an unknown rlimit resource or cur > max,
 * "{socket}" in path or cwd, where it is never replaced), -EBADF (a parent fd that
 * is not open), -EAGAIN (max_procs live, or clone refused), -ESHUTDOWN (an
 * attached engine that pidring_destroy is closing), -EEXIST (a file
 * that is not a socket sits at the bind socket's path), and the child's own
 * failure before exec: -ENOENT, -EACCES, -ENOEXEC, ... (exec, cwd), -EPERM
 * (credentials or rlimits not allowed).
 */
PIDRING_API int pidring_spawn(struct pidring *pr, const struct pidring_spawn *s,
                              pidring_id *id);

/*
 * Kill the proc (SIGKILL to its process group when it leads one, and through
 * cgroup.kill in cgroup mode) and reap it on the ring; its DONE says
 * CANCELLED unless it had already exited. Before this returns, SIGKILL is
 * sent and the reap chain is submitted, one batch of hardlinked SQEs:
 * ASYNC_CANCEL of the proc's armed ops -> [WRITE cgroup.kill] -> POLL_ADD
 * on the pidfd -> WAITID -> UNLINKAT of the socket -> [rmdir of the cgroup]
 * -> CLOSE of the pidfd (without a ring WAITID the batch ends at the POLL
 * and the engine puts the rest when it completes). The kernel finishes the
 * reap whatever the caller does next; DONE carries the status the WAITID
 * reported. Idempotent: a proc already being reaped is left alone (returns
 * 0, nothing is submitted). Errors: -EINVAL (pr NULL), -ESRCH
 * (unknown, stale or forged id; proc already DONE). Should the ring refuse
 * the chain for a moment, the engine puts it in on its next pass through
 * pidring_wait: still 0 here, never an error to retry.
 */
PIDRING_API int pidring_cancel(struct pidring *pr, pidring_id id);

/*
 * SIGTERM the proc (its group when it leads one) and wait up to grace_ms for
 * it to exit (a POLL_ADD on the pidfd linked to a LINK_TIMEOUT, submitted
 * before this returns); then, whether it did or the grace ran out, SIGKILL
 * whatever is left of its group (or cgroup) and reap it with the same chain
 * as pidring_cancel. DONE says STOPPED. A proc
 * already being reaped or stopped is left alone (returns 0); pidring_cancel
 * during the grace sends SIGKILL at once. Errors: -EINVAL (pr NULL), -ESRCH.
 * A chain the ring refuses for a moment is put in later, as for cancel.
 */
PIDRING_API int pidring_stop(struct pidring *pr, pidring_id id, unsigned grace_ms);

/* The proc's pid, or -ESRCH (-EINVAL for pr NULL). */
PIDRING_API int pidring_pid(struct pidring *pr, pidring_id id);

/*
 * Copy the proc's socket path into buf (NUL-terminated); returns its
 * length. Errors: -ESRCH, -ENOENT (proc has no socket: see "The socket" at
 * pidring_spawn), -ENAMETOOLONG
 * (buf too small), -EINVAL (pr or buf NULL).
 */
PIDRING_API int pidring_socket_path(struct pidring *pr, pidring_id id, char *buf,
                                    size_t len);

/*
 * Copy the last STATUS= a NOTIFY proc sent into buf; returns its length
 * (0 when none yet). Errors: -ESRCH, -EINVAL, -ENAMETOOLONG (buf too small).
 */
PIDRING_API int pidring_status(struct pidring *pr, pidring_id id, char *buf,
                               size_t len);

enum pidring_event_type {
    PIDRING_EV_READY = 1,
    PIDRING_EV_DONE = 2,
    PIDRING_EV_LEASE_READY = 3,          /* a pending pool get: its runner is ready */
    PIDRING_EV_LEASE_FAILED = 4,         /* a pending pool get ended without one */
};

enum pidring_reason {                    /* why a proc is DONE */
    PIDRING_EXITED = 1,                  /* exited on its own after it was ready */
    PIDRING_EXITED_EARLY,                /* exited before it was ready */
    PIDRING_CANCELLED,                   /* pidring_cancel or pidring_destroy */
    PIDRING_STOPPED,                     /* pidring_stop */
    PIDRING_READY_TIMEOUT,               /* missed its ready deadline */
};

struct pidring_event {
    enum pidring_event_type type;
    pidring_id id;
    pid_t      pid;
    void      *user;
    enum pidring_reason reason;          /* DONE only */
    int        code;                     /* DONE: CLD_EXITED/KILLED/DUMPED; 0 unknown */
    int        status;                   /* DONE: exit status or signal number */
    uint64_t   spawn_ns, ready_ns, done_ns; /* CLOCK_MONOTONIC; 0 if not reached */
    uint64_t   lease;                    /* LEASE_*: the get's lease ticket; else 0 */
    int        error;                    /* LEASE_FAILED: why (see the pool); else 0 */
};

/*
 * Fill up to max events. Waits up to timeout_ms for the first one (0: do not
 * wait, -1: wait as long as it takes). Returns the number filled, 0 on
 * timeout or at once when no proc is live and no event is queued (nothing
 * could ever come), or -errno: -EINVAL (pr or ev NULL, max 0), -EINTR (a
 * signal arrived while waiting; call again), -ENOMEM (events could not be
 * queued; nothing is lost, call again). In attach mode it hands out the
 * events that pidring_handle_cqe queued and never enters the ring:
 * timeout_ms must be 0 (-EINVAL otherwise).
 */
PIDRING_API int pidring_wait(struct pidring *pr, struct pidring_event *ev,
                             unsigned max, int timeout_ms);

/*
 * A descriptor that polls readable (POLLIN) when pidring_wait(pr, ..., 0) may
 * have something to do: an eventfd registered with the ring, made on the
 * first call (and readable at once, for what came before). It stays readable
 * while pidring_wait leaves events queued. The engine owns it; it stays the
 * same for the engine's life. Call it before the first spawn: on an idle
 * engine the first call moves the engine to a ring whose completions signal
 * the fd as they happen (not DEFER_TASKRUN, which would signal it only once
 * the ring is entered, tens of ms late); called later, it works the same
 * but may be late. Errors: -EINVAL, -EOPNOTSUPP (attach mode:
 * the caller's ring is what to wait on), or what eventfd() or its
 * registration returned.
 */
PIDRING_API int pidring_fd(struct pidring *pr);

/*
 * Attach mode (pidring_opts.ring): the engine puts its SQEs on the caller's
 * ring instead of making one, and the caller hands it the engine's
 * completions. The rules:
 *   - The ring needs IORING_FEAT_NODROP and at least 16 SQ entries, and is
 *     used from the engine's thread only (a SINGLE_ISSUER ring: the thread
 *     that submits to it). The engine calls io_uring_submit on it whenever a
 *     chain must be in before a call returns (rule 3), which also submits
 *     SQEs the caller has prepared: prepare yours fully before calling into
 *     pidring. Other SQEs of the engine wait for the caller's next submit.
 *   - The engine never reads the ring's CQ. For each CQE the caller reaps,
 *     pidring_owns_cqe tells whether it is the engine's (its user_data has
 *     PIDRING_UD_TAG in the bits of PIDRING_UD_TAG_MASK; the caller's own
 *     user_data must not: pointers and small integers never do); pass those
 *     to pidring_handle_cqe (which copies them), then collect events with
 *     pidring_wait(pr, ev, max, 0).
 *   - On a DEFER_TASKRUN ring, completions exist only once the caller enters
 *     the ring asking for them (io_uring_submit_and_wait and the like), as
 *     for its own operations.
 *   - pidring_fd is -EOPNOTSUPP; pidring_destroy returns -EINPROGRESS until
 *     the engine's last completion was handed over (see pidring_destroy).
 */
#define PIDRING_UD_TAG_MASK (7ull << 61)
#define PIDRING_UD_TAG      (5ull << 61)

/* 1 when the CQE is one of a pidring engine's (tag test only), else 0. */
PIDRING_API int pidring_owns_cqe(const struct io_uring_cqe *cqe);

/*
 * Handle one of the engine's completions from the caller's ring (attach
 * mode). The CQE is copied: the caller may advance its CQ right after.
 * Events it brings are queued for pidring_wait(pr, ev, max, 0). Returns 0,
 * or -EINVAL (pr or cqe NULL, the engine does not use an attached ring, the
 * CQE is not an engine's), -ENOMEM (the CQE could not be kept; pass it again).
 * A CQE once kept is never asked for again: if its event finds no memory,
 * the next call here, to pidring_wait or to pidring_destroy handles it.
 */
PIDRING_API int pidring_handle_cqe(struct pidring *pr, const struct io_uring_cqe *cqe);

/*
 * Session pool: at most one runner per key (a conversation, a workspace, a
 * tenant), started on the first get and shared by every get for that key.
 *
 * Events: the pool's come out of pidring_wait, beside the engine's. The
 * engine's own READY and DONE of the pool's runners are the pool's and are
 * never handed out; instead each get that returned PIDRING_POOL_PENDING is
 * answered by exactly one event naming its lease ticket (ev.lease) and the
 * user pointer given to the get (ev.user):
 *   PIDRING_EV_LEASE_READY   the key's runner is ready: ev.id, ev.pid name it
 *                            (its socket: pidring_socket_path(pr, ev.id, ...)).
 *                            The lease is now held: release it.
 *   PIDRING_EV_LEASE_FAILED  no runner for this get; the lease is over (do not
 *                            release it). ev.error says why: -ECHILD, the runner
 *                            ended before it was ready (ev.reason, ev.code and
 *                            ev.status are its DONE's); -ECANCELED, the key was
 *                            evicted (pidring_pool_evict) before it was ready.
 * A get answered at once (returns 0) gets no event. Every runner the pool
 * starts ends in exactly one DONE inside the engine (reaped, socket removed);
 * pidring_live counts the pool's runners too.
 *
 *     struct pidring_spawn tpl = { .path = "/usr/bin/runner",
 *         .argv = (char *[]){ "runner", "--session", "{key}", "--listen",
 *                             "{socket}", NULL },
 *         .ready = PIDRING_READY_BIND };
 *     struct pidring_pool_opts po = { .spawn = &tpl, .max_runners = 64,
 *         .idle_ttl_ms = 60000, .stop_grace_ms = 2000,
 *         .flags = PIDRING_POOL_EVICT_LRU };
 *     struct pidring_pool *pool;
 *     struct pidring_lease l;
 *     struct pidring_event ev[16];
 *
 *     pidring_pool_new(pr, &po, &pool);
 *     int r = pidring_pool_get(pool, "conv-42", 7, request, &l);
 *     if (r == 0)                          // ready now: l.id is the runner
 *         serve(request, l.id), pidring_pool_release(pool, l.ticket);
 *     for (;;) {                           // r == PIDRING_POOL_PENDING
 *         int n = pidring_wait(pr, ev, 16, -1);
 *         for (int i = 0; i < n; i++)
 *             if (ev[i].type == PIDRING_EV_LEASE_READY)
 *                 serve(ev[i].user, ev[i].id),
 *                 pidring_pool_release(pool, ev[i].lease);
 *             else if (ev[i].type == PIDRING_EV_LEASE_FAILED)
 *                 fail(ev[i].user, ev[i].error);
 *     }
 *
 * Timers: idle deadlines share one ring TIMEOUT (IORING_TIMEOUT_ABS) armed
 * for the earliest (user_data tagged as the engine's: attach mode passes it to
 * pidring_handle_cqe like the rest). Expired runners are stopped, and warm
 * runners topped up, from pidring_wait (attach mode: pidring_wait(pr, ev, n,
 * 0) after the CQEs were handed over).
 */
#define PIDRING_POOL_EVICT_LRU (1u << 0) /* at the cap, a get stops the least
                                            recently released idle runner
                                            instead of failing with -EAGAIN */
#define PIDRING_POOL_PENDING   1         /* pidring_pool_get: an event follows */
#define PIDRING_POOL_KEY_MAX   1024u     /* longest key, in bytes */

struct pidring_pool;                     /* opaque */

struct pidring_pool_opts {
    const struct pidring_spawn *spawn;   /* the template, copied: every string
                                            of argv and envp has "{key}"
                                            replaced by the key (beside the
                                            engine's "{socket}"); spawn.user
                                            is not used */
    unsigned max_runners;                /* cap on starting + ready runners
                                            (warm ones included, those being
                                            stopped not); 0: none but the
                                            engine's max_procs */
    unsigned min_idle;                   /* warm runners kept started and
                                            ready, bound to no key; a get for a
                                            new key takes one. Not with a
                                            template that uses "{key}" */
    unsigned idle_ttl_ms;                /* a runner whose last lease was
                                            released is stopped after this;
                                            0: at once */
    unsigned stop_grace_ms;              /* pidring_stop's grace for a ready
                                            runner; 0: pidring_cancel */
    unsigned flags;                      /* PIDRING_POOL_* */
};

struct pidring_lease {
    uint64_t   ticket;                   /* names this get; never 0 */
    pidring_id id;                       /* the runner once ready; else 0 */
    pid_t      pid;                      /* its pid once ready; else 0 */
};

struct pidring_pool_stats {
    unsigned keys;                       /* keys with a runner (starting or ready) */
    unsigned warm;                       /* warm runners (starting or ready) */
    unsigned warm_ready;                 /* of which ready: a get takes one at once */
    unsigned idle;                       /* keyed runners without a lease */
    unsigned stopping;                   /* runners stopped, not yet DONE */
    unsigned leases;                     /* gets not yet over (waiting or held) */
    unsigned long long started;          /* runners spawned, ever */
    unsigned long long done;             /* runners DONE, ever */
};

/*
 * Make a pool on the engine (one pool per engine). The template is checked
 * as pidring_spawn would check it, and copied. Starts min_idle warm runners
 * (from here and, once they end or are taken, from pidring_wait). Errors:
 * -EINVAL (pr, opts, opts->spawn or out NULL, unknown flags, a bad template,
 * min_idle over max_runners, min_idle with a "{key}" template, idle_ttl_ms
 * or stop_grace_ms over a day), -EBUSY (the engine has a pool), -ENOMEM,
 * -ESHUTDOWN (an attached engine being destroyed), or what pidring_spawn
 * returned for the first warm runner.
 */
PIDRING_API int pidring_pool_new(struct pidring *pr, const struct pidring_pool_opts *opts,
                                 struct pidring_pool **out);

/*
 * Free the pool: every runner it has is cancelled (SIGKILL, the reap chain
 * submitted before this returns) and reaped by the engine as usual; gets in
 * flight end without an event, their tickets dead. pidring_destroy of the
 * engine destroys its pool first. pool == NULL is harmless. Returns 0.
 */
PIDRING_API int pidring_pool_destroy(struct pidring_pool *pool);

/*
 * Get the runner for key (keylen bytes, 1..PIDRING_POOL_KEY_MAX; no NUL byte
 * when the template uses "{key}"). Returns 0 with *lease held and its id
 * and pid set when the key's runner is ready, or when a ready warm runner
 * was taken for it; PIDRING_POOL_PENDING when the key's runner is starting
 * (then this get waits on that one spawn: single-flight) or was started
 * now: one event answers it (see above). user is echoed in that event.
 * At the cap (max_runners) a new key stops the least recently released
 * idle runner with PIDRING_POOL_EVICT_LRU, else fails.
 * Errors: -EINVAL (pool, key or lease NULL, keylen 0 or too long, a NUL
 * byte in a "{key}" key), -EAGAIN (at the cap with no idle runner to
 * evict, or without PIDRING_POOL_EVICT_LRU; or the engine's max_procs),
 * -ENOMEM, or what pidring_spawn returned for the key's runner.
 */
PIDRING_API int pidring_pool_get(struct pidring_pool *pool, const void *key, size_t keylen,
                                 void *user, struct pidring_lease *lease);

/*
 * End a lease: a held one, or a pending one (its event will not come).
 * When the key's last lease goes, a ready runner stays for idle_ttl_ms and
 * a starting one is cancelled at once (mid-bind: the reap chain is in
 * before this returns). A lease whose runner has ended meanwhile is
 * released all the same. Errors: -EINVAL (pool NULL), -ESRCH (unknown,
 * stale or forged ticket; a lease already released or failed).
 */
PIDRING_API int pidring_pool_release(struct pidring_pool *pool, uint64_t ticket);

/*
 * Stop the key's runner now (cancelled when still starting, stopped with
 * stop_grace_ms when ready) and drop the key: pending gets get
 * LEASE_FAILED with -ECANCELED; held leases stay valid until released; the
 * next get for the key starts a new runner. Errors: -EINVAL (pool or key
 * NULL, keylen 0 or too long), -ENOENT (no runner for the key).
 */
PIDRING_API int pidring_pool_evict(struct pidring_pool *pool, const void *key,
                                   size_t keylen);

/*
 * The engine id of the key's runner (starting or ready) into *id, without
 * taking a lease. Errors: -EINVAL (pool, key or id NULL, keylen 0 or too
 * long), -ENOENT (no runner for the key).
 */
PIDRING_API int pidring_pool_find(struct pidring_pool *pool, const void *key,
                                  size_t keylen, pidring_id *id);

/* Counters of the pool into *st. Errors: -EINVAL (pool or st NULL). */
PIDRING_API int pidring_pool_stats(const struct pidring_pool *pool,
                                   struct pidring_pool_stats *st);

/* Procs spawned and not yet DONE (0 for NULL). */
PIDRING_API unsigned pidring_live(const struct pidring *pr);

/* Orphaned descendants reaped so far (PIDRING_F_SUBREAPER; 0 for NULL). */
PIDRING_API unsigned long pidring_orphans(const struct pidring *pr);

/* The library's version as "MAJOR.MINOR.PATCH". */
PIDRING_API const char *pidring_version(void);

#ifdef __cplusplus
}
#endif

#endif /* PIDRING_H */
