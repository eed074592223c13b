/* SPDX-License-Identifier: MIT */
/*
 * Readiness: BIND (inotify + CONNECT probe), NOTIFY (sd_notify datagrams),
 * the ready deadline, and the instance directory the sockets live in.
 *
 * Every test runs against real pidring-child processes on a real ring, in a
 * private runtime dir, once per engine variant (WAITID and clone3, and the
 * fallbacks forced with PIDRING_F_NO_WAITID | PIDRING_F_NO_CLONE3: POLL_ADD +
 * waitid, clone()), and ends with
 * th_leak_check: no child left, no extra fd, nothing left in the runtime dir.
 *
 * Times are only checked as correctness bounds (a READY cannot come before
 * the child could have listened; a deadline cannot fire early, and must fire
 * within a generous bound), never as speed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS 1000000ull               /* ns per ms */
#define EV_WAIT_MS 10000            /* an event that must come: generous bound */
#define DESTROY_MS 10000

/* Each test body runs on this kernel's paths and on the fallbacks (WAITID
 * and clone3, or POLL_ADD + waitid and clone()). */
#define BOTH(name)                                                          \
    static void name(unsigned flags);                                       \
    Test(ready, name##_waitid, .timeout = 60) { name(0); }                  \
    Test(ready, name##_fallback, .timeout = 60) {                           \
        name(PIDRING_F_NO_WAITID | PIDRING_F_NO_CLONE3); }                  \
    static void name(unsigned flags)

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ---- engine and spawn helpers ---- */

struct ctx {
    struct th_baseline b;
    char *dir;
    struct pidring *pr;
};

static struct pidring *engine_new(const char *dir, unsigned flags)
{
    struct pidring_opts o = { .runtime_dir = dir, .flags = flags };
    struct pidring *pr = NULL;
    int r = pidring_new(&pr, &o);

    cr_assert_eq(r, 0, "pidring_new(%s, flags %#x): %d (%s)", dir, flags, r,
                 strerror(-r));
    cr_assert_not_null(pr);
    return pr;
}

static void ctx_open(struct ctx *c, unsigned flags)
{
    th_baseline_take(&c->b);
    c->dir = th_mkdtemp();
    c->pr = engine_new(c->dir, flags);
}

static void ctx_close(struct ctx *c)
{
    int r = pidring_destroy(c->pr, DESTROY_MS);

    c->pr = NULL;
    cr_expect_eq(r, 0, "pidring_destroy: %d (%s)", r, strerror(-r));
    th_leak_check(&c->b, c->dir);
    th_rmtree(c->dir);
    free(c->dir);
    c->dir = NULL;
}

struct sp {
    enum pidring_ready ready;
    unsigned timeout_ms;
    const struct pidring_fd_map *fds;
    unsigned nfds;
    char *const *envp;
    void *user;
    unsigned flags;                 /* PIDRING_SPAWN_* */
};

/* Spawn pidring-child with args (NULL-terminated, argv[0] not included). */
static int spawn_args(struct pidring *pr, pidring_id *id, const struct sp *o,
                      const char *const *args)
{
    const char *argv[64];
    size_t n = 0;
    struct pidring_spawn s;

    argv[n++] = th_child_path();
    for (; args && *args; args++) {
        cr_assert_lt(n, sizeof argv / sizeof argv[0] - 1, "too many args");
        argv[n++] = *args;
    }
    argv[n] = NULL;
    memset(&s, 0, sizeof s);
    s.path = argv[0];
    s.argv = (char *const *)argv;
    s.envp = o->envp;
    s.fds = o->fds;
    s.nfds = o->nfds;
    s.ready = o->ready;
    s.ready_timeout_ms = o->timeout_ms;
    s.user = o->user;
    s.flags = o->flags;
    return pidring_spawn(pr, &s, id);
}

static pidring_id spawn_ok(struct pidring *pr, const struct sp *o,
                           const char *const *args)
{
    pidring_id id = 0;
    int r = spawn_args(pr, &id, o, args);

    cr_assert_eq(r, 0, "pidring_spawn: %d (%s)", r, strerror(-r));
    cr_assert_neq(id, 0, "pidring_spawn gave id 0");
    cr_assert_gt(pidring_pid(pr, id), 0);
    return id;
}

static const char *ev_str(const struct pidring_event *ev, char *buf, size_t len)
{
    snprintf(buf, len,
             "{type %d id %#llx pid %d user %p reason %d code %d status %d "
             "spawn %llu ready %llu done %llu}",
             (int)ev->type, (unsigned long long)ev->id, (int)ev->pid, ev->user,
             (int)ev->reason, ev->code, ev->status,
             (unsigned long long)ev->spawn_ns, (unsigned long long)ev->ready_ns,
             (unsigned long long)ev->done_ns);
    return buf;
}

/* The next event must come within EV_WAIT_MS and be of this type for id. */
static struct pidring_event expect_event(struct pidring *pr, int type, pidring_id id)
{
    struct pidring_event ev;
    char s[256];
    int r;

    memset(&ev, 0, sizeof ev);
    r = th_wait_event(pr, &ev, EV_WAIT_MS);
    cr_assert_eq(r, 1, "expected event type %d for %#llx, wait returned %d",
                 type, (unsigned long long)id, r);
    cr_assert_eq((int)ev.type, type, "expected type %d, got %s", type,
                 ev_str(&ev, s, sizeof s));
    cr_assert_eq(ev.id, id, "event for another id: %s", ev_str(&ev, s, sizeof s));
    return ev;
}

/* No event queued right now (does not wait: nothing may be live). */
static void expect_no_event_now(struct pidring *pr)
{
    struct pidring_event ev;
    char s[256];
    int r = pidring_wait(pr, &ev, 1, 0);

    cr_assert_eq(r, 0, "unexpected event (wait returned %d): %s", r,
                 r > 0 ? ev_str(&ev, s, sizeof s) : "-");
}

/* No event for ms milliseconds (something must still be live). */
static void expect_quiet(struct pidring *pr, int ms)
{
    struct pidring_event ev;
    char s[256];
    int r = th_wait_event(pr, &ev, ms);

    cr_assert_eq(r, 0, "unexpected event within %d ms: %s", ms,
                 r > 0 ? ev_str(&ev, s, sizeof s) : "-");
}

static void check_done(const struct pidring_event *ev, int reason, int code,
                       int status)
{
    char s[256];

    cr_assert_eq((int)ev->reason, reason, "reason: %s", ev_str(ev, s, sizeof s));
    cr_assert_eq(ev->code, code, "code: %s", ev_str(ev, s, sizeof s));
    cr_assert_eq(ev->status, status, "status: %s", ev_str(ev, s, sizeof s));
    cr_assert_gt(ev->spawn_ns, 0);
    cr_assert_geq(ev->done_ns, ev->spawn_ns, "%s", ev_str(ev, s, sizeof s));
    if (ev->ready_ns)
        cr_assert_geq(ev->done_ns, ev->ready_ns, "%s", ev_str(ev, s, sizeof s));
}

/* Cancel id: its DONE comes next, CANCELLED by SIGKILL. */
static struct pidring_event cancel_done(struct pidring *pr, pidring_id id)
{
    struct pidring_event dn;

    cr_assert_eq(pidring_cancel(pr, id), 0);
    dn = expect_event(pr, PIDRING_EV_DONE, id);
    check_done(&dn, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
    return dn;
}

static void expect_gone(const char *path)
{
    struct stat st;

    cr_assert_eq(lstat(path, &st), -1, "%s still exists", path);
    cr_assert_eq(errno, ENOENT, "lstat %s: %s", path, strerror(errno));
}

static void expect_socket_file(const char *path)
{
    struct stat st;

    cr_assert_eq(lstat(path, &st), 0, "lstat %s: %s", path, strerror(errno));
    cr_assert(S_ISSOCK(st.st_mode), "%s is not a socket (mode %o)", path,
              (unsigned)st.st_mode);
}

/* Drive the engine (no event may come) until a socket file is at path. */
static void wait_socket_file(struct pidring *pr, const char *path)
{
    uint64_t end = th_now_ns() + (uint64_t)EV_WAIT_MS * MS;
    struct stat st;

    while (lstat(path, &st) < 0) {
        cr_assert_eq(errno, ENOENT, "lstat %s: %s", path, strerror(errno));
        cr_assert_lt(th_now_ns(), end, "%s never appeared", path);
        expect_quiet(pr, 5);
    }
    cr_assert(S_ISSOCK(st.st_mode), "%s is not a socket", path);
}

static int sock_path(struct pidring *pr, pidring_id id, char *buf, size_t len)
{
    int n = pidring_socket_path(pr, id, buf, len);

    cr_assert_gt(n, 0, "pidring_socket_path: %d (%s)", n, strerror(-n));
    cr_assert_eq((size_t)n, strlen(buf));
    return n;
}

/* Split "<dir>/<inst>/<slot>.<gen>.sock"; checks the path lies in dir. */
static void parse_sock_path(const char *dir, const char *path, char *inst,
                            size_t instlen, unsigned *slot, unsigned *gen)
{
    size_t dl = strlen(dir);
    const char *rest = path + dl + 1, *slash;
    char tail = 0;

    cr_assert(strncmp(path, dir, dl) == 0 && path[dl] == '/',
              "socket %s is not inside the runtime dir %s", path, dir);
    slash = strchr(rest, '/');
    cr_assert_not_null(slash, "socket %s is not in an instance dir", path);
    cr_assert_null(strchr(slash + 1, '/'), "socket %s is nested too deep", path);
    cr_assert_lt((size_t)(slash - path), instlen);
    memcpy(inst, path, (size_t)(slash - path));
    inst[slash - path] = '\0';
    cr_assert_eq(sscanf(slash + 1, "%u.%u.soc%c", slot, gen, &tail), 3,
                 "socket name %s is not <slot>.<gen>.sock", slash + 1);
    cr_assert_eq(tail, 'k', "socket name %s", slash + 1);
    {
        char again[64];

        snprintf(again, sizeof again, "%u.%u.sock", *slot, *gen);
        cr_assert_str_eq(slash + 1, again);
    }
}

static int connect_to(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int r;

    cr_assert_geq(fd, 0);
    cr_assert_lt(strlen(path), sizeof sa.sun_path);
    strcpy(sa.sun_path, path);
    r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    r = r < 0 ? -errno : 0;
    close(fd);
    return r;
}

/*
 * Connect once the child listens. An EXEC proc's READY says nothing of its
 * socket, and the file appears at bind(), before listen(): a refused connect
 * is asked again, with the engine driven in between (no event may come).
 */
static int connect_listening(struct pidring *pr, const char *path)
{
    uint64_t end = th_now_ns() + (uint64_t)EV_WAIT_MS * MS;
    int r;

    while ((r = connect_to(path)) == -ECONNREFUSED && th_now_ns() < end)
        expect_quiet(pr, 5);
    return r;
}

/* Leave a socket file at path: bind, then close (the file stays). */
static void make_stale_socket(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    cr_assert_geq(fd, 0);
    strcpy(sa.sun_path, path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0, "bind %s: %s",
                 path, strerror(errno));
    close(fd);
}

/* Instance directories (non-dot subdirectories) in dir; names into out. */
static int count_subdirs(const char *dir, char out[][64], int max)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    cr_assert_not_null(d, "opendir %s: %s", dir, strerror(errno));
    while ((de = readdir(d))) {
        struct stat st;

        if (de->d_name[0] == '.')
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISDIR(st.st_mode))
            continue;
        if (out && n < max)
            snprintf(out[n], 64, "%.63s", de->d_name);
        n++;
    }
    closedir(d);
    return n;
}

/* Entries of dir other than "lock", listed into buf. */
static int non_lock_entries(const char *dir, char *buf, size_t len)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t pos = 0;
    int n = 0;

    cr_assert_not_null(d, "opendir %s: %s", dir, strerror(errno));
    buf[0] = '\0';
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            !strcmp(de->d_name, "lock"))
            continue;
        n++;
        if (pos + strlen(de->d_name) + 2 < len)
            pos += (size_t)snprintf(buf + pos, len - pos, " %s", de->d_name);
    }
    closedir(d);
    return n;
}

/* ---- the child's report (--report-fd) ---- */

/* Occurrences of "env KEY=..." in report; the last value goes into val. */
static int report_env(const char *report, const char *key, char *val, size_t len)
{
    size_t kl = strlen(key);
    const char *l = report;
    int n = 0;

    while (*l) {
        const char *e = strchr(l, '\n');
        size_t ll = e ? (size_t)(e - l) : strlen(l);

        if (ll > 4 + kl && !strncmp(l, "env ", 4) && !strncmp(l + 4, key, kl) &&
            l[4 + kl] == '=') {
            size_t vl = ll - 5 - kl;

            if (val && len) {
                if (vl >= len)
                    vl = len - 1;
                memcpy(val, l + 5 + kl, vl);
                val[vl] = '\0';
            }
            n++;
        }
        l += ll + (e ? 1 : 0);
    }
    return n;
}

/* The "fd N" lines of a report, as a space-separated list. */
static void report_fds(const char *report, char *out, size_t len)
{
    const char *l = report;
    size_t pos = 0;

    out[0] = '\0';
    while (*l) {
        const char *e = strchr(l, '\n');
        size_t ll = e ? (size_t)(e - l) : strlen(l);

        if (ll > 3 && !strncmp(l, "fd ", 3) && pos + ll < len)
            pos += (size_t)snprintf(out + pos, len - pos, "%s%.*s", pos ? " " : "",
                                    (int)(ll - 3), l + 3);
        l += ll + (e ? 1 : 0);
    }
}

static void read_pipe(int fd, char *buf, size_t len)
{
    int n = th_read_all(fd, buf, len);

    cr_assert_gt(n, 0, "reading the child's report: %d (%s)", n, strerror(-n));
    cr_assert_lt((size_t)n, len - 1, "report too long");
    close(fd);
}

/* ==== BIND ==== */

/* 1. READY then DONE, one each, in order; the socket is real, named in the
 * env, inside the runtime dir, and gone after DONE. */
BOTH(bind_happy_path)
{
    struct ctx c;
    char path[PATH_MAX], path2[PATH_MAX], inst[PATH_MAX], val[PATH_MAX];
    char report[65536], fds[256];
    char *envp[] = { "PIDRING_SOCKET=/nonexistent/bogus", "PIDRING_TEST_MARK=1",
                     NULL };
    int p[2], marker = 0;
    unsigned slot, gen;
    struct pidring_event rd, dn;
    pidring_id id;
    pid_t pid;

    ctx_open(&c, flags);
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    {
        struct pidring_fd_map map = { p[1], 3 };
        struct sp o = { .ready = PIDRING_READY_BIND, .fds = &map, .nfds = 1,
                        .envp = envp, .user = &marker };

        id = spawn_ok(c.pr, &o, ARGS("--bind-after-ms", "0", "--report-fd", "3"));
    }
    close(p[1]);
    pid = pidring_pid(c.pr, id);
    sock_path(c.pr, id, path, sizeof path);
    parse_sock_path(c.dir, path, inst, sizeof inst, &slot, &gen);
    {
        struct stat st;

        cr_assert_eq(lstat(inst, &st), 0);
        cr_assert(S_ISDIR(st.st_mode));
        cr_assert_eq(st.st_mode & 07777, 0700, "instance dir mode %o",
                     (unsigned)(st.st_mode & 07777));
    }

    /* The child's view: exactly one PIDRING_SOCKET (ours replaced the
     * caller's), the rest of the caller's env, and no engine fd. */
    read_pipe(p[0], report, sizeof report);
    cr_assert_eq(report_env(report, "PIDRING_SOCKET", val, sizeof val), 1,
                 "PIDRING_SOCKET entries in:\n%s", report);
    cr_assert_str_eq(val, path);
    cr_assert_eq(report_env(report, "PIDRING_TEST_MARK", val, sizeof val), 1);
    cr_assert_str_eq(val, "1");
    report_fds(report, fds, sizeof fds);
    cr_assert_str_eq(fds, "0 1 2 3", "child fds: %s", fds);

    rd = expect_event(c.pr, PIDRING_EV_READY, id);
    cr_assert_eq(rd.pid, pid);
    cr_assert_eq(rd.user, &marker);
    cr_assert_gt(rd.spawn_ns, 0);
    cr_assert_geq(rd.ready_ns, rd.spawn_ns);
    cr_assert_eq(rd.done_ns, 0);

    /* READY means a connect works, at the path the engine reports. */
    expect_socket_file(path);
    cr_assert_eq(connect_to(path), 0, "connect %s", path);
    sock_path(c.pr, id, path2, sizeof path2);
    cr_assert_str_eq(path2, path);

    dn = cancel_done(c.pr, id);
    cr_assert_eq(dn.pid, pid);
    cr_assert_eq(dn.user, &marker);
    cr_assert_eq(dn.spawn_ns, rd.spawn_ns);
    cr_assert_eq(dn.ready_ns, rd.ready_ns);
    expect_no_event_now(c.pr);
    cr_assert_eq(pidring_live(c.pr), 0);

    expect_gone(path);
    cr_assert_eq(pidring_socket_path(c.pr, id, path2, sizeof path2), -ESRCH);
    ctx_close(&c);
}

/* A ready BIND child that dies on its own: DONE EXITED with its signal, and
 * the socket it left behind is removed by the engine. */
BOTH(bind_exit_after_ready)
{
    struct ctx c;
    char path[PATH_MAX];
    struct sp o = { .ready = PIDRING_READY_BIND };
    struct pidring_event rd, dn;
    pidring_id id;
    pid_t pid;

    ctx_open(&c, flags);
    id = spawn_ok(c.pr, &o, ARGS("--bind-after-ms", "0"));
    pid = pidring_pid(c.pr, id);
    sock_path(c.pr, id, path, sizeof path);
    rd = expect_event(c.pr, PIDRING_EV_READY, id);
    expect_socket_file(path);
    cr_assert_eq(kill(pid, SIGTERM), 0);
    dn = expect_event(c.pr, PIDRING_EV_DONE, id);
    check_done(&dn, PIDRING_EXITED, CLD_KILLED, SIGTERM);
    cr_assert_eq(dn.ready_ns, rd.ready_ns);
    expect_no_event_now(c.pr);
    expect_gone(path);
    ctx_close(&c);
}

/* 2. Bound at once, listening only 100 ms later: ECONNREFUSED is retried,
 * READY comes once it listens, not before. */
BOTH(bind_then_late_listen)
{
    struct ctx c;
    char path[PATH_MAX];
    struct sp o = { .ready = PIDRING_READY_BIND };
    struct pidring_event rd;
    pidring_id id;

    ctx_open(&c, flags);
    id = spawn_ok(c.pr, &o, ARGS("--bind-after-ms", "0", "--listen-after-ms", "100"));
    sock_path(c.pr, id, path, sizeof path);
    /* It cannot listen before spawn + 100 ms: nothing for the first 50. */
    expect_quiet(c.pr, 50);
    rd = expect_event(c.pr, PIDRING_EV_READY, id);
    cr_assert_geq(rd.ready_ns - rd.spawn_ns, 100 * MS, "READY %llu ns after spawn",
                  (unsigned long long)(rd.ready_ns - rd.spawn_ns));
    cr_assert_lt(rd.ready_ns - rd.spawn_ns, 1600 * MS, "READY %llu ns after spawn",
                 (unsigned long long)(rd.ready_ns - rd.spawn_ns));
    cr_assert_eq(connect_to(path), 0);
    cancel_done(c.pr, id);
    expect_no_event_now(c.pr);
    expect_gone(path);
    ctx_close(&c);
}

/* Drive the engine from poll(pidring_fd) alone until id is READY: every
 * poll must be woken, never time out. */
static void poll_until_ready(struct pidring *pr, pidring_id id)
{
    int fd = pidring_fd(pr), polls = 0, ready = 0;

    cr_assert_geq(fd, 0);
    while (!ready) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        struct pidring_event ev;
        uint64_t t0 = th_now_ns();
        int r = poll(&p, 1, 3000);

        if (r < 0 && errno == EINTR)
            continue;
        cr_assert_eq(r, 1, "poll #%d was not woken in %llu ms", polls,
                     (unsigned long long)((th_now_ns() - t0) / MS));
        cr_assert_lt(++polls, 200, "pidring_fd keeps polling readable");
        while (pidring_wait(pr, &ev, 1, 0) == 1) {
            cr_assert_eq(ev.type, PIDRING_EV_READY, "unexpected event type %d", ev.type);
            cr_assert_eq(ev.id, id);
            ready = 1;
        }
    }
}

/*
 * Driven from poll(pidring_fd) alone, as an event loop would. Completions
 * that bring no event (sd_notify datagrams without READY=1, an IN_CREATE for
 * a name that is no proc's) re-arm the engine's reads; the READY=1 and the
 * bind that follow must still wake the poller.
 */
BOTH(poll_only_after_eventless_completions)
{
    struct ctx c;
    struct sp on = { .ready = PIDRING_READY_NOTIFY }, ob = { .ready = PIDRING_READY_BIND };
    char path[PATH_MAX], junk[PATH_MAX + 8];
    pidring_id a, b;
    int jfd;

    ctx_open(&c, flags);
    a = spawn_ok(c.pr, &on, ARGS("--garbage", "--notify-after-ms", "300"));
    poll_until_ready(c.pr, a);

    b = spawn_ok(c.pr, &ob, ARGS("--bind-after-ms", "300"));
    sock_path(c.pr, b, path, sizeof path);
    snprintf(junk, sizeof junk, "%s", path);
    *strrchr(junk, '/') = '\0';
    strcat(junk, "/junk");
    jfd = open(junk, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert_geq(jfd, 0, "create %s: %s", junk, strerror(errno));
    close(jfd);
    poll_until_ready(c.pr, b);

    cr_assert_eq(unlink(junk), 0);
    cancel_done(c.pr, a);
    cancel_done(c.pr, b);
    expect_gone(path);
    ctx_close(&c);
}

/*
 * Drain the three procs of id: exactly three events, each the DONE of one of
 * them (each once), with this reason/code/status and never ready. evs (room
 * for 8) gets them.
 */
static void drain_three_dones(struct pidring *pr, const pidring_id id[3],
                              struct pidring_event *evs, int reason, int code,
                              int status)
{
    bool seen[3] = { false, false, false };
    int n = th_drain(pr, evs, 8, EV_WAIT_MS);

    cr_assert_eq(n, 3, "events: %d", n);
    for (int i = 0; i < n; i++) {
        char s[256];
        int k;

        cr_assert_eq((int)evs[i].type, PIDRING_EV_DONE, "%s",
                     ev_str(&evs[i], s, sizeof s));
        for (k = 0; k < 3 && id[k] != evs[i].id; k++)
            ;
        cr_assert_lt(k, 3, "unknown id: %s", ev_str(&evs[i], s, sizeof s));
        cr_assert(!seen[k], "second DONE: %s", ev_str(&evs[i], s, sizeof s));
        seen[k] = true;
        check_done(&evs[i], reason, code, status);
        cr_assert_eq(evs[i].ready_ns, 0);
    }
}

/* 3. Never ready (BIND, NOTIFY, and BIND bound but never listening, which
 * keeps a CONNECT probe retrying): READY_TIMEOUT after 300 ms, killed. */
BOTH(ready_timeout)
{
    struct ctx c;
    char path[2][PATH_MAX];
    struct sp ob = { .ready = PIDRING_READY_BIND, .timeout_ms = 300 };
    struct sp on = { .ready = PIDRING_READY_NOTIFY, .timeout_ms = 300 };
    struct pidring_event evs[8];
    pidring_id id[3];

    ctx_open(&c, flags);
    id[0] = spawn_ok(c.pr, &ob, ARGS("--never-ready"));
    id[1] = spawn_ok(c.pr, &on, ARGS("--never-ready"));
    id[2] = spawn_ok(c.pr, &ob, ARGS("--bind-after-ms", "0", "--listen-after-ms",
                                     "100000"));
    sock_path(c.pr, id[0], path[0], sizeof path[0]);
    sock_path(c.pr, id[2], path[1], sizeof path[1]);

    drain_three_dones(c.pr, id, evs, PIDRING_READY_TIMEOUT, CLD_KILLED, SIGKILL);
    for (int i = 0; i < 3; i++) {
        char s[256];

        cr_assert_geq(evs[i].done_ns - evs[i].spawn_ns, 300 * MS, "%s",
                      ev_str(&evs[i], s, sizeof s));
        cr_assert_lt(evs[i].done_ns - evs[i].spawn_ns, 1800 * MS, "%s",
                     ev_str(&evs[i], s, sizeof s));
    }
    expect_no_event_now(c.pr);
    expect_gone(path[0]);
    expect_gone(path[1]);
    ctx_close(&c);
}

/* 4. Exit before ready: EXITED_EARLY with the exit code, no READY. */
BOTH(exit_before_ready)
{
    struct ctx c;
    char path[2][PATH_MAX];
    struct sp ob = { .ready = PIDRING_READY_BIND };
    struct sp on = { .ready = PIDRING_READY_NOTIFY };
    struct pidring_event evs[8];
    pidring_id id[3];

    ctx_open(&c, flags);
    id[0] = spawn_ok(c.pr, &ob, ARGS("--exit-before-ready", "--exit", "5"));
    id[1] = spawn_ok(c.pr, &on, ARGS("--exit-before-ready", "--exit", "5"));
    /* Bound, never listening, exits at 50 ms: its socket is left behind
     * for the engine to remove. */
    id[2] = spawn_ok(c.pr, &ob, ARGS("--bind-after-ms", "0", "--listen-after-ms",
                                     "100000", "--after-ms", "50", "--exit", "5"));
    sock_path(c.pr, id[0], path[0], sizeof path[0]);
    sock_path(c.pr, id[2], path[1], sizeof path[1]);
    drain_three_dones(c.pr, id, evs, PIDRING_EXITED_EARLY, CLD_EXITED, 5);
    expect_no_event_now(c.pr);
    expect_gone(path[0]);
    expect_gone(path[1]);
    ctx_close(&c);
}

/* ---- 5. cancel at random points while binding ---- */

#define RACE_N        1000
#define RACE_INFLIGHT 16

struct race_rec {
    pidring_id id;
    pid_t pid;
    unsigned ready, done;
    bool cancelled;
    uint64_t ready_ns;
    struct pidring_event dn;
};

static void race_take(struct race_rec *recs, const struct pidring_event *ev,
                      unsigned seed)
{
    uintptr_t u = (uintptr_t)ev->user;
    struct race_rec *r;
    char s[256];

    cr_assert(u >= 1 && u <= RACE_N, "seed %u: event with unknown user: %s", seed,
              ev_str(ev, s, sizeof s));
    r = &recs[u - 1];
    cr_assert_eq(ev->id, r->id, "seed %u: #%lu event for id %#llx: %s", seed,
                 (unsigned long)u, (unsigned long long)r->id, ev_str(ev, s, sizeof s));
    cr_assert_eq(ev->pid, r->pid, "seed %u: #%lu pid: %s", seed, (unsigned long)u,
                 ev_str(ev, s, sizeof s));
    if (ev->type == PIDRING_EV_READY) {
        cr_assert_eq(r->done, 0, "seed %u: #%lu READY after DONE: %s", seed,
                     (unsigned long)u, ev_str(ev, s, sizeof s));
        cr_assert_eq(r->ready, 0, "seed %u: #%lu second READY: %s", seed,
                     (unsigned long)u, ev_str(ev, s, sizeof s));
        r->ready++;
        r->ready_ns = ev->ready_ns;
    } else {
        cr_assert_eq((int)ev->type, PIDRING_EV_DONE, "seed %u: %s", seed,
                     ev_str(ev, s, sizeof s));
        cr_assert_eq(r->done, 0, "seed %u: #%lu second DONE: %s", seed,
                     (unsigned long)u, ev_str(ev, s, sizeof s));
        r->done++;
        r->dn = *ev;
    }
}

static void race_wait(struct pidring *pr, struct race_rec *recs, int timeout_ms,
                      unsigned seed)
{
    struct pidring_event evs[64];
    int n = pidring_wait(pr, evs, 64, timeout_ms);

    if (n == -EINTR)
        return;
    cr_assert_geq(n, 0, "seed %u: pidring_wait: %d", seed, n);
    cr_assert(n > 0 || timeout_ms == 0, "seed %u: no event in %d ms, %u live",
              seed, timeout_ms, pidring_live(pr));
    for (int i = 0; i < n; i++)
        race_take(recs, &evs[i], seed);
}

static unsigned test_seed(void)
{
    const char *e = getenv("PIDRING_TEST_SEED");

    if (e && *e)
        return (unsigned)strtoul(e, NULL, 0);
    return (unsigned)(th_now_ns() ^ ((uint64_t)getpid() << 16));
}

/*
 * n children that get ready at 0–3 ms (BIND: --bind-after-ms, NOTIFY:
 * --notify-after-ms); each is cancelled after 0–2 non-blocking waits, either
 * at once or later (a random one of up to 8 pending), so cancels land before
 * readiness, between the bind and the probe (or the datagram and its read),
 * and after READY. At most RACE_INFLIGHT procs are live at a time.
 */
static void cancel_race(unsigned flags, enum pidring_ready mode, uint32_t n)
{
    struct ctx c;
    unsigned seed = test_seed(), rs = seed;
    struct race_rec *recs = calloc(RACE_N, sizeof *recs);
    uint32_t pending[RACE_INFLIGHT];
    unsigned npending = 0, nready = 0;
    char inst[PATH_MAX] = "", list[1024];
    const char *opt = mode == PIDRING_READY_BIND ? "--bind-after-ms"
                                                 : "--notify-after-ms";
    struct sp o = { .ready = mode };
    uint64_t t0 = th_now_ns();

    cr_assert_not_null(recs);
    cr_assert_leq(n, RACE_N);
    ctx_open(&c, flags);
    for (uint32_t i = 0; i < n; i++) {
        struct race_rec *r = &recs[i];
        char ms[8];
        unsigned waits, keep;

        while (pidring_live(c.pr) >= RACE_INFLIGHT)
            race_wait(c.pr, recs, EV_WAIT_MS, seed);
        snprintf(ms, sizeof ms, "%u", (unsigned)(rand_r(&rs) % 4));
        o.user = (void *)(uintptr_t)(i + 1);
        {
            int e = spawn_args(c.pr, &r->id, &o, ARGS(opt, ms));

            cr_assert_eq(e, 0, "seed %u: spawn #%u: %d", seed, i, e);
        }
        r->pid = pidring_pid(c.pr, r->id);
        cr_assert_gt(r->pid, 0, "seed %u", seed);
        if (!inst[0] && mode == PIDRING_READY_BIND) {
            char path[PATH_MAX];
            unsigned slot, gen;

            sock_path(c.pr, r->id, path, sizeof path);
            parse_sock_path(c.dir, path, inst, sizeof inst, &slot, &gen);
        }
        pending[npending++] = i;
        waits = (unsigned)(rand_r(&rs) % 3);
        for (unsigned k = 0; k < waits; k++)
            race_wait(c.pr, recs, 0, seed);
        /* Keep 0..7 uncancelled; cancel random ones beyond that. */
        keep = (unsigned)(rand_r(&rs) % 8);
        while (npending > keep) {
            unsigned k = (unsigned)(rand_r(&rs) % npending);
            struct race_rec *v = &recs[pending[k]];
            int e = pidring_cancel(c.pr, v->id);

            cr_assert_eq(e, 0, "seed %u: cancel #%u: %d", seed, pending[k], e);
            v->cancelled = true;
            pending[k] = pending[--npending];
        }
    }
    while (npending) {
        struct race_rec *v = &recs[pending[--npending]];

        cr_assert_eq(pidring_cancel(c.pr, v->id), 0, "seed %u", seed);
        v->cancelled = true;
    }
    while (pidring_live(c.pr))
        race_wait(c.pr, recs, EV_WAIT_MS, seed);
    race_wait(c.pr, recs, 0, seed);
    expect_no_event_now(c.pr);

    for (uint32_t i = 0; i < n; i++) {
        struct race_rec *r = &recs[i];
        char s[256];

        cr_assert(r->cancelled);
        cr_assert_eq(r->done, 1, "seed %u: #%u: %u DONE", seed, i, r->done);
        cr_assert_leq(r->ready, 1, "seed %u", seed);
        nready += r->ready;
        cr_assert_eq((int)r->dn.reason, PIDRING_CANCELLED, "seed %u: #%u %s", seed,
                     i, ev_str(&r->dn, s, sizeof s));
        cr_assert_eq(r->dn.code, CLD_KILLED, "seed %u: #%u %s", seed, i,
                     ev_str(&r->dn, s, sizeof s));
        cr_assert_eq(r->dn.status, SIGKILL, "seed %u: #%u %s", seed, i,
                     ev_str(&r->dn, s, sizeof s));
        cr_assert_eq(r->dn.ready_ns, r->ready ? r->ready_ns : 0,
                     "seed %u: #%u %s", seed, i, ev_str(&r->dn, s, sizeof s));
        /* Every id is stale now. */
        cr_assert_eq(pidring_cancel(c.pr, r->id), -ESRCH, "seed %u: #%u", seed, i);
    }
    /* Every socket file is gone: only the lock is left. */
    if (mode == PIDRING_READY_BIND)
        cr_assert_eq(non_lock_entries(inst, list, sizeof list), 0,
                     "seed %u: left in %s:%s", seed, inst, list);
    cr_log_info("cancel race (%s, flags %#x): seed %u, %u of %u READY first, %llu ms",
                mode == PIDRING_READY_BIND ? "bind" : "notify", flags, seed, nready,
                n, (unsigned long long)((th_now_ns() - t0) / MS));
    free(recs);
    ctx_close(&c);
}

/* 5. Cancel while binding, at random points, 1000 times. */
BOTH(cancel_while_binding_race)
{
    cancel_race(flags, PIDRING_READY_BIND, 1000);
}

/* The same for NOTIFY: READY=1 datagrams racing the cancels. */
BOTH(cancel_while_notifying_race)
{
    cancel_race(flags, PIDRING_READY_NOTIFY, 500);
}

/* 6a. Two cancels while binding: one DONE CANCELLED; a stop after the
 * cancel changes nothing; a cancel after DONE is -ESRCH. */
BOTH(double_cancel_while_binding)
{
    struct ctx c;
    char path[PATH_MAX];
    struct sp o = { .ready = PIDRING_READY_BIND };
    struct pidring_event dn, ev;
    pidring_id id;

    ctx_open(&c, flags);
    id = spawn_ok(c.pr, &o, ARGS("--bind-after-ms", "200"));
    sock_path(c.pr, id, path, sizeof path);
    cr_assert_eq(pidring_wait(c.pr, &ev, 1, 0), 0);
    cr_assert_eq(pidring_cancel(c.pr, id), 0);
    cr_assert_eq(pidring_cancel(c.pr, id), 0);
    cr_assert_eq(pidring_stop(c.pr, id, 1000), 0);
    dn = expect_event(c.pr, PIDRING_EV_DONE, id);
    check_done(&dn, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
    cr_assert_eq(dn.ready_ns, 0);
    expect_no_event_now(c.pr);
    cr_assert_eq(pidring_cancel(c.pr, id), -ESRCH);
    cr_assert_eq(pidring_stop(c.pr, id, 0), -ESRCH);
    expect_gone(path);
    ctx_close(&c);
}

/* 6b. Cancel right after pidring_spawn returns, with a child that binds at
 * once (it may already have bound): DONE CANCELLED, never READY. */
BOTH(cancel_same_tick_as_spawn)
{
    struct ctx c;
    char path[PATH_MAX];
    struct sp o = { .ready = PIDRING_READY_BIND };

    ctx_open(&c, flags);
    for (int i = 0; i < 50; i++) {
        pidring_id id = spawn_ok(c.pr, &o, ARGS("--bind-after-ms", "0"));
        struct pidring_event dn;

        sock_path(c.pr, id, path, sizeof path);
        dn = cancel_done(c.pr, id);
        cr_assert_eq(dn.ready_ns, 0);
        expect_no_event_now(c.pr);
        expect_gone(path);
    }
    ctx_close(&c);
}

/* Cancel a child that is bound but refuses connections (the engine is in its
 * CONNECT retry loop, with a probe socket open): no READY, probe closed. */
BOTH(cancel_while_connect_refused)
{
    struct ctx c;
    char path[PATH_MAX];
    struct sp o = { .ready = PIDRING_READY_BIND };
    struct pidring_event dn;
    pidring_id id;

    ctx_open(&c, flags);
    id = spawn_ok(c.pr, &o, ARGS("--bind-after-ms", "0", "--listen-after-ms",
                                 "100000"));
    sock_path(c.pr, id, path, sizeof path);
    wait_socket_file(c.pr, path);
    /* Bound, refusing: the engine's probe is in its retry loop. */
    expect_quiet(c.pr, 50);
    cr_assert_eq(connect_to(path), -ECONNREFUSED);
    dn = cancel_done(c.pr, id);
    cr_assert_eq(dn.ready_ns, 0);
    expect_no_event_now(c.pr);
    expect_gone(path);
    ctx_close(&c);
}

/* 7. Destroy with 200 procs at every readiness stage: not yet bound, bound
 * and refusing (probe retrying), ready, never ready. */
BOTH(destroy_with_200_binding)
{
    struct ctx c;
    unsigned seed = test_seed(), rs = seed;
    struct sp o = { .ready = PIDRING_READY_BIND };
    struct pidring_event evs[64];
    uint64_t end;
    int r;

    ctx_open(&c, flags);
    for (int i = 0; i < 200; i++) {
        char ms[16];

        snprintf(ms, sizeof ms, "%u", 50 + (unsigned)(rand_r(&rs) % 451));
        if (i % 4 == 0)
            spawn_ok(c.pr, &o, ARGS("--never-ready"));
        else if (i % 4 == 1)    /* bound, refusing: probe retrying */
            spawn_ok(c.pr, &o, ARGS("--bind-after-ms", ms, "--listen-after-ms",
                                    "100000"));
        else
            spawn_ok(c.pr, &o, ARGS("--bind-after-ms", ms));
    }
    cr_assert_eq(pidring_live(c.pr), 200);
    /* Let some become READY (events left unread are discarded by destroy). */
    end = th_now_ns() + 150 * MS;
    while (th_now_ns() < end) {
        r = pidring_wait(c.pr, evs, 8, 10);
        cr_assert_geq(r, 0, "seed %u: wait %d", seed, r);
        for (int i = 0; i < r; i++)
            cr_assert_eq((int)evs[i].type, PIDRING_EV_READY, "seed %u", seed);
    }
    r = pidring_destroy(c.pr, DESTROY_MS);
    c.pr = NULL;
    cr_assert_eq(r, 0, "seed %u: pidring_destroy: %d", seed, r);
    th_leak_check(&c.b, c.dir);
    th_rmtree(c.dir);
    free(c.dir);
}

/* ==== NOTIFY ==== */

/* 8. STATUS= kept, READY=1 honoured, NOTIFY_SOCKET inside the runtime dir. */
BOTH(notify_happy_path)
{
    struct ctx c;
    char report[65536], val[PATH_MAX], st[64];
    int p[2];
    struct pidring_event rd, dn;
    pidring_id id;
    size_t dl;

    ctx_open(&c, flags);
    dl = strlen(c.dir);
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    {
        struct pidring_fd_map map = { p[1], 3 };
        struct sp o = { .ready = PIDRING_READY_NOTIFY, .fds = &map, .nfds = 1 };

        id = spawn_ok(c.pr, &o, ARGS("--notify-after-ms", "10", "--status",
                                     "warming up", "--report-fd", "3"));
    }
    close(p[1]);
    read_pipe(p[0], report, sizeof report);
    cr_assert_eq(report_env(report, "NOTIFY_SOCKET", val, sizeof val), 1,
                 "NOTIFY_SOCKET entries in:\n%s", report);
    cr_assert(strncmp(val, c.dir, dl) == 0 && val[dl] == '/',
              "NOTIFY_SOCKET=%s not in %s", val, c.dir);
    expect_socket_file(val);
    cr_assert_eq(report_env(report, "PIDRING_SOCKET", NULL, 0), 0);
    {
        char fds[256];

        report_fds(report, fds, sizeof fds);
        cr_assert_str_eq(fds, "0 1 2 3", "child fds: %s", fds);
    }

    rd = expect_event(c.pr, PIDRING_EV_READY, id);
    cr_assert_geq(rd.ready_ns - rd.spawn_ns, 10 * MS);
    /* STATUS= was sent before READY=1, in an earlier datagram. */
    cr_assert_eq(pidring_status(c.pr, id, st, sizeof st), 10);
    cr_assert_str_eq(st, "warming up");
    cr_assert_eq(pidring_status(c.pr, id, st, 10), -ENAMETOOLONG);
    cr_assert_eq(pidring_status(c.pr, id, st, 11), 10);
    cr_assert_eq(pidring_status(c.pr, id, NULL, 11), -EINVAL);
    cr_assert_eq(pidring_socket_path(c.pr, id, st, sizeof st), -ENOENT);

    dn = cancel_done(c.pr, id);
    cr_assert_eq(dn.ready_ns, rd.ready_ns);
    expect_no_event_now(c.pr);
    cr_assert_eq(pidring_status(c.pr, id, st, sizeof st), -ESRCH);
    ctx_close(&c);
}

/* 9. READY=1 from a grandchild is not the proc's: READY_TIMEOUT. */
BOTH(notify_from_grandchild_ignored)
{
    struct ctx c;
    struct sp o = { .ready = PIDRING_READY_NOTIFY, .timeout_ms = 300 };
    struct pidring_event dn;
    pidring_id id;

    ctx_open(&c, flags);
    id = spawn_ok(c.pr, &o, ARGS("--notify-from-grandchild", "--notify-after-ms", "0"));
    dn = expect_event(c.pr, PIDRING_EV_DONE, id);
    check_done(&dn, PIDRING_READY_TIMEOUT, CLD_KILLED, SIGKILL);
    cr_assert_eq(dn.ready_ns, 0);
    cr_assert_geq(dn.done_ns - dn.spawn_ns, 300 * MS);
    expect_no_event_now(c.pr);
    ctx_close(&c);
}

/*
 * 10. EXTEND_TIMEOUT_USEC moves the deadline; without it the deadline holds.
 * The child sends the extension at its start, which must come before the
 * 300 ms deadline (150 ms in the issue; doubled so a loaded host that is slow
 * to run the child does not turn this into a speed test). The extension is
 * 10 s, not just past the 600 ms READY=1: with 1 s, a loaded CI host once
 * held the child's READY=1 back past it. Ignoring the extension still fails
 * at once (300 ms < 600 ms); applying it to the wrong proc fails the plain
 * proc's 5 s bound.
 */
BOTH(extend_timeout)
{
    struct ctx c;
    struct sp o = { .ready = PIDRING_READY_NOTIFY, .timeout_ms = 300 };
    struct pidring_event ev, rd;
    pidring_id ext, plain;
    bool got_rd = false, got_plain = false;

    ctx_open(&c, flags);
    ext = spawn_ok(c.pr, &o, ARGS("--extend-usec", "10000000", "--notify-after-ms",
                                  "600"));
    plain = spawn_ok(c.pr, &o, ARGS("--notify-after-ms", "600"));
    while (!got_rd || !got_plain) {
        char s[256];

        cr_assert_eq(th_wait_event(c.pr, &ev, EV_WAIT_MS), 1);
        if (ev.id == plain) {
            cr_assert(!got_plain, "%s", ev_str(&ev, s, sizeof s));
            cr_assert_eq((int)ev.type, PIDRING_EV_DONE, "%s", ev_str(&ev, s, sizeof s));
            check_done(&ev, PIDRING_READY_TIMEOUT, CLD_KILLED, SIGKILL);
            cr_assert_eq(ev.ready_ns, 0);
            cr_assert_geq(ev.done_ns - ev.spawn_ns, 300 * MS);
            cr_assert_lt(ev.done_ns - ev.spawn_ns, 5000 * MS);
            got_plain = true;
        } else {
            cr_assert_eq(ev.id, ext, "%s", ev_str(&ev, s, sizeof s));
            cr_assert(!got_rd, "%s", ev_str(&ev, s, sizeof s));
            cr_assert_eq((int)ev.type, PIDRING_EV_READY, "extended proc: %s",
                         ev_str(&ev, s, sizeof s));
            cr_assert_geq(ev.ready_ns - ev.spawn_ns, 600 * MS, "%s",
                          ev_str(&ev, s, sizeof s));
            rd = ev;
            got_rd = true;
        }
    }
    ev = cancel_done(c.pr, ext);
    cr_assert_eq(ev.ready_ns, rd.ready_ns);
    expect_no_event_now(c.pr);
    ctx_close(&c);
}

/* 11a. The child's own malformed datagrams do not stop its READY=1. */
BOTH(notify_garbage_from_child)
{
    struct ctx c;
    struct sp o = { .ready = PIDRING_READY_NOTIFY };
    struct pidring_event rd;
    pidring_id id;

    ctx_open(&c, flags);
    id = spawn_ok(c.pr, &o, ARGS("--garbage", "--notify-after-ms", "20"));
    rd = expect_event(c.pr, PIDRING_EV_READY, id);
    cr_assert_geq(rd.ready_ns - rd.spawn_ns, 20 * MS);
    cancel_done(c.pr, id);
    expect_no_event_now(c.pr);
    ctx_close(&c);
}

/* Events that arrived while send_dgram drove the engine. */
struct stash {
    struct pidring_event ev[8];
    int n;
};

/*
 * One datagram to path, optionally carrying fds (SCM_RIGHTS). The engine runs
 * in this thread and reads its socket only inside pidring_wait, and a Unix
 * datagram queue holds net.unix.max_dgram_qlen (often 10) datagrams: a full
 * queue is drained by driving the engine; events seen meanwhile are stashed.
 */
static void send_dgram(struct pidring *pr, struct stash *st, const char *path,
                       const void *buf, size_t len, const int *fds, int nfds)
{
    union {
        char b[CMSG_SPACE(sizeof(int) * 32)];
        struct cmsghdr align;
    } cb;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr m = { .msg_name = &sa, .msg_namelen = sizeof sa,
                        .msg_iov = &iov, .msg_iovlen = 1 };
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ssize_t r;

    cr_assert_geq(s, 0);
    cr_assert_leq(nfds, 32);
    strcpy(sa.sun_path, path);
    if (nfds) {
        struct cmsghdr *cm;

        memset(&cb, 0, sizeof cb);
        m.msg_control = cb.b;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
    }
    for (uint64_t end = th_now_ns() + 5000 * MS;;) {
        int w;

        r = sendmsg(s, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r >= 0 || errno != EAGAIN || th_now_ns() > end)
            break;
        cr_assert_lt(st->n, 8, "too many events while sending");
        w = pidring_wait(pr, &st->ev[st->n], 1, 1);
        cr_assert_geq(w, 0, "pidring_wait: %d", w);
        st->n += w;
    }
    cr_assert_eq(r, (ssize_t)len, "sendmsg %zu bytes, %d fds to %s: %s", len, nfds,
                 path, r < 0 ? strerror(errno) : "short");
    close(s);
}

/* The next event: a stashed one first. */
static struct pidring_event next_event(struct pidring *pr, struct stash *st)
{
    struct pidring_event ev;

    if (st->n) {
        ev = st->ev[0];
        memmove(st->ev, st->ev + 1, sizeof st->ev[0] * (size_t)--st->n);
        return ev;
    }
    cr_assert_eq(th_wait_event(pr, &ev, EV_WAIT_MS), 1, "no event");
    return ev;
}

/*
 * 11b. Datagrams from a pid that is not the proc (this test process): READY=1,
 * STATUS=, EXTEND_TIMEOUT_USEC= are ignored; malformed ones cause no harm;
 * fds passed with SCM_RIGHTS (more than the engine makes room for, too) are
 * all closed by the engine.
 */
BOTH(notify_foreign_datagrams)
{
    struct ctx c;
    char report[65536], npath[PATH_MAX], st[64], big[5000], junk[] = "R\0E\xff";
    int p[2], sv[2], fds[20], before;
    struct sp o2 = { .ready = PIDRING_READY_NOTIFY };
    struct pidring_event ev, rd1, rd2;
    struct stash stash = { .n = 0 };
    struct pollfd pf;
    pidring_id id, id2;
    bool got1 = false, got2 = false;

    ctx_open(&c, flags);
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    {
        struct pidring_fd_map map = { p[1], 3 };
        struct sp o = { .ready = PIDRING_READY_NOTIFY, .fds = &map, .nfds = 1,
                        .timeout_ms = 10000 };

        id = spawn_ok(c.pr, &o, ARGS("--notify-after-ms", "300", "--report-fd", "3"));
    }
    close(p[1]);
    read_pipe(p[0], report, sizeof report);
    cr_assert_eq(report_env(report, "NOTIFY_SOCKET", npath, sizeof npath), 1);

    before = th_fd_count();
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    for (int i = 0; i < 20; i++)
        fds[i] = sv[0];

    send_dgram(c.pr, &stash, npath, "READY=1", 7, NULL, 0);
    send_dgram(c.pr, &stash, npath, "READY=1\n", 8, NULL, 0);
    send_dgram(c.pr, &stash, npath, "STATUS=forged", 13, NULL, 0);
    send_dgram(c.pr, &stash, npath, "EXTEND_TIMEOUT_USEC=100000000", 29, NULL, 0);
    send_dgram(c.pr, &stash, npath, "", 0, NULL, 0);
    send_dgram(c.pr, &stash, npath, junk, sizeof junk, NULL, 0);
    send_dgram(c.pr, &stash, npath, "READY=1\0trailing", 16, NULL, 0);
    send_dgram(c.pr, &stash, npath, "no equals sign", 14, NULL, 0);
    memset(big, 'A', sizeof big);
    send_dgram(c.pr, &stash, npath, big, sizeof big, NULL, 0);
    send_dgram(c.pr, &stash, npath, "READY=1", 7, fds, 1);
    send_dgram(c.pr, &stash, npath, "STATUS=with fds", 15, fds, 20);
    send_dgram(c.pr, &stash, npath, big, sizeof big, fds, 3);
    send_dgram(c.pr, &stash, npath, "", 0, fds, 2);
    close(sv[0]);

    /*
     * A second child says READY=1 at once: its datagram is queued after all
     * of ours, so once its READY is here the engine has read them all.
     */
    id2 = spawn_ok(c.pr, &o2, ARGS("--notify-after-ms", "0"));
    while (!got1 || !got2) {
        char s[256];

        ev = next_event(c.pr, &stash);
        cr_assert_eq((int)ev.type, PIDRING_EV_READY, "%s", ev_str(&ev, s, sizeof s));
        if (ev.id == id) {
            cr_assert(!got1);
            rd1 = ev;
            got1 = true;
        } else {
            cr_assert_eq(ev.id, id2, "%s", ev_str(&ev, s, sizeof s));
            cr_assert(!got2);
            rd2 = ev;
            got2 = true;
        }
    }
    cr_assert_geq(rd1.ready_ns - rd1.spawn_ns, 300 * MS,
                  "a foreign READY=1 was taken (%llu ns after spawn)",
                  (unsigned long long)(rd1.ready_ns - rd1.spawn_ns));
    cr_assert_eq(pidring_status(c.pr, id, st, sizeof st), 0, "status '%s'", st);
    cr_assert_str_eq(st, "");

    ev = cancel_done(c.pr, id2);
    cr_assert_eq(ev.ready_ns, rd2.ready_ns);

    /* Every copy of sv[0] the engine received is closed: the peer sees HUP. */
    pf.fd = sv[1];
    pf.events = POLLIN;
    pf.revents = 0;
    cr_assert_eq(poll(&pf, 1, 0), 1, "sv[0] still open somewhere (fds: %d, were %d)",
                 th_fd_count(), before);
    cr_assert(pf.revents & POLLHUP, "revents %#x", (unsigned)pf.revents);
    close(sv[1]);
    cr_assert_eq(th_fd_count(), before);

    ev = cancel_done(c.pr, id);
    cr_assert_eq(ev.ready_ns, rd1.ready_ns);
    expect_no_event_now(c.pr);
    ctx_close(&c);
}

/* ==== the instance directory ==== */

/* Spawn a BIND child that never binds, read its path, cancel it, and wait for
 * its DONE: the slot's next spawn will be <slot>.<gen + 1>.sock. */
static void learn_next_path(struct ctx *c, char *next, size_t len)
{
    struct sp o = { .ready = PIDRING_READY_BIND };
    char path[PATH_MAX], inst[PATH_MAX];
    unsigned slot, gen;
    pidring_id id = spawn_ok(c->pr, &o, ARGS("--never-ready"));

    sock_path(c->pr, id, path, sizeof path);
    parse_sock_path(c->dir, path, inst, sizeof inst, &slot, &gen);
    cr_assert_eq(slot, 0, "the only proc of the engine: %s", path);
    cancel_done(c->pr, id);
    expect_no_event_now(c->pr);
    cr_assert_lt((size_t)snprintf(next, len, "%s/%u.%u.sock", inst, slot, gen + 1), len);
}

/* 12a. A stale socket at the next spawn's path is unlinked; the spawn works. */
BOTH(stale_socket_unlinked)
{
    struct ctx c;
    struct sp o = { .ready = PIDRING_READY_BIND };
    char next[PATH_MAX], path[PATH_MAX];
    pidring_id id;

    ctx_open(&c, flags);
    learn_next_path(&c, next, sizeof next);
    make_stale_socket(next);
    expect_socket_file(next);
    cr_assert_eq(connect_to(next), -ECONNREFUSED);

    id = spawn_ok(c.pr, &o, ARGS("--bind-after-ms", "0"));
    sock_path(c.pr, id, path, sizeof path);
    cr_assert_str_eq(path, next);
    expect_event(c.pr, PIDRING_EV_READY, id);
    cr_assert_eq(connect_to(path), 0);
    cancel_done(c.pr, id);
    expect_gone(path);
    ctx_close(&c);
}

/* 12b. Anything but a socket at the path (regular file, symlink to a socket,
 * directory) is -EEXIST, left untouched, and the failed spawn leaves no event,
 * no child, no slot. */
BOTH(non_socket_at_path_is_eexist)
{
    struct ctx c;
    struct sp o = { .ready = PIDRING_READY_BIND };
    char next[PATH_MAX], target[PATH_MAX], buf[32];
    struct stat st;
    pidring_id id = 0;
    int fd, r;

    ctx_open(&c, flags);

    /* Regular file. */
    learn_next_path(&c, next, sizeof next);
    fd = open(next, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0, "create %s: %s", next, strerror(errno));
    cr_assert_eq(write(fd, "keep me", 7), 7);
    close(fd);
    r = spawn_args(c.pr, &id, &o, ARGS("--bind-after-ms", "0"));
    cr_assert_eq(r, -EEXIST, "spawn over a regular file: %d", r);
    cr_assert_eq(pidring_live(c.pr), 0);
    cr_assert_eq(th_children(NULL, 0), 0);
    expect_no_event_now(c.pr);
    fd = open(next, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0, "%s was deleted", next);
    cr_assert_eq(read(fd, buf, sizeof buf), 7);
    close(fd);
    cr_assert_eq(memcmp(buf, "keep me", 7), 0);
    cr_assert_eq(unlink(next), 0);

    /* Symlink to a real socket: not followed, not removed. */
    learn_next_path(&c, next, sizeof next);
    snprintf(target, sizeof target, "%s/target.sock", c.dir);
    make_stale_socket(target);
    cr_assert_eq(symlink(target, next), 0);
    r = spawn_args(c.pr, &id, &o, ARGS("--bind-after-ms", "0"));
    cr_assert_eq(r, -EEXIST, "spawn over a symlink: %d", r);
    cr_assert_eq(lstat(next, &st), 0);
    cr_assert(S_ISLNK(st.st_mode));
    expect_socket_file(target);
    expect_no_event_now(c.pr);
    cr_assert_eq(unlink(next), 0);
    cr_assert_eq(unlink(target), 0);

    /* Directory. */
    learn_next_path(&c, next, sizeof next);
    cr_assert_eq(mkdir(next, 0700), 0);
    r = spawn_args(c.pr, &id, &o, ARGS("--bind-after-ms", "0"));
    cr_assert_eq(r, -EEXIST, "spawn over a directory: %d", r);
    cr_assert_eq(lstat(next, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    expect_no_event_now(c.pr);
    cr_assert_eq(rmdir(next), 0);

    /* The engine still works. */
    id = spawn_ok(c.pr, &o, ARGS("--bind-after-ms", "0"));
    expect_event(c.pr, PIDRING_EV_READY, id);
    cancel_done(c.pr, id);
    ctx_close(&c);
}

/* 13. Ten engines in one thread, one shared runtime dir, five BIND children
 * each: all READY, all DONE after cancel, ten distinct instance dirs. */
#define N_ENG 10
#define N_PER 5

BOTH(ten_engines_side_by_side)
{
    struct th_baseline b;
    struct pidring *prs[N_ENG];
    pidring_id ids[N_ENG][N_PER];
    unsigned ready[N_ENG][N_PER], done[N_ENG][N_PER];
    char insts[N_ENG][PATH_MAX], names[N_ENG + 2][64];
    char *dir;
    unsigned total_ready = 0, total_done = 0;
    uint64_t end;

    th_baseline_take(&b);
    dir = th_mkdtemp();
    memset(ready, 0, sizeof ready);
    memset(done, 0, sizeof done);
    for (int e = 0; e < N_ENG; e++)
        prs[e] = engine_new(dir, flags);
    cr_assert_eq(count_subdirs(dir, names, N_ENG + 2), N_ENG);

    for (int e = 0; e < N_ENG; e++) {
        for (int k = 0; k < N_PER; k++) {
            struct sp o = { .ready = PIDRING_READY_BIND,
                            .user = (void *)(uintptr_t)(k + 1) };
            char path[PATH_MAX], inst[PATH_MAX], ms[8];
            unsigned slot, gen;

            snprintf(ms, sizeof ms, "%d", (e + k) % 20);
            ids[e][k] = spawn_ok(prs[e], &o, ARGS("--bind-after-ms", ms));
            sock_path(prs[e], ids[e][k], path, sizeof path);
            parse_sock_path(dir, path, inst, sizeof inst, &slot, &gen);
            if (k == 0)
                strcpy(insts[e], inst);
            cr_assert_str_eq(inst, insts[e], "engine %d's sockets in two dirs", e);
        }
    }
    for (int e = 0; e < N_ENG; e++)
        for (int f = 0; f < e; f++)
            cr_assert_str_neq(insts[e], insts[f], "engines %d and %d share %s", e, f,
                              insts[e]);

    /* Drive all ten: poll their fds, then a non-blocking wait on each. */
    end = th_now_ns() + (uint64_t)EV_WAIT_MS * MS;
    for (int phase = 0; phase < 2; phase++) {
        unsigned want = N_ENG * N_PER;
        unsigned *have = phase == 0 ? &total_ready : &total_done;

        while (*have < want) {
            struct pollfd pf[N_ENG];

            cr_assert_lt(th_now_ns(), end, "phase %d: %u of %u events", phase,
                         *have, want);
            for (int e = 0; e < N_ENG; e++) {
                pf[e].fd = pidring_fd(prs[e]);
                pf[e].events = POLLIN;
                cr_assert_geq(pf[e].fd, 0);
            }
            poll(pf, N_ENG, 10);
            for (int e = 0; e < N_ENG; e++) {
                struct pidring_event evs[16];
                int n = pidring_wait(prs[e], evs, 16, 0);

                cr_assert_geq(n, 0, "engine %d: wait %d", e, n);
                for (int i = 0; i < n; i++) {
                    uintptr_t k = (uintptr_t)evs[i].user - 1;
                    char s[256];

                    cr_assert_lt(k, N_PER, "%s", ev_str(&evs[i], s, sizeof s));
                    cr_assert_eq(evs[i].id, ids[e][k], "%s", ev_str(&evs[i], s, sizeof s));
                    if (evs[i].type == PIDRING_EV_READY) {
                        cr_assert_eq(phase, 0, "READY after cancel: %s",
                                     ev_str(&evs[i], s, sizeof s));
                        cr_assert_eq(ready[e][k]++, 0);
                        total_ready++;
                    } else {
                        cr_assert_eq(phase, 1, "DONE before cancel: %s",
                                     ev_str(&evs[i], s, sizeof s));
                        cr_assert_eq(done[e][k]++, 0);
                        check_done(&evs[i], PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
                        total_done++;
                    }
                }
            }
        }
        if (phase == 0)
            for (int e = 0; e < N_ENG; e++)
                for (int k = 0; k < N_PER; k++)
                    cr_assert_eq(pidring_cancel(prs[e], ids[e][k]), 0);
    }
    for (int e = 0; e < N_ENG; e++) {
        char list[256];

        cr_assert_eq(pidring_live(prs[e]), 0);
        expect_no_event_now(prs[e]);
        cr_assert_eq(non_lock_entries(insts[e], list, sizeof list), 0, "%s:%s",
                     insts[e], list);
    }
    for (int e = 0; e < N_ENG; e++) {
        int r = pidring_destroy(prs[e], DESTROY_MS);

        cr_expect_eq(r, 0, "destroy engine %d: %d", e, r);
        /* Each destroy removes its own directory only. */
        cr_assert_eq(count_subdirs(dir, NULL, 0), N_ENG - 1 - e);
    }
    th_leak_check(&b, dir);
    th_rmtree(dir);
    free(dir);
}

/* Read "ok <pid> <socket path>" (or an error) from the helper process. */
static pid_t read_helper_line(int fd, char *path, size_t len)
{
    char line[PATH_MAX + 64], *sp;
    int n = th_read_all(fd, line, sizeof line);
    int gpid = 0;

    cr_assert_gt(n, 0, "helper said nothing: %d", n);
    cr_assert_eq(sscanf(line, "ok %d", &gpid), 1, "helper: %s", line);
    cr_assert_gt(gpid, 0);
    sp = strchr(line + 3, ' ');
    cr_assert_not_null(sp, "helper: %s", line);
    sp++;
    sp[strcspn(sp, "\n")] = '\0';
    cr_assert_lt(strlen(sp), len);
    strcpy(path, sp);
    return (pid_t)gpid;
}

/* The helper: an engine with one ready BIND child, then killed by the test. */
static _Noreturn void sweep_helper(int fd, const char *dir, unsigned flags)
{
    struct pidring_opts o = { .runtime_dir = dir, .flags = flags };
    struct pidring_spawn s;
    struct pidring_event ev;
    const char *argv[] = { th_child_path(), "--bind-after-ms", "0", NULL };
    struct pidring *pr;
    pidring_id id;
    uint64_t end;
    int r;

    r = pidring_new(&pr, &o);
    if (r) {
        dprintf(fd, "err new %d\n", r);
        _exit(1);
    }
    memset(&s, 0, sizeof s);
    s.path = argv[0];
    s.argv = (char *const *)argv;
    s.ready = PIDRING_READY_BIND;
    r = pidring_spawn(pr, &s, &id);
    if (r) {
        dprintf(fd, "err spawn %d\n", r);
        _exit(1);
    }
    end = th_now_ns() + 5000 * MS;
    for (;;) {
        r = pidring_wait(pr, &ev, 1, 100);
        if (r == 1 && ev.type == PIDRING_EV_READY)
            break;
        if ((r < 0 && r != -EINTR) || r == 1 || th_now_ns() > end) {
            dprintf(fd, "err wait %d type %d\n", r, r == 1 ? (int)ev.type : 0);
            _exit(1);
        }
    }
    {
        char path[PATH_MAX];

        if (pidring_socket_path(pr, id, path, sizeof path) < 0)
            _exit(1);
        dprintf(fd, "ok %d %s\n", pidring_pid(pr, id), path);
    }
    close(fd);
    for (;;)
        pause();
}

/* A pid that is gone, or a zombie that is not ours (reparented to init). */
static bool gone_or_foreign_zombie(pid_t pid)
{
    char path[64], line[512], *cp, st = 0;
    int fd, ppid = 0;
    ssize_t n;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true;
    n = read(fd, line, sizeof line - 1);
    close(fd);
    if (n <= 0)
        return true;
    line[n] = '\0';
    cp = strrchr(line, ')');
    if (!cp || sscanf(cp + 1, " %c %d", &st, &ppid) != 2)
        return false;
    return st == 'Z' && ppid != getpid();
}

/* 14. A dead engine's instance directory is swept by the next pidring_new;
 * a live engine's is not. */
BOTH(sweep_dead_engine_dir)
{
    struct th_baseline b;
    char names[8][64], deadname[64] = "", inst_alive[PATH_MAX], sock[PATH_MAX];
    char inst[PATH_MAX];
    unsigned slot, gen;
    struct pidring *alive, *fresh;
    pid_t helper, gpid;
    uint64_t end;
    char *dir;
    int p[2], n, status;

    th_baseline_take(&b);
    dir = th_mkdtemp();
    alive = engine_new(dir, flags);
    cr_assert_eq(count_subdirs(dir, names, 8), 1);
    snprintf(inst_alive, sizeof inst_alive, "%s/%s", dir, names[0]);

    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    helper = fork();
    cr_assert_geq(helper, 0);
    if (helper == 0) {
        close(p[0]);
        sweep_helper(p[1], dir, flags);
    }
    close(p[1]);
    gpid = read_helper_line(p[0], sock, sizeof sock);
    close(p[0]);

    /* The helper's instance dir is the one its socket is in. */
    parse_sock_path(dir, sock, inst, sizeof inst, &slot, &gen);
    expect_socket_file(sock);
    cr_assert_str_neq(inst, inst_alive);
    snprintf(deadname, sizeof deadname, "%.63s", inst + strlen(dir) + 1);
    n = count_subdirs(dir, names, 8);
    cr_assert_eq(n, 2);

    cr_assert_eq(kill(helper, SIGKILL), 0);
    cr_assert_eq(waitpid(helper, &status, 0), helper);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* Its child dies by PDEATHSIG and belongs to init, not to us. */
    end = th_now_ns() + 5000 * MS;
    while (!gone_or_foreign_zombie(gpid)) {
        cr_assert_lt(th_now_ns(), end, "helper's child %d still alive", (int)gpid);
        usleep(1000);
    }
    /* Nothing swept it yet: the live engine only sweeps at its start. */
    cr_assert_eq(count_subdirs(dir, NULL, 0), 2);

    fresh = engine_new(dir, flags);
    n = count_subdirs(dir, names, 8);
    cr_assert_eq(n, 2, "after the sweep");
    for (int i = 0; i < n; i++)
        cr_assert_str_neq(names[i], deadname, "dead engine's dir %s not swept",
                          deadname);
    {
        struct stat st;

        cr_assert_eq(stat(inst_alive, &st), 0, "live engine's dir %s swept",
                     inst_alive);
    }

    cr_assert_eq(pidring_destroy(fresh, DESTROY_MS), 0);
    cr_assert_eq(pidring_destroy(alive, DESTROY_MS), 0);
    th_leak_check(&b, dir);
    th_rmtree(dir);
    free(dir);
}

/* 15. {socket} in argv is replaced by the path, wherever it appears. */
BOTH(argv_socket_substitution)
{
    struct ctx c;
    char path[PATH_MAX], echo[8192];
    static char want[5 * PATH_MAX + 256];
    int p[2];
    struct pidring_event rd, dn;
    pidring_id id;
    const char *const args[] = { "--bind-after-ms", "0", "--socket", "{socket}",
                                 "x={socket}y", "{socket}{socket}", "{sock}",
                                 "--argv-echo-fd", "3", NULL };

    ctx_open(&c, flags);
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    {
        struct pidring_fd_map map = { p[1], 3 };
        struct sp o = { .ready = PIDRING_READY_BIND, .fds = &map, .nfds = 1 };

        id = spawn_ok(c.pr, &o, args);
    }
    close(p[1]);
    /* The caller's argv is not modified. */
    cr_assert_str_eq(args[3], "{socket}");
    cr_assert_str_eq(args[4], "x={socket}y");
    sock_path(c.pr, id, path, sizeof path);
    read_pipe(p[0], echo, sizeof echo);
    snprintf(want, sizeof want,
             "%s\n--bind-after-ms\n0\n--socket\n%s\nx=%sy\n%s%s\n{sock}\n"
             "--argv-echo-fd\n3\nend\n",
             th_child_path(), path, path, path, path);
    cr_assert_str_eq(echo, want);

    rd = expect_event(c.pr, PIDRING_EV_READY, id);
    cr_assert_eq(connect_to(path), 0);
    dn = cancel_done(c.pr, id);
    cr_assert_eq(dn.ready_ns, rd.ready_ns);
    expect_gone(path);
    ctx_close(&c);
}

/* 16. Runtime dirs pidring_new must refuse, creating nothing. */
BOTH(runtime_dir_refused)
{
    struct th_baseline b;
    struct pidring_opts o = { .flags = flags };
    struct pidring *pr;
    char longp[512], real[PATH_MAX], link[PATH_MAX], dangle[PATH_MAX],
         missing[PATH_MAX], file[PATH_MAX];
    struct stat st;
    char *dir;
    int r, fd;

    th_baseline_take(&b);
    dir = th_mkdtemp();

    /* Too long for base/<inst>/<slot>.<gen>.sock, though the base itself
     * would fit sun_path; and longer than sun_path. */
    for (size_t total = 80; total <= 200; total += 120) {
        size_t dl = strlen(dir);

        cr_assert_lt(dl + 1, total);
        memcpy(longp, dir, dl);
        longp[dl] = '/';
        memset(longp + dl + 1, 'x', total - dl - 1);
        longp[total] = '\0';
        o.runtime_dir = longp;
        pr = (struct pidring *)1;
        r = pidring_new(&pr, &o);
        cr_assert_eq(r, -ENAMETOOLONG, "%zu-byte runtime dir: %d", total, r);
        cr_assert_null(pr);
        cr_assert_eq(lstat(longp, &st), -1, "%s was created", longp);
        cr_assert_eq(th_dir_entries(dir, NULL, 0), 0);
    }

    /*
     * A symlink to a real directory, and a dangling one. Observed on 6.18:
     * open(O_DIRECTORY | O_NOFOLLOW) of a symlink fails with ENOTDIR (the
     * O_DIRECTORY check comes first), which the engine returns as is;
     * ELOOP would be the other correct refusal.
     */
    snprintf(real, sizeof real, "%s/real", dir);
    snprintf(link, sizeof link, "%s/link", dir);
    snprintf(dangle, sizeof dangle, "%s/dangle", dir);
    snprintf(missing, sizeof missing, "%s/missing", dir);
    cr_assert_eq(mkdir(real, 0700), 0);
    cr_assert_eq(symlink("real", link), 0);
    cr_assert_eq(symlink("missing", dangle), 0);

    o.runtime_dir = link;
    r = pidring_new(&pr, &o);
    cr_assert(r == -ENOTDIR || r == -ELOOP, "symlinked runtime dir: %d (%s)", r,
              strerror(-r));
    cr_log_info("symlinked runtime dir refused with %d (%s)", r, strerror(-r));
    cr_assert_null(pr);
    cr_assert_eq(th_dir_entries(real, NULL, 0), 0, "something created through the link");

    o.runtime_dir = dangle;
    r = pidring_new(&pr, &o);
    cr_assert(r == -ENOTDIR || r == -ELOOP, "dangling symlink: %d (%s)", r,
              strerror(-r));
    cr_assert_null(pr);
    cr_assert_eq(lstat(missing, &st), -1, "the link's target was created");

    /* A regular file. */
    snprintf(file, sizeof file, "%s/file", dir);
    fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    close(fd);
    o.runtime_dir = file;
    r = pidring_new(&pr, &o);
    cr_assert_eq(r, -ENOTDIR, "file as runtime dir: %d", r);
    cr_assert_null(pr);

    cr_assert_eq(th_dir_entries(real, NULL, 0), 0);
    cr_assert_eq(unlink(file), 0);
    cr_assert_eq(unlink(dangle), 0);
    cr_assert_eq(unlink(link), 0);
    cr_assert_eq(rmdir(real), 0);
    th_leak_check(&b, dir);
    th_rmtree(dir);
    free(dir);
}

/* 17. pidring_socket_path's errors. */
BOTH(socket_path_errors)
{
    struct ctx c;
    struct sp ob = { .ready = PIDRING_READY_BIND };
    struct sp oe = { .ready = PIDRING_READY_EXEC };
    char path[PATH_MAX], small[PATH_MAX];
    struct pidring_event ev;
    pidring_id exec_id, bind_id, forged;
    int n;

    ctx_open(&c, flags);
    exec_id = spawn_ok(c.pr, &oe, ARGS("--sleep-forever"));
    ev = expect_event(c.pr, PIDRING_EV_READY, exec_id);
    cr_assert_eq(pidring_socket_path(c.pr, exec_id, path, sizeof path), -ENOENT);

    bind_id = spawn_ok(c.pr, &ob, ARGS("--never-ready"));
    n = sock_path(c.pr, bind_id, path, sizeof path);
    cr_assert_eq(pidring_socket_path(c.pr, bind_id, small, (size_t)n), -ENAMETOOLONG);
    cr_assert_eq(pidring_socket_path(c.pr, bind_id, small, 1), -ENAMETOOLONG);
    cr_assert_eq(pidring_socket_path(c.pr, bind_id, small, 0), -ENAMETOOLONG);
    cr_assert_eq(pidring_socket_path(c.pr, bind_id, small, (size_t)n + 1), n);
    cr_assert_str_eq(small, path);
    cr_assert_eq(pidring_socket_path(c.pr, bind_id, NULL, sizeof path), -EINVAL);

    /* Forged ids: 0, a slot never handed out, the right slot with a wrong
     * generation. */
    cr_assert_eq(pidring_socket_path(c.pr, 0, path, sizeof path), -ESRCH);
    cr_assert_eq(pidring_socket_path(c.pr, (pidring_id)1 << 32 | 999, path,
                                     sizeof path), -ESRCH);
    forged = bind_id + ((pidring_id)1 << 32);
    cr_assert_eq(pidring_socket_path(c.pr, forged, path, sizeof path), -ESRCH);

    cr_assert_eq(pidring_cancel(c.pr, exec_id), 0);
    cr_assert_eq(pidring_cancel(c.pr, bind_id), 0);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(th_wait_event(c.pr, &ev, EV_WAIT_MS), 1);
        cr_assert_eq((int)ev.type, PIDRING_EV_DONE);
        check_done(&ev, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
    }
    expect_no_event_now(c.pr);
    /* Stale ids. */
    cr_assert_eq(pidring_socket_path(c.pr, bind_id, path, sizeof path), -ESRCH);
    cr_assert_eq(pidring_socket_path(c.pr, exec_id, path, sizeof path), -ESRCH);
    ctx_close(&c);
}

/* A spawn whose exec fails leaves no socket name, no event, no child. */
BOTH(failed_spawn_leaves_nothing)
{
    struct ctx c;
    char path[PATH_MAX], inst[PATH_MAX], list[256];
    unsigned slot, gen;
    pidring_id id = 0;
    int r;

    ctx_open(&c, flags);
    for (int mode = PIDRING_READY_BIND; mode <= PIDRING_READY_NOTIFY; mode++) {
        const char *argv[] = { "/nonexistent/pidring-child", "--bind-after-ms", "0",
                               NULL };
        struct pidring_spawn s = { .path = argv[0], .argv = (char *const *)argv,
                                   .ready = (enum pidring_ready)mode };

        r = pidring_spawn(c.pr, &s, &id);
        cr_assert_eq(r, -ENOENT, "mode %d: %d", mode, r);
        cr_assert_eq(pidring_live(c.pr), 0);
        cr_assert_eq(th_children(NULL, 0), 0);
        expect_no_event_now(c.pr);
    }
    /* The engine goes on: a BIND spawn after the failures works. */
    {
        struct sp o = { .ready = PIDRING_READY_BIND };

        id = spawn_ok(c.pr, &o, ARGS("--bind-after-ms", "0"));
    }
    sock_path(c.pr, id, path, sizeof path);
    parse_sock_path(c.dir, path, inst, sizeof inst, &slot, &gen);
    expect_event(c.pr, PIDRING_EV_READY, id);
    cancel_done(c.pr, id);
    /* Only the lock and the (lazily made) notify socket remain. */
    r = non_lock_entries(inst, list, sizeof list);
    cr_assert(r == 0 || (r == 1 && !strcmp(list, " notify")), "left in %s:%s", inst,
              list);
    ctx_close(&c);
}

/*
 * A relative runtime dir must not yield socket paths a child cannot use.
 * sd_notify ignores a NOTIFY_SOCKET that is not absolute, and a BIND child
 * with its own cwd resolves a relative PIDRING_SOCKET elsewhere. Either
 * pidring_new refuses it (-EINVAL), or the paths handed out work.
 *
 * (This found that pidring_new used a relative runtime_dir as it was:
 * NOTIFY_SOCKET and PIDRING_SOCKET were relative. It is now made absolute.)
 */
BOTH(relative_runtime_dir)
{
    struct th_baseline b;
    struct pidring_opts o = { .flags = flags };
    struct pidring *pr = NULL;
    const char *child = th_child_path();
    char *dir, *other, *rel, cwd[PATH_MAX];
    int r;

    th_baseline_take(&b);
    dir = th_mkdtemp();
    other = th_mkdtemp();
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    cr_assert_eq(chdir("/tmp"), 0);
    rel = dir + strlen("/tmp/");
    o.runtime_dir = rel;
    r = pidring_new(&pr, &o);
    if (r == 0) {
        /* A deadline well past READY: a broken path times out there, and a
         * loaded host slow to exec the child does not. */
        const char *nargv[] = { child, "--notify-after-ms", "0", NULL };
        const char *bargv[] = { child, "--bind-after-ms", "0", NULL };
        struct pidring_spawn ns = { .path = child, .argv = (char *const *)nargv,
                                    .ready = PIDRING_READY_NOTIFY,
                                    .ready_timeout_ms = 10000 };
        struct pidring_spawn bs = { .path = child, .argv = (char *const *)bargv,
                                    .ready = PIDRING_READY_BIND, .cwd = other,
                                    .ready_timeout_ms = 10000 };
        struct pidring_event ev;
        pidring_id id;
        char s[256];

        cr_assert_eq(pidring_spawn(pr, &ns, &id), 0);
        cr_expect_eq(th_wait_event(pr, &ev, EV_WAIT_MS), 1);
        cr_expect_eq((int)ev.type, PIDRING_EV_READY,
                     "NOTIFY child with a relative runtime dir: %s",
                     ev_str(&ev, s, sizeof s));
        if (ev.type == PIDRING_EV_READY)
            pidring_cancel(pr, id);

        cr_assert_eq(pidring_spawn(pr, &bs, &id), 0);
        cr_expect_eq(th_wait_event(pr, &ev, EV_WAIT_MS), 1);
        if (ev.id != id)     /* the NOTIFY child's DONE */
            cr_expect_eq(th_wait_event(pr, &ev, EV_WAIT_MS), 1);
        cr_expect_eq((int)ev.type, PIDRING_EV_READY,
                     "BIND child (own cwd) with a relative runtime dir: %s",
                     ev_str(&ev, s, sizeof s));
        cr_assert_eq(pidring_destroy(pr, DESTROY_MS), 0);
    } else {
        cr_assert_eq(r, -EINVAL, "relative runtime dir refused with %d", r);
    }
    cr_assert_eq(chdir(cwd), 0);
    th_leak_check(&b, dir);
    cr_expect_eq(th_dir_entries(other, NULL, 0), 0, "a child bound in its cwd");
    th_rmtree(other);
    th_rmtree(dir);
    free(other);
    free(dir);
}

/* A missing runtime dir is created 0700 (its parent must exist); one that
 * another user owns is refused with -EPERM (checked when running as root). */
BOTH(runtime_dir_created_or_not_ours)
{
    struct th_baseline b;
    struct pidring_opts o = { .flags = flags };
    struct sp sp = { .ready = PIDRING_READY_BIND };
    struct pidring *pr = NULL;
    char sub[PATH_MAX], deep[PATH_MAX], theirs[PATH_MAX], path[PATH_MAX];
    struct pidring_event ev;
    struct stat st;
    pidring_id id;
    char *dir;
    int r;

    th_baseline_take(&b);
    dir = th_mkdtemp();
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(deep, sizeof deep, "%s/a/b", dir);
    snprintf(theirs, sizeof theirs, "%s/theirs", dir);

    o.runtime_dir = deep;
    r = pidring_new(&pr, &o);
    cr_assert_eq(r, -ENOENT, "runtime dir with a missing parent: %d", r);
    cr_assert_null(pr);
    cr_assert_eq(th_dir_entries(dir, NULL, 0), 0);

    o.runtime_dir = sub;
    pr = engine_new(sub, flags);
    cr_assert_eq(lstat(sub, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0700, "mode %o", (unsigned)(st.st_mode & 07777));
    id = spawn_ok(pr, &sp, ARGS("--bind-after-ms", "0"));
    sock_path(pr, id, path, sizeof path);
    cr_assert(strncmp(path, sub, strlen(sub)) == 0, "%s not in %s", path, sub);
    ev = expect_event(pr, PIDRING_EV_READY, id);
    cr_assert_eq(pidring_cancel(pr, id), 0);
    ev = expect_event(pr, PIDRING_EV_DONE, id);
    check_done(&ev, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
    cr_assert_eq(pidring_destroy(pr, DESTROY_MS), 0);
    /* The base stays (it may be shared); it is empty. */
    cr_assert_eq(th_dir_entries(sub, NULL, 0), 0);
    cr_assert_eq(rmdir(sub), 0);

    if (geteuid() == 0) {
        cr_assert_eq(mkdir(theirs, 0700), 0);
        cr_assert_eq(chown(theirs, 65534, 65534), 0, "chown: %s", strerror(errno));
        o.runtime_dir = theirs;
        pr = NULL;
        r = pidring_new(&pr, &o);
        cr_assert_eq(r, -EPERM, "runtime dir owned by uid 65534: %d", r);
        cr_assert_null(pr);
        cr_assert_eq(th_dir_entries(theirs, NULL, 0), 0);
        cr_assert_eq(rmdir(theirs), 0);
    } else {
        cr_log_info("not root: the -EPERM case (base owned by another user) is skipped");
    }
    th_leak_check(&b, dir);
    th_rmtree(dir);
    free(dir);
}

/*
 * A listener at the proc's path whose backlog is full (here the test's own,
 * listen(0), filled): the engine's CONNECT probe cannot complete. It must not
 * wedge the proc: the deadline still ends it, and a cancel still reaps it at
 * once (the stuck probe is cancelled, the socket file removed).
 */
static int fill_backlog(const char *path, int *conns, int max)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), n = 0;

    cr_assert_geq(l, 0);
    strcpy(sa.sun_path, path);
    cr_assert_eq(bind(l, (struct sockaddr *)&sa, sizeof sa), 0, "bind: %s",
                 strerror(errno));
    cr_assert_eq(listen(l, 0), 0);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        cr_assert_geq(fd, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            cr_assert_eq(errno, EAGAIN, "connect: %s", strerror(errno));
            close(fd);
            break;
        }
        cr_assert_lt(n, max, "backlog never filled");
        conns[n++] = fd;
    }
    conns[n++] = l;
    return n;
}

BOTH(probe_on_full_backlog)
{
    struct ctx c;
    struct sp ot = { .ready = PIDRING_READY_BIND, .timeout_ms = 300 };
    struct sp oc = { .ready = PIDRING_READY_BIND };
    char path[3][PATH_MAX];
    int conns[3][16], nc[3], r;
    struct pidring_event ev;
    pidring_id idt, idc, idd;
    uint64_t t;

    ctx_open(&c, flags);
    idt = spawn_ok(c.pr, &ot, ARGS("--never-ready"));
    idc = spawn_ok(c.pr, &oc, ARGS("--never-ready"));
    idd = spawn_ok(c.pr, &oc, ARGS("--never-ready"));
    sock_path(c.pr, idt, path[0], sizeof path[0]);
    sock_path(c.pr, idc, path[1], sizeof path[1]);
    sock_path(c.pr, idd, path[2], sizeof path[2]);
    for (int k = 0; k < 3; k++)
        nc[k] = fill_backlog(path[k], conns[k], 15);

    /* The deadline ends it: the blocked probe never counts as READY. */
    ev = expect_event(c.pr, PIDRING_EV_DONE, idt);
    check_done(&ev, PIDRING_READY_TIMEOUT, CLD_KILLED, SIGKILL);
    cr_assert_lt(ev.done_ns - ev.spawn_ns, 1800 * MS);
    expect_gone(path[0]);

    /* A cancel reaps it without waiting for the (30 s default) deadline. */
    cr_assert_eq(pidring_cancel(c.pr, idc), 0);
    t = th_now_ns();
    ev = expect_event(c.pr, PIDRING_EV_DONE, idc);
    check_done(&ev, PIDRING_CANCELLED, CLD_KILLED, SIGKILL);
    cr_assert_lt(th_now_ns() - t, 1500 * MS, "cancel took %llu ms",
                 (unsigned long long)((th_now_ns() - t) / MS));
    expect_gone(path[1]);

    /* And so does destroy, with the third one's probe still blocked. */
    cr_assert_eq(pidring_live(c.pr), 1);
    r = pidring_destroy(c.pr, DESTROY_MS);
    c.pr = NULL;
    cr_assert_eq(r, 0, "pidring_destroy: %d", r);
    expect_gone(path[2]);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < nc[k]; i++)
            close(conns[k][i]);
    th_leak_check(&c.b, c.dir);
    th_rmtree(c.dir);
    free(c.dir);
}

/* ==== The socket in every ready mode ==== */

/* Spawn with fd 3 the write end of a pipe; the child's --report-fd report
 * (its fds and environment) is read into report. */
static pidring_id spawn_reporting(struct ctx *c, struct sp *o, const char *const *args,
                                  char *report, size_t len)
{
    struct pidring_fd_map map;
    pidring_id id;
    int p[2];

    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    map = (struct pidring_fd_map){ p[1], 3 };
    o->fds = &map;
    o->nfds = 1;
    id = spawn_ok(c->pr, o, args);
    close(p[1]);
    read_pipe(p[0], report, len);
    return id;
}

/*
 * NOTIFY and EXEC procs get the per-spawn socket when they name {socket}
 * (argv or envp) or ask with PIDRING_SPAWN_SOCKET: the path is substituted,
 * in PIDRING_SOCKET, returned by pidring_socket_path, reachable, and removed
 * by the reap. Without either they get none, and no PIDRING_SOCKET.
 */
BOTH(socket_in_notify_and_exec_modes)
{
    static char *const env_tok[] = { "A=1", "X=<{socket}>", NULL };
    static char *const env_plain[] = { "A=1", "PIDRING_SOCKET=stale", NULL };
    struct ctx c;
    char path[PATH_MAX], val[PATH_MAX + 8], want[PATH_MAX + 8], report[8192];
    struct pidring_event rd;
    pidring_id id;

    ctx_open(&c, flags);

    /* NOTIFY, {socket} in argv: binds there, then says READY=1. */
    {
        struct sp o = { .ready = PIDRING_READY_NOTIFY, .envp = env_plain };

        id = spawn_reporting(&c, &o, ARGS("--socket", "{socket}", "--bind-after-ms", "0",
                                          "--notify-after-ms", "20", "--report-fd", "3"),
                             report, sizeof report);
        sock_path(c.pr, id, path, sizeof path);
        cr_assert_eq(report_env(report, "PIDRING_SOCKET", val, sizeof val), 1, "%s", report);
        cr_assert_str_eq(val, path);
        cr_assert_eq(report_env(report, "NOTIFY_SOCKET", NULL, 0), 1, "%s", report);
        rd = expect_event(c.pr, PIDRING_EV_READY, id);
        (void)rd;
        cr_assert_eq(connect_to(path), 0);
        cancel_done(c.pr, id);
        expect_gone(path);
    }
    /* EXEC, PIDRING_SPAWN_SOCKET and no token: the child binds PIDRING_SOCKET. */
    {
        struct sp o = { .ready = PIDRING_READY_EXEC, .envp = env_plain,
                        .flags = PIDRING_SPAWN_SOCKET };

        id = spawn_reporting(&c, &o, ARGS("--bind-after-ms", "0", "--listen-after-ms", "20",
                                          "--report-fd", "3"),
                             report, sizeof report);
        sock_path(c.pr, id, path, sizeof path);
        cr_assert_eq(report_env(report, "PIDRING_SOCKET", val, sizeof val), 1, "%s", report);
        cr_assert_str_eq(val, path);
        expect_event(c.pr, PIDRING_EV_READY, id);
        wait_socket_file(c.pr, path);
        cr_assert_eq(connect_listening(c.pr, path), 0);
        cancel_done(c.pr, id);
        expect_gone(path);
    }
    /* EXEC, {socket} in an envp value: replaced there too. */
    {
        struct sp o = { .ready = PIDRING_READY_EXEC, .envp = env_tok };

        id = spawn_reporting(&c, &o, ARGS("--sleep-forever", "--report-fd", "3"),
                             report, sizeof report);
        sock_path(c.pr, id, path, sizeof path);
        cr_assert_eq(report_env(report, "X", val, sizeof val), 1, "%s", report);
        snprintf(want, sizeof want, "<%s>", path);
        cr_assert_str_eq(val, want);
        cr_assert_str_eq(env_tok[1], "X=<{socket}>");    /* the caller's is untouched */
        cr_assert_eq(report_env(report, "PIDRING_SOCKET", val, sizeof val), 1);
        cr_assert_str_eq(val, path);
        expect_event(c.pr, PIDRING_EV_READY, id);
        cancel_done(c.pr, id);                 /* never bound: the UNLINKAT finds none */
        expect_gone(path);
    }
    /* EXEC without either: no socket, and the caller's PIDRING_SOCKET is
     * passed as given (it is not ours to remove). */
    {
        struct sp o = { .ready = PIDRING_READY_EXEC, .envp = env_plain };

        id = spawn_reporting(&c, &o, ARGS("--sleep-forever", "--report-fd", "3"),
                             report, sizeof report);
        cr_assert_eq(pidring_socket_path(c.pr, id, path, sizeof path), -ENOENT);
        cr_assert_eq(report_env(report, "PIDRING_SOCKET", val, sizeof val), 1);
        cr_assert_str_eq(val, "stale");
        expect_event(c.pr, PIDRING_EV_READY, id);
        cancel_done(c.pr, id);
    }
    ctx_close(&c);
}

/* {socket} where it is never replaced (path, cwd) is refused, not passed on. */
BOTH(socket_token_where_not_replaced_is_einval)
{
    struct ctx c;
    pidring_id id = 0;
    char *const argv[] = { "x", NULL };
    struct pidring_spawn s = { .argv = argv, .ready = PIDRING_READY_EXEC };

    ctx_open(&c, flags);
    s.path = "/tmp/{socket}";
    cr_assert_eq(pidring_spawn(c.pr, &s, &id), -EINVAL);
    s.path = th_child_path();
    s.cwd = "/tmp/{socket}";
    cr_assert_eq(pidring_spawn(c.pr, &s, &id), -EINVAL);
    s.ready = PIDRING_READY_BIND;
    cr_assert_eq(pidring_spawn(c.pr, &s, &id), -EINVAL);
    cr_assert_eq(id, 0);
    cr_assert_eq(pidring_live(c.pr), 0);
    expect_no_event_now(c.pr);
    ctx_close(&c);
}

/* ==== Stock sd_notify daemons (run when installed; make deps installs them) ==== */

static const char *find_exe(const char *name)
{
    static const char *const dirs[] = { "/usr/sbin", "/usr/bin", "/sbin", "/bin" };
    static char path[PATH_MAX];

    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dirs[i], name);
        if (access(path, X_OK) == 0)
            return path;
    }
    return NULL;
}

/* Connect to path (driving the engine while the daemon is not listening
 * yet: no event may come meanwhile), send req, read until the peer closes or
 * want shows up. */
static void expect_answer(struct pidring *pr, const char *path, const char *req,
                          const char *want)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct timeval tv = { .tv_sec = 10 };
    uint64_t end = th_now_ns() + (uint64_t)EV_WAIT_MS * MS;
    char buf[4096];
    size_t got = 0;
    int fd, err = 0;

    strcpy(sa.sun_path, path);
    for (;;) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(fd, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            break;
        cr_assert(errno == ENOENT || errno == ECONNREFUSED, "connect %s: %s", path,
                  strerror(errno));
        close(fd);
        cr_assert_lt(th_now_ns(), end, "%s never accepted", path);
        expect_quiet(pr, 5);
    }
    cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    buf[0] = '\0';
    while (got < sizeof buf - 1 && !strstr(buf, want)) {
        ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);

        if (n < 0 && errno == EINTR)    /* a signal came: read again */
            continue;
        if (n <= 0) {
            err = n < 0 ? errno : 0;
            break;
        }
        got += (size_t)n;
        buf[got] = '\0';
    }
    close(fd);
    cr_assert(strstr(buf, want), "%s answered %zu bytes without \"%s\" (%s): %.200s",
              path, got, want, err ? strerror(err) : "EOF", buf);
}

struct daemon {
    const char *exe;
    char *const *argv;
    unsigned sflags;              /* PIDRING_SPAWN_* */
    const char *cwd;
    const char *req, *want;       /* a request on its socket, and the answer */
    bool term_kills;              /* SIGTERM may kill it rather than make it exit 0 */
};

/* A daemon's life: READY (by sd_notify, or at exec), answers on its socket,
 * ended by pidring_stop (it exits 0, or dies of SIGTERM when term_kills) or
 * by pidring_cancel, and leaves nothing: no socket, nothing in its cwd. */
static void daemon_life(unsigned flags, const struct daemon *d, enum pidring_ready mode,
                        bool cancel)
{
    static char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
    struct pidring_spawn s = {
        .path = d->exe, .argv = d->argv, .envp = envp, .cwd = d->cwd,
        .flags = d->sflags, .ready = mode, .ready_timeout_ms = 20000,
    };
    struct ctx c;
    struct pidring_event ev;
    char path[PATH_MAX], status[256], s2[256];
    pidring_id id = 0;
    int r;

    ctx_open(&c, flags);
    r = pidring_spawn(c.pr, &s, &id);
    cr_assert_eq(r, 0, "spawn %s: %d (%s)", d->exe, r, strerror(-r));
    sock_path(c.pr, id, path, sizeof path);
    cr_assert_eq(th_wait_event(c.pr, &ev, 25000), 1, "%s never came READY", d->exe);
    cr_assert_eq((int)ev.type, PIDRING_EV_READY, "%s: %s", d->exe,
                 ev_str(&ev, s2, sizeof s2));
    cr_assert_geq(pidring_status(c.pr, id, status, sizeof status), 0);
    cr_log_info("%s READY, STATUS=\"%s\"", d->exe, status);
    expect_answer(c.pr, path, d->req, d->want);
    if (cancel) {
        cancel_done(c.pr, id);
    } else {
        cr_assert_eq(pidring_stop(c.pr, id, 10000), 0);
        ev = expect_event(c.pr, PIDRING_EV_DONE, id);
        if (d->term_kills && ev.code == CLD_KILLED)
            check_done(&ev, PIDRING_STOPPED, CLD_KILLED, SIGTERM);
        else
            check_done(&ev, PIDRING_STOPPED, CLD_EXITED, 0);
    }
    expect_gone(path);
    cr_assert_eq(th_dir_entries(d->cwd, s2, sizeof s2), 0, "left in %s's cwd: %s",
                 d->exe, s2);
    ctx_close(&c);
}

/* redis-server --supervised systemd, its socket named by {socket} in argv:
 * NOTIFY (stopped, then cancelled) and EXEC mode. */
BOTH(redis_server_notify)
{
    const char *exe = find_exe("redis-server");
    char *cwd;

    if (!exe) {
        cr_skip_test("redis-server is not installed (make deps installs it)");
        return;
    }
    cwd = th_mkdtemp();
    {
        char *const argv[] = { "redis-server", "--supervised", "systemd", "--port", "0",
                               "--unixsocket", "{socket}", "--save", "",
                               "--appendonly", "no", "--dir", cwd, "--logfile", "",
                               NULL };
        struct daemon d = { .exe = exe, .argv = argv, .cwd = cwd,
                            .req = "PING\r\n", .want = "+PONG" };

        daemon_life(flags, &d, PIDRING_READY_NOTIFY, false);   /* SIGTERM: exits 0 */
        daemon_life(flags, &d, PIDRING_READY_NOTIFY, true);
        daemon_life(flags, &d, PIDRING_READY_EXEC, true);
    }
    th_rmtree(cwd);
    free(cwd);
}

/* HAProxy in master-worker mode (-Ws): the master says READY=1 once its
 * worker runs. Its listener is named by PIDRING_SOCKET from the environment
 * (no {socket} anywhere: PIDRING_SPAWN_SOCKET asks for it). */
BOTH(haproxy_notify)
{
    static const char cfg[] =
        "global\n"
        "    maxconn 64\n"
        "defaults\n"
        "    mode http\n"
        "    timeout connect 5s\n"
        "    timeout client 5s\n"
        "    timeout server 5s\n"
        "frontend f\n"
        "    bind \"unix@${PIDRING_SOCKET}\"\n"
        "    http-request return status 200 content-type text/plain string pong\n";
    const char *exe = find_exe("haproxy");
    char *cwd, *cfgdir, file[PATH_MAX];
    FILE *f;

    if (!exe) {
        cr_skip_test("haproxy is not installed (make deps installs it)");
        return;
    }
    cwd = th_mkdtemp();
    cfgdir = th_mkdtemp();
    snprintf(file, sizeof file, "%s/haproxy.cfg", cfgdir);
    f = fopen(file, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fputs(cfg, f) >= 0, 1);
    cr_assert_eq(fclose(f), 0);
    {
        char *const argv[] = { "haproxy", "-Ws", "-q", "-f", file, NULL };
        struct daemon d = { .exe = exe, .argv = argv, .sflags = PIDRING_SPAWN_SOCKET,
                            .cwd = cwd, .req = "GET / HTTP/1.0\r\n\r\n", .want = "pong",
                            .term_kills = true };

        /* SIGTERM reaches the whole group: the master exits 0 once its
         * worker has stopped; in some runs here it dies of the signal. */
        daemon_life(flags, &d, PIDRING_READY_NOTIFY, false);
        daemon_life(flags, &d, PIDRING_READY_NOTIFY, true);
    }
    th_rmtree(cfgdir);
    th_rmtree(cwd);
    free(cfgdir);
    free(cwd);
}
