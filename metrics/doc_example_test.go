package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// The package doc's wiring, run against the in-process issuer
// (TestSnippetsCompile in the root package checks that the doc's lines
// stand here): one allowed and one refused request, then the decision
// series they produced.
func Example() {
	is, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer is.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	iss := is.Issuer()
	issuer := jwtverify.IssuerConfig{Name: "entra", Issuer: iss, Algorithms: []string{"RS256"},
		Audiences: []string{oauthtest.DefaultAudience}, ClientIDs: []string{oauthtest.DefaultClientID}}

	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{})
	check(err)
	keys, err := jwkscache.New(ctx, jwkscache.Config{Name: "entra", Issuer: iss, Observer: m})
	check(err)
	defer keys.Close()
	err = m.WatchKeys(keys)
	check(err)
	issuer.Keys = keys
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{issuer}, Observer: m})
	check(err)
	err = m.WatchVerifier("", v)
	check(err)
	mw, err := middleware.New(v, middleware.WithObserver(m))
	check(err)

	readyCtx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	check(keys.Ready(readyCtx))
	tok, err := is.Mint()
	check(err)
	api := mw.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, auth := range []string{"Bearer " + tok, ""} {
		r := httptest.NewRequest("GET", "/orders", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		api.ServeHTTP(httptest.NewRecorder(), r)
	}
	families, err := reg.Gather()
	check(err)
	for _, f := range families {
		if f.GetName() != "m2mauth_authorization_decisions_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				fmt.Printf("%s=%s ", l.GetName(), l.GetValue())
			}
			fmt.Println(s.GetCounter().GetValue())
		}
	}
	// Output:
	// result=allowed transport=http 1
	// result=unauthenticated transport=http 1
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}
