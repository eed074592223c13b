/* SPDX-License-Identifier: MIT */
/*
 * The runtime base and the engine's instance directory.
 *
 * base/<pid>-<rand>/        0700, one per engine
 *     lock                  flock(LOCK_EX) held for the engine's life
 *     <slot>.<gen>.sock     bind sockets, named per spawn
 *     notify                the sd_notify datagram socket
 *
 * An instance directory is made under a dot-name, locked, then renamed into
 * place: a sweeping engine skips dot-names, so it can never mistake a
 * directory whose lock is not taken yet for a dead engine's.
 * Every removal goes through a directory fd, never through a path.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define PR_INST_NAME_MAX   24   /* "<pid>-<8 hex>" */
#define PR_SOCK_NAME_MAX   24   /* "<slot>.<gen>.sock" */

static char *pr_default_base(void)
{
	const char *e = getenv("PIDRING_RUNTIME_DIR");
	char *s = NULL;

	if (e && *e)
		return strdup(e);
	e = getenv("XDG_RUNTIME_DIR");
	if (e && *e) {
		if (asprintf(&s, "%s/pidring", e) < 0)
			return NULL;
		return s;
	}
	if (asprintf(&s, "/tmp/pidring-%u", (unsigned)geteuid()) < 0)
		return NULL;
	return s;
}

int pr_sock_name(const struct pr_proc *p, uint32_t idx, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%u.%u.sock", idx, p->gen);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : n;
}

/* Remove a dead engine's sockets and files, then its directory. */
static void pr_sweep_one(int base_fd, const char *name)
{
	int dfd, lfd;
	DIR *d;
	struct dirent *de;

	dfd = openat(base_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return;
	lfd = openat(dfd, "lock", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		/* alive, or not an instance directory of ours */
		if (lfd >= 0)
			close(lfd);
		close(dfd);
		return;
	}
	d = fdopendir(dfd);
	if (!d) {
		close(lfd);
		close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		unlinkat(dirfd(d), de->d_name, 0);   /* never recurses */
	}
	closedir(d);
	unlinkat(base_fd, name, AT_REMOVEDIR);
	close(lfd);
}

/* A directory stream for name under dirfd (never following a symlink). */
DIR *pr_opendirat(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d)
		close(fd);
	return d;
}

static void pr_sweep(struct pidring *pr)
{
	DIR *d = pr_opendirat(pr->base_fd, ".");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (pr->inst && !strcmp(de->d_name, strrchr(pr->inst, '/') + 1))
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		pr_sweep_one(pr->base_fd, de->d_name);
	}
	closedir(d);
}

static int pr_check_base(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	/* A base another user owns could have its sockets swapped under us. */
	if (st.st_uid != geteuid())
		return -EPERM;
	return 0;
}

/* pr->base, cleaned and absolute, its sun_path budget checked. */
static int pr_base_path(struct pidring *pr, const char *base)
{
	pr->base = base ? strdup(base) : pr_default_base();
	if (!pr->base)
		return -ENOMEM;
	if (!pr->base[0])
		return -EINVAL;
	/* open() follows a final symlink when the path ends in "/" or "/.",
	 * O_NOFOLLOW or not: strip those so the check below sees the link. */
	for (size_t n = strlen(pr->base); n > 1;) {
		if (pr->base[n - 1] == '/')
			pr->base[--n] = 0;
		else if (n > 2 && pr->base[n - 1] == '.' && pr->base[n - 2] == '/')
			pr->base[n -= 2] = 0;
		else
			break;
	}
	/* Children get socket paths from here, with a cwd of their own, and
	 * sd_notify ignores a relative NOTIFY_SOCKET: make it absolute. */
	if (pr->base[0] != '/') {
		char cwd[PATH_MAX], *abs;

		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		if (asprintf(&abs, "%s/%s", cwd, pr->base) < 0)
			return -ENOMEM;
		free(pr->base);
		pr->base = abs;
	}
	/* Every socket path must fit sun_path: base/inst/sock. */
	if (strlen(pr->base) + 1 + PR_INST_NAME_MAX + 1 + PR_SOCK_NAME_MAX + 1 >
	    sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

/* A fresh ".new-<name>" directory in the base; its <name> into name. */
static int pr_inst_mkdir(struct pidring *pr, char *name, size_t nlen, char *tmp,
			 size_t tlen)
{
	struct timespec ts;
	unsigned rnd;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	rnd = (unsigned)(ts.tv_nsec ^ (ts.tv_sec << 20)) ^ (unsigned)(uintptr_t)pr;
	for (int attempt = 0;; attempt++) {
		rnd = rnd * 1103515245u + 12345u + (unsigned)attempt;
		snprintf(name, nlen, "%d-%08x", (int)getpid(), rnd);
		snprintf(tmp, tlen, ".new-%s", name);
		if (mkdirat(pr->base_fd, tmp, 0700) == 0)
			return 0;
		if (errno != EEXIST || attempt > 16)
			return -errno;
	}
}

/* The instance directory: made under a temporary name, locked, then
 * renamed into place, so a sweeper never sees one without its lock. */
static int pr_inst_open(struct pidring *pr, const char *name, const char *tmp)
{
	int ret, fd;

	if (asprintf(&pr->inst, "%s/%s", pr->base, name) < 0) {
		pr->inst = NULL;
		unlinkat(pr->base_fd, tmp, AT_REMOVEDIR);
		return -ENOMEM;
	}
	pr->inst_fd = openat(pr->base_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			     O_CLOEXEC);
	if (pr->inst_fd < 0) {
		ret = -errno;
		unlinkat(pr->base_fd, tmp, AT_REMOVEDIR);
		free(pr->inst);
		pr->inst = NULL;
		return ret;
	}
	fd = openat(pr->inst_fd, "lock", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0 ||
	    renameat(pr->base_fd, tmp, pr->base_fd, name) < 0) {
		ret = -errno;
		if (fd >= 0) {
			close(fd);
			unlinkat(pr->inst_fd, "lock", 0);
		}
		unlinkat(pr->base_fd, tmp, AT_REMOVEDIR);
		close(pr->inst_fd);
		pr->inst_fd = -1;
		free(pr->inst);
		pr->inst = NULL;
		return ret;
	}
	pr->lock_fd = fd;
	return 0;
}

int pr_rundir_open(struct pidring *pr, const char *base)
{
	char tmp[64], name[PR_INST_NAME_MAX + 1];
	int ret = pr_base_path(pr, base);

	if (ret)
		return ret;
	if (mkdir(pr->base, 0700) < 0 && errno != EEXIST)
		return -errno;
	/* O_NOFOLLOW on the last component: a symlinked base is refused. */
	pr->base_fd = open(pr->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pr->base_fd < 0)
		return errno == ELOOP ? -ELOOP : -errno;
	ret = pr_check_base(pr->base_fd);
	if (!ret)
		ret = pr_inst_mkdir(pr, name, sizeof(name), tmp, sizeof(tmp));
	if (!ret)
		ret = pr_inst_open(pr, name, tmp);
	if (ret)
		return ret;
	snprintf(pr->inst_name, sizeof(pr->inst_name), "%s", name);
	pr_sweep(pr);
	return 0;
}

void pr_rundir_close(struct pidring *pr)
{
	if (pr->inst_fd >= 0) {
		DIR *d = fdopendir(pr->inst_fd);
		struct dirent *de;

		/* Whatever is left (a socket whose UNLINKAT failed, the notify
		 * socket, the lock) goes; the lock last, still held. */
		if (d) {
			while ((de = readdir(d))) {
				if (de->d_name[0] == '.' || !strcmp(de->d_name, "lock"))
					continue;
				unlinkat(dirfd(d), de->d_name, 0);
			}
			unlinkat(dirfd(d), "lock", 0);
			closedir(d);
		} else {
			unlinkat(pr->inst_fd, "lock", 0);
			close(pr->inst_fd);
		}
		pr->inst_fd = -1;
		if (pr->inst)
			unlinkat(pr->base_fd, strrchr(pr->inst, '/') + 1, AT_REMOVEDIR);
	}
	if (pr->lock_fd >= 0)
		close(pr->lock_fd);
	pr->lock_fd = -1;
	if (pr->base_fd >= 0)
		close(pr->base_fd);
	pr->base_fd = -1;
	free(pr->inst);
	free(pr->base);
	pr->inst = pr->base = NULL;
}
