package otelauth_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/otelauth"
)

// exported builds an Observer with opts exporting through OTel's
// Prometheus exporter into a fresh registry.
func exported(t *testing.T, opts otelauth.Options) (*otelauth.Observer, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	opts.MeterProvider = mp
	o, err := otelauth.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return o, reg
}

// samples gathers reg: per family, its type and every sample as its
// sorted labels and value. Histograms are left out (their labels are
// compared by TestPrometheusNames).
func samples(t *testing.T, reg *prometheus.Registry) map[string]map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, mf := range mfs {
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			continue
		}
		fam := map[string]float64{}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, lp := range m.GetLabel() {
				ls = append(ls, lp.GetName()+"="+lp.GetValue())
			}
			sort.Strings(ls)
			v := m.GetGauge().GetValue()
			if mf.GetType() == dto.MetricType_COUNTER {
				v = m.GetCounter().GetValue()
			}
			fam[strings.Join(ls, ",")] = v
		}
		out[mf.GetName()+" "+mf.GetType().String()] = fam
	}
	return out
}

// TestPrometheusGauges: the key cache and verified-token cache state
// exports through OTel's Prometheus exporter under exactly package metrics'
// names, types, labels and values (WatchVerifier, WatchKeys, WatchKeySet).
func TestPrometheusGauges(t *testing.T) {
	s := newStack(t)
	tok := s.token(t, "orders.read")
	s.get(t, "Bearer "+tok)
	s.get(t, "Bearer "+tok)
	other, err := jwkscache.New(context.Background(), jwkscache.Config{Name: "other", JWKSURL: s.issuer.JWKSURL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	if err := other.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}

	o, reg := exported(t, otelauth.Options{})
	mreg := prometheus.NewRegistry()
	m, err := metrics.New(mreg, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []interface {
		WatchVerifier(string, *jwtverify.Verifier) error
		WatchKeys(*jwkscache.Cache) error
		WatchKeySet(func() []*jwkscache.Cache) error
	}{o, m} {
		if err := w.WatchVerifier("api", s.v); err != nil {
			t.Fatal(err)
		}
		if err := w.WatchVerifier("api", s.v); err == nil {
			t.Fatal("a second verifier of one name was accepted")
		}
		if err := w.WatchKeys(s.keys); err != nil {
			t.Fatal(err)
		}
		if err := w.WatchKeys(s.keys); err == nil {
			t.Fatal("a second key cache of one name was accepted")
		}
		// The set repeats "test": reported once.
		if err := w.WatchKeySet(func() []*jwkscache.Cache { return []*jwkscache.Cache{other, s.keys} }); err != nil {
			t.Fatal(err)
		}
	}
	got, want := samples(t, reg), samples(t, mreg)
	for _, fam := range []string{
		"m2mauth_verified_token_cache_entries GAUGE", "m2mauth_verified_token_cache_bytes GAUGE",
		"m2mauth_verified_token_cache_hits_total COUNTER", "m2mauth_verified_token_cache_misses_total COUNTER",
		"m2mauth_verified_token_cache_evictions_total COUNTER",
		"m2mauth_verified_token_cache_max_entries GAUGE", "m2mauth_verified_token_cache_max_bytes GAUGE",
		"m2mauth_jwks_keys GAUGE", "m2mauth_jwks_last_success_timestamp_seconds GAUGE",
		"m2mauth_jwks_keys_age_seconds GAUGE", "m2mauth_jwks_usable GAUGE", "m2mauth_jwks_consecutive_failures GAUGE",
	} {
		w, ok := want[fam]
		if !ok {
			t.Fatalf("package metrics has no %s: %v", fam, slices.Sorted(mapKeys(want)))
		}
		g, ok := got[fam]
		if !ok {
			t.Errorf("OTel export lacks %s; exported: %v", fam, slices.Sorted(mapKeys(got)))
			continue
		}
		if !slices.Equal(slices.Sorted(mapKeys(g)), slices.Sorted(mapKeys(w))) {
			t.Errorf("%s: OTel samples %v, package metrics %v", fam, g, w)
			continue
		}
		for ls, wv := range w {
			// The age moves between the two gatherings.
			if gv := g[ls]; gv != wv && !strings.HasPrefix(fam, "m2mauth_jwks_keys_age_seconds") {
				t.Errorf("%s{%s} = %v, package metrics %v", fam, ls, gv, wv)
			}
		}
	}
	if g := got["m2mauth_verified_token_cache_hits_total COUNTER"]["verifier=api"]; g < 1 {
		t.Errorf("cache hits %v after a repeated token", g)
	}
	if g := got["m2mauth_jwks_keys GAUGE"]; len(g) != 2 || g["source=test"] < 1 || g["source=other"] < 1 {
		t.Errorf("jwks keys %v", g)
	}
	for fam := range got {
		if _, ok := want[fam]; !ok {
			t.Errorf("OTel exports %s, which package metrics does not", fam)
		}
	}
}

// TestPrometheusOptInLabels: with RuleLabel and ClientIDLabel (capped by
// MaxClientIDs) on both sides, the same events export the same families,
// labels and values.
func TestPrometheusOptInLabels(t *testing.T) {
	o, reg := exported(t, otelauth.Options{RuleLabel: true, ClientIDLabel: true, MaxClientIDs: 2})
	mreg := prometheus.NewRegistry()
	m, err := metrics.New(mreg, metrics.Options{RuleLabel: true, ClientIDLabel: true, MaxClientIDs: 2})
	if err != nil {
		t.Fatal(err)
	}
	evs := []jwtverify.VerifyEvent{
		{Issuer: "test", ClientID: "a"}, {Issuer: "test", ClientID: "a", CacheHit: true},
		{Issuer: "test", ClientID: "b"}, {Issuer: "test", ClientID: "c"}, {Issuer: "other", ClientID: "d"},
		{Issuer: "test", Reason: jwtverify.ReasonExpired},
		{Issuer: "test", Reason: jwtverify.ReasonType, Rule: "tenant_mismatch"},
		{Issuer: "test", Reason: jwtverify.ReasonBinding, Rule: "Not A Code!"},
		{Reason: jwtverify.ReasonMalformed},
	}
	for i := range 3 {
		for _, ev := range evs {
			if i == 0 {
				o.ObserveVerify(ev)
			} else {
				o.ObserveVerifyContext(context.Background(), ev)
			}
			m.ObserveVerify(ev)
		}
	}
	got, want := samples(t, reg), samples(t, mreg)
	for _, fam := range []string{"m2mauth_token_validations_total COUNTER", "m2mauth_token_validations_by_client_total COUNTER"} {
		if fmt.Sprint(got[fam]) != fmt.Sprint(want[fam]) || len(want[fam]) == 0 {
			t.Errorf("%s:\nOTel             %v\npackage metrics  %v", fam, got[fam], want[fam])
		}
	}
	if v := got["m2mauth_token_validations_by_client_total COUNTER"]["client_id=other,issuer=test"]; v != 3 {
		t.Errorf("client IDs over the cap: %v, want 3", v)
	}
	if v := got["m2mauth_token_validations_total COUNTER"]["issuer=test,reason=binding,result=invalid,rule=custom"]; v != 3 {
		t.Errorf("a rule value that is not a code: %v, want 3 under custom", v)
	}
}

func mapKeys[M ~map[string]V, V any](m M) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
