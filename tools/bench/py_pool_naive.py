#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""py_pool_naive.py: the session pool's bench scenarios, done the way a naive
asyncio server does them: a dict of runners, an asyncio.Lock per key (so that
two requests do not start two runners), asyncio.create_subprocess_exec, and a
50 ms connect-poll for the bind. The peer of `pidring-bench --pool`.

    /usr/bin/python3 tools/bench/py_pool_naive.py [--child PATH] [--n N]
                     [--churn K] [--json]

    hit    a get for a key whose runner is up (the lock and the dict): the
           naive server's best case, where pidring's is a warm runner
    cold   a get for a new key to its runner accepting connections; N / 4
    churn  K keys, 64 gets in flight, each runner stopped (SIGKILL, reaped,
           socket removed) once its get returned: keys per second

Latencies are p50 / p99 (nearest rank) in microseconds.
"""
import argparse
import asyncio
import collections
import json
import math
import os
import shutil
import sys
import tempfile
import time

TREE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pct(v, p):
    v = sorted(v)
    return v[max(0, math.ceil(p * len(v)) - 1)] / 1000.0 if v else 0.0


class NaivePool:
    def __init__(self, child, rundir):
        self.child, self.rundir = child, rundir
        self.locks = collections.defaultdict(asyncio.Lock)
        self.runners = {}

    async def get(self, key):
        async with self.locks[key]:
            r = self.runners.get(key)
            if r is not None:
                return r
            path = os.path.join(self.rundir, key + ".sock")
            proc = await asyncio.create_subprocess_exec(
                self.child, "--bind-after-ms", "0", "--socket", path,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL)
            while True:
                try:
                    _, w = await asyncio.open_unix_connection(path)
                    w.close()
                    await w.wait_closed()
                    break
                except (FileNotFoundError, ConnectionRefusedError):
                    await asyncio.sleep(0.05)
            self.runners[key] = (proc, path)
            return self.runners[key]

    async def stop(self, key):
        async with self.locks[key]:
            proc, path = self.runners.pop(key)
            proc.kill()
            await proc.wait()
            os.unlink(path)
        del self.locks[key]


async def main(a):
    rundir = tempfile.mkdtemp(prefix="prnaive.", dir="/tmp")
    pool = NaivePool(a.child, rundir)
    try:
        await pool.get("hot")
        hit = []
        for _ in range(a.n):
            t0 = time.monotonic_ns()
            await pool.get("hot")
            hit.append(time.monotonic_ns() - t0)
        await pool.stop("hot")
        cold = []
        for i in range(a.n // 4):
            t0 = time.monotonic_ns()
            await pool.get(f"c{i}")
            cold.append(time.monotonic_ns() - t0)
            await pool.stop(f"c{i}")
        sem = asyncio.Semaphore(64)

        async def one(k):
            async with sem:
                await pool.get(k)
                await pool.stop(k)
        t0 = time.monotonic()
        await asyncio.gather(*(one(f"k{i}") for i in range(a.churn)))
        kps = a.churn / (time.monotonic() - t0)
    finally:
        for key in list(pool.runners):
            await pool.stop(key)
        shutil.rmtree(rundir, ignore_errors=True)
    res = {"hit_get_p50_us": pct(hit, .5), "hit_get_p99_us": pct(hit, .99),
           "cold_get_ready_p50_us": pct(cold, .5), "cold_get_ready_p99_us": pct(cold, .99),
           "churn_keys_per_s": kps}
    if a.json:
        print(json.dumps(res))
    else:
        print(f"hit get (runner up):   p50 {res['hit_get_p50_us']:.1f} us, "
              f"p99 {res['hit_get_p99_us']:.1f} us ({a.n})")
        print(f"cold get to ready:     p50 {res['cold_get_ready_p50_us']:.1f} us, "
              f"p99 {res['cold_get_ready_p99_us']:.1f} us ({a.n // 4})")
        print(f"churn, {a.churn} keys, 64 in flight: {kps:.0f} keys/s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", default=os.environ.get("PIDRING_CHILD") or
                    os.path.join(TREE, "build", "pidring-child"))
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--churn", type=int, default=10000)
    ap.add_argument("--json", action="store_true")
    asyncio.run(main(ap.parse_args()))
