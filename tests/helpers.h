/* SPDX-License-Identifier: MIT */
/*
 * Test helpers: the rule checks every suite ends with (no child of ours left,
 * no extra fd, nothing left in the runtime dir) and small utilities around
 * pidring_wait. Criterion runs each test in a forked worker, so "ours" means
 * the worker's: getpid() at the time of the call.
 *
 * Functions that cannot reasonably fail in a test (th_baseline_take,
 * th_mkdtemp, th_child_path) fail the test themselves with cr_assert.
 */
#ifndef PIDRING_TESTS_HELPERS_H
#define PIDRING_TESTS_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pidring.h"

#define TH_MAX_FDS 1024

/* What a test must leave as it found it: the fds open when it started. */
struct th_baseline {
    int nfds;
    int fds[TH_MAX_FDS];
};

/* Record the open fds of this process (/proc/self/fd, minus the listing fd). */
void th_baseline_take(struct th_baseline *b);

/*
 * Pids of every process whose parent is getpid(), alive or zombie, from
 * /proc/[pid]/stat. Fills up to max of them into out (out may be NULL when max
 * is 0) and returns how many there are, which may exceed max; -errno when /proc
 * cannot be read.
 *
 * Only direct children: a grandchild orphaned by a missed group kill is
 * reparented to init (or a subreaper), not to us, and is not seen here.
 */
int th_children(pid_t *out, int max);

/* How many of those children are zombies (state Z). */
int th_zombie_children(void);

/* Open fds of this process, not counting the one used to list them. */
int th_fd_count(void);

/*
 * Fds open now that were not open at the baseline. Returns their number and
 * writes "fd -> readlink target" lines into buf (NUL-terminated, truncated to
 * len; buf may be NULL when len is 0), or -errno.
 */
int th_extra_fds(const struct th_baseline *b, char *buf, size_t len);

/*
 * Entries below dir, recursively, not counting . and .. nor dir itself
 * (a subdirectory counts as one entry plus its contents). 0 when dir does
 * not exist. Relative paths, one a line, go into buf as with th_extra_fds.
 * Returns the count or -errno. Symlinks are not followed.
 */
int th_dir_entries(const char *dir, char *buf, size_t len);

/*
 * The rules every test ends with, each checked once (no retry: after waitid
 * reaps a child, /proc/<pid> is gone before waitid returns, and an io_uring
 * CLOSE removes the fd from the table before its completion is posted, so a
 * retry could only hide a real leak):
 *   - no child of ours, alive or zombie (their pid, state and comm are printed);
 *   - the fd set equals the baseline (extra fds with their targets, and
 *     baseline fds that were closed, are printed);
 *   - runtime_dir is empty or gone (its contents are printed); NULL skips this.
 * Each rule is a cr_expect: a failure marks the test failed but returns, so
 * the test's own cleanup (th_rmtree, free) still runs. Leftover children are
 * sent SIGKILL (their process group too when they lead one) after being
 * reported, so a failing test does not leave them running.
 */
void th_leak_check(const struct th_baseline *b, const char *runtime_dir);

/*
 * A fresh, private (0700) directory /tmp/pidring-test.XXXXXX to use as a
 * runtime base. The caller frees it (after th_rmtree).
 */
char *th_mkdtemp(void);

/* rm -rf dir, without following symlinks. A missing dir is fine. */
void th_rmtree(const char *dir);

/*
 * Absolute path of the pidring-child test program: $PIDRING_CHILD when set,
 * else <dir of this test binary>/../pidring-child, else <dir>/pidring-child.
 * Fails the test when none is an executable file. The string is static.
 */
const char *th_child_path(void);

/*
 * For a test that runs its children (or itself) as another uid: copies
 * pidring-child into a fresh 0755 directory /tmp/pidring-child.XXXXXX, both
 * owned by `owner`, and makes th_child_path() return that copy until
 * th_unstage_child(). The build's own copy may sit under a directory that
 * uid cannot enter (a clone under a 0700 home, or mktemp -d). Call it while
 * still privileged; th_unstage_child() works as `owner` or as root.
 */
void th_stage_child(uid_t owner);
void th_unstage_child(void);

/* CLOCK_MONOTONIC in nanoseconds (the clock pidring_event times use). */
uint64_t th_now_ns(void);

/*
 * Wait for one event: calls pidring_wait(pr, ev, 1, ...) until it yields one
 * or timeout_ms has passed overall (< 0: no limit). -EINTR is retried.
 * Returns 1, 0 on timeout, or the -errno pidring_wait returned.
 */
int th_wait_event(struct pidring *pr, struct pidring_event *ev, int timeout_ms);

/*
 * Collect events into evs until pidring_live(pr) is 0 and no event is
 * pending, until max events are held, or until timeout_ms has passed overall
 * (< 0: no limit). Returns the number collected; a pidring_wait error other
 * than -EINTR ends the collection too (the count so far is returned).
 */
int th_drain(struct pidring *pr, struct pidring_event *evs, int max, int timeout_ms);

/*
 * Read fd until EOF into buf (NUL-terminated; len must be > 0), polling so a
 * test cannot hang: at most TH_READ_TIMEOUT_MS overall. Bytes past len - 1
 * are read and discarded so a writer never blocks on a full pipe. Returns
 * the bytes stored, -ETIMEDOUT when EOF did not come in time (buf holds what
 * arrived), or -errno.
 */
#define TH_READ_TIMEOUT_MS 5000
int th_read_all(int fd, char *buf, size_t len);

/*
 * cgroup v2: the first mount of fstype `want` in /proc/self/mountinfo (its
 * mount point and its root within the filesystem; 1 when found); the v2
 * cgroup of pid ("0::<path>" in /proc/<pid>/cgroup; 1 when found); and a
 * writable cgroup v2 directory to use as cgroup_dir — our own cgroup under
 * the cgroup2 mount, NULL (why says why) when there is none —, after which
 * th_cgroup_self() is our cgroup's path from the hierarchy's root.
 */
int th_find_mount(const char *want, char *mnt, size_t mlen, char *root, size_t rlen);
int th_proc_cgroup(pid_t pid, char *out, size_t len);
const char *th_cgroup_dir(char *why, size_t wlen);
const char *th_cgroup_self(void);

#endif /* PIDRING_TESTS_HELPERS_H */
