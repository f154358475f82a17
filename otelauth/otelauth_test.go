package otelauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/otelauth"
)

const (
	audience = "https://api.example.test"
	clientID = "billing-daemon"
)

// stack is a real issuer, a JWKS cache fetching from it through an
// otelhttp transport, a verifier, and an API behind otelhttp.NewHandler and
// the m2mauth middleware, all observed by one otelauth.Observer recording
// into an in-memory span recorder and a manual metric reader.
type stack struct {
	issuer *oauthtest.Server
	keys   *jwkscache.Cache
	api    *httptest.Server
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	v      *jwtverify.Verifier
	obs    *otelauth.Observer
	// serverEnded receives a value when a server span ends: otelhttp and
	// otelgrpc end theirs after the client may have read the answer.
	serverEnded chan struct{}
	fetchEnded  chan struct{}
	signal      serverEndSignal
}

// serverEndSignal is a span processor signalling each ended server span.
// and each ended JWKS fetch span.
type serverEndSignal struct{ ch, fetch chan struct{} }

func (p serverEndSignal) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (p serverEndSignal) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.SpanKind() == trace.SpanKindServer {
		p.ch <- struct{}{}
	}
	if s.Name() == otelauth.SpanJWKSFetch {
		p.fetch <- struct{}{}
	}
}
func (p serverEndSignal) Shutdown(context.Context) error   { return nil }
func (p serverEndSignal) ForceFlush(context.Context) error { return nil }

// waitServerSpan waits until the server span of the request just answered
// has ended (and so has been recorded).
func (s *stack) waitServerSpan(t *testing.T) {
	t.Helper()
	select {
	case <-s.serverEnded:
	case <-time.After(10 * time.Second):
		t.Fatal("the server span did not end")
	}
}

func newStack(t *testing.T, extraReaders ...sdkmetric.Reader) *stack {
	t.Helper()
	s := &stack{issuer: oauthtest.NewT(t), spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	s.serverEnded, s.fetchEnded = make(chan struct{}, 64), make(chan struct{}, 64)
	// The signal after the recorder: processors see a span's end in order,
	// so a signalled span is already recorded.
	s.signal = serverEndSignal{s.serverEnded, s.fetchEnded}
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans), sdktrace.WithSpanProcessor(s.signal))
	mopts := []sdkmetric.Option{sdkmetric.WithReader(s.reader)}
	for _, r := range extraReaders {
		mopts = append(mopts, sdkmetric.WithReader(r))
	}
	mp := sdkmetric.NewMeterProvider(mopts...)
	t.Cleanup(func() { _ = s.tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })
	obs, err := otelauth.New(otelauth.Options{TracerProvider: s.tp, MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	s.keys, err = jwkscache.New(context.Background(), jwkscache.Config{
		Name:       "test",
		JWKSURL:    s.issuer.JWKSURL(),
		HTTPClient: &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport, otelhttp.WithTracerProvider(s.tp))},
		Observer:   obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.keys.Close() })
	if err := s.keys.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Ready returns once the keys are published, possibly before the
	// start-up fetch's span ends.
	select {
	case <-s.fetchEnded:
	case <-time.After(10 * time.Second):
		t.Fatal("the start-up fetch span did not end")
	}
	v, err := jwtverify.New(jwtverify.Config{Observer: obs, Issuers: []jwtverify.IssuerConfig{{
		Name: "test", Issuer: s.issuer.Issuer(), Keys: s.keys,
		Audiences: []string{audience}, ClientIDs: []string{clientID}, Algorithms: []string{"RS256"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	s.v, s.obs = v, obs
	mw, err := middleware.New(v, middleware.WithObserver(obs))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /orders", mw.Require(jwtverify.RequireAll("orders.read"))(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})))
	s.api = httptest.NewServer(otelhttp.NewHandler(mw.Handler(mux), "api", otelhttp.WithTracerProvider(s.tp)))
	t.Cleanup(s.api.Close)
	return s
}

func (s *stack) token(t *testing.T, scope string) string {
	return s.issuer.MintT(t, oauthtest.WithClaims(map[string]any{"aud": audience, "client_id": clientID, "sub": clientID, "scope": scope}))
}

func (s *stack) get(t *testing.T, auth string) int {
	t.Helper()
	req, err := http.NewRequest("GET", s.api.URL+"/orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.waitServerSpan(t)
	return resp.StatusCode
}

func attrs(sp sdktrace.ReadOnlySpan) map[attribute.Key]string {
	m := map[attribute.Key]string{}
	for _, kv := range sp.Attributes() {
		m[kv.Key] = kv.Value.String()
	}
	return m
}

func byName(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, sp := range spans {
		if sp.Name() == name {
			out = append(out, sp)
		}
	}
	return out
}

// requestTree returns the server span of the one request recorded and its
// verify span, checking that the verify span is its child.
func requestTree(t *testing.T, spans []sdktrace.ReadOnlySpan) (server, verify sdktrace.ReadOnlySpan) {
	t.Helper()
	var servers []sdktrace.ReadOnlySpan
	for _, sp := range spans {
		if sp.SpanKind() == trace.SpanKindServer {
			servers = append(servers, sp)
		}
	}
	verifies := byName(spans, otelauth.SpanVerify)
	if len(servers) != 1 || len(verifies) != 1 {
		t.Fatalf("want one server span and one verify span, got %d and %d of %d spans", len(servers), len(verifies), len(spans))
	}
	server, verify = servers[0], verifies[0]
	if verify.Parent().SpanID() != server.SpanContext().SpanID() || verify.SpanContext().TraceID() != server.SpanContext().TraceID() {
		t.Fatalf("verify span is not a child of the request span: parent %v, request %v", verify.Parent(), server.SpanContext())
	}
	if verify.StartTime().Before(server.StartTime()) || verify.EndTime().After(server.EndTime()) {
		t.Fatal("verify span lies outside the request span")
	}
	return server, verify
}

// TestAllowedRequestSpanTree: an allowed request through otelhttp and the
// middleware makes a verify span, child of the request span, with issuer,
// result and cache attributes, and the decision on the request span; the
// token and the client ID appear nowhere.
func TestAllowedRequestSpanTree(t *testing.T) {
	s := newStack(t)
	tok := s.token(t, "orders.read")
	s.spans = resetRecorder(t, s)
	if code := s.get(t, "Bearer "+tok); code != http.StatusNoContent {
		t.Fatalf("status %d", code)
	}
	server, verify := requestTree(t, s.spans.Ended())
	va := attrs(verify)
	want := map[attribute.Key]string{otelauth.AttrIssuer: "test", otelauth.AttrResult: "valid", otelauth.AttrReason: "none", otelauth.AttrRule: "none", otelauth.AttrCacheHit: "false"}
	for k, v := range want {
		if va[k] != v {
			t.Errorf("verify span %s = %q, want %q", k, va[k], v)
		}
	}
	sa := attrs(server)
	if sa[otelauth.AttrDecision] != jwtverify.DecisionAllowed || sa[otelauth.AttrTransport] != "http" || sa[otelauth.AttrRoute] == "" {
		t.Errorf("request span decision attributes %v", sa)
	}
	noSecrets(t, s.spans.Ended(), tok, clientID)

	// The same token again: a cache hit, in a new request span.
	s.spans = resetRecorder(t, s)
	s.get(t, "Bearer "+tok)
	_, verify = requestTree(t, s.spans.Ended())
	if attrs(verify)[otelauth.AttrCacheHit] != "true" {
		t.Errorf("second verify not a cache hit: %v", attrs(verify))
	}
}

// TestRefusedRequestSpanTree: a refused request's verify span is a child of
// the request span, marked as an error with the bounded reason, and the
// request span says unauthenticated.
func TestRefusedRequestSpanTree(t *testing.T) {
	s := newStack(t)
	bad := s.token(t, "orders.read")
	bad = bad[:len(bad)-4] + "AAAA" // a broken signature
	s.spans = resetRecorder(t, s)
	if code := s.get(t, "Bearer "+bad); code != http.StatusUnauthorized {
		t.Fatalf("status %d", code)
	}
	server, verify := requestTree(t, s.spans.Ended())
	va := attrs(verify)
	if va[otelauth.AttrResult] != "invalid" || va[otelauth.AttrReason] != string(jwtverify.ReasonBadSignature) || va[otelauth.AttrIssuer] != "test" {
		t.Errorf("verify span attributes %v", va)
	}
	if verify.Status().Description != string(jwtverify.ReasonBadSignature) {
		t.Errorf("verify span status %+v", verify.Status())
	}
	sa := attrs(server)
	if sa[otelauth.AttrDecision] != jwtverify.DecisionUnauthenticated || sa[otelauth.AttrDecReason] != string(jwtverify.ReasonBadSignature) {
		t.Errorf("request span decision attributes %v", sa)
	}
	noSecrets(t, s.spans.Ended(), bad, clientID)
}

// TestJWKSRefreshSpanTree: a forced refresh is a fetch span whose child is
// the otelhttp client span of the GET to the JWKS URL.
func TestJWKSRefreshSpanTree(t *testing.T) {
	s := newStack(t)
	start := s.spans.Ended()
	if len(byName(start, otelauth.SpanJWKSFetch)) != 1 {
		t.Fatalf("start-up fetch spans: %d", len(byName(start, otelauth.SpanJWKSFetch)))
	}
	s.spans = resetRecorder(t, s)
	if err := s.keys.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := s.spans.Ended()
	fetches := byName(spans, otelauth.SpanJWKSFetch)
	if len(fetches) != 1 {
		t.Fatalf("fetch spans: %d of %d", len(fetches), len(spans))
	}
	f := fetches[0]
	fa := attrs(f)
	if fa[otelauth.AttrSource] != "test" || fa[otelauth.AttrCause] != string(jwkscache.CauseForced) || fa[otelauth.AttrClass] != string(jwkscache.ClassOK) || fa[otelauth.AttrKeys] != "1" {
		t.Errorf("fetch span attributes %v", fa)
	}
	var clients []sdktrace.ReadOnlySpan
	for _, sp := range spans {
		if sp.SpanKind() == trace.SpanKindClient {
			clients = append(clients, sp)
		}
	}
	if len(clients) != 1 || clients[0].Parent().SpanID() != f.SpanContext().SpanID() {
		t.Fatalf("want one HTTP client span under the fetch span, got %d", len(clients))
	}
	if !strings.HasSuffix(attrs(clients[0])["url.full"], "/jwks") {
		t.Errorf("client span attributes %v", attrs(clients[0]))
	}
}

// resetRecorder swaps in a fresh recorder (the stack's tracer provider
// keeps its processors, so a new recorder is registered on it).
func resetRecorder(t *testing.T, s *stack) *tracetest.SpanRecorder {
	t.Helper()
	s.tp.UnregisterSpanProcessor(s.spans)
	s.tp.UnregisterSpanProcessor(s.signal)
	r := tracetest.NewSpanRecorder()
	s.tp.RegisterSpanProcessor(r)
	s.tp.RegisterSpanProcessor(s.signal)
	return r
}

// noSecrets fails when a span's attribute, status or event carries the
// token or the client ID.
func noSecrets(t *testing.T, spans []sdktrace.ReadOnlySpan, secrets ...string) {
	t.Helper()
	for _, sp := range spans {
		texts := []string{sp.Name(), sp.Status().Description}
		for _, kv := range sp.Attributes() {
			texts = append(texts, kv.Value.String())
		}
		for _, ev := range sp.Events() {
			texts = append(texts, ev.Name)
			for _, kv := range ev.Attributes {
				texts = append(texts, kv.Value.String())
			}
		}
		for _, txt := range texts {
			for _, sec := range secrets {
				if strings.Contains(txt, sec) || (len(sec) > 40 && strings.Contains(txt, sec[:40])) {
					t.Errorf("span %q carries a secret in %q", sp.Name(), txt)
				}
			}
		}
	}
}

// TestPrometheusNames: exported through OTel's Prometheus exporter into a
// real registry, the instruments carry exactly the names (and label names)
// package metrics registers for validations, decisions and JWKS fetches.
func TestPrometheusNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t, exp)
	tok := s.token(t, "orders.read")
	s.get(t, "Bearer "+tok)
	s.get(t, "Bearer "+tok)
	s.get(t, "")
	got := families(t, reg)

	// The same traffic through package metrics.
	want := map[string][]string{}
	mreg := prometheus.NewRegistry()
	m, err := metrics.New(mreg, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.ObserveVerify(jwtverify.VerifyEvent{Issuer: "test"})
	m.ObserveVerify(jwtverify.VerifyEvent{Issuer: "test", CacheHit: true})
	m.ObserveDecision(jwtverify.DecisionEvent{Transport: "http", Result: jwtverify.DecisionAllowed})
	m.FetchDone(jwkscache.FetchEvent{Source: "test", Cause: jwkscache.CauseScheduled, Class: jwkscache.ClassOK})
	for name, labels := range families(t, mreg) {
		want[name] = labels
	}
	for _, name := range []string{
		"m2mauth_token_validations_total", "m2mauth_token_validation_duration_seconds",
		"m2mauth_authorization_decisions_total", "m2mauth_jwks_fetches_total", "m2mauth_jwks_fetch_duration_seconds",
	} {
		wl, ok := want[name]
		if !ok {
			t.Fatalf("package metrics has no %s: %v", name, keys(want))
		}
		gl, ok := got[name]
		if !ok {
			t.Errorf("OTel export lacks %s; exported: %v", name, keys(got))
			continue
		}
		if !slices.Equal(gl, wl) {
			t.Errorf("%s labels: OTel %v, package metrics %v", name, gl, wl)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("OTel exports %s, which package metrics does not", name)
		}
	}
}

// families gathers reg and returns each family's name and sorted label
// names (of its first metric; "le" is not a label of a histogram family).
func families(t *testing.T, reg *prometheus.Registry) map[string][]string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, mf := range mfs {
		var labels []string
		if len(mf.GetMetric()) > 0 {
			for _, lp := range mf.GetMetric()[0].GetLabel() {
				labels = append(labels, lp.GetName())
			}
		}
		sort.Strings(labels)
		out[mf.GetName()] = labels
	}
	return out
}

func keys(m map[string][]string) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// TestManualReaderValues: the manual reader sees the validation counter
// with the same attributes package metrics uses as labels.
func TestManualReaderValues(t *testing.T) {
	s := newStack(t)
	tok := s.token(t, "orders.read")
	s.get(t, "Bearer "+tok)
	s.get(t, "Bearer abc")
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			if md.Name != "m2mauth_token_validations" {
				continue
			}
			for _, dp := range md.Data.(metricdata.Sum[int64]).DataPoints {
				r, _ := dp.Attributes.Value("result")
				reason, _ := dp.Attributes.Value("reason")
				counts[r.AsString()+"/"+reason.AsString()] += dp.Value
			}
		}
	}
	if counts["valid/none"] != 1 || counts["invalid/malformed"] != 1 {
		t.Fatalf("validation counts %v", counts)
	}
}
