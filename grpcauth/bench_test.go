package grpcauth_test

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

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
	// The verifier alone (a verified-token cache hit): what grpcauth adds
	// is grpcauth minus verify.
	run("verify", func() (any, error) { return e.verifier.Verify(ctx, tok) })
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
	// Without the env's observer and debug logger: the production minimum.
	ic, err := grpcauth.New(e.verifier, testPolicy())
	if err != nil {
		b.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		opts []grpc.ServerOption
	}{
		{"raw", nil},
		{"grpcauth", []grpc.ServerOption{grpc.ChainUnaryInterceptor(ic.UnaryServerInterceptor())}},
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

// BenchmarkBufconnOverhead interleaves blocks of whole calls over the two
// in-memory connections of BenchmarkBufconn, without and with the
// interceptor, and reports the difference per call ("overhead-ns/op"):
// on a shared machine, sequential sub-benchmarks differ by more than the
// interceptor costs.
func BenchmarkBufconnOverhead(b *testing.B) {
	e := newEnv(b, envConfig{})
	tok := e.iss.MintT(b, oauthtest.WithClient(readerID))
	ic, err := grpcauth.New(e.verifier, testPolicy())
	if err != nil {
		b.Fatal(err)
	}
	rawConn := bufconnServer(b, nil)
	withConn := bufconnServer(b, []grpc.ServerOption{grpc.ChainUnaryInterceptor(ic.UnaryServerInterceptor())})
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
	in, out := wrapperspb.String("x"), new(wrapperspb.StringValue)
	run := func(conn *grpc.ClientConn, n int) time.Duration {
		start := time.Now()
		for range n {
			if err := conn.Invoke(ctx, "/test.v1.Echo/Ping", in, out); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	run(rawConn, 10)
	run(withConn, 10)
	const block = 32
	var rawD, withD time.Duration
	var n int
	for b.Loop() {
		rawD += run(rawConn, block)
		withD += run(withConn, block)
		n += block
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
	b.ReportMetric(per(rawD), "raw-ns/op")
	b.ReportMetric(per(withD), "grpcauth-ns/op")
	b.ReportMetric(per(withD-rawD), "overhead-ns/op")
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

// BenchmarkOverhead interleaves blocks of calls with and without the unary
// interceptor (a repeated token on a method with a scope requirement), so
// that both halves see the same machine load, and reports the difference
// per call as "overhead-ns/op" and the extra allocations as
// "overhead-allocs/op". On Linux it also reports the difference in the
// thread's CPU time, "cpu-overhead-ns/op", which other processes on a
// shared machine do not inflate: on a busy machine, the figure to trust;
// "cpu-verify-ns/op" is the verifier alone on the same token, and
// "cpu-grpcauth-own-ns/op" the rest (metadata, policy, requirement,
// context).
func BenchmarkOverhead(b *testing.B) {
	e := newEnv(b, envConfig{})
	tok := e.iss.MintT(b, oauthtest.WithClient(readerID))
	ctx := incoming(map[string][]string{"authorization": {"Bearer " + tok}})
	info := &grpc.UnaryServerInfo{FullMethod: "/test.v1.Echo/Ping"}
	req := wrapperspb.String("x")
	handler := grpc.UnaryHandler(func(_ context.Context, req any) (any, error) { return req, nil })
	ic, err := grpcauth.New(e.verifier, testPolicy())
	if err != nil {
		b.Fatal(err)
	}
	unary := ic.UnaryServerInterceptor()
	raw := func() (any, error) { return handler(ctx, req) }
	with := func() (any, error) { return unary(ctx, req, info, handler) }
	verify := func() (any, error) { return e.verifier.Verify(ctx, tok) }
	if _, err := with(); err != nil {
		b.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_, cpuOK := threadCPU()
	run := func(call func() (any, error), n int) (wall, cpu time.Duration) {
		c0, _ := threadCPU()
		start := time.Now()
		for range n {
			_, _ = call()
		}
		wall = time.Since(start)
		c1, _ := threadCPU()
		return wall, c1 - c0
	}
	allocs := testing.AllocsPerRun(1000, func() { _, _ = with() }) - testing.AllocsPerRun(1000, func() { _, _ = raw() })
	const block = 256
	var rawWall, rawCPU, withWall, withCPU, verifyCPU time.Duration
	var n int
	for b.Loop() {
		w, c := run(raw, block)
		rawWall, rawCPU = rawWall+w, rawCPU+c
		w, c = run(with, block)
		withWall, withCPU = withWall+w, withCPU+c
		_, c = run(verify, block)
		verifyCPU += c
		n += block
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
	b.ReportMetric(per(rawWall), "raw-ns/op")
	b.ReportMetric(per(withWall), "grpcauth-ns/op")
	b.ReportMetric(per(withWall-rawWall), "overhead-ns/op")
	if cpuOK {
		b.ReportMetric(per(withCPU-rawCPU), "cpu-overhead-ns/op")
		// The verifier's share (a verified-token cache hit) and the rest:
		// what grpcauth itself adds around it.
		b.ReportMetric(per(verifyCPU), "cpu-verify-ns/op")
		b.ReportMetric(per(withCPU-rawCPU-verifyCPU), "cpu-grpcauth-own-ns/op")
	}
	b.ReportMetric(allocs, "overhead-allocs/op")
}

// BenchmarkStreamRoundTrip measures one message each way on an open
// bidirectional stream over in-memory connections, with the stream ending
// at token expiry (the default: each RecvMsg waits on a goroutine of its
// own so that the deadline can end the wait) and without
// (InsecureStreamsOutliveTokens), interleaved in blocks, and reports the
// difference per round trip ("overhead-ns/op").
func BenchmarkStreamRoundTrip(b *testing.B) {
	e := newEnv(b, envConfig{})
	tok := e.iss.MintT(b, oauthtest.WithClient(writerID))
	expiring, err := grpcauth.New(e.verifier, testPolicy())
	if err != nil {
		b.Fatal(err)
	}
	outliving, err := grpcauth.New(e.verifier, testPolicy(), grpcauth.InsecureStreamsOutliveTokens())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok))
	defer cancel()
	open := func(ic *grpcauth.Interceptor) grpc.ClientStream {
		conn := bufconnServer(b, []grpc.ServerOption{grpc.ChainStreamInterceptor(ic.StreamServerInterceptor())})
		s, err := conn.NewStream(ctx, &echoDesc.Streams[2], "/test.v1.Echo/Chat")
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	withS, rawS := open(expiring), open(outliving)
	in, out := wrapperspb.String("x"), new(wrapperspb.StringValue)
	run := func(s grpc.ClientStream, n int) time.Duration {
		start := time.Now()
		for range n {
			if err := s.SendMsg(in); err != nil {
				b.Fatal(err)
			}
			if err := s.RecvMsg(out); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	run(rawS, 10)
	run(withS, 10)
	const block = 32
	var rawD, withD time.Duration
	var n int
	for b.Loop() {
		rawD += run(rawS, block)
		withD += run(withS, block)
		n += block
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
	b.ReportMetric(per(rawD), "outlive-ns/op")
	b.ReportMetric(per(withD), "expiring-ns/op")
	b.ReportMetric(per(withD-rawD), "overhead-ns/op")
}
