/* SPDX-License-Identifier: MIT */
/*
 * The schedule: the seeded generator, each proc's plan as a pure function
 * of (seed, index), the epoch cuts and the schedule hash.
 */
#include "stress.h"

const char *const behav_name[B_N] = {
	"bind", "listen-late", "exit-early", "crash", "never-ready", "ignore-term",
	"fork", "exec-fail", "notify", "exec-ready",
};
static const unsigned behav_weight[B_N] = { 16, 10, 10, 10, 8, 8, 8, 4, 16, 10 };
const char *const action_name[A_N] = {
	"none", "cancel-at-spawn", "cancel-binding", "cancel-running", "cancel-twice",
	"after-done", "stop", "stop-then-cancel", "cancel-then-stop",
};
static const unsigned action_weight[A_N] = { 34, 8, 10, 10, 8, 6, 12, 6, 6 };

static const int exit_codes[] = { 0, 1, 4, 5, 7, 42, 99, 255 };

static uint64_t rng_next(struct rng *r)          /* splitmix64 */
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int rng_int(struct rng *r, int lo, int hi)  /* uniform in [lo, hi] */
{
	return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

static unsigned rng_pick(struct rng *r, const unsigned *w, unsigned n)
{
	unsigned total = 0, x;

	for (unsigned i = 0; i < n; i++)
		total += w[i];
	x = (unsigned)(rng_next(r) % total);
	for (unsigned i = 0; i < n; i++) {
		if (x < w[i])
			return i;
		x -= w[i];
	}
	return n - 1;
}

/* ---- the plan of proc #index: a pure function of (seed, index) ---- */

void make_plan(uint64_t index, struct plan *p)
{
	struct rng r = { opt.seed * 0x2545f4914f6cdd1dull ^ (index + 1) * 0x9e3779b97f4a7c15ull };

	memset(p, 0, sizeof(*p));
	rng_next(&r);
	p->index = index;
	p->behav = (uint8_t)rng_pick(&r, behav_weight, B_N);
	p->action = (uint8_t)rng_pick(&r, action_weight, A_N);
	p->engine = (uint8_t)(rng_next(&r) % opt.engines);
	p->post_done = rng_int(&r, 0, 3) == 0;
	p->forge = rng_int(&r, 0, 15) == 0;
	p->mode = PIDRING_READY_BIND;
	p->ready_timeout_ms = BIND_TIMEOUT_MS;
	p->code = exit_codes[rng_int(&r, 0, (int)(sizeof(exit_codes) / sizeof(exit_codes[0])) - 1)];
	p->nat = NAT_EXIT;
	p->bind_ms = rng_int(&r, 0, 50);

	switch (p->behav) {
	case B_BIND:
		p->sock_arg = rng_int(&r, 0, 3) == 0;
		p->ready_ms = p->bind_ms;
		p->nat_ms = p->bind_ms + rng_int(&r, 50, 300);
		break;
	case B_LISTEN_LATE:
		p->listen_ms = rng_int(&r, 5, 100);
		p->ready_ms = p->bind_ms + p->listen_ms;
		p->nat_ms = p->ready_ms + rng_int(&r, 50, 200);
		break;
	case B_EXIT_EARLY:
		p->mode = rng_int(&r, 0, 1) ? PIDRING_READY_NOTIFY : PIDRING_READY_BIND;
		p->bind_ms = 0;
		p->nat_ms = rng_int(&r, 0, 100);
		break;
	case B_CRASH:
		p->ready_ms = p->bind_ms;
		p->nat_ms = p->bind_ms + rng_int(&r, 0, 200);
		p->nat = NAT_SIGNAL;
		p->code = SIGSEGV;
		break;
	case B_NEVER_READY:
		p->mode = rng_int(&r, 0, 1) ? PIDRING_READY_NOTIFY : PIDRING_READY_BIND;
		p->bind_ms = 0;
		p->ready_timeout_ms = (unsigned)rng_int(&r, 30, 200);
		p->nat = NAT_TIMEOUT;
		p->nat_ms = (int)p->ready_timeout_ms;
		break;
	case B_IGNORE_TERM:
		p->ready_ms = p->bind_ms;
		p->nat_ms = p->bind_ms + rng_int(&r, 100, 400);
		/* The interesting verb for it: half of them are stopped. */
		if (rng_int(&r, 0, 1))
			p->action = A_STOP;
		break;
	case B_FORK:
		p->ready_ms = p->bind_ms;
		p->nfork = rng_int(&r, 1, 3);
		/* Half of them: grandchildren that ignore SIGTERM. A stop then
		 * kills the leader but not them; they must not outlive the proc
		 * (the teardown scan looks for them). */
		p->gc_ignore_term = rng_int(&r, 0, 1);
		/* A third of them fork a whole tree (children of children). */
		p->tree = rng_int(&r, 0, 2) == 0;
		p->nat = NAT_NONE;
		/*
		 * It never exits on its own: a natural exit runs the reap chain
		 * without a kill (by design), which would orphan the grandchildren.
		 * Something must end it, so it always gets a verb.
		 */
		if (p->action == A_NONE || p->action == A_AFTER_DONE)
			p->action = rng_int(&r, 0, 1) ? A_STOP : A_CANCEL_BINDING;
		break;
	case B_EXEC_FAIL:
		p->mode = (uint8_t)rng_int(&r, 0, 2);
		p->action = A_NONE;
		p->post_done = p->forge = false;
		p->bind_ms = 0;
		break;
	case B_NOTIFY:
		p->mode = PIDRING_READY_NOTIFY;
		p->bind_ms = 0;
		p->notify_ms = rng_int(&r, 0, 50);
		p->status = rng_int(&r, 0, 1);
		p->garbage = rng_int(&r, 0, 7) == 0;
		p->ready_ms = p->notify_ms;
		p->nat_ms = p->notify_ms + rng_int(&r, 50, 300);
		break;
	case B_EXEC_READY:
		p->mode = PIDRING_READY_EXEC;
		p->bind_ms = 0;
		p->ready_timeout_ms = 0;
		p->nat_ms = rng_int(&r, 0, 200);
		break;
	}

	switch (p->action) {
	case A_CANCEL_BINDING: {
		int upto = p->ready_ms > 0 ? p->ready_ms : 50;
		p->act_ms = rng_int(&r, 0, upto);
		break;
	}
	case A_CANCEL_RUNNING: p->act_ms = rng_int(&r, 0, 50); break;
	case A_CANCEL_TWICE:   p->act_ms = rng_int(&r, 0, 100); break;
	case A_STOP:           p->act_ms = rng_int(&r, 0, 150); break;
	case A_STOP_CANCEL:
		p->act_ms = rng_int(&r, 0, 150);
		p->act2_ms = rng_int(&r, 0, 20);
		break;
	case A_CANCEL_STOP:    p->act_ms = rng_int(&r, 0, 100); break;
	case A_AFTER_DONE:     p->post_done = true; break;
	default: break;
	}
	p->grace_ms = (unsigned)rng_int(&r, 5, 100);
}

void hash_bytes(const void *b, size_t n)
{
	const unsigned char *c = b;

	for (size_t i = 0; i < n; i++) {
		st.sched_hash ^= c[i];
		st.sched_hash *= 0x100000001b3ull;
	}
}

void hash_plan(const struct plan *p)
{
	int v[] = { p->behav, p->action, p->mode, p->engine, p->post_done, p->forge,
		    p->sock_arg, p->status, p->garbage, p->gc_ignore_term, p->bind_ms, p->listen_ms,
		    p->notify_ms, p->nat_ms, p->code, p->nfork, p->tree, (int)p->ready_timeout_ms,
		    p->act_ms, p->act2_ms, (int)p->grace_ms };

	hash_bytes(v, sizeof(v));
}

/* Epoch cuts: a separate stream of the same seed. */
unsigned epoch_len(uint64_t epoch)
{
	struct rng r = { opt.seed ^ 0x5bd1e995u ^ (epoch + 1) * 0xd6e8feb86659fd93ull };

	rng_next(&r);
	return (unsigned)(EPOCH_MIN + rng_next(&r) % EPOCH_SPAN);
}

unsigned epoch_delay_ms(uint64_t epoch)
{
	struct rng r = { opt.seed ^ 0x1b873593u ^ (epoch + 1) * 0xa0761d6478bd642full };

	rng_next(&r);
	return (unsigned)(rng_next(&r) % 41);
}
