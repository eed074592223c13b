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
 * NOTIFY (its datagrams are notify.c's): this file arms the proc's deadline
 * and the engine's read of the sd_notify socket.
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

#define PR_PROBE_YIELDS    8u        /* inline retries of a refused probe */
#define PR_RETRY_FIRST_US  10u
#define PR_RETRY_MAX_US    4000u
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

/* The inotify watch exists before the first BIND child does: no bind can
 * happen unseen. */
int pr_inotify_open(struct pidring *pr)
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
/* The probe's CONNECT on the ring (a retry shortly, if the SQ is full). */
static void pr_probe_ring(struct pidring *pr, struct pr_proc *p, uint32_t idx)
{
	struct io_uring_sqe *sqe;

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

/* The probe socket is made (or switched) to block, or not: 0, or -1 when
 * that failed and a retry is armed. */
static int pr_probe_mode(struct pidring *pr, struct pr_proc *p, uint32_t idx, bool nb)
{
	if (p->probe_fd < 0) {
		p->probe_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
				     (nb ? SOCK_NONBLOCK : 0), 0);
		if (p->probe_fd < 0) {
			p->probe_fd = -1;
			pr_retry(pr, p, idx);  /* out of fds: try again shortly */
			return -1;
		}
		p->flags |= PRF_PROBE | (nb ? PRF_PROBE_NB : 0);
		return 0;
	}
	if (!(p->flags & PRF_PROBE_NB) == !nb)
		return 0;
	if (fcntl(p->probe_fd, F_SETFL, nb ? O_NONBLOCK : 0) < 0) {
		pr_drop_probe(p);
		pr_retry(pr, p, idx);
		return -1;
	}
	p->flags = nb ? p->flags | PRF_PROBE_NB : p->flags & ~PRF_PROBE_NB;
	return 0;
}

/*
 * Connect inline. Refused right after IN_CREATE: bound, not yet listening.
 * The runner is a few instructions from listen(), and may be waiting for
 * this CPU: yield it and ask again, a few times (the first probe of a proc
 * only). A ring TIMEOUT, even of 10 us, costs tens of microseconds of timer
 * and wake-up here. Returns 0 (connected) or the errno.
 */
static int pr_probe_inline(struct pr_proc *p)
{
	unsigned tries = 0;
	int r;

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
	r = r == 0 || errno == EISCONN ? 0 : errno;
	if (r && tries)
		p->flags |= PRF_REPROBED;
	return r;
}

static void pr_probe(struct pidring *pr, struct pr_proc *p, uint32_t idx, bool inline_ok)
{
	int e;

	if (p->armed & (PR_ARM(PR_OP_CONNECT) | PR_ARM(PR_OP_RETRY)))
		return;        /* one probe at a time; its result decides */
	/* From pidring_spawn itself the answer comes on the ring, like every
	 * event: a READY is never decided inside the spawn call. A socket made
	 * for the ring is switched to non-blocking for an inline connect. */
	if (p->probe_fd < 0 || inline_ok) {
		if (pr_probe_mode(pr, p, idx, inline_ok) < 0)
			return;
	}
	if (inline_ok) {
		e = pr_probe_inline(p);
		if (e == 0) {
			pr_bound_ready(pr, p, idx);
			return;
		}
		if (e != EAGAIN && e != EINPROGRESS) {
			pr_refused(pr, p, idx, e);
			return;
		}
		/* Backlog full: wait for room on the ring, on a blocking socket
		 * (the ring polls it; a non-blocking one would just say EAGAIN
		 * again). */
		if (pr_probe_mode(pr, p, idx, false) < 0)
			return;
	}
	pr_probe_ring(pr, p, idx);
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
