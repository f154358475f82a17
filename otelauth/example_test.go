package otelauth_test

import (
	"context"
	"fmt"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/otelauth"
)

// One Observer for the key cache, the verifier and the middleware; the JWKS
// requests go through an otelhttp transport and the API through
// otelhttp.NewHandler, so each verification's span is a child of its
// request's span.
func Example() {
	tp := sdktrace.NewTracerProvider()
	mp := sdkmetric.NewMeterProvider()
	defer tp.Shutdown(context.Background())
	defer mp.Shutdown(context.Background())

	obs, err := otelauth.New(otelauth.Options{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		panic(err)
	}
	keys, err := jwkscache.New(context.Background(), jwkscache.Config{
		Name:       "corp",
		Issuer:     "https://login.example.com",
		HTTPClient: &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport, otelhttp.WithTracerProvider(tp))},
		Observer:   obs,
	})
	if err != nil {
		panic(err)
	}
	defer keys.Close()
	v, err := jwtverify.New(jwtverify.Config{Observer: obs, Issuers: []jwtverify.IssuerConfig{{
		Name: "corp", Issuer: "https://login.example.com", Keys: keys,
		Audiences: []string{"https://api.example.com"}, ClientIDs: []string{"billing-daemon"},
		Algorithms: []string{"RS256"},
	}}})
	if err != nil {
		panic(err)
	}
	mw, err := middleware.New(v, middleware.WithObserver(obs))
	if err != nil {
		panic(err)
	}
	api := http.NewServeMux()
	handler := otelhttp.NewHandler(mw.Handler(api), "api", otelhttp.WithTracerProvider(tp))
	// Compiled, not run: it would fetch keys from login.example.com.
	fmt.Println(http.ListenAndServe(":8080", handler))
}
