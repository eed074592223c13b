/*
 * The reap chain's shape, read from the engine's submission trace (the test
 * build records every SQE it hands to the kernel, engine/fault.h): for each
 * way a proc's life can end in a kill — pidring_cancel on the WAITID path and
 * on the fallback, in cgroup mode, a stop whose grace ran out, a missed ready
 * deadline, pidring_destroy — the SQEs put for the proc are, in order,
 *
 *   ASYNC_CANCEL/TIMEOUT_REMOVE of each armed op (the exit watch included)
 *     [-> WRITE cgroup.kill -> CLOSE] -> POLL_ADD -> WAITID
 *     -> UNLINKAT(socket) [-> UNLINKAT(cgroup)] -> CLOSE(pidfd)
 *
 * each hardlinked to the next but the last, and already submitted when the
 * call that made the chain returns. Then: repeated cancels and a stop after
 * a cancel submit nothing, and one DONE comes with the status the chain's
 * WAITID reported.
 *
 * White-box on purpose: it names the engine's op kinds (engine/internal.h)
 * to tell a proc's SQEs apart and to check what each cancel targets.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../engine/internal.h"
#include "helpers.h"

#define CH_TRACE 4096

struct ch {
	struct th_baseline b;
	char *dir;
	struct pidring *pr;
	struct pidring__trace_rec rec[CH_TRACE];
	unsigned nrec;
};

static void ch_open(struct ch *c, unsigned flags, const char *cgroup_dir)
{
	struct pidring_opts o = { .flags = flags, .cgroup_dir = cgroup_dir };
	int r;

	th_baseline_take(&c->b);
	c->dir = th_mkdtemp();
	o.runtime_dir = c->dir;
	r = pidring_new(&c->pr, &o);
	cr_assert_eq(r, 0, "pidring_new: %d", r);
	/* Forget what engines before this one (in this worker) submitted. */
	while (pidring__trace_take(c->rec, CH_TRACE) == CH_TRACE)
		;
}

static void ch_close(struct ch *c);

/* ch_open for the tests of the WAITID path; false (test skipped) without it. */
static bool ch_open_waitid(struct ch *c, const char *cgroup_dir)
{
	ch_open(c, 0, cgroup_dir);
	if (c->pr->has_waitid)
		return true;
	ch_close(c);
	cr_skip_test("the kernel has no IORING_OP_WAITID");
	return false;
}

static void ch_close(struct ch *c)
{
	if (c->pr)
		cr_assert_eq(pidring_destroy(c->pr, 5000), 0);
	c->pr = NULL;
	th_leak_check(&c->b, c->dir);
	th_rmtree(c->dir);
	free(c->dir);
}

/* A BIND proc that never binds: it stays BINDING until killed. */
static pidring_id ch_spawn(struct ch *c, unsigned timeout_ms, bool ignore_term)
{
	static char *a_plain[] = { "pidring-child", "--never-ready", NULL };
	static char *a_term[] = { "pidring-child", "--ignore-term", "--never-ready", NULL };
	struct pidring_spawn s = {
		.path = th_child_path(),
		.argv = ignore_term ? a_term : a_plain,
		.ready = PIDRING_READY_BIND,
		.ready_timeout_ms = timeout_ms,
	};
	pidring_id id = 0;
	int r = pidring_spawn(c->pr, &s, &id);

	cr_assert_eq(r, 0, "pidring_spawn: %d", r);
	return id;
}

static bool ch_is_proc(const struct pidring__trace_rec *r, pidring_id id)
{
	return pr_ud_slot(r->user_data) == (uint32_t)id - 1 &&
	       pr_ud_gen(r->user_data) == (uint32_t)(id >> 32);
}

/* Take the trace and keep the records of proc id, in order. */
static unsigned ch_take(struct ch *c, pidring_id id)
{
	struct pidring__trace_rec all[CH_TRACE];
	unsigned n = pidring__trace_take(all, CH_TRACE);

	c->nrec = 0;
	for (unsigned i = 0; i < n; i++)
		if (ch_is_proc(&all[i], id) && c->nrec < CH_TRACE)
			c->rec[c->nrec++] = all[i];
	return c->nrec;
}

static const char *ch_opname(uint8_t op)
{
	switch (op) {
	case IORING_OP_ASYNC_CANCEL:   return "ASYNC_CANCEL";
	case IORING_OP_TIMEOUT_REMOVE: return "TIMEOUT_REMOVE";
	case IORING_OP_POLL_ADD:       return "POLL_ADD";
	case IORING_OP_WRITE:          return "WRITE";
	case IORING_OP_CLOSE:          return "CLOSE";
	case IORING_OP_UNLINKAT:       return "UNLINKAT";
	case IORING_OP_LINK_TIMEOUT:   return "LINK_TIMEOUT";
	case IORING_OP_TIMEOUT:        return "TIMEOUT";
	case IORING_OP_CONNECT:        return "CONNECT";
	case PR_OP_WAITID:             return "WAITID";
	default:                       return "?";
	}
}

static void ch_dump(const struct ch *c, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < c->nrec && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s%s", i ? " " : "",
					ch_opname(c->rec[i].opcode),
					(c->rec[i].flags & IOSQE_IO_HARDLINK) ? "+" : "");
}

/*
 * The records from `from` on are: a run of cancels (at least min_cancels;
 * each one's target is an op of this proc, and one of them is the exit
 * watch when need_watch), then exactly want[0..nwant), each hardlinked to
 * the next, the last linked to nothing. Returns the index past the chain.
 */
static unsigned ch_expect(const struct ch *c, unsigned from, unsigned min_cancels,
			  bool need_watch, const uint8_t *want, unsigned nwant,
			  pidring_id id)
{
	char dump[1024];
	unsigned i = from, ncancel = 0;
	bool watch = false;

	ch_dump(c, dump, sizeof dump);
	while (i < c->nrec && (c->rec[i].opcode == IORING_OP_ASYNC_CANCEL ||
			       c->rec[i].opcode == IORING_OP_TIMEOUT_REMOVE)) {
		cr_expect(ch_is_proc(&(struct pidring__trace_rec){ .user_data = c->rec[i].addr }, id),
			  "cancel #%u targets another proc: %s", ncancel, dump);
		if (pr_ud_op(c->rec[i].addr) == PR_OP_WATCH)
			watch = true;
		cr_expect(c->rec[i].flags & IOSQE_IO_HARDLINK,
			  "cancel #%u is not hardlinked: %s", ncancel, dump);
		ncancel++;
		i++;
	}
	cr_expect(ncancel >= min_cancels, "%u cancels, want >= %u: %s", ncancel,
		  min_cancels, dump);
	if (need_watch)
		cr_expect(watch, "no cancel of the exit watch: %s", dump);
	cr_assert(c->nrec - i >= nwant, "chain too short: %s", dump);
	for (unsigned k = 0; k < nwant; k++, i++) {
		bool last = k + 1 == nwant;

		cr_expect_eq(c->rec[i].opcode, want[k], "step %u is %s, want %s: %s", k,
			     ch_opname(c->rec[i].opcode), ch_opname(want[k]), dump);
		if (last)
			cr_expect(!(c->rec[i].flags & (IOSQE_IO_HARDLINK | IOSQE_IO_LINK)),
				  "the last step links on: %s", dump);
		else
			cr_expect(c->rec[i].flags & IOSQE_IO_HARDLINK,
				  "step %u is not hardlinked: %s", k, dump);
	}
	return i;
}

/* Drive until proc id is DONE; exactly one DONE for it, nothing after. */
static struct pidring_event ch_done(struct ch *c, pidring_id id, int reason)
{
	struct pidring_event ev[16], done = { 0 };
	int ndone = 0;

	for (uint64_t end = th_now_ns() + 10000000000ull; th_now_ns() < end;) {
		int n = pidring_wait(c->pr, ev, 16, 50);

		if (n == -EINTR)
			continue;
		cr_assert(n >= 0, "pidring_wait: %d", n);
		for (int i = 0; i < n; i++)
			if (ev[i].id == id && ev[i].type == PIDRING_EV_DONE) {
				done = ev[i];
				ndone++;
			}
		if (ndone && !pidring_live(c->pr) && n == 0)
			break;
	}
	cr_assert_eq(ndone, 1, "%d DONE events", ndone);
	cr_expect_eq(done.reason, reason, "reason %d, want %d", done.reason, reason);
	return done;
}

static const uint8_t ch_waitid_chain[] = {
	IORING_OP_POLL_ADD, PR_OP_WAITID, IORING_OP_UNLINKAT, IORING_OP_CLOSE,
};

/* Before the call returns, the whole chain is on the ring (WAITID path). */
Test(chain, cancel_waitid_path)
{
	static struct ch c;
	struct pidring_event done;
	pidring_id id;

	if (!ch_open_waitid(&c, NULL))
		return;
	id = ch_spawn(&c, 60000, false);
	ch_take(&c, id);
	cr_assert_eq(pidring_cancel(c.pr, id), 0);
	ch_take(&c, id);
	/* The exit watch and the deadline (a TIMEOUT_REMOVE) at least. */
	cr_expect_eq(ch_expect(&c, 0, 2, true, ch_waitid_chain, 4, id), c.nrec,
		     "SQEs after the chain");
	done = ch_done(&c, id, PIDRING_CANCELLED);
	cr_expect_eq(done.code, CLD_KILLED);
	cr_expect_eq(done.status, SIGKILL);
	/* Nothing more was submitted for it: the chain was the whole reap. */
	cr_expect_eq(ch_take(&c, id), 0, "%u SQEs after the chain", c.nrec);
	ch_close(&c);
}

/* Without a ring WAITID the chain stops at the POLL; its completion puts
 * the tail (UNLINKAT -> CLOSE) on the ring, and waitid gives the status. */
Test(chain, cancel_fallback_path)
{
	static const uint8_t head[] = { IORING_OP_POLL_ADD };
	static const uint8_t tail[] = { IORING_OP_UNLINKAT, IORING_OP_CLOSE };
	static struct ch c;
	struct pidring_event done;
	pidring_id id;

	ch_open(&c, PIDRING_F_NO_WAITID, NULL);
	id = ch_spawn(&c, 60000, false);
	ch_take(&c, id);
	cr_assert_eq(pidring_cancel(c.pr, id), 0);
	ch_take(&c, id);
	cr_expect_eq(ch_expect(&c, 0, 2, true, head, 1, id), c.nrec, "SQEs after the POLL");
	done = ch_done(&c, id, PIDRING_CANCELLED);
	cr_expect_eq(done.code, CLD_KILLED);
	cr_expect_eq(done.status, SIGKILL);
	ch_take(&c, id);
	cr_expect_eq(ch_expect(&c, 0, 0, false, tail, 2, id), c.nrec, "SQEs after the tail");
	ch_close(&c);
}

/* cgroup mode: the cgroup.kill WRITE (and its CLOSE) sit between the cancels
 * and the POLL, and the cgroup's removal before the pidfd's CLOSE. */
Test(chain, cancel_cgroup_mode)
{
	static const uint8_t want[] = {
		IORING_OP_WRITE, IORING_OP_CLOSE, IORING_OP_POLL_ADD, PR_OP_WAITID,
		IORING_OP_UNLINKAT, IORING_OP_UNLINKAT, IORING_OP_CLOSE,
	};
	char why[PATH_MAX + 128];
	const char *cg = th_cgroup_dir(why, sizeof why);
	static struct ch c;
	struct pidring_event done;
	pidring_id id;

	if (!cg) {
		cr_skip_test("no writable cgroup v2: %s", why);
		return;
	}
	if (!ch_open_waitid(&c, cg))
		return;
	id = ch_spawn(&c, 60000, false);
	ch_take(&c, id);
	cr_assert_eq(pidring_cancel(c.pr, id), 0);
	ch_take(&c, id);
	cr_expect_eq(ch_expect(&c, 0, 2, true, want, 7, id), c.nrec, "SQEs after the chain");
	done = ch_done(&c, id, PIDRING_CANCELLED);
	cr_expect_eq(done.code, CLD_KILLED);
	cr_expect_eq(done.status, SIGKILL);
	ch_close(&c);
}

/*
 * A stop puts cancels -> POLL_ADD linked to a LINK_TIMEOUT of the grace;
 * when the grace runs out, the kill chain follows in the call that saw it
 * (the stop's own ops are done by then: no cancels are left to put).
 */
Test(chain, stop_after_grace)
{
	static const uint8_t stop[] = { IORING_OP_POLL_ADD, IORING_OP_LINK_TIMEOUT };
	static struct ch c;
	unsigned i;
	pidring_id id;

	if (!ch_open_waitid(&c, NULL))
		return;
	id = ch_spawn(&c, 60000, true);
	ch_take(&c, id);
	cr_assert_eq(pidring_stop(c.pr, id, 100), 0);
	ch_take(&c, id);
	cr_expect(c.nrec >= 4, "%u SQEs", c.nrec);
	/* ch_expect checks the last as unlinked; the POLL's IO_LINK is the
	 * one soft link of the engine, checked here. */
	i = 0;
	while (i < c.nrec && (c.rec[i].opcode == IORING_OP_ASYNC_CANCEL ||
			      c.rec[i].opcode == IORING_OP_TIMEOUT_REMOVE))
		i++;
	cr_expect(i >= 2, "%u cancels before the stop's POLL", i);
	cr_expect(!(c.rec[i - 1].flags & IOSQE_IO_HARDLINK), "the stop's cancels link to its POLL");
	cr_assert_eq(c.nrec, i + 2, "%u SQEs, want the cancels, POLL_ADD, LINK_TIMEOUT", c.nrec);
	cr_expect_eq(c.rec[i].opcode, stop[0]);
	cr_expect(c.rec[i].flags & IOSQE_IO_LINK);
	cr_expect_eq(c.rec[i + 1].opcode, stop[1]);
	/* A second stop changes nothing. */
	cr_assert_eq(pidring_stop(c.pr, id, 100), 0);
	cr_expect_eq(ch_take(&c, id), 0, "a second stop submitted %u SQEs", c.nrec);
	ch_done(&c, id, PIDRING_STOPPED);
	ch_take(&c, id);
	cr_expect_eq(ch_expect(&c, 0, 0, false, ch_waitid_chain, 4, id), c.nrec,
		     "SQEs after the chain");
	ch_close(&c);
}

/* A missed ready deadline ends in the same chain (the deadline itself has
 * completed: its TIMEOUT is not cancelled, the exit watch is). */
Test(chain, ready_timeout)
{
	static struct ch c;
	pidring_id id;

	if (!ch_open_waitid(&c, NULL))
		return;
	id = ch_spawn(&c, 50, false);
	ch_take(&c, id);
	ch_done(&c, id, PIDRING_READY_TIMEOUT);
	ch_take(&c, id);
	cr_expect_eq(ch_expect(&c, 0, 1, true, ch_waitid_chain, 4, id), c.nrec,
		     "SQEs after the chain");
	ch_close(&c);
}

/* pidring_destroy kills every live proc with the same chain. */
Test(chain, destroy)
{
	static struct ch c;
	pidring_id id[3];

	if (!ch_open_waitid(&c, NULL))
		return;
	for (int k = 0; k < 3; k++)
		id[k] = ch_spawn(&c, 60000, false);
	pidring__trace_take(c.rec, CH_TRACE);
	cr_assert_eq(pidring_destroy(c.pr, 5000), 0);
	c.pr = NULL;
	{
		/* One take for all three: copy the trace once, filter per id. */
		struct pidring__trace_rec all[CH_TRACE];
		unsigned n = pidring__trace_take(all, CH_TRACE);

		for (int k = 0; k < 3; k++) {
			c.nrec = 0;
			for (unsigned i = 0; i < n; i++)
				if (ch_is_proc(&all[i], id[k]))
					c.rec[c.nrec++] = all[i];
			cr_expect_eq(ch_expect(&c, 0, 2, true, ch_waitid_chain, 4, id[k]),
				     c.nrec, "proc %d: SQEs after the chain", k);
		}
	}
	ch_close(&c);
}

/*
 * Cancel, cancel twice more, stop: only the first call submits anything.
 * The handle is then dropped (never used again) and the ring only driven:
 * one DONE, the child reaped, its socket name and pidfd gone.
 */
Test(chain, cancel_idempotent_then_drive)
{
	static struct ch c;
	char sock[PATH_MAX];
	struct stat st;
	pidring_id id;
	int r;

	ch_open(&c, 0, NULL);
	id = ch_spawn(&c, 60000, false);
	r = pidring_socket_path(c.pr, id, sock, sizeof sock);
	cr_assert(r > 0, "pidring_socket_path: %d", r);
	ch_take(&c, id);
	cr_assert_eq(pidring_cancel(c.pr, id), 0);
	cr_expect(ch_take(&c, id) >= 3, "the cancel submitted %u SQEs", c.nrec);
	cr_assert_eq(pidring_cancel(c.pr, id), 0);
	cr_assert_eq(pidring_cancel(c.pr, id), 0);
	cr_assert_eq(pidring_stop(c.pr, id, 1000), 0);
	cr_expect_eq(ch_take(&c, id), 0, "repeated verbs submitted %u SQEs", c.nrec);
	{
		struct pidring_event ev[16];
		int ndone = 0;

		for (uint64_t end = th_now_ns() + 10000000000ull;
		     th_now_ns() < end && (ndone == 0 || pidring_live(c.pr));) {
			int n = pidring_wait(c.pr, ev, 16, 50);

			cr_assert(n >= 0 || n == -EINTR, "pidring_wait: %d", n);
			for (int i = 0; i < n; i++)
				if (ev[i].type == PIDRING_EV_DONE) {
					cr_expect_eq(ev[i].id, id);
					cr_expect_eq(ev[i].reason, PIDRING_CANCELLED);
					cr_expect_eq(ev[i].status, SIGKILL);
					ndone++;
				}
		}
		/* Nothing more comes. */
		r = pidring_wait(c.pr, ev, 16, 100);
		cr_expect_eq(r, 0, "%d events after DONE", r);
		cr_expect_eq(ndone, 1, "%d DONE events", ndone);
	}
	cr_expect(lstat(sock, &st) < 0 && errno == ENOENT, "the socket name %s is left", sock);
	cr_expect_eq(pidring_cancel(c.pr, id), -ESRCH, "a DONE proc's id is stale");
	cr_expect_eq(th_children(NULL, 0), 0, "the child is not reaped");
	ch_close(&c);
}

/*
 * An engine that is polled must not sit on a DEFER_TASKRUN ring, whose
 * eventfd the kernel signals only once someone enters the ring (tens of ms
 * late): pidring_fd on an idle engine trades its ring for a COOP_TASKRUN
 * one, and the engine works on it as before.
 */
Test(ring, polled_engine_not_deferred)
{
	static struct ch c;
	struct pidring_event done;
	pidring_id id;
	int fd;

	ch_open(&c, 0, NULL);
	fd = pidring_fd(c.pr);
	cr_assert(fd >= 0, "pidring_fd: %d", fd);
	cr_expect(!c.pr->deferred, "a polled engine's ring is DEFER_TASKRUN");
	cr_expect_eq(pidring_fd(c.pr), fd, "pidring_fd changed");
	id = ch_spawn(&c, 60000, false);
	cr_assert_eq(pidring_cancel(c.pr, id), 0);
	done = ch_done(&c, id, PIDRING_CANCELLED);
	cr_expect_eq(done.status, SIGKILL);
	ch_close(&c);
}
