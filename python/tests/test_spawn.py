# SPDX-License-Identifier: MIT
"""Spawn, readiness, stop, wait and the errors, against real runners."""
import asyncio
import errno
import os
import signal
import socket
import stat
import threading

import pytest

import pidring
from pidring import _pidring
from conftest import CHILD, assert_no_children, children, instance_files


async def test_exec_ready_then_stop(eng, child):
    proc = await eng.spawn([child, "--sleep-forever"], ready="exec")
    assert proc.pid > 0 and proc.socket_path is None
    assert proc.pid in dict(children())
    assert proc.done is None and eng.live == 1
    done = await proc.stop(grace=5)
    assert done.reason == pidring.Reason.STOPPED
    assert (done.code, done.status) == (os.CLD_KILLED, signal.SIGTERM)
    assert done.returncode == -signal.SIGTERM and done.pid == proc.pid
    assert done.spawn_ns <= done.ready_ns <= done.done_ns
    assert proc.done == done and await proc.wait() == done
    assert_no_children()
    assert eng.live == 0


async def test_bind_ready_socket_then_stop(eng, child, rundir, flags):
    proc = await eng.spawn([child, "--bind-after-ms", "20"], ready=pidring.Ready.BIND,
                           timeout=10)
    assert stat.S_ISSOCK(os.stat(proc.socket_path).st_mode)
    assert instance_files(rundir) == [os.path.relpath(proc.socket_path, rundir)]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(proc.socket_path)
    done = await proc.stop(grace=5)
    assert done.reason == pidring.Reason.STOPPED
    assert not os.path.exists(proc.socket_path)
    assert instance_files(rundir) == []


async def test_socket_substituted_in_argv(eng, child):
    proc = await eng.spawn([child, "--socket", "{socket}", "--bind-after-ms", "0"],
                           ready="bind")
    assert os.path.exists(proc.socket_path)
    proc.cancel()
    assert (await proc.wait()).reason == pidring.Reason.CANCELLED


async def test_notify_ready_and_status(eng, child):
    proc = await eng.spawn([child, "--notify-after-ms", "20", "--status", "warm"],
                           ready="notify", timeout=10)
    assert proc.status == "warm"
    proc.cancel()
    done = await proc.wait()
    assert done.reason == pidring.Reason.CANCELLED
    assert (done.code, done.status) == (os.CLD_KILLED, signal.SIGKILL)
    assert proc.status == ""


async def test_exit_after_ready(eng, child):
    proc = await eng.spawn([child, "--after-ms", "30", "--exit", "3"])
    done = await proc.wait()
    assert done.reason == pidring.Reason.EXITED
    assert (done.code, done.status, done.returncode) == (os.CLD_EXITED, 3, 3)
    proc.cancel()                       # after DONE: changes nothing
    assert await proc.stop() == done


@pytest.mark.parametrize("ready", ["bind", "notify"])
async def test_exit_before_ready(eng, child, rundir, ready):
    with pytest.raises(pidring.ExitedEarly) as ei:
        await eng.spawn([child, "--exit-before-ready", "--after-ms", "20", "--exit", "7"],
                        ready=ready, timeout=10)
    e = ei.value
    assert isinstance(e, pidring.SpawnError)
    assert e.reason == pidring.Reason.EXITED_EARLY
    assert (e.code, e.status, e.done.returncode) == (os.CLD_EXITED, 7, 7)
    assert e.pid > 0 and e.done.ready_ns == 0
    assert_no_children()
    assert instance_files(rundir) == []


async def test_killed_before_ready(eng, child):
    with pytest.raises(pidring.ExitedEarly) as ei:
        await eng.spawn([child, "--exit-before-ready", "--signal", "9"], ready="bind")
    assert (ei.value.code, ei.value.status) == (os.CLD_KILLED, signal.SIGKILL)
    assert "killed by signal 9" in str(ei.value)


async def test_ready_deadline(eng, child, rundir, flags):
    with pytest.raises(pidring.ReadyTimeout) as ei:
        await eng.spawn([child, "--never-ready"], ready="bind", timeout=0.2)
    assert isinstance(ei.value, TimeoutError)
    assert ei.value.reason == pidring.Reason.READY_TIMEOUT
    assert ei.value.code == os.CLD_KILLED
    assert_no_children()
    assert instance_files(rundir) == []


# A runner that ignores SIGTERM. READY (notify) proves it runs: with READY at
# exec a stop could send SIGTERM before its first instruction.
TERM_PROOF = [CHILD, "--ignore-term", "--notify-after-ms", "0"]


async def test_stop_escalates_to_kill(eng, child):
    proc = await eng.spawn(TERM_PROOF, ready="notify")
    done = await proc.stop(grace=0.1)
    assert done.reason == pidring.Reason.STOPPED
    assert (done.code, done.status) == (os.CLD_KILLED, signal.SIGKILL)


async def test_cancelled_stop_kills_at_once(eng, child):
    proc = await eng.spawn(TERM_PROOF, ready="notify")
    t = asyncio.create_task(proc.stop(grace=60))
    await asyncio.sleep(0.05)
    assert eng.live == 1
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    # Reaped before the CancelledError came out, not 60 s later.
    assert_no_children()
    assert proc.done.reason == pidring.Reason.STOPPED
    assert proc.done.status == signal.SIGKILL


async def test_cancelled_wait_leaves_proc(eng, child):
    proc = await eng.spawn([child, "--sleep-forever"])
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(proc.wait(), 0.05)
    assert proc.done is None and eng.live == 1
    proc.cancel()
    proc.cancel()
    assert (await proc.wait()).reason == pidring.Reason.CANCELLED


async def test_env_fds_and_cwd(eng, child, rundir):
    r, w = os.pipe()
    try:
        proc = await eng.spawn([child, "--report-fd", "3", "--sleep-forever"],
                               env={"FOO": "bar", "PATH": "/nowhere"}, fds={3: w},
                               cwd=rundir)
        os.close(w)
        w = -1
        assert os.readlink(f"/proc/{proc.pid}/cwd") == rundir
        report = b""
        while not report.endswith(b"end\n"):
            chunk = os.read(r, 65536)
            assert chunk, f"report cut short: {report!r}"
            report += chunk
        lines = report.decode().splitlines()
        assert [x for x in lines if x.startswith("fd ")] == ["fd 0", "fd 1", "fd 2", "fd 3"]
        assert sorted(x for x in lines if x.startswith("env ")) == [
            "env FOO=bar", "env PATH=/nowhere"]
        proc.cancel()
        await proc.wait()
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


async def test_path_lookup(eng, child):
    d = os.path.dirname(child)
    proc = await eng.spawn([os.path.basename(child)], env={"PATH": d})
    assert (await proc.wait()).reason == pidring.Reason.EXITED
    with pytest.raises(FileNotFoundError):
        await eng.spawn(["pidring-no-such-program"], env={"PATH": d})


async def test_spawn_errors_leave_nothing(eng, child, rundir):
    with pytest.raises(FileNotFoundError) as ei:
        await eng.spawn(["/nonexistent/runner"])
    assert ei.value.errno == errno.ENOENT
    with pytest.raises(FileNotFoundError):
        await eng.spawn([child], cwd="/nonexistent")
    with pytest.raises(PermissionError):
        await eng.spawn([rundir + "/"], executable=rundir)
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError) as ei:
        await eng.spawn([child], fds={3: w})
    assert ei.value.errno == errno.EBADF
    with pytest.raises(OSError) as ei:
        await eng.spawn([child], flags=1 << 30)
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(ValueError):
        await eng.spawn([])
    with pytest.raises(ValueError):
        await eng.spawn([child], ready="listen")
    with pytest.raises(ValueError):
        await eng.spawn([child], timeout=0)
    with pytest.raises(ValueError):
        await eng.spawn([child], env={"A=B": "c"})
    assert eng.live == 0
    assert_no_children()
    assert instance_files(rundir) == []


async def test_errors_are_oserror_with_errno(rules, rundir):
    raw = _pidring.Engine(runtime_dir=rundir)
    try:
        with pytest.raises(ProcessLookupError) as ei:
            raw.cancel(12345)
        assert ei.value.errno == errno.ESRCH
        with pytest.raises(ProcessLookupError):
            raw.stop(12345, 10)
        with pytest.raises(OverflowError):
            raw.stop(1, 1 << 40)
    finally:
        raw.destroy()
    raw.destroy()                        # idempotent
    with pytest.raises(RuntimeError):
        raw.live()
    with pytest.raises(NotADirectoryError):
        _pidring.Engine(runtime_dir="/dev/null")


async def test_engine_belongs_to_its_thread(eng, child):
    caught = []

    def other():
        try:
            eng._c.live()
        except RuntimeError as e:
            caught.append(e)
    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert len(caught) == 1 and "thread" in str(caught[0])


async def test_open_forms(rules, rundir, child):
    async with pidring.Engine.open(runtime_dir=rundir) as eng:
        proc = await eng.spawn([child, "--sleep-forever"])
    assert eng.closed and proc.done.reason == pidring.Reason.CANCELLED
    async with pidring.Engine(runtime_dir=rundir) as eng2:
        assert not eng2.closed and eng2.fileno() >= 0
    assert eng2.closed
    with pytest.raises(RuntimeError):
        await eng2.spawn([child])
    await eng2.close()                   # idempotent


def test_engine_needs_a_running_loop(rules, rundir):
    with pytest.raises(RuntimeError):
        pidring.Engine(runtime_dir=rundir)
