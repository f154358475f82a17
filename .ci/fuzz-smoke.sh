#!/usr/bin/env bash
# .ci/fuzz-smoke.sh: run every Go fuzz target of the module for a bounded
# time each, one at a time (go test -fuzz takes one target per package run).
#
#   .ci/fuzz-smoke.sh                 # 10 s per target
#   FUZZTIME=5m .ci/fuzz-smoke.sh     # the longer run of the release notes
#   FUZZ_PARALLEL=1 .ci/fuzz-smoke.sh # one fuzz worker (shared machines)
#
# Targets are discovered with `go test -list '^Fuzz'` in every package of
# the main module that has test files declaring a Fuzz function (nested
# modules such as e2e/ and benchmarks/ are not part of ./...). A failure
# stops the script; Go writes the failing input to
# <package>/testdata/fuzz/<target>/ so it becomes a regression test.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

FUZZTIME="${FUZZTIME:-10s}"
extra=()
if [ -n "${FUZZ_PARALLEL:-}" ]; then
	extra+=(-parallel "$FUZZ_PARALLEL")
fi

summary=()
count=0
while read -r pkg dir; do
	[ -n "$pkg" ] || continue
	# Cheap filter before compiling the package's tests.
	if ! grep -qs '^func Fuzz' "$dir"/*_test.go; then
		continue
	fi
	targets="$(go test -list '^Fuzz' -run '^$' "$pkg" | grep '^Fuzz' || true)"
	for target in $targets; do
		count=$((count + 1))
		printf '\n== %s %s (%s)\n' "$pkg" "$target" "$FUZZTIME"
		log="$(mktemp)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "${extra[@]}" "$pkg" 2>&1 | tee "$log"; then
			rm -f "$log"
			echo "fuzz-smoke: $pkg $target FAILED" >&2
			exit 1
		fi
		execs="$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2 || true)"
		rm -f "$log"
		summary+=("$(printf '%-48s %-28s %12s execs' "$pkg" "$target" "${execs:-?}")")
	done
done < <(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}' ./...)
# The strict JSON oracle (encoding/json/v2) is built only with GOEXPERIMENT=jsonv2.
GOEXPERIMENT=jsonv2 go test -run '^$' -fuzz '^FuzzJSONv2$' -fuzztime "$FUZZTIME" "${extra[@]}" ./jwtverify || { echo "fuzz-smoke: ./jwtverify FuzzJSONv2 (GOEXPERIMENT=jsonv2) FAILED" >&2; exit 1; }

if [ "$count" -eq 0 ]; then
	echo "fuzz-smoke: no fuzz targets found" >&2
	exit 1
fi
printf '\n== fuzz-smoke: %d targets, %s each\n' "$count" "$FUZZTIME"
printf '%s\n' "${summary[@]}"
