# Filter gcc -fanalyzer output (LC_ALL=C) through mk/analyzer.supp.
# Usage: awk -f mk/analyzer-filter.awk SUPP FILE.gcc...
# Prints each finding that is not suppressed, exits 1 if there was one.
FNR == 1 { fn = "" }
FILENAME == ARGV[1] {
	if ($0 !~ /^[ \t]*(#|$)/)
		supp[$1 " " $2 " " $3] = 0
	next
}
/: In function '/ {
	fn = $0
	sub(/.*: In function '/, "", fn)
	sub(/'.*/, "", fn)
	next
}
/: (warning|error): / {
	opt = ""
	if (match($0, /\[-W[a-z0-9-]+\]$/))
		opt = substr($0, RSTART + 1, RLENGTH - 2)
	file = $0
	sub(/:.*/, "", file)
	key = file " " fn " " opt
	if (key in supp) {
		supp[key]++
		next
	}
	print $0 "  (in " fn ")"
	log_of[FILENAME] = 1
	bad++
}
END {
	for (k in supp)
		if (!supp[k])
			print "analyzer.supp: stale suppression (nothing matched): " k
	if (bad) {
		printf "gcc -fanalyzer: %d finding(s); event paths in:", bad
		for (f in log_of)
			printf " %s", f
		print ""
		exit 1
	}
	print "gcc -fanalyzer: no findings"
}
