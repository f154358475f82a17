package otelauth_test

import (
	"context"
	"net"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/otelauth"
)

// TestGRPCSpanTree: over a real loopback gRPC server instrumented by
// otelgrpc, the verify span of an allowed and of a refused call is a child
// of the call's server span, which carries the decision.
func TestGRPCSpanTree(t *testing.T) {
	s := newStack(t)
	auth, err := grpcauth.New(s.v, grpcauth.Policy{Methods: map[string]jwtverify.Requirement{
		"/grpc.health.v1.Health/Check": jwtverify.RequireAll("orders.read"),
	}}, grpcauth.WithObserver(s.obs))
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(s.tp))),
		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
	)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	if _, err := auth.CheckServer(srv); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := healthpb.NewHealthClient(conn)
	good := s.token(t, "orders.read")
	bad := good[:len(good)-4] + "AAAA"

	for _, c := range []struct {
		token, result, decision string
		code                    codes.Code
	}{
		{good, "valid", jwtverify.DecisionAllowed, codes.OK},
		{bad, "invalid", jwtverify.DecisionUnauthenticated, codes.Unauthenticated},
	} {
		s.spans = resetRecorder(t, s)
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+c.token)
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		if status.Code(err) != c.code {
			t.Fatalf("%s: code %v", c.decision, status.Code(err))
		}
		s.waitServerSpan(t)
		server, verify := requestTree(t, s.spans.Ended())
		if got := attrs(verify)[otelauth.AttrResult]; got != c.result {
			t.Errorf("%s: verify result %q", c.decision, got)
		}
		sa := attrs(server)
		if sa[otelauth.AttrDecision] != c.decision || sa[otelauth.AttrTransport] != grpcauth.Transport || sa[otelauth.AttrRoute] != "/grpc.health.v1.Health/Check" {
			t.Errorf("%s: server span attributes %v", c.decision, sa)
		}
		noSecrets(t, s.spans.Ended(), c.token, clientID)
	}
}
