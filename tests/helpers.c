/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <criterion/criterion.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* Append to a diagnostics buffer, truncating; buf may be NULL when len is 0. */
__attribute__((format(printf, 4, 5)))
static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*pos + 1 >= len)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        *pos = (size_t)n < len - *pos ? *pos + (size_t)n : len - 1;
}

static int is_pid_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/*
 * Parse /proc/<pid>/stat. comm may hold spaces and parentheses, so the fields
 * after it start at the last ')'. Returns 0, or -errno (-ENOENT/-ESRCH when
 * the process went away meanwhile).
 */
static int read_stat(int procfd, const char *pid, pid_t *ppid, char *state,
                     char *comm, size_t commlen)
{
    char path[64], line[1024];
    char *open_paren, *close_paren;
    ssize_t n;
    int fd, pp;
    char st;

    snprintf(path, sizeof path, "%s/stat", pid);
    fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = read(fd, line, sizeof line - 1);
    if (n < 0) {
        n = -errno;
        close(fd);
        return (int)n;
    }
    close(fd);
    line[n] = '\0';

    open_paren = strchr(line, '(');
    close_paren = strrchr(line, ')');
    if (!open_paren || !close_paren || close_paren < open_paren)
        return -EINVAL;
    if (sscanf(close_paren + 1, " %c %d", &st, &pp) != 2)
        return -EINVAL;
    if (ppid)
        *ppid = pp;
    if (state)
        *state = st;
    if (comm && commlen) {
        size_t clen = (size_t)(close_paren - open_paren - 1);
        if (clen >= commlen)
            clen = commlen - 1;
        memcpy(comm, open_paren + 1, clen);
        comm[clen] = '\0';
    }
    return 0;
}

/*
 * Walk /proc for our children. For each one, store its pid (while there is
 * room) and, when zombies is not NULL, count those in state Z.
 */
static int scan_children(pid_t *out, int max, int *zombies)
{
    pid_t self = getpid();
    struct dirent *de;
    DIR *d;
    int n = 0;

    if (zombies)
        *zombies = 0;
    d = opendir("/proc");
    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        pid_t ppid;
        char state;

        if (!is_pid_name(de->d_name))
            continue;
        /* A process that exits while we scan is simply not counted. */
        if (read_stat(dirfd(d), de->d_name, &ppid, &state, NULL, 0) < 0)
            continue;
        if (ppid != self)
            continue;
        if (out && n < max)
            out[n] = (pid_t)atoi(de->d_name);
        if (zombies && state == 'Z')
            (*zombies)++;
        n++;
    }
    closedir(d);
    return n;
}

int th_children(pid_t *out, int max)
{
    return scan_children(out, max, NULL);
}

int th_zombie_children(void)
{
    int zombies, n = scan_children(NULL, 0, &zombies);

    return n < 0 ? n : zombies;
}

void th_baseline_take(struct th_baseline *b)
{
    struct dirent *de;
    DIR *d;

    b->nfds = 0;
    d = opendir("/proc/self/fd");
    cr_assert_not_null(d, "opendir /proc/self/fd: %s", strerror(errno));
    while ((de = readdir(d))) {
        int fd;

        if (!is_pid_name(de->d_name))
            continue;
        fd = atoi(de->d_name);
        if (fd == dirfd(d))
            continue;
        if (b->nfds == TH_MAX_FDS) {
            closedir(d);
            cr_assert_fail("more than %d fds open at baseline", TH_MAX_FDS);
        }
        b->fds[b->nfds++] = fd;
    }
    closedir(d);
}

static int in_baseline(const struct th_baseline *b, int fd)
{
    for (int i = 0; i < b->nfds; i++)
        if (b->fds[i] == fd)
            return 1;
    return 0;
}

/* List /proc/self/fd; with b, count (and describe) only fds not in it. */
static int scan_fds(const struct th_baseline *b, char *buf, size_t len)
{
    struct dirent *de;
    size_t pos = 0;
    int n = 0;
    DIR *d;

    if (len)
        buf[0] = '\0';
    d = opendir("/proc/self/fd");
    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        char target[PATH_MAX];
        ssize_t tl;
        int fd;

        if (!is_pid_name(de->d_name))
            continue;
        fd = atoi(de->d_name);
        if (fd == dirfd(d) || (b && in_baseline(b, fd)))
            continue;
        n++;
        if (!b)
            continue;
        tl = readlinkat(dirfd(d), de->d_name, target, sizeof target - 1);
        if (tl < 0)
            snprintf(target, sizeof target, "? (%s)", strerror(errno));
        else
            target[tl] = '\0';
        append(buf, len, &pos, "  fd %d -> %s\n", fd, target);
    }
    closedir(d);
    return n;
}

int th_fd_count(void)
{
    return scan_fds(NULL, NULL, 0);
}

int th_extra_fds(const struct th_baseline *b, char *buf, size_t len)
{
    return scan_fds(b, buf, len);
}

static char type_mark(unsigned char type)
{
    switch (type) {
    case DT_DIR:  return '/';
    case DT_SOCK: return '=';
    case DT_LNK:  return '@';
    case DT_FIFO: return '|';
    default:      return ' ';
    }
}

static unsigned char entry_type(int dfd, const struct dirent *de)
{
    struct stat st;

    if (de->d_type != DT_UNKNOWN)
        return de->d_type;
    if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return DT_UNKNOWN;
    return S_ISDIR(st.st_mode) ? DT_DIR : S_ISSOCK(st.st_mode) ? DT_SOCK
         : S_ISLNK(st.st_mode) ? DT_LNK : S_ISFIFO(st.st_mode) ? DT_FIFO : DT_REG;
}

/* Count entries below the directory open at dfd (which this closes). */
static int walk(int dfd, const char *prefix, char *buf, size_t len, size_t *pos)
{
    struct dirent *de;
    int n = 0;
    DIR *d;

    d = fdopendir(dfd);
    if (!d) {
        n = -errno;
        close(dfd);
        return n;
    }
    while ((de = readdir(d))) {
        char sub[PATH_MAX];
        unsigned char type;

        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        type = entry_type(dirfd(d), de);
        snprintf(sub, sizeof sub, "%s%s", prefix, de->d_name);
        append(buf, len, pos, "  %s%c\n", sub, type_mark(type));
        n++;
        if (type == DT_DIR) {
            int cfd = openat(dirfd(d), de->d_name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int k;

            if (cfd < 0) {
                append(buf, len, pos, "  %s/: %s\n", sub, strerror(errno));
                continue;
            }
            strncat(sub, "/", sizeof sub - strlen(sub) - 1);
            k = walk(cfd, sub, buf, len, pos);
            if (k > 0)
                n += k;
        }
    }
    closedir(d);
    return n;
}

int th_dir_entries(const char *dir, char *buf, size_t len)
{
    size_t pos = 0;
    int fd;

    if (len)
        buf[0] = '\0';
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    return walk(fd, "", buf, len, &pos);
}

void th_leak_check(const struct th_baseline *b, const char *runtime_dir)
{
    char msg[4096];
    size_t pos = 0;
    pid_t kids[64];
    int n, shown, missing = 0;

    /* Children of ours, alive or zombie. */
    msg[0] = '\0';
    n = th_children(kids, (int)(sizeof kids / sizeof kids[0]));
    cr_expect(n >= 0, "scanning /proc: %s", strerror(n < 0 ? -n : 0));
    shown = n < 64 ? n : 64;
    for (int i = 0; i < shown; i++) {
        char pid[16], comm[64] = "?", state = '?';
        int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        snprintf(pid, sizeof pid, "%d", (int)kids[i]);
        if (procfd >= 0) {
            read_stat(procfd, pid, NULL, &state, comm, sizeof comm);
            close(procfd);
        }
        append(msg, sizeof msg, &pos, "  pid %d state %c comm (%s)\n",
               (int)kids[i], state, comm);
    }
    cr_expect(n <= 0, "%d child process(es) of pid %d left:\n%s", n,
              (int)getpid(), msg);

    /* Fds: nothing extra, and nothing of the caller's closed. */
    n = th_extra_fds(b, msg, sizeof msg);
    cr_expect(n >= 0, "listing /proc/self/fd: %s", strerror(n < 0 ? -n : 0));
    cr_expect(n <= 0, "%d fd(s) open that were not at baseline:\n%s", n, msg);
    pos = 0;
    msg[0] = '\0';
    for (int i = 0; i < b->nfds; i++) {
        if (fcntl(b->fds[i], F_GETFD) < 0 && errno == EBADF) {
            append(msg, sizeof msg, &pos, " %d", b->fds[i]);
            missing++;
        }
    }
    cr_expect(missing == 0, "%d baseline fd(s) closed:%s", missing, msg);

    /* Runtime dir: empty or gone. */
    if (runtime_dir) {
        n = th_dir_entries(runtime_dir, msg, sizeof msg);
        cr_expect(n >= 0, "listing %s: %s", runtime_dir, strerror(n < 0 ? -n : 0));
        cr_expect(n <= 0, "%d entr%s left in %s:\n%s", n, n == 1 ? "y" : "ies",
                  runtime_dir, msg);
    }

    /*
     * Reported above; now make sure a failing test leaves nothing running. Not
     * reaped: the worker exits soon and init inherits the zombies.
     */
    for (int i = 0; i < shown; i++) {
        if (getpgid(kids[i]) == kids[i])
            kill(-kids[i], SIGKILL);
        kill(kids[i], SIGKILL);
    }
}

char *th_mkdtemp(void)
{
    char *dir = strdup("/tmp/pidring-test.XXXXXX");

    cr_assert_not_null(dir, "strdup: out of memory");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
    return dir;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
        cr_expect_fail("removing %s: %s", path, strerror(errno));
    return 0;
}

void th_rmtree(const char *dir)
{
    if (!dir)
        return;
    /* FTW_PHYS: a symlink is removed, never followed. */
    if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        cr_expect_fail("walking %s: %s", dir, strerror(errno));
}

static int is_executable(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static char staged_dir[64], staged_path[PATH_MAX];

void th_stage_child(uid_t owner)
{
    const char *src = th_child_path();
    char buf[65536];
    ssize_t n;
    int in, out;

    snprintf(staged_dir, sizeof staged_dir, "/tmp/pidring-child.XXXXXX");
    cr_assert_not_null(mkdtemp(staged_dir), "mkdtemp: %s", strerror(errno));
    snprintf(staged_path, sizeof staged_path, "%s/pidring-child", staged_dir);
    in = open(src, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(in, 0, "open %s: %s", src, strerror(errno));
    out = open(staged_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    cr_assert_geq(out, 0, "create %s: %s", staged_path, strerror(errno));
    while ((n = read(in, buf, sizeof buf)) > 0)
        cr_assert_eq(write(out, buf, (size_t)n), n, "copy to %s: %s", staged_path,
                     strerror(errno));
    cr_assert_eq(n, 0, "read %s: %s", src, strerror(errno));
    close(in);
    cr_assert_eq(close(out), 0, "close %s: %s", staged_path, strerror(errno));
    /* mkdtemp made the directory 0700; the other uid must enter it. */
    cr_assert_eq(chmod(staged_dir, 0755), 0, "chmod: %s", strerror(errno));
    cr_assert_eq(chown(staged_path, owner, (gid_t)-1), 0, "chown: %s", strerror(errno));
    cr_assert_eq(chown(staged_dir, owner, (gid_t)-1), 0, "chown: %s", strerror(errno));
}

void th_unstage_child(void)
{
    if (!staged_path[0])
        return;
    if (unlink(staged_path) < 0)
        cr_expect_fail("unlink %s: %s", staged_path, strerror(errno));
    if (rmdir(staged_dir) < 0)
        cr_expect_fail("rmdir %s: %s", staged_dir, strerror(errno));
    staged_path[0] = staged_dir[0] = '\0';
}

const char *th_child_path(void)
{
    static char path[PATH_MAX];
    static const char *const rel[] = { "/../pidring-child", "/pidring-child" };
    const char *env = getenv("PIDRING_CHILD");
    char exe[PATH_MAX], try[PATH_MAX + 32];
    char *slash;
    ssize_t n;

    if (staged_path[0])
        return staged_path;
    if (env && *env) {
        if (realpath(env, path) && is_executable(path))
            return path;
        cr_assert_fail("PIDRING_CHILD=%s is not an executable file", env);
        return NULL;
    }
    /* Criterion's workers are forks, not execs: this is the test binary. */
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    cr_assert(n > 0, "readlink /proc/self/exe: %s", strerror(errno));
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    cr_assert_not_null(slash, "/proc/self/exe is not absolute: %s", exe);
    *slash = '\0';
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        snprintf(try, sizeof try, "%s%s", exe, rel[i]);
        if (realpath(try, path) && is_executable(path))
            return path;
    }
    cr_assert_fail("pidring-child not found beside %s (set PIDRING_CHILD)", exe);
    return NULL;
}

uint64_t th_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Milliseconds left until deadline (rounded up); -1 when there is none. */
static int remaining_ms(int timeout_ms, uint64_t deadline)
{
    uint64_t now;

    if (timeout_ms < 0)
        return -1;
    now = th_now_ns();
    if (now >= deadline)
        return 0;
    return (int)((deadline - now + 999999) / 1000000);
}

static uint64_t deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? 0 : th_now_ns() + (uint64_t)timeout_ms * 1000000u;
}

int th_wait_event(struct pidring *pr, struct pidring_event *ev, int timeout_ms)
{
    uint64_t deadline = deadline_of(timeout_ms);

    for (;;) {
        int ms = remaining_ms(timeout_ms, deadline);
        int r = pidring_wait(pr, ev, 1, ms);

        if (r == -EINTR)
            continue;
        if (r != 0)
            return r;
        if (ms == 0 || remaining_ms(timeout_ms, deadline) == 0)
            return 0;
    }
}

int th_drain(struct pidring *pr, struct pidring_event *evs, int max, int timeout_ms)
{
    uint64_t deadline = deadline_of(timeout_ms);
    int n = 0;

    while (n < max) {
        /*
         * Once nothing is live, only events already queued remain: poll for
         * them without waiting and stop at the first empty answer.
         */
        int idle = pidring_live(pr) == 0;
        int ms = idle ? 0 : remaining_ms(timeout_ms, deadline);
        int r = pidring_wait(pr, evs + n, (unsigned)(max - n), ms);

        if (r == -EINTR)
            continue;
        if (r < 0)
            break;
        if (r > 0) {
            n += r;
            continue;
        }
        if (idle || ms == 0 || remaining_ms(timeout_ms, deadline) == 0)
            break;
    }
    return n;
}

int th_read_all(int fd, char *buf, size_t len)
{
    uint64_t deadline = deadline_of(TH_READ_TIMEOUT_MS);
    char scratch[4096];
    size_t pos = 0;

    if (!buf || len == 0)
        return -EINVAL;
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int ms = remaining_ms(TH_READ_TIMEOUT_MS, deadline);
        char *dst = pos < len - 1 ? buf + pos : scratch;
        size_t room = pos < len - 1 ? len - 1 - pos : sizeof scratch;
        ssize_t k;
        int r;

        buf[pos] = '\0';
        if (ms == 0)
            return -ETIMEDOUT;
        r = poll(&p, 1, ms);
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r <= 0)
            continue;
        k = read(fd, dst, room);
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -errno;
        }
        if (k == 0)
            return (int)pos;
        if (dst != scratch)
            pos += (size_t)k;
    }
}

/* ---- cgroup v2 ---- */

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void th_unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && isdigit((unsigned char)s[1]) &&
		    isdigit((unsigned char)s[2]) && isdigit((unsigned char)s[3])) {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/*
 * The first mount of fstype `want` in /proc/self/mountinfo: its mount point
 * and its root within the filesystem. Returns 1 when found.
 */
int th_find_mount(const char *want, char *mnt, size_t mlen, char *root, size_t rlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof line, f)) {
		char *field[16], *save = NULL, *tok, *fstype = NULL;
		int n = 0;

		for (tok = strtok_r(line, " \n", &save); tok && n < 16;
		     tok = strtok_r(NULL, " \n", &save))
			field[n++] = tok;
		/* id parent maj:min root mountpoint opts [optional...] - fstype src sopts */
		for (int i = 6; i + 1 < n; i++) {
			if (!strcmp(field[i], "-")) {
				fstype = field[i + 1];
				break;
			}
		}
		if (n < 5 || !fstype || strcmp(fstype, want))
			continue;
		th_unescape(field[3]);
		th_unescape(field[4]);
		snprintf(root, rlen, "%s", field[3]);
		snprintf(mnt, mlen, "%s", field[4]);
		found = 1;
	}
	fclose(f);
	return found;
}

/* Our cgroup v2 path ("0::<path>" in /proc/<pid>/cgroup); 1 when found. */
int th_proc_cgroup(pid_t pid, char *out, size_t len)
{
	char path[64], line[4096];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof line, f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(out, len, "%s", line + 3);
		found = 1;
	}
	fclose(f);
	return found;
}

/* Our own cgroup v2 path relative to the hierarchy root ("/" at the root),
 * as th_cgroup_dir last found it. */
static char th_cg_self[PATH_MAX];

const char *th_cgroup_self(void)
{
	return th_cg_self;
}

/*
 * A writable cgroup v2 directory to use as cgroup_dir: our own cgroup under
 * the cgroup2 mount. On failure returns NULL and says why in why.
 */
const char *th_cgroup_dir(char *why, size_t wlen)
{
	static char dir[PATH_MAX];
	char mnt[PATH_MAX], root[PATH_MAX], probe[PATH_MAX + 64];
	const char *rel;
	struct statfs sf;

	if (!th_find_mount("cgroup2", mnt, sizeof mnt, root, sizeof root)) {
		snprintf(why, wlen, "no cgroup2 mount in /proc/self/mountinfo");
		return NULL;
	}
	if (!th_proc_cgroup(getpid(), th_cg_self, sizeof th_cg_self)) {
		snprintf(why, wlen, "no \"0::\" line in /proc/self/cgroup");
		return NULL;
	}
	/* The mount shows the hierarchy from `root` down. */
	rel = th_cg_self;
	if (strcmp(root, "/")) {
		size_t rl = strlen(root);

		if (strncmp(th_cg_self, root, rl) || (th_cg_self[rl] && th_cg_self[rl] != '/')) {
			snprintf(why, wlen, "our cgroup %s is outside the cgroup2 mount's root %s",
				 th_cg_self, root);
			return NULL;
		}
		rel = th_cg_self + rl;
	}
	if ((size_t)snprintf(dir, sizeof dir, "%s%s", mnt, strcmp(rel, "/") ? rel : "") >=
	    sizeof dir) {
		snprintf(why, wlen, "the cgroup path is too long");
		return NULL;
	}
	if (statfs(dir, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC) {
		snprintf(why, wlen, "%s is not a cgroup2 directory", dir);
		return NULL;
	}
	snprintf(probe, sizeof probe, "%s/pidring-probe-%d", dir, (int)getpid());
	if (mkdir(probe, 0755) < 0) {
		snprintf(why, wlen, "%s is not writable: mkdir: %s", dir, strerror(errno));
		return NULL;
	}
	rmdir(probe);
	return dir;
}
