#!/usr/bin/env bash
# Runs every benchmark of the benchmarks module, benchstat, the cache-memory
# benchmark and the loopback load test, then writes ../BENCHMARKS.md with
# every figure as a ratio to raw verify (or to no middleware) of this run.
#
# Environment (defaults in brackets):
#   COUNT [5]            samples per benchmark; rounds alternate all benchmarks
#   BENCHTIME [500ms]    -benchtime of each sample
#   LOAD_ROUNDS [5]      alternating load-test rounds
#   LOAD_DURATION [5s]   length of one variant's load-test round
#   CACHE_TOKENS [100000] distinct tokens cached by the memory benchmark
#   BENCHSTAT_VERSION    golang.org/x/perf version to install benchstat from
#   NOTES [notes.md]     hand-written closing note appended to the report, if present
set -euo pipefail
cd "$(dirname "$0")"

COUNT=${COUNT:-5}
BENCHTIME=${BENCHTIME:-500ms}
LOAD_ROUNDS=${LOAD_ROUNDS:-5}
LOAD_DURATION=${LOAD_DURATION:-5s}
CACHE_TOKENS=${CACHE_TOKENS:-100000}
BENCHSTAT_VERSION=${BENCHSTAT_VERSION:-v0.0.0-20260908200009-22c9c6c9d4da}
NOTES=${NOTES:-notes.md}
RES=results

GOBIN=$(go env GOPATH)/bin
BENCHSTAT=$(command -v benchstat || true)
if [ -z "$BENCHSTAT" ]; then
	if [ ! -x "$GOBIN/benchstat" ]; then
		echo "run.sh: installing benchstat@$BENCHSTAT_VERSION" >&2
		go install "golang.org/x/perf/cmd/benchstat@$BENCHSTAT_VERSION"
	fi
	BENCHSTAT=$GOBIN/benchstat
fi

mkdir -p "$RES"
rm -f "$RES"/*.txt "$RES"/*.json
BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT

echo "run.sh: building" >&2
go test -c -o "$BIN/bench.test" .
go build -o "$BIN/load" ./cmd/load

date -u '+%Y-%m-%d %H:%M UTC' >"$RES/date.txt"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
echo "$(nproc) CPUs, ${cpu:-unknown CPU}, $(uname -sm), $(free -g | awk '/^Mem:/{print $2 " GiB RAM"}')" >"$RES/machine.txt"
go version | sed 's/^go version //' >"$RES/goversion.txt"
cut -d' ' -f1-3 /proc/loadavg >"$RES/loadavg-before.txt"
echo "-count $COUNT (rounds alternating every benchmark) -benchtime $BENCHTIME, GOMAXPROCS=$(nproc); load: $LOAD_ROUNDS rounds x $LOAD_DURATION; cache: $CACHE_TOKENS tokens" >"$RES/settings.txt"
go list -m -f '{{.Path}} {{.Version}}' \
	github.com/golang-jwt/jwt/v5 github.com/lestrrat-go/jwx/v3 \
	github.com/auth0/go-jwt-middleware/v2 github.com/auth0/go-jwt-middleware/v3 \
	github.com/coreos/go-oidc/v3 | paste -sd';' | sed 's/;/; /g' >"$RES/peers.txt"

# Verify and HTTP benchmarks: COUNT rounds of -count 1 each, so load
# changes on the machine hit every library alike.
for i in $(seq "$COUNT"); do
	echo "run.sh: benchmark round $i/$COUNT" >&2
	"$BIN/bench.test" -test.run '^$' -test.bench '^Benchmark(Verify|VerifyParallel|HTTP|HTTPParallel)$' \
		-test.benchmem -test.count 1 -test.benchtime "$BENCHTIME" | tee -a "$RES/bench.txt" >&2
done

echo "run.sh: hot-path scaling (-cpu 1,2)" >&2
"$BIN/bench.test" -test.run '^$' -test.bench '^BenchmarkVerifyParallel$/^alg=RS256$/^lib=m2mauth-hot$' \
	-test.benchmem -test.cpu 1,2 -test.count "$COUNT" -test.benchtime "$BENCHTIME" | tee "$RES/scaling.txt" >&2

echo "run.sh: cache memory ($CACHE_TOKENS tokens)" >&2
M2M_BENCH_CACHE_TOKENS=$CACHE_TOKENS "$BIN/bench.test" -test.run '^$' -test.bench '^BenchmarkCacheMemory$' \
	-test.benchtime 1x -test.count 1 | tee "$RES/memory.txt" >&2

echo "run.sh: load test" >&2
"$BIN/load" -rounds "$LOAD_ROUNDS" -duration "$LOAD_DURATION" -variants none,m2mauth,auth0v2 \
	-out "$RES/load.json" | tee "$RES/load.txt" >&2
cut -d' ' -f1-3 /proc/loadavg >"$RES/loadavg-after.txt"

{
	echo "# Every benchmark, time per op (median ± 95% CI)"
	"$BENCHSTAT" -filter '.unit:sec/op' "$RES/bench.txt"
	echo
	echo "# m2mauth cold vs raw, per algorithm and mode"
	"$BENCHSTAT" -filter '.unit:sec/op /lib:(raw OR m2mauth-cold)' -col /lib "$RES/bench.txt"
	echo
	echo "# Middleware vs none"
	"$BENCHSTAT" -filter '.unit:sec/op /mw:(none OR m2mauth OR auth0v2)' -col /mw "$RES/bench.txt"
} >"$RES/benchstat-verify.txt" 2>&1 || true
"$BENCHSTAT" -col /gomaxprocs "$RES/scaling.txt" >"$RES/benchstat-scaling.txt" 2>&1 || true

notes=()
[ -f "$NOTES" ] && notes=(-notes "$NOTES")
go run ./cmd/report -results "$RES" -out ../BENCHMARKS.md "${notes[@]}"
