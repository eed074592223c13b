#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""py_binding_ready.py: spawn-to-ready of a bind runner, three ways, one run.

    /usr/bin/python3 tools/bench/py_binding_ready.py [--child PATH] [--n N]
                     [--warmup W] [--bind-ms MS] [--json]

1. pidring's asyncio binding: `await eng.spawn(argv, ready="bind")`.
2. asyncio.create_subprocess_exec, then a loop that sleeps 50 ms and tries to
   connect to the socket (the seed's way).
3. The same loop with a 1 ms period.

Each cycle spawns `pidring-child --bind-after-ms MS` (default 0), takes the
time from the spawn call until the runner is known to accept connections,
then kills and reaps it and removes its socket (the whole cycle is timed
too). The three ways take turns, cycle by cycle, so that a noisy neighbour
hits them alike. Prints medians and the ratios to the binding's median
(with --json, one JSON line as well). The child is --child, else
$PIDRING_CHILD, else build/pidring-child of this tree.
"""
import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

TREE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TREE, "python"))   # the in-place build, if any

import pidring  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import py_ready_poll  # noqa: E402


async def via_binding(eng, a, i):
    t0 = time.monotonic_ns()
    proc = await eng.spawn([a.child, "--bind-after-ms", str(a.bind_ms)], ready="bind",
                           timeout=10)
    t1 = time.monotonic_ns()
    proc.cancel()
    await proc.wait()
    return (t1 - t0) / 1e3, (time.monotonic_ns() - t0) / 1e3


def via_poll(period_s):
    """pidring-bench's sleep-poll peer, at this period."""
    async def cycle(eng, a, i):
        return await py_ready_poll.cycle(a, f"poll.{i}", poll_s=period_s,
                                         bind_ms=a.bind_ms)
    return cycle


WAYS = [("pidring binding", via_binding),
        ("create_subprocess_exec + 50 ms poll", via_poll(0.050)),
        ("create_subprocess_exec + 1 ms poll", via_poll(0.001))]


async def main(a):
    res = {name: ([], []) for name, _ in WAYS}
    async with pidring.Engine.open(runtime_dir=a.dir) as eng:
        for i in range(a.warmup + a.n):
            for name, way in WAYS:
                lat, cyc = await way(eng, a, i)
                if i >= a.warmup:
                    res[name][0].append(lat)
                    res[name][1].append(cyc)
    return res


def fmt(us):
    return f"{us / 1e3:8.2f} ms" if us >= 1e3 else f"{us:8.0f} us"


def report(a, res):
    base = statistics.median(res[WAYS[0][0]][0])
    print(f"py_binding_ready: {a.n} cycles per way (after {a.warmup} warm-up), runner "
          f"binds at {a.bind_ms} ms, Python {platform.python_version()}, "
          f"pidring {pidring.__version__}")
    print(f"  {'way':38} {'ready median':>12} {'ready p90':>11} {'cycle median':>12}"
          f" {'ratio':>7}")
    out = {"n": a.n, "bind_ms": a.bind_ms, "python": platform.python_version(),
           "ways": {}}
    for name, _ in WAYS:
        lat, cyc = res[name]
        med = statistics.median(lat)
        p90 = statistics.quantiles(lat, n=10)[-1] if len(lat) > 1 else lat[0]
        ratio = med / base
        print(f"  {name:38} {fmt(med):>12} {fmt(p90):>11} "
              f"{fmt(statistics.median(cyc)):>12} {ratio:6.1f}x")
        out["ways"][name] = {"ready_median_us": med, "ready_p90_us": p90,
                             "cycle_median_us": statistics.median(cyc),
                             "ratio": ratio}
    print("  ratio: the way's ready median over the binding's (higher is slower)")
    if a.json:
        print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", default=os.environ.get("PIDRING_CHILD") or
                    os.path.join(TREE, "build", "pidring-child"))
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--bind-ms", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.n < 1 or args.warmup < 0 or args.bind_ms < 0:
        ap.error("--n must be >= 1, --warmup and --bind-ms >= 0")
    if not os.access(args.child, os.X_OK):
        ap.error(f"no runner at {args.child} (make tools, or --child)")
    # Short, so that socket paths fit sun_path.
    args.dir = tempfile.mkdtemp(prefix="pr-bench.", dir="/tmp")
    try:
        results = asyncio.run(main(args))
    except (OSError, RuntimeError) as e:
        print(f"py_binding_ready.py: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        shutil.rmtree(args.dir, ignore_errors=True)
    report(args, results)
