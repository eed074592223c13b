/* SPDX-License-Identifier: MIT */
/* Readiness: BIND (inotify + CONNECT) and NOTIFY (sd_notify datagrams). */
#ifndef PR_READY_H
#define PR_READY_H

#include "internal.h"

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
void pr_ready_engine_cqe(struct pidring *pr, struct pr_proc *p, uint32_t idx,
			 enum pr_op op, int res);

#endif /* PR_READY_H */
