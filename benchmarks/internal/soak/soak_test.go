package soak

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain lets the test binary serve as the soak's API child.
func TestMain(m *testing.M) {
	if IsChild(os.Args) {
		os.Exit(ChildMain(os.Args))
	}
	os.Exit(m.Run())
}

const sec = int64(time.Second)

// A synthetic history: key A published at the start and withdrawn at 5 s,
// key B published at 4 s; the API fetched {A} at 1 s and {B} at 10 s, then
// nothing (its set goes stale at 25 s with MaxStaleness 15 s).
func synthetic() (*Config, *apiTimeline, map[string]*keyEntry) {
	cfg := &Config{MaxStaleness: 15 * time.Second, FetchTimeout: 500 * time.Millisecond, Leeway: 5 * time.Second,
		Refresh: 3 * time.Second, Cooldown: 2 * time.Second, BackoffMax: 2 * time.Second, Slack: time.Second,
		Rate: 100, Clients: 1, TokenLifetime: 30 * time.Second}
	fetches := []FetchRecord{
		{Cause: "scheduled", Class: "ok", Start: sec - 1000, End: sec, Obs: sec + 1000, Generation: 1, KIDs: []string{"A"}},
		{Cause: "unknown_kid", Class: "http_status", Start: 6 * sec, End: 6*sec + 1000, Obs: 6*sec + 2000, Generation: 1},
		{Cause: "scheduled", Class: "ok", Start: 10*sec - 1000, End: 10 * sec, Obs: 10*sec + 1000, Generation: 2, KIDs: []string{"B"}},
	}
	keys := map[string]*keyEntry{
		"A": {KID: "A", AddBefore: 0, AddAfter: 0, RmBefore: 5 * sec, RmAfter: 5*sec + 100, Withdrawn: true},
		"B": {KID: "B", AddBefore: 4 * sec, AddAfter: 4*sec + 100},
	}
	return cfg, buildTimeline(fetches, cfg, 0), keys
}

// The ground truth follows the design: accept what the API surely holds
// and the issuer surely publishes, refuse what it surely dropped, "either"
// only across a change the API has not caught up with.
func TestClassify(t *testing.T) {
	cfg, tl, keys := synthetic()
	exp := int64(1000) // seconds: far in the future of this history
	cases := []struct {
		name     string
		kid      string
		a, b     int64
		exp      int64
		want     uint8
		allow503 bool
		reason   string
	}{
		{"held and published", "A", 2 * sec, 2*sec + 1e7, exp, mustAccept, false, ""},
		{"withdrawn, not refetched", "A", 6 * sec, 6*sec + 1e7, exp, either, false, eitherWithdrawn},
		{"withdrawn and refetched", "A", 11 * sec, 11*sec + 1e7, exp, mustRefuse, false, ""},
		{"across the refetch", "A", 10*sec - 500, 10*sec + 500, exp, either, false, eitherWithdrawn},
		{"published, not fetched", "B", 5 * sec, 5*sec + 1e7, exp, either, false, eitherUnfetched},
		{"not published yet", "B", 2 * sec, 2*sec + 1e7, exp, mustRefuse, false, ""},
		{"fetched", "B", 12 * sec, 12*sec + 1e7, exp, mustAccept, false, ""},
		{"before stale", "B", 24 * sec, 24*sec + 1e7, exp, mustAccept, false, ""},
		{"going stale", "B", 25*sec + 1e8, 25*sec + 2e8, exp, either, true, eitherStale},
		{"stale", "B", 27 * sec, 27*sec + 1e7, exp, mustRefuse, true, ""},
		{"expired", "B", 12 * sec, 12*sec + 1e7, 2, mustRefuse, false, ""},
		{"expiring in flight", "B", 12 * sec, 12*sec + 1e7, 12 - 5, either, false, eitherExpiry},
	}
	for _, c := range cases {
		want, allow, reason := classify(tl, keys[c.kid], c.kid, c.exp, c.a, c.b, cfg.Leeway)
		if want != c.want || allow != c.allow503 || reason != c.reason {
			t.Errorf("%s: got (%d, %v, %q), want (%d, %v, %q)", c.name, want, allow, reason, c.want, c.allow503, c.reason)
		}
	}
}

// evaluate turns wrong answers into failures: a false accept, a false
// refuse, a 503 while a set was usable, "either" beyond its bound.
func TestEvaluateFails(t *testing.T) {
	cfg, _, keys := synthetic()
	base := evalInput{cfg: *cfg, start: 0, end: 18 * sec, kids: []string{"A", "B"},
		keys: []keyEntry{*keys["A"], *keys["B"]},
		fetches: []FetchRecord{
			{Cause: "scheduled", Class: "ok", Start: sec - 1000, End: sec, Obs: sec + 1000, Generation: 1, KIDs: []string{"A"}},
			{Cause: "scheduled", Class: "ok", Start: 7*sec - 1000, End: 7 * sec, Obs: 7*sec + 1000, Generation: 2, KIDs: []string{"B"}},
			{Cause: "scheduled", Class: "ok", Start: 10*sec - 1000, End: 10 * sec, Obs: 10*sec + 1000, Generation: 3, KIDs: []string{"B"}},
			{Cause: "scheduled", Class: "ok", Start: 13*sec - 1000, End: 13 * sec, Obs: 13*sec + 1000, Generation: 4, KIDs: []string{"B"}},
			{Cause: "scheduled", Class: "ok", Start: 16*sec - 1000, End: 16 * sec, Obs: 16*sec + 1000, Generation: 5, KIDs: []string{"B"}},
		},
		phases: []phaseRun{{Name: "steady", Start: 0, End: 18 * sec}},
		defs:   []phaseDef{{name: "steady"}},
	}
	rec := func(kid int32, at int64, out uint8) record {
		return record{sched: at, start: at, end: at + 1e6, exp: 1000, kid: kid, kind: kindValid, outcome: out}
	}
	cases := []struct {
		name    string
		records []record
		fail    string
	}{
		{"correct answers", []record{rec(0, 2*sec, outAccepted), rec(0, 11*sec, outRefused), rec(1, 12*sec, outAccepted)}, ""},
		{"false accept", []record{rec(0, 11*sec, outAccepted)}, "false accepts"},
		{"false refuse", []record{rec(1, 12*sec, outRefused)}, "false refuses"},
		{"503 with keys", []record{rec(1, 12*sec, outUnavailable)}, "503"},
		{"attack accepted", []record{{sched: 3 * sec, start: 3 * sec, end: 3*sec + 1e6, kid: -1, kind: kindForged, outcome: outAccepted}}, "false accepts"},
		{"stolen bound token accepted without its certificate", []record{{sched: 3 * sec, start: 3 * sec, end: 3*sec + 1e6, kid: -1, kind: kindStolenNoCert, outcome: outAccepted}}, "false accepts"},
		{"stolen bound token accepted with another certificate", []record{{sched: 3 * sec, start: 3 * sec, end: 3*sec + 1e6, kid: -1, kind: kindStolenOtherCert, outcome: outAccepted}}, "false accepts"},
		{"bound token refused with its certificate", []record{{sched: 12 * sec, start: 12 * sec, end: 12*sec + 1e6, exp: 1000, kid: 1, kind: kindBound, outcome: outRefused}}, "false refuses"},
		{"either beyond bound", func() []record {
			var rs []record
			for i := range 1900 { // the bound is 100/s x (3 s + 0.5 s + 1 s)
				rs = append(rs, rec(0, 5*sec+5e7+int64(i)*1e6, outAccepted))
			}
			return rs
		}(), "withdrawal"},
	}
	// Checks of the API's behaviour beyond single answers.
	mutations := []struct {
		name   string
		mutate func(in *evalInput)
		fail   string
	}{
		{"unknown-kid refreshes inside the cooldown", func(in *evalInput) {
			in.fetches = append(slices.Clone(in.fetches),
				FetchRecord{Cause: "unknown_kid", Class: "http_status", Start: 2 * sec, End: 2*sec + 1000, Obs: 2*sec + 2000},
				FetchRecord{Cause: "unknown_kid", Class: "http_status", Start: 3*sec + 2000, End: 3*sec + 3000, Obs: 3*sec + 4000})
		}, "unknown-kid fetches"},
		{"fetch right after a fetch", func(in *evalInput) {
			in.fetches = append(slices.Clone(in.fetches),
				FetchRecord{Cause: "scheduled", Class: "http_status", Start: 7*sec + 2e8, End: 7*sec + 3e8, Obs: 7*sec + 3e8})
		}, "after the previous one ended"},
		{"goroutine growth", func(in *evalInput) { in.base.Goroutines, in.final.Goroutines = 7, 7+goroutineTolerance+1 }, "goroutines grew"},
		{"heap growth", func(in *evalInput) { in.final.HeapAlloc = uint64(in.cfg.CacheMaxBytes+in.cfg.HeapAllowance) + 1 }, "live heap grew"},
		{"slow recovery", func(in *evalInput) {
			// The JWKS fails from 2.5 s to 3.2 s; the next good fetch is at 7 s.
			in.faults = []faultEntry{{Endpoint: "jwks", Start: 2*sec + 5e8, End: 3*sec + 2e8}}
			in.fetches = append(slices.Clone(in.fetches),
				FetchRecord{Cause: "scheduled", Class: "http_status", Start: 2*sec + 6e8, End: 2*sec + 7e8, Obs: 2*sec + 7e8})
		}, "recovered"},
	}
	for _, m := range mutations {
		in := base
		in.cfg.HeapAllowance = 8 << 20
		in.cfg.CacheMaxBytes = 4 << 20
		m.mutate(&in)
		rep := evaluate(in)
		if got := strings.Join(rep.Failures, "; "); rep.OK || !strings.Contains(got, m.fail) {
			t.Errorf("%s: failures %q, want one about %q", m.name, got, m.fail)
		}
	}

	for _, c := range cases {
		in := base
		in.records = c.records
		rep := evaluate(in)
		if isBoundToken(c.records[0].kind) && (rep.Bound.Requests != 1 || rep.Phases[0].Bound.Requests != 1) {
			t.Errorf("%s: bound-token counts %+v, phase %+v, want the request in both", c.name, rep.Bound, rep.Phases[0].Bound)
		}
		got := strings.Join(rep.Failures, "; ")
		if c.fail == "" && !rep.OK {
			t.Errorf("%s: failed: %s", c.name, got)
		}
		if c.fail != "" && (rep.OK || !strings.Contains(got, c.fail)) {
			t.Errorf("%s: failures %q, want one about %q", c.name, got, c.fail)
		}
	}
}

// A run configured with bound clients fails when it checked no bound
// token a client sent with its certificate, or no stolen one: the bound
// routes must not drop out of the soak unnoticed.
func TestEvaluateRequiresBoundTokens(t *testing.T) {
	cfg, _, keys := synthetic()
	cfg.BoundClients = 1
	in := evalInput{cfg: *cfg, start: 0, end: 18 * sec, kids: []string{"A", "B"},
		keys: []keyEntry{*keys["A"], *keys["B"]},
		fetches: []FetchRecord{
			{Cause: "scheduled", Class: "ok", Start: sec - 1000, End: sec, Obs: sec + 1000, Generation: 1, KIDs: []string{"A"}},
			{Cause: "scheduled", Class: "ok", Start: 7*sec - 1000, End: 7 * sec, Obs: 7*sec + 1000, Generation: 2, KIDs: []string{"B"}},
			{Cause: "scheduled", Class: "ok", Start: 10*sec - 1000, End: 10 * sec, Obs: 10*sec + 1000, Generation: 3, KIDs: []string{"B"}},
			{Cause: "scheduled", Class: "ok", Start: 13*sec - 1000, End: 13 * sec, Obs: 13*sec + 1000, Generation: 4, KIDs: []string{"B"}},
			{Cause: "scheduled", Class: "ok", Start: 16*sec - 1000, End: 16 * sec, Obs: 16*sec + 1000, Generation: 5, KIDs: []string{"B"}},
		},
		phases: []phaseRun{{Name: "steady", Start: 0, End: 18 * sec}},
		defs:   []phaseDef{{name: "steady"}},
	}
	in.cfg.HeapAllowance, in.cfg.CacheMaxBytes = 8<<20, 4<<20
	own := record{sched: 12 * sec, start: 12 * sec, end: 12*sec + 1e6, exp: 1000, kid: 1, kind: kindBound, outcome: outAccepted}
	stolen := record{sched: 12 * sec, start: 12 * sec, end: 12*sec + 1e6, kid: -1, kind: kindStolenOtherCert, outcome: outRefused}
	for _, c := range []struct {
		name    string
		records []record
		ok      bool
	}{
		{"both", []record{own, stolen}, true},
		{"no stolen token", []record{own}, false},
		{"no own token", []record{stolen}, false},
	} {
		in.records = c.records
		rep := evaluate(in)
		if rep.OK != c.ok || (!c.ok && !strings.Contains(strings.Join(rep.Failures, "; "), "not exercised")) {
			t.Errorf("%s: ok %v, failures %v", c.name, rep.OK, rep.Failures)
		}
	}
}

// A very short soak end to end: the child process, clients, attackers,
// the first phases of the schedule, and every check.
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 20 s")
	}
	defer goleak.VerifyNone(t)
	rep, err := Run(Config{Duration: 16 * time.Second, Rate: 100, Clients: 5, Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("soak failed: %v", rep.Failures)
	}
	if rep.Totals.MustAccept == 0 || rep.Totals.MustRefuse == 0 || rep.Fetches.Total < 3 {
		t.Fatalf("soak did too little: %+v, %d fetches", rep.Totals, rep.Fetches.Total)
	}
	for _, k := range []uint8{kindBound, kindStolenPlain, kindStolenNoCert, kindStolenOtherCert, kindOpaque, kindOpaqueJunk, kindOpaqueForeign} {
		if c := rep.ByKind[kindNames[k]]; c == nil || c.Requests == 0 {
			t.Fatalf("soak sent no %s request: %+v", kindNames[k], rep.ByKind)
		}
	}
	if own := rep.ByKind[kindNames[kindBound]]; own.Accepted == 0 || rep.Bound.Accepted != own.Accepted {
		t.Fatalf("bound tokens: %d of their clients' accepted, %d in all (a stolen one accepted?)", own.Accepted, rep.Bound.Accepted)
	}
	if in := rep.Introspection; in == nil || in.Checked == 0 || in.Calls == 0 || rep.ByKind[kindNames[kindOpaque]].Accepted == 0 {
		t.Fatalf("introspected routes not exercised: %+v", in)
	}
	if md := Markdown(rep); !strings.Contains(md, SectionBegin) || !strings.Contains(md, "jwks-500") {
		t.Fatalf("markdown lacks its section or phases:\n%s", md)
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// A process the machine did not run for a while catches up late by as
// much: the measured starvation widens the time bounds, and only by that.
func TestStarvationWidensBounds(t *testing.T) {
	if got := starvation([]Sample{{T: 0}, {T: sec}, {T: 4 * sec}, {T: 5 * sec}}); got != 2*time.Second {
		t.Fatalf("starvation = %v, want 2s", got)
	}
	cfg, _, keys := synthetic()
	in := evalInput{cfg: *cfg, start: 0, end: 18 * sec, kids: []string{"A", "B"},
		keys: []keyEntry{*keys["A"], *keys["B"]},
		// The JWKS fails from 2.5 s to 3.2 s; the next good fetch is at
		// 7 s: 3.8 s later, over the 3.5 s bound.
		faults: []faultEntry{{Endpoint: "jwks", Start: 2*sec + 5e8, End: 3*sec + 2e8}},
		fetches: []FetchRecord{
			{Cause: "scheduled", Class: "ok", Start: sec - 1000, End: sec, Obs: sec + 1000, Generation: 1, KIDs: []string{"A"}},
			{Cause: "scheduled", Class: "http_status", Start: 2*sec + 6e8, End: 2*sec + 7e8, Obs: 2*sec + 7e8},
			{Cause: "scheduled", Class: "ok", Start: 7*sec - 1000, End: 7 * sec, Obs: 7*sec + 1000, Generation: 2, KIDs: []string{"B"}},
			{Cause: "scheduled", Class: "ok", Start: 10*sec - 1000, End: 10 * sec, Obs: 10*sec + 1000, Generation: 3, KIDs: []string{"B"}},
			{Cause: "scheduled", Class: "ok", Start: 13*sec - 1000, End: 13 * sec, Obs: 13*sec + 1000, Generation: 4, KIDs: []string{"B"}},
			{Cause: "scheduled", Class: "ok", Start: 16*sec - 1000, End: 16 * sec, Obs: 16*sec + 1000, Generation: 5, KIDs: []string{"B"}},
		},
		phases: []phaseRun{{Name: "steady", Start: 0, End: 18 * sec}},
		defs:   []phaseDef{{name: "steady"}},
	}
	in.cfg.HeapAllowance, in.cfg.CacheMaxBytes = 8<<20, 4<<20
	if rep := evaluate(in); rep.OK {
		t.Fatal("slow recovery passed without starvation")
	}
	in.samples = []Sample{{T: 3 * sec}, {T: 4*sec + 5e8}} // the API stalled 0.5 s
	if rep := evaluate(in); !rep.OK {
		t.Fatalf("a 0.5 s stall should excuse a recovery 0.3 s over its bound: %v", rep.Failures)
	}
}
