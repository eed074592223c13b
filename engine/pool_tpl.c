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

static const char pp_tok[] = "{key}";

static size_t pp_count(char *const *v)
{
	size_t n = 0;

	while (v[n])
		n++;
	return n;
}

/* One block: the pointer array, then the strings. */
static char **pp_strv_dup(char *const *v)
{
	size_t n = pp_count(v), len = 0;
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

bool pr_pool_tpl_has(char *const *v, const char *tok)
{
	for (size_t i = 0; v[i]; i++)
		if (strstr(v[i], tok))
			return true;
	return false;
}

/* v with every "{key}" replaced by the key (no NUL in it: checked by the
 * get); *out NULL when no string has one. */
int pr_pool_subst(char *const *v, const char *key, size_t klen, char ***out)
{
	size_t n = pp_count(v), len = 0, tl = sizeof(pp_tok) - 1;
	char **d, *s;

	*out = NULL;
	if (!pr_pool_tpl_has(v, pp_tok))
		return 0;
	for (size_t i = 0; i < n; i++) {
		len += strlen(v[i]) + 1;
		for (const char *q = strstr(v[i], pp_tok); q; q = strstr(q + tl, pp_tok))
			len += klen;
	}
	d = malloc((n + 1) * sizeof(char *) + len);
	if (!d)
		return -ENOMEM;
	s = (char *)(d + n + 1);
	for (size_t i = 0; i < n; i++) {
		const char *a = v[i], *q;

		d[i] = s;
		while ((q = strstr(a, pp_tok))) {
			memcpy(s, a, (size_t)(q - a));
			s += q - a;
			memcpy(s, key, klen);
			s += klen;
			a = q + tl;
		}
		strcpy(s, a);
		s += strlen(a) + 1;
	}
	d[n] = NULL;
	*out = d;
	return 0;
}
