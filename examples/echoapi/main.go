// Command echoapi is a small Echo API protected by m2mauth, configured for
// a real token issuer by flags or environment variables:
//
//	go run ./examples/echoapi -provider okta -issuer https://acme.okta.com/oauth2/default \
//		-audience api://default -scope orders.read -clients 0oa8acv8gbBPRCZ7I5d7
//
// GET /orders demands the -scope permission(s), as a scope or an app role;
// /healthz and /metrics (Prometheus) are open. See README.md for every
// provider, and how to get a token with curl.
package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/m2mauth/m2mauth/examples/internal/apiconfig"
	"github.com/m2mauth/m2mauth/internal/exampleapi"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/echoauth"
)

func main() {
	cfg, err := apiconfig.Parse("echoapi", os.Args[1:], os.Getenv, "127.0.0.1:8080", os.Stderr)
	exampleapi.Main("echoapi", cfg, err, run)
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

	auth, err := echoauth.New(v, middleware.WithObserver(m), middleware.WithObserver(lg))
	if err != nil {
		return err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	api := e.Group("", auth.Authenticate) // every route below needs a valid token
	api.GET("/orders", listOrders, auth.Require(cfg.Requirement()))

	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("echoapi listening", "addr", lis.Addr().String(), "provider", cfg.Provider, "requires", cfg.Requirement().String())
	return exampleapi.ServeHTTP(ctx, lis, e, ready)
}

// listOrders answers the verified caller.
func listOrders(c echo.Context) error {
	p, _ := echoauth.Principal(c)
	return c.JSON(http.StatusOK, map[string]any{"orders": []string{}, "caller": p.ClientID()})
}
