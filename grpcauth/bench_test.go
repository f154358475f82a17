package grpcauth_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// BenchmarkUnaryInterceptor measures the interceptor's overhead on the hot
// path (a caller reusing its token: a verified-token cache hit) beside a
// direct call of the same trivial handler.
func BenchmarkUnaryInterceptor(b *testing.B) {
	e := newEnv(b, envConfig{})
	tok := e.iss.MintT(b, oauthtest.WithClient(readerID))
	ctx := incoming(map[string][]string{"authorization": {"Bearer " + tok}})
	info := &grpc.UnaryServerInfo{FullMethod: "/test.v1.Echo/Ping"}
	req := wrapperspb.String("x")
	handler := grpc.UnaryHandler(func(_ context.Context, req any) (any, error) { return req, nil })

	plain, err := grpcauth.New(e.verifier, testPolicy())
	if err != nil {
		b.Fatal(err)
	}
	observed, err := grpcauth.New(e.verifier, testPolicy(), grpcauth.WithObserver(discard{}))
	if err != nil {
		b.Fatal(err)
	}
	run := func(name string, call func() (any, error)) {
		if _, err := call(); err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := call(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	run("raw", func() (any, error) { return handler(ctx, req) })
	pu := plain.UnaryServerInterceptor()
	run("grpcauth", func() (any, error) { return pu(ctx, req, info, handler) })
	ou := observed.UnaryServerInterceptor()
	run("grpcauth+observer", func() (any, error) { return ou(ctx, req, info, handler) })
	public := &grpc.UnaryServerInfo{FullMethod: "/grpc.health.v1.Health/Check"}
	run("public", func() (any, error) { return pu(ctx, req, public, handler) })
}

type discard struct{}

func (discard) ObserveDecision(ev jwtverify.DecisionEvent) {}

// BenchmarkBufconn measures a whole unary call over an in-memory gRPC
// connection with and without the interceptor (same token metadata sent
// both ways).
func BenchmarkBufconn(b *testing.B) {
	e := newEnv(b, envConfig{})
	tok := e.iss.MintT(b, oauthtest.WithClient(readerID))
	for _, tt := range []struct {
		name string
		opts []grpc.ServerOption
	}{
		{"raw", nil},
		{"grpcauth", []grpc.ServerOption{grpc.ChainUnaryInterceptor(e.ic.UnaryServerInterceptor())}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			conn := bufconnServer(b, tt.opts)
			ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
			in, out := wrapperspb.String("x"), new(wrapperspb.StringValue)
			b.ReportAllocs()
			for b.Loop() {
				if err := conn.Invoke(ctx, "/test.v1.Echo/Ping", in, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func bufconnServer(b *testing.B, opts []grpc.ServerOption) *grpc.ClientConn {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(opts...)
	srv.RegisterService(&echoDesc, nil)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	b.Cleanup(func() { srv.Stop(); <-served })
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return conn
}
