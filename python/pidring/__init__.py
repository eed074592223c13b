# SPDX-License-Identifier: MIT
"""pidring for asyncio: spawn, supervise and reap child processes on io_uring.

    async with pidring.Engine.open() as eng:
        proc = await eng.spawn(["my-runner", "--listen", "{socket}"], ready="bind",
                               timeout=5)
        ...                          # talk to proc.socket_path
        done = await proc.stop(grace=2)

The engine's descriptor is watched by the running loop (``loop.add_reader``);
each time it is readable the engine is driven once, without blocking
(``pidring_wait(..., 0)``). No thread, no polling. The engine belongs to the
loop's thread.

Cancelling never leaks: a task cancelled while its ``spawn`` waits for READY
cancels the child through the engine and returns (raising CancelledError)
only once the child is reaped and its socket removed, however many times it
is cancelled meanwhile. Closing the engine kills and reaps every proc.

Errors of the C library are OSError with its errno (FileNotFoundError for an
executable that is not there, ...); a child that is DONE before it is READY
raises a SpawnError that carries its Done record. Nothing here prints.
"""
import asyncio
import enum
import errno
import math
import os
import shutil
import threading
import weakref
from typing import NamedTuple, Optional

from . import _pidring as _c

__all__ = ["Engine", "Proc", "Done", "Ready", "Reason", "SpawnError", "ExitedEarly",
           "ReadyTimeout", "Pool", "Lease", "Evicted", "F_NO_WAITID", "F_SUBREAPER", "F_NO_CLONE3",
           "SPAWN_SETSID", "SPAWN_KEEP_PGRP", "SPAWN_NO_NEW_PRIVS"]

__version__ = _c.version()

F_NO_WAITID = _c.F_NO_WAITID
F_SUBREAPER = _c.F_SUBREAPER
F_NO_CLONE3 = _c.F_NO_CLONE3
SPAWN_SETSID = _c.SPAWN_SETSID
SPAWN_KEEP_PGRP = _c.SPAWN_KEEP_PGRP
SPAWN_NO_NEW_PRIVS = _c.SPAWN_NO_NEW_PRIVS

# Longest ready deadline or stop grace the engine takes, in ms (a day).
_MAX_MS = 24 * 3600 * 1000


class Ready(enum.IntEnum):
    """When a proc is READY (pidring_spawn.ready)."""
    EXEC = _c.READY_EXEC        # once exec succeeded
    BIND = _c.READY_BIND        # once a connect to its socket succeeds
    NOTIFY = _c.READY_NOTIFY    # on sd_notify READY=1 from its own pid


class Reason(enum.IntEnum):
    """Why a proc is DONE."""
    EXITED = _c.EXITED
    EXITED_EARLY = _c.EXITED_EARLY
    CANCELLED = _c.CANCELLED
    STOPPED = _c.STOPPED
    READY_TIMEOUT = _c.READY_TIMEOUT


class Done(NamedTuple):
    """A proc's DONE event: it has been reaped and its socket removed."""
    reason: Reason
    code: int          # os.CLD_EXITED, CLD_KILLED, CLD_DUMPED; 0 if unknown
    status: int        # exit status or signal number
    pid: int
    spawn_ns: int      # CLOCK_MONOTONIC (time.monotonic_ns); 0 if not reached
    ready_ns: int
    done_ns: int

    @property
    def returncode(self) -> Optional[int]:
        """As subprocess has it: the exit status, -signal, or None (unknown)."""
        if self.code == os.CLD_EXITED:
            return self.status
        if self.code in (os.CLD_KILLED, os.CLD_DUMPED):
            return -self.status
        return None


class SpawnError(Exception):
    """The proc was DONE before it was READY; ``done`` says why and how."""

    def __init__(self, done: Done, argv0: str):
        self.done = done
        how = {os.CLD_EXITED: f"exit status {done.status}",
               os.CLD_KILLED: f"killed by signal {done.status}",
               os.CLD_DUMPED: f"killed by signal {done.status} (core)"}
        super().__init__(f"{argv0} (pid {done.pid}) was not ready: "
                         f"{done.reason.name.lower()}, "
                         f"{how.get(done.code, 'status unknown')}")

    @property
    def reason(self) -> Reason:
        return self.done.reason

    @property
    def code(self) -> int:
        return self.done.code

    @property
    def status(self) -> int:
        return self.done.status

    @property
    def pid(self) -> int:
        return self.done.pid


class ExitedEarly(SpawnError):
    """The child exited (or was killed from outside) before it was ready."""


class ReadyTimeout(SpawnError, TimeoutError):
    """The child missed its ready deadline; it has been killed and reaped."""


def _spawn_error(done: Done, argv0: str) -> SpawnError:
    cls = {Reason.EXITED_EARLY: ExitedEarly,
           Reason.READY_TIMEOUT: ReadyTimeout}.get(done.reason, SpawnError)
    return cls(done, argv0)


def _ms(seconds, what: str) -> int:
    """Seconds (int or float) as whole ms, rounded up; at most a day."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a number of seconds")
    if not seconds >= 0 or seconds * 1000 > _MAX_MS:
        raise ValueError(f"{what} must be 0..{_MAX_MS // 1000} seconds")
    return math.ceil(seconds * 1000)


def _ready_mode(ready) -> int:
    if isinstance(ready, Ready):
        return int(ready)
    if isinstance(ready, str):
        try:
            return int(Ready[ready.upper()])
        except KeyError:
            pass
    raise ValueError(f"ready must be 'exec', 'bind' or 'notify', not {ready!r}")


def _fd_pairs(fds):
    """{child_fd: parent} or an iterable of fds passed as themselves."""
    def fileno(f):
        return f if isinstance(f, int) else f.fileno()
    if fds is None:
        return None
    if hasattr(fds, "items"):
        return [(fileno(parent), child) for child, parent in fds.items()]
    return [(fileno(f), fileno(f)) for f in fds]


def _env_list(env):
    if env is None:
        return None
    out = []
    for k, v in env.items():
        k, v = os.fsencode(k), os.fsencode(v)
        if not k or b"=" in k or b"\0" in k:
            raise ValueError(f"illegal environment variable name {k!r}")
        out.append(k + b"=" + v)
    return out


class Proc:
    """A child of the engine, READY (spawn returned it), until its DONE."""

    def __init__(self, engine: "Engine", pid_id: int, pid: int,
                 socket_path: Optional[str], argv0: str):
        loop = engine._loop
        self._engine = engine
        self.id = pid_id
        self.pid = pid
        self.socket_path = socket_path   # None unless ready="bind"
        self.argv0 = argv0
        self.ready_ns = 0
        # Results only, never exceptions: a future nobody reads must not
        # have asyncio log "exception was never retrieved".
        self._ready = loop.create_future()   # None (READY) or the early Done
        self._done = loop.create_future()    # the Done

    def __repr__(self):
        state = "done" if self._done.done() else "live"
        return f"<pidring.Proc pid={self.pid} {self.argv0!r} {state}>"

    # Fed by the engine's dispatch.
    def _on_ready(self, ready_ns: int):
        self.ready_ns = ready_ns
        if not self._ready.done():
            self._ready.set_result(None)

    def _on_done(self, done: Done):
        if not self._ready.done():
            self._ready.set_result(done)
        if not self._done.done():
            self._done.set_result(done)

    @property
    def done(self) -> Optional[Done]:
        """The Done record once the proc has been reaped, else None."""
        return self._done.result() if self._done.done() else None

    @property
    def status(self) -> str:
        """The last STATUS= a notify proc sent ("" when none; once DONE too)."""
        if self._done.done():
            return ""
        try:
            return self._engine._c.status(self.id) or ""
        except ProcessLookupError:
            return ""

    def cancel(self) -> None:
        """SIGKILL (its process group) and reap; idempotent. Await wait() for
        the Done."""
        if not self._done.done():
            self._engine._signal(self.id, None)

    async def stop(self, grace: float = 5.0) -> Done:
        """SIGTERM, then SIGKILL after grace seconds (or as soon as it exits);
        returns the Done. Cancelling this await kills the proc at once and
        still waits for its reap before CancelledError propagates."""
        grace_ms = _ms(grace, "grace")
        if not self._done.done():
            self._engine._signal(self.id, grace_ms)
        try:
            return await asyncio.shield(self._done)
        except asyncio.CancelledError:
            self.cancel()
            await self._settle()
            raise

    async def wait(self) -> Done:
        """The Done, once the proc is reaped. Cancelling this await leaves the
        proc alone (the engine still owns and will reap it)."""
        return await asyncio.shield(self._done)

    async def _settle(self) -> None:
        """Wait for the DONE through any number of cancellations: the kill
        is in, the reap follows in a fraction of a millisecond, and leaving
        before it would hand the caller a child that still exists."""
        while not self._done.done():
            try:
                await asyncio.shield(self._done)
            except asyncio.CancelledError:
                continue


class _Opening:
    """What Engine.open() returns: awaitable, and an async context manager."""

    def __init__(self, kw):
        self._kw = kw
        self._engine = None

    def __await__(self):
        return self._open().__await__()

    async def _open(self):
        return Engine(**self._kw)

    async def __aenter__(self) -> "Engine":
        self._engine = Engine(**self._kw)
        return self._engine

    async def __aexit__(self, *exc):
        await self._engine.close()


class Engine:
    """A pidring engine driven by the running asyncio loop.

    Make it inside a coroutine (``await Engine.open(...)``, ``async with
    Engine.open(...)``, or ``Engine(...)``): it registers with that loop and
    is used from that loop only. Keywords are pidring_opts: runtime_dir
    (base of the instance directory; default $PIDRING_RUNTIME_DIR,
    $XDG_RUNTIME_DIR/pidring, /tmp/pidring-<uid>), max_procs, ring_entries,
    flags (F_NO_WAITID, F_SUBREAPER, F_NO_CLONE3), cgroup_dir.
    """

    def __init__(self, *, runtime_dir=None, max_procs: int = 0, ring_entries: int = 0,
                 flags: int = 0, cgroup_dir=None):
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._c = _c.Engine(runtime_dir=runtime_dir, max_procs=max_procs,
                            ring_entries=ring_entries, flags=flags,
                            cgroup_dir=cgroup_dir)
        # id -> the Proc its events go to (_on_ready, _on_done). The pool's
        # runners are not here: their answers come as LEASE events, by ticket.
        self._procs = {}
        self._pool = None
        self._closing = False
        self._fd = self._c.fileno()
        try:
            # Through a weak reference: the loop must not keep an engine that
            # its program dropped alive (and its children with it).
            self._loop.add_reader(self._fd, _readable, weakref.ref(self))
        except BaseException:
            self._c.destroy()
            raise

    @classmethod
    def open(cls, **kw) -> _Opening:
        """``eng = await Engine.open(...)`` or ``async with Engine.open(...) as eng``."""
        return _Opening(kw)

    async def __aenter__(self) -> "Engine":
        return self

    async def __aexit__(self, *exc):
        await self.close()

    def __repr__(self):
        state = "closed" if self._c.closed else f"{len(self._procs)} live"
        return f"<pidring.Engine {state}>"

    @property
    def closed(self) -> bool:
        return self._c.closed

    @property
    def live(self) -> int:
        """Procs spawned and not yet DONE, as the engine counts them."""
        return 0 if self._c.closed else self._c.live()

    def fileno(self) -> int:
        return self._fd

    def _check(self):
        if self._closing or self._c.closed:
            raise RuntimeError("pidring engine is closed")
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("pidring engine used from another event loop")

    # ---- the loop side ----

    def _on_readable(self):
        try:
            evs = self._c.wait(_c.WAIT_MAX, 0)
        except OSError as e:
            # Transient (nothing is lost, says pidring_wait): look again on
            # the next turn of the loop, not in a tight loop here.
            if e.errno in (errno.ENOMEM, errno.EAGAIN, errno.EBUSY):
                self._loop.call_soon(self._on_readable)
                return
            # The ring itself failed: no event can be trusted to come.
            # Reap everything now rather than leave awaits hanging.
            self._teardown()
            return
        # Collect first, then hand out: futures run their callbacks on later
        # turns of the loop, so nothing re-enters the engine from here.
        for ev in evs:
            self._dispatch(ev)
        # A full batch may have left events queued: the engine keeps its fd
        # readable for them, so the next turn of the loop takes them.

    def _dispatch(self, ev):
        kind, pid_id, pid, reason, code, status, spawn_ns, ready_ns, done_ns = ev[:9]
        if kind in (_c.EV_LEASE_READY, _c.EV_LEASE_FAILED):
            if self._pool is not None:
                self._pool._on_answer(ev)
            return
        target = self._procs.get(pid_id)
        if target is None:
            return
        if kind == _c.EV_READY:
            target._on_ready(ready_ns)
        else:
            del self._procs[pid_id]
            target._on_done(Done(Reason(reason), code, status, pid,
                                 spawn_ns, ready_ns, done_ns))

    def _signal(self, pid_id: int, grace_ms: Optional[int]):
        """pidring_cancel (grace None) or pidring_stop. -ESRCH means DONE is
        already in the engine's hands, on its way to us: nothing to do."""
        if self._c.closed:
            return
        try:
            if grace_ms is None:
                self._c.cancel(pid_id)
            else:
                self._c.stop(pid_id, grace_ms)
        except ProcessLookupError:
            pass

    # ---- spawning ----

    @staticmethod
    def _resolve(argv, env, executable):
        """(path, argv as bytes): argv[0] looked up in PATH when it has no
        slash, unless executable is given."""
        args = [os.fsencode(a) for a in argv]
        if not args:
            raise ValueError("argv is empty")
        if executable is not None:
            return os.fsencode(executable), args
        if b"/" in args[0]:
            return args[0], args
        search = None if env is None else env.get("PATH", os.defpath)
        found = shutil.which(os.fsdecode(args[0]), path=search)
        if found is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT),
                                    os.fsdecode(args[0]))
        return os.fsencode(found), args

    async def spawn(self, argv, *, ready="exec", timeout: Optional[float] = None,
                    env=None, cwd=None, fds=None, executable=None,
                    flags: int = 0) -> Proc:
        """Start argv[0] (looked up in PATH when it has no slash, unless
        executable is given) and return the Proc once it is READY.

        ready: "exec", "bind" (the child binds an AF_UNIX stream socket at
        $PIDRING_SOCKET, also substituted for "{socket}" in argv) or
        "notify" (sd_notify READY=1 on $NOTIFY_SOCKET). timeout: the ready
        deadline in seconds (None: the engine's 30 s). env: a mapping (None:
        this process's environment). cwd: a directory. fds: {child_fd:
        parent fd or file} or an iterable of fds kept at their numbers;
        0, 1, 2 get /dev/null unless mapped. flags: SPAWN_SETSID,
        SPAWN_KEEP_PGRP, SPAWN_NO_NEW_PRIVS.

        Raises OSError for a spawn that failed (nothing is left behind),
        ExitedEarly / ReadyTimeout / SpawnError when the child was DONE
        before READY (reaped by then). If the awaiting task is cancelled,
        the child is cancelled and reaped before CancelledError propagates.
        """
        self._check()
        path, args = self._resolve(argv, env, executable)
        mode = _ready_mode(ready)
        timeout_ms = 0 if timeout is None else _ms(timeout, "timeout")
        if timeout is not None and timeout_ms == 0:
            raise ValueError("timeout must be > 0 (None: the engine's default)")

        pid_id = self._c.spawn(path, args, env=_env_list(env),
                               cwd=None if cwd is None else os.fspath(cwd),
                               fds=_fd_pairs(fds), ready=mode,
                               timeout_ms=timeout_ms, flags=flags)
        # From here the proc is the engine's: every way out of this
        # coroutine either hands it to the caller or waits for its DONE.
        proc = Proc(self, pid_id, self._c.pid(pid_id), self._c.socket_path(pid_id),
                    os.fsdecode(args[0]))
        self._procs[pid_id] = proc
        try:
            early = await asyncio.shield(proc._ready)
        except asyncio.CancelledError:
            # Even if READY came in the same turn as the cancellation: the
            # caller will never see this proc, so it must not outlive us.
            proc.cancel()
            await proc._settle()
            raise
        if early is not None:
            raise _spawn_error(early, proc.argv0)
        return proc

    def pool(self, argv, *, ready="bind", timeout: Optional[float] = None, env=None,
             cwd=None, fds=None, executable=None, flags: int = 0,
             max_runners: int = 0, min_idle: int = 0, idle_ttl: float = 0.0,
             stop_grace: float = 0.0, evict_lru: bool = False) -> "Pool":
        """The engine's session pool (one per engine): at most one runner per
        key, started from this template ("{key}" in argv and env replaced by
        the key, "{socket}" by its socket path) on the first get for the key
        and shared by every get for it. max_runners: the cap (0: none);
        at the cap a get for a new key stops the least recently used idle
        runner when evict_lru, else raises BlockingIOError (EAGAIN).
        min_idle: warm runners kept ready for new keys (not with "{key}").
        idle_ttl: seconds a runner stays after its last lease; stop_grace:
        the SIGTERM grace when it goes (0: SIGKILL). The rest as spawn()."""
        self._check()
        if self._pool is not None:
            raise RuntimeError("this engine has a pool already")
        path, args = self._resolve(argv, env, executable)
        timeout_ms = 0 if timeout is None else _ms(timeout, "timeout")
        self._c.pool_new(path, args, env=_env_list(env),
                         cwd=None if cwd is None else os.fspath(cwd), fds=_fd_pairs(fds),
                         ready=_ready_mode(ready), timeout_ms=timeout_ms, flags=flags,
                         max_runners=max_runners, min_idle=min_idle,
                         idle_ttl_ms=_ms(idle_ttl, "idle_ttl"),
                         stop_grace_ms=_ms(stop_grace, "stop_grace"),
                         pool_flags=_c.POOL_EVICT_LRU if evict_lru else 0)
        self._pool = Pool(self, os.fsdecode(args[0]))
        return self._pool

    # ---- closing ----

    async def close(self, timeout: Optional[float] = None) -> None:
        """Cancel every proc, wait for their DONEs (up to timeout seconds;
        None: as long as it takes), then destroy the engine. Pending
        spawns raise SpawnError (reason CANCELLED); waits return their
        Done. Idempotent. If this await is cancelled, or the timeout runs
        out, the engine is destroyed at once (pidring_destroy kills and
        reaps what is left) and the remaining Dones say CANCELLED with an
        unknown status."""
        if self._c.closed:
            return
        first = not self._closing
        self._closing = True
        if self._pool is not None:
            self._pool._close()
        procs = list(self._procs.values())
        if first:
            for p in procs:
                p.cancel()
        try:
            pending = [p._done for p in procs if not p._done.done()]
            if pending:
                await asyncio.wait(pending, timeout=timeout)
        finally:
            self._teardown()

    def _teardown(self):
        """Destroy now: the engine reaps everything it still has (its
        events are discarded), and whoever waits is told CANCELLED."""
        if self._c.closed:
            return
        self._closing = True
        if self._pool is not None:
            self._pool._close()
        try:
            _destroy(self._loop, self._fd, self._c)
        finally:
            procs, self._procs = list(self._procs.values()), {}
            for p in procs:
                p._on_done(Done(Reason.CANCELLED, 0, 0, p.pid, 0, p.ready_ns, 0))

    def __del__(self):
        # The net under a program that dropped an open engine. Nobody can
        # await its procs any more (they would hold it), so destroying is
        # all there is to do: on the loop's thread, which the ring and the
        # loop's reader table both require.
        c = getattr(self, "_c", None)
        if c is None or c.closed:
            return
        if threading.get_ident() == self._thread:
            _destroy(self._loop, self._fd, c)
        elif not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(_destroy, self._loop, self._fd, c)
            except RuntimeError:
                pass        # the loop closed meanwhile: the C object's own dealloc
        # else the C object destroys itself when it goes.


class Evicted(Exception):
    """A pool get whose key was evicted while its runner was starting."""


class Lease:
    """A held lease on a key's runner: id, pid, socket_path. Release it
    (release(), or ``async with pool.get(key) as lease``); the runner then
    stays for the pool's idle_ttl."""

    def __init__(self, pool: "Pool", key: bytes, ticket: int, pid_id: int, pid: int):
        self._pool = pool
        self.key = key
        self.ticket = ticket
        self.id = pid_id
        self.pid = pid
        try:
            self.socket_path = pool._engine._c.socket_path(pid_id) if pid_id else None
        except ProcessLookupError:
            self.socket_path = None            # ended already: the lease stays valid
        self._released = False

    def __repr__(self):
        return f"<pidring.Lease key={self.key!r} pid={self.pid}>"

    def release(self) -> None:
        """End the lease; idempotent. A lease whose runner died is released
        all the same."""
        if self._released:
            return
        self._released = True
        self._pool._release(self.ticket)


class _Session:
    """``async with pool.session(key) as lease``: get, then release."""

    def __init__(self, pool, key):
        self._pool, self._key, self._lease = pool, key, None

    async def __aenter__(self) -> Lease:
        self._lease = await self._pool.get(self._key)
        return self._lease

    async def __aexit__(self, *exc):
        self._lease.release()


class Pool:
    """Engine.pool(): keyed get-or-spawn, single-flight, in C (pidring_pool_*).

    A task cancelled while its get waits takes its lease back: when it was
    the key's last, the starting runner is cancelled mid-bind and reaped."""

    def __init__(self, engine: Engine, argv0: str):
        self._engine = engine
        self._argv0 = argv0
        self._waiting = {}          # ticket -> (future, key)
        self._closed = False

    def _check(self):
        self._engine._check()
        if self._closed:
            raise RuntimeError("pidring pool is closed")

    @staticmethod
    def _key(key) -> bytes:
        return key.encode() if isinstance(key, str) else bytes(key)

    def session(self, key) -> _Session:
        """``async with pool.session(key) as lease``: get() and release()."""
        return _Session(self, key)

    async def get(self, key) -> Lease:
        """The Lease of key's runner (str or bytes), once it is ready
        (started now when the key has none). Raises ExitedEarly /
        SpawnError when the runner ended before it was ready, Evicted when
        the key was evicted first, BlockingIOError at the cap, OSError for
        a spawn that failed."""
        self._check()
        key = self._key(key)
        rc, ticket, pid_id, pid = self._engine._c.pool_get(key)
        if rc == 0:
            return Lease(self, key, ticket, pid_id, pid)
        fut = self._engine._loop.create_future()
        self._waiting[ticket] = (fut, key)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            if self._waiting.pop(ticket, None) is not None:
                self._release(ticket)          # pending: no answer will come
            elif fut.done() and not fut.cancelled() and fut.exception() is None:
                fut.result().release()         # answered in the same turn
            raise

    def _on_answer(self, ev):
        kind, pid_id, pid, reason, code, status, spawn_ns, ready_ns, done_ns, \
            ticket, err = ev
        entry = self._waiting.pop(ticket, None)
        if entry is None:
            return
        fut, key = entry
        if kind == _c.EV_LEASE_READY:
            lease = Lease(self, key, ticket, pid_id, pid)
            if fut.cancelled():
                lease.release()
            else:
                fut.set_result(lease)
        elif not fut.cancelled():
            if err == -errno.ECANCELED:
                fut.set_exception(Evicted(key))
            else:
                fut.set_exception(_spawn_error(Done(Reason(reason), code, status, pid,
                                                    spawn_ns, ready_ns, done_ns),
                                               self._argv0))

    def _release(self, ticket: int):
        if self._closed or self._engine._c.closed:
            return
        try:
            self._engine._c.pool_release(ticket)
        except ProcessLookupError:
            pass                               # answered FAILED meanwhile

    def evict(self, key) -> bool:
        """Stop key's runner now and drop the key; False when it had none."""
        self._check()
        try:
            self._engine._c.pool_evict(self._key(key))
        except FileNotFoundError:
            return False
        return True

    def find(self, key) -> Optional[int]:
        """The engine id of key's runner, or None; takes no lease."""
        self._check()
        return self._engine._c.pool_find(self._key(key))

    def stats(self) -> dict:
        names = ("keys", "warm", "warm_ready", "idle", "stopping", "leases",
                 "started", "done")
        return dict(zip(names, self._engine._c.pool_stats()))

    def _close(self):
        """pidring_pool_destroy (every runner cancelled); waiting gets raise
        CancelledError. Engine.close() does it."""
        if self._closed:
            return
        self._closed = True
        if not self._engine._c.closed:
            self._engine._c.pool_destroy()
        waiting, self._waiting = self._waiting, {}
        for fut, _ in waiting.values():
            if not fut.done():
                fut.cancel()


def _readable(ref):
    eng = ref()
    if eng is not None:
        eng._on_readable()


def _destroy(loop, fd, c):
    """Forget the fd in the loop, then pidring_destroy (kill and reap all)."""
    if c.closed:
        return
    if not loop.is_closed():
        loop.remove_reader(fd)
    c.destroy(-1)
