package grpcmiddleware_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestStream runs a server-streaming call through go-grpc-middleware's
// auth.StreamServerInterceptor with grpcauth's AuthFunc, and through
// grpcauth's own stream interceptor behind the selector (the package doc's
// alternative for streams).
func TestStream(t *testing.T) {
	t.Run("AuthFunc", func(t *testing.T) { testStream(t, server) })
	t.Run("grpcauth", func(t *testing.T) { testStream(t, grpcauthStreamServer) })
}

func testStream(t *testing.T, server func(*grpcauth.Interceptor) (string, func(), error)) {
	iss := oauthtest.NewT(t)
	iss.RegisterClient(oauthtest.Client{ID: "friend", Secret: "s1", Scopes: []string{"greet"}, Audiences: []string{"api://greeter"}})
	iss.RegisterClient(oauthtest.Client{ID: "intruder", Secret: "s2", Scopes: []string{"other"}, Audiences: []string{"api://greeter"}})
	ic, err := newInterceptor(iss)
	if err != nil {
		t.Fatal(err)
	}
	addr, stop, err := server(ic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })

	hellos := func(client string) ([]string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+iss.MintT(t, oauthtest.WithClient(client)))
		s, err := conn.NewStream(ctx, &greeterDesc.Streams[0], "/demo.v1.Greeter/Hellos")
		if err != nil {
			return nil, err
		}
		if err := s.SendMsg(wrapperspb.String("")); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if err := s.CloseSend(); err != nil {
			return nil, err
		}
		var got []string
		for {
			m := new(wrapperspb.StringValue)
			if err := s.RecvMsg(m); errors.Is(err, io.EOF) {
				return got, nil
			} else if err != nil {
				return got, err
			}
			got = append(got, m.GetValue())
		}
	}
	got, err := hellos("friend")
	if err != nil || len(got) != 2 || got[0] != "hello, friend" {
		t.Fatalf("friend: %q %v", got, err)
	}
	if _, err := hellos("intruder"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("intruder: %v, want PermissionDenied", err)
	}
}
