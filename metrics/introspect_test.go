package metrics_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

// TestIntrospectionMetrics: the introspect.Observer collectors count calls
// by result and reason, their duration, cache hits and misses and budget
// refusals, with bounded labels and never a token.
func TestIntrospectionMetrics(t *testing.T) {
	srv := oauthtest.NewT(t, oauthtest.WithKeyAlgs("EdDSA"), oauthtest.WithClock(func() time.Time { return frozen }))
	srv.RegisterClient(oauthtest.Client{ID: "reader", Secret: "s", Scopes: []string{"orders.read"}, Audiences: []string{audience}})
	srv.SetOpaqueClient("reader", oauthtest.OpaqueRandom)
	srv.SetIntrospectionAuthOptional(true)
	reg := prometheus.NewPedanticRegistry()
	m, err := metrics.New(reg, metrics.Options{RuleLabel: true})
	if err != nil {
		t.Fatal(err)
	}
	src, err := introspect.New(introspect.Config{
		Name: "idp", Issuer: srv.Issuer(), Endpoint: srv.IntrospectionURL(), Auth: introspect.ClientAuth{Method: introspect.AuthNone},
		Audiences: []string{audience}, ClientIDs: []string{"reader"}, Observer: m,
		Rate: 0.001, Burst: 3, Now: func() time.Time { return frozen },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	v, err := jwtverify.New(jwtverify.Config{Observer: m, Now: func() time.Time { return frozen }, Cache: jwtverify.CacheConfig{Disabled: true},
		Issuers: []jwtverify.IssuerConfig{{Name: "idp", Issuer: srv.Issuer(), Mode: jwtverify.ModeIntrospect, Introspection: src,
			Audiences: []string{audience}, ClientIDs: []string{"reader"}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	good, _ := srv.MintOpaque("reader")
	for i := 0; i < 3; i++ { // one call, then two hits of the Source's cache
		if _, err := v.Verify(ctx, good); err != nil {
			t.Fatal(err)
		}
	}
	unknown := "never-issued-token-0123456789"
	for i := 0; i < 2; i++ { // one call refused (inactive), then a negative hit
		if _, err := v.Verify(ctx, unknown); jwtverify.ReasonOf(err) != jwtverify.ReasonInactive {
			t.Fatal(err)
		}
	}
	srv.SetFault(oauthtest.EndpointIntrospect, oauthtest.Fault{Status: http.StatusBadGateway})
	down, _ := srv.MintOpaque("reader")
	if _, err := v.Verify(ctx, down); jwtverify.ReasonOf(err) != jwtverify.ReasonIntrospectionUnavailable {
		t.Fatal(err)
	}
	// The three calls spent the burst: the next new token is refused by
	// the budget without a call.
	over, _ := srv.MintOpaque("reader")
	if _, err := v.Verify(ctx, over); jwtverify.ReasonOf(err) != jwtverify.ReasonIntrospectionUnavailable {
		t.Fatal(err)
	}

	const ns = "m2mauth_introspection_"
	want := `
# HELP m2mauth_introspection_budget_refusals_total Introspection calls refused by the per-issuer budget (503) by source and limit (concurrency, rate).
# TYPE m2mauth_introspection_budget_refusals_total counter
m2mauth_introspection_budget_refusals_total{limit="rate",source="idp"} 1
# HELP m2mauth_introspection_cache_lookups_total Lookups of the introspection cache by source and result (hit, negative_hit: a cached refusal, miss).
# TYPE m2mauth_introspection_cache_lookups_total counter
m2mauth_introspection_cache_lookups_total{result="hit",source="idp"} 2
m2mauth_introspection_cache_lookups_total{result="miss",source="idp"} 4
m2mauth_introspection_cache_lookups_total{result="negative_hit",source="idp"} 1
# HELP m2mauth_introspection_calls_total Calls to introspection endpoints by source, result (active, refused, unavailable) and reason (the introspect reason, none when active).
# TYPE m2mauth_introspection_calls_total counter
m2mauth_introspection_calls_total{reason="endpoint_down",result="unavailable",source="idp"} 1
m2mauth_introspection_calls_total{reason="inactive",result="refused",source="idp"} 1
m2mauth_introspection_calls_total{reason="none",result="active",source="idp"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), ns+"budget_refusals_total", ns+"cache_lookups_total", ns+"calls_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, ns+"call_duration_seconds"); n != 1 {
		t.Fatalf("%d duration series", n)
	}
	// The verifier's counters carry the bounded reasons and rules.
	for _, c := range []struct{ result, reason, rule string }{
		{"valid", "none", "none"},
		{"invalid", "inactive", "inactive"},
		{"invalid", "introspection_unavailable", "endpoint_down"},
		{"invalid", "introspection_unavailable", "over_budget"},
	} {
		if validations(t, reg, c.result, c.reason, c.rule) == 0 {
			t.Fatalf("no validation counted for %+v", c)
		}
	}
	out := gatherText(t, reg)
	for _, tok := range []string{good, unknown, down, over} {
		if strings.Contains(out, tok) {
			t.Fatal("a token appears in the metrics")
		}
	}
}

// validations reads m2mauth_token_validations_total{issuer="idp",...}.
func validations(t *testing.T, reg *prometheus.Registry, result, reason, rule string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "m2mauth_token_validations_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range mt.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["issuer"] == "idp" && l["result"] == result && l["reason"] == reason && l["rule"] == rule {
				return mt.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series result=%s reason=%s rule=%s", result, reason, rule)
	return 0
}

func gatherText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	out, err := testutil.GatherAndFormat(reg, expfmt.TypeTextPlain)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
