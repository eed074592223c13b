# SPDX-License-Identifier: MIT
"""The seed's bug class in Python: cancelled spawns, cancelled cleanups, many
spawns in one loop, engines closed with procs in flight. After each of them,
nothing is left: checked right away, not after a grace period."""
import asyncio
import os
import random
import resource

import pytest

import pidring
from conftest import assert_no_children, children, instance_files


def assert_clean(eng, rundir):
    assert_no_children()
    assert instance_files(rundir) == []
    assert eng.live == 0


async def test_cancel_while_binding(eng, child, rundir, flags):
    """Seed regression 1: the task is cancelled while its runner binds."""
    t = asyncio.create_task(eng.spawn([child, "--bind-after-ms", "200"], ready="bind"))
    await asyncio.sleep(0.05)
    assert eng.live == 1 and len(children()) == 1
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    assert_clean(eng, rundir)


async def test_cancel_while_binding_race(eng, child, rundir, flags):
    """The same, looped: binds at 0..3 ms, cancels at 0..4 ms, so the cancel
    lands before, during and after the bind and the READY."""
    rng = random.Random(17)
    outcomes = {"cancelled": 0, "ready": 0}
    for _ in range(150):
        argv = [child, "--bind-after-ms", str(rng.randrange(4))]
        t = asyncio.create_task(eng.spawn(argv, ready="bind"))
        await asyncio.sleep(rng.randrange(5) / 1000)
        t.cancel()
        try:
            proc = await t
        except asyncio.CancelledError:
            outcomes["cancelled"] += 1
        else:                          # READY came first: an ordinary proc
            outcomes["ready"] += 1
            await proc.stop(grace=1)
        assert_clean(eng, rundir)
    assert outcomes["cancelled"] > 0, outcomes


async def test_cancel_after_ready_in_same_turn(eng, child, rundir):
    """READY is in, the task is cancelled before it resumes: the caller will
    never get the proc, so spawn must not hand it out nor leave it."""
    t = asyncio.create_task(eng.spawn([child, "--sleep-forever"], ready="exec"))
    while not any(p._ready.done() for p in eng._procs.values()):
        await asyncio.sleep(0)
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    assert_clean(eng, rundir)


async def test_second_cancel_during_cleanup(eng, child, rundir, flags):
    """Seed regression 2: a second cancellation while the first one's cleanup
    is in progress still leaves nothing."""
    for yields in range(4):
        for _ in range(25):
            t = asyncio.create_task(eng.spawn([child, "--never-ready"], ready="bind"))
            await asyncio.sleep(0.002)
            t.cancel()
            for _ in range(yields):
                await asyncio.sleep(0)
            if yields == 1:
                # The task has run its cancel handler (the kill is in) and
                # waits for the DONE, which the loop has not polled for yet.
                assert eng.live == 1
            t.cancel()
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            assert_clean(eng, rundir)


async def test_wait_for_timeout_on_spawn(eng, child, rundir):
    """The common form of the bug: asyncio.wait_for around the spawn."""
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(eng.spawn([child, "--never-ready"], ready="bind"), 0.05)
    assert_clean(eng, rundir)


@pytest.fixture
def many_fds():
    """1000 procs hold 1000 pidfds (and sockets while they bind)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
        except (ValueError, OSError):
            pytest.skip(f"RLIMIT_NOFILE {soft}/{hard} and not allowed to raise it")
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_1000_concurrent_spawns(eng, child, rundir, many_fds):
    """1000 bind runners in flight in one loop; a third cancelled mid-spawn,
    a few exiting early, the rest ready and then stopped."""
    n = 1000
    tasks = []
    for i in range(n):
        if i % 50 == 7:
            argv = [child, "--exit-before-ready", "--exit", "4"]
        else:
            argv = [child, "--bind-after-ms", str(i % 20)]
        tasks.append(asyncio.create_task(eng.spawn(argv, ready="bind", timeout=60)))
    await asyncio.sleep(0)
    for i in range(0, n, 3):
        tasks[i].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    procs = [r for r in results if isinstance(r, pidring.Proc)]
    cancelled = sum(isinstance(r, asyncio.CancelledError) for r in results)
    early = [r for r in results if isinstance(r, pidring.ExitedEarly)]
    other = [r for r in results if not isinstance(
        r, (pidring.Proc, asyncio.CancelledError, pidring.ExitedEarly))]
    assert other == []
    assert cancelled == len(range(0, n, 3))
    assert len(procs) + cancelled + len(early) == n
    assert early and all(e.status == 4 for e in early)
    assert eng.live == len(procs) == len(children())
    assert len(instance_files(rundir)) == len(procs)
    dones = await asyncio.gather(*(p.stop(grace=5) for p in procs))
    assert {d.reason for d in dones} == {pidring.Reason.STOPPED}
    assert_clean(eng, rundir)


async def test_close_with_procs_in_flight(rules, rundir, child, flags):
    """close() with spawns binding, procs running, one stopping: every await
    is answered, every child reaped, the instance dir gone."""
    eng = await pidring.Engine.open(runtime_dir=rundir, flags=flags)
    spawning = [asyncio.create_task(eng.spawn([child, "--never-ready"], ready="bind"))
                for _ in range(20)]
    running = [await eng.spawn([child, "--sleep-forever"]) for _ in range(10)]
    stubborn = await eng.spawn([child, "--ignore-term", "--notify-after-ms", "0"],
                               ready="notify")
    stopping = asyncio.create_task(stubborn.stop(grace=60))
    waiting = [asyncio.create_task(p.wait()) for p in running]
    await asyncio.sleep(0.05)
    assert eng.live == 31
    await eng.close()
    assert eng.closed and eng.live == 0
    for t in spawning:
        with pytest.raises(pidring.SpawnError) as ei:
            await t
        assert ei.value.reason == pidring.Reason.CANCELLED
    for t in waiting:
        assert (await t).reason == pidring.Reason.CANCELLED
    assert (await stopping).reason == pidring.Reason.STOPPED
    assert_no_children()
    assert os.listdir(rundir) == []
    with pytest.raises(RuntimeError):
        await eng.spawn([child])


async def test_close_cancelled_destroys_at_once(rules, rundir, child):
    """A close whose await is cancelled destroys the engine there and then."""
    eng = await pidring.Engine.open(runtime_dir=rundir)
    procs = [await eng.spawn([child, "--sleep-forever"]) for _ in range(5)]
    t = asyncio.create_task(eng.close())
    await asyncio.sleep(0)
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    assert eng.closed
    assert all(p.done.reason == pidring.Reason.CANCELLED for p in procs)
    assert_no_children()
    assert os.listdir(rundir) == []


async def test_close_timeout_zero(rules, rundir, child):
    eng = await pidring.Engine.open(runtime_dir=rundir)
    proc = await eng.spawn([child, "--sleep-forever"])
    await eng.close(timeout=0)
    assert proc.done.reason == pidring.Reason.CANCELLED
    assert_no_children()


async def test_dropped_engine_reaps(rules, rundir, child):
    """An engine dropped open is destroyed by the garbage collector."""
    eng = await pidring.Engine.open(runtime_dir=rundir)
    await eng.spawn([child, "--sleep-forever"])
    await eng.spawn([child, "--bind-after-ms", "0"], ready="bind")
    assert len(children()) == 2
    del eng
    import gc
    gc.collect()
    assert_no_children()
    assert os.listdir(rundir) == []
