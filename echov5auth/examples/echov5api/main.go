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
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/echov5auth"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
)

type config struct {
	addr, issuer, audience, scope string
	clients                       []string
}

func parse(args []string, out io.Writer) (config, error) {
	var c config
	var clients string
	fs := flag.NewFlagSet("echov5api", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&c.issuer, "issuer", "", "issuer URL (required)")
	fs.StringVar(&c.audience, "audience", "", "audience of this API (required)")
	fs.StringVar(&clients, "clients", "", "allowed client IDs, comma separated (required)")
	fs.StringVar(&c.scope, "scope", "orders.read", "permission GET /orders requires")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	for id := range strings.SplitSeq(clients, ",") {
		if id = strings.TrimSpace(id); id != "" {
			c.clients = append(c.clients, id)
		}
	}
	if c.issuer == "" || c.audience == "" || len(c.clients) == 0 {
		return c, errors.New("-issuer, -audience and -clients are required")
	}
	return c, nil
}

func main() {
	cfg, err := parse(os.Args[1:], os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echov5api:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, cfg, log, nil); err != nil {
		log.Error("echov5api stopped", "err", err)
		os.Exit(1)
	}
}

// run serves the API until ctx is done. ready, when not nil, receives the
// listen address once the API accepts requests.
func run(ctx context.Context, cfg config, log *slog.Logger, ready chan<- string) error {
	keys, err := jwkscache.New(ctx, jwkscache.Config{Name: "idp", Issuer: cfg.issuer})
	if err != nil {
		return err
	}
	defer keys.Close()
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "idp", Issuer: cfg.issuer, Keys: keys,
		Audiences: []string{cfg.audience}, ClientIDs: cfg.clients,
		Algorithms: []string{"RS256", "ES256", "PS256"},
	}}})
	if err != nil {
		return err
	}
	// Refusals are logged with their precise reason, never the token.
	auth, err := echov5auth.New(v, middleware.WithObserver(authlog.New(log, authlog.Options{})))
	if err != nil {
		return err
	}
	e := echo.New()
	e.GET("/healthz", func(c *echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	api := e.Group("", auth.Authenticate) // every route below needs a valid token
	api.GET("/orders", listOrders, auth.Require(jwtverify.RequireAll(cfg.scope)))

	lis, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	log.Info("echov5api listening", "addr", lis.Addr().String(), "requires", cfg.scope)
	if ready != nil {
		ready <- lis.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listOrders answers the verified caller.
func listOrders(c *echo.Context) error {
	p, _ := echov5auth.Principal(c)
	return c.JSON(http.StatusOK, map[string]any{"orders": []string{}, "caller": p.ClientID()})
}
