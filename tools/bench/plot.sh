#!/bin/sh
# SPDX-License-Identifier: MIT
#
# plot.sh: render pidring-bench's CSV as a PNG chart of scenarios 1 and 2.
#
#   tools/bench/plot.sh build/bench.csv build/bench.png
#
# Three panels: spawn rate at C=1 and at C=32 (cycles/s, higher is better),
# and spawn→READY latency p50 and p99 (ms, log scale, lower is better). Each
# contender's ratio to the floor goes on its bar. Without gnuplot it prints a
# note and exits 0.
set -eu

csv=${1:-build/bench.csv}
png=${2:-build/bench.png}

if ! command -v gnuplot >/dev/null 2>&1; then
	echo "plot.sh: gnuplot not found; no chart drawn (apt-get install gnuplot-nox)" >&2
	exit 0
fi
if [ ! -r "$csv" ]; then
	echo "plot.sh: $csv not found; run pidring-bench with --csv $csv first" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pidring-plot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# The CSV quotes every text field, and notes may hold commas. Split it into
# fields, keeping quoted commas, then write one data file per panel:
#   label<TAB>value<TAB>ratio[<TAB>p99]
awk -v dir="$tmp" '
function parse(line,    i, c, q, f, n) {
	n = 0; f = ""; q = 0
	for (i = 1; i <= length(line); i++) {
		c = substr(line, i, 1)
		if (q) {
			if (c == "\"") {
				if (substr(line, i + 1, 1) == "\"") { f = f "\""; i++ }
				else q = 0
			} else f = f c
		} else if (c == "\"") q = 1
		else if (c == ",") { F[++n] = f; f = "" }
		else f = f c
	}
	F[++n] = f
	return n
}
NR == 1 { next }
{
	parse($0)
	scen = F[1]; variant = F[2]; cont = F[3]; med = F[6]
	p50 = F[7]; p99 = F[8]; ratio = F[10]
	if (med == "") next
	sub(/ \(.*\)$/, "", cont)          # "floor (clone+poll+waitid)" -> "floor"
	if (!sub(/ /, "\\n", cont))          # two lines at most
		sub(/\+/, "+\\n", cont)
	if (ratio == "") ratio = "n/a"; else ratio = sprintf("%.2f", ratio)
	if (scen == "spawn" && variant == "C=1")
		printf "%s\t%s\t%s\n", cont, med, ratio > (dir "/spawn1.dat")
	else if (scen == "spawn" && variant == "C=32")
		printf "%s\t%s\t%s\n", cont, med, ratio > (dir "/spawn32.dat")
	else if (scen == "ready" && variant != "cycle" && p50 != "")
		printf "%s\t%.4f\t%s\t%.4f\n", cont, p50 / 1000, ratio, p99 / 1000 > (dir "/ready.dat")
}' "$csv"

for f in spawn1 spawn32 ready; do
	[ -s "$tmp/$f.dat" ] || printf 'no data\t0\tn/a\t0\n' > "$tmp/$f.dat"
done

term="pngcairo size 1500,560 font 'sans,9'"
gnuplot -e "set terminal pngcairo" >/dev/null 2>&1 || term="png size 1500,560"

gnuplot <<GP
set terminal $term noenhanced
set output '$png'
set bmargin 4
set datafile separator '\t'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.8
set grid ytics
set key off
set xtics nomirror font ',8'
set multiplot layout 1,3 title "pidring-bench: the label on each bar is its ratio to the floor (floor cost / contender cost; 1.00 is the floor)"

set title "spawn, C = 1 (cycles/s, higher is better)"
set yrange [0:*]
plot '$tmp/spawn1.dat' using 2:xtic(1) lc rgb '#4477aa', \
     '' using 0:2:3 with labels offset 0,0.6 font ',8'

set title "spawn, C = 32 (cycles/s, higher is better)"
plot '$tmp/spawn32.dat' using 2:xtic(1) lc rgb '#4477aa', \
     '' using 0:2:3 with labels offset 0,0.6 font ',8'

set title "spawn → READY latency (ms, log scale, lower is better)"
set logscale y
set yrange [0.1:*]
set key top left
plot '$tmp/ready.dat' using 2:xtic(1) title 'p50' lc rgb '#228833', \
     '' using 4 title 'p99' lc rgb '#ccbb44', \
     '' using (\$0 - 0.2):2:3 with labels offset 0,0.6 font ',8' notitle
unset multiplot
GP
echo "plot.sh: wrote $png"
