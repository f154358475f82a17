package soak

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
)

// Report is the result of a run (the JSON output).
type Report struct {
	// OK is true when every check passed; Failures says what failed.
	OK       bool     `json:"ok"`
	Failures []string `json:"failures"`

	Settings Settings `json:"settings"`
	Totals   Counts   `json:"totals"`
	// Bound counts the requests that carried a certificate-bound token:
	// bound clients' own (over TLS with their certificate) and stolen ones
	// replayed by attackers.
	Bound Counts `json:"bound_tokens"`
	// ByKind splits the totals by request kind: valid tokens and each
	// attack.
	ByKind    map[string]*Counts `json:"by_kind"`
	Phases    []*PhaseStats      `json:"phases"`
	Events    []*EventStats      `json:"events"`
	Fetches   FetchStats         `json:"fetches"`
	Resources Resources          `json:"resources"`
	Issuer    IssuerHistory      `json:"issuer"`
	// Introspection covers the opaque clients' introspected routes (nil
	// without opaque clients).
	Introspection *IntrospectionStats `json:"introspection,omitempty"`
}

// Settings records what the run was configured with and where it ran.
type Settings struct {
	Start         string  `json:"start_utc"`
	Duration      string  `json:"duration"`
	Rate          float64 `json:"rate"`
	ValidRate     float64 `json:"valid_rate"`
	AttackRate    float64 `json:"attack_rate"`
	BurstRate     float64 `json:"burst_rate"`
	Clients       int     `json:"clients"`
	BoundClients  int     `json:"bound_clients"`
	TokenLifetime string  `json:"token_lifetime"`
	Refresh       string  `json:"refresh"`
	Cooldown      string  `json:"unknown_kid_cooldown"`
	FetchTimeout  string  `json:"fetch_timeout"`
	MaxStaleness  string  `json:"max_staleness"`
	BackoffMax    string  `json:"backoff_max"`
	Leeway        string  `json:"leeway"`
	CacheMaxBytes int64   `json:"cache_max_bytes"`
	HeapAllowance int64   `json:"heap_allowance"`
	Slack         string  `json:"slack"`
	// Starvation is the longest delay of the API's one-second sampler
	// beyond its second, added to every time bound.
	Starvation     string `json:"starvation"`
	Cycle          string `json:"cycle"`
	Go             string `json:"go"`
	CPUs           int    `json:"cpus"`
	LoadAvgBefore  string `json:"loadavg_before"`
	LoadAvgAfter   string `json:"loadavg_after"`
	Algorithm      string `json:"algorithm"`
	TransportSplit string `json:"transports"`
}

// Counts are request counts by expected and actual outcome.
type Counts struct {
	Requests      int `json:"requests"`
	MustAccept    int `json:"must_accept"`
	MustRefuse    int `json:"must_refuse"`
	Either        int `json:"either"`
	Accepted      int `json:"accepted"`
	Refused       int `json:"refused"`
	Unavailable   int `json:"unavailable_503"`
	Allowed503    int `json:"allowed_503"`
	Disallowed503 int `json:"disallowed_503"`
	FalseAccepts  int `json:"false_accepts"`
	FalseRefuses  int `json:"false_refuses"`
	Errors        int `json:"errors"`
	ClientErrors  int `json:"client_errors"`
	Dropped       int `json:"dropped"`
	// ValidRefusedByDesign: valid tokens that must be refused: their key
	// was withdrawn and the API refetched, or the API had no usable key
	// set (stale), or (opaque) they were revoked beyond the revocation
	// delay.
	ValidRefusedByDesign int `json:"valid_refused_by_design"`
}

func (c *Counts) add(o Counts) {
	c.Requests += o.Requests
	c.MustAccept += o.MustAccept
	c.MustRefuse += o.MustRefuse
	c.Either += o.Either
	c.Accepted += o.Accepted
	c.Refused += o.Refused
	c.Unavailable += o.Unavailable
	c.Allowed503 += o.Allowed503
	c.Disallowed503 += o.Disallowed503
	c.FalseAccepts += o.FalseAccepts
	c.FalseRefuses += o.FalseRefuses
	c.Errors += o.Errors
	c.ClientErrors += o.ClientErrors
	c.Dropped += o.Dropped
	c.ValidRefusedByDesign += o.ValidRefusedByDesign
}

// PhaseStats aggregates one phase of the schedule over all cycles.
type PhaseStats struct {
	Name    string  `json:"name"`
	What    string  `json:"what"`
	Runs    int     `json:"runs"`
	Seconds float64 `json:"seconds"`
	Counts
	// Bound is the part of Counts that carried a certificate-bound token.
	Bound Counts `json:"bound_tokens"`
	// Open-loop latency, from the scheduled send time, in milliseconds.
	P50ms  float64 `json:"p50_ms"`
	P99ms  float64 `json:"p99_ms"`
	P999ms float64 `json:"p999_ms"`
	// JWKS fetches that started in the phase, by cause and class, and the
	// design's bound for them.
	Fetches    map[string]int `json:"fetches"`
	FetchCount int            `json:"fetch_count"`
	FetchBound int            `json:"fetch_bound"`

	lat []int64
}

// EventStats is one key event and the "either" requests charged to it.
type EventStats struct {
	Kind string `json:"kind"` // publication, withdrawal, retirement, stale, expiry
	KID  string `json:"kid,omitempty"`
	// At is seconds since the start of the run.
	At float64 `json:"at_s"`
	// Window is how long the API took to catch up (s; -1 if it never
	// did); WindowBound is what the design allows.
	Window      float64 `json:"window_s"`
	WindowBound float64 `json:"window_bound_s"`
	Either      int     `json:"either"`
	EitherBound int     `json:"either_bound"`
	OK          bool    `json:"ok"`
}

// FetchStats checks the API's JWKS fetches against its configuration.
type FetchStats struct {
	Total      int            `json:"total"`
	Bound      int            `json:"bound"`
	ByCause    map[string]int `json:"by_cause"`
	ByClass    map[string]int `json:"by_class"`
	MinGapMs   float64        `json:"min_gap_ms"` // end of a fetch to the start of the next
	MinUnknown float64        `json:"min_unknown_kid_spacing_ms"`
	// Recoveries: after each stretch of JWKS or discovery faults that
	// failed a fetch, seconds until the next successful fetch.
	Recoveries     []float64        `json:"recoveries_s"`
	RecoveryBound  float64          `json:"recovery_bound_s"`
	UnknownKIDMiss map[string]int64 `json:"unknown_kid_misses"`
}

// Resources are the API child's memory and goroutines.
type Resources struct {
	IdleBefore Sample   `json:"idle_before"`
	IdleAfter  Sample   `json:"idle_after"`
	PeakRSS    int64    `json:"peak_rss"`
	PeakHeap   uint64   `json:"peak_heap_alloc"`
	Goroutines [2]int   `json:"goroutines_first_last_under_load"`
	MaxGor     int      `json:"max_goroutines"`
	HeapBound  uint64   `json:"idle_heap_bound"`
	Series     []Sample `json:"series"`
}

// IssuerHistory is the issuer's log.
type IssuerHistory struct {
	Keys   []keyEntry   `json:"keys"`
	Faults []faultEntry `json:"faults"`
	Phases []phaseRun   `json:"phases"`
}

func (r *Report) fail(format string, args ...any) {
	r.OK = false
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

type evalInput struct {
	cfg         Config
	start, end  int64
	records     []record
	kids        []string
	keys        []keyEntry
	faults      []faultEntry
	phases      []phaseRun
	fetches     []FetchRecord
	samples     []Sample
	base, final Sample
	defs        []phaseDef
	loadBefore  string
	loadAfter   string
	opaque      []opaqueToken // the opaque tokens the clients sent
	calls       []callSample  // the issuer's introspection request counter
}

func secs(d time.Duration) float64 { return math.Round(d.Seconds()*100) / 100 }

// evaluate computes the ground truth of every request and the checks.
func evaluate(in evalInput) *Report {
	cfg := &in.cfg
	rep := &Report{OK: true, Failures: []string{}, ByKind: map[string]*Counts{}}
	attack := cfg.Rate * cfg.AttackShare
	valid := cfg.Rate - attack
	rep.Settings = Settings{
		Start: time.Unix(0, in.start).UTC().Format("2006-01-02 15:04:05 UTC"), Duration: cfg.Duration.String(),
		Rate: cfg.Rate, ValidRate: valid, AttackRate: attack, BurstRate: attack * cfg.BurstFactor, Clients: cfg.Clients,
		BoundClients: cfg.BoundClients, TokenLifetime: cfg.TokenLifetime.String(), Refresh: cfg.Refresh.String(), Cooldown: cfg.Cooldown.String(),
		FetchTimeout: cfg.FetchTimeout.String(), MaxStaleness: cfg.MaxStaleness.String(), BackoffMax: cfg.BackoffMax.String(),
		Leeway: cfg.Leeway.String(), CacheMaxBytes: cfg.CacheMaxBytes, HeapAllowance: cfg.HeapAllowance,
		Slack: cfg.Slack.String(), Cycle: cycleLength(cfg).String(), Go: runtime.Version(), CPUs: runtime.NumCPU(),
		LoadAvgBefore: in.loadBefore, LoadAvgAfter: in.loadAfter, Algorithm: alg,
		TransportSplit: "half net/http, half gRPC; certificate-bound tokens over TLS (tls.RequestClientCert), the others in plain text",
	}
	rep.Issuer = IssuerHistory{Keys: in.keys, Faults: in.faults, Phases: in.phases}
	stall := starvation(in.samples)
	tl := buildTimeline(in.fetches, cfg, stall)
	keyBy := map[string]*keyEntry{}
	for i := range in.keys {
		keyBy[in.keys[i].KID] = &in.keys[i]
	}
	rel := func(t int64) float64 { return math.Round(float64(t-in.start)/1e7) / 100 }

	// Events that "either" requests are charged to.
	// Every time bound gets the configured slack plus the longest time the
	// machine left the API without CPU (measured by its one-second
	// sampler): a stalled process delays its fetches and queues requests.
	slack := cfg.Slack + stall
	rep.Settings.Starvation = stall.Round(time.Millisecond).String()
	catchUp := max(cfg.Cooldown, jwkscache.MinFetchGap) + cfg.FetchTimeout + slack
	var events []*EventStats
	pubEv := map[string]*EventStats{}
	rmEv := map[string]*EventStats{}
	type bounds struct{ window, count time.Duration }
	evBounds := map[*EventStats]bounds{}
	for i := range in.keys {
		k := &in.keys[i]
		if k.AddBefore > in.start {
			ev := &EventStats{Kind: "publication", KID: short(k.KID), At: rel(k.AddBefore)}
			f := tl.firstWith(k.AddBefore, k.KID, true)
			end := f
			if f == 0 {
				end = in.end
			}
			b := blocked(in.faults, k.AddBefore, end)
			evBounds[ev] = bounds{window: b + max(cfg.Refresh, cfg.Cooldown, jwkscache.MinFetchGap) + cfg.FetchTimeout + slack, count: b + catchUp}
			ev.Window = windowOf(k.AddBefore, f)
			events = append(events, ev)
			pubEv[k.KID] = ev
		}
		if k.RmBefore != 0 {
			kind := "retirement"
			if k.Withdrawn {
				kind = "withdrawal"
			}
			ev := &EventStats{Kind: kind, KID: short(k.KID), At: rel(k.RmBefore)}
			f := tl.firstWith(k.RmAfter, k.KID, false)
			end := f
			if f == 0 {
				end = in.end
			}
			b := blocked(in.faults, k.RmBefore, end)
			w := b + cfg.Refresh + cfg.FetchTimeout + slack
			evBounds[ev] = bounds{window: w, count: w}
			ev.Window = windowOf(k.RmBefore, f)
			events = append(events, ev)
			rmEv[k.KID] = ev
		}
	}
	var staleEvs []*EventStats
	var staleFrom []int64
	for _, s := range tl.states[1:] {
		if s.none && s.from < in.end {
			ev := &EventStats{Kind: "stale", At: rel(s.from)}
			// The set goes stale within a fetch timeout; it comes back with
			// the first fetch after the fault, which a waiting request shares.
			evBounds[ev] = bounds{count: 2*cfg.FetchTimeout + 500*time.Millisecond + 2*slack}
			ev.Window = -1
			events = append(events, ev)
			staleEvs = append(staleEvs, ev)
			staleFrom = append(staleFrom, s.from)
		}
	}
	expiryEv := &EventStats{Kind: "expiry", Window: -1}
	uncharged := 0
	outages := introOutages(in.faults, in.end, cfg, stall)
	revBound := revocationBound(cfg, stall)
	revEither, outage503 := 0, 0

	// Phases.
	byName := map[string]*PhaseStats{}
	for _, d := range in.defs {
		ps := &PhaseStats{Name: d.name, What: d.what, Fetches: map[string]int{}}
		byName[d.name] = ps
		rep.Phases = append(rep.Phases, ps)
	}
	runs := slices.Clone(in.phases)
	sort.Slice(runs, func(i, j int) bool { return runs[i].Start < runs[j].Start })
	phaseOf := func(t int64) *PhaseStats {
		i := sort.Search(len(runs), func(i int) bool { return runs[i].Start > t }) - 1
		if i < 0 {
			i = 0
		}
		if len(runs) == 0 {
			return nil
		}
		return byName[runs[i].Name]
	}
	for _, r := range runs {
		ps := byName[r.Name]
		ps.Runs++
		ps.Seconds += float64(r.End-r.Start) / 1e9
	}

	for i := range in.records {
		rec := &in.records[i]
		ps := phaseOf(rec.sched)
		if ps == nil {
			continue
		}
		kc := rep.ByKind[kindNames[rec.kind]]
		if kc == nil {
			kc = &Counts{}
			rep.ByKind[kindNames[rec.kind]] = kc
		}
		var one Counts
		c := &one
		ps.lat = countRecord(c, rec, ps.lat, func(reason, kid string) {
			var ev *EventStats
			switch reason {
			case eitherUnfetched:
				ev = pubEv[kid]
			case eitherWithdrawn:
				ev = rmEv[kid]
			case eitherStale:
				j := sort.Search(len(staleFrom), func(j int) bool { return staleFrom[j] > rec.end }) - 1
				if j >= 0 {
					ev = staleEvs[j]
				}
			case eitherExpiry:
				ev = expiryEv
			case eitherRevoked:
				revEither++
				return
			}
			if ev == nil {
				uncharged++
			} else {
				ev.Either++
			}
		}, func(kid string) (uint8, bool, string) {
			return classify(tl, keyBy[kid], kid, rec.exp, rec.start, rec.end, cfg.Leeway)
		}, func() bool {
			_, _, none := tl.query(rec.start, rec.end, "")
			return none
		}, func() (uint8, bool, string) {
			return opaqueTruth(rec, in.opaque, outages, revBound)
		}, in.kids)
		if isOpaque(rec.kind) && rec.outcome == outUnavailable {
			outage503++
		}
		ps.Counts.add(one)
		kc.add(one)
		if isBoundToken(rec.kind) {
			ps.Bound.add(one)
			rep.Bound.add(one)
		}
	}
	for _, ps := range rep.Phases {
		slices.Sort(ps.lat)
		ps.P50ms, ps.P99ms, ps.P999ms = pct(ps.lat, 0.50), pct(ps.lat, 0.99), pct(ps.lat, 0.999)
		rep.Totals.add(ps.Counts)
	}

	// Event bounds.
	for _, ev := range events {
		b := evBounds[ev]
		ev.EitherBound = int(math.Ceil(valid * b.count.Seconds()))
		ev.WindowBound = secs(b.window)
		ev.OK = ev.Either <= ev.EitherBound
		if ev.Kind != "stale" {
			if ev.Window < 0 {
				// The API never caught up: fine only if the run ended first.
				at := in.start + int64(ev.At*1e9)
				ev.OK = ev.OK && at+int64(b.window) >= in.end
			} else {
				ev.OK = ev.OK && ev.Window <= ev.WindowBound
			}
		}
		if !ev.OK {
			rep.fail("%s of %s at %.1fs: either %d (bound %d), window %.2fs (bound %.2fs)", ev.Kind, ev.KID, ev.At, ev.Either, ev.EitherBound, ev.Window, ev.WindowBound)
		}
	}
	if expiryEv.Either > 0 {
		events = append(events, expiryEv)
		rep.fail("%d requests with a token expiring in flight (x/oauth2 should have renewed it)", expiryEv.Either)
	}
	if uncharged > 0 {
		rep.fail("%d either requests not explained by any key event", uncharged)
	}
	rep.Events = events

	t := &rep.Totals
	if t.FalseAccepts > 0 {
		rep.fail("%d false accepts", t.FalseAccepts)
	}
	if t.FalseRefuses > 0 {
		rep.fail("%d false refuses", t.FalseRefuses)
	}
	if t.Disallowed503 > 0 {
		rep.fail("%d answers 503 while the API had a usable key set", t.Disallowed503)
	}
	if t.Errors > 0 {
		rep.fail("%d requests failed (transport error or unexpected status)", t.Errors)
	}
	if t.Dropped > 0 {
		rep.fail("%d requests dropped: the driver could not keep the rate", t.Dropped)
	}
	if cfg.BoundClients > 0 {
		own, stolen := rep.ByKind[kindNames[kindBound]], rep.Bound.Requests
		if own == nil || own.MustAccept == 0 || stolen == own.Requests {
			rep.fail("certificate-bound tokens were not exercised: no bound request that must be accepted, or no stolen one")
		}
	}

	evalFetches(rep, in, tl)
	evalResources(rep, in)
	evalIntrospection(rep, in, stall, revEither, outage503)
	return rep
}

func windowOf(from, to int64) float64 {
	if to == 0 {
		return -1
	}
	return math.Round(float64(to-from)/1e7) / 100
}

func short(kid string) string {
	if len(kid) > 8 {
		return kid[:8]
	}
	return kid
}

func pct(sorted []int64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return math.Round(float64(sorted[i])/1e4) / 100
}

// evalFetches checks the API's fetches: spacing, counts per phase against
// the configured intervals, and recovery after faults.
func evalFetches(rep *Report, in evalInput, tl *apiTimeline) {
	cfg := &in.cfg
	fs := &rep.Fetches
	fs.ByCause, fs.ByClass = map[string]int{}, map[string]int{}
	f := slices.Clone(in.fetches)
	sort.Slice(f, func(i, j int) bool { return f[i].Start < f[j].Start })
	fs.MinGapMs, fs.MinUnknown = -1, -1
	var lastUnknown int64
	const tolGap, tolUnknown = 10 * time.Millisecond, 50 * time.Millisecond
	for i, x := range f {
		fs.Total++
		fs.ByCause[x.Cause]++
		fs.ByClass[x.Class]++
		if x.Mismatch {
			rep.fail("fetch at %s: the served set was not the announced one", time.Unix(0, x.Obs).UTC().Format(time.TimeOnly))
		}
		if i > 0 {
			gap := x.Start - f[i-1].End
			if fs.MinGapMs < 0 || float64(gap)/1e6 < fs.MinGapMs {
				fs.MinGapMs = math.Round(float64(gap)/1e4) / 100
			}
			if gap < int64(jwkscache.MinFetchGap-tolGap) {
				rep.fail("fetch %d started %.0f ms after the previous one ended (floor %v)", i, float64(gap)/1e6, jwkscache.MinFetchGap)
			}
		}
		if x.Cause == string(jwkscache.CauseUnknownKID) {
			if lastUnknown != 0 {
				sp := x.Start - lastUnknown
				if fs.MinUnknown < 0 || float64(sp)/1e6 < fs.MinUnknown {
					fs.MinUnknown = math.Round(float64(sp)/1e4) / 100
				}
				// A fetch's own clock starts when its goroutine runs, which a
				// starved process delays past the decision the cooldown counts.
				if sp < int64(cfg.Cooldown-tolUnknown-starvation(in.samples)) {
					rep.fail("unknown-kid fetches %.0f ms apart (cooldown %v)", float64(sp)/1e6, cfg.Cooldown)
				}
			}
			lastUnknown = x.Start
		}
	}

	// Per phase: counts against the design's bound.
	byName := map[string]*PhaseStats{}
	for _, ps := range rep.Phases {
		byName[ps.Name] = ps
	}
	for _, r := range in.phases {
		ps := byName[r.Name]
		d := time.Duration(r.End - r.Start)
		gap := cfg.Refresh
		if blocked(in.faults, r.Start, r.End) > 0 {
			gap = jwkscache.MinFetchGap
		}
		ps.FetchBound += int(d/gap) + 1 + int(d/cfg.Cooldown) + 1
		for _, x := range f {
			if x.Start >= r.Start && x.Start < r.End {
				ps.Fetches[x.Cause+"/"+x.Class]++
				ps.FetchCount++
			}
		}
	}
	for _, ps := range rep.Phases {
		fs.Bound += ps.FetchBound
		if ps.FetchCount > ps.FetchBound {
			rep.fail("phase %s: %d JWKS fetches, bound %d", ps.Name, ps.FetchCount, ps.FetchBound)
		}
	}

	// Recovery after each stretch of faults that failed a fetch.
	recovery := cfg.BackoffMax + cfg.FetchTimeout + cfg.Slack + starvation(in.samples)
	fs.RecoveryBound = secs(recovery)
	for _, iv := range faultStretches(in.faults, in.end, int64(recovery)) {
		failed := false
		for _, x := range f {
			if x.Class != string(jwkscache.ClassOK) && x.End >= iv[0] && x.Start <= iv[1] {
				failed = true
				break
			}
		}
		if !failed {
			continue
		}
		var next int64
		for _, x := range f {
			if x.Class == string(jwkscache.ClassOK) && x.End >= iv[1] {
				next = x.End
				break
			}
		}
		if next == 0 {
			if iv[1]+int64(recovery) < in.end {
				rep.fail("no successful fetch after the faults that ended at %.1fs", float64(iv[1]-in.start)/1e9)
			}
			continue
		}
		r := float64(next-iv[1]) / 1e9
		fs.Recoveries = append(fs.Recoveries, math.Round(r*100)/100)
		if r > fs.RecoveryBound {
			rep.fail("the API recovered %.2fs after the faults that ended at %.1fs (bound %.2fs)", r, float64(iv[1]-in.start)/1e9, fs.RecoveryBound)
		}
	}
	if n := len(in.samples); n > 0 {
		fs.UnknownKIDMiss = in.samples[n-1].UnknownKID
	}
	_ = tl
}

// faultStretches merges the JWKS and discovery faults into stretches; a
// fault that starts less than gap after the previous one ended continues
// its stretch (the API had no time to recover in between).
func faultStretches(faults []faultEntry, end, gap int64) [][2]int64 {
	var iv [][2]int64
	for _, f := range faults {
		if !keyFault(f) {
			continue
		}
		e := f.End
		if e == 0 {
			e = end
		}
		iv = append(iv, [2]int64{f.Start, e})
	}
	sort.Slice(iv, func(i, j int) bool { return iv[i][0] < iv[j][0] })
	var out [][2]int64
	for _, v := range iv {
		if n := len(out); n > 0 && v[0] <= out[n-1][1]+gap {
			out[n-1][1] = max(out[n-1][1], v[1])
			continue
		}
		out = append(out, v)
	}
	return out
}

func evalResources(rep *Report, in evalInput) {
	cfg := &in.cfg
	rs := &rep.Resources
	rs.IdleBefore, rs.IdleAfter, rs.Series = in.base, in.final, in.samples
	var under []Sample
	for _, s := range in.samples {
		rs.PeakRSS = max(rs.PeakRSS, s.RSS)
		rs.PeakHeap = max(rs.PeakHeap, s.HeapAlloc)
		rs.MaxGor = max(rs.MaxGor, s.Goroutines)
		if s.T >= in.start && s.T <= in.end {
			under = append(under, s)
		}
	}
	if len(under) > 0 {
		rs.Goroutines = [2]int{under[0].Goroutines, under[len(under)-1].Goroutines}
	}
	rs.HeapBound = in.base.HeapAlloc + uint64(cfg.CacheMaxBytes) + uint64(cfg.HeapAllowance)
	if cfg.OpaqueClients > 0 {
		rs.HeapBound += uint64(cfg.IntrospectCacheBytes) // the introspection answers' cache
	}
	if in.final.Goroutines > in.base.Goroutines+goroutineTolerance {
		rep.fail("goroutines grew: %d idle before the run, %d idle after (tolerance %d)", in.base.Goroutines, in.final.Goroutines, goroutineTolerance)
	}
	if in.final.HeapAlloc > rs.HeapBound {
		rep.fail("live heap grew: %d KiB idle before, %d KiB after (bound %d KiB: cache maximum %d KiB + %d KiB)",
			in.base.HeapAlloc>>10, in.final.HeapAlloc>>10, rs.HeapBound>>10, cfg.CacheMaxBytes>>10, cfg.HeapAllowance>>10)
	}
}

// starvation is how much later than a second the API's sampler ran at
// worst: the longest time the machine did not run the API.
func starvation(samples []Sample) time.Duration {
	var gap int64
	for i := 1; i < len(samples); i++ {
		gap = max(gap, samples[i].T-samples[i-1].T)
	}
	return max(0, time.Duration(gap)-time.Second)
}

// loadAvg returns /proc/loadavg's first three fields ("" elsewhere).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// countRecord counts one request into c and returns lat with its latency;
// charge receives the reason and kid of an "either".
func countRecord(c *Counts, rec *record, lat []int64, charge func(reason, kid string),
	truth func(kid string) (uint8, bool, string), noneAt func() bool, opaque func() (uint8, bool, string), kids []string) []int64 {
	c.Requests++
	switch rec.outcome {
	case outClientError:
		c.ClientErrors++
		return lat
	case outDropped:
		c.Dropped++
		return lat
	case outError:
		c.Errors++
	case outAccepted:
		c.Accepted++
	case outRefused:
		c.Refused++
	case outUnavailable:
		c.Unavailable++
	}
	lat = append(lat, rec.end-rec.sched)
	if isValid(rec.kind) && rec.kid < 0 {
		return lat // failed before a token was sent (an error, counted above)
	}
	var want uint8
	var allow503 bool
	var reason, kid string
	switch {
	case isOpaque(rec.kind):
		want, allow503, reason = opaque()
	case isValid(rec.kind):
		kid = kids[rec.kid]
		want, allow503, reason = truth(kid)
	default:
		want, allow503 = mustRefuse, noneAt()
	}
	switch want {
	case mustAccept:
		c.MustAccept++
		// A 503 is a false refuse unless allowed (introspected tokens
		// during an introspection outage).
		if rec.outcome == outRefused || rec.outcome == outUnavailable && !allow503 {
			c.FalseRefuses++
		}
	case mustRefuse:
		c.MustRefuse++
		if rec.outcome == outAccepted {
			c.FalseAccepts++
		}
		if (isValid(rec.kind) || rec.kind == kindOpaque) && rec.outcome != outAccepted {
			c.ValidRefusedByDesign++
		}
	case either:
		c.Either++
		charge(reason, kid)
	}
	if rec.outcome == outUnavailable {
		if allow503 {
			c.Allowed503++
		} else {
			c.Disallowed503++
		}
	}
	return lat
}
