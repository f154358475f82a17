// Command httpapi is a small net/http API protected by m2mauth, configured
// for a real token issuer by flags or environment variables:
//
//	go run ./examples/httpapi -provider auth0 -issuer acme.us.auth0.com \
//		-audience https://orders.example.com -scope orders.read -clients Zk3mPq7R...
//
// GET /orders demands the -scope permission(s), as a scope or an app role;
// /healthz and /metrics (Prometheus) are open. See README.md for every
// provider, and how to get a token with curl.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/m2mauth/m2mauth/examples/internal/apiconfig"
	"github.com/m2mauth/m2mauth/internal/exampleapi"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
)

func main() {
	cfg, err := apiconfig.Parse("httpapi", os.Args[1:], os.Getenv, "127.0.0.1:8080", os.Stderr)
	exampleapi.Main("httpapi", cfg, err, run)
}

// run serves the API until ctx is done. ready, when not nil, receives the
// listen address once the API accepts requests.
func run(ctx context.Context, cfg *apiconfig.Config, log *slog.Logger, ready chan<- string) error {
	// Tokens and decisions are counted; each refused request is logged
	// once (rate limited, never the token) by the adapter's Logger.
	v, m, lg, reg, stopKeys, err := cfg.Observed(ctx, log) // logs: key caches and, below, the adapter
	if err != nil {
		return err
	}
	defer stopKeys()

	mux := http.NewServeMux()
	mw, err := middleware.New(v, middleware.WithObserver(m), middleware.WithObserver(lg),
		middleware.WithServeMux(mux), // decisions name the route the mux picks
		middleware.WithExemptPaths("/healthz", "/metrics"))
	if err != nil {
		return err
	}
	mux.Handle("GET /orders", mw.Require(cfg.Requirement())(http.HandlerFunc(listOrders)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("httpapi listening", "addr", lis.Addr().String(), "provider", cfg.Provider, "requires", cfg.Requirement().String())
	return exampleapi.ServeHTTP(ctx, lis, mw.Handler(mux), ready)
}

// listOrders answers the verified caller.
func listOrders(w http.ResponseWriter, r *http.Request) {
	p, _ := jwtverify.FromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"orders": []string{}, "caller": p.ClientID()})
}
