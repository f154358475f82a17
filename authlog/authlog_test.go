package authlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/jwtverify"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestLogger(t *testing.T, opts Options) (*Logger, *bytes.Buffer, *fakeClock) {
	t.Helper()
	var buf bytes.Buffer
	clk := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	opts.Now = clk.Now
	l := New(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), opts)
	return l, &buf, clk
}

func records(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestRejectionIsLoggedWithReasonAndIssuer(t *testing.T) {
	l, buf, _ := newTestLogger(t, Options{})
	l.ObserveVerify(jwtverify.VerifyEvent{Issuer: "corp", Reason: jwtverify.ReasonExpired})
	l.ObserveVerify(jwtverify.VerifyEvent{Issuer: "corp", ClientID: "c1"}) // success: not logged
	recs := records(t, buf)
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1: %s", len(recs), buf)
	}
	if recs[0]["reason"] != "expired" || recs[0]["issuer"] != "corp" || recs[0]["level"] != "INFO" {
		t.Fatalf("unexpected record %v", recs[0])
	}
}

func TestIdenticalRejectionsAreRateLimited(t *testing.T) {
	l, buf, clk := newTestLogger(t, Options{Interval: time.Minute, Burst: 2})
	ev := jwtverify.VerifyEvent{Issuer: "corp", Reason: jwtverify.ReasonBadSignature}
	for i := 0; i < 1000; i++ {
		l.ObserveVerify(ev)
	}
	// Another reason is another key: logged at once.
	l.ObserveVerify(jwtverify.VerifyEvent{Issuer: "corp", Reason: jwtverify.ReasonAudience})
	if n := len(records(t, buf)); n != 3 {
		t.Fatalf("got %d records in the first window, want 3", n)
	}
	clk.Add(time.Minute)
	l.ObserveVerify(ev)
	recs := records(t, buf)
	if len(recs) != 4 {
		t.Fatalf("got %d records, want 4", len(recs))
	}
	if got := recs[3]["suppressed"]; got != float64(998) {
		t.Fatalf("suppressed = %v, want 998", got)
	}
}

func TestLevelIsConfigurable(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})), Options{Level: slog.LevelDebug})
	l.ObserveVerify(jwtverify.VerifyEvent{Issuer: "corp", Reason: jwtverify.ReasonExpired})
	if buf.Len() != 0 {
		t.Fatalf("debug record written by a warn handler: %s", buf.String())
	}
	l2 := New(slog.New(slog.NewJSONHandler(&buf, nil)), Options{Level: slog.LevelWarn})
	l2.ObserveVerify(jwtverify.VerifyEvent{Issuer: "corp", Reason: jwtverify.ReasonExpired})
	if !strings.Contains(buf.String(), `"level":"WARN"`) {
		t.Fatalf("want a WARN record, got %s", buf.String())
	}
}

func TestDecisionsLogClientAndMissingButNotAllowed(t *testing.T) {
	l, buf, _ := newTestLogger(t, Options{})
	l.ObserveDecision(jwtverify.DecisionEvent{Transport: "http", Result: jwtverify.DecisionAllowed, ClientID: "c1"})
	l.ObserveDecision(jwtverify.DecisionEvent{Transport: "http", Result: jwtverify.DecisionUnauthenticated})
	l.ObserveDecision(jwtverify.DecisionEvent{Transport: "grpc", Result: jwtverify.DecisionForbidden,
		Reason: jwtverify.ReasonInsufficientScope, Issuer: "corp", ClientID: "c1", Missing: []string{"orders.write"}})
	recs := records(t, buf)
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1: %s", len(recs), buf)
	}
	r := recs[0]
	if r["client_id"] != "c1" || r["transport"] != "grpc" || r["result"] != "forbidden" {
		t.Fatalf("unexpected record %v", r)
	}
	if m, _ := r["missing"].([]any); len(m) != 1 || m[0] != "orders.write" {
		t.Fatalf("missing = %v", r["missing"])
	}
}

func TestRateLimiterMemoryIsBounded(t *testing.T) {
	l, _, _ := newTestLogger(t, Options{MaxKeys: 16})
	for i := 0; i < 10000; i++ {
		l.ObserveDecision(jwtverify.DecisionEvent{Transport: "http", Result: jwtverify.DecisionForbidden, ClientID: fmt.Sprint("client-", i)})
	}
	l.mu.Lock()
	n := len(l.windows)
	l.mu.Unlock()
	if n > 16 {
		t.Fatalf("rate limiter holds %d keys, cap 16", n)
	}
}

func TestDetailsAreOptIn(t *testing.T) {
	ev := jwtverify.VerifyEvent{Issuer: "corp", Reason: jwtverify.ReasonAudience,
		Err: &jwtverify.Error{Reason: jwtverify.ReasonAudience, Detail: `aud "attacker-chosen" is not accepted`}}
	l, buf, _ := newTestLogger(t, Options{})
	l.ObserveVerify(ev)
	if strings.Contains(buf.String(), "attacker-chosen") {
		t.Fatalf("detail logged without Options.Details: %s", buf)
	}
	l2, buf2, _ := newTestLogger(t, Options{Details: true})
	l2.ObserveVerify(ev)
	if !strings.Contains(buf2.String(), "attacker-chosen") {
		t.Fatalf("detail missing with Options.Details: %s", buf2)
	}
}
