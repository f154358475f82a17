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
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/connectauth"
	"github.com/m2mauth/m2mauth/internal/exampleapi"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// listProcedure is the one procedure of the service.
const listProcedure = "/orders.v1.Orders/List"

func main() {
	cfg, err := exampleapi.ParseBasic("connectapi", os.Args[1:], os.Stderr)
	exampleapi.Main("connectapi", cfg, err, run)
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
	ic, err := connectauth.New(v, connectauth.Policy{Procedures: map[string]jwtverify.Requirement{
		listProcedure: jwtverify.RequireAll(cfg.Scope),
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

	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("connectapi listening", "addr", lis.Addr().String(), "requires", cfg.Scope)
	return exampleapi.ServeHTTP(ctx, lis, mux, ready)
}

// listOrders answers the verified caller.
func listOrders(ctx context.Context, _ *connect.Request[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error) {
	p, _ := jwtverify.FromContext(ctx)
	return connect.NewResponse(wrapperspb.String("no orders for " + p.ClientID())), nil
}
