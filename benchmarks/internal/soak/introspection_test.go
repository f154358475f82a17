package soak

import (
	"strings"
	"testing"
	"time"
)

// The ground truth of an introspected request: a client's own token is
// accepted until revoked, refused once the revocation bound has passed,
// either in between; attacks are refused; 503 only in an outage.
func TestOpaqueTruth(t *testing.T) {
	toks := []opaqueToken{{Client: 0}, {Client: 0, RevBefore: 10 * sec, RevAfter: 10*sec + 1e6}}
	outages := [][2]int64{{20 * sec, 25 * sec}}
	bound := 4 * time.Second
	req := func(kind uint8, tok int32, at int64) *record {
		return &record{kind: kind, kid: tok, sched: at, start: at, end: at + 1e6}
	}
	cases := []struct {
		name     string
		rec      *record
		want     uint8
		allow503 bool
		reason   string
	}{
		{"never revoked", req(kindOpaque, 0, 5*sec), mustAccept, false, ""},
		{"before its revocation", req(kindOpaque, 1, 9*sec), mustAccept, false, ""},
		{"during the revocation", req(kindOpaque, 1, 10*sec), either, false, eitherRevoked},
		{"within the bound", req(kindOpaque, 1, 13*sec), either, false, eitherRevoked},
		{"beyond the bound", req(kindOpaque, 1, 15*sec), mustRefuse, false, ""},
		{"in an outage", req(kindOpaque, 0, 22*sec), mustAccept, true, ""},
		{"revoked, in an outage", req(kindOpaque, 1, 22*sec), mustRefuse, true, ""},
		{"junk", req(kindOpaqueJunk, -1, 5*sec), mustRefuse, false, ""},
		{"foreign, in an outage", req(kindOpaqueForeign, -1, 24*sec), mustRefuse, true, ""},
	}
	for _, c := range cases {
		want, allow, reason := opaqueTruth(c.rec, toks, outages, bound)
		if want != c.want || allow != c.allow503 || reason != c.reason {
			t.Errorf("%s: got (%d, %v, %q), want (%d, %v, %q)", c.name, want, allow, reason, c.want, c.allow503, c.reason)
		}
	}
	// An outage stretches by a call timeout, a second and slack.
	cfg := &Config{IntrospectTimeout: 500 * time.Millisecond, Slack: time.Second}
	iv := introOutages([]faultEntry{{Endpoint: "jwks", Start: sec, End: 2 * sec}, {Endpoint: "introspect", Start: 3 * sec, End: 4 * sec}}, 100*sec, cfg, 0)
	if len(iv) != 1 || iv[0] != [2]int64{3 * sec, 6*sec + 5e8} {
		t.Errorf("outages %v, want [[3s 6.5s]]", iv)
	}
}

// The budget check follows a token bucket: burst at once, then rate per
// second; more in any stretch is an excess.
func TestBudgetCheck(t *testing.T) {
	steady := func(perTick int64) []callSample {
		var s []callSample
		for i := range int64(100) { // 10 s in 100 ms ticks
			s = append(s, callSample{T: i * 1e8, N: i * perTick})
		}
		return s
	}
	if ex, peak := budgetCheck(steady(2), 20, 20, 0); ex > 0 || peak != 20 {
		t.Errorf("20/s against 20/s: excess %.1f, peak %d; want none, 20", ex, peak)
	}
	if ex, _ := budgetCheck(steady(3), 20, 20, 0); ex <= 0 {
		t.Error("30/s for 10 s against 20/s, burst 20: no excess")
	}
	burst := steady(1) // 10/s, then 20 at once
	for i := 50; i < len(burst); i++ {
		burst[i].N += 20
	}
	if ex, peak := budgetCheck(burst, 20, 20, 0); ex > 0 || peak != 30 {
		t.Errorf("a burst of 20 over 10/s: excess %.1f, peak %d; want none, 30", ex, peak)
	}
	for i := 50; i < len(burst); i++ {
		burst[i].N += 5
	}
	if ex, _ := budgetCheck(burst, 20, 20, 0); ex <= 0 {
		t.Error("a burst of 25 with burst 20: no excess")
	}
}

// evaluate checks the introspected routes: wrong answers, 503 outside an
// outage, revocations not checked, calls beyond the budget, and routes
// that were not exercised at all.
func TestEvaluateIntrospection(t *testing.T) {
	cfg, _, keys := synthetic()
	cfg.OpaqueClients, cfg.IntrospectMaxAge, cfg.IntrospectTimeout = 1, 2*time.Second, 500*time.Millisecond
	cfg.IntrospectRate, cfg.IntrospectBurst = 20, 20
	cfg.HeapAllowance, cfg.CacheMaxBytes = 8<<20, 4<<20
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
		faults: []faultEntry{{Endpoint: "introspect", Start: 12 * sec, End: 13 * sec}},
		opaque: []opaqueToken{{Client: 1}, {Client: 1, RevBefore: 3 * sec, RevAfter: 3*sec + 1e6}},
		calls:  []callSample{{T: 0, N: 0}, {T: 5 * sec, N: 40}, {T: 10 * sec, N: 80}},
	}
	rec := func(kind uint8, tok int32, at int64, out uint8) record {
		return record{sched: at, start: at, end: at + 1e6, kid: tok, kind: kind, outcome: out}
	}
	good := []record{
		rec(kindOpaque, 0, 2*sec, outAccepted),
		rec(kindOpaque, 1, 2*sec, outAccepted),
		rec(kindOpaque, 1, 4*sec, outAccepted), // within the bound: either
		rec(kindOpaque, 1, 8*sec, outRefused),  // beyond it
		rec(kindOpaque, 0, 12*sec+5e8, outUnavailable),
		rec(kindOpaqueJunk, -1, 5*sec, outRefused),
		rec(kindOpaqueForeign, -1, 5*sec, outRefused),
	}
	with := func(extra ...record) []record { return append(append([]record(nil), good...), extra...) }
	cases := []struct {
		name    string
		records []record
		calls   []callSample
		fail    string
	}{
		{"correct answers", good, nil, ""},
		{"revoked token accepted beyond the bound", with(rec(kindOpaque, 1, 9*sec, outAccepted)), nil, "false accepts"},
		{"own token refused", with(rec(kindOpaque, 0, 6*sec, outRefused)), nil, "false refuses"},
		{"503 outside an outage", with(rec(kindOpaque, 0, 6*sec, outUnavailable)), nil, "503"},
		{"foreign token accepted", with(rec(kindOpaqueForeign, -1, 6*sec, outAccepted)), nil, "false accepts"},
		{"no revocation checked", []record{good[0], good[5], good[6]}, nil, "no revoked token"},
		{"no opaque token accepted", []record{good[3], good[5], good[6]}, nil, "not exercised"},
		{"calls beyond the budget", good, []callSample{{T: 0, N: 0}, {T: sec, N: 60}}, "beyond the budget"},
		{"no call counted", good, []callSample{{T: 0, N: 0}, {T: sec, N: 0}}, "no introspection request"},
	}
	for _, c := range cases {
		in := base
		in.records = c.records
		if c.calls != nil {
			in.calls = c.calls
		}
		rep := evaluate(in)
		got := strings.Join(rep.Failures, "; ")
		if c.fail == "" && !rep.OK {
			t.Errorf("%s: failed: %s", c.name, got)
		}
		if c.fail != "" && (rep.OK || !strings.Contains(got, c.fail)) {
			t.Errorf("%s: failures %q, want one about %q", c.name, got, c.fail)
		}
	}
	rep := evaluate(func() evalInput { in := base; in.records = good; return in }())
	if st := rep.Introspection; st == nil || st.Revocations != 1 || st.Checked != 1 || st.Either != 1 || st.Outage503 != 1 || st.Calls != 80 {
		t.Errorf("stats %+v, want 1 revocation checked, 1 either, 1 outage 503, 80 calls", st)
	}
	if md := Markdown(rep); !strings.Contains(md, "| Introspection |") || !strings.Contains(md, "Introspected routes") {
		t.Error("markdown lacks the introspection row or section")
	}
}
