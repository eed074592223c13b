#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""py_ready_poll.py: the "sleep-poll" practice, a pidring-bench peer (ready scenario).

    python3 py_ready_poll.py --child PATH --dir DIR [--n N] [--warmup W]

Each cycle spawns `PATH --bind-after-ms 0` through asyncio with
PIDRING_SOCKET=DIR/<i>.sock, then loops: sleep 50 ms, check whether the socket
exists, try to connect. That is how many servers wait for a runner. The first
check comes one period after the spawn; a check-first loop would usually
succeed at once here, because Python's own spawn takes longer than this
child needs to bind. A real runner binds later than that. Once
connected it kills the child, waits for it and unlinks the socket. Prints one
JSON line: rate (full cycles/s), lat_us (spawn->ready) and cycle_us (the
whole cycle).
"""
import argparse
import asyncio
import json
import os
import platform
import socket
import sys
import time
from asyncio.subprocess import DEVNULL

POLL_S = 0.05


def connects(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


async def cycle(a, i, poll_s=POLL_S, bind_ms=0):
    """One spawn, connect-poll (every poll_s) and teardown; (lat_us, cycle_us)."""
    sock = os.path.join(a.dir, f"{i}.sock")
    env = dict(os.environ, PIDRING_SOCKET=sock)
    t0 = time.monotonic_ns()
    p = await asyncio.create_subprocess_exec(
        a.child, "--bind-after-ms", str(bind_ms), env=env,
        stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            await asyncio.sleep(poll_s)
            if os.path.exists(sock) and connects(sock):
                break
            if p.returncode is not None:
                raise RuntimeError(f"child exited {p.returncode} before binding")
            if time.monotonic() > deadline:
                raise RuntimeError("child did not bind in 10 s")
        t1 = time.monotonic_ns()
    finally:
        if p.returncode is None:
            p.kill()
        await p.wait()
        try:
            os.unlink(sock)
        except FileNotFoundError:
            pass
    return (t1 - t0) / 1000, (time.monotonic_ns() - t0) / 1000


async def main(a):
    for i in range(a.warmup):
        await cycle(a, i)
    lat, cyc = [], []
    t0 = time.monotonic_ns()
    for i in range(a.n):
        r, c = await cycle(a, a.warmup + i)
        lat.append(round(r, 1))
        cyc.append(round(c, 1))
    el = (time.monotonic_ns() - t0) / 1e9
    return {"peer": "python-sleep-poll", "version": platform.python_version(),
            "poll_ms": POLL_S * 1000, "n": a.n, "elapsed_s": el, "rate": a.n / el,
            "lat_us": lat, "cycle_us": cyc}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    try:
        out = asyncio.run(main(args))
    except Exception as e:
        print(f"py_ready_poll.py: {e}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(out, separators=(",", ":")))
