/* SPDX-License-Identifier: MIT */
/*
 * The chaos driver: events in, verbs out (cancel, stop, stale and forged
 * ids), and spawning each proc as its plan says.
 */
#include "stress.h"

/* ---- events ---- */

static void stale_push(struct eng *e, const struct rec *r)
{
	if (e->stale_len == STALE_RING)
		return;
	e->stale[(e->stale_head + e->stale_len++) % STALE_RING] =
		(struct stale){ r->id, r->pl.index };
}

static void on_event(unsigned k, const struct pidring_event *ev)
{
	struct eng *e = &eng[k];
	long mi = map_find(k, ev->id);
	struct rec *r;

	if (mi < 0) {
		violation(NULL, "engine %u (#%u): %s event for unknown id 0x%" PRIx64
			  " (pid %d, user %p, reason %s)", k, e->serial,
			  ev->type == PIDRING_EV_READY ? "READY" :
			  ev->type == PIDRING_EV_DONE ? "DONE" : "unknown", (uint64_t)ev->id,
			  (int)ev->pid, ev->user, reason_name(ev->reason));
		return;
	}
	r = &pool[map[mi].rec];
	log_ev(r, ev);
	if (ev->pid != r->pid)
		violation(r, "event pid %d, the proc's pid is %d", (int)ev->pid, (int)r->pid);
	if ((uintptr_t)ev->user != (uintptr_t)(r->pl.index + 1))
		violation(r, "event user %p, expected %p", ev->user,
			  (void *)(uintptr_t)(r->pl.index + 1));
	if (ev->spawn_ns < r->t_pre || ev->spawn_ns > r->t_post)
		violation(r, "spawn_ns outside the pidring_spawn call");

	if (ev->type == PIDRING_EV_READY) {
		st.ready++;
		if (r->nready++) {
			violation(r, "second READY");
			return;
		}
		r->ready_ns = ev->ready_ns;
		if (!can_ready(&r->pl))
			violation(r, "READY from a proc that never gets ready");
		else if (ev->ready_ns < ev->spawn_ns + (uint64_t)r->pl.ready_ms * MS)
			violation(r, "READY %.2f ms after spawn, the child is ready at %d ms at "
				  "the earliest", ((double)ev->ready_ns - (double)ev->spawn_ns) / 1e6,
				  r->pl.ready_ms);
		/* Verbs come after a full drain, so a READY the engine emitted after
		 * an accepted verb returned is one it should not have emitted. */
		if (r->eff && ev->ready_ns > r->eff_end)
			violation(r, "READY emitted after our %s was accepted",
				  r->eff == 'C' ? "cancel" : "stop");
		if (r->pl.behav == B_NOTIFY && r->pl.status) {
			/* STATUS= is sent in the datagram before READY=1. The proc may
			 * be DONE already, its DONE queued behind this READY (it exited
			 * before the engine got to READY=1): then -ESRCH, and the DONE
			 * must come in this same drain. */
			char buf[64], want[64];
			int n = pidring_status(e->pr, r->id, buf, sizeof(buf));
			snprintf(want, sizeof(want), "stress %" PRIu64, r->pl.index);
			if (n == -ESRCH)
				r->esrch_pending = true;
			else if (n < 0 || strcmp(buf, want))
				violation(r, "pidring_status = %d \"%s\" at READY, expected \"%s\"",
					  n, n >= 0 ? buf : "", want);
		}
		if (r->pl.action == A_CANCEL_RUNNING && r->step == 0)
			r->due = now_ns() + (uint64_t)r->pl.act_ms * MS;
		return;
	}
	if (ev->type != PIDRING_EV_DONE) {
		violation(r, "event of unknown type %d", (int)ev->type);
		return;
	}

	st.done++;
	audit_done(r, ev);
	if (r->ep >= 0) {
		epoch_procs[r->ep].reason = (uint8_t)ev->reason;
		epoch_procs[r->ep].code = ev->code;
		epoch_procs[r->ep].status = ev->status;
	}
	if (r->sock[0]) {
		struct stat sb;
		if (lstat(r->sock, &sb) == 0 || errno != ENOENT) {
			violation(r, "bind socket %s still there at DONE", r->sock);
			st.leaked_files++;
		}
	}
	if (r->pl.post_done)
		stale_push(e, r);
	map_del_at((unsigned)mi);
	e->ours--;
	rec_free(r);
}

void drain(unsigned k, int timeout_ms)
{
	struct pidring_event evs[EVMAX];
	int n = pidring_wait(eng[k].pr, evs, EVMAX, timeout_ms);

	for (;;) {
		if (n == -EINTR) {
			n = pidring_wait(eng[k].pr, evs, EVMAX, 0);
			continue;
		}
		if (n < 0) {
			violation(NULL, "pidring_wait on engine %u: %s", k, strerror(-n));
			return;
		}
		for (int i = 0; i < n; i++)
		{
			static bool injected;

			on_event(k, &evs[i]);
			/* --inject dup-done: hand the auditor the first DONE twice. */
			if (opt.inject && !strcmp(opt.inject, "dup-done") && !injected &&
			    evs[i].type == PIDRING_EV_DONE) {
				injected = true;
				on_event(k, &evs[i]);
			}
		}
		if (n < EVMAX)
			break;
		n = pidring_wait(eng[k].pr, evs, EVMAX, 0);
	}
}

/* After a full drain the engine's event queue is empty. */
void after_drain(unsigned k)
{
	struct eng *e = &eng[k];
	unsigned live = pidring_live(e->pr);

	if (live != e->ours)
		violation(NULL, "engine %u (#%u): pidring_live = %u, %u of our procs have "
			  "no DONE yet", k, e->serial, live, e->ours);
	for (unsigned i = 0; i < pool_cap; i++) {
		struct rec *r = &pool[i];
		if (r->used && r->k == k && r->esrch_pending) {
			violation(r, "a verb returned -ESRCH, but no DONE followed");
			r->esrch_pending = false;
		}
	}
	e->stale_ready = e->stale_len;   /* checked after the next spawns */
}

/* ---- verbs ---- */

static void verb(struct rec *r, char what)
{
	struct pidring *pr = eng[r->k].pr;
	uint64_t a = now_ns(), b;
	int rc;

	if (what == 'C') {
		st.cancel_calls++;
		rc = pidring_cancel(pr, r->id);
	} else {
		st.stop_calls++;
		rc = pidring_stop(pr, r->id, r->pl.grace_ms);
	}
	b = now_ns();
	log_call(r, what, rc, a);
	if (rc == -ESRCH) {
		/*
		 * We have not seen its DONE (its record would be gone): fine only if
		 * the engine finished it inside this very call and queued the DONE.
		 */
		r->esrch_pending = true;
		return;
	}
	if (rc != 0) {
		violation(r, "pidring_%s returned %d (%s)", what == 'C' ? "cancel" : "stop",
			  rc, strerror(-rc));
		return;
	}
	if (!r->eff) {
		r->eff = what;
		r->eff_start = a;
		r->eff_end = b;
		r->ready_before_eff = r->nready > 0;
	}
}

/* The record is live and due: the next step of its action. */
void act(struct rec *r)
{
	r->due = 0;
	switch (r->pl.action) {
	case A_CANCEL_BINDING:
	case A_CANCEL_RUNNING:
		verb(r, 'C');
		r->step = 1;
		break;
	case A_CANCEL_TWICE:
		verb(r, 'C');
		verb(r, 'C');
		r->step = 1;
		break;
	case A_STOP:
		verb(r, 'S');
		r->step = 1;
		break;
	case A_STOP_CANCEL:
		if (r->step == 0) {
			verb(r, 'S');
			r->step = 1;
			r->due = now_ns() + (uint64_t)r->pl.act2_ms * MS;
			if (!r->due)
				r->due = 1;
		} else {
			verb(r, 'C');
			r->step = 2;
		}
		break;
	case A_CANCEL_STOP:
		verb(r, 'C');
		verb(r, 'S');
		r->step = 1;
		break;
	default:
		break;
	}
}

/* Ids whose DONE we saw: every call must say -ESRCH, even once the slot is
 * reused (the checks run after the next spawns). */
void stale_checks(unsigned k)
{
	struct eng *e = &eng[k];
	char buf[128];

	while (e->stale_ready) {
		struct stale s = e->stale[e->stale_head];
		int rc[5];

		e->stale_head = (e->stale_head + 1) % STALE_RING;
		e->stale_len--;
		e->stale_ready--;
		st.stale_checks++;
		rc[0] = pidring_pid(e->pr, s.id);
		rc[1] = pidring_cancel(e->pr, s.id);
		rc[2] = pidring_stop(e->pr, s.id, 10);
		rc[3] = pidring_socket_path(e->pr, s.id, buf, sizeof(buf));
		rc[4] = pidring_status(e->pr, s.id, buf, sizeof(buf));
		for (int i = 0; i < 5; i++)
			if (rc[i] != -ESRCH) {
				static const char *const fn[] = { "pid", "cancel", "stop",
								  "socket_path", "status" };
				violation(NULL, "engine %u (#%u): pidring_%s on the id 0x%" PRIx64
					  " of proc #%" PRIu64 ", DONE already delivered, returned %d",
					  k, e->serial, fn[i], (uint64_t)s.id, s.index, rc[i]);
			}
	}
}

void forged_checks(struct rec *r)
{
	struct pidring *pr = eng[r->k].pr;
	pidring_id forged[] = {
		r->id ^ (1ull << 63),                           /* another generation */
		(r->id & 0xffffffff00000000ull) | 0x00fffff0u,  /* a slot far out */
		0,
	};

	for (unsigned i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		int a = pidring_pid(pr, forged[i]), b = pidring_cancel(pr, forged[i]);
		st.forged_checks++;
		if (a != -ESRCH || b != -ESRCH)
			violation(r, "forged id 0x%" PRIx64 ": pidring_pid %d, pidring_cancel %d, "
				  "expected -ESRCH", (uint64_t)forged[i], a, b);
	}
}

/* ---- spawning ---- */

void spawn_one(uint64_t index)
{
	struct plan pl;
	char a[12][40];
	char *argv[24];
	int ac = 0;

	make_plan(index, &pl);
	hash_plan(&pl);
	struct eng *e = &eng[pl.engine];

#define ARG(...) do { snprintf(a[ac], sizeof(a[ac]), __VA_ARGS__); argv[ac] = a[ac]; ac++; } while (0)
	ARG("pidring-child");
	switch (pl.behav) {
	case B_BIND:
	case B_LISTEN_LATE:
	case B_IGNORE_TERM:
		if (pl.behav == B_IGNORE_TERM)
			ARG("--ignore-term");
		ARG("--bind-after-ms=%d", pl.bind_ms);
		if (pl.listen_ms)
			ARG("--listen-after-ms=%d", pl.listen_ms);
		ARG("--after-ms=%d", pl.nat_ms);
		ARG("--exit=%d", pl.code);
		if (pl.sock_arg) {
			ARG("--socket");
			ARG("{socket}");
		}
		break;
	case B_EXIT_EARLY:
		ARG("--exit-before-ready");
		ARG("--after-ms=%d", pl.nat_ms);
		ARG("--exit=%d", pl.code);
		break;
	case B_CRASH:
		ARG("--bind-after-ms=%d", pl.bind_ms);
		ARG("--after-ms=%d", pl.nat_ms);
		ARG("--signal=%d", pl.code);
		break;
	case B_NEVER_READY:
		ARG("--never-ready");
		break;
	case B_FORK:
		ARG("--bind-after-ms=%d", pl.bind_ms);
		if (pl.tree)
			ARG("--fork-tree=2,%d", pl.nfork);
		else
			ARG("--fork=%d", pl.nfork);
		if (pl.gc_ignore_term)
			ARG("--grandchild-ignore-term");
		break;
	case B_EXEC_FAIL:
		break;
	case B_NOTIFY:
		ARG("--notify-after-ms=%d", pl.notify_ms);
		ARG("--after-ms=%d", pl.nat_ms);
		ARG("--exit=%d", pl.code);
		if (pl.status)
			ARG("--status=stress %" PRIu64, index);
		if (pl.garbage)
			ARG("--garbage");
		break;
	case B_EXEC_READY:
		ARG("--after-ms=%d", pl.nat_ms);
		ARG("--exit=%d", pl.code);
		break;
	}
	argv[ac] = NULL;
#undef ARG

	struct pidring_spawn sp = {
		.path = pl.behav == B_EXEC_FAIL ? missing_path : opt.child,
		.argv = argv,
		/* Where a broken {socket} substitution would bind: we would see the file. */
		.cwd = opt.rundir,
		.ready = (enum pidring_ready)pl.mode,
		.ready_timeout_ms = pl.ready_timeout_ms,
		.user = (void *)(uintptr_t)(index + 1),
	};
	pidring_id id = 0;

	if (pl.behav == B_EXEC_FAIL) {
		unsigned live = pidring_live(e->pr);
		int rc = pidring_spawn(e->pr, &sp, &id);
		st.exec_failures++;
		if (rc != -ENOENT)
			violation(NULL, "proc #%" PRIu64 " (exec-fail, engine %u): pidring_spawn of "
				  "a missing path returned %d, expected -ENOENT", index, pl.engine, rc);
		if (rc == 0) {
			/* Track it anyway so its events do not look unknown. */
			struct rec *r = rec_alloc();
			r->pl = pl;
			r->k = pl.engine;
			r->eserial = e->serial;
			r->id = id;
			r->pid = pidring_pid(e->pr, id);
			r->t_pre = r->t_post = now_ns();
			map_put(r->k, id, (unsigned)(r - pool));
			e->ours++;
			st.spawned++;
		} else if (pidring_live(e->pr) != live) {
			violation(NULL, "proc #%" PRIu64 ": a failed spawn changed pidring_live "
				  "from %u to %u", index, live, pidring_live(e->pr));
		}
		return;
	}

	struct rec *r = rec_alloc();
	r->pl = pl;
	r->k = pl.engine;
	r->eserial = e->serial;
	r->t_pre = now_ns();
	int rc = pidring_spawn(e->pr, &sp, &id);
	r->t_post = now_ns();
	if (rc < 0) {
		violation(r, "pidring_spawn returned %d (%s)", rc, strerror(-rc));
		rec_free(r);
		return;
	}
	st.spawned++;
	r->id = id;
	r->pid = pidring_pid(e->pr, id);
	if (id == 0 || r->pid <= 0)
		violation(r, "pidring_spawn gave id 0x%" PRIx64 ", pidring_pid %d",
			  (uint64_t)id, (int)r->pid);
	if (map_find(r->k, id) >= 0)
		violation(r, "pidring_spawn returned an id that is still live");
	map_put(r->k, id, (unsigned)(r - pool));
	e->ours++;
	r->ep = -1;
	if (nepoch < EPOCH_MAX && r->pid > 0) {
		r->ep = (int)nepoch;
		epoch_procs[nepoch++] = (struct eproc){ .pid = r->pid, .behav = pl.behav,
			.action = pl.action, .gc_ignore_term = pl.gc_ignore_term, .index = index };
	}

	int n = pidring_socket_path(e->pr, id, r->sock, sizeof(r->sock));
	if (pl.mode == PIDRING_READY_BIND) {
		size_t bl = strlen(opt.rundir);
		if (n <= 0 || strncmp(r->sock, opt.rundir, bl) || r->sock[bl] != '/')
			violation(r, "pidring_socket_path = %d \"%s\", expected a path under %s",
				  n, n > 0 ? r->sock : "", opt.rundir);
		if (n <= 0)
			r->sock[0] = '\0';
	} else {
		if (n != -ENOENT)
			violation(r, "pidring_socket_path = %d for a proc without a bind socket", n);
		r->sock[0] = '\0';
	}
	if (pl.forge)
		forged_checks(r);

	switch (pl.action) {
	case A_CANCEL_SPAWN:
		verb(r, 'C');
		r->step = 1;
		break;
	case A_CANCEL_BINDING:
	case A_CANCEL_TWICE:
	case A_STOP:
	case A_STOP_CANCEL:
	case A_CANCEL_STOP:
		r->due = r->t_post + (uint64_t)pl.act_ms * MS;
		break;
	default:
		break;
	}
}
