// Package apps builds the protected HTTP handler of the HTTP benchmarks and
// the load test in each variant: no authentication, m2mauth's net/http
// middleware, and auth0's go-jwt-middleware (v2 and v3).
package apps

import (
	"fmt"
	"net/http"

	"github.com/m2mauth/m2mauth/benchmarks/internal/fixture"
	"github.com/m2mauth/m2mauth/benchmarks/internal/m2m"
	"github.com/m2mauth/m2mauth/benchmarks/internal/peers"
)

var okBody = []byte(`{"status":"ok"}`)

// App is the protected handler: the same in every variant.
func App(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(okBody)
}

// Variants lists the middleware variants in report order.
var Variants = []string{"none", "m2mauth", "auth0v2", "auth0v3"}

// Handler returns App behind the named variant's middleware, verifying
// tokens of f's algorithm and key. m2mauth runs with its default
// verified-token cache.
func Handler(variant string, f *fixture.Fixture) (http.Handler, error) {
	app := http.HandlerFunc(App)
	switch variant {
	case "none":
		return app, nil
	case "m2mauth":
		v, err := m2m.Hot(f.Alg)
		if err != nil {
			return nil, err
		}
		return m2m.Middleware(v, app)
	case "auth0v2":
		return peers.Auth0V2Middleware(f, app), nil
	case "auth0v3":
		return peers.Auth0V3Middleware(f, app), nil
	}
	return nil, fmt.Errorf("apps: unknown variant %q", variant)
}
