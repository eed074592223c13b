#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The man pages against the header they document (mk/man.mk runs it).
#
#   man-check.sh functions HEADER      the functions HEADER declares, one a
#                                      line (taken from the header itself)
#   man-check.sh prototype HEADER FN   FN's declaration, on one line
#   man-check.sh pages HEADER MANDIR   every function has MANDIR/FN.3.scd,
#                                      every FN.3.scd names a function of
#                                      HEADER, its NAME line starts with FN,
#                                      pidring(7)'s SEE ALSO names FN(3),
#                                      its SYNOPSIS holds the header's
#                                      declaration, its SEE ALSO names only
#                                      pages that exist
#   man-check.sh render PAGE...        man -l renders each built page with
#                                      every groff warning on, and none fires;
#                                      no line is wider than 80 columns
#   man-check.sh example SCD           the C program in SCD's EXAMPLE section
#
# Exit status 0 when all is well; otherwise each problem is printed.
set -eu

# The header without comments, one declaration per line: a declaration
# ends at ';', so a prototype that spans lines becomes one.
decls() {
	sed -e 's,/\*.*\*/,,g' "$1" | awk '
		/\/\*/ { c = 1; sub(/\/\*.*/, "") }
		c && /\*\// { c = 0; sub(/.*\*\//, "") }
		c { next }
		{ buf = buf " " $0 }
		/;/ || /^#/ { gsub(/[ \t]+/, " ", buf); print buf; buf = "" }'
}

# Every function declared, PIDRING_API or not (one without it would be a
# mistake in the header, still a name a reader looks up).
functions() {
	decls "$1" | grep -v '^ *#' |
		sed -n 's/^[^(]*[ *]\(pidring_[a-z0-9_]*\) *(.*/\1/p'
}

# "int pidring_new(struct pidring **out, ...);", spaces normalised.
prototype() {
	decls "$1" | grep -v '^ *#' | grep "^[^(]*[ *]$2 *(" | head -n 1 | norm |
		sed 's/^PIDRING_API //'
}

norm() {
	sed -e 's/[ \t][ \t]*/ /g' -e 's/^ //' -e 's/ $//' \
	    -e 's/( /(/g' -e 's/ )/)/g' -e 's/ ,/,/g'
}

# The lines of one section of an scdoc page (without its heading).
section() {
	awk -v s="# $2" '$0 == s { on = 1; next } /^# / { on = 0 } on' "$1"
}

# The literal blocks (``` fenced) of a section, scdoc's escapes undone.
literal() {
	section "$1" "$2" | awk '/^\t*```/ { on = !on; next } on' |
		sed -e 's/^\t//' -e 's/\\\(.\)/\1/g'
}

pages() {
	header=$1 dir=$2 bad=0
	fns=$(functions "$header")
	if [ -z "$fns" ]; then
		echo "man-check: no function found in $header"
		return 1
	fi
	for fn in $fns; do
		page=$dir/$fn.3.scd
		if [ ! -f "$page" ]; then
			echo "man-check: $fn is declared in $header but has no page $page"
			bad=1
			continue
		fi
		if ! section "$page" NAME | grep -q "^$fn\\( \\|,\\)"; then
			echo "man-check: $page: NAME does not start with $fn"
			bad=1
		fi
		if ! section "$dir/pidring.7.scd" "SEE ALSO" | grep -qF "*$fn*(3)"; then
			echo "man-check: pidring(7)'s SEE ALSO does not name $fn(3)"
			bad=1
		fi
		want=$(prototype "$header" "$fn")
		have=$(literal "$page" SYNOPSIS | tr '\n' ' ' | norm)
		case "$have" in
		*"$want"*) ;;
		*)	echo "man-check: $page: SYNOPSIS lacks the header's declaration:"
			echo "    $want"
			bad=1 ;;
		esac
	done
	for page in "$dir"/*.3.scd; do
		fn=$(basename "$page" .3.scd)
		if ! echo "$fns" | grep -qx "$fn"; then
			echo "man-check: $page documents $fn, which $header does not declare"
			bad=1
		fi
	done
	for page in "$dir"/*.scd; do
		for ref in $(section "$page" "SEE ALSO" |
			     grep -o '\*pidring[a-z0-9_]*\*([0-9])' | tr -d '*'); do
			name=${ref%(*} sec=${ref#*(}
			sec=${sec%)}
			if [ ! -f "$dir/$name.$sec.scd" ]; then
				echo "man-check: $page: SEE ALSO names $ref, which has no page"
				bad=1
			fi
		done
	done
	return $bad
}

render() {
	bad=0 err=$(mktemp)
	for page in "$@"; do
		# man-db hands --warnings to groff as -w options: w is every one.
		if ! out=$(MANWIDTH=80 man --warnings=w -l "$page" 2>"$err"); then
			echo "man-check: man -l $page failed:"
			cat "$err"
			bad=1
		elif [ -s "$err" ]; then
			echo "man-check: man -l $page warns:"
			cat "$err"
			bad=1
		elif [ -z "$out" ]; then
			echo "man-check: man -l $page renders nothing"
			bad=1
		elif echo "$out" | awk 'length > 80 { n++ } END { exit !n }'; then
			# Literal blocks are not wrapped: a long line overflows.
			echo "man-check: man -l $page has lines over 80 columns:"
			echo "$out" | awk 'length > 80'
			bad=1
		fi
	done
	rm -f "$err"
	return $bad
}

case "${1:-}" in
functions) functions "$2" ;;
prototype) prototype "$2" "$3" ;;
pages) pages "$2" "$3" ;;
render) shift; render "$@" ;;
example) literal "$2" EXAMPLE ;;
*)	echo "usage: $0 functions|prototype|pages|render|example ..." >&2; exit 2 ;;
esac
