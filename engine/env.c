/* SPDX-License-Identifier: MIT */
/*
 * A proc's socket, argv and environment, made before the clone: the
 * per-spawn socket path (<slot>.<gen>.sock in the instance directory) for
 * every BIND proc and for any other that asks for one, "{socket}" replaced
 * in argv and envp, PIDRING_SOCKET and NOTIFY_SOCKET in the environment;
 * and the look-ups that hand those out (pidring_socket_path, pidring_status).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ready.h"

static const char pr_sock_env[] = "PIDRING_SOCKET=";
static const char pr_notify_env[] = "NOTIFY_SOCKET=";
static const char pr_tok[] = "{socket}";

/*
 * envp without the KEY= entries named in kv[], plus "KEY=value" for each at
 * the end. One allocation; the strings of envp are shared, not copied.
 */
struct pr_kv { const char *key, *value; };

static char **pr_env_with(char *const *envp, const struct pr_kv *kv, size_t nkv)
{
	extern char **environ;
	char *const *src = envp ? envp : environ;
	size_t n = pr_strv_count(src), bytes = 0, j = 0;
	char **out, *s;

	for (size_t k = 0; k < nkv; k++)
		bytes += strlen(kv[k].key) + strlen(kv[k].value) + 1;
	out = malloc((n + nkv + 1) * sizeof(char *) + bytes);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		bool drop = false;

		for (size_t k = 0; k < nkv; k++)
			drop |= strncmp(src[i], kv[k].key, strlen(kv[k].key)) == 0;
		if (!drop)
			out[j++] = src[i];
	}
	s = (char *)(out + n + nkv + 1);
	for (size_t k = 0; k < nkv; k++) {
		out[j++] = s;
		s = stpcpy(stpcpy(s, kv[k].key), kv[k].value) + 1;
	}
	out[j] = NULL;
	return out;
}

void pr_ready_env_free(struct pr_spawn_env *env)
{
	free(env->argv);
	free(env->envp);
	free(env->envs);
	env->argv = env->envp = env->envs = NULL;
}

/* A stale socket at our path is unlinked; anything else there is -EEXIST,
 * never deleted. */
static int pr_clear_path(struct pidring *pr, const char *name)
{
	struct stat st;

	if (fstatat(pr->inst_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if (unlinkat(pr->inst_fd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/*
 * The per-spawn socket: its path (what pidring_socket_path returns and the
 * chain's UNLINKAT removes), {socket} replaced in argv and envp, and
 * PIDRING_SOCKET in the environment. Every BIND proc has one; a proc of
 * another mode has one when it asks (PIDRING_SPAWN_SOCKET) or names
 * {socket}: a daemon that reports readiness by sd_notify still serves on a
 * socket its caller must reach.
 */
static int pr_sock_prepare(struct pidring *pr, struct pr_proc *p, uint32_t idx,
			   const struct pidring_spawn *s, struct pr_spawn_env *env)
{
	char name[32];
	int ret;

	ret = pr_sock_name(p, idx, name, sizeof(name));
	if (ret < 0)
		return ret;
	p->sun = calloc(1, sizeof(*p->sun));
	if (!p->sun)
		return -ENOMEM;
	p->sun->sun_family = AF_UNIX;
	if (snprintf(p->sun->sun_path, sizeof(p->sun->sun_path), "%s/%s",
		     pr->inst, name) >= (int)sizeof(p->sun->sun_path))
		return -ENAMETOOLONG;
	ret = pr_clear_path(pr, name);
	if (!ret)
		ret = pr_strv_subst(s->argv, pr_tok, p->sun->sun_path,
				    strlen(p->sun->sun_path), &env->argv);
	if (!ret)
		ret = pr_strv_subst(s->envp, pr_tok, p->sun->sun_path,
				    strlen(p->sun->sun_path), &env->envs);
	if (ret)
		return ret;
	p->flags |= PRF_SOCK;
	return 0;
}

int pr_ready_prepare(struct pidring *pr, struct pr_proc *p, uint32_t idx,
		     const struct pidring_spawn *s, struct pr_spawn_env *env)
{
	struct pr_kv kv[2];
	size_t nkv = 0;
	int ret;

	/* {socket} is replaced in argv and envp only; anywhere else it would
	 * reach the child as is, so it is refused. */
	if (strstr(s->path, pr_tok) || (s->cwd && strstr(s->cwd, pr_tok)))
		return -EINVAL;
	if (s->ready == PIDRING_READY_BIND || s->flags & PIDRING_SPAWN_SOCKET ||
	    pr_strv_has(s->argv, pr_tok) || pr_strv_has(s->envp, pr_tok)) {
		ret = pr_sock_prepare(pr, p, idx, s, env);
		if (ret)
			return ret;
		kv[nkv++] = (struct pr_kv){ pr_sock_env, p->sun->sun_path };
	}
	switch (s->ready) {
	case PIDRING_READY_EXEC:
		break;
	case PIDRING_READY_BIND:
		ret = pr_inotify_open(pr);
		if (ret)
			return ret;
		break;
	case PIDRING_READY_NOTIFY:
		ret = pr_notify_open(pr);
		if (!ret)
			ret = pr_pids_init(pr);
		if (ret)
			return ret;
		kv[nkv++] = (struct pr_kv){ pr_notify_env, pr->rd->notify_path };
		break;
	}
	if (!nkv)
		return 0;
	env->envp = pr_env_with(env->envs ? env->envs : s->envp, kv, nkv);
	return env->envp ? 0 : -ENOMEM;
}

/* Copy a string out to the caller: its length, or -ENAMETOOLONG. */
static int pr_copy_out(char *buf, size_t len, const char *src)
{
	size_t n = strlen(src);

	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(buf, src, n + 1);
	return (int)n;
}

int pidring_socket_path(struct pidring *pr, pidring_id id, char *buf, size_t len)
{
	struct pr_proc *p;
	int ret = pr_verb_lookup(pr, id, &p, NULL);

	if (ret)
		return ret;
	if (!buf)
		return -EINVAL;
	if (!p->sun)
		return -ENOENT;
	return pr_copy_out(buf, len, p->sun->sun_path);
}

int pidring_status(struct pidring *pr, pidring_id id, char *buf, size_t len)
{
	struct pr_proc *p;
	int ret = pr_verb_lookup(pr, id, &p, NULL);

	if (ret)
		return ret;
	if (!buf || !len)
		return -EINVAL;
	return pr_copy_out(buf, len, p->status_text ? p->status_text : "");
}
