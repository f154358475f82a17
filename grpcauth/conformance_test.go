package grpcauth_test

import (
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/m2mauth/m2mauth/adaptertest"
	"github.com/m2mauth/m2mauth/grpcauth"
)

// TestConformance runs the adapter conformance kit against grpcauth's
// unary and stream interceptors on a real server over loopback TCP.
func TestConformance(t *testing.T) {
	adaptertest.RunGRPC(t, adaptertest.GRPCAdapter{
		Transport: grpcauth.Transport,
		Dial: func(t testing.TB, s adaptertest.GRPCSetup) *grpc.ClientConn {
			auth, err := grpcauth.New(s.Verifier, grpcauth.Policy{Methods: s.Methods, Public: s.Public},
				grpcauth.WithObserver(s.Observer))
			if err != nil {
				t.Fatal(err)
			}
			srv := grpc.NewServer(
				grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
				grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
			)
			s.Register(srv)
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = srv.Serve(lis)
			}()
			t.Cleanup(func() { srv.Stop(); <-done })
			conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			return conn
		},
	})
}
