// Command connectapi is a small Connect service protected by m2mauth, for
// a real token issuer given by flags:
//
//	go run ./examples/connectapi -issuer https://acme.okta.com/oauth2/default \
//		-audience api://default -clients 0oa8acv8gbBPRCZ7I5d7 -scope orders.read
//
// The procedure /orders.v1.Orders/List (a google.protobuf.StringValue in
// and out, so no generated code is needed) demands the -scope permission,
// as a scope or an app role; every other procedure is denied; /healthz is
// open. Keys come from the issuer's discovery document. Call it with curl:
//
//	curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
//		-d '""' http://127.0.0.1:8080/orders.v1.Orders/List
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

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/connectauth"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// listProcedure is the one procedure of the service.
const listProcedure = "/orders.v1.Orders/List"

type config struct {
	addr, issuer, audience, scope string
	clients                       []string
}

func parse(args []string, out io.Writer) (config, error) {
	var c config
	var clients string
	fs := flag.NewFlagSet("connectapi", flag.ContinueOnError)
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
		fmt.Fprintln(os.Stderr, "connectapi:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, cfg, log, nil); err != nil {
		log.Error("connectapi stopped", "err", err)
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
	ic, err := connectauth.New(v, connectauth.Policy{Procedures: map[string]jwtverify.Requirement{
		listProcedure: jwtverify.RequireAll(cfg.scope),
	}}, connectauth.WithObserver(authlog.New(log, authlog.Options{})))
	if err != nil {
		return err
	}
	if err := ic.CheckProcedures(listProcedure); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.Handle(listProcedure, connect.NewUnaryHandler(listProcedure, listOrders, connect.WithInterceptors(ic)))

	lis, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("connectapi listening", "addr", lis.Addr().String(), "requires", cfg.scope)
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
func listOrders(ctx context.Context, _ *connect.Request[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error) {
	p, _ := jwtverify.FromContext(ctx)
	return connect.NewResponse(wrapperspb.String("no orders for " + p.ClientID())), nil
}
