package grpcmiddleware_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// greeterDesc is a small hand-written service over wrapperspb messages:
// Hello answers with the caller's client ID.
var greeterDesc = grpc.ServiceDesc{
	ServiceName: "demo.v1.Greeter",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Hello",
		Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, _ any) (any, error) {
				p, ok := jwtverify.FromContext(ctx)
				if !ok {
					return wrapperspb.String("hello, stranger"), nil
				}
				return wrapperspb.String("hello, " + p.ClientID()), nil
			}
			if ic == nil {
				return h(ctx, in)
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/demo.v1.Greeter/Hello"}, h)
		},
	}},
	Streams: []grpc.StreamDesc{{
		// Hellos answers twice on a server stream, from the stream's
		// context: go-grpc-middleware's auth wraps the stream with the
		// context the AuthFunc returned.
		StreamName: "Hellos", ServerStreams: true,
		Handler: func(_ any, s grpc.ServerStream) error {
			if err := s.RecvMsg(new(wrapperspb.StringValue)); err != nil {
				return err
			}
			p, ok := jwtverify.FromContext(s.Context())
			if !ok {
				return status.Error(codes.Internal, "no principal")
			}
			for range 2 {
				if err := s.SendMsg(wrapperspb.String("hello, " + p.ClientID())); err != nil {
					return err
				}
			}
			return nil
		},
	}},
}

// server starts a gRPC server on 127.0.0.1 whose authentication is
// go-grpc-middleware's auth interceptor calling grpcauth's AuthFunc, with
// the health service skipped by go-grpc-middleware's selector.
func server(ic *grpcauth.Interceptor) (addr string, stop func(), err error) {
	authFn := ic.AuthFunc()
	notHealth := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return c.Service != healthpb.Health_ServiceDesc.ServiceName
	})
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(authFn), notHealth)),
		grpc.ChainStreamInterceptor(selector.StreamServerInterceptor(auth.StreamServerInterceptor(authFn), notHealth)),
	)
	srv.RegisterService(&greeterDesc, nil)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	return lis.Addr().String(), func() { hs.Shutdown(); srv.Stop(); <-done }, nil
}

// grpcauthStreamServer is server with grpcauth's own stream interceptor
// behind the selector, so streams end with their token (the package doc's
// alternative for streaming methods).
func grpcauthStreamServer(ic *grpcauth.Interceptor) (addr string, stop func(), err error) {
	authFn := ic.AuthFunc()
	notHealth := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return c.Service != healthpb.Health_ServiceDesc.ServiceName
	})
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(authFn), notHealth)),
		grpc.ChainStreamInterceptor(selector.StreamServerInterceptor(ic.StreamServerInterceptor(), notHealth)),
	)
	srv.RegisterService(&greeterDesc, nil)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	return lis.Addr().String(), func() { hs.Shutdown(); srv.Stop(); <-done }, nil
}

// newInterceptor trusts the in-process issuer iss and requires "greet" on
// the Greeter. Health is not exempt in the policy: the selector skips it.
func newInterceptor(iss *oauthtest.Server) (*grpcauth.Interceptor, error) {
	kid := iss.SigningKeyID()
	pub, _ := iss.PublicKey(kid)
	key, err := jwkscache.NewKey(kid, "RS256", pub)
	if err != nil {
		return nil, err
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name:       "example",
		Issuer:     iss.Issuer(),
		Keys:       jwkscache.NewStatic("example", key),
		Audiences:  []string{"api://greeter"},
		ClientIDs:  []string{"friend", "intruder"},
		Algorithms: []string{"RS256"},
	}}})
	if err != nil {
		return nil, err
	}
	return grpcauth.New(v, grpcauth.Policy{
		Methods: map[string]jwtverify.Requirement{
			"/demo.v1.Greeter/*": jwtverify.RequireAll("greet"),
		},
	})
}

func Example() {
	iss, err := oauthtest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer iss.Close()
	iss.RegisterClient(oauthtest.Client{ID: "friend", Secret: "s1", Scopes: []string{"greet"}, Audiences: []string{"api://greeter"}})
	iss.RegisterClient(oauthtest.Client{ID: "intruder", Secret: "s2", Scopes: []string{"other"}, Audiences: []string{"api://greeter"}})
	ic, err := newInterceptor(iss)
	if err != nil {
		log.Fatal(err)
	}
	addr, stop, err := server(ic)
	if err != nil {
		log.Fatal(err)
	}
	defer stop()

	// Use TLS and grpc/credentials/oauth in production.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	hello := func(client string) {
		callCtx := ctx
		if client != "" {
			tok, err := iss.Mint(oauthtest.WithClient(client))
			if err != nil {
				log.Fatal(err)
			}
			callCtx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
		}
		out := new(wrapperspb.StringValue)
		if err := conn.Invoke(callCtx, "/demo.v1.Greeter/Hello", wrapperspb.String(""), out); err != nil {
			st := status.Convert(err)
			for _, d := range st.Details() {
				if info, ok := d.(*errdetails.ErrorInfo); ok {
					fmt.Printf("%q: %v %s\n", client, st.Code(), info.GetReason())
				}
			}
			return
		}
		fmt.Printf("%q: %s\n", client, out.GetValue())
	}
	hello("friend")
	hello("intruder")
	hello("")
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	fmt.Println("health, skipped by the selector:", res.GetStatus(), err)

	// Output:
	// "friend": hello, friend
	// "intruder": PermissionDenied INSUFFICIENT_SCOPE
	// "": Unauthenticated MISSING_TOKEN
	// health, skipped by the selector: SERVING <nil>
}
