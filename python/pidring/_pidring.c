/* SPDX-License-Identifier: MIT */
/*
 * _pidring: the CPython extension under the pidring package. A thin, typed
 * mirror of include/pidring.h: one Engine type whose methods are the C calls,
 * errors raised as OSError with the errno (so ENOENT is FileNotFoundError,
 * ESRCH ProcessLookupError, ...). The asyncio layer (pidring/__init__.py)
 * owns the policy: readiness on the loop, futures, cancellation.
 *
 * An engine belongs to the thread that made it (the ring is SINGLE_ISSUER):
 * every method checks the calling thread and raises RuntimeError from any
 * other, rather than let the kernel refuse the ring to us.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pidring.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

/* Events handed out per wait() call when the caller does not say. */
#define ENGINE_WAIT_MAX 256
/* A dealloc that finds the engine still open gives its procs this long. */
#define ENGINE_DEALLOC_MS 5000

struct engine_obj {
	PyObject_HEAD
	struct pidring *pr;
	struct pidring_pool *pool;   /* pool_new's; freed with the engine */
	pthread_t owner;
	int fd;
};

static PyTypeObject engine_type;

/* Raise OSError (the errno's own subclass) for a -errno from the library. */
static PyObject *raise_errno(int neg)
{
	errno = -neg;
	return PyErr_SetFromErrno(PyExc_OSError);
}

/* 0 when e is open and called from its thread; else -1 with RuntimeError. */
static int engine_usable(struct engine_obj *e)
{
	if (!e->pr) {
		PyErr_SetString(PyExc_RuntimeError, "pidring engine is closed");
		return -1;
	}
	if (!pthread_equal(e->owner, pthread_self())) {
		PyErr_SetString(PyExc_RuntimeError,
				"pidring engine used from a thread other than its own");
		return -1;
	}
	return 0;
}

/* "O&" converter: None stays NULL, anything else goes through os.fsencode. */
static int opt_path(PyObject *obj, void *out)
{
	PyObject **res = out;

	if (obj == NULL) {              /* cleanup call */
		Py_CLEAR(*res);
		return 1;
	}
	if (obj == Py_None) {
		*res = NULL;
		return 1;
	}
	if (!PyUnicode_FSConverter(obj, res))
		return 0;
	return Py_CLEANUP_SUPPORTED;
}

static const char *opt_cstr(PyObject *bytes)
{
	return bytes ? PyBytes_AS_STRING(bytes) : NULL;
}

static int parse_id(PyObject *arg, pidring_id *id)
{
	unsigned long long v = PyLong_AsUnsignedLongLong(arg);

	if (v == (unsigned long long)-1 && PyErr_Occurred())
		return -1;
	*id = (pidring_id)v;
	return 0;
}

/* "O&" converters with range checks ("I" and "K" would truncate silently). */
static int id_arg(PyObject *obj, void *out)
{
	return parse_id(obj, out) < 0 ? 0 : 1;
}

static int uint_arg(PyObject *obj, void *out)
{
	unsigned long v = PyLong_AsUnsignedLong(obj);

	if (v == (unsigned long)-1 && PyErr_Occurred())
		return 0;
	if (v > UINT_MAX) {
		PyErr_SetString(PyExc_OverflowError, "value does not fit an unsigned int");
		return 0;
	}
	*(unsigned *)out = (unsigned)v;
	return 1;
}

/* ---- construction and teardown ---- */

static int engine_init(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "runtime_dir", "ring_entries", "max_procs", "flags",
				  "cgroup_dir", NULL };
	struct engine_obj *e = (struct engine_obj *)self;
	PyObject *rundir = NULL, *cgdir = NULL;
	struct pidring_opts opts = { 0 };
	struct pidring *pr;
	int ret, fd;

	if (e->pr) {
		PyErr_SetString(PyExc_RuntimeError, "pidring engine already open");
		return -1;
	}
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$O&O&O&O&O&:Engine", kwlist, opt_path,
					 &rundir, uint_arg, &opts.ring_entries, uint_arg,
					 &opts.max_procs, uint_arg, &opts.flags, opt_path,
					 &cgdir))
		return -1;
	opts.runtime_dir = opt_cstr(rundir);
	opts.cgroup_dir = opt_cstr(cgdir);
	ret = pidring_new(&pr, &opts);
	Py_XDECREF(rundir);
	Py_XDECREF(cgdir);
	if (ret < 0) {
		raise_errno(ret);
		return -1;
	}
	/* Made now, so that the loop can watch it from the first spawn on and
	 * the engine submits its exit watches eagerly (see pidring_fd). */
	fd = pidring_fd(pr);
	if (fd < 0) {
		pidring_destroy(pr, -1);
		raise_errno(fd);
		return -1;
	}
	e->pr = pr;
	e->fd = fd;
	e->owner = pthread_self();
	return 0;
}

static void engine_dealloc(PyObject *self)
{
	struct engine_obj *e = (struct engine_obj *)self;

	/* The asyncio layer closes engines; this is the net under a program
	 * that dropped one open. pidring_destroy kills and reaps all. */
	if (e->pr) {
		struct pidring *pr = e->pr;

		e->pr = NULL;
		e->pool = NULL;
		Py_BEGIN_ALLOW_THREADS
		pidring_destroy(pr, ENGINE_DEALLOC_MS);
		Py_END_ALLOW_THREADS
	}
	Py_TYPE(self)->tp_free(self);
}

static PyObject *engine_destroy(PyObject *self, PyObject *args)
{
	struct engine_obj *e = (struct engine_obj *)self;
	struct pidring *pr;
	int timeout_ms = -1, ret;

	if (!PyArg_ParseTuple(args, "|i:destroy", &timeout_ms))
		return NULL;
	if (!e->pr)
		Py_RETURN_NONE;
	if (engine_usable(e) < 0)
		return NULL;
	/* Closed before the wait: nothing can reach the engine meanwhile. */
	pr = e->pr;
	e->pr = NULL;
	e->pool = NULL;          /* pidring_destroy destroys it first */
	e->fd = -1;
	Py_BEGIN_ALLOW_THREADS
	ret = pidring_destroy(pr, timeout_ms);
	Py_END_ALLOW_THREADS
	if (ret < 0)
		return raise_errno(ret);
	Py_RETURN_NONE;
}

/* ---- spawning ---- */

/*
 * A sequence of path-like or str/bytes items as a NULL-terminated char *[];
 * the bytes objects that hold the strings go into *keep, which the caller
 * releases after the C call. NULL for None when none_ok.
 */
static char **str_vector(PyObject *seq, const char *what, int none_ok, PyObject **keep)
{
	PyObject *fast;
	Py_ssize_t n;
	char **v;

	*keep = NULL;
	if (seq == Py_None && none_ok)
		return NULL;
	fast = PySequence_Fast(seq, what);
	if (!fast)
		return NULL;
	n = PySequence_Fast_GET_SIZE(fast);
	*keep = PyList_New(0);
	v = *keep ? PyMem_Calloc((size_t)n + 1, sizeof(*v)) : NULL;
	if (!v) {
		Py_DECREF(fast);
		Py_CLEAR(*keep);
		if (!PyErr_Occurred())
			PyErr_NoMemory();
		return NULL;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *b = NULL;

		if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(fast, i), &b) ||
		    PyList_Append(*keep, b) < 0) {
			Py_XDECREF(b);
			Py_DECREF(fast);
			Py_CLEAR(*keep);
			PyMem_Free(v);
			return NULL;
		}
		v[i] = PyBytes_AS_STRING(b);
		Py_DECREF(b);
	}
	Py_DECREF(fast);
	return v;
}

/* A sequence of (parent_fd, child_fd) pairs; *n = 0 and NULL for None. */
static int fd_pairs(PyObject *seq, struct pidring_fd_map **out, unsigned *n)
{
	PyObject *fast;
	Py_ssize_t len;

	*out = NULL;
	*n = 0;
	if (seq == Py_None)
		return 0;
	fast = PySequence_Fast(seq, "fds must be a sequence of (parent_fd, child_fd)");
	if (!fast)
		return -1;
	len = PySequence_Fast_GET_SIZE(fast);
	if (len > (Py_ssize_t)UINT_MAX / 2) {
		Py_DECREF(fast);
		PyErr_SetString(PyExc_OverflowError, "too many fds");
		return -1;
	}
	if (len) {
		*out = PyMem_Calloc((size_t)len, sizeof(**out));
		if (!*out) {
			Py_DECREF(fast);
			PyErr_NoMemory();
			return -1;
		}
	}
	for (Py_ssize_t i = 0; i < len; i++) {
		if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "ii;fds items are "
				      "(parent_fd, child_fd)", &(*out)[i].parent_fd,
				      &(*out)[i].child_fd)) {
			Py_DECREF(fast);
			PyMem_Free(*out);
			*out = NULL;
			return -1;
		}
	}
	Py_DECREF(fast);
	*n = (unsigned)len;
	return 0;
}

/*
 * A spawn spec built from Python objects (spawn and pool_new take the same
 * arguments), and what it borrows, for spec_free.
 */
struct spec {
	struct pidring_spawn s;
	PyObject *path, *cwd, *argv_keep, *env_keep;
	struct pidring_fd_map *fds;
	char **argv, **envp;
};

static int spec_fill(struct spec *sp, PyObject *argv_o, PyObject *env_o, PyObject *fds_o,
		     int ready)
{
	sp->argv = str_vector(argv_o, "argv must be a sequence", 0, &sp->argv_keep);
	if (!sp->argv)
		return -1;
	sp->envp = str_vector(env_o, "env must be a sequence of 'KEY=VALUE'", 1,
			      &sp->env_keep);
	if (!sp->envp && PyErr_Occurred())
		return -1;
	if (fd_pairs(fds_o, &sp->fds, &sp->s.nfds) < 0)
		return -1;
	sp->s.path = PyBytes_AS_STRING(sp->path);
	sp->s.argv = sp->argv;
	sp->s.envp = sp->envp;
	sp->s.cwd = opt_cstr(sp->cwd);
	sp->s.fds = sp->fds;
	sp->s.ready = (enum pidring_ready)ready;
	return 0;
}

static void spec_free(struct spec *sp)
{
	PyMem_Free(sp->fds);
	PyMem_Free(sp->envp);
	PyMem_Free(sp->argv);
	Py_XDECREF(sp->env_keep);
	Py_XDECREF(sp->argv_keep);
	Py_XDECREF(sp->cwd);
	Py_XDECREF(sp->path);
}

static PyObject *engine_spawn(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "path", "argv", "env", "cwd", "fds", "ready",
				  "timeout_ms", "flags", NULL };
	struct engine_obj *e = (struct engine_obj *)self;
	PyObject *argv_o, *env_o = Py_None, *fds_o = Py_None, *res = NULL;
	struct spec sp = { 0 };
	int ready = PIDRING_READY_EXEC, ret;
	pidring_id id = 0;

	if (engine_usable(e) < 0)
		return NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O|OO&OiO&O&:spawn", kwlist,
					 PyUnicode_FSConverter, &sp.path, &argv_o, &env_o,
					 opt_path, &sp.cwd, &fds_o, &ready, uint_arg,
					 &sp.s.ready_timeout_ms, uint_arg, &sp.s.flags))
		return NULL;
	if (spec_fill(&sp, argv_o, env_o, fds_o, ready) < 0)
		goto out;
	/* clone(CLONE_VFORK) holds the thread until the child has exec'd: tens
	 * of µs, less than giving the GIL away and taking it back would cost. */
	ret = pidring_spawn(e->pr, &sp.s, &id);
	if (ret < 0)
		raise_errno(ret);
	else
		res = PyLong_FromUnsignedLongLong(id);
out:
	spec_free(&sp);
	return res;
}

/* ---- per-proc calls ---- */

static PyObject *engine_cancel(PyObject *self, PyObject *arg)
{
	struct engine_obj *e = (struct engine_obj *)self;
	pidring_id id;
	int ret;

	if (engine_usable(e) < 0 || parse_id(arg, &id) < 0)
		return NULL;
	ret = pidring_cancel(e->pr, id);
	if (ret < 0)
		return raise_errno(ret);
	Py_RETURN_NONE;
}

static PyObject *engine_stop(PyObject *self, PyObject *args)
{
	struct engine_obj *e = (struct engine_obj *)self;
	pidring_id id;
	unsigned grace_ms;
	int ret;

	if (engine_usable(e) < 0 ||
	    !PyArg_ParseTuple(args, "O&O&:stop", id_arg, &id, uint_arg, &grace_ms))
		return NULL;
	ret = pidring_stop(e->pr, id, grace_ms);
	if (ret < 0)
		return raise_errno(ret);
	Py_RETURN_NONE;
}

static PyObject *engine_pid(PyObject *self, PyObject *arg)
{
	struct engine_obj *e = (struct engine_obj *)self;
	pidring_id id;
	int ret;

	if (engine_usable(e) < 0 || parse_id(arg, &id) < 0)
		return NULL;
	ret = pidring_pid(e->pr, id);
	if (ret < 0)
		return raise_errno(ret);
	return PyLong_FromLong(ret);
}

/* pidring_socket_path or pidring_status into a str; None for -ENOENT. */
static PyObject *engine_text(struct engine_obj *e, PyObject *arg,
			     int (*get)(struct pidring *, pidring_id, char *, size_t))
{
	char buf[4096];
	pidring_id id;
	int ret;

	if (engine_usable(e) < 0 || parse_id(arg, &id) < 0)
		return NULL;
	ret = get(e->pr, id, buf, sizeof(buf));
	if (ret == -ENOENT)
		Py_RETURN_NONE;
	if (ret < 0)
		return raise_errno(ret);
	return PyUnicode_DecodeFSDefaultAndSize(buf, ret);
}

static PyObject *engine_socket_path(PyObject *self, PyObject *arg)
{
	return engine_text((struct engine_obj *)self, arg, pidring_socket_path);
}

static PyObject *engine_status(PyObject *self, PyObject *arg)
{
	return engine_text((struct engine_obj *)self, arg, pidring_status);
}

/* ---- events ---- */

static PyObject *event_tuple(const struct pidring_event *ev)
{
	return Py_BuildValue("(iKiiiiKKKKi)", (int)ev->type, (unsigned long long)ev->id,
			     (int)ev->pid, (int)ev->reason, ev->code, ev->status,
			     (unsigned long long)ev->spawn_ns,
			     (unsigned long long)ev->ready_ns,
			     (unsigned long long)ev->done_ns,
			     (unsigned long long)ev->lease, ev->error);
}

/*
 * wait(max=256, timeout_ms=0) -> list of (type, id, pid, reason, code, status,
 * spawn_ns, ready_ns, done_ns). A blocking wait gives the GIL away.
 */
static PyObject *engine_wait(PyObject *self, PyObject *args)
{
	struct engine_obj *e = (struct engine_obj *)self;
	struct pidring_event evs[ENGINE_WAIT_MAX];
	unsigned max = ENGINE_WAIT_MAX;
	int timeout_ms = 0, n;
	PyObject *list;

	if (engine_usable(e) < 0 || !PyArg_ParseTuple(args, "|O&i:wait", uint_arg, &max, &timeout_ms))
		return NULL;
	if (max == 0 || max > ENGINE_WAIT_MAX) {
		PyErr_Format(PyExc_ValueError, "max must be 1..%d", ENGINE_WAIT_MAX);
		return NULL;
	}
	for (;;) {
		if (timeout_ms == 0) {
			n = pidring_wait(e->pr, evs, max, 0);
		} else {
			Py_BEGIN_ALLOW_THREADS
			n = pidring_wait(e->pr, evs, max, timeout_ms);
			Py_END_ALLOW_THREADS
		}
		/* PEP 475: a signal whose handler does not raise is retried. */
		if (n != -EINTR)
			break;
		if (PyErr_CheckSignals() < 0)
			return NULL;
	}
	if (n < 0)
		return raise_errno(n);
	list = PyList_New(n);
	if (!list)
		return NULL;
	for (int i = 0; i < n; i++) {
		PyObject *t = event_tuple(&evs[i]);

		if (!t) {
			/* The events are already out of the engine; losing one
			 * would break "exactly one DONE". Py_BuildValue of ints
			 * fails only without memory, and then so does all. */
			Py_DECREF(list);
			return NULL;
		}
		PyList_SET_ITEM(list, i, t);
	}
	return list;
}

/* ---- the session pool ---- */

/* 0 when e has a pool (and is usable); else -1 with an exception. */
static int pool_usable(struct engine_obj *e)
{
	if (engine_usable(e) < 0)
		return -1;
	if (!e->pool) {
		PyErr_SetString(PyExc_RuntimeError, "pidring engine has no pool");
		return -1;
	}
	return 0;
}

static PyObject *engine_pool_new(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "path", "argv", "env", "cwd", "fds", "ready",
				  "timeout_ms", "flags", "max_runners", "min_idle",
				  "idle_ttl_ms", "stop_grace_ms", "pool_flags", NULL };
	struct engine_obj *e = (struct engine_obj *)self;
	PyObject *argv_o, *env_o = Py_None, *fds_o = Py_None, *res = NULL;
	struct spec sp = { 0 };
	struct pidring_pool_opts po = { .spawn = &sp.s };
	int ready = PIDRING_READY_BIND, ret;

	if (engine_usable(e) < 0)
		return NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O|OO&OiO&O&O&O&O&O&O&:pool_new", kwlist,
					 PyUnicode_FSConverter, &sp.path, &argv_o, &env_o,
					 opt_path, &sp.cwd, &fds_o, &ready, uint_arg,
					 &sp.s.ready_timeout_ms, uint_arg, &sp.s.flags, uint_arg,
					 &po.max_runners, uint_arg, &po.min_idle, uint_arg,
					 &po.idle_ttl_ms, uint_arg, &po.stop_grace_ms, uint_arg,
					 &po.flags))
		return NULL;
	if (spec_fill(&sp, argv_o, env_o, fds_o, ready) < 0)
		goto out;
	/* The pool copies the template: nothing here needs to outlive it. */
	ret = pidring_pool_new(e->pr, &po, &e->pool);
	if (ret < 0)
		raise_errno(ret);
	else
		res = Py_NewRef(Py_None);
out:
	spec_free(&sp);
	return res;
}

static int key_arg(PyObject *arg, const char **key, Py_ssize_t *len)
{
	if (!PyBytes_Check(arg)) {
		PyErr_SetString(PyExc_TypeError, "a pool key is bytes");
		return -1;
	}
	*key = PyBytes_AS_STRING(arg);
	*len = PyBytes_GET_SIZE(arg);
	return 0;
}

static PyObject *engine_pool_get(PyObject *self, PyObject *arg)
{
	struct engine_obj *e = (struct engine_obj *)self;
	struct pidring_lease l = { 0 };
	const char *key;
	Py_ssize_t len;
	int ret;

	if (pool_usable(e) < 0 || key_arg(arg, &key, &len) < 0)
		return NULL;
	ret = pidring_pool_get(e->pool, key, (size_t)len, NULL, &l);
	if (ret < 0)
		return raise_errno(ret);
	return Py_BuildValue("(iKKi)", ret, (unsigned long long)l.ticket,
			     (unsigned long long)l.id, (int)l.pid);
}

static PyObject *engine_pool_release(PyObject *self, PyObject *arg)
{
	struct engine_obj *e = (struct engine_obj *)self;
	unsigned long long t;
	int ret;

	if (pool_usable(e) < 0)
		return NULL;
	t = PyLong_AsUnsignedLongLong(arg);
	if (t == (unsigned long long)-1 && PyErr_Occurred())
		return NULL;
	ret = pidring_pool_release(e->pool, t);
	if (ret < 0)
		return raise_errno(ret);
	Py_RETURN_NONE;
}

static PyObject *engine_pool_evict(PyObject *self, PyObject *arg)
{
	struct engine_obj *e = (struct engine_obj *)self;
	const char *key;
	Py_ssize_t len;
	int ret;

	if (pool_usable(e) < 0 || key_arg(arg, &key, &len) < 0)
		return NULL;
	ret = pidring_pool_evict(e->pool, key, (size_t)len);
	if (ret < 0)
		return raise_errno(ret);
	Py_RETURN_NONE;
}

static PyObject *engine_pool_find(PyObject *self, PyObject *arg)
{
	struct engine_obj *e = (struct engine_obj *)self;
	const char *key;
	Py_ssize_t len;
	pidring_id id;
	int ret;

	if (pool_usable(e) < 0 || key_arg(arg, &key, &len) < 0)
		return NULL;
	ret = pidring_pool_find(e->pool, key, (size_t)len, &id);
	if (ret == -ENOENT)
		Py_RETURN_NONE;
	if (ret < 0)
		return raise_errno(ret);
	return PyLong_FromUnsignedLongLong(id);
}

static PyObject *engine_pool_stats(PyObject *self, PyObject *noargs)
{
	struct engine_obj *e = (struct engine_obj *)self;
	struct pidring_pool_stats st;

	(void)noargs;
	if (pool_usable(e) < 0)
		return NULL;
	pidring_pool_stats(e->pool, &st);
	return Py_BuildValue("(IIIIIIKK)", st.keys, st.warm, st.warm_ready, st.idle,
			     st.stopping, st.leases, st.started, st.done);
}

static PyObject *engine_pool_destroy(PyObject *self, PyObject *noargs)
{
	struct engine_obj *e = (struct engine_obj *)self;

	(void)noargs;
	if (!e->pr || !e->pool)
		Py_RETURN_NONE;
	if (engine_usable(e) < 0)
		return NULL;
	pidring_pool_destroy(e->pool);
	e->pool = NULL;
	Py_RETURN_NONE;
}

static PyObject *engine_fileno(PyObject *self, PyObject *noargs)
{
	struct engine_obj *e = (struct engine_obj *)self;

	(void)noargs;
	if (engine_usable(e) < 0)
		return NULL;
	return PyLong_FromLong(e->fd);
}

static PyObject *engine_live(PyObject *self, PyObject *noargs)
{
	struct engine_obj *e = (struct engine_obj *)self;

	(void)noargs;
	if (engine_usable(e) < 0)
		return NULL;
	return PyLong_FromUnsignedLong(pidring_live(e->pr));
}

static PyObject *engine_orphans(PyObject *self, PyObject *noargs)
{
	struct engine_obj *e = (struct engine_obj *)self;

	(void)noargs;
	if (engine_usable(e) < 0)
		return NULL;
	return PyLong_FromUnsignedLong(pidring_orphans(e->pr));
}

static PyObject *engine_closed(PyObject *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(((struct engine_obj *)self)->pr == NULL);
}

static PyMethodDef engine_methods[] = {
	{ "spawn", (PyCFunction)(void (*)(void))engine_spawn, METH_VARARGS | METH_KEYWORDS,
	  "spawn(path, argv, env=None, cwd=None, fds=None, ready=READY_EXEC, "
	  "timeout_ms=0, flags=0) -> id\n\npidring_spawn; OSError on failure." },
	{ "cancel", engine_cancel, METH_O, "cancel(id): pidring_cancel." },
	{ "stop", engine_stop, METH_VARARGS, "stop(id, grace_ms): pidring_stop." },
	{ "pid", engine_pid, METH_O, "pid(id) -> int: pidring_pid." },
	{ "socket_path", engine_socket_path, METH_O,
	  "socket_path(id) -> str or None (no bind socket)." },
	{ "status", engine_status, METH_O, "status(id) -> str: the last STATUS=." },
	{ "wait", engine_wait, METH_VARARGS,
	  "wait(max=256, timeout_ms=0) -> [(type, id, pid, reason, code, status, "
	  "spawn_ns, ready_ns, done_ns, lease, error)]" },
	{ "pool_new", (PyCFunction)(void (*)(void))engine_pool_new,
	  METH_VARARGS | METH_KEYWORDS,
	  "pool_new(path, argv, env=None, cwd=None, fds=None, ready=READY_BIND, "
	  "timeout_ms=0, flags=0, max_runners=0, min_idle=0, idle_ttl_ms=0, "
	  "stop_grace_ms=0, pool_flags=0): pidring_pool_new (one per engine)." },
	{ "pool_get", engine_pool_get, METH_O,
	  "pool_get(key: bytes) -> (rc, ticket, id, pid): pidring_pool_get; rc 0 "
	  "(held now) or POOL_PENDING (a LEASE event follows)." },
	{ "pool_release", engine_pool_release, METH_O, "pool_release(ticket)." },
	{ "pool_evict", engine_pool_evict, METH_O, "pool_evict(key: bytes)." },
	{ "pool_find", engine_pool_find, METH_O,
	  "pool_find(key: bytes) -> id or None." },
	{ "pool_stats", engine_pool_stats, METH_NOARGS,
	  "pool_stats() -> (keys, warm, warm_ready, idle, stopping, leases, "
	  "started, done)." },
	{ "pool_destroy", engine_pool_destroy, METH_NOARGS,
	  "pool_destroy(): pidring_pool_destroy; idempotent." },
	{ "fileno", engine_fileno, METH_NOARGS, "fileno() -> int: pidring_fd." },
	{ "live", engine_live, METH_NOARGS, "live() -> int: pidring_live." },
	{ "orphans", engine_orphans, METH_NOARGS, "orphans() -> int: pidring_orphans." },
	{ "destroy", engine_destroy, METH_VARARGS,
	  "destroy(timeout_ms=-1): pidring_destroy; idempotent." },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef engine_getset[] = {
	{ "closed", engine_closed, NULL, "True once destroyed.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject engine_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "pidring._pidring.Engine",
	.tp_doc = "Engine(*, runtime_dir=None, ring_entries=0, max_procs=0, flags=0, "
		  "cgroup_dir=None): a pidring engine (pidring_new).",
	.tp_basicsize = sizeof(struct engine_obj),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_new = PyType_GenericNew,
	.tp_init = engine_init,
	.tp_dealloc = engine_dealloc,
	.tp_methods = engine_methods,
	.tp_getset = engine_getset,
};

static PyObject *mod_version(PyObject *mod, PyObject *noargs)
{
	(void)mod;
	(void)noargs;
	return PyUnicode_FromString(pidring_version());
}

static PyMethodDef mod_methods[] = {
	{ "version", mod_version, METH_NOARGS, "The C library's version." },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef mod_def = {
	PyModuleDef_HEAD_INIT,
	.m_name = "pidring._pidring",
	.m_doc = "The C API of pidring, one call per method.",
	.m_size = -1,
	.m_methods = mod_methods,
};

PyMODINIT_FUNC PyInit__pidring(void);

PyMODINIT_FUNC PyInit__pidring(void)
{
	static const struct { const char *name; long value; } consts[] = {
		{ "READY_EXEC", PIDRING_READY_EXEC },
		{ "READY_BIND", PIDRING_READY_BIND },
		{ "READY_NOTIFY", PIDRING_READY_NOTIFY },
		{ "EV_READY", PIDRING_EV_READY },
		{ "EV_DONE", PIDRING_EV_DONE },
		{ "EV_LEASE_READY", PIDRING_EV_LEASE_READY },
		{ "EV_LEASE_FAILED", PIDRING_EV_LEASE_FAILED },
		{ "POOL_PENDING", PIDRING_POOL_PENDING },
		{ "POOL_EVICT_LRU", PIDRING_POOL_EVICT_LRU },
		{ "EXITED", PIDRING_EXITED },
		{ "EXITED_EARLY", PIDRING_EXITED_EARLY },
		{ "CANCELLED", PIDRING_CANCELLED },
		{ "STOPPED", PIDRING_STOPPED },
		{ "READY_TIMEOUT", PIDRING_READY_TIMEOUT },
		{ "F_NO_WAITID", PIDRING_F_NO_WAITID },
		{ "F_SUBREAPER", PIDRING_F_SUBREAPER },
		{ "F_NO_CLONE3", PIDRING_F_NO_CLONE3 },
		{ "SPAWN_SETSID", PIDRING_SPAWN_SETSID },
		{ "SPAWN_KEEP_PGRP", PIDRING_SPAWN_KEEP_PGRP },
		{ "SPAWN_NO_NEW_PRIVS", PIDRING_SPAWN_NO_NEW_PRIVS },
		{ "WAIT_MAX", ENGINE_WAIT_MAX },
	};
	PyObject *m;

	if (PyType_Ready(&engine_type) < 0)
		return NULL;
	m = PyModule_Create(&mod_def);
	if (!m)
		return NULL;
	for (size_t i = 0; i < sizeof(consts) / sizeof(consts[0]); i++)
		if (PyModule_AddIntConstant(m, consts[i].name, consts[i].value) < 0)
			goto fail;
	Py_INCREF(&engine_type);
	if (PyModule_AddObject(m, "Engine", (PyObject *)&engine_type) < 0) {
		Py_DECREF(&engine_type);
		goto fail;
	}
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
