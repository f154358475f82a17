package grpcauth_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
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

// exampleVerifier trusts the in-process issuer iss. In production the key
// source is the cache of your provider's JWKS.
func exampleVerifier(iss *oauthtest.Server) (*jwtverify.Verifier, error) {
	kid := iss.SigningKeyID()
	pub, _ := iss.PublicKey(kid)
	key, err := jwkscache.NewKey(kid, "RS256", pub)
	if err != nil {
		return nil, err
	}
	return jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name:       "example",
		Issuer:     iss.Issuer(),
		Keys:       jwkscache.NewStatic("example", key),
		Audiences:  []string{"api://echo"},
		ClientIDs:  []string{"billing"},
		Algorithms: []string{"RS256"},
	}}})
}

// A gRPC server protecting every method of test.v1.Echo (a small
// hand-written service) with a scope, one method with another, and
// leaving the health service open.
func Example() {
	iss, err := oauthtest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer iss.Close()
	iss.RegisterClient(oauthtest.Client{ID: "billing", Secret: "s3cret", Scopes: []string{"echo.read"}, Audiences: []string{"api://echo"}})
	v, err := exampleVerifier(iss)
	if err != nil {
		log.Fatal(err)
	}

	auth, err := grpcauth.New(v, grpcauth.Policy{
		Methods: map[string]jwtverify.Requirement{
			"/test.v1.Echo/*":     jwtverify.RequireAll("echo.read"),
			"/test.v1.Echo/Write": jwtverify.RequireAll("echo.write"),
		},
		// Anything else is denied (Default: grpcauth.DefaultDeny).
	}.ExemptHealth().ExemptReflection())
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(
		// Serve with TLS in production: grpc.Creds(credentials.NewTLS(...)).
		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
	)
	srv.RegisterService(&echoDesc, nil)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	// The client: a real one gets its token with
	// golang.org/x/oauth2/clientcredentials and sends it with
	// grpc.WithPerRPCCredentials(oauth.TokenSource{...}) over TLS.
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := iss.Mint(oauthtest.WithClient("billing"))
	if err != nil {
		log.Fatal(err)
	}
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)

	call := func(ctx context.Context, method string) {
		out := new(wrapperspb.StringValue)
		err := conn.Invoke(ctx, method, wrapperspb.String("hi"), out)
		if err == nil {
			fmt.Printf("%s: OK %q\n", method, out.GetValue())
			return
		}
		st := status.Convert(err)
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok {
				fmt.Printf("%s: %v %s", method, st.Code(), info.GetReason())
				if m := info.GetMetadata()[grpcauth.MetadataMissing]; m != "" {
					fmt.Printf(" (missing %s)", m)
				}
				fmt.Println()
			}
		}
	}
	call(authed, "/test.v1.Echo/Whoami")
	call(authed, "/test.v1.Echo/Write")
	call(ctx, "/test.v1.Echo/Whoami")
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	fmt.Println("health without a token:", res.GetStatus(), err)

	// Output:
	// /test.v1.Echo/Whoami: OK "billing echo.read"
	// /test.v1.Echo/Write: PermissionDenied INSUFFICIENT_SCOPE (missing echo.write)
	// /test.v1.Echo/Whoami: Unauthenticated MISSING_TOKEN
	// health without a token: SERVING <nil>
}

// New refuses a policy with mistakes and names every one.
func ExampleNew_policyErrors() {
	iss, err := oauthtest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer iss.Close()
	v, err := exampleVerifier(iss)
	if err != nil {
		log.Fatal(err)
	}
	_, err = grpcauth.New(v, grpcauth.Policy{
		Methods: map[string]jwtverify.Requirement{
			"/orders.v1.Orders/Get": jwtverify.RequireAll("orders.read"),
		},
		Public: []string{"/orders.v1.Orders/Get", "orders.v1.Orders/*"},
	})
	fmt.Println(err)
	fmt.Println(errors.Is(err, grpcauth.ErrConflictingRule), errors.Is(err, grpcauth.ErrInvalidPattern))
	// Output:
	// grpcauth: conflicting policy rules "/orders.v1.Orders/Get" in Methods+Public: a pattern belongs to one list only
	// grpcauth: invalid method pattern "orders.v1.Orders/*" in Public: must start with "/"
	// true true
}

// Check compares a policy with the services a server registers: a typo
// is an error, and the methods left to the default are listed.
func ExamplePolicy_Check() {
	srv := grpc.NewServer()
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "orders.v1.Orders",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "List", Handler: nil},
			{MethodName: "Get", Handler: nil},
			{MethodName: "Cancel", Handler: nil},
		},
	}, nil)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	defaulted, err := grpcauth.Policy{
		Methods: map[string]jwtverify.Requirement{
			"/orders.v1.Orders/Lsit": jwtverify.RequireAll("orders.read"),
			"/orders.v1.Orders/Get":  jwtverify.RequireAll("orders.read"),
		},
	}.ExemptHealth().ExemptReflection().Check(srv)
	fmt.Println(err)
	fmt.Println(errors.Is(err, grpcauth.ErrUnknownMethod), defaulted)
	// Output:
	// grpcauth: policy names a method the server does not register "/orders.v1.Orders/Lsit" in Methods: no such method is registered
	// true [/orders.v1.Orders/Cancel /orders.v1.Orders/List]
}
