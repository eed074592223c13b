/* SPDX-License-Identifier: MIT */
/* Readiness: placeholder until BIND and NOTIFY land. */
#include <errno.h>
#include <stdlib.h>

#include "ready.h"

int pr_ready_init(struct pidring *pr) { (void)pr; return 0; }
void pr_ready_fini(struct pidring *pr) { (void)pr; }

int pr_ready_prepare(struct pidring *pr, struct pr_proc *p, uint32_t idx,
		     const struct pidring_spawn *s, struct pr_spawn_env *env)
{
	(void)pr; (void)p; (void)idx; (void)env;
	return s->ready == PIDRING_READY_EXEC ? 0 : -ENOSYS;
}
void pr_ready_env_free(struct pr_spawn_env *env) { free(env->argv); free(env->envp); }
int pr_ready_arm(struct pidring *pr, struct pr_proc *p, uint32_t idx,
		 const struct pidring_spawn *s) { (void)pr; (void)p; (void)idx; (void)s; return 0; }
void pr_ready_abort(struct pidring *pr, struct pr_proc *p, uint32_t idx) { (void)pr; (void)p; (void)idx; }
void pr_ready_prep_unlink(struct pidring *pr, struct pr_proc *p, uint32_t idx,
			  struct io_uring_sqe *sqe) { (void)pr; (void)p; (void)idx; io_uring_prep_nop(sqe); }
void pr_ready_release(struct pidring *pr, struct pr_proc *p, uint32_t idx) { (void)pr; (void)p; (void)idx; }
void pr_ready_cqe(struct pidring *pr, struct pr_proc *p, uint32_t idx,
		  enum pr_op op, int res) { (void)pr; (void)p; (void)idx; (void)op; (void)res; }
void pr_ready_engine_cqe(struct pidring *pr, enum pr_op op, int res, unsigned flags)
{ (void)pr; (void)op; (void)res; (void)flags; }
