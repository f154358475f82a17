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

# fuzz_once PKG DIR TARGET LOG [env...]: one bounded fuzz run of TARGET. Go
# 1.26's fuzz coordinator can fail a run with a bare "context deadline
# exceeded" when -fuzztime ends while a worker is busy (golang/go#75804,
# fixed in Go 1.27), with no failing input. Such a run, and only such a
# run (no new file under testdata/fuzz/TARGET), is played again once; a
# written input or any other failure fails at once.
fuzz_once() {
	local pkg="$1" dir="$2" target="$3" log="$4"
	shift 4
	local corpus="$dir/testdata/fuzz/$target" before after
	for attempt in 1 2; do
		before="$(ls "$corpus" 2>/dev/null | sort || true)"
		if env "$@" go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "${extra[@]}" "$pkg" 2>&1 | tee "$log"; then
			return 0
		fi
		after="$(ls "$corpus" 2>/dev/null | sort || true)"
		if [ "$attempt" -eq 1 ] && [ "$before" = "$after" ] &&
			grep -q '^    context deadline exceeded$' "$log" && ! grep -q 'Failing input written' "$log"; then
			echo "fuzz-smoke: $pkg $target: the coordinator's deadline race (golang/go#75804), no input written: once more" >&2
			continue
		fi
		return 1
	done
	return 1
}

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
		if ! fuzz_once "$pkg" "$dir" "$target" "$log"; then
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
log="$(mktemp)"
fuzz_once ./jwtverify jwtverify FuzzJSONv2 "$log" GOEXPERIMENT=jsonv2 || { rm -f "$log"; echo "fuzz-smoke: ./jwtverify FuzzJSONv2 (GOEXPERIMENT=jsonv2) FAILED" >&2; exit 1; }
rm -f "$log"

if [ "$count" -eq 0 ]; then
	echo "fuzz-smoke: no fuzz targets found" >&2
	exit 1
fi
printf '\n== fuzz-smoke: %d targets, %s each\n' "$count" "$FUZZTIME"
printf '%s\n' "${summary[@]}"
