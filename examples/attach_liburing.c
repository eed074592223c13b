/*
 * pidring in attach mode: the engine shares the program's own io_uring.
 *
 * The program runs one liburing loop. pidring puts its SQEs on that ring;
 * the loop reaps every CQE, hands the engine's to pidring_handle_cqe (one
 * mask test tells them apart) and handles its own: here, a CONNECT and a
 * READ per runner, issued on the same ring once the runner is READY.
 *
 * It spawns 100 bind runners, waits until each is READY, connects to each
 * over its socket and reads until the runner closes the connection, stops
 * them all with a grace, destroys the engine, and checks that nothing is
 * left: no child, no file in the runtime directory. Exit 0 only then.
 *
 * Usage: attach_liburing [path-to-runner]   (default: $PIDRING_CHILD, then
 * build/pidring-child). Build: cc attach_liburing.c -lpidring -luring
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <liburing.h>
#include <pidring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 100

/* The program's own operations, one per runner at a time. */
struct conn {
	pidring_id id;
	int fd;
	struct sockaddr_un sun;
	char buf[64];
	enum { C_NONE, C_CONNECT, C_READ, C_TALKED } step;
};

static struct conn conns[N];
static unsigned ready, talked, done, failed;

/* An SQE of ours; a full SQ is submitted first (pidring's SQEs with it). */
static struct io_uring_sqe *get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe && io_uring_submit(ring) >= 0)
		sqe = io_uring_get_sqe(ring);
	return sqe;
}

static void put_connect(struct io_uring *ring, struct pidring *pr, struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(ring);

	c->sun.sun_family = AF_UNIX;
	pidring_socket_path(pr, c->id, c->sun.sun_path, sizeof(c->sun.sun_path));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!sqe || c->fd < 0) {
		fprintf(stderr, "runner %u: no SQE or socket\n", (unsigned)(c - conns));
		failed++;
		return;
	}
	io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&c->sun, sizeof(c->sun));
	io_uring_sqe_set_data(sqe, c);    /* a pointer: never pidring's tag */
	c->step = C_CONNECT;
}

/* One of our own completions: connected, then read to EOF. */
static void on_own_cqe(struct io_uring *ring, struct pidring *pr, struct io_uring_cqe *cqe)
{
	struct conn *c = io_uring_cqe_get_data(cqe);
	struct io_uring_sqe *sqe;

	if (cqe->res < 0 || (c->step == C_READ && cqe->res > 0)) {
		fprintf(stderr, "runner %u: step %d: %d\n", (unsigned)(c - conns), c->step, cqe->res);
		failed++;
	}
	if (c->step == C_CONNECT && cqe->res == 0 && (sqe = get_sqe(ring))) {
		io_uring_prep_read(sqe, c->fd, c->buf, sizeof(c->buf), 0);
		io_uring_sqe_set_data(sqe, c);
		c->step = C_READ;
		return;
	}
	/* The runner accepted and closed: we talked. Stop it with a grace. */
	close(c->fd);
	c->fd = -1;
	c->step = C_TALKED;
	talked++;
	pidring_stop(pr, c->id, 1000);
}

static void on_event(struct io_uring *ring, struct pidring *pr, const struct pidring_event *ev)
{
	struct conn *c = ev->user;

	if (ev->type == PIDRING_EV_READY) {
		ready++;
		put_connect(ring, pr, c);
		return;
	}
	done++;
	if (ev->reason != PIDRING_STOPPED) {
		fprintf(stderr, "runner %u: DONE reason %d code %d status %d\n",
			(unsigned)(c - conns), ev->reason, ev->code, ev->status);
		failed++;
	}
}

/* One turn of the loop: submit what is queued, wait, sort the CQEs. */
static void turn(struct io_uring *ring, struct pidring *pr)
{
	struct __kernel_timespec ts = { .tv_nsec = 100000000 };
	struct pidring_event ev[32];
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	int r;

	io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
	io_uring_for_each_cqe(ring, head, cqe) {
		if (pidring_owns_cqe(cqe))
			pidring_handle_cqe(pr, cqe);
		else
			on_own_cqe(ring, pr, cqe);
		n++;
	}
	io_uring_cq_advance(ring, n);
	while ((r = pidring_wait(pr, ev, 32, 0)) > 0)
		for (int i = 0; i < r; i++)
			on_event(ring, pr, &ev[i]);
}

/* Entries of a directory, "." and ".." not counted (-1: cannot open). */
static int dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	const char *child = argc > 1 ? argv[1] : getenv("PIDRING_CHILD");
	char rundir[] = "/tmp/pidring-example.XXXXXX";
	char *cargv[] = { "pidring-child", "--bind-after-ms", "0", NULL };
	struct io_uring ring;
	struct pidring *pr;
	struct pidring_opts o = { .ring = &ring, .runtime_dir = rundir };
	siginfo_t si;
	int r, turns, fds0 = dir_entries("/proc/self/fd");

	if (!child)
		child = "build/pidring-child";
	if (!mkdtemp(rundir))
		return 1;
	/* The loop's ring: SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them. */
	r = io_uring_queue_init(256, &ring, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
	if (r == -EINVAL)
		r = io_uring_queue_init(256, &ring, 0);
	if (r < 0 || (r = pidring_new(&pr, &o)) < 0) {
		fprintf(stderr, "setup: %s\n", strerror(-r));
		return 1;
	}
	for (int i = 0; i < N; i++) {
		struct pidring_spawn s = {
			.path = child, .argv = cargv, .ready = PIDRING_READY_BIND,
			.ready_timeout_ms = 10000, .user = &conns[i],
		};

		conns[i].fd = -1;
		r = pidring_spawn(pr, &s, &conns[i].id);
		if (r < 0) {
			fprintf(stderr, "spawn %d: %s\n", i, strerror(-r));
			return 1;
		}
	}
	for (turns = 0; done < N && turns < 300; turns++)
		turn(&ring, pr);
	/* Destroy on a shared ring: call again, handing CQEs over, until 0. */
	while ((r = pidring_destroy(pr, 0)) == -EINPROGRESS)
		turn(&ring, pr);
	io_uring_queue_exit(&ring);

	memset(&si, 0, sizeof(si));
	r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
	printf("attach_liburing: %u ready, %u talked to, %u done, %u failures\n",
	       ready, talked, done, failed);
	if (ready != N || talked != N || done != N || failed) {
		fprintf(stderr, "attach_liburing: not every runner went the whole way\n");
		return 1;
	}
	if (r == 0) {
		fprintf(stderr, "attach_liburing: a child is left (pid %d)\n", (int)si.si_pid);
		return 1;
	}
	if (dir_entries("/proc/self/fd") != fds0) {
		fprintf(stderr, "attach_liburing: %d fds open, %d at start\n",
			dir_entries("/proc/self/fd"), fds0);
		return 1;
	}
	if (dir_entries(rundir) != 0) {
		fprintf(stderr, "attach_liburing: %s is not empty\n", rundir);
		return 1;
	}
	rmdir(rundir);
	return 0;
}
