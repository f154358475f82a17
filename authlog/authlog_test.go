package authlog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/m2mauth/m2mauth/jwtverify"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newTestLogger(t *testing.T, opts Options) (*Logger, *lockedBuffer, *fakeClock) {
	t.Helper()
	var buf lockedBuffer
	clk := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	opts.Now = clk.Now
	l := New(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), opts)
	t.Cleanup(func() { _ = l.Close() })
	return l, &buf, clk
}

func records(t *testing.T, buf *lockedBuffer) []map[string]any {
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

func forbidden(route string) jwtverify.DecisionEvent {
	return jwtverify.DecisionEvent{Transport: "http", Result: jwtverify.DecisionForbidden,
		Reason: jwtverify.ReasonInsufficientScope, Issuer: "corp", ClientID: "c1", Route: route,
		Missing: []string{"orders.write"}}
}

// TestDecisionRecord: the attributes of a refusal record, the same on every
// transport.
func TestDecisionRecord(t *testing.T) {
	l, buf, _ := newTestLogger(t, Options{})
	for _, tr := range []string{"http", "echo", "grpc"} {
		ev := forbidden("GET /orders")
		ev.Transport = tr
		l.ObserveDecision(ev)
	}
	recs := records(t, buf)
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3: %s", len(recs), buf)
	}
	for i, r := range recs {
		delete(r, "time")
		want := map[string]any{"level": "INFO", "msg": MsgRefused, "transport": []string{"http", "echo", "grpc"}[i],
			"result": "forbidden", "reason": "insufficient_scope", "issuer": "corp", "route": "GET /orders",
			"client_id": "c1", "missing": []any{"orders.write"}}
		if fmt.Sprint(r) != fmt.Sprint(want) {
			t.Fatalf("record %d = %v\nwant %v", i, r, want)
		}
	}
}

// TestDecisionRecordSpelling: no issuer is "none" (as in the metrics), no
// route is "unknown", no credentials is a reason of its own, the rule is
// logged.
func TestDecisionRecordSpelling(t *testing.T) {
	l, buf, _ := newTestLogger(t, Options{})
	l.ObserveDecision(jwtverify.DecisionEvent{Transport: "echo", Result: jwtverify.DecisionUnauthenticated})
	l.ObserveDecision(jwtverify.DecisionEvent{Transport: "grpc", Result: jwtverify.DecisionUnauthenticated,
		Reason: jwtverify.ReasonType, Rule: "delegated_token", Issuer: "entra-v2", Route: "/orders.v1.Orders/List"})
	recs := records(t, buf)
	if len(recs) != 2 {
		t.Fatalf("got %d records: %s", len(recs), buf)
	}
	if r := recs[0]; r["issuer"] != jwtverify.NoIssuer || r["route"] != jwtverify.RouteUnknown ||
		r["reason"] != ReasonNoCredentials || r["rule"] != nil || r["client_id"] != nil {
		t.Fatalf("record %v", r)
	}
	if r := recs[1]; r["rule"] != "delegated_token" || r["reason"] != "type" || r["issuer"] != "entra-v2" {
		t.Fatalf("record %v", r)
	}
}

func TestAllowedAndSkippedAreNotLogged(t *testing.T) {
	l, buf, _ := newTestLogger(t, Options{})
	l.ObserveDecision(jwtverify.DecisionEvent{Transport: "http", Result: jwtverify.DecisionAllowed, ClientID: "c1"})
	l.ObserveDecision(jwtverify.DecisionEvent{Transport: "http", Result: jwtverify.DecisionSkipped})
	if buf.String() != "" {
		t.Fatalf("logged %s", buf)
	}
}

// TestFirstPerKeyPerWindowThenSuppressedCount is the rate-limit contract:
// the first record per key per window, then one record with the count of
// the rest, written when the window closes even if the key never recurs.
func TestFirstPerKeyPerWindowThenSuppressedCount(t *testing.T) {
	l, buf, clk := newTestLogger(t, Options{Interval: time.Minute})
	for i := 0; i < 1000; i++ {
		l.ObserveDecision(forbidden("GET /orders"))
	}
	// Another route, another rule, another transport: other keys.
	other := forbidden("POST /orders")
	l.ObserveDecision(other)
	rule := forbidden("GET /orders")
	rule.Rule = "x"
	l.ObserveDecision(rule)
	grpc := forbidden("GET /orders")
	grpc.Transport = "grpc"
	l.ObserveDecision(grpc)
	if n := len(records(t, buf)); n != 4 {
		t.Fatalf("got %d records in the first window, want 4: %s", n, buf)
	}
	clk.Add(time.Minute)
	// Any later event closes the windows that ended; "GET /orders" never
	// recurs.
	l.ObserveDecision(jwtverify.DecisionEvent{Transport: "http", Result: jwtverify.DecisionUnavailable,
		Reason: jwtverify.ReasonKeysUnavailable, Issuer: "corp", Route: "GET /other"})
	recs := records(t, buf)
	if len(recs) != 6 {
		t.Fatalf("got %d records, want 6: %s", len(recs), buf)
	}
	s := recs[4]
	if s["msg"] != MsgSuppressed || s["suppressed"] != float64(999) || s["route"] != "GET /orders" ||
		s["transport"] != "http" || s["reason"] != "insufficient_scope" || s["issuer"] != "corp" {
		t.Fatalf("suppressed record %v", s)
	}
	if recs[5]["msg"] != MsgRefused || recs[5]["level"] != "WARN" {
		t.Fatalf("unavailable record %v", recs[5])
	}
	// A new window: the first record again, with no count attached.
	l.ObserveDecision(forbidden("GET /orders"))
	recs = records(t, buf)
	if len(recs) != 7 || recs[6]["msg"] != MsgRefused || recs[6]["suppressed"] != nil {
		t.Fatalf("records %v", recs)
	}
}

func TestBurst(t *testing.T) {
	l, buf, _ := newTestLogger(t, Options{Burst: 3})
	for i := 0; i < 10; i++ {
		l.ObserveDecision(forbidden("GET /orders"))
	}
	if n := len(records(t, buf)); n != 3 {
		t.Fatalf("got %d records, want 3", n)
	}
	_ = l.Close()
	recs := records(t, buf)
	if len(recs) != 4 || recs[3]["suppressed"] != float64(7) {
		t.Fatalf("records %v", recs)
	}
}

// TestCloseWritesSuppressedCounts: Close writes every open window's count
// at once; a window with nothing suppressed writes nothing.
func TestCloseWritesSuppressedCounts(t *testing.T) {
	l, buf, _ := newTestLogger(t, Options{})
	for i := 0; i < 5; i++ {
		l.ObserveDecision(forbidden("GET /a"))
	}
	l.ObserveDecision(forbidden("GET /b"))
	_ = l.Close()
	_ = l.Close()
	recs := records(t, buf)
	if len(recs) != 3 || recs[2]["msg"] != MsgSuppressed || recs[2]["route"] != "GET /a" || recs[2]["suppressed"] != float64(4) {
		t.Fatalf("records %v", recs)
	}
	// Still usable after Close.
	l.ObserveDecision(forbidden("GET /c"))
	if n := len(records(t, buf)); n != 4 {
		t.Fatalf("got %d records after Close", n)
	}
}

// chanHandler sends the message of every record on a channel.
type chanHandler struct{ c chan<- slog.Record }

func (chanHandler) Enabled(context.Context, slog.Level) bool        { return true }
func (h chanHandler) Handle(_ context.Context, r slog.Record) error { h.c <- r.Clone(); return nil }
func (h chanHandler) WithAttrs([]slog.Attr) slog.Handler            { return h }
func (h chanHandler) WithGroup(string) slog.Handler                 { return h }

// TestTimerWritesSuppressedCountWithoutEvents: with the real clock and no
// further event at all, the Logger's timer closes the window and writes
// the count.
func TestTimerWritesSuppressedCountWithoutEvents(t *testing.T) {
	c := make(chan slog.Record, 16)
	l := New(slog.New(chanHandler{c}), Options{Interval: 20 * time.Millisecond})
	defer l.Close()
	for i := 0; i < 3; i++ {
		l.ObserveDecision(forbidden("GET /orders"))
	}
	if r := <-c; r.Message != MsgRefused {
		t.Fatalf("first record %q", r.Message)
	}
	select {
	case r := <-c:
		var n int64
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "suppressed" {
				n = a.Value.Int64()
			}
			return true
		})
		if r.Message != MsgSuppressed || n != 2 {
			t.Fatalf("record %q suppressed=%d", r.Message, n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the suppressed count was never written")
	}
}

// TestCloseStopsTimer: a Logger closed with a count pending leaves no timer
// to fire (goleak checks no goroutine is left either).
func TestCloseStopsTimer(t *testing.T) {
	l := New(slog.New(slog.NewJSONHandler(&lockedBuffer{}, nil)), Options{Interval: time.Hour})
	l.ObserveDecision(forbidden("GET /orders"))
	l.ObserveDecision(forbidden("GET /orders"))
	l.mu.Lock()
	armed := l.timer != nil
	l.mu.Unlock()
	if !armed {
		t.Fatal("no timer armed for a pending count")
	}
	_ = l.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil || l.pending != 0 {
		t.Fatalf("timer %v pending %d after Close", l.timer, l.pending)
	}
}

// TestEvictionWritesCountAndBoundsMemory: when full, the oldest window
// closes early and its count is written, not lost.
func TestEvictionWritesCountAndBoundsMemory(t *testing.T) {
	l, buf, _ := newTestLogger(t, Options{MaxKeys: 16})
	l.ObserveDecision(forbidden("GET /first"))
	l.ObserveDecision(forbidden("GET /first"))
	for i := 0; i < 2000; i++ {
		l.ObserveDecision(forbidden(fmt.Sprint("GET /r", i)))
	}
	l.mu.Lock()
	n, m := len(l.windows), l.order.Len()
	l.mu.Unlock()
	if n > 16 || n != m {
		t.Fatalf("rate limiter holds %d keys (%d in order), cap 16", n, m)
	}
	var found bool
	for _, r := range records(t, buf) {
		if r["msg"] == MsgSuppressed {
			if r["route"] != "GET /first" || r["suppressed"] != float64(1) || found {
				t.Fatalf("suppressed record %v", r)
			}
			found = true
		}
	}
	if !found {
		t.Fatal("the evicted window's count was lost")
	}
}

func TestLevelIsConfigurable(t *testing.T) {
	var buf lockedBuffer
	l := New(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})), Options{Level: slog.LevelDebug})
	defer l.Close()
	l.ObserveDecision(forbidden("GET /orders"))
	if buf.String() != "" {
		t.Fatalf("debug record written by a warn handler: %s", buf.String())
	}
	l2 := New(slog.New(slog.NewJSONHandler(&buf, nil)), Options{Level: slog.LevelError})
	defer l2.Close()
	l2.ObserveDecision(forbidden("GET /orders"))
	l2.ObserveDecision(jwtverify.DecisionEvent{Transport: "http", Result: jwtverify.DecisionUnavailable, Reason: jwtverify.ReasonKeysUnavailable})
	if strings.Count(buf.String(), `"level":"ERROR"`) != 2 {
		t.Fatalf("want two ERROR records, got %s", buf.String())
	}
}

// TestVerifyEventsOffByDefault: as a Verifier's Observer next to an
// adapter, the Logger writes nothing, so no refusal is logged twice.
func TestVerifyEventsOffByDefault(t *testing.T) {
	l, buf, _ := newTestLogger(t, Options{Details: true})
	l.ObserveVerify(jwtverify.VerifyEvent{Issuer: "corp", Reason: jwtverify.ReasonExpired})
	if buf.String() != "" {
		t.Fatalf("verify event logged without VerifyEvents: %s", buf)
	}
}

func TestVerifyEvents(t *testing.T) {
	l, buf, _ := newTestLogger(t, Options{VerifyEvents: true})
	l.ObserveVerify(jwtverify.VerifyEvent{Reason: jwtverify.ReasonMalformed})
	l.ObserveVerify(jwtverify.VerifyEvent{Issuer: "corp", Reason: jwtverify.ReasonMissingClaim, Rule: "token_use"})
	l.ObserveVerify(jwtverify.VerifyEvent{Issuer: "corp", ClientID: "c1"}) // success: not logged
	recs := records(t, buf)
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2: %s", len(recs), buf)
	}
	if r := recs[0]; r["transport"] != TransportVerify || r["issuer"] != jwtverify.NoIssuer || r["reason"] != "malformed" ||
		r["result"] != "unauthenticated" || r["route"] != nil {
		t.Fatalf("record %v", r)
	}
	if recs[1]["rule"] != "token_use" {
		t.Fatalf("record %v", recs[1])
	}
}

func TestDetailsAreOptIn(t *testing.T) {
	ev := jwtverify.VerifyEvent{Issuer: "corp", Reason: jwtverify.ReasonAudience,
		Err: &jwtverify.Error{Reason: jwtverify.ReasonAudience, Detail: `aud "attacker-chosen" is not accepted`}}
	l, buf, _ := newTestLogger(t, Options{VerifyEvents: true})
	l.ObserveVerify(ev)
	if strings.Contains(buf.String(), "attacker-chosen") || buf.String() == "" {
		t.Fatalf("detail logged without Options.Details: %s", buf)
	}
	l2, buf2, _ := newTestLogger(t, Options{VerifyEvents: true, Details: true})
	l2.ObserveVerify(ev)
	if !strings.Contains(buf2.String(), "attacker-chosen") {
		t.Fatalf("detail missing with Options.Details: %s", buf2)
	}
}

// TestConcurrentUse under -race: every event is either written or counted.
func TestConcurrentUse(t *testing.T) {
	l, buf, clk := newTestLogger(t, Options{MaxKeys: 8})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				l.ObserveDecision(forbidden(fmt.Sprint("GET /r", i%12)))
				if i%100 == 0 {
					clk.Add(10 * time.Second)
				}
			}
		}()
	}
	wg.Wait()
	_ = l.Close()
	var total int
	for _, r := range records(t, buf) {
		if n, ok := r["suppressed"].(float64); ok {
			total += int(n)
		} else {
			total++
		}
	}
	if total != 8*500 {
		t.Fatalf("records account for %d events, want %d", total, 8*500)
	}
}
