# SPDX-License-Identifier: MIT
"""Engine.pool: the session pool through the binding. The seed's hand-rolled
layer (a lock per key, a bind wait, an idle reaper) done by the C pool:
single-flight, a cancelled get that cancels the runner mid-bind, crashes,
idle expiry. Each test ends with the usual audit (conftest.rules)."""
import asyncio
import os
import signal

import pytest

import pidring
from conftest import assert_no_children, children, instance_files


async def settle(pool, eng):
    """Until every runner the pool started is DONE (bounded by the
    suite's timeout, never a timed assertion)."""
    while pool.stats()["done"] != pool.stats()["started"] or eng.live:
        await asyncio.sleep(0.01)


async def test_single_flight(eng, child, rundir, flags):
    pool = eng.pool([child, "--bind-after-ms", "20", "{key}"], idle_ttl=60)
    leases = await asyncio.gather(*(pool.get("conv-1") for _ in range(50)))
    assert len({l.id for l in leases}) == 1
    assert pool.stats()["started"] == 1
    assert leases[0].socket_path and os.path.exists(leases[0].socket_path)
    async with pool.session("conv-1") as again:          # ready: at once
        assert again.id == leases[0].id
    for l in leases:
        l.release()
    assert pool.stats()["idle"] == 1 and pool.stats()["leases"] == 0
    assert pool.evict("conv-1") and not pool.evict("conv-1")
    await settle(pool, eng)
    assert_no_children()
    assert instance_files(rundir) == []


async def test_cancelled_get_cancels_runner_mid_bind(eng, child, rundir, flags):
    """Seed regression through the pool: the request goes away while the
    key's runner binds; the runner is cancelled then and there."""
    pool = eng.pool([child, "--bind-after-ms", "2000", "{key}"], idle_ttl=60)
    t = asyncio.create_task(pool.get("k"))
    while not children():
        await asyncio.sleep(0.005)
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    st = pool.stats()
    assert st["keys"] == 0 and st["leases"] == 0
    assert st["stopping"] + st["done"] == 1          # SIGKILL sent, chain in
    assert pool.find("k") is None
    await settle(pool, eng)
    assert_no_children()
    assert instance_files(rundir) == []


async def test_runner_exits_before_ready(eng, child, flags):
    pool = eng.pool([child, "--exit-before-ready", "--after-ms", "10", "--exit", "{key}"])
    with pytest.raises(pidring.ExitedEarly) as ei:
        await pool.get("9")
    assert ei.value.done.returncode == 9
    assert pool.find("9") is None


async def test_crash_and_reget(eng, child, flags):
    pool = eng.pool([child, "--bind-after-ms", "0", "{key}"], idle_ttl=60)
    a = await pool.get("k")
    os.kill(a.pid, signal.SIGKILL)
    while pool.find("k") is not None:
        await asyncio.sleep(0.005)
    b = await pool.get("k")
    assert b.id != a.id
    a.release()
    b.release()
    pool.evict("k")
    await settle(pool, eng)


async def test_evicted_while_starting(eng, child):
    pool = eng.pool([child, "--bind-after-ms", "2000", "{key}"])
    t = asyncio.create_task(pool.get("k"))
    while pool.find("k") is None:
        await asyncio.sleep(0.005)
    assert pool.evict("k")
    with pytest.raises(pidring.Evicted):
        await t
    await settle(pool, eng)


async def test_idle_ttl_and_cap(eng, child):
    pool = eng.pool([child, "--bind-after-ms", "0", "{key}"], idle_ttl=0.05,
                    max_runners=1)
    async with pool.session("a"):
        with pytest.raises(BlockingIOError):
            await pool.get("b")
    await settle(pool, eng)                          # expired on the ring's TIMEOUT
    assert pool.stats()["keys"] == 0
    async with pool.session("b"):
        pass


async def test_close_with_gets_in_flight(rules, rundir, child):
    eng = await pidring.Engine.open(runtime_dir=rundir)
    pool = eng.pool([child, "--bind-after-ms", "2000", "{key}"])
    tasks = [asyncio.create_task(pool.get(f"k{i % 5}")) for i in range(20)]
    while pool.stats()["keys"] < 5:
        await asyncio.sleep(0.005)
    await eng.close()
    for t in tasks:
        with pytest.raises(asyncio.CancelledError):
            await t
    assert eng.closed and eng.live == 0
