package grpcauth_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestOpaqueTokenOverGRPC: a jwt-or-introspect issuer over real gRPC: an
// opaque token is introspected and its scopes enforced by the policy, a
// JWT goes through the JWT pipeline, a JWT with a bad signature is refused
// without any introspection call, and an outage answers a new opaque
// token Unavailable while the cached one keeps working.
func TestOpaqueTokenOverGRPC(t *testing.T) {
	iss := oauthtest.NewT(t, oauthtest.WithKeyAlgs("ES256"))
	iss.RegisterClient(oauthtest.Client{ID: readerID, Secret: readerSecret, Scopes: []string{"echo.read"}, Audiences: []string{audience}})
	iss.RegisterClient(oauthtest.Client{ID: writerID, Secret: writerSecret, Scopes: []string{"echo.read", "echo.write"}, Audiences: []string{audience}})
	iss.SetOpaqueClient(readerID, oauthtest.OpaqueRandom)
	iss.RegisterIntrospectionClient(oauthtest.IntrospectionClient{ID: "api", Secret: "api-secret"})
	tr := &http.Transport{}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	src, err := introspect.New(introspect.Config{
		Issuer: iss.Issuer(), Endpoint: iss.IntrospectionURL(), HTTPClient: hc,
		Auth:      introspect.ClientAuth{Method: introspect.AuthClientSecretPost, ClientID: "api", ClientSecret: "api-secret"},
		Audiences: []string{audience}, ClientIDs: []string{readerID, writerID},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	keys, err := jwkscache.New(context.Background(), jwkscache.Config{Name: "oauthtest", Issuer: iss.Issuer(), HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = keys.Close() })
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "oauthtest", Issuer: iss.Issuer(), Keys: keys, Algorithms: []string{"ES256"},
		Mode: jwtverify.ModeJWTOrIntrospect, Introspection: src,
		Audiences: []string{audience}, ClientIDs: []string{readerID, writerID},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ic, err := grpcauth.New(v, testPolicy(), grpcauth.WithObserver(rec))
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(ic.UnaryServerInterceptor()))
	srv.RegisterService(&echoDesc, nil)
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
	call := func(method, tok string) (string, error) {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
		out := new(wrapperspb.StringValue)
		err := conn.Invoke(ctx, "/test.v1.Echo/"+method, wrapperspb.String("x"), out)
		return out.GetValue(), err
	}
	opaque, err := iss.MintOpaque(readerID)
	if err != nil {
		t.Fatal(err)
	}
	if who, err := call("Whoami", opaque); err != nil || who != readerID+" echo.read" {
		t.Fatalf("opaque Whoami: %q %v", who, err)
	}
	_, err = call("Write", opaque)
	wantStatus(t, err, codes.PermissionDenied, grpcauth.InfoInsufficientScope)

	jwt := iss.MintT(t, oauthtest.WithClient(writerID))
	if _, err := call("Write", jwt); err != nil {
		t.Fatalf("JWT Write: %v", err)
	}
	bad := iss.MintT(t, oauthtest.WithClient(writerID), oauthtest.WithSignatureFunc(func(_ string, sig []byte) []byte { sig[3] ^= 1; return sig }))
	_, err = call("Write", bad)
	wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoInvalidToken)
	if n := iss.Requests(oauthtest.EndpointIntrospect); n != 1 {
		t.Fatalf("%d introspection calls, want 1 (the opaque token only)", n)
	}

	iss.SetFault(oauthtest.EndpointIntrospect, oauthtest.Fault{Status: http.StatusServiceUnavailable})
	if _, err := call("Whoami", opaque); err != nil {
		t.Fatalf("cached opaque token during the outage: %v", err)
	}
	fresh, _ := iss.MintOpaque(readerID)
	_, err = call("Whoami", fresh)
	wantStatus(t, err, codes.Unavailable, grpcauth.InfoIntrospectionUnavailable)
	evs := rec.take()
	last := evs[len(evs)-1]
	if last.Result != jwtverify.DecisionUnavailable || last.Reason != jwtverify.ReasonIntrospectionUnavailable || last.Rule != "endpoint_down" {
		t.Fatalf("decision %+v", last)
	}
}
