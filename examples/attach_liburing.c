/*
 * pidring in attach mode: the engine shares the program's own io_uring.
 *
 * The program runs one liburing loop. pidring puts its SQEs on that ring;
 * the loop reaps every CQE, hands the engine's to pidring_handle_cqe (one
 * mask test tells them apart) and handles its own: here, a CONNECT, a
 * WRITE and READs per runner, issued on the same ring.
 *
 * It spawns 100 bind runners, waits until all are READY, talks to each
 * (a line written, the same line read back), stops them all with a grace,
 * waits for every DONE, destroys the engine and checks that nothing is
 * left: no child, no extra fd, no socket file. Exit 0 only then, else 1
 * with a one-line reason.
 *
 * Usage: attach_liburing [path-to-runner]   (default: $PIDRING_CHILD, then
 * build/pidring-child). Build: cc attach_liburing.c -lpidring -luring
 */
#define _GNU_SOURCE
#include "common.h"

#include <liburing.h>
#include <sys/socket.h>
#include <sys/un.h>

/* One runner and the program's own operation on it, one at a time. */
struct conn {
	pidring_id id;
	unsigned index;
	int fd;                /* our socket to the runner; -1 when closed */
	struct sockaddr_un sun;
	char req[32];          /* what we send */
	char ans[32];          /* what came back so far */
	size_t got;
	enum { C_CONNECT, C_WRITE, C_READ } step;
};

static struct start st;
static struct pidring *pr;
static struct io_uring ring;
static struct conn conns[RUNNERS];
static unsigned ready, answered, done;
static int failed;

/* An SQE of ours; a full SQ is submitted first (pidring's SQEs with it). */
static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	if (!sqe && io_uring_submit(&ring) >= 0)
		sqe = io_uring_get_sqe(&ring);
	if (!sqe)
		failed = say(&st, "no SQE");
	return sqe;
}

/* The next step's SQE: a pointer as user_data, never pidring's tag. */
static void conn_step(struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe();

	if (!sqe)
		return;
	if (c->step == C_CONNECT)
		io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&c->sun, sizeof(c->sun));
	else if (c->step == C_WRITE)
		io_uring_prep_send(sqe, c->fd, c->req, strlen(c->req), MSG_NOSIGNAL);
	else
		io_uring_prep_recv(sqe, c->fd, c->ans + c->got, sizeof(c->ans) - 1 - c->got, 0);
	io_uring_sqe_set_data(sqe, c);
}

static void conn_start(struct conn *c)
{
	int r;

	c->sun.sun_family = AF_UNIX;
	r = pidring_socket_path(pr, c->id, c->sun.sun_path, sizeof(c->sun.sun_path));
	if (r < 0) {
		failed = say(&st, "runner %u: pidring_socket_path: %s", c->index, strerror(-r));
		return;
	}
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		failed = say(&st, "runner %u: socket: %s", c->index, strerror(errno));
		return;
	}
	request_line(c->req, sizeof(c->req), c->index);
	c->step = C_CONNECT;
	conn_step(c);
}

/* One of our own completions: connected, wrote, read up to EOF. */
static void on_own_cqe(const struct io_uring_cqe *cqe)
{
	struct conn *c = io_uring_cqe_get_data(cqe);

	if (failed)
		return;                    /* winding down: only the engine matters */
	if (cqe->res < 0) {
		failed = say(&st, "runner %u: step %d: %s", c->index, c->step, strerror(-cqe->res));
		return;
	}
	if (c->step == C_CONNECT || c->step == C_WRITE) {
		/* A short send of a few bytes on a fresh AF_UNIX socket does not
		 * happen; a real program would send the rest. */
		if (c->step == C_WRITE && (size_t)cqe->res != strlen(c->req)) {
			failed = say(&st, "runner %u: short send", c->index);
			return;
		}
		c->step = c->step == C_CONNECT ? C_WRITE : C_READ;
		conn_step(c);
		return;
	}
	c->got += (size_t)cqe->res;
	if (cqe->res > 0 && c->got < sizeof(c->ans) - 1) {
		conn_step(c);              /* more may come */
		return;
	}
	c->ans[c->got] = '\0';
	if (strcmp(c->ans, c->req)) {
		failed = say(&st, "runner %u: the answer is not the request", c->index);
		return;
	}
	close(c->fd);
	c->fd = -1;
	/* Everyone answered: stop them all. SIGTERM now, SIGKILL after the
	 * grace; pidring_stop submits the ring (our SQEs with it). */
	if (++answered == RUNNERS)
		for (int i = 0; i < RUNNERS && !failed; i++)
			failed = stop_runner(pr, &st, conns[i].id);
}

static void on_event(const struct pidring_event *ev)
{
	if (ev->type == PIDRING_EV_READY) {
		/* Everyone is up: connect to them all. */
		if (++ready == RUNNERS)
			for (int i = 0; i < RUNNERS && !failed; i++)
				conn_start(&conns[i]);
		return;
	}
	done++;
	if (bad_done(&st, ev))
		failed = 1;
}

/* One turn of the loop: submit what is queued, wait, sort the CQEs. */
static void turn(void)
{
	struct __kernel_timespec ts = { .tv_nsec = 100000000 };
	struct pidring_event ev[32];
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	int r;

	/* On a DEFER_TASKRUN ring, this entry is what runs the completions. */
	io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
	io_uring_for_each_cqe(&ring, head, cqe) {
		if (pidring_owns_cqe(cqe))
			pidring_handle_cqe(pr, cqe);
		else
			on_own_cqe(cqe);
		n++;
	}
	io_uring_cq_advance(&ring, n);
	/* The engine's events, from the CQEs just handed over. */
	while ((r = pidring_wait(pr, ev, 32, 0)) > 0)
		for (int i = 0; i < r; i++)
			if (!failed)
				on_event(&ev[i]);
}

int main(int argc, char **argv)
{
	struct pidring_opts o = { .ring = &ring };
	int r;

	if (start(&st, "attach_liburing", argc, argv))
		return 1;
	o.runtime_dir = st.rundir;
	/* The loop's ring: SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them. */
	r = io_uring_queue_init(256, &ring, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
	if (r == -EINVAL)
		r = io_uring_queue_init(256, &ring, 0);
	if (r < 0 || (r = pidring_new(&pr, &o)) < 0)
		return say(&st, "setup: %s", strerror(-r));

	for (int i = 0; i < RUNNERS && !failed; i++) {
		conns[i].index = (unsigned)i;
		conns[i].fd = -1;
		failed = spawn_runner(pr, &st, &conns[i], &conns[i].id);
	}
	while (done < RUNNERS && !failed) {
		turn();
		if (now_s() > st.deadline)
			failed = say(&st, "gave up after %d s: %u ready, %u answered, %u done",
				     DEADLINE_S, ready, answered, done);
	}

	/* Destroy on a shared ring: call again, handing CQEs over, until 0.
	 * On success nothing is live; after a failure it kills the rest. */
	while ((r = pidring_destroy(pr, 0)) == -EINPROGRESS)
		turn();
	if (r < 0 && !failed)
		failed = say(&st, "pidring_destroy: %s", strerror(-r));
	io_uring_queue_exit(&ring);        /* cancels any op of ours left */
	for (int i = 0; i < RUNNERS; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	if (finish(&st, failed))
		return 1;
	printf("attach_liburing: %u ready, %u answered, %u done, clean\n", ready, answered, done);
	return 0;
}
