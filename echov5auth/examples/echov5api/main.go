// Command echov5api is a small Echo v5 API protected by m2mauth, for a
// real token issuer given by flags:
//
//	go run ./examples/echov5api -issuer https://acme.okta.com/oauth2/default \
//		-audience api://default -clients 0oa8acv8gbBPRCZ7I5d7 -scope orders.read
//
// GET /orders demands the -scope permission, as a scope or an app role;
// /healthz is open. Keys come from the issuer's discovery document.
package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/labstack/echo/v5"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/echov5auth"
	"github.com/m2mauth/m2mauth/internal/exampleapi"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
)

func main() {
	cfg, err := exampleapi.ParseBasic("echov5api", os.Args[1:], os.Stderr)
	exampleapi.Main("echov5api", cfg, err, run)
}

// run serves the API until ctx is done. ready, when not nil, receives the
// listen address once the API accepts requests.
func run(ctx context.Context, cfg exampleapi.Basic, log *slog.Logger, ready chan<- string) error {
	v, stopKeys, err := cfg.Verifier(ctx)
	if err != nil {
		return err
	}
	defer stopKeys()
	// Refusals are logged with their precise reason, never the token.
	auth, err := echov5auth.New(v, middleware.WithObserver(authlog.New(log, authlog.Options{})))
	if err != nil {
		return err
	}
	e := echo.New()
	e.GET("/healthz", func(c *echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	api := e.Group("", auth.Authenticate) // every route below needs a valid token
	api.GET("/orders", listOrders, auth.Require(jwtverify.RequireAll(cfg.Scope)))

	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("echov5api listening", "addr", lis.Addr().String(), "requires", cfg.Scope)
	return exampleapi.ServeHTTP(ctx, lis, e, ready)
}

// listOrders answers the verified caller.
func listOrders(c *echo.Context) error {
	p, _ := echov5auth.Principal(c)
	return c.JSON(http.StatusOK, map[string]any{"orders": []string{}, "caller": p.ClientID()})
}
