/* SPDX-License-Identifier: MIT */
/*
 * NOTIFY readiness: systemd's Type=notify. One engine-owned datagram socket
 * with SO_PASSCRED, read on the ring; READY=1 counts only when the kernel
 * says the sender is the proc itself (its pid, found in the pid hash).
 * EXTEND_TIMEOUT_USEC= moves the deadline, STATUS= is kept. Descriptors
 * sent along are closed: nobody asked for them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ready.h"

int pr_notify_open(struct pidring *pr)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, one = 1, rcv = 1 << 20;

	if (pr->notify_fd >= 0)
		return 0;
	if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/notify", pr->inst) >=
	    (int)sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlinkat(pr->inst_fd, "notify", 0);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		int e = -errno;
		close(fd);
		unlinkat(pr->inst_fd, "notify", 0);
		return e;
	}
	/* Many children may say READY=1 at once; a larger buffer keeps the
	 * kernel from dropping (or blocking) them before we read. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	pr->rd->notify_path = strdup(sun.sun_path);
	if (!pr->rd->notify_path) {
		close(fd);
		unlinkat(pr->inst_fd, "notify", 0);
		return -ENOMEM;
	}
	pr->notify_fd = fd;
	return 0;
}

int pr_arm_notify(struct pidring *pr)
{
	struct pr_ready_engine *rd = pr->rd;
	struct io_uring_sqe *sqe;
	int ret;

	if (rd->ntf_armed || pr->destroying)
		return 0;
	ret = pr_reserve(pr, 1);
	if (ret)
		return ret;
	memset(&rd->msg, 0, sizeof(rd->msg));
	rd->iov.iov_base = rd->nbuf;
	rd->iov.iov_len = PR_NOTIFY_MAX;
	rd->msg.msg_iov = &rd->iov;
	rd->msg.msg_iovlen = 1;
	rd->msg.msg_control = rd->cbuf;
	rd->msg.msg_controllen = sizeof(rd->cbuf);
	sqe = pr_esqe(pr, PR_OP_NOTIFY);
	io_uring_prep_recvmsg(sqe, pr->notify_fd, &rd->msg, MSG_CMSG_CLOEXEC);
	rd->ntf_armed = true;
	return 0;
}

/*
 * Parse one sd_notify datagram: newline-separated KEY=VALUE assignments.
 * Pure (no engine state), so that the fuzzer can drive it. A datagram with
 * a NUL byte is malformed as a whole; unknown keys and malformed values are
 * ignored, as systemd does. The last STATUS= wins.
 */
int pr_notify_parse(const char *buf, size_t len, struct pr_notify_msg *m)
{
	const char *l = buf, *e = buf + len;

	memset(m, 0, sizeof(*m));
	if (!len || memchr(buf, 0, len))
		return -EINVAL;
	while (l < e) {
		const char *nl = memchr(l, '\n', (size_t)(e - l));
		size_t n = (size_t)((nl ? nl : e) - l);

		if (n == 7 && !memcmp(l, "READY=1", 7)) {
			m->ready = true;
		} else if (n >= 7 && !memcmp(l, "STATUS=", 7)) {
			m->status = l + 7;
			m->status_len = n - 7 > PR_STATUS_MAX ? PR_STATUS_MAX : n - 7;
			m->has_status = true;
		} else if (n > 20 && !memcmp(l, "EXTEND_TIMEOUT_USEC=", 20) && n - 20 < 21) {
			uint64_t us = 0;
			size_t i;

			for (i = 20; i < n && l[i] >= '0' && l[i] <= '9'; i++) {
				uint64_t d = (uint64_t)(l[i] - '0');

				if (us > (UINT64_MAX - d) / 10)
					break;  /* wraps: not a number we take */
				us = us * 10 + d;
			}
			/* A year at most: anything longer is a mistake. */
			if (i == n && us <= 1000000ull * 86400 * 365) {
				m->extend_us = us;
				m->has_extend = true;
			}
		}
		if (!nl)
			break;
		l = nl + 1;
	}
	return 0;
}

static void pr_notify_apply(struct pidring *pr, struct pr_proc *p, uint32_t idx,
			    const struct pr_notify_msg *m)
{
	if (m->has_status) {
		char *t = malloc(m->status_len + 1);

		if (t) {
			memcpy(t, m->status, m->status_len);
			t[m->status_len] = 0;
			free(p->status_text);
			p->status_text = t;
		}
	}
	if (p->state != PR_BINDING)
		return;
	if (m->has_extend) {
		uint64_t d = pr_now_ns() + m->extend_us * 1000u;

		if (d > p->deadline_ns)
			p->deadline_ns = d;
	}
	if (m->ready) {
		pr_report(pr, p, idx, PR_EV_READY, 0);
		pr_cancel_ops(pr, p, idx, PR_ARM(PR_OP_DEADLINE));
	}
}

void pr_on_notify(struct pidring *pr, int res)
{
	struct pr_ready_engine *rd = pr->rd;
	struct ucred *cred = NULL;
	struct cmsghdr *c;

	rd->ntf_armed = false;
	if (res >= 0) {
		for (c = CMSG_FIRSTHDR(&rd->msg); c; c = CMSG_NXTHDR(&rd->msg, c)) {
			if (c->cmsg_level != SOL_SOCKET)
				continue;
			if (c->cmsg_type == SCM_CREDENTIALS &&
			    c->cmsg_len >= CMSG_LEN(sizeof(struct ucred)))
				cred = (struct ucred *)CMSG_DATA(c);
			if (c->cmsg_type == SCM_RIGHTS) {
				/* Nobody asked for fds: close what was sent. */
				int nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
				int *fds = (int *)CMSG_DATA(c);

				for (int i = 0; i < nfd; i++)
					close(fds[i]);
			}
		}
		if (cred && !(rd->msg.msg_flags & MSG_TRUNC) && res > 0) {
			uint32_t idx;
			struct pr_proc *p = pr_pids_find(pr, cred->pid, &idx);
			struct pr_notify_msg m;

			if (p && p->mode == PIDRING_READY_NOTIFY &&
			    pr_notify_parse(rd->nbuf, (size_t)res, &m) == 0)
				pr_notify_apply(pr, p, idx, &m);
		}
	}
	if (res != -ECANCELED && (res >= 0 || res == -EAGAIN || res == -EINTR ||
				  res == -ENOBUFS || res == -ENOMEM))
		pr_arm_notify(pr);          /* for the next entry, as above */
}
