// Command report turns the outputs of run.sh (go test -bench output,
// benchstat tables, the cache-memory benchmark and the load test's JSON)
// into BENCHMARKS.md: every figure as a ratio to raw verify (or to no
// middleware) from the same run, the machine, Go version and date, and the
// targets of the issue with met / not met.
//
//	go run ./cmd/report -results results -out ../BENCHMARKS.md [-notes notes.md]
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/benchmarks/internal/fixture"
	"github.com/m2mauth/m2mauth/benchmarks/internal/soak"
)

// Targets of the issue.
const (
	targetColdRatio     = 1.15
	targetHotNs         = 300.0
	targetOverheadNs    = 1500.0
	targetBytesPerEntry = 2048.0
	targetLoadRatio     = 0.90
	targetHotScaling    = 1.6
)

var algs = []string{"RS256", "ES256", "EdDSA"}
var libs = []string{"raw", "m2mauth-cold", "m2mauth-hot", "golangjwt", "jwx", "auth0v2", "auth0v3", "gooidc"}
var mws = []string{"none", "m2mauth", "auth0v2", "auth0v3"}

type sample map[string]float64 // unit -> value

type benchSet struct {
	byName map[string][]sample // full name incl. "-procs"
	order  []string
}

var procsRE = regexp.MustCompile(`-(\d+)$`)

func parseBench(path string) (*benchSet, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	bs := &benchSet{byName: map[string][]sample{}}
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		s := sample{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			s[f[i+1]] = v
		}
		if _, ok := bs.byName[f[0]]; !ok {
			bs.order = append(bs.order, f[0])
		}
		bs.byName[f[0]] = append(bs.byName[f[0]], s)
	}
	return bs, sc.Err()
}

// get returns the median of unit over the samples of the benchmark whose
// name, without the procs suffix, is name (and whose procs is procs, or any
// when procs is 0), and the number of samples.
func (bs *benchSet) get(name, unit string, procs int) (float64, int) {
	if bs == nil {
		return math.NaN(), 0
	}
	var vals []float64
	for full, ss := range bs.byName {
		// go test omits the suffix when GOMAXPROCS is 1.
		base, p := full, 1
		if m := procsRE.FindStringSubmatch(full); m != nil {
			base = strings.TrimSuffix(full, m[0])
			p, _ = strconv.Atoi(m[1])
		}
		if base != name || (procs != 0 && p != procs) {
			continue
		}
		for _, s := range ss {
			if v, ok := s[unit]; ok {
				vals = append(vals, v)
			}
		}
	}
	return median(vals), len(vals)
}

// ratio returns the median over rounds of name's ns/op divided by base's
// ns/op in the same round (run.sh runs every benchmark once per round, so
// sample i of each benchmark comes from round i: pairing cancels slow
// changes of the machine's load). With unequal sample counts it falls back
// to the ratio of the medians.
func (bs *benchSet) ratio(name, base string) float64 {
	a, b := bs.samples(name, "ns/op"), bs.samples(base, "ns/op")
	if len(a) == 0 || len(b) == 0 {
		return math.NaN()
	}
	if len(a) != len(b) {
		return median(a) / median(b)
	}
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i] / b[i]
	}
	return median(r)
}

// diff is ratio's counterpart for differences of ns/op (overheads).
func (bs *benchSet) diff(name, base string) float64 {
	a, b := bs.samples(name, "ns/op"), bs.samples(base, "ns/op")
	if len(a) == 0 || len(b) == 0 {
		return math.NaN()
	}
	if len(a) != len(b) {
		return median(a) - median(b)
	}
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return median(d)
}

// samples returns unit of every sample of name (any procs), in file order.
func (bs *benchSet) samples(name, unit string) []float64 {
	if bs == nil {
		return nil
	}
	var out []float64
	for _, full := range bs.order {
		base := full
		if m := procsRE.FindStringSubmatch(full); m != nil {
			base = strings.TrimSuffix(full, m[0])
		}
		if base != name {
			continue
		}
		for _, s := range bs.byName[full] {
			if v, ok := s[unit]; ok {
				out = append(out, v)
			}
		}
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

type loadResult struct {
	Variant string  `json:"variant"`
	RPS     float64 `json:"rps"`
	P50us   float64 `json:"p50_us"`
	P99us   float64 `json:"p99_us"`
	Errors  int64   `json:"errors"`
	Skipped string  `json:"skipped"`
	Rounds  []struct {
		RPS float64 `json:"rps"`
	} `json:"rounds"`
}

type loadReport struct {
	Alg      string        `json:"alg"`
	Tokens   int           `json:"tokens"`
	Conns    int           `json:"conns"`
	Rounds   int           `json:"rounds"`
	Duration string        `json:"duration"`
	Results  []*loadResult `json:"results"`
}

// ratio is the median over rounds of variant's req/s divided by base's in
// the same round (falling back to the ratio of the medians).
func (l *loadReport) ratio(variant, base string) float64 {
	var a, b *loadResult
	for _, r := range l.Results {
		if r.Skipped != "" {
			continue
		}
		if r.Variant == variant {
			a = r
		}
		if r.Variant == base {
			b = r
		}
	}
	if a == nil || b == nil {
		return math.NaN()
	}
	if len(a.Rounds) != len(b.Rounds) || len(a.Rounds) == 0 {
		return a.RPS / b.RPS
	}
	v := make([]float64, len(a.Rounds))
	for i := range a.Rounds {
		v[i] = a.Rounds[i].RPS / b.Rounds[i].RPS
	}
	return median(v)
}

func main() {
	results := flag.String("results", "results", "directory with run.sh outputs")
	out := flag.String("out", "../BENCHMARKS.md", "markdown file to write")
	notes := flag.String("notes", "", "optional markdown appended as the closing note")
	flag.Parse()

	rd := func(name string) string {
		b, err := os.ReadFile(filepath.Join(*results, name))
		if err != nil {
			return ""
		}
		return strings.TrimRight(string(b), "\n")
	}
	bench, err := parseBench(filepath.Join(*results, "bench.txt"))
	if err != nil {
		log.Fatalf("report: %v", err)
	}
	scaling, _ := parseBench(filepath.Join(*results, "scaling.txt"))
	mem, _ := parseBench(filepath.Join(*results, "memory.txt"))
	var load loadReport
	if b, err := os.ReadFile(filepath.Join(*results, "load.json")); err == nil {
		if err := json.Unmarshal(b, &load); err != nil {
			log.Fatalf("report: load.json: %v", err)
		}
	}

	var w strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&w, format, a...) }

	p("# m2mauth benchmarks\n\n")
	p("Generated by `benchmarks/run.sh` (do not edit by hand; rerun the script). ")
	p("Every figure comes from one run on one machine; ratios compare figures of that same run.\n\n")
	p("| | |\n|---|---|\n")
	p("| Date (UTC) | %s |\n", orDefault(rd("date.txt"), time.Now().UTC().Format(time.RFC3339)))
	p("| Machine | %s |\n", orDefault(rd("machine.txt"), runtime.GOOS+"/"+runtime.GOARCH))
	p("| Go | %s |\n", orDefault(rd("goversion.txt"), runtime.Version()))
	p("| Load average before / after | %s / %s |\n", orDefault(rd("loadavg-before.txt"), "?"), orDefault(rd("loadavg-after.txt"), "?"))
	p("| Settings | %s |\n", orDefault(rd("settings.txt"), "?"))
	var sizes []string
	for _, alg := range algs {
		sizes = append(sizes, fmt.Sprintf("%s %d bytes", alg, len(fixture.Get(alg).Token)))
	}
	p("| Token size | %s |\n", strings.Join(sizes, ", "))
	p("| Peers | %s |\n\n", orDefault(rd("peers.txt"), "see benchmarks/go.mod"))

	// Targets first: the summary.
	type target struct{ name, want, got, verdict string }
	var ts []target
	verdict := func(ok bool, have bool) string {
		switch {
		case !have:
			return "not measured"
		case ok:
			return "**met**"
		}
		return "**not met**"
	}
	for _, alg := range algs {
		raw, _ := bench.get("BenchmarkVerify/alg="+alg+"/lib=raw", "ns/op", 0)
		cold, _ := bench.get("BenchmarkVerify/alg="+alg+"/lib=m2mauth-cold", "ns/op", 0)
		r := bench.ratio("BenchmarkVerify/alg="+alg+"/lib=m2mauth-cold", "BenchmarkVerify/alg="+alg+"/lib=raw")
		ts = append(ts, target{"Cold verify " + alg + " (cache off) vs raw", fmt.Sprintf("≤ %.2fx", targetColdRatio),
			fmt.Sprintf("%.3fx (%s vs %s)", r, dur(cold), dur(raw)), verdict(r <= targetColdRatio, !math.IsNaN(r))})
	}
	for _, alg := range algs {
		hot, _ := bench.get("BenchmarkVerify/alg="+alg+"/lib=m2mauth-hot", "ns/op", 0)
		allocs, _ := bench.get("BenchmarkVerify/alg="+alg+"/lib=m2mauth-hot", "allocs/op", 0)
		ts = append(ts, target{"Hot verify " + alg + " (repeated token)", fmt.Sprintf("≤ %.0f ns, 0 allocs", targetHotNs),
			fmt.Sprintf("%.0f ns, %.0f allocs", hot, allocs), verdict(hot <= targetHotNs && allocs == 0, !math.IsNaN(hot))})
	}
	{
		name := "BenchmarkVerifyParallel/alg=RS256/lib=m2mauth-hot"
		t1, _ := scaling.get(name, "ns/op", 1)
		t2, _ := scaling.get(name, "ns/op", 2)
		r := t1 / t2 // throughput ratio
		ts = append(ts, target{"Hot verify, parallel throughput -cpu 2 vs -cpu 1", fmt.Sprintf("≥ %.1fx", targetHotScaling),
			fmt.Sprintf("%.2fx (%s vs %s per op)", r, dur(t2), dur(t1)), verdict(r >= targetHotScaling, !math.IsNaN(r))})
	}
	{
		none, _ := bench.get("BenchmarkHTTP/alg=RS256/mw=none", "ns/op", 0)
		m, _ := bench.get("BenchmarkHTTP/alg=RS256/mw=m2mauth", "ns/op", 0)
		d := bench.diff("BenchmarkHTTP/alg=RS256/mw=m2mauth", "BenchmarkHTTP/alg=RS256/mw=none")
		ts = append(ts, target{"Middleware overhead per whole request (serial)", fmt.Sprintf("≤ %.1f µs", targetOverheadNs/1000),
			fmt.Sprintf("%s (%s vs %s)", dur(d), dur(m), dur(none)), verdict(d <= targetOverheadNs, !math.IsNaN(d))})
	}
	{
		b, _ := mem.get("BenchmarkCacheMemory", "heap-B/entry", 0)
		acc, _ := mem.get("BenchmarkCacheMemory", "accounted-B/entry", 0)
		tok, _ := mem.get("BenchmarkCacheMemory", "token-B", 0)
		ts = append(ts, target{fmt.Sprintf("Cache memory per token of %.0f bytes", tok), fmt.Sprintf("≤ %.0f B", targetBytesPerEntry),
			fmt.Sprintf("%.0f B heap (%.0f B accounted by CacheStats)", b, acc), verdict(b <= targetBytesPerEntry, !math.IsNaN(b))})
	}
	{
		var none, m float64 = math.NaN(), math.NaN()
		for _, r := range load.Results {
			if r.Skipped != "" {
				continue
			}
			switch r.Variant {
			case "none":
				none = r.RPS
			case "m2mauth":
				m = r.RPS
			}
		}
		r := load.ratio("m2mauth", "none")
		ts = append(ts, target{"Load: m2mauth req/s vs no auth (repeated tokens)", fmt.Sprintf("≥ %.2fx", targetLoadRatio),
			fmt.Sprintf("%.3fx (%.0f vs %.0f req/s)", r, m, none), verdict(r >= targetLoadRatio, !math.IsNaN(r))})
	}
	p("## Targets (issue 12)\n\n| Target | Wanted | Measured | Verdict |\n|---|---|---|---|\n")
	for _, t := range ts {
		p("| %s | %s | %s | %s |\n", t.name, t.want, t.got, t.verdict)
	}
	p("\n")

	// Verify tables.
	for _, par := range []bool{false, true} {
		top := "BenchmarkVerify"
		title := "## Verify one token, serial (`BenchmarkVerify`)\n\n"
		if par {
			top = "BenchmarkVerifyParallel"
			title = "## Verify one token, parallel (`BenchmarkVerifyParallel`, `b.RunParallel`, GOMAXPROCS=2)\n\n"
		}
		p("%s", title)
		p("Time per verification (median of the -count samples), its ratio to `raw` of the same algorithm and mode (median of the per-round ratios), bytes and allocations per verification.\n\n")
		p("| alg | lib | time/op | × raw | B/op | allocs/op |\n|---|---|---:|---:|---:|---:|\n")
		for _, alg := range algs {
			for _, lib := range libs {
				name := top + "/alg=" + alg + "/lib=" + lib
				ns, n := bench.get(name, "ns/op", 0)
				if n == 0 {
					p("| %s | %s | not run | | | |\n", alg, lib)
					continue
				}
				bop, _ := bench.get(name, "B/op", 0)
				al, _ := bench.get(name, "allocs/op", 0)
				p("| %s | %s | %s | %.3fx | %.0f | %.0f |\n", alg, lib, dur(ns), bench.ratio(name, top+"/alg="+alg+"/lib=raw"), bop, al)
			}
		}
		p("\n")
	}

	// HTTP.
	p("## Whole HTTP request (`BenchmarkHTTP`), RS256 token repeated\n\n")
	p("One `httptest.NewRequest` built beforehand, then `httptest.NewRecorder` + `ServeHTTP` per operation; `mw=none` is the handler alone. m2mauth answers from its verified-token cache; auth0's middleware has no cache and verifies the signature on every request.\n\n")
	p("| mode | middleware | time/op | overhead vs none | × none | B/op | allocs/op |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, top := range []string{"BenchmarkHTTP", "BenchmarkHTTPParallel"} {
		mode := "serial"
		if top == "BenchmarkHTTPParallel" {
			mode = "parallel"
		}
		for _, mw := range mws {
			name := top + "/alg=RS256/mw=" + mw
			ns, n := bench.get(name, "ns/op", 0)
			if n == 0 {
				p("| %s | %s | not run | | | | |\n", mode, mw)
				continue
			}
			bop, _ := bench.get(name, "B/op", 0)
			al, _ := bench.get(name, "allocs/op", 0)
			p("| %s | %s | %s | %s | %.2fx | %.0f | %.0f |\n", mode, mw, dur(ns), dur(bench.diff(name, top+"/alg=RS256/mw=none")), bench.ratio(name, top+"/alg=RS256/mw=none"), bop, al)
		}
	}
	p("\n")

	// Hot scaling.
	p("## Hot path scaling (`BenchmarkVerifyParallel/alg=RS256/lib=m2mauth-hot`, `-cpu 1,2`)\n\n")
	{
		name := "BenchmarkVerifyParallel/alg=RS256/lib=m2mauth-hot"
		t1, _ := scaling.get(name, "ns/op", 1)
		t2, _ := scaling.get(name, "ns/op", 2)
		p("| -cpu | time/op | throughput (M verifications/s) |\n|---:|---:|---:|\n")
		p("| 1 | %s | %.2f |\n| 2 | %s | %.2f |\n\n", dur(t1), 1e3/t1, dur(t2), 1e3/t2)
		p("Throughput ratio -cpu 2 / -cpu 1: %.2fx.\n\n", t1/t2)
	}

	// Memory.
	p("## Verified-token cache memory (`BenchmarkCacheMemory`)\n\n")
	{
		hb, _ := mem.get("BenchmarkCacheMemory", "heap-B/entry", 0)
		acc, _ := mem.get("BenchmarkCacheMemory", "accounted-B/entry", 0)
		tok, _ := mem.get("BenchmarkCacheMemory", "token-B", 0)
		ent, _ := mem.get("BenchmarkCacheMemory", "entries", 0)
		p("%.0f distinct EdDSA tokens of %.0f bytes (fixture claims, one client ID and jti each) verified into one cache configured with MaxEntries = %.0f + 1. ", ent, tok, ent)
		p("Heap growth is `runtime.ReadMemStats().HeapAlloc` after two `runtime.GC()` calls, before minting and after filling (the minted token slice dropped, so the bytes counted include the token strings the cache keeps; each token is one exactly sized allocation, as net/http reads a header value, which the allocator rounds up to its size class: 896 bytes for 790). The verifier is built after the first measurement, so its slot table counts too.\n\n")
		p("| heap bytes / entry | CacheStats bytes / entry | token bytes | target |\n|---:|---:|---:|---:|\n")
		p("| %.0f | %.0f | %.0f | ≤ %.0f |\n\n", hb, acc, tok, targetBytesPerEntry)
	}

	// Load.
	p("## Load test (`benchmarks/cmd/load`)\n\n")
	if len(load.Results) == 0 {
		p("Not run.\n\n")
	} else {
		p("net/http server and client in one process on 127.0.0.1, %s tokens of %d distinct clients, %d connections, %d alternating rounds of %s per variant (order rotated every round); medians over rounds; × none is the median of the per-round ratios (a round runs every variant back to back).\n\n",
			load.Alg, load.Tokens, load.Conns, load.Rounds, load.Duration)
		p("| variant | req/s | × none | p50 latency | p99 latency | errors | req/s per round |\n|---|---:|---:|---:|---:|---:|---|\n")
		for _, r := range load.Results {
			if r.Skipped != "" {
				p("| %s | skipped: %s | | | | | |\n", r.Variant, r.Skipped)
				continue
			}
			var per []string
			for _, x := range r.Rounds {
				per = append(per, fmt.Sprintf("%.0f", x.RPS))
			}
			p("| %s | %.0f | %.3fx | %.0f µs | %.0f µs | %d | %s |\n", r.Variant, r.RPS, load.ratio(r.Variant, "none"), r.P50us, r.P99us, r.Errors, strings.Join(per, ", "))
		}
		p("\n")
	}

	p("## Method\n\n")
	p("- Every library verifies the same token bytes with the same public key (`benchmarks/internal/fixture`): a client-credentials access token (header `alg`, `kid`, `typ: at+jwt`; claims iss, aud, azp, azpacr, idtyp, roles (5), sub, tid, jti, ver, exp in 2100, nbf, iat), signed once per algorithm with keys generated at start.\n")
	p("- `raw` is the limit: SHA-256 of the signing input and `rsa.VerifyPKCS1v15` / `ecdsa.Verify` (r, s taken from the JOSE r||s form) / `ed25519.Verify`, on a signature decoded beforehand; no parsing, no claims.\n")
	p("- Every other verifier does the same checks (`benchmarks/internal/peers`): one algorithm, one key, iss, aud, exp/nbf/iat with 30 s leeway, and the client (azp) against a 64-entry allow list after decoding azp, roles, tid and ver. go-oidc's `Verify` is followed by `IDToken.Claims` to read them. auth0 v2 and v3 use their `validator` with custom claims.\n")
	p("- `m2mauth-cold` is `jwtverify.Verifier.Verify` with `CacheConfig{Disabled: true}`; `m2mauth-hot` repeats one token through the default cache (the hits are checked).\n")
	p("- run.sh runs every benchmark once per round, COUNT rounds, so load changes on the shared machine hit every library alike; a ratio is the median of the per-round ratios (each benchmark against the baseline of the same round), a time the median of the samples. benchstat's tables below give the spread (± is the 95%% confidence interval, shown from 6 samples up).\n\n")

	if s := rd("benchstat-verify.txt"); s != "" {
		p("## benchstat\n\n```\n%s\n```\n\n", s)
	}
	if s := rd("benchstat-scaling.txt"); s != "" {
		p("## benchstat: hot path -cpu 1,2\n\n```\n%s\n```\n\n", s)
	}
	if *notes != "" {
		b, err := os.ReadFile(*notes)
		if err != nil {
			log.Fatalf("report: %v", err)
		}
		p("## Closing note\n\n%s\n", strings.TrimSpace(string(b)))
	}
	// The reliability section is written by cmd/soak (a separate, long
	// run): keep it across regenerations.
	doc := w.String()
	if old, err := os.ReadFile(*out); err == nil {
		if i, j := strings.Index(string(old), soak.SectionBegin), strings.Index(string(old), soak.SectionEnd); i >= 0 && j > i {
			doc = soak.ReplaceSection(doc, string(old[i:j+len(soak.SectionEnd)])+"\n")
		}
	}
	if err := os.WriteFile(*out, []byte(doc), 0o644); err != nil {
		log.Fatalf("report: %v", err)
	}
	_, _ = io.WriteString(os.Stdout, "report: wrote "+*out+"\n")
}

func orDefault(s, d string) string {
	if strings.TrimSpace(s) == "" {
		return d
	}
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ")
}

// dur formats nanoseconds for a table.
func dur(ns float64) string {
	switch {
	case math.IsNaN(ns):
		return "n/a"
	case math.Abs(ns) >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case math.Abs(ns) >= 1e4:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	case math.Abs(ns) >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
