# SPDX-License-Identifier: MIT
"""Fixtures that check pidring's rules after every test.

Every test gets its own runtime directory and ends by checking, exactly: no
child of this process left (alive or zombie), no fd open that was not open
before, no file left in the runtime directory, nothing printed and nothing
logged by asyncio.
"""
import asyncio
import gc
import logging
import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))   # the in-place build

import pidring  # noqa: E402

CHILD = os.environ.get("PIDRING_CHILD") or os.path.join(
    os.path.dirname(os.path.dirname(HERE)), "build", "pidring-child")


def children():
    """(pid, state) of every process whose parent is this one."""
    me, out = os.getpid(), []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue                     # gone while we looked
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == me:
            out.append((int(name), fields[0]))
    return out


def _capture_file(target):
    # pytest's output capture: fds 0-2 and the temporary files it swaps in
    # around each test phase come and go on their own.
    return target.startswith(tempfile.gettempdir() + "/#") and target.endswith(" (deleted)")


def open_fds():
    """{fd: what it points at} for this process, the listing's own fd and
    pytest's capture files aside."""
    out = {}
    fd = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in os.listdir(fd):
            if int(name) == fd:
                continue
            try:
                target = os.readlink(name, dir_fd=fd)
            except OSError:
                continue
            if int(name) > 2 and not _capture_file(target):
                out[int(name)] = target
    finally:
        os.close(fd)
    return out


def tree(path):
    """Every file and directory under path, relative to it."""
    out = []
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            out.append(os.path.relpath(os.path.join(root, n), path))
    return sorted(out)


def instance_files(rundir):
    """Files in the engines' instance directories but their own (the lock,
    the sd_notify socket)."""
    return [p for p in tree(rundir)
            if "/" in p and os.path.basename(p) not in ("lock", "notify")]


def assert_no_children():
    left = children()
    assert left == [], f"children left (pid, state): {left}"


@pytest.fixture
def rundir():
    # Short, under /tmp: socket paths must fit sun_path.
    d = tempfile.mkdtemp(prefix="prpy.", dir="/tmp")
    yield d
    left = tree(d)
    shutil.rmtree(d, ignore_errors=True)
    assert left == [], f"files left in the runtime dir: {left}"


@pytest.fixture
def rules(event_loop, rundir, capfd, caplog):
    """The end-of-test audit. Set up after the loop and the runtime dir (so
    their fds are in the baseline). The loop may be closed by the time it
    runs: that takes fds away, never adds any."""
    caplog.set_level(logging.WARNING)
    before = open_fds()
    yield
    gc.collect()
    assert_no_children()
    after = open_fds()
    extra = {fd: t for fd, t in after.items() if before.get(fd) != t}
    assert extra == {}, f"fds left open: {extra}"
    out, err = capfd.readouterr()
    assert (out, err) == ("", ""), "something printed"
    logged = [r.getMessage() for when in ("setup", "call")
              for r in caplog.get_records(when) if r.levelno >= logging.WARNING]
    assert logged == [], f"logged: {logged}"


@pytest.fixture(params=[0, pidring.F_NO_WAITID], ids=["waitid", "no-waitid"])
def flags(request):
    return request.param


@pytest.fixture
async def eng(rules, rundir, request):
    """An engine on this test's loop and runtime dir (with the test's
    `flags` when it asks for them); closed, and checked closed cleanly,
    after the test."""
    flags = request.getfixturevalue("flags") if "flags" in request.fixturenames else 0
    e = await pidring.Engine.open(runtime_dir=rundir, flags=flags)
    yield e
    await e.close()
    assert e.closed and e.live == 0


@pytest.fixture
def child():
    if not os.access(CHILD, os.X_OK):
        pytest.fail(f"no test child at {CHILD} (make tools, or set PIDRING_CHILD)")
    return CHILD
