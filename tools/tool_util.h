/* SPDX-License-Identifier: MIT */
/*
 * Small pieces the tools share (header-only: each tool is one .c file).
 */
#ifndef PIDRING_TOOL_UTIL_H
#define PIDRING_TOOL_UTIL_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "pidring.h"

/* A DONE's reason as its enum name, for reports. */
static inline const char *reason_name(int r)
{
	switch (r) {
	case PIDRING_EXITED:        return "EXITED";
	case PIDRING_EXITED_EARLY:  return "EXITED_EARLY";
	case PIDRING_CANCELLED:     return "CANCELLED";
	case PIDRING_STOPPED:       return "STOPPED";
	case PIDRING_READY_TIMEOUT: return "READY_TIMEOUT";
	default:                    return "?";
	}
}

/* What /proc/<pid>/stat says of a process. */
struct pstat { pid_t pid, ppid, pgrp, sid; char state; char comm[32]; };

/* Read /proc/<pid>/stat (pid as its directory name); false if it is gone. */
static inline bool read_stat(const char *pid, struct pstat *ps)
{
	char path[300], buf[512];
	char *rp, *lp;
	size_t cl;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	lp = strchr(buf, '(');
	rp = strrchr(buf, ')');
	if (!lp || !rp || rp < lp)
		return false;
	cl = (size_t)(rp - lp - 1);
	if (cl >= sizeof(ps->comm))
		cl = sizeof(ps->comm) - 1;
	memcpy(ps->comm, lp + 1, cl);
	ps->comm[cl] = '\0';
	ps->pid = atoi(buf);
	return sscanf(rp + 1, " %c %d %d %d", &ps->state, &ps->ppid, &ps->pgrp, &ps->sid) == 4;
}

#endif
