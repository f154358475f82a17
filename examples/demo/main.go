// Command demo shows m2mauth end to end in a few seconds, with nothing to
// configure:
//
//	go run ./examples/demo          # run every scenario, print the table and metrics, exit 0 if all ok
//	go run ./examples/demo -serve   # then keep serving and print ready-to-paste curl commands
//
// It starts, all on 127.0.0.1 with random ports:
//
//   - an in-process OAuth 2.0 authorization server (package oauthtest) with
//     two clients of the client credentials grant: "reader", granted
//     orders.read as a scope (the "scope" claim), and "admin", granted
//     orders.read and orders.write as app roles (the "roles" claim);
//   - the same orders API three times, each protected by m2mauth: net/http
//     (package middleware, standard ServeMux), Echo (middleware/echoauth)
//     and gRPC over TLS with an in-process self-signed certificate
//     (grpcauth, a per-method policy). Reading needs orders.read, writing
//     needs orders.write, whether the token carries it as a scope or as an
//     app role;
//   - one jwtverify.Verifier trusting the issuer through its JWKS
//     (jwkscache), and Prometheus metrics (package metrics) on one registry.
//
// The clients get their tokens with golang.org/x/oauth2/clientcredentials;
// the gRPC client sends them with google.golang.org/grpc/credentials/oauth.
// Every transport then goes through the same scenarios: no token, reader
// reads, reader writes, admin writes, a tampered token, an expired token,
// and, after the issuer rotates its signing key, a token signed with the new
// key (the key cache refreshes the JWKS on the unknown kid) and a token
// signed with the old one. Last, a third client, "worker", authenticates at
// the issuer's mutual-TLS token endpoint with its certificate and gets
// certificate-bound tokens (RFC 8705): accepted over TLS presenting that
// certificate (the HTTP APIs also listen on TLS for it), refused without it.
// Then a DPoP caller, "dpop-worker" (RFC 9449, HTTP only): its token, bound
// to a key oauthtest's prover holds, is served with a fresh proof on each
// call and refused without the key (a stolen copy).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	opts := options{logs: os.Stderr}
	flag.BoolVar(&opts.serve, "serve", false, "after the scenarios, keep serving and print curl commands (Ctrl-C to stop)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "demo: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, opts)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
