// Command grpcapi is a small gRPC service protected by m2mauth's
// interceptors, configured for a real token issuer by flags or environment
// variables:
//
//	go run ./examples/grpcapi -provider keycloak -issuer https://kc.example.com/realms/acme \
//		-scope orders.read -clients orders-worker -tls-cert cert.pem -tls-key key.pem
//
// orders.v1.Orders/List demands the -scope permission(s), as a scope or an
// app role; every other method is denied; the health service (and server
// reflection, with -reflection) are open. Metrics are served on
// -metrics-addr when set. See README.md for every provider, and how to get
// a token with curl and call the service with grpcurl.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/m2mauth/m2mauth/examples/internal/apiconfig"
	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/internal/exampleapi"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// config is the shared API configuration plus the gRPC server's own.
type config struct {
	*apiconfig.Config
	// TLSCert and TLSKey are PEM files; required unless Plaintext.
	TLSCert, TLSKey string
	// Plaintext serves without TLS (behind a TLS-terminating proxy only).
	Plaintext bool
	// Reflection registers server reflection (open, like health).
	Reflection bool
	// MetricsAddr serves /metrics over HTTP when set.
	MetricsAddr string
}

func parse(args []string, getenv func(string) string, usage io.Writer) (*config, error) {
	fs := flag.NewFlagSet("grpcapi", flag.ContinueOnError)
	fs.SetOutput(usage)
	c := &config{Config: apiconfig.Flags(fs, getenv, "127.0.0.1:8443")}
	fs.StringVar(&c.TLSCert, "tls-cert", getenv("M2M_TLS_CERT"), "TLS certificate (PEM) [M2M_TLS_CERT]")
	fs.StringVar(&c.TLSKey, "tls-key", getenv("M2M_TLS_KEY"), "TLS private key (PEM) [M2M_TLS_KEY]")
	fs.BoolVar(&c.Plaintext, "plaintext", getenv("M2M_PLAINTEXT") == "true", "serve without TLS: only behind a TLS-terminating proxy, tokens are bearer secrets [M2M_PLAINTEXT=true]")
	fs.BoolVar(&c.Reflection, "reflection", getenv("M2M_REFLECTION") == "true", "register server reflection, callable without a token (for grpcurl) [M2M_REFLECTION=true]")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", getenv("M2M_METRICS_ADDR"), "serve Prometheus /metrics on this address [M2M_METRICS_ADDR]")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	if c.Plaintext == (c.TLSCert != "" || c.TLSKey != "") {
		return nil, errors.New("set -tls-cert and -tls-key, or -plaintext")
	}
	if !c.Plaintext && (c.TLSCert == "" || c.TLSKey == "") {
		return nil, errors.New("-tls-cert and -tls-key go together")
	}
	return c, nil
}

func main() {
	cfg, err := parse(os.Args[1:], os.Getenv, os.Stderr)
	exampleapi.Main("grpcapi", cfg, err, run)
}

// run serves until ctx is done. ready, when not nil, receives the gRPC
// listen address once the service accepts calls.
func run(ctx context.Context, cfg *config, log *slog.Logger, ready chan<- string) error {
	// Rejected tokens are logged (rate limited, never the token) and counted.
	v, m, lg, reg, stopKeys, err := cfg.Observed(ctx, log) // logs: key caches and, below, the adapter
	if err != nil {
		return err
	}
	defer stopKeys()

	// One requirement per method; everything not listed is denied.
	policy := grpcauth.Policy{
		Methods: map[string]jwtverify.Requirement{listMethod: cfg.Requirement()},
	}.ExemptHealth()
	if cfg.Reflection {
		policy = policy.ExemptReflection()
	}
	// Metrics and logs (lg) are two observers of the decisions: one record
	// per refusal (rate limited, never the token).
	auth, err := grpcauth.New(v, policy, grpcauth.WithObserver(m), grpcauth.WithObserver(lg))
	if err != nil {
		return err
	}
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
	}
	if !cfg.Plaintext {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return err
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	}
	srv := grpc.NewServer(opts...)
	srv.RegisterService(&ordersDesc, nil)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	if cfg.Reflection {
		reflection.Register(srv)
	}
	// The policy against the registered services: a pattern naming no
	// method (a typo) stops the program; the methods left to the default
	// are denied, and said so. The interceptor learns the registered
	// methods here, so its logs and metrics name them.
	defaulted, err := auth.CheckServer(srv)
	if err != nil {
		return err
	}
	if len(defaulted) > 0 {
		log.Info("methods the policy leaves to its default (denied)", "methods", defaulted)
	}

	if cfg.MetricsAddr != "" {
		mlis, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return err
		}
		msrv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = msrv.Serve(mlis) }()
		defer msrv.Close()
		log.Info("metrics listening", "addr", mlis.Addr().String())
	}

	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("grpcapi listening", "addr", lis.Addr().String(), "tls", !cfg.Plaintext, "provider", cfg.Provider, "requires", cfg.Requirement().String())
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
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		srv.Stop()
	}
	return <-errc
}
