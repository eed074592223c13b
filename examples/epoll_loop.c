/*
 * pidring driven by a plain epoll loop.
 *
 * The engine keeps its own ring; the loop only needs pidring_fd(), which
 * polls readable when there may be something to do, and
 * pidring_wait(pr, ev, max, 0), which does it and never blocks. The same
 * loop does the program's own I/O: here, a non-blocking connection to each
 * runner, a line written, the same line read back.
 *
 * It spawns 100 bind runners, waits until all are READY, talks to each,
 * stops them all with a grace, waits for every DONE, destroys the engine
 * and checks that nothing is left: no child, no extra fd, no socket file.
 * Exit 0 only then, else 1 with a one-line reason.
 *
 * Usage: epoll_loop [path-to-runner]   (default: $PIDRING_CHILD, then
 * build/pidring-child). Build: cc epoll_loop.c -lpidring -luring
 */
#define _GNU_SOURCE
#include "common.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

/* One runner and our connection to it. */
struct conn {
	pidring_id id;
	unsigned index;
	int fd;                /* our socket to the runner; -1 when closed */
	char req[32];          /* what we send */
	char ans[32];          /* what came back so far */
	size_t sent, got;
};

static struct start st;
static struct pidring *pr;
static int ep = -1;
static struct conn conns[RUNNERS];
static unsigned ready, answered, done;
static int failed;

static int conn_fail(struct conn *c, const char *what, int err)
{
	failed = say(&st, "runner %u: %s: %s", c->index, what, strerror(err));
	return -1;
}

/* Start a non-blocking connect; the socket says when it is writable. */
static void conn_start(struct conn *c)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };
	int r;

	r = pidring_socket_path(pr, c->id, sun.sun_path, sizeof(sun.sun_path));
	if (r < 0) {
		conn_fail(c, "pidring_socket_path", -r);
		return;
	}
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		conn_fail(c, "socket", errno);
		return;
	}
	/* AF_UNIX connects at once or fails with EAGAIN (backlog full); a TCP
	 * socket would say EINPROGRESS and finish later: both end in EPOLLOUT. */
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 && errno != EINPROGRESS) {
		conn_fail(c, "connect", errno);
		return;
	}
	request_line(c->req, sizeof(c->req), c->index);
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e) < 0)
		conn_fail(c, "epoll_ctl", errno);
}

/* Writable: send the rest of the request, then wait for the answer. */
static void conn_write(struct conn *c)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
	size_t len = strlen(c->req);
	int err = 0;
	socklen_t elen = sizeof(err);
	ssize_t n;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err) {
		conn_fail(c, "connect", err);
		return;
	}
	n = send(c->fd, c->req + c->sent, len - c->sent, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno != EAGAIN)
			conn_fail(c, "send", errno);
		return;
	}
	c->sent += (size_t)n;
	if (c->sent == len && epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0)
		conn_fail(c, "epoll_ctl", errno);
}

/* Readable: take what came; at EOF the answer must be the request. */
static void conn_read(struct conn *c)
{
	ssize_t n = recv(c->fd, c->ans + c->got, sizeof(c->ans) - 1 - c->got, 0);

	if (n < 0) {
		if (errno != EAGAIN)
			conn_fail(c, "recv", errno);
		return;
	}
	c->got += (size_t)n;
	if (n > 0 && c->got < sizeof(c->ans) - 1)
		return;
	c->ans[c->got] = '\0';
	if (strcmp(c->ans, c->req)) {
		failed = say(&st, "runner %u: the answer is not the request", c->index);
		return;
	}
	close(c->fd);          /* also takes it out of the epoll set */
	c->fd = -1;
	/* Everyone answered: stop them all. SIGTERM now, SIGKILL after the
	 * grace; each DONE comes through pidring_fd like any event. */
	if (++answered == RUNNERS)
		for (int i = 0; i < RUNNERS && !failed; i++)
			failed = stop_runner(pr, &st, conns[i].id);
}

static void on_event(const struct pidring_event *ev)
{
	if (ev->type == PIDRING_EV_READY) {
		/* Everyone is up: connect to them all. */
		if (++ready == RUNNERS)
			for (int i = 0; i < RUNNERS; i++)
				conn_start(&conns[i]);
		return;
	}
	done++;
	if (bad_done(&st, ev))
		failed = 1;
}

/*
 * pidring_fd is readable: call pidring_wait(..., 0) until it has nothing
 * more. It collects the ring's completions as well as handing out events,
 * and resets the fd; an engine left with events queued keeps the fd
 * readable, which a level-triggered epoll reports on the next turn.
 */
static void on_engine(void)
{
	struct pidring_event ev[32];
	int n = 0;

	while (!failed && (n = pidring_wait(pr, ev, 32, 0)) > 0)
		for (int i = 0; i < n && !failed; i++)
			on_event(&ev[i]);
	if (n < 0)
		failed = say(&st, "pidring_wait: %s", strerror(-n));
}

static void run(void)
{
	struct epoll_event evs[64];

	while (done < RUNNERS && !failed) {
		int n = epoll_wait(ep, evs, 64, 1000);

		if (n < 0 && errno != EINTR) {
			failed = say(&st, "epoll_wait: %s", strerror(errno));
			return;
		}
		for (int i = 0; i < n && !failed; i++) {
			struct conn *c = evs[i].data.ptr;

			/* By the connection's step, not by the event's bits:
			 * an error or hang-up shows in both. */
			if (!c)
				on_engine();
			else if (c->fd >= 0 && c->sent < strlen(c->req))
				conn_write(c);
			else if (c->fd >= 0)
				conn_read(c);
		}
		if (now_s() > st.deadline)
			failed = say(&st, "gave up after %d s: %u ready, %u answered, %u done",
				     DEADLINE_S, ready, answered, done);
	}
}

int main(int argc, char **argv)
{
	struct pidring_opts o = { 0 };
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
	int r, fd;

	if (start(&st, "epoll_loop", argc, argv))
		return 1;
	o.runtime_dir = st.rundir;
	r = pidring_new(&pr, &o);
	if (r < 0)
		return say(&st, "pidring_new: %s", strerror(-r));
	/* Before the first spawn: the engine is idle, so it can move to a ring
	 * that signals the fd as completions happen (see pidring_fd). */
	fd = pidring_fd(pr);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0)
		return say(&st, "pidring_fd or epoll: %s", fd < 0 ? strerror(-fd) : strerror(errno));

	for (int i = 0; i < RUNNERS && !failed; i++) {
		conns[i].index = (unsigned)i;
		conns[i].fd = -1;
		failed = spawn_runner(pr, &st, &conns[i], &conns[i].id);
	}
	run();

	/* On success nothing is live and this returns at once; after a failure
	 * it kills and reaps whatever is left, sockets included. */
	r = pidring_destroy(pr, 5000);
	if (r < 0 && !failed)
		failed = say(&st, "pidring_destroy: %s", strerror(-r));
	for (int i = 0; i < RUNNERS; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	close(ep);
	if (finish(&st, failed))
		return 1;
	printf("epoll_loop: %u ready, %u answered, %u done, clean\n", ready, answered, done);
	return 0;
}
