package authlog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// keysClock is the logger's manual clock (its rate-limit windows).
type keysClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *keysClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *keysClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a log sink safe for the cache's fetch goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// wait returns the records written since the last take, waiting (up to
// 10 s) for at least one: Stats can show a fetch before its observer ran.
func (b *syncBuffer) wait(t *testing.T) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		n := b.buf.Len()
		b.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			return b.take(t)
		}
		time.Sleep(time.Millisecond)
	}
}

// take returns the records written since the last call.
func (b *syncBuffer) take(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	s := b.buf.String()
	b.buf.Reset()
	b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		if strings.Contains(line, "appid") || strings.Contains(line, "?") || strings.Contains(line, "attacker-chosen-kid") {
			t.Errorf("record carries a query or a kid: %s", line)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// keysEnv is a real cache fetching an oauthtest JWKS (behind a query, as
// Entra's ?appid= URLs are) with a Logger and Prometheus metrics wired the
// documented way. Background retries are an hour away: every fetch of the
// test is a Refresh.
type keysEnv struct {
	is    *oauthtest.Server
	cache *jwkscache.Cache
	out   *syncBuffer
	clk   *keysClock
	reg   *prometheus.Registry
	lg    *authlog.Logger
	// seen counts fetch events after the Logger handled them (the last
	// observer): Ready can return before the start-up fetch's observers
	// ran, and a late start-up success would reset the Logger's state
	// under a test's later failures.
	seen atomic.Int64
}

func newKeysEnv(t *testing.T, fault *oauthtest.Fault) *keysEnv {
	t.Helper()
	e := &keysEnv{is: oauthtest.NewT(t), out: &syncBuffer{}, clk: &keysClock{now: time.Unix(1_800_000_000, 0)},
		reg: prometheus.NewRegistry()}
	if fault != nil {
		e.is.SetFault(oauthtest.EndpointJWKS, *fault)
	}
	lg := authlog.New(slog.New(slog.NewJSONHandler(e.out, nil)), authlog.Options{Interval: time.Minute, Now: e.clk.Now})
	m, err := metrics.New(e.reg, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := jwkscache.New(context.Background(), jwkscache.Config{
		Name: "corp", JWKSURL: e.is.JWKSURL() + "?appid=0b1c2d3e-secretish",
		BackoffInitial: time.Hour, BackoffMax: time.Hour,
		Observer: jwkscache.MultiObserver(m, lg, jwkscache.ObserverFuncs{OnFetch: func(jwkscache.FetchEvent) { e.seen.Add(1) }}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e.cache = c
	e.lg = lg
	return e
}

// ready waits for the first key set and for the Logger to have seen the
// start-up fetch.
func (e *keysEnv) ready(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.cache.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	for e.seen.Load() == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the start-up fetch was never observed")
		case <-time.After(time.Millisecond):
		}
	}
}

func (e *keysEnv) refresh(t *testing.T, wantOK bool) {
	t.Helper()
	err := e.cache.Refresh(context.Background())
	if (err == nil) != wantOK {
		t.Fatalf("Refresh = %v, want ok %v", err, wantOK)
	}
}

func (e *keysEnv) waitFirstFetch(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for e.cache.Stats().LastAttempt.IsZero() {
		select {
		case <-ctx.Done():
			t.Fatal("no first fetch")
		case <-tick.C:
		}
	}
}

func one(t *testing.T, recs []map[string]any, msg string) map[string]any {
	t.Helper()
	if len(recs) != 1 || recs[0]["msg"] != msg {
		t.Fatalf("records = %v, want one %q", recs, msg)
	}
	return recs[0]
}

func num(r map[string]any, k string) float64 { f, _ := r[k].(float64); return f }

// Issue 15: an outage of the key source is logged (not only as
// keys_unavailable refusals): the change to failing with its class, the
// repeated failures once per Interval with the suppressed count, a change
// of class at once, the recovery with how long it failed and the age of
// the keys served meanwhile. No URL query, no token text.
func TestKeySourceOutageLogged(t *testing.T) {
	e := newKeysEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.cache.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	e.ready(t)
	e.refresh(t, true)
	if recs := e.out.take(t); len(recs) != 0 {
		t.Fatalf("steady state logged: %v", recs)
	}

	e.is.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: http.StatusServiceUnavailable})
	e.refresh(t, false)
	r := one(t, e.out.take(t), "m2mauth: key source failing")
	if r["level"] != "WARN" || r["source"] != "corp" || r["class"] != "http_status" || num(r, "status") != 503 ||
		r["url"] != e.is.JWKSURL() || num(r, "failures") != 1 || r["keys_usable"] != true || num(r, "keys_age") <= 0 {
		t.Fatalf("failing record = %v", r)
	}
	if _, ok := r["failing_for"]; ok {
		t.Fatalf("first failure carries failing_for: %v", r)
	}

	e.refresh(t, false)
	e.refresh(t, false)
	if recs := e.out.take(t); len(recs) != 0 {
		t.Fatalf("repeated failures within the interval logged: %v", recs)
	}
	e.clk.Add(time.Minute)
	e.refresh(t, false)
	r = one(t, e.out.take(t), "m2mauth: key source still failing")
	if num(r, "suppressed") != 2 || num(r, "failures") != 4 || num(r, "failing_for") <= 0 || r["class"] != "http_status" {
		t.Fatalf("still failing record = %v", r)
	}

	e.is.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Body: []byte(`<html>maintenance</html>`)})
	e.refresh(t, false)
	r = one(t, e.out.take(t), "m2mauth: key source failing")
	if r["class"] != "malformed" || num(r, "failures") != 5 {
		t.Fatalf("class change record = %v", r)
	}
	e.refresh(t, false) // suppressed, reported with the recovery

	e.is.ClearFault(oauthtest.EndpointJWKS)
	e.refresh(t, true)
	r = one(t, e.out.take(t), "m2mauth: key source recovered")
	if r["level"] != "INFO" || num(r, "failures") != 6 || num(r, "failing_for") <= 0 || num(r, "keys_age") <= 0 ||
		num(r, "keys") != 1 || num(r, "suppressed") != 1 {
		t.Fatalf("recovery record = %v", r)
	}
	if num(r, "keys_age") < num(r, "failing_for") {
		t.Fatalf("keys served meanwhile are younger than the outage: %v", r)
	}
	e.refresh(t, true)
	if recs := e.out.take(t); len(recs) != 0 {
		t.Fatalf("steady state logged: %v", recs)
	}
	// The metrics saw every fetch too (MultiObserver).
	if n := testutil.CollectAndCount(e.reg, "m2mauth_jwks_fetches_total"); n < 3 {
		t.Fatalf("fetch series = %d", n)
	}
}

// A source that fails from start-up has no keys to serve: the records say
// so, and the recovery carries no keys_age.
func TestKeySourceStartupFailureLogged(t *testing.T) {
	e := newKeysEnv(t, &oauthtest.Fault{Status: http.StatusInternalServerError})
	e.waitFirstFetch(t)
	r := one(t, e.out.wait(t), "m2mauth: key source failing")
	if r["keys_usable"] != false || r["class"] != "http_status" {
		t.Fatalf("failing record = %v", r)
	}
	if _, ok := r["keys_age"]; ok {
		t.Fatalf("keys_age without keys: %v", r)
	}
	e.is.ClearFault(oauthtest.EndpointJWKS)
	e.refresh(t, true)
	r = one(t, e.out.take(t), "m2mauth: key source recovered")
	if _, ok := r["keys_age"]; ok || num(r, "failures") != 1 {
		t.Fatalf("recovery record = %v", r)
	}
}

// Unknown kids are logged once per interval per outcome, never the kid.
func TestUnknownKIDLoggedRateLimited(t *testing.T) {
	e := newKeysEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.cache.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	e.ready(t)
	const kid = "attacker-chosen-kid"
	for range 5 {
		if _, err := e.cache.Lookup(ctx, kid); !errors.Is(err, jwkscache.ErrUnknownKey) {
			t.Fatalf("Lookup = %v", err)
		}
	}
	recs := e.out.take(t)
	if len(recs) == 0 || len(recs) > 2 { // fetched (first miss) and rate_limited
		t.Fatalf("records = %v", recs)
	}
	for _, r := range recs {
		if r["msg"] != "m2mauth: unknown key id" || r["source"] != "corp" {
			t.Fatalf("record = %v", r)
		}
	}
	e.clk.Add(time.Minute)
	if _, err := e.cache.Lookup(ctx, kid); err == nil {
		t.Fatal("found")
	}
	r := one(t, e.out.take(t), "m2mauth: unknown key id")
	if r["outcome"] != "rate_limited" || num(r, "suppressed") < 3 {
		t.Fatalf("record = %v", r)
	}
}

// Close writes the key source counts still pending: repeated unknown kids
// within their window and failures of a source still failing.
func TestCloseWritesKeySourceCounts(t *testing.T) {
	e := newKeysEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.cache.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	e.ready(t)
	for range 4 {
		if _, err := e.cache.Lookup(ctx, "attacker-chosen-kid"); err == nil {
			t.Fatal("found")
		}
	}
	e.is.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: 500})
	for range 3 {
		e.refresh(t, false)
	}
	e.out.take(t)
	if err := e.lg.Close(); err != nil {
		t.Fatal(err)
	}
	var failing, kids float64
	for _, r := range e.out.take(t) {
		switch r["msg"] {
		case "m2mauth: key source still failing":
			failing += num(r, "suppressed")
		case "m2mauth: unknown key id":
			kids += num(r, "suppressed")
		default:
			t.Errorf("unexpected record at Close: %v", r)
		}
	}
	if failing != 2 || kids < 2 {
		t.Fatalf("Close wrote %v suppressed failures (want 2) and %v suppressed unknown kids (want >= 2)", failing, kids)
	}
}
