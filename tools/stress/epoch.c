/* SPDX-License-Identifier: MIT */
/*
 * Epochs: K fresh engines, the run until the cut, the teardown with
 * whatever is in flight, and the checks after it.
 */
#include "stress.h"

/* ---- epochs ---- */

int fd_baseline;
long files_baseline;
uint64_t next_index;
static uint64_t epoch_no;

static volatile sig_atomic_t interrupted;

void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Time to stop spawning: --duration reached, or ^C (a second one kills us;
 * the children die with us through their PDEATHSIG). */
static bool time_up(void)
{
	return interrupted || (opt.duration > 0 && since_start() >= opt.duration);
}

static void wait_tick(int timeout_ms)
{
	unsigned K = opt.engines;

	if (K == 1) {
		if (pidring_live(eng[0].pr) == 0 && timeout_ms > 0) {
			/* pidring_wait returns at once with nothing live. */
			struct timespec ts = { 0, (long)timeout_ms * 1000000L };
			nanosleep(&ts, NULL);
			timeout_ms = 0;
		}
		drain(0, timeout_ms);
	} else {
		struct pollfd pfd[MAX_ENGINES];
		for (unsigned k = 0; k < K; k++)
			pfd[k] = (struct pollfd){ .fd = pidring_fd(eng[k].pr), .events = POLLIN };
		/* pidring_fd polls readable when there is work; the timeout (10 ms at
		 * most) bounds any missed wakeup anyway. */
		poll(pfd, K, timeout_ms);
		for (unsigned k = 0; k < K; k++)
			drain(k, 0);
	}
	for (unsigned k = 0; k < K; k++)
		after_drain(k);
}

/* Run one epoch: K fresh engines; returns false when the run is over. */
bool run_epoch(void)
{
	unsigned K = opt.engines;
	uint64_t end_index;
	bool last;
	uint64_t destroy_at = 0, final_deadline = 0;
	struct pidring_opts po = {
		.runtime_dir = opt.rundir,
		.ring_entries = opt.ring_entries,
		.flags = (opt.no_waitid ? PIDRING_F_NO_WAITID : 0) |
			 (opt.no_clone3 ? PIDRING_F_NO_CLONE3 : 0),
		.max_procs = opt.concurrency + 64 > 4096 ? opt.concurrency + 64 : 0,
		.cgroup_dir = opt.cgroup_dir,
	};

	unsigned len = epoch_len(epoch_no);
	hash_bytes(&len, sizeof(len));
	end_index = next_index + len;
	if (end_index > opt.procs || end_index < next_index)
		end_index = opt.procs;
	nepoch = 0;

	/* The heap baseline: right before the engines exist. Between here and
	 * the last destroy this tool allocates nothing (records, map and rings
	 * were allocated up front; stdout's buffer exists already). */
	size_t heap0 = mallinfo2().uordblks;
	for (unsigned k = 0; k < K; k++) {
		int rc = pidring_new(&eng[k].pr, &po);
		if (rc < 0) {
			violation(NULL, "pidring_new: %s", strerror(-rc));
			while (k--) {
				pidring_destroy(eng[k].pr, DESTROY_MS);
				eng[k].pr = NULL;
			}
			return false;
		}
		eng[k].serial = (unsigned)st.engines++;
		eng[k].ours = 0;
		eng[k].stale_head = eng[k].stale_len = eng[k].stale_ready = 0;
	}

	for (;;) {
		uint64_t t = now_ns();
		bool stop_spawning = next_index >= end_index || time_up();

		/* A few spawns per tick: each blocks us until the child has exec'd,
		 * and a burst of hundreds would starve the engines of pidring_wait
		 * calls (READY would lag the binds by hundreds of ms). */
		for (unsigned n = 0; !stop_spawning && inflight < opt.concurrency &&
				     n < SPAWN_BURST; n++) {
			spawn_one(next_index++);
			stop_spawning = next_index >= end_index || time_up();
		}
		for (unsigned k = 0; k < K; k++)
			stale_checks(k);

		t = now_ns();
		uint64_t next_due = UINT64_MAX;
		for (unsigned i = 0; i < pool_cap; i++) {
			struct rec *r = &pool[i];
			if (!r->used || !r->due)
				continue;
			if (r->due <= t)
				act(r);
			if (r->used && r->due && r->due < next_due)
				next_due = r->due;
		}

		last = next_index >= opt.procs || time_up();
		if (stop_spawning) {
			if (last) {
				if (!final_deadline)
					final_deadline = t + FINAL_DRAIN_MS * MS;
				if (!inflight)
					break;
				if (t >= final_deadline) {
					for (unsigned i = 0; i < pool_cap; i++)
						if (pool[i].used)
							violation(&pool[i], "no DONE %u ms after the last "
								  "spawn", FINAL_DRAIN_MS);
					break;
				}
			} else {
				if (!destroy_at)
					destroy_at = t + epoch_delay_ms(epoch_no) * MS;
				if (t >= destroy_at || !inflight)
					break;
			}
		}

		int timeout = 10;
		if (!stop_spawning && inflight < opt.concurrency)
			timeout = 0;
		if (next_due != UINT64_MAX) {
			uint64_t tt = now_ns();
			int ms = next_due <= tt ? 0 : (int)((next_due - tt + MS - 1) / MS);
			if (ms < timeout)
				timeout = ms;
		}
		if (destroy_at) {
			uint64_t tt = now_ns();
			int ms = destroy_at <= tt ? 0 : (int)((destroy_at - tt + MS - 1) / MS);
			if (ms < timeout)
				timeout = ms;
		}
		wait_tick(timeout);
		progress(false);
	}

	/* Teardown: empty the queues first, so that what destroy discards is
	 * exactly the procs still in flight. */
	for (unsigned k = 0; k < K; k++)
		drain(k, 0);
	for (unsigned k = 0; k < K; k++)
		after_drain(k);

	unsigned destroyed = inflight;
	uint64_t td = now_ns();
	for (unsigned k = 0; k < K; k++) {
		int rc = pidring_destroy(eng[k].pr, DESTROY_MS);
		eng[k].pr = NULL;
		if (rc)
			violation(NULL, "pidring_destroy of engine %u (#%u): %s", k, eng[k].serial,
				  strerror(-rc));
	}
	double dms = (double)(now_ns() - td) / 1e6;
	long long dheap = (long long)mallinfo2().uordblks - (long long)heap0;

	/* Destroy is the end of the procs still in flight: no more events. */
	for (unsigned i = 0; i < pool_cap; i++) {
		struct rec *r = &pool[i];
		if (!r->used)
			continue;
		if (r->esrch_pending)
			violation(r, "a verb returned -ESRCH, but no DONE followed");
		if (r->sock[0]) {
			struct stat sb;
			if (lstat(r->sock, &sb) == 0 || errno != ENOENT) {
				violation(r, "bind socket %s still there after pidring_destroy",
					  r->sock);
				st.leaked_files++;
			}
		}
		long mi = map_find(r->k, r->id);
		if (mi >= 0)
			map_del_at((unsigned)mi);
		st.destroyed++;
		rec_free(r);
	}
	for (unsigned k = 0; k < K; k++)
		eng[k].ours = 0;
	st.teardowns++;

	/*
	 * The first epoch's delta includes what libc may allocate once on the
	 * engine's behalf: reported, not a leak. After it, the engines must give
	 * back every byte: tolerance 0 — when the count is exact (tcache off,
	 * see tcache_off()); otherwise blocks parked in the tcache look in use
	 * and only a delta above HEAP_SLACK counts.
	 */
	if (epoch_no == 0)
		st.heap_first_delta = dheap;
	else if (dheap > (heap_exact ? 0 : HEAP_SLACK)) {
		violation(NULL, "teardown %" PRIu64 ": heap grew by %lld bytes across the "
			  "engines' life", epoch_no + 1, dheap);
		st.leaked_heap += dheap;
	}
	if (epoch_no && dheap > st.heap_max_delta)
		st.heap_max_delta = dheap;

	/* --inject leak-fd: an fd that outlives the first teardown. */
	if (opt.inject && !strcmp(opt.inject, "leak-fd") && epoch_no == 0 &&
	    open("/dev/null", O_RDONLY | O_CLOEXEC) < 0)
		perror("open");
	int fds = count_fds();
	if (fds != fd_baseline) {
		violation(NULL, "teardown %" PRIu64 ": %d fds open, %d at start", epoch_no + 1,
			  fds, fd_baseline);
		if (fds > fd_baseline)
			st.leaked_fds += (uint64_t)(fds - fd_baseline);
	}

	qsort(epoch_procs, nepoch, sizeof(epoch_procs[0]), cmp_eproc);
	unsigned children, desc;
	/* Killed grandchildren die asynchronously (and are not ours to reap):
	 * those with a SIGKILL pending get two seconds. Our own children must
	 * be gone at once. */
	unsigned dying;
	desc = scan_procs(&children, &dying, false);
	for (int i = 0; i < 100 && dying; i++) {
		struct timespec ts = { 0, 20000000L };
		nanosleep(&ts, NULL);
		desc = scan_procs(&children, &dying, false);
	}
	if (children || desc || dying) {
		desc = scan_procs(&children, &dying, true) + dying;
		st.leaked_procs += children + desc;
	}

	long files = rundir_entries(false, false) - files_baseline;
	if (files > 0) {
		rundir_entries(false, true);
		st.leaked_files += (uint64_t)files;
	}
	report_teardown(epoch_no + 1, destroyed, dheap, fds - fd_baseline, children, desc,
			files, dms);
	epoch_no++;
	return !last;
}
