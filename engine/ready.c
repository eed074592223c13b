/* SPDX-License-Identifier: MIT */
/*
 * Readiness on the ring, side by side with the exit watch and the deadline.
 *
 * BIND: the child binds an AF_UNIX stream socket at a path we name per spawn
 * (<slot>.<gen>.sock in the instance directory). One inotify descriptor on
 * that directory is read on the ring; IN_CREATE names the slot directly, so
 * dispatch is O(1). bind() fires IN_CREATE before listen(): a CONNECT in that
 * gap gets ECONNREFUSED, and is retried after a few sched_yield()s, then
 * after short ring TIMEOUTs with backoff. No sleeps, no polling loops.
 *
 * NOTIFY: systemd's Type=notify. One engine-owned datagram socket with
 * SO_PASSCRED, read on the ring; READY=1 counts only when the kernel says the
 * sender is the proc itself.
 *
 * Engine-wide operations are armed lazily, on the first spawn that needs
 * them, and cancelled (and waited for) before the engine frees their buffers.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ready.h"
#include "tree.h"

#define PR_PROBE_YIELDS    8u        /* inline retries of a refused probe */
#define PR_RETRY_FIRST_US  10u
#define PR_RETRY_MAX_US    4000u
#define PR_NOTIFY_MAX      4096u     /* larger datagrams are dropped */
#define PR_STATUS_MAX      1024u
#define PR_NOTIFY_FDS      16        /* SCM_RIGHTS we make room for, to close */

static const char pr_sock_env[] = "PIDRING_SOCKET=";
static const char pr_notify_env[] = "NOTIFY_SOCKET=";

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


int pr_ready_init(struct pidring *pr)
{
	pr->rd = calloc(1, sizeof(*pr->rd));
	return pr->rd ? 0 : -ENOMEM;
}

static int pr_arm_inotify(struct pidring *pr)
{
	struct io_uring_sqe *sqe;
	int ret;

	if (pr->rd->ino_armed || pr->destroying)
		return 0;
	ret = pr_reserve(pr, 1);
	if (ret)
		return ret;
	sqe = pr_esqe(pr, PR_OP_INOTIFY);
	io_uring_prep_read(sqe, pr->inotify_fd, pr->rd->ibuf, sizeof(pr->rd->ibuf), 0);
	pr->rd->ino_armed = true;
	return 0;
}

static int pr_arm_notify(struct pidring *pr)
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

/* The inotify watch exists before the first BIND child does: no bind can
 * happen unseen. */
static int pr_inotify_open(struct pidring *pr)
{
	int fd;

	if (pr->inotify_fd >= 0)
		return 0;
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (inotify_add_watch(fd, pr->inst, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	pr->inotify_fd = fd;
	return 0;
}

static int pr_notify_open(struct pidring *pr)
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

/* ---- the child's argv and environment ---- */

static size_t pr_count(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

static const char pr_tok[] = "{socket}";

static bool pr_has_tok(char *const *v)
{
	for (size_t i = 0; v && v[i]; i++)
		if (strstr(v[i], pr_tok))
			return true;
	return false;
}

/*
 * envp without the KEY= entries named in kv[], plus "KEY=value" for each at
 * the end. One allocation; the strings of envp are shared, not copied.
 */
struct pr_kv { const char *key, *value; };

static char **pr_env_with(char *const *envp, const struct pr_kv *kv, size_t nkv)
{
	extern char **environ;
	char *const *src = envp ? envp : environ;
	size_t n = pr_count(src), bytes = 0, j = 0;
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

/* v with every "{socket}" replaced by path; NULL *out when none has it. */
static int pr_subst(char *const *v0, const char *path, char ***out)
{
	size_t n = pr_count(v0), extra = 0, plen = strlen(path), tl = sizeof(pr_tok) - 1;
	char **v, *s;

	*out = NULL;
	if (!pr_has_tok(v0))
		return 0;
	for (size_t i = 0; i < n; i++)
		extra += strlen(v0[i]) + 1;
	for (size_t i = 0; i < n; i++)
		for (const char *q = strstr(v0[i], pr_tok); q; q = strstr(q + tl, pr_tok))
			extra += plen;
	v = malloc((n + 1) * sizeof(char *) + extra);
	if (!v)
		return -ENOMEM;
	s = (char *)(v + n + 1);
	for (size_t i = 0; i < n; i++) {
		const char *a = v0[i], *q;

		v[i] = s;
		while ((q = strstr(a, pr_tok))) {
			memcpy(s, a, (size_t)(q - a));
			s += q - a;
			memcpy(s, path, plen);
			s += plen;
			a = q + tl;
		}
		s = stpcpy(s, a) + 1;
	}
	v[n] = NULL;
	*out = v;
	return 0;
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
		ret = pr_subst(s->argv, p->sun->sun_path, &env->argv);
	if (!ret)
		ret = pr_subst(s->envp, p->sun->sun_path, &env->envs);
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
	    pr_has_tok(s->argv) || pr_has_tok(s->envp)) {
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

static void pr_arm_deadline(struct pidring *pr, struct pr_proc *p, uint32_t idx,
			    uint64_t ns)
{
	struct io_uring_sqe *sqe = pr_psqe(pr, p, idx, PR_OP_DEADLINE);

	p->ts.tv_sec = (long long)(ns / 1000000000u);
	p->ts.tv_nsec = (long long)(ns % 1000000000u);
	io_uring_prep_timeout(sqe, &p->ts, 0, 0);
	p->armed |= PR_ARM(PR_OP_DEADLINE);
}

static void pr_retry(struct pidring *pr, struct pr_proc *p, uint32_t idx);

/* The socket's name in the instance directory (what unlinks go by). */
static const char *pr_sock_base(const struct pr_proc *p)
{
	return strrchr(p->sun->sun_path, '/') + 1;
}

static void pr_drop_probe(struct pr_proc *p)
{
	if (p->flags & PRF_PROBE)
		close(p->probe_fd);
	p->probe_fd = -1;
	p->flags &= ~(PRF_PROBE | PRF_PROBE_NB);
}

/* Connected: the probe did its job (its connection is closed on the ring). */
static void pr_bound_ready(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct io_uring_sqe *sqe;

	if (pr_reserve(pr, 1) == 0) {
		sqe = pr_psqe(pr, p, idx, PR_OP_PCLOSE);
		io_uring_prep_close(sqe, p->probe_fd);
		p->probe_fd = -1;
		p->flags &= ~(PRF_PROBE | PRF_PROBE_NB);
	}
	pr_report(pr, p, idx, PR_EV_READY, 0);
	pr_cancel_ops(pr, p, idx, PR_ARM(PR_OP_DEADLINE));
}

/*
 * What a failed connect means. ENOENT before IN_CREATE: not bound yet, and
 * inotify will say when. ECONNREFUSED: bound, not yet listening; most
 * runners listen() microseconds after the bind() that fired IN_CREATE, so
 * the caller has asked a few more times already, and after that short ring
 * TIMEOUTs with backoff take over.
 */
static void pr_refused(struct pidring *pr, struct pr_proc *p, uint32_t idx, int err)
{
	if (err == ENOENT && !(p->flags & PRF_BOUND))
		return;
	if (err != ECONNREFUSED && err != ENOENT && err != EAGAIN)
		pr_drop_probe(p);      /* not reusable: start afresh */
	pr_retry(pr, p, idx);
}

/*
 * Probe the socket. A non-blocking connect() to an AF_UNIX stream socket
 * never sleeps: it succeeds, is refused, or finds the backlog full, at once.
 * Done inline it saves two ring round trips on the spawn-to-ready path (the
 * bench measured them); only a full backlog, where the answer must be waited
 * for, goes to IORING_OP_CONNECT.
 */
static void pr_probe(struct pidring *pr, struct pr_proc *p, uint32_t idx, bool inline_ok)
{
	struct io_uring_sqe *sqe;
	unsigned tries = 0;
	int r;

	if (p->armed & (PR_ARM(PR_OP_CONNECT) | PR_ARM(PR_OP_RETRY)))
		return;        /* one probe at a time; its result decides */
	if (p->probe_fd < 0) {
		p->probe_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
				     (inline_ok ? SOCK_NONBLOCK : 0), 0);
		if (p->probe_fd < 0) {
			p->probe_fd = -1;
			pr_retry(pr, p, idx);  /* out of fds: try again shortly */
			return;
		}
		p->flags |= PRF_PROBE | (inline_ok ? PRF_PROBE_NB : 0);
	}
	/* From pidring_spawn itself the answer comes on the ring, like every
	 * event: a READY is never decided inside the spawn call. */
	if (!inline_ok)
		goto ring;
	if (!(p->flags & PRF_PROBE_NB)) {
		/* Made for the ring: an inline connect must not block. */
		if (fcntl(p->probe_fd, F_SETFL, O_NONBLOCK) < 0) {
			pr_drop_probe(p);
			pr_retry(pr, p, idx);
			return;
		}
		p->flags |= PRF_PROBE_NB;
	}
	/*
	 * Refused right after IN_CREATE: bound, not yet listening. The runner
	 * is a few instructions from listen(), and may be waiting for this
	 * CPU: yield it and ask again, a few times (the first probe of a proc
	 * only). A ring TIMEOUT, even of 10 us, costs tens of microseconds of
	 * timer and wake-up here.
	 */
	for (;;) {
		r = connect(p->probe_fd, (struct sockaddr *)p->sun, sizeof(*p->sun));
		if (r == 0 || (errno != EINTR && errno != ECONNREFUSED))
			break;
		if (errno == ECONNREFUSED) {
			if (tries == PR_PROBE_YIELDS || (p->flags & PRF_REPROBED))
				break;
			tries++;
			sched_yield();
		}
	}
	if (r == 0 || errno == EISCONN) {
		pr_bound_ready(pr, p, idx);
		return;
	}
	if (tries)
		p->flags |= PRF_REPROBED;
	if (errno != EAGAIN && errno != EINPROGRESS) {
		pr_refused(pr, p, idx, errno);
		return;
	}
	/* Backlog full: wait for room on the ring, on a blocking socket (the
	 * ring polls it; a non-blocking one would just say EAGAIN again). */
	if (fcntl(p->probe_fd, F_SETFL, 0) < 0) {
		pr_drop_probe(p);
		pr_retry(pr, p, idx);
		return;
	}
	p->flags &= ~PRF_PROBE_NB;
ring:
	if (pr_reserve(pr, 1)) {
		pr_retry(pr, p, idx);
		return;
	}
	sqe = pr_psqe(pr, p, idx, PR_OP_CONNECT);
	io_uring_prep_connect(sqe, p->probe_fd, (struct sockaddr *)p->sun,
			      sizeof(*p->sun));
	p->armed |= PR_ARM(PR_OP_CONNECT);
	pr_submit(pr);
}

static void pr_retry(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct io_uring_sqe *sqe;

	if (!p->retry_us)
		p->retry_us = PR_RETRY_FIRST_US;
	if (pr_reserve(pr, 1))
		return;
	sqe = pr_psqe(pr, p, idx, PR_OP_RETRY);
	p->rts.tv_sec = 0;
	p->rts.tv_nsec = (long long)p->retry_us * 1000;
	io_uring_prep_timeout(sqe, &p->rts, 0, 0);
	p->armed |= PR_ARM(PR_OP_RETRY);
	pr_submit(pr);
	p->retry_us = p->retry_us * 2 > PR_RETRY_MAX_US ? PR_RETRY_MAX_US : p->retry_us * 2;
}

int pr_ready_arm(struct pidring *pr, struct pr_proc *p, uint32_t idx,
		 const struct pidring_spawn *s)
{
	unsigned ms = s->ready_timeout_ms ? s->ready_timeout_ms : PR_DEFAULT_READY_MS;
	struct stat st;

	/* pidring_spawn reserved room for these. */
	p->deadline_ns = pr_now_ns() + (uint64_t)ms * 1000000u;
	pr_arm_deadline(pr, p, idx, (uint64_t)ms * 1000000u);
	if (s->ready == PIDRING_READY_NOTIFY) {
		if (!(p->flags & PRF_HASHED))
			pr_pids_add(pr, p, idx);
		return pr_arm_notify(pr);
	}
	pr_arm_inotify(pr);
	/* One immediate look: a bind that raced the spawn is seen at once
	 * (its IN_CREATE is queued too; the probe in flight absorbs it). */
	if (fstatat(pr->inst_fd, pr_sock_base(p), &st, AT_SYMLINK_NOFOLLOW) == 0) {
		p->flags |= PRF_BOUND;
		pr_probe(pr, p, idx, false);
	}
	return 0;
}

void pr_ready_prep_unlink(struct pidring *pr, struct pr_proc *p, uint32_t idx,
			  struct io_uring_sqe *sqe)
{
	(void)idx;
	io_uring_prep_unlinkat(sqe, pr->inst_fd, pr_sock_base(p), 0);
}

void pr_ready_unlink_now(struct pidring *pr, struct pr_proc *p)
{
	/* ENOENT: it never bound. Like the ring's UNLINKAT, the result
	 * changes nothing: DONE follows either way. */
	(void)unlinkat(pr->inst_fd, pr_sock_base(p), 0);
}

void pr_ready_release(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	if (p->flags & PRF_PROBE) {
		close(p->probe_fd);
		p->probe_fd = -1;
		p->flags &= ~(PRF_PROBE | PRF_PROBE_NB);
	}
	if (p->flags & PRF_HASHED)
		pr_pids_del(pr, p, idx);
	free(p->sun);
	p->sun = NULL;
}

/* A completion of one of the proc's readiness operations. */
void pr_ready_cqe(struct pidring *pr, struct pr_proc *p, uint32_t idx,
		  enum pr_op op, int res)
{
	bool binding = p->state == PR_BINDING;

	p->armed &= ~PR_ARM(op);
	switch (op) {
	case PR_OP_DEADLINE:
		if (!binding || res != -ETIME)
			return;
		{
			uint64_t now = pr_now_ns();

			/* EXTEND_TIMEOUT_USEC moved the deadline: re-arm. */
			if (p->deadline_ns > now && pr_reserve(pr, 1) == 0) {
				pr_arm_deadline(pr, p, idx, p->deadline_ns - now);
				pr_submit(pr);
				return;
			}
		}
		pr_report(pr, p, idx, PR_EV_DEADLINE, res);
		return;
	case PR_OP_CONNECT:
		if (!binding)
			return;
		if (res == 0)
			pr_bound_ready(pr, p, idx);
		else
			pr_refused(pr, p, idx, -res);
		return;
	case PR_OP_RETRY:
		if (binding && res == -ETIME)
			pr_probe(pr, p, idx, true);
		return;
	default:
		return;
	}
}

/* ---- engine-wide completions ---- */

static void pr_on_inotify(struct pidring *pr, int res)
{
	struct pr_ready_engine *rd = pr->rd;

	rd->ino_armed = false;
	if (res > 0) {
		for (char *q = rd->ibuf; q < rd->ibuf + res;) {
			struct inotify_event *ie = (struct inotify_event *)q;
			unsigned slot, gen;
			char tail;

			q += sizeof(*ie) + ie->len;
			if (ie->mask & IN_Q_OVERFLOW) {
				/* Events were lost: look at every binder. */
				for (uint32_t i = 0; i < pr->used; i++) {
					struct pr_proc *p = &pr->procs[i];

					if (p->state == PR_BINDING &&
					    p->mode == PIDRING_READY_BIND) {
						p->flags |= PRF_BOUND;
						pr_probe(pr, p, i, true);
					}
				}
				continue;
			}
			if (!ie->len || sscanf(ie->name, "%u.%u.soc%c", &slot, &gen, &tail) != 3 ||
			    tail != 'k' || slot >= pr->used)
				continue;
			{
				struct pr_proc *p = &pr->procs[slot];

				if (p->gen != gen || p->state != PR_BINDING ||
				    p->mode != PIDRING_READY_BIND)
					continue;
				p->flags |= PRF_BOUND;
				pr_probe(pr, p, slot, true);
			}
		}
	} else if (res != -EAGAIN && res != -EINTR && res != -ECANCELED) {
		return;        /* a broken inotify fd: deadlines still run */
	}
	/* Re-armed for the next entry into the ring (see pidring_wait). */
	if (res != -ECANCELED && pr->live)
		pr_arm_inotify(pr);
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

static void pr_on_notify(struct pidring *pr, int res)
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

void pr_ready_engine_cqe(struct pidring *pr, struct pr_proc *p, uint32_t idx,
			 enum pr_op op, int res)
{
	(void)p, (void)idx;
	if (op == PR_OP_INOTIFY)
		pr_on_inotify(pr, res);
	else if (op == PR_OP_NOTIFY)
		pr_on_notify(pr, res);
}

/* Cancel the engine-wide reads and wait for their completions: the kernel
 * may write into their buffers until then. */
void pr_ready_quiesce(struct pidring *pr)
{
	struct pr_ready_engine *rd = pr->rd;
	uint64_t end = pr_now_ns() + 1000000000ull;

	if (rd && (rd->ino_armed || rd->ntf_armed) && pr_reserve(pr, 2) == 0) {
		if (rd->ino_armed)
			pr_ecancel(pr, PR_OP_INOTIFY);
		if (rd->ntf_armed)
			pr_ecancel(pr, PR_OP_NOTIFY);
		pr_submit(pr);
	}
	/* Attached: the caller hands the cancelled ops' completions over, and
	 * pidring_destroy frees nothing before they are all in. */
	if (pr->attached)
		return;
	while (pr->engine_inflight && pr_now_ns() < end)
		pr_drive(pr, 10000000u);
	/* Still in the kernel's hands: never freed. */
	if (pr->engine_inflight)
		pr->rd = NULL;
}

void pr_ready_fini(struct pidring *pr)
{
	struct pr_ready_engine *rd = pr->rd;

	if (pr->inotify_fd >= 0)
		close(pr->inotify_fd);
	pr->inotify_fd = -1;
	if (pr->notify_fd >= 0) {
		close(pr->notify_fd);
		if (pr->inst_fd >= 0)
			unlinkat(pr->inst_fd, "notify", 0);
	}
	pr->notify_fd = -1;
	if (!rd)
		return;
	free(rd->notify_path);
	free(rd);
	pr->rd = NULL;
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
