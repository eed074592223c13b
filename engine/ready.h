/* SPDX-License-Identifier: MIT */
/*
 * Readiness: BIND (ready.c: inotify + CONNECT), NOTIFY (notify.c: sd_notify
 * datagrams), and the child's socket, argv and environment (env.c).
 */
#ifndef PR_READY_H
#define PR_READY_H

#include <sys/inotify.h>
#include <sys/socket.h>

#include "internal.h"

#define PR_NOTIFY_MAX      4096u     /* larger datagrams are dropped */
#define PR_STATUS_MAX      1024u
#define PR_NOTIFY_FDS      16        /* SCM_RIGHTS we make room for, to close */

/* The engine-wide state of readiness: the reads the ring fills. */
struct pr_ready_engine {
	/* inotify */
	bool     ino_armed;
	char     ibuf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	/* sd_notify */
	bool     ntf_armed;
	char    *notify_path;
	struct msghdr msg;
	struct iovec  iov;
	char     nbuf[PR_NOTIFY_MAX + 1];
	/* cmsghdr alignment: CMSG_FIRSTHDR reads a struct through it. */
	char     cbuf[CMSG_SPACE(sizeof(struct ucred)) +
		      CMSG_SPACE(sizeof(int) * PR_NOTIFY_FDS)]
		__attribute__((aligned(__alignof__(struct cmsghdr))));
};


struct pr_spawn_env {
	char **argv;     /* NULL: use the spec's */
	char **envp;     /* NULL: use the spec's */
	char **envs;     /* the spec's envp with {socket} replaced (envp shares it) */
};

struct pr_notify_msg {
	bool        ready, has_status, has_extend;
	const char *status;       /* points into the datagram */
	size_t      status_len;
	uint64_t    extend_us;
};
int  pr_notify_parse(const char *buf, size_t len, struct pr_notify_msg *m);

int  pr_ready_init(struct pidring *pr);
void pr_ready_fini(struct pidring *pr);

/* Before clone: names the socket, builds argv/envp for the child. */
int  pr_ready_prepare(struct pidring *pr, struct pr_proc *p, uint32_t idx,
		      const struct pidring_spawn *s, struct pr_spawn_env *env);
void pr_ready_env_free(struct pr_spawn_env *env);
/* After clone: arms the deadline and the first probe. */
int  pr_ready_arm(struct pidring *pr, struct pr_proc *p, uint32_t idx,
		  const struct pidring_spawn *s);

/* Unlink the proc's socket now (the proc is reaped: nothing binds it again). */
void pr_ready_unlink_now(struct pidring *pr, struct pr_proc *p);
void pr_ready_prep_unlink(struct pidring *pr, struct pr_proc *p, uint32_t idx,
			  struct io_uring_sqe *sqe);
void pr_ready_release(struct pidring *pr, struct pr_proc *p, uint32_t idx);
void pr_ready_cqe(struct pidring *pr, struct pr_proc *p, uint32_t idx,
		  enum pr_op op, int res);
void pr_ready_quiesce(struct pidring *pr);

/* ready.c, for env.c: the inotify watch, made before the first BIND child. */
int  pr_inotify_open(struct pidring *pr);

/* notify.c */
int  pr_notify_open(struct pidring *pr);
int  pr_arm_notify(struct pidring *pr);
void pr_on_notify(struct pidring *pr, int res);
void pr_ready_engine_cqe(struct pidring *pr, struct pr_proc *p, uint32_t idx,
			 enum pr_op op, int res);

#endif /* PR_READY_H */
