/* SPDX-License-Identifier: MIT */
/*
 * What the run says: violations (counted, the first of each kind told in
 * full with the proc's history), progress and teardown lines, the JSON
 * summary.
 */
#include "stress.h"

/* ---- violations ---- */

static bool progress_dirty;        /* a \r progress line is on the terminal */
bool tty;

void clear_progress(void)
{
	if (progress_dirty) {
		fputs("\r\033[K", stdout);
		fflush(stdout);
		progress_dirty = false;
	}
}

const char *code_name(int c)
{
	switch (c) {
	case CLD_EXITED: return "exited";
	case CLD_KILLED: return "killed";
	case CLD_DUMPED: return "dumped";
	case 0:          return "unknown";
	default:         return "?";
	}
}

double rel_ms(const struct rec *r, uint64_t t)
{
	return t ? ((double)t - (double)r->t_pre) / 1e6 : 0.0;
}

static void describe(FILE *f, const struct rec *r)
{
	const struct plan *p = &r->pl;
	static const char *const mode[] = { "EXEC", "BIND", "NOTIFY" };

	fprintf(f, "  behaviour %s (mode %s", behav_name[p->behav], mode[p->mode]);
	if (p->behav == B_BIND || p->behav == B_LISTEN_LATE || p->behav == B_CRASH ||
	    p->behav == B_IGNORE_TERM || p->behav == B_FORK)
		fprintf(f, ", bind at %d ms, listen +%d ms", p->bind_ms, p->listen_ms);
	if (p->behav == B_NOTIFY)
		fprintf(f, ", READY=1 at %d ms%s%s", p->notify_ms, p->status ? ", STATUS" : "",
			p->garbage ? ", garbage" : "");
	if (p->nfork)
		fprintf(f, ", %d %s%s", p->tree ? p->nfork + p->nfork * p->nfork : p->nfork,
			p->tree ? "descendants in a tree" : "grandchildren",
			p->gc_ignore_term ? " that ignore SIGTERM" : "");
	switch (p->nat) {
	case NAT_EXIT:    fprintf(f, ", exits %d at %d ms", p->code, p->nat_ms); break;
	case NAT_SIGNAL:  fprintf(f, ", dies of signal %d at %d ms", p->code, p->nat_ms); break;
	case NAT_TIMEOUT: fprintf(f, ", never ready, deadline %d ms", p->nat_ms); break;
	default:          fprintf(f, ", never exits on its own"); break;
	}
	fprintf(f, ")\n  action %s", action_name[p->action]);
	switch (p->action) {
	case A_CANCEL_RUNNING: fprintf(f, " (%d ms after READY)", p->act_ms); break;
	case A_STOP:
		fprintf(f, " (at %d ms, grace %u ms)", p->act_ms, p->grace_ms); break;
	case A_STOP_CANCEL:
		fprintf(f, " (stop at %d ms, grace %u ms, cancel %d ms later)", p->act_ms,
			p->grace_ms, p->act2_ms); break;
	case A_CANCEL_BINDING: case A_CANCEL_TWICE: case A_CANCEL_STOP:
		fprintf(f, " (at %d ms)", p->act_ms); break;
	default: break;
	}
	fprintf(f, "%s; calls:", p->post_done ? ", stale-id calls after DONE" : "");
	if (!r->ncalls)
		fprintf(f, " none");
	for (int i = 0; i < r->ncalls; i++)
		fprintf(f, " %s@%.2fms=%d", r->calls[i].what == 'C' ? "cancel" :
			r->calls[i].what == 'S' ? "stop" : "stale", rel_ms(r, r->calls[i].at),
			r->calls[i].rc);
	fprintf(f, "\n  events (ms from spawn call):");
	if (!r->nevs)
		fprintf(f, " none");
	for (int i = 0; i < r->nevs; i++) {
		const struct logged_ev *e = &r->evs[i];
		if (e->type == PIDRING_EV_READY)
			fprintf(f, " READY@%.2f", rel_ms(r, e->at));
		else if (e->type == PIDRING_EV_DONE)
			fprintf(f, " DONE@%.2f %s %s %d", rel_ms(r, e->at), reason_name(e->reason),
				code_name(e->code), e->status);
		else
			fprintf(f, " type%u", e->type);
	}
	fputc('\n', f);
}
struct kind kinds[64];
unsigned nkinds;
void violation(const struct rec *r, const char *fmt, ...)
{
	static unsigned nreported;
	unsigned i;
	va_list ap;

	st.violations++;
	for (i = 0; i < nkinds && kinds[i].fmt != fmt; i++)
		;
	if (i == nkinds && nkinds < sizeof(kinds) / sizeof(kinds[0])) {
		kinds[nkinds++].fmt = fmt;
		va_start(ap, fmt);
		vsnprintf(kinds[i].first, sizeof(kinds[i].first), fmt, ap);
		va_end(ap);
	}
	if (i < nkinds && kinds[i].n++ == REPORTS_PER_KIND) {
		clear_progress();
		fprintf(stderr, "pidring-stress: (more violations like the one above follow, "
			"only counted)\n");
	}
	if (i >= nkinds || kinds[i].n > REPORTS_PER_KIND || nreported >= MAX_REPORTS)
		return;
	nreported++;
	clear_progress();
	fprintf(stderr, "VIOLATION [seed %" PRIu64 "]", opt.seed);
	if (r)
		fprintf(stderr, " proc #%" PRIu64 " engine %u (#%u) id 0x%" PRIx64 " pid %d",
			r->pl.index, r->k, r->eserial, (uint64_t)r->id, (int)r->pid);
	fputs(": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (r)
		describe(stderr, r);
}

void log_call(struct rec *r, char what, int rc, uint64_t at)
{
	if (r->ncalls < (int)(sizeof(r->calls) / sizeof(r->calls[0])))
		r->calls[r->ncalls++] = (struct logged_call){ what, rc, at };
}

void log_ev(struct rec *r, const struct pidring_event *ev)
{
	if (r->nevs < (int)(sizeof(r->evs) / sizeof(r->evs[0])))
		r->evs[r->nevs++] = (struct logged_ev){
			(uint8_t)ev->type, (uint8_t)ev->reason, ev->code, ev->status,
			ev->type == PIDRING_EV_READY ? ev->ready_ns : ev->done_ns };
}

/* ---- progress ---- */

static uint64_t last_progress;

void progress(bool force)
{
	uint64_t t = now_ns();
	uint64_t every = tty ? 200 * MS : 5 * NS;

	if (opt.quiet || (!force && t - last_progress < every))
		return;
	last_progress = t;
	if (tty) {
		printf("\r  spawned %" PRIu64 "  ready %" PRIu64 "  done %" PRIu64 "  cancelled %"
		       PRIu64 "  stopped %" PRIu64 "  in flight %u  engines %" PRIu64
		       "  violations %" PRIu64 "  %.1fs\033[K", st.spawned, st.ready, st.done,
		       st.cancelled, st.stopped, inflight, st.engines, st.violations,
		       since_start());
		progress_dirty = true;
	} else {
		printf("  spawned %" PRIu64 " ready %" PRIu64 " done %" PRIu64 " cancelled %"
		       PRIu64 " stopped %" PRIu64 " in-flight %u engines %" PRIu64
		       " violations %" PRIu64 " elapsed %.1fs\n", st.spawned, st.ready, st.done,
		       st.cancelled, st.stopped, inflight, st.engines, st.violations,
		       since_start());
	}
	fflush(stdout);
}

void report_teardown(uint64_t n, unsigned destroyed, long long dheap, int fds,
			    unsigned children, unsigned desc, long files, double ms)
{
	if (opt.quiet)
		return;
	clear_progress();
	printf("  teardown %" PRIu64 ": %u procs in flight destroyed in %.1f ms; heap %+lld B, "
	       "fds %+d, children %u, descendants %u, files %ld\n", n, destroyed, ms, dheap,
	       fds, children, desc, files);
	fflush(stdout);
}

void json_summary(double secs, int exitc)
{
	printf("{\"procs\":%" PRIu64 ",\"spawned\":%" PRIu64 ",\"ready\":%" PRIu64
	       ",\"done\":%" PRIu64 ",\"exited\":%" PRIu64 ",\"exited_early\":%" PRIu64
	       ",\"cancelled\":%" PRIu64 ",\"stopped\":%" PRIu64 ",\"timeouts\":%" PRIu64
	       ",\"exec_failures\":%" PRIu64 ",\"destroyed_in_flight\":%" PRIu64
	       ",\"ready_missed\":%" PRIu64 ",\"cancel_calls\":%" PRIu64 ",\"stop_calls\":%"
	       PRIu64 ",\"stale_checks\":%" PRIu64 ",\"forged_checks\":%" PRIu64
	       ",\"engines\":%" PRIu64 ",\"teardowns\":%" PRIu64 ",\"violations\":%" PRIu64
	       ",\"leaked_procs\":%" PRIu64 ",\"leaked_fds\":%" PRIu64 ",\"leaked_files\":%"
	       PRIu64 ",\"leaked_heap\":%lld,\"heap_first_delta\":%lld,\"heap_max_delta\":%lld"
	       ",\"seconds\":%.2f,\"seed\":%" PRIu64 ",\"schedule\":\"%016" PRIx64 "\""
	       ",\"concurrency\":%u,\"engines_at_once\":%u,\"waitid\":%s,\"clone3\":%s,"
	       "\"ok\":%s}\n",
	       next_index, st.spawned, st.ready, st.done, st.exited, st.exited_early,
	       st.cancelled, st.stopped, st.timeouts, st.exec_failures, st.destroyed,
	       st.ready_missed, st.cancel_calls, st.stop_calls, st.stale_checks,
	       st.forged_checks, st.engines, st.teardowns, st.violations, st.leaked_procs,
	       st.leaked_fds, st.leaked_files, st.leaked_heap, st.heap_first_delta,
	       st.heap_max_delta, secs, opt.seed, st.sched_hash, opt.concurrency, opt.engines,
	       opt.no_waitid ? "false" : "true", opt.no_clone3 ? "false" : "true",
	       exitc == 0 ? "true" : "false");
}

/* The last lines: how to reproduce a failed run, the totals, the JSON. */
void report_end(const char *argv0, double secs, int exitc)
{
	if (exitc) {
		printf("reproduce: %s --seed %" PRIu64, argv0, opt.seed);
		if (opt.procs != UINT64_MAX)
			printf(" --procs %" PRIu64, opt.procs);
		if (opt.duration_set)
			printf(" --duration %g", opt.duration);
		if (opt.ring_entries)
			printf(" --ring-entries %u", opt.ring_entries);
		printf(" --concurrency %u --engines %u%s%s\n", opt.concurrency, opt.engines,
		       opt.no_waitid ? " --no-waitid" : "", opt.no_clone3 ? " --no-clone3" : "");
	}
	printf("%s: %" PRIu64 " procs, %" PRIu64 " spawned, %" PRIu64 " ready, %" PRIu64
	       " done (%" PRIu64 " exited, %" PRIu64 " exited early, %" PRIu64 " cancelled, %"
	       PRIu64 " stopped, %" PRIu64 " timeouts), %" PRIu64 " destroyed in flight, %"
	       PRIu64 " exec failures, %" PRIu64 " engines, %" PRIu64 " violations, leaked: %"
	       PRIu64 " procs %" PRIu64 " fds %" PRIu64 " files %lld heap bytes; %.1f s, "
	       "seed %" PRIu64 ", schedule %016" PRIx64 "\n",
	       exitc ? "FAIL" : "OK", next_index, st.spawned, st.ready, st.done, st.exited,
	       st.exited_early, st.cancelled, st.stopped, st.timeouts, st.destroyed,
	       st.exec_failures, st.engines, st.violations, st.leaked_procs, st.leaked_fds,
	       st.leaked_files, st.leaked_heap, secs, opt.seed, st.sched_hash);
	if (opt.json)
		json_summary(secs, exitc);
}
