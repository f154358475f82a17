package grpcauth_test

import (
	"crypto/tls"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// ordersv1 stands for the package protoc-gen-go-grpc generates from an
// orders.proto: its RegisterOrdersServer registers ordersDesc.
var ordersv1 = struct {
	RegisterOrdersServer func(s grpc.ServiceRegistrar, srv any)
}{RegisterOrdersServer: func(s grpc.ServiceRegistrar, srv any) { s.RegisterService(&ordersDesc, srv) }}

var ordersDesc = grpc.ServiceDesc{
	ServiceName: "orders.v1.Orders",
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "List"}, {MethodName: "Create"}, {MethodName: "Cancel"}},
}

// The package doc's usage, run (TestSnippetsCompile in the root package
// checks that the doc's lines stand here): the policy covers every method
// of orders.v1.Orders, so none is left to the default.
func Example_usage() {
	iss, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer iss.Close()
	verifier, err := exampleVerifier(iss)
	if err != nil {
		panic(err)
	}
	m, err := metrics.New(prometheus.NewRegistry(), metrics.Options{})
	if err != nil {
		panic(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12} // with your certificate
	var orders any                                         // your implementation of orders.v1.Orders

	serve := func() error {
		lg := authlog.New(logger, authlog.Options{})
		defer lg.Close()
		auth, err := grpcauth.New(verifier, grpcauth.Policy{
			Methods: map[string]jwtverify.Requirement{
				"/orders.v1.Orders/*":      jwtverify.RequireAll("orders.read"),
				"/orders.v1.Orders/Create": jwtverify.RequireAll("orders.write"),
			},
		}.ExemptHealth().ExemptReflection(), grpcauth.WithObserver(m), grpcauth.WithObserver(lg))
		if err != nil {
			return err
		}
		srv := grpc.NewServer(
			grpc.Creds(credentials.NewTLS(tlsConfig)),
			grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
			grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
		)
		ordersv1.RegisterOrdersServer(srv, orders)
		defaulted, err := auth.CheckServer(srv)
		if err != nil {
			return err
		}
		logger.Info("methods left to the policy's default", "methods", defaulted)
		return nil // then srv.Serve(lis)
	}
	if err := serve(); err != nil {
		panic(err)
	}
	// Output:
	// level=INFO msg="methods left to the policy's default" methods=[]
}
