/*
 * pidring driven by a libuv loop.
 *
 * The engine keeps its own ring; a uv_poll_t watches pidring_fd() and its
 * callback calls pidring_wait(pr, ev, max, 0), which never blocks. The
 * program's own I/O is plain libuv: a uv_pipe_t per runner, connected to
 * the runner's socket, a line written, the same line read back.
 *
 * It spawns 100 bind runners, waits until all are READY, talks to each,
 * stops them all with a grace, waits for every DONE, destroys the engine
 * and checks that nothing is left: no child, no extra fd, no socket file.
 * Exit 0 only then, else 1 with a one-line reason.
 *
 * Usage: libuv_loop [path-to-runner]   (default: $PIDRING_CHILD, then
 * build/pidring-child).
 * Build: cc libuv_loop.c $(pkg-config --cflags --libs libuv) -lpidring -luring
 */
#define _GNU_SOURCE
#include "common.h"

#include <signal.h>
#include <uv.h>

/* One runner and our connection to it. */
struct conn {
	pidring_id id;
	unsigned index;
	uv_pipe_t pipe;
	uv_connect_t connect;
	uv_write_t write;
	int open;              /* pipe initialised and not yet closed */
	char req[32];          /* what we send */
	char ans[32];          /* what came back so far */
	size_t got;
};

static struct start st;
static struct pidring *pr;
static uv_loop_t loop;
static uv_poll_t engine;     /* watches pidring_fd */
static uv_timer_t deadline;  /* gives up after DEADLINE_S */
static struct conn conns[RUNNERS];
static unsigned ready, answered, done;
static int failed, closing;

/* Close every handle; uv_run returns once they are all closed. */
static void close_all(void)
{
	if (closing)
		return;
	closing = 1;
	uv_close((uv_handle_t *)&engine, NULL);
	uv_close((uv_handle_t *)&deadline, NULL);
	for (int i = 0; i < RUNNERS; i++)
		if (conns[i].open) {
			uv_close((uv_handle_t *)&conns[i].pipe, NULL);
			conns[i].open = 0;
		}
}

static void conn_fail(struct conn *c, const char *what, int err)
{
	if (!failed)
		failed = say(&st, "runner %u: %s: %s", c->index, what, uv_strerror(err));
	close_all();
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init(c->ans + c->got, (unsigned)(sizeof(c->ans) - 1 - c->got));
}

/* Take what came; at EOF the answer must be the request. */
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	(void)buf;
	if (n > 0)
		c->got += (size_t)n;
	if (n == 0 || (n > 0 && c->got < sizeof(c->ans) - 1))
		return;                    /* nothing yet, or more to come */
	if (n < 0 && n != UV_EOF) {
		conn_fail(c, "read", (int)n);
		return;
	}
	c->ans[c->got] = '\0';
	if (strcmp(c->ans, c->req)) {
		failed = say(&st, "runner %u: the answer is not the request", c->index);
		close_all();
		return;
	}
	uv_close((uv_handle_t *)&c->pipe, NULL);
	c->open = 0;
	/* Everyone answered: stop them all. SIGTERM now, SIGKILL after the
	 * grace; each DONE comes through pidring_fd like any event. */
	if (++answered == RUNNERS)
		for (int i = 0; i < RUNNERS && !failed; i++)
			if ((failed = stop_runner(pr, &st, conns[i].id)))
				close_all();
}

static void on_written(uv_write_t *w, int status)
{
	/* ECANCELED: the pipe was closed under it, after a failure. */
	if (status < 0 && status != UV_ECANCELED)
		conn_fail(w->handle->data, "write", status);
}

static void on_connected(uv_connect_t *req, int status)
{
	struct conn *c = req->handle->data;
	uv_buf_t buf = uv_buf_init(c->req, (unsigned)strlen(c->req));
	int r;

	if (status < 0) {
		if (status != UV_ECANCELED)
			conn_fail(c, "connect", status);
		return;
	}
	r = uv_write(&c->write, req->handle, &buf, 1, on_written);
	if (r == 0)
		r = uv_read_start(req->handle, on_alloc, on_read);
	if (r < 0)
		conn_fail(c, "write or read_start", r);
}

/* uv_pipe_connect makes a non-blocking socket; on_connected says how it went. */
static void conn_start(struct conn *c)
{
	char path[108];
	int r = pidring_socket_path(pr, c->id, path, sizeof(path));

	if (r < 0) {
		failed = say(&st, "runner %u: pidring_socket_path: %s", c->index, strerror(-r));
		close_all();
		return;
	}
	request_line(c->req, sizeof(c->req), c->index);
	uv_pipe_init(&loop, &c->pipe, 0);
	c->pipe.data = c;
	c->open = 1;
	uv_pipe_connect(&c->connect, &c->pipe, path, on_connected);
}

static void on_event(const struct pidring_event *ev)
{
	if (ev->type == PIDRING_EV_READY) {
		/* Everyone is up: connect to them all. */
		if (++ready == RUNNERS)
			for (int i = 0; i < RUNNERS && !closing; i++)
				conn_start(&conns[i]);
		return;
	}
	if (bad_done(&st, ev)) {
		failed = 1;
		close_all();
	} else if (++done == RUNNERS) {
		close_all();               /* the loop has nothing left to do */
	}
}

/*
 * pidring_fd is readable: call pidring_wait(..., 0) until it has nothing
 * more. It collects the ring's completions as well as handing out events,
 * and resets the fd; an engine left with events queued keeps the fd
 * readable, and libuv (level-triggered) calls us again.
 */
static void on_engine(uv_poll_t *h, int status, int events)
{
	struct pidring_event ev[32];
	int n = 0;

	(void)h;
	(void)events;
	if (status < 0) {
		failed = say(&st, "uv_poll: %s", uv_strerror(status));
		close_all();
		return;
	}
	while (!closing && (n = pidring_wait(pr, ev, 32, 0)) > 0)
		for (int i = 0; i < n && !closing; i++)
			on_event(&ev[i]);
	if (n < 0) {
		failed = say(&st, "pidring_wait: %s", strerror(-n));
		close_all();
	}
}

static void on_deadline(uv_timer_t *t)
{
	(void)t;
	failed = say(&st, "gave up after %d s: %u ready, %u answered, %u done",
		     DEADLINE_S, ready, answered, done);
	close_all();
}

int main(int argc, char **argv)
{
	struct pidring_opts o = { 0 };
	int r, fd;

	if (start(&st, "libuv_loop", argc, argv))
		return 1;
	/* libuv writes with write(2): a runner that went away would kill us
	 * with SIGPIPE instead of failing the write with EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	o.runtime_dir = st.rundir;
	r = pidring_new(&pr, &o);
	if (r < 0)
		return say(&st, "pidring_new: %s", strerror(-r));
	/* Before the first spawn: the engine is idle, so it can move to a ring
	 * that signals the fd as completions happen (see pidring_fd). */
	fd = pidring_fd(pr);
	if (fd < 0)
		return say(&st, "pidring_fd: %s", strerror(-fd));
	r = uv_loop_init(&loop);
	if (r == 0)
		r = uv_poll_init(&loop, &engine, fd);
	if (r == 0)
		r = uv_poll_start(&engine, UV_READABLE, on_engine);
	if (r < 0)
		return say(&st, "libuv: %s", uv_strerror(r));
	uv_timer_init(&loop, &deadline);
	uv_timer_start(&deadline, on_deadline, DEADLINE_S * 1000, 0);

	for (int i = 0; i < RUNNERS && !failed; i++) {
		conns[i].index = (unsigned)i;
		failed = spawn_runner(pr, &st, &conns[i], &conns[i].id);
	}
	if (failed)
		close_all();
	uv_run(&loop, UV_RUN_DEFAULT);

	/* Every handle is closed now, the poll on pidring_fd among them: only
	 * then may pidring_destroy close that fd. On success nothing is live
	 * and it returns at once; after a failure it kills and reaps the rest. */
	r = pidring_destroy(pr, 5000);
	if (r < 0 && !failed)
		failed = say(&st, "pidring_destroy: %s", strerror(-r));
	r = uv_loop_close(&loop);
	if (r < 0 && !failed)
		failed = say(&st, "uv_loop_close: %s", uv_strerror(r));
	/* libuv keeps a process-wide pipe for signals; release it before the
	 * fd count (a long-lived program would not bother). */
	uv_library_shutdown();
	if (finish(&st, failed))
		return 1;
	printf("libuv_loop: %u ready, %u answered, %u done, clean\n", ready, answered, done);
	return 0;
}
