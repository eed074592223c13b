/* SPDX-License-Identifier: MIT */
/*
 * Common practice: posix_spawn + waitpid, and the Node and Python peer
 * scripts in tools/bench/ (node_spawn.js, py_spawn.py, py_ready_poll.py) run in their own process group, their
 * one JSON line parsed.
 */
#include "bench.h"

/* ---- posix_spawn + waitpid ---- */

int psx_cycles(unsigned n, unsigned c, struct samples *lat, double *rate)
{
	pid_t pids[MAX_C];
	uint64_t t0[MAX_C], start;
	unsigned nf = 0, spawned = 0, done = 0;
	int r = 0, st;

	start = now_ns();
	for (; nf < c && spawned < n; nf++, spawned++) {
		t0[nf] = now_ns();
		r = posix_spawn(&pids[nf], g.child, NULL, NULL, argv_plain, environ);
		if (r) {
			r = -r;
			goto out;
		}
	}
	while (done < n) {
		pid_t pid = waitpid(-1, &st, 0);
		unsigned i;
		uint64_t t = now_ns();

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		for (i = 0; i < nf && pids[i] != pid; i++)
			;
		if (i == nf)
			continue;        /* not one of ours: nothing else runs now */
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			pids[i] = pids[--nf];
			r = -ECHILD;
			goto out;
		}
		push(lat, (double)(t - t0[i]) / 1e3);
		done++;
		if (spawned < n) {
			t0[i] = now_ns();
			r = posix_spawn(&pids[i], g.child, NULL, NULL, argv_plain, environ);
			if (r) {
				pids[i] = pids[--nf];
				r = -r;
				goto out;
			}
			spawned++;
		} else {
			pids[i] = pids[--nf];
			t0[i] = t0[nf];
		}
	}
	*rate = done / ((double)(now_ns() - start) / 1e9);
	return 0;
out:
	for (unsigned i = 0; i < nf; i++)
		waitpid(pids[i], NULL, 0);
	return r;
}

static void json_str(const char *buf, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p;
	size_t i = 0;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(buf, pat);
	if (!p || !len)
		return;
	p += strlen(pat);
	while (*p && *p != '"' && i + 1 < len)
		out[i++] = *p++;
	out[i] = '\0';
}

static double json_num(const char *buf, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(buf, pat);
	return p ? strtod(p + strlen(pat), NULL) : NAN;
}

static void json_arr(const char *buf, const char *key, struct samples *s)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":[", key);
	p = strstr(buf, pat);
	if (!p)
		return;
	p += strlen(pat);
	while (*p && *p != ']') {
		char *end;
		double x = strtod(p, &end);

		if (end == p)
			break;
		push(s, x);
		p = end;
		while (*p == ',' || *p == ' ')
			p++;
	}
}

/*
 * Run interp script args... in its own process group with a deadline; parse
 * the one JSON line it prints. Returns 0 or -errno; err says why.
 */
int run_peer(const char *interp, const char *script, const char *const *args,
		    struct peer_out *po, char *err, size_t errlen)
{
	char path[PATH_MAX], *argv[24];
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, n = 0, r, st;
	char *obuf = NULL, ebuf[512] = "";
	size_t olen = 0, ocap = 0, elen = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none;
	uint64_t deadline;
	pid_t pid;

	if (FMT(path, "%s/%s", g.scripts, script)) {
		snprintf(err, errlen, "script path too long");
		return -ENAMETOOLONG;
	}
	argv[n++] = (char *)interp;
	argv[n++] = path;
	while (*args && n < 23)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;

	if (pipe2(out, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
		r = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(-r));
		if (out[0] >= 0) {
			close(out[0]);
			close(out[1]);
		}
		return r;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
	r = posix_spawn(&pid, interp, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(out[1]);
	close(errp[1]);
	if (r) {
		close(out[0]);
		close(errp[0]);
		snprintf(err, errlen, "spawn %s: %s", interp, strerror(r));
		return -r;
	}

	deadline = now_ns() + (uint64_t)cfg.peer_timeout_s * 1000000000u;
	r = 0;
	for (int open_fds = 2; open_fds > 0;) {
		struct pollfd pf[2] = { { out[0], POLLIN, 0 }, { errp[0], POLLIN, 0 } };
		uint64_t now = now_ns();
		int k;

		if (now >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		k = poll(pf, 2, (int)((deadline - now) / 1000000u) + 1);
		if (k < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (pf[0].fd >= 0 && pf[0].revents) {
			if (olen + 4096 + 1 > ocap) {
				char *nb = realloc(obuf, ocap ? ocap * 2 : 65536);

				if (!nb) {
					r = -ENOMEM;
					break;
				}
				obuf = nb;
				ocap = ocap ? ocap * 2 : 65536;
			}
			ssize_t got = read(out[0], obuf + olen, 4096);

			if (got > 0) {
				olen += (size_t)got;
			} else if (got == 0 || errno != EINTR) {
				close(out[0]);
				out[0] = -1;
				open_fds--;
			}
		}
		if (errp[0] >= 0 && pf[1].revents) {
			char tmp[512];
			ssize_t got = read(errp[0], tmp, sizeof(tmp));

			if (got > 0) {
				size_t take = (size_t)got;

				if (take > sizeof(ebuf) - 1 - elen)
					take = sizeof(ebuf) - 1 - elen;
				memcpy(ebuf + elen, tmp, take);
				elen += take;
				ebuf[elen] = '\0';
			} else if (got == 0 || errno != EINTR) {
				close(errp[0]);
				errp[0] = -1;
				open_fds--;
			}
		}
		if (out[0] < 0 && errp[0] < 0)
			break;
	}
	if (r)
		kill(-pid, SIGKILL);
	/*
	 * Whatever the peer left in its group goes too. The group is killed
	 * while the peer is a zombie not yet reaped: its id cannot have been
	 * handed to anyone else then.
	 */
	{
		siginfo_t si;

		while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
			;
	}
	kill(-pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (out[0] >= 0)
		close(out[0]);
	if (errp[0] >= 0)
		close(errp[0]);

	for (char *p = ebuf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (!r && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
		r = -ECHILD;
	if (!r) {
		if (!obuf) {
			r = -EPROTO;
		} else {
			obuf[olen] = '\0';
			po->rate = json_num(obuf, "rate");
			json_arr(obuf, "lat_us", &po->lat);
			json_arr(obuf, "cycle_us", &po->lat2);
			json_str(obuf, "version", po->ver, sizeof(po->ver));
			json_str(obuf, "uv", po->uv, sizeof(po->uv));
			if (isnan(po->rate))
				r = -EPROTO;
		}
	}
	if (r)
		snprintf(err, errlen, "%s %s: %s%s%.200s", interp, script,
			 r == -ETIMEDOUT ? "timed out" : r == -ECHILD ? "exited badly" :
			 strerror(-r), elen ? ": " : "", ebuf);
	free(obuf);
	return r;
}

void peer_skip_note(struct cont *c, const char *interp, const char *script)
{
	char p[PATH_MAX];

	if (!cfg.peers) {
		snprintf(c->why, sizeof(c->why), "skipped: --no-peers");
	} else if (!interp[0]) {
		snprintf(c->why, sizeof(c->why), "skipped: interpreter not found");
	} else {
		if (FMT(p, "%s/%s", g.scripts, script) || access(p, R_OK)) {
			snprintf(c->why, sizeof(c->why), "skipped: %.150s not found", p);
		} else {
			return;
		}
	}
	c->skip = true;
}

/* ---- setup ---- */

static bool find_in_path(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t l = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)l, path, name);
		if (l && !access(buf, X_OK)) {
			snprintf(out, len, "%s", buf);
			return true;
		}
		path += l;
		if (*path == ':')
			path++;
	}
	return false;
}

void find_interp(const char *env, const char *const *names, char *out, size_t len)
{
	const char *e = getenv(env);

	out[0] = '\0';
	if (e) {
		snprintf(out, len, "%s", e);   /* empty: skip */
		return;
	}
	for (; *names; names++)
		if (find_in_path(*names, out, len))
			return;
}

/*
 * python3 on PATH may be a shim (pyenv) that costs a shell and a second
 * interpreter start each time. Ask it once for the real executable.
 */
void resolve_python(void)
{
	char out[PATH_MAX] = "";
	int p[2], st;
	pid_t pid;
	ssize_t n;
	char *argv[] = { g.python, "-c", "import sys; print(sys.executable)", NULL };
	posix_spawn_file_actions_t fa;

	if (pipe2(p, O_CLOEXEC))
		return;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	if (posix_spawn(&pid, g.python, &fa, NULL, argv, environ)) {
		posix_spawn_file_actions_destroy(&fa);
		close(p[0]);
		close(p[1]);
		return;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	/* Read to the end: a reader gone before the last write breaks the pipe. */
	n = 0;
	for (ssize_t got = 1; got > 0 || (got < 0 && errno == EINTR);) {
		got = read(p[0], out + n, sizeof(out) - 1 - (size_t)n);
		if (got > 0)
			n += got;
		if ((size_t)n == sizeof(out) - 1)
			break;
	}
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (n <= 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		return;
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
	if (out[0] == '/' && !access(out, X_OK))
		snprintf(g.python, sizeof(g.python), "%s", out);
}
