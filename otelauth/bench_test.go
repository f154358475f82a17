package otelauth_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/otelauth"
)

// BenchmarkVerifyHotObserved: a repeated token (cache hit) without an
// observer, and with otelauth recording a span (SDK, always sampled, no
// exporter) and the metrics, under a request span: what tracing costs.
func BenchmarkVerifyHotObserved(b *testing.B) {
	is := oauthtest.NewT(b)
	kid := is.SigningKeyID()
	pub, _ := is.PublicKey(kid)
	key, err := jwkscache.NewKey(kid, "RS256", pub)
	if err != nil {
		b.Fatal(err)
	}
	tok := is.MintT(b, oauthtest.WithClaims(map[string]any{"aud": audience, "client_id": clientID, "sub": clientID}))
	tp := sdktrace.NewTracerProvider()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })
	obs, err := otelauth.New(otelauth.Options{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		obs  jwtverify.Observer
	}{{"no_observer", nil}, {"otelauth", obs}} {
		b.Run(bc.name, func(b *testing.B) {
			v, err := jwtverify.New(jwtverify.Config{Observer: bc.obs, Issuers: []jwtverify.IssuerConfig{{
				Name: "test", Issuer: is.Issuer(), Keys: jwkscache.NewStatic("test", key),
				Audiences: []string{audience}, ClientIDs: []string{clientID}, Algorithms: []string{"RS256"},
			}}})
			if err != nil {
				b.Fatal(err)
			}
			ctx, span := tp.Tracer("bench").Start(context.Background(), "request", trace.WithSpanKind(trace.SpanKindServer))
			defer span.End()
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
