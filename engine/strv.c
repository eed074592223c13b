/* SPDX-License-Identifier: MIT */
/*
 * NULL-terminated string vectors (argv, envp): counted, searched for a
 * token, and copied with a token replaced ("{socket}" by env.c, "{key}" by
 * the pool), each copy one block: the pointer array, then the strings.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

size_t pr_strv_count(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

bool pr_strv_has(char *const *v, const char *tok)
{
	for (size_t i = 0; v && v[i]; i++)
		if (strstr(v[i], tok))
			return true;
	return false;
}

int pr_strv_subst(char *const *v, const char *tok, const char *val, size_t vlen,
		  char ***out)
{
	size_t n = pr_strv_count(v), len = 0, tl = strlen(tok);
	char **d, *s;

	*out = NULL;
	if (!pr_strv_has(v, tok))
		return 0;
	for (size_t i = 0; i < n; i++) {
		len += strlen(v[i]) + 1;
		for (const char *q = strstr(v[i], tok); q; q = strstr(q + tl, tok))
			len += vlen;
	}
	d = malloc((n + 1) * sizeof(char *) + len);
	if (!d)
		return -ENOMEM;
	s = (char *)(d + n + 1);
	for (size_t i = 0; i < n; i++) {
		const char *a = v[i], *q;

		d[i] = s;
		while ((q = strstr(a, tok))) {
			memcpy(s, a, (size_t)(q - a));
			s += q - a;
			memcpy(s, val, vlen);
			s += vlen;
			a = q + tl;
		}
		s = stpcpy(s, a) + 1;
	}
	d[n] = NULL;
	*out = d;
	return 0;
}
