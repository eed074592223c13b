/* SPDX-License-Identifier: MIT */
/* Process trees: per-proc cgroups and the subreaper. */
#ifndef PR_TREE_H
#define PR_TREE_H

#include "internal.h"

int  pr_tree_init(struct pidring *pr, const char *cgroup_dir, unsigned flags);
void pr_tree_fini(struct pidring *pr);
int  pr_tree_prepare(struct pidring *pr, struct pr_proc *p, uint32_t idx, int *dir_fd);
void pr_tree_release(struct pidring *pr, struct pr_proc *p, uint32_t idx);
void pr_tree_tracked(struct pidring *pr, struct pr_proc *p, uint32_t idx);
int  pr_tree_kill_open(struct pidring *pr, struct pr_proc *p, uint32_t idx);
struct io_uring_sqe *pr_tree_put_kill(struct pidring *pr, struct pr_proc *p,
				      uint32_t idx, int fd);
unsigned pr_tree_tail_len(const struct pr_proc *p);
void pr_tree_put_rmdir(struct pidring *pr, struct pr_proc *p, uint32_t idx);
void pr_tree_cqe(struct pidring *pr, struct pr_proc *p, uint32_t idx, enum pr_op op,
		 int res);
void pr_tree_linger(struct pidring *pr, struct pr_proc *p, uint32_t idx);
int  pr_cg_name(const struct pr_proc *p, uint32_t idx, char *buf, size_t len);

void pr_orphans_arm(struct pidring *pr);
void pr_orphans_sweep(struct pidring *pr);
void pr_orphans_cqe(struct pidring *pr, struct pr_proc *p, uint32_t idx,
		    enum pr_op op, int res);
void pr_orphans_cancel(struct pidring *pr);

#endif /* PR_TREE_H */
