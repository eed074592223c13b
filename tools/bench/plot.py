#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Draw pidring-bench's JSON (--json) as a PNG chart with gnuplot.

    tools/bench/plot.py build/bench.json docs/bench.png

Four panels, from the "scenarios" objects: the spawn rate at C = 1 and at
C = 32 (cycles/s, higher is better), spawn->READY latency p50 and p99 (ms,
log scale, lower is better), and the cancel storm's cost per proc at the
small and the large n (us, lower is better). Each bar carries its ratio to
the floor; the bars the issues set are listed under the title with PASS or
MISS. Without gnuplot it says so and exits 0.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


def short(name):
    """'floor (clone+poll+waitid)' -> 'floor'; two lines at most."""
    name = name.split(" (")[0]
    return name.replace(" ", "\\n", 1) if " " in name else name.replace("+", "+\\n", 1)


def members(sc):
    """The floor, pidring and the peers of one scenario object, in that order."""
    out = [sc["floor"], sc["pidring"]] + sc["peers"]
    return [m for m in out if m and m.get("median") is not None]


def ratio_label(m):
    r = m.get("ratio_to_floor")
    return "n/a" if r is None else "%.2f" % r


def write_rate(path, sc):
    with open(path, "w") as f:
        for m in members(sc):
            f.write("%s\t%g\t%s\n" % (short(m["contender"]), m["median"], ratio_label(m)))


def write_ready(path, sc):
    with open(path, "w") as f:
        for m in members(sc):
            if m.get("p50_us") is None:
                continue
            f.write("%s\t%.4f\t%s\t%.4f\n" % (short(m["contender"]), m["p50_us"] / 1e3,
                                              ratio_label(m), (m["p99_us"] or 0) / 1e3))


def write_storm(path, storms):
    """label, then floor and pidring us/proc, at each n."""
    with open(path, "w") as f:
        for sc in storms:
            vals = []
            for m in (sc["floor"], sc["pidring"]):
                ok = m and m.get("median") is not None and sc["count"]
                vals.append(m["median"] * 1e3 / sc["count"] if ok else 0)
            f.write("n = %d\t%.2f\t%.2f\t%s\n" % (sc["count"], vals[0], vals[1],
                                                 ratio_label(sc["pidring"] or {})))


def pick(scs, scen, variant=None):
    for sc in scs:
        if sc["scenario"] == scen and (variant is None or sc["variant"] == variant):
            return sc
    return None


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "build/bench.json"
    png = sys.argv[2] if len(sys.argv) > 2 else "build/bench.png"
    gp = shutil.which("gnuplot")
    if not gp:
        print("plot.py: gnuplot not found; no chart drawn (apt-get install gnuplot-nox)",
              file=sys.stderr)
        return 0
    with open(src) as f:
        doc = json.load(f)
    scs = doc.get("scenarios", [])
    empty = {"floor": None, "pidring": None, "peers": [], "count": 0}
    tmp = tempfile.mkdtemp(prefix="pidring-plot.")
    try:
        d = lambda n: os.path.join(tmp, n)
        write_rate(d("spawn1.dat"), pick(scs, "spawn", "C=1") or empty)
        write_rate(d("spawn32.dat"), pick(scs, "spawn", "C=32") or empty)
        write_ready(d("ready.dat"), pick(scs, "ready", "spawn→ready") or empty)
        write_storm(d("storm.dat"), [s for s in scs if s["scenario"] == "storm"])
        for n in ("spawn1", "spawn32", "ready", "storm"):
            if os.path.getsize(d(n + ".dat")) == 0:
                with open(d(n + ".dat"), "w") as f:
                    f.write("no data\t0.1\tn/a\t0.1\n")
        marks = ["%s %s: %.2f" % ("PASS" if b["pass"] else "MISS",
                                  b["what"].split(", median")[0], b["value"] or 0)
                 for b in doc.get("bars", [])]
        bars = "\\n".join("   ".join(marks[i:i + 3]) for i in range(0, len(marks), 3))
        title = "pidring-bench%s, Linux %s, liburing %s: the label on each bar is its " \
                "ratio to the floor (1.00 = the floor)" % (
                    " --quick" if doc.get("quick") else "", doc.get("kernel", "?"),
                    doc.get("liburing_version", "?"))
        script = GNUPLOT % {"png": png, "tmp": tmp, "title": title,
                            "bars": bars.replace('"', "'")}
        subprocess.run([gp], input=script.encode(), check=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("plot.py: wrote %s" % png)
    return 0


GNUPLOT = r"""
set terminal pngcairo size 1500,950 font 'sans,9' noenhanced
set output '%(png)s'
set datafile separator '\t'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.8
set grid ytics
set key off
set bmargin 4
set xtics nomirror font ',8'
set multiplot layout 2,2 title "%(title)s\n%(bars)s"

set title "spawn, C = 1 (cycles/s, higher is better)"
set yrange [0:*]
plot '%(tmp)s/spawn1.dat' using 2:xtic(1) lc rgb '#4477aa', \
     '' using 0:2:3 with labels offset 0,0.6 font ',8'

set title "spawn, C = 32 (cycles/s, higher is better)"
plot '%(tmp)s/spawn32.dat' using 2:xtic(1) lc rgb '#4477aa', \
     '' using 0:2:3 with labels offset 0,0.6 font ',8'

set title "spawn -> READY latency (ms, log scale, lower is better)"
set logscale y
set yrange [0.1:*]
set key top left
plot '%(tmp)s/ready.dat' using 2:xtic(1) title 'p50' lc rgb '#228833', \
     '' using 4 title 'p99' lc rgb '#ccbb44', \
     '' using ($0 - 0.2):2:3 with labels offset 0,0.6 font ',8' notitle

set title "cancel storm: cost per proc (us, lower is better; label: pidring's ratio)"
unset logscale y
set yrange [0:*]
plot '%(tmp)s/storm.dat' using 2:xtic(1) title 'floor (kill+waitid)' lc rgb '#4477aa', \
     '' using 3 title 'pidring' lc rgb '#ee6677', \
     '' using ($0 + 0.2):3:4 with labels offset 0,0.6 font ',8' notitle
unset multiplot
"""

if __name__ == "__main__":
    sys.exit(main())
