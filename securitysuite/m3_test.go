package securitysuite

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// m3Desc: a bidirectional stream whose handler waits for the client in
// RecvMsg, and a server stream whose handler sends one message, then waits
// for its context to end without touching the stream again and returns
// nil (the client's own deadline is far: it waits only for a near one).
var m3Desc = grpc.ServiceDesc{
	ServiceName: "sec.v1.Long",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{
		{StreamName: "Chat", ServerStreams: true, ClientStreams: true, Handler: func(_ any, s grpc.ServerStream) error {
			for {
				m := new(wrapperspb.StringValue)
				if err := s.RecvMsg(m); err != nil {
					return err
				}
				if err := s.SendMsg(m); err != nil {
					return err
				}
			}
		}},
		{StreamName: "Watch", ServerStreams: true, Handler: func(_ any, s grpc.ServerStream) error {
			if err := s.RecvMsg(new(wrapperspb.StringValue)); err != nil {
				return err
			}
			if err := s.SendMsg(wrapperspb.String("first")); err != nil {
				return err
			}
			// Wait for a deadline of grpcauth's (the token's second),
			// not for the client's 20 s.
			if d, ok := s.Context().Deadline(); ok && time.Until(d) < 10*time.Second {
				<-s.Context().Done()
			}
			return nil
		}},
	},
}

// m3Server serves m3Desc behind a grpcauth interceptor over f's verifier
// and returns a client connection.
func m3Server(t *testing.T, f *fixture, opts ...grpcauth.Option) *grpc.ClientConn {
	t.Helper()
	ic, err := grpcauth.New(f.v, grpcauth.Policy{Methods: map[string]jwtverify.Requirement{"/sec.v1.Long/*": reqRead}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.ChainStreamInterceptor(ic.StreamServerInterceptor()))
	gs.RegisterService(&m3Desc, struct{}{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(); gs.Stop(); <-served })
	return conn
}

// TestM3StreamsEndWithTheirToken (SECURITY.md M3): a stream authorized
// when it opened ends when its token expires, with Unauthenticated
// TOKEN_EXPIRED, whether the handler waits for the client or waits for
// its context and returns nil. The verifier's clock is the fixture's
// (fake, not moving), the issuer has no leeway and the token one second
// left, so the stream ends one real second after it opened; before M3 it
// served until the client's 20 s bound. InsecureStreamsOutliveTokens
// restores that.
func TestM3StreamsEndWithTheirToken(t *testing.T) {
	f := newFixture(t, fixtureOptions{issuerConfig: func(_ *fixture, ic *jwtverify.IssuerConfig) { ic.Leeway = jwtverify.NoLeeway }})
	tok := f.mint(t, oauthtest.WithLifetime(time.Second))
	call := func(t *testing.T, conn *grpc.ClientConn, stream int) (answer, time.Duration) {
		ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+tok)), 20*time.Second)
		defer cancel()
		opened := time.Now()
		desc := &m3Desc.Streams[stream]
		s, err := conn.NewStream(ctx, desc, "/sec.v1.Long/"+desc.StreamName)
		if err == nil {
			err = s.SendMsg(wrapperspb.String("x"))
		}
		if err == nil && !desc.ClientStreams {
			err = s.CloseSend()
		}
		got := 0
		for err == nil {
			if err = s.RecvMsg(new(wrapperspb.StringValue)); err == nil {
				got++
			}
		}
		if got != 1 {
			t.Errorf("%d messages before the end, want 1", got)
		}
		if errors.Is(err, io.EOF) {
			return answer{body: "ok EOF"}, time.Since(opened)
		}
		st := status.Convert(err)
		return answer{code: st.Code(), msg: st.Message(), info: infoOf(st)}, time.Since(opened)
	}

	conn := m3Server(t, f)
	for n, name := range []string{"bidi_handler_waits_in_RecvMsg", "server_stream_handler_returns_nil_after_the_deadline"} {
		t.Run(name, func(t *testing.T) {
			a, took := call(t, conn, n)
			expectGRPC(t, a, expiredT, "")
			if took > 15*time.Second {
				t.Errorf("the stream lasted %v", took)
			}
		})
	}
	t.Run("InsecureStreamsOutliveTokens", func(t *testing.T) {
		// The Watch handler waits only for a deadline of ours: without
		// one it answers and ends at once, with OK.
		a, _ := call(t, m3Server(t, f, grpcauth.InsecureStreamsOutliveTokens()), 1)
		expectGRPC(t, a, accept, "")
	})
}
