// Command ginapi is a small Gin API protected by m2mauth, for a
// real token issuer given by flags:
//
//	go run ./examples/ginapi -issuer https://acme.okta.com/oauth2/default \
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

	"github.com/gin-gonic/gin"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/ginauth"
	"github.com/m2mauth/m2mauth/internal/exampleapi"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
)

func main() {
	cfg, err := exampleapi.ParseBasic("ginapi", os.Args[1:], os.Stderr)
	exampleapi.Main("ginapi", cfg, err, run)
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
	auth, err := ginauth.New(v, middleware.WithObserver(authlog.New(log, authlog.Options{})))
	if err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
	api := e.Group("", auth.Authenticate) // every route below needs a valid token
	api.GET("/orders", auth.Require(jwtverify.RequireAll(cfg.Scope)), listOrders)

	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("ginapi listening", "addr", lis.Addr().String(), "requires", cfg.Scope)
	return exampleapi.ServeHTTP(ctx, lis, e, ready)
}

// listOrders answers the verified caller.
func listOrders(c *gin.Context) {
	p, _ := ginauth.Principal(c)
	c.JSON(http.StatusOK, gin.H{"orders": []string{}, "caller": p.ClientID()})
}
