package otelauth_test

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/otelauth"
)

const (
	opaqueCaller = "opaque-caller"
	rsID         = "introspecting-api"
	rsSecret     = "introspecting-api-secret"
)

// introspectStack is oauthtest's introspection endpoint and an
// introspect.Source calling it through an otelhttp transport, observed by
// an otelauth.Observer recording into an in-memory span recorder.
func introspectStack(t *testing.T) (*oauthtest.Server, *introspect.Source, *tracetest.SpanRecorder) {
	t.Helper()
	srv := oauthtest.NewT(t)
	srv.SetOpaqueClient(opaqueCaller, oauthtest.OpaqueRandom)
	srv.RegisterIntrospectionClient(oauthtest.IntrospectionClient{ID: rsID, Secret: rsSecret})
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	obs, err := otelauth.New(otelauth.Options{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	src, err := introspect.New(introspect.Config{
		Name:       "opaque",
		Issuer:     srv.Issuer(),
		Endpoint:   srv.IntrospectionURL(),
		Auth:       introspect.ClientAuth{Method: introspect.AuthClientSecretBasic, ClientID: rsID, ClientSecret: rsSecret},
		Audiences:  []string{oauthtest.DefaultAudience},
		ClientIDs:  []string{opaqueCaller},
		HTTPClient: &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport, otelhttp.WithTracerProvider(tp))},
		Observer:   obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	return srv, src, rec
}

// TestIntrospectSpanTree: one introspection call is an m2mauth.introspect
// span (source, result, reason, cache miss) with the otelhttp client span
// of its POST as its child; a repeated token is answered from the cache
// and makes no span at all; no attribute carries the token or the
// response's claims.
func TestIntrospectSpanTree(t *testing.T) {
	srv, src, rec := introspectStack(t)
	tok, err := srv.MintOpaque(opaqueCaller)
	if err != nil {
		t.Fatal(err)
	}
	res, err := src.Introspect(context.Background(), tok)
	if err != nil {
		t.Fatalf("introspect: %v", err)
	}
	// The introspect span ends before Introspect returns, the client span
	// when the answer's body is closed, before that.
	spans := rec.Ended()
	calls := byName(spans, otelauth.SpanIntrospect)
	if len(calls) != 1 {
		t.Fatalf("%d introspect spans, want 1 (of %d spans)", len(calls), len(spans))
	}
	call := calls[0]
	if call.Parent().IsValid() {
		t.Errorf("the introspect span has a parent: a call serves every waiting request")
	}
	a := attrs(call)
	for k, want := range map[attribute.Key]string{
		otelauth.AttrIntrospectSource: "opaque", otelauth.AttrIntrospectResult: "active",
		otelauth.AttrIntrospectReason: "none", otelauth.AttrCacheHit: "false",
	} {
		if got := a[k]; got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	var clients []sdktrace.ReadOnlySpan
	for _, sp := range spans {
		if sp.SpanKind() == trace.SpanKindClient {
			clients = append(clients, sp)
		}
	}
	if len(clients) != 1 {
		t.Fatalf("%d client spans, want 1", len(clients))
	}
	if clients[0].Parent().SpanID() != call.SpanContext().SpanID() || clients[0].SpanContext().TraceID() != call.SpanContext().TraceID() {
		t.Errorf("the POST's client span is not a child of the introspect span")
	}
	noSecrets(t, spans, tok, opaqueCaller, rsSecret, res.Subject())

	// A repeated token: a cache hit, no call, no span.
	before := len(rec.Ended())
	if _, err := src.Introspect(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != before {
		t.Errorf("a cache hit made %d spans", n-before)
	}
	if n := len(rec.Started()); n != before {
		t.Errorf("a cache hit started %d spans", n-before)
	}
}

// TestIntrospectRefusedSpan: a revoked token's call is refused; its span
// says so with the bounded reason and carries no token text.
func TestIntrospectRefusedSpan(t *testing.T) {
	srv, src, rec := introspectStack(t)
	tok, err := srv.MintOpaque(opaqueCaller)
	if err != nil {
		t.Fatal(err)
	}
	srv.Revoke(tok)
	if _, err := src.Introspect(context.Background(), tok); err == nil {
		t.Fatal("a revoked token was accepted")
	}
	calls := byName(rec.Ended(), otelauth.SpanIntrospect)
	if len(calls) != 1 {
		t.Fatalf("%d introspect spans, want 1", len(calls))
	}
	a := attrs(calls[0])
	if a[otelauth.AttrIntrospectResult] != "refused" || a[otelauth.AttrIntrospectReason] != "inactive" {
		t.Errorf("attributes %v, want refused/inactive", a)
	}
	noSecrets(t, rec.Ended(), tok)
}
