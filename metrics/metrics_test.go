package metrics_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const audience = "https://api.example.test"

var frozen = time.Now()

type stack struct {
	srv   *oauthtest.Server
	reg   *prometheus.Registry
	m     *metrics.Metrics
	cache *jwkscache.Cache
	v     *jwtverify.Verifier
}

func newStack(t *testing.T, opts metrics.Options) *stack {
	t.Helper()
	// EdDSA keeps minting cheap: the flood test mints 10,000 tokens.
	srv := oauthtest.NewT(t, oauthtest.WithKeyAlgs("EdDSA"))
	srv.RegisterClient(oauthtest.Client{ID: "reader", Secret: "s", Scopes: []string{"orders.read"}, Audiences: []string{audience}})
	reg := prometheus.NewPedanticRegistry()
	m, err := metrics.New(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cache, err := jwkscache.New(ctx, jwkscache.Config{Name: "test-idp", Issuer: srv.Issuer(), Observer: m,
		// A frozen clock: the unknown-kid cooldown never expires during
		// the test, so the fetch count is deterministic.
		Now: func() time.Time { return frozen }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	if err := cache.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchKeys(cache); err != nil {
		t.Fatal(err)
	}
	v, err := jwtverify.New(jwtverify.Config{
		Issuers: []jwtverify.IssuerConfig{{
			Name: "corp", Issuer: srv.Issuer(), Keys: cache, Audiences: []string{audience},
			ClientIDs: []string{"reader"}, Algorithms: []string{"EdDSA"},
		}},
		Observer: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WatchVerifier("", v); err != nil {
		t.Fatal(err)
	}
	return &stack{srv: srv, reg: reg, m: m, cache: cache, v: v}
}

func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return metricValue(m)
		}
	}
	return 0
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

func TestExactCountsAfterKnownSequence(t *testing.T) {
	s := newStack(t, metrics.Options{})
	ctx := context.Background()
	good := s.srv.MintT(t, oauthtest.WithClient("reader"))
	for i := 0; i < 3; i++ {
		if _, err := s.v.Verify(ctx, good); err != nil {
			t.Fatal(err)
		}
	}
	expired := s.srv.MintT(t, oauthtest.WithClient("reader"), oauthtest.WithClaims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))
	if _, err := s.v.Verify(ctx, expired); err == nil {
		t.Fatal("expired token accepted")
	}
	if _, err := s.v.Verify(ctx, "not-a-token"); err == nil {
		t.Fatal("garbage accepted")
	}
	s.m.ObserveDecision(jwtverify.DecisionEvent{Transport: "http", Result: jwtverify.DecisionAllowed})
	s.m.ObserveDecision(jwtverify.DecisionEvent{Transport: "grpc", Result: jwtverify.DecisionForbidden})

	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"m2mauth_token_validations_total", map[string]string{"issuer": "corp", "result": "valid", "reason": "none"}, 3},
		{"m2mauth_token_validations_total", map[string]string{"issuer": "corp", "result": "invalid", "reason": "expired"}, 1},
		{"m2mauth_token_validations_total", map[string]string{"issuer": "none", "result": "invalid", "reason": "malformed"}, 1},
		{"m2mauth_token_validation_duration_seconds", map[string]string{"cache": "hit"}, 2},
		{"m2mauth_token_validation_duration_seconds", map[string]string{"cache": "miss"}, 3},
		{"m2mauth_authorization_decisions_total", map[string]string{"transport": "http", "result": "allowed"}, 1},
		{"m2mauth_authorization_decisions_total", map[string]string{"transport": "grpc", "result": "forbidden"}, 1},
		{"m2mauth_jwks_fetches_total", map[string]string{"source": "test-idp", "cause": "scheduled", "result": "ok"}, 1},
		{"m2mauth_jwks_keys", map[string]string{"source": "test-idp"}, 1},
		{"m2mauth_jwks_usable", map[string]string{"source": "test-idp"}, 1},
		{"m2mauth_verified_token_cache_entries", nil, 1},
		{"m2mauth_verified_token_cache_hits_total", nil, 2},
	}
	for _, c := range checks {
		if got := value(t, s.reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if last := value(t, s.reg, "m2mauth_jwks_last_success_timestamp_seconds", map[string]string{"source": "test-idp"}); last < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last success timestamp %v is not recent", last)
	}
}

func TestLint(t *testing.T) {
	s := newStack(t, metrics.Options{ClientIDLabel: true})
	tok := s.srv.MintT(t, oauthtest.WithClient("reader"))
	if _, err := s.v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(s.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func seriesCount(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		n += len(mf.GetMetric())
	}
	return n
}

// A flood of distinct bogus kids must not grow any label's cardinality: the
// kid is attacker-controlled and never becomes a label value.
func TestUnknownKIDFloodKeepsCardinality(t *testing.T) {
	s := newStack(t, metrics.Options{ClientIDLabel: true})
	ctx := context.Background()
	bogus := func(i int) string {
		return s.srv.MintT(t, oauthtest.WithClient("reader"), oauthtest.WithHeader(map[string]any{"kid": fmt.Sprintf("bogus-%d", i)}))
	}
	// Warm every series the flood can touch.
	for i := 0; i < 3; i++ {
		_, _ = s.v.Verify(ctx, bogus(i))
	}
	before := seriesCount(t, s.reg)
	for i := 3; i < 10000; i++ {
		if _, err := s.v.Verify(ctx, bogus(i)); err == nil {
			t.Fatal("token with a bogus kid accepted")
		}
	}
	after := seriesCount(t, s.reg)
	if after != before {
		t.Fatalf("series grew from %d to %d during the kid flood", before, after)
	}
	out, err := testutil.GatherAndFormat(s.reg, expfmt.TypeTextPlain)
	if err == nil && strings.Contains(string(out), "bogus-") {
		t.Fatal("a kid from a token appeared in the exported metrics")
	}
	if got := value(t, s.reg, "m2mauth_token_validations_total", map[string]string{"reason": "unknown_key"}); got != 10000 {
		t.Fatalf("unknown_key validations = %v, want 10000", got)
	}
	if got := value(t, s.reg, "m2mauth_jwks_unknown_kid_total", map[string]string{"outcome": "rate_limited"}); got < 9990 {
		t.Fatalf("rate_limited unknown-kid lookups = %v, want nearly all of 10000", got)
	}
}

func TestClientIDLabelIsCapped(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{ClientIDLabel: true, MaxClientIDs: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		m.ObserveVerify(jwtverify.VerifyEvent{Issuer: "corp", ClientID: fmt.Sprint("client-", i)})
	}
	if n := familySize(t, reg, "m2mauth_token_validations_by_client_total"); n != 4 {
		t.Fatalf("client series = %d, want 3 clients + other", n)
	}
	if got := value(t, reg, "m2mauth_token_validations_by_client_total", map[string]string{"client_id": "other"}); got != 47 {
		t.Fatalf("other = %v, want 47", got)
	}
}

func familySize(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

func TestRegistererRequired(t *testing.T) {
	if _, err := metrics.New(nil, metrics.Options{}); err == nil {
		t.Fatal("nil registerer accepted")
	}
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(reg, metrics.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New(reg, metrics.Options{}); err == nil {
		t.Fatal("double registration on one registry not reported")
	}
}

// WatchKeySet follows a set of caches that changes: the gauges read the
// caches in use at each scrape, so a cache replaced under the same name (a
// reload) leaves no stale series behind.
func TestWatchKeySetFollowsReplacement(t *testing.T) {
	srv := oauthtest.NewT(t)
	reg := prometheus.NewPedanticRegistry()
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	start := func(url string) *jwkscache.Cache {
		c, err := jwkscache.New(ctx, jwkscache.Config{Name: "idp", JWKSURL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	var mu sync.Mutex
	current := []*jwkscache.Cache{start(srv.JWKSURL())}
	if err := m.WatchKeySet(func() []*jwkscache.Cache { mu.Lock(); defer mu.Unlock(); return current }); err != nil {
		t.Fatal(err)
	}
	if err := current[0].Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if got := value(t, reg, "m2mauth_jwks_usable", map[string]string{"source": "idp"}); got != 1 {
		t.Fatalf("usable = %v", got)
	}
	// A reload replaces the cache by one whose issuer is down: the gauge
	// must follow the new cache, not keep reading the old one.
	srv.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: 500})
	next := start(srv.JWKSURL() + "?v=2")
	mu.Lock()
	old := current[0]
	current = []*jwkscache.Cache{next}
	mu.Unlock()
	_ = old.Close()
	if got := value(t, reg, "m2mauth_jwks_usable", map[string]string{"source": "idp"}); got != 0 {
		t.Fatalf("usable after the replacement = %v, want the new cache's 0", got)
	}
	if err := m.WatchKeySet(nil); err == nil {
		t.Fatal("nil key set accepted")
	}
}
