/* SPDX-License-Identifier: MIT */
/*
 * The pool's spawn template: a deep copy of the caller's struct
 * pidring_spawn (the pool outlives the caller's strings), and "{key}"
 * replaced by the key in argv and envp for each keyed spawn. "{socket}" is
 * left alone: the engine replaces it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

/* One block: the pointer array, then the strings. */
static char **pp_strv_dup(char *const *v)
{
	size_t n = pr_strv_count(v), len = 0;
	char **d, *s;

	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	d = malloc((n + 1) * sizeof(char *) + len);
	if (!d)
		return NULL;
	s = (char *)(d + n + 1);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(v[i]) + 1;

		memcpy(s, v[i], l);
		d[i] = s;
		s += l;
	}
	d[n] = NULL;
	return d;
}

static void *pp_memdup(const void *p, size_t n)
{
	void *d;

	if (!p || !n)
		return NULL;
	d = malloc(n);
	if (d)
		memcpy(d, p, n);
	return d;
}

int pr_pool_tpl_copy(struct pidring_spawn *d, const struct pidring_spawn *s)
{
	*d = *s;
	d->user = NULL;
	d->path = strdup(s->path);
	d->argv = pp_strv_dup(s->argv);
	d->envp = s->envp ? pp_strv_dup(s->envp) : NULL;
	d->cwd = s->cwd ? strdup(s->cwd) : NULL;
	d->fds = pp_memdup(s->fds, s->nfds * sizeof(*s->fds));
	d->groups = pp_memdup(s->groups, s->ngroups * sizeof(*s->groups));
	d->rlimits = pp_memdup(s->rlimits, s->nrlimits * sizeof(*s->rlimits));
	if (!d->path || !d->argv || (s->envp && !d->envp) || (s->cwd && !d->cwd) ||
	    (s->fds && s->nfds && !d->fds) || (s->groups && s->ngroups && !d->groups) ||
	    (s->rlimits && s->nrlimits && !d->rlimits)) {
		pr_pool_tpl_free(d);
		return -ENOMEM;
	}
	return 0;
}

void pr_pool_tpl_free(struct pidring_spawn *d)
{
	free((void *)d->path);
	free((void *)d->argv);
	free((void *)d->envp);
	free((void *)d->cwd);
	free((void *)d->fds);
	free((void *)d->groups);
	free((void *)d->rlimits);
	memset(d, 0, sizeof(*d));
}
