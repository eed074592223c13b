#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""py_spawn.py: the Python asyncio peer of pidring-bench (spawn scenario).

    python3 py_spawn.py --child PATH [--n N] [--c C] [--warmup W]

Runs N cycles of asyncio.create_subprocess_exec(PATH) followed by wait(),
keeping C in flight through a semaphore, after W untimed warm-up cycles.
stdio goes to /dev/null, as it does with pidring. Prints one JSON line with
rate (cycles/s) and lat_us (spawn->exit for each child).
"""
import argparse
import asyncio
import json
import platform
import sys
import time
from asyncio.subprocess import DEVNULL


async def batch(child, n, c, lat):
    sem = asyncio.Semaphore(c)

    async def one():
        async with sem:
            t0 = time.monotonic_ns()
            p = await asyncio.create_subprocess_exec(
                child, stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL)
            rc = await p.wait()
            if rc != 0:
                raise RuntimeError(f"child exited {rc}")
            if lat is not None:
                lat.append((time.monotonic_ns() - t0) / 1000)

    await asyncio.gather(*(one() for _ in range(n)))


async def main(a):
    await batch(a.child, a.warmup, 1, None)
    lat = []
    t0 = time.monotonic_ns()
    await batch(a.child, a.n, a.c, lat)
    el = (time.monotonic_ns() - t0) / 1e9
    return {"peer": "python-asyncio", "version": platform.python_version(),
            "n": a.n, "c": a.c, "elapsed_s": el, "rate": a.n / el,
            "lat_us": [round(x, 1) for x in lat]}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--c", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=10)
    args = ap.parse_args()
    try:
        out = asyncio.run(main(args))
    except Exception as e:  # one line on stderr, exit 1: the bench reports it
        print(f"py_spawn.py: {e}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(out, separators=(",", ":")))
