/* SPDX-License-Identifier: MIT */
/*
 * The auditor: /proc and runtime-dir scans (children, descendants, fds,
 * files) and the check of every DONE against the plan and the verbs.
 */
#include "stress.h"

/* ---- /proc and directory scans ---- */

int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && atoi(de->d_name) != dirfd(d))
			n++;
	closedir(d);
	return n;
}
struct eproc epoch_procs[EPOCH_MAX];
size_t nepoch;

/* A group SIGKILL marks every member's pending set at once: such a process is
 * on its way out, not a leftover (yet). */
static bool sigkill_pending(const char *pid)
{
	char path[300], buf[2048];
	unsigned long long mask = 0, m;
	const char *keys[] = { "SigPnd:", "ShdPnd:" };
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;   /* gone already */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	for (int i = 0; i < 2; i++) {
		const char *p = strstr(buf, keys[i]);
		if (p && sscanf(p + strlen(keys[i]), " %llx", &m) == 1)
			mask |= m;
	}
	return mask & (1ull << (SIGKILL - 1));
}

int cmp_eproc(const void *a, const void *b)
{
	pid_t x = ((const struct eproc *)a)->pid, y = ((const struct eproc *)b)->pid;

	return (x > y) - (x < y);
}

/*
 * Our leftovers: processes whose parent is us (zombies included), and live
 * descendants of our procs — a pidring-child in our session whose process
 * group is one that a proc of this epoch led (epoch_procs, sorted). A
 * grandchild that outlives its proc has been reparented, so it is no longer
 * our child; comm and session guard against a pid recycled by somebody else
 * (pid_max may be small). With report, each is a violation, and a leftover
 * descendant is then killed: it would sleep forever on this machine.
 */
unsigned scan_procs(unsigned *children, unsigned *dying, bool report)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	unsigned desc = 0;

	*children = *dying = 0;
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct pstat ps;

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || !read_stat(de->d_name, &ps))
			continue;
		if (ps.ppid == me) {
			(*children)++;
			if (report)
				violation(NULL, "leftover child pid %d (%s) state %c", (int)ps.pid,
					  ps.comm, ps.state);
			continue;
		}
		struct eproc key = { .pid = ps.pgrp }, *ep;
		if (ps.state == 'Z' || ps.state == 'X' || ps.sid != my_sid ||
		    strcmp(ps.comm, "pidring-child") ||
		    !(ep = bsearch(&key, epoch_procs, nepoch, sizeof(key), cmp_eproc)))
			continue;
		if (!report && sigkill_pending(de->d_name)) {
			(*dying)++;
			continue;
		}
		desc++;
		if (!report)
			continue;
		struct plan pl;
		make_plan(ep->index, &pl);   /* the plan is a function of the index */
		violation(NULL, "pid %d (state %c, parent %d) of the process group of proc #%"
			  PRIu64 " (pid %d, %s%s, action %s at %d ms, grace %u ms) is alive after "
			  "that proc ended: %s %s %d", (int)ps.pid, ps.state, (int)ps.ppid,
			  ep->index, (int)ep->pid, behav_name[ep->behav],
			  ep->gc_ignore_term ? ", grandchildren ignore SIGTERM" : "",
			  action_name[ep->action], pl.act_ms, pl.grace_ms,
			  ep->reason ? reason_name(ep->reason) : "destroyed in flight",
			  ep->reason ? code_name(ep->code) : "", ep->status);
		kill(ps.pid, SIGKILL);
	}
	closedir(d);
	return desc;
}

/* Entries below dirfd, recursively; with remove, unlink them as it goes. */
static long walk_dir(int dfd, bool remove, bool report, const char *where)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	long n = 0;

	if (!d) {
		close(dfd);
		return 0;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n++;
		if (report)
			violation(NULL, "file left in the runtime dir: %s/%s", where, de->d_name);
		if (de->d_type == DT_DIR) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY |
					 O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				char w[PATH_MAX];
				snprintf(w, sizeof(w), "%s/%s", where, de->d_name);
				n += walk_dir(sub, remove, report, w);
			}
			if (remove)
				unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
		} else if (remove) {
			unlinkat(dirfd(d), de->d_name, 0);
		}
	}
	closedir(d);
	return n;
}

long rundir_entries(bool remove, bool report)
{
	int dfd = open(opt.rundir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return 0;
	return walk_dir(dfd, remove, report, opt.rundir);
}

/* ---- the audit ---- */

/* Procs meant to get ready that ended on their own, untouched, by mode. */
uint64_t ready_by_mode[3], missed_by_mode[3];

bool can_ready(const struct plan *p)
{
	return p->behav != B_EXIT_EARLY && p->behav != B_NEVER_READY &&
	       p->behav != B_EXEC_FAIL;
}

static bool is_natural_status(const struct plan *p, int code, int status)
{
	if (p->nat == NAT_EXIT)
		return code == CLD_EXITED && status == p->code;
	if (p->nat == NAT_SIGNAL)
		/* No core is written (RLIMIT_CORE 0, not dumpable), but either is a
		 * death by that signal. */
		return (code == CLD_KILLED || code == CLD_DUMPED) && status == p->code;
	return false;
}

/*
 * Could the proc have ended on its own (exit, crash, ready deadline) before
 * the first verb we applied to it returned? Its natural end comes at least
 * nat_ms after its start, and it starts after we called pidring_spawn
 * (t_pre), so when the verb returned before t_pre + nat_ms it cannot have.
 */
static bool natural_before_verb(const struct rec *r)
{
	if (r->pl.nat == NAT_NONE)
		return false;
	if (!r->eff)
		return true;
	return r->eff_end >= r->t_pre + (uint64_t)r->pl.nat_ms * MS;
}

/*
 * What DONE may say, given the behaviour and what we did. The allowances for
 * races, each needed for a correct run:
 *
 *  - A verb (cancel/stop) that comes while the proc is ending on its own is a
 *    no-op if the engine already knew (the reason stays EXITED, EXITED_EARLY,
 *    READY_TIMEOUT), and otherwise wins (CANCELLED/STOPPED) even though the
 *    status may be the child's own exit. Both are allowed only when the natural
 *    end could have happened before the verb returned (natural_before_verb);
 *    otherwise the verb's reason and SIGKILL/SIGTERM status are required.
 *  - A proc that becomes ready and later exits may be EXITED_EARLY when it
 *    exited before the engine confirmed the bind/notify (a loaded machine):
 *    the reason must match whether READY was delivered, both ways; these are
 *    counted (ready_missed) and a run where most are missed is a violation.
 *  - STOPPED may carry SIGTERM (the child died of it), SIGKILL (the grace ran
 *    out, or a cancel escalated the stop), or the natural status (above; and
 *    a proc that ignores SIGTERM may also reach its own end during the grace,
 *    so for it any natural end before DONE will do). A
 *    proc that ignores SIGTERM can only die of it when the stop reached it
 *    before it had run its first instruction (it ignores SIGTERM first thing,
 *    before binding): so not if READY was delivered before the stop.
 *  - A cancel after a stop keeps STOPPED; a stop after a cancel is a no-op.
 */
void audit_done(struct rec *r, const struct pidring_event *ev)
{
	const struct plan *p = &r->pl;
	bool ready = r->nready > 0;
	bool nat_ok = natural_before_verb(r);
	bool natural = is_natural_status(p, ev->code, ev->status);
	bool k9 = ev->code == CLD_KILLED && ev->status == SIGKILL;
	bool t15 = ev->code == CLD_KILLED && ev->status == SIGTERM;
	uint64_t life = ev->done_ns - ev->spawn_ns;

	if (ev->done_ns < ev->spawn_ns || (ready && ev->done_ns < r->ready_ns))
		violation(r, "DONE timestamps out of order (spawn %" PRIu64 " ready %" PRIu64
			  " done %" PRIu64 ")", ev->spawn_ns, ev->ready_ns, ev->done_ns);
	if (ready ? ev->ready_ns != r->ready_ns : ev->ready_ns != 0)
		violation(r, "DONE ready_ns %" PRIu64 " disagrees with the READY event (%" PRIu64 ")",
			  ev->ready_ns, ready ? r->ready_ns : 0);

	switch (ev->reason) {
	case PIDRING_EXITED:
	case PIDRING_EXITED_EARLY:
		if (p->nat != NAT_EXIT && p->nat != NAT_SIGNAL)
			violation(r, "%s, but this proc never exits on its own",
				  reason_name(ev->reason));
		else if (!nat_ok)
			violation(r, "%s, but our %s returned at %.2f ms, before it could have "
				  "exited (%d ms)", reason_name(ev->reason),
				  r->eff == 'C' ? "cancel" : "stop", rel_ms(r, r->eff_end), p->nat_ms);
		else if (!natural)
			violation(r, "%s with %s %d, expected its own end", reason_name(ev->reason),
				  code_name(ev->code), ev->status);
		else if ((ev->reason == PIDRING_EXITED) != ready)
			violation(r, "%s but READY was %sdelivered", reason_name(ev->reason),
				  ready ? "" : "not ");
		else if (life < (uint64_t)p->nat_ms * MS)
			violation(r, "%s after %.2f ms, the child exits at %d ms",
				  reason_name(ev->reason), (double)life / 1e6, p->nat_ms);
		if (ev->reason == PIDRING_EXITED)
			st.exited++;
		else
			st.exited_early++;
		if (can_ready(p) && !r->eff) {
			if (ev->reason == PIDRING_EXITED_EARLY) {
				st.ready_missed++;
				missed_by_mode[p->mode]++;
			} else {
				ready_by_mode[p->mode]++;
			}
		}
		break;
	case PIDRING_READY_TIMEOUT:
		st.timeouts++;
		if (p->nat != NAT_TIMEOUT)
			violation(r, "READY_TIMEOUT, but its deadline is %u ms", p->ready_timeout_ms);
		else if (ready)
			violation(r, "READY_TIMEOUT after READY");
		else if (!nat_ok)
			violation(r, "READY_TIMEOUT, but our %s returned at %.2f ms, before the "
				  "deadline (%u ms)", r->eff == 'C' ? "cancel" : "stop",
				  rel_ms(r, r->eff_end), p->ready_timeout_ms);
		else if (!k9)
			violation(r, "READY_TIMEOUT with %s %d, expected SIGKILL",
				  code_name(ev->code), ev->status);
		else if (life < (uint64_t)p->ready_timeout_ms * MS)
			violation(r, "READY_TIMEOUT after %.2f ms, deadline %u ms",
				  (double)life / 1e6, p->ready_timeout_ms);
		break;
	case PIDRING_CANCELLED:
		st.cancelled++;
		if (r->eff != 'C')
			violation(r, "CANCELLED, but %s", r->eff == 'S' ? "it was stopped first" :
				  "we never cancelled it");
		else if (!k9 && !(natural && nat_ok))
			violation(r, "CANCELLED with %s %d, expected SIGKILL%s", code_name(ev->code),
				  ev->status, nat_ok ? " or its own end" : "");
		break;
	case PIDRING_STOPPED:
		st.stopped++;
		if (r->eff != 'S')
			violation(r, "STOPPED, but %s", r->eff == 'C' ? "it was cancelled first" :
				  "we never stopped it");
		else if (t15 && p->behav == B_IGNORE_TERM && r->ready_before_eff)
			violation(r, "STOPPED by SIGTERM, but it ignores SIGTERM and was ready "
				  "before the stop");
		else if (!k9 && !t15 && !(natural && (nat_ok || (p->behav == B_IGNORE_TERM &&
							       life >= (uint64_t)p->nat_ms * MS))))
			violation(r, "STOPPED with %s %d, expected SIGTERM or SIGKILL%s",
				  code_name(ev->code), ev->status, nat_ok ? " or its own end" : "");
		break;
	default:
		violation(r, "DONE with unknown reason %d", (int)ev->reason);
		break;
	}
}
