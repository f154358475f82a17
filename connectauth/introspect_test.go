package connectauth_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/m2mauth/m2mauth/adaptertest"
	"github.com/m2mauth/m2mauth/connectauth"
	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestIntrospectionUnavailable: an opaque token is accepted by
// introspection, and while the introspection endpoint is down a new one is
// answered unavailable with INTROSPECTION_UNAVAILABLE (not
// KEYS_UNAVAILABLE: the keys are fine), the cached one still accepted.
func TestIntrospectionUnavailable(t *testing.T) {
	const aud, reader = "api://connect", "reader"
	iss := oauthtest.NewT(t, oauthtest.WithKeyAlgs("ES256"))
	iss.RegisterClient(oauthtest.Client{ID: reader, Secret: "s", Scopes: []string{adaptertest.OrdersScope}, Audiences: []string{aud}})
	iss.SetOpaqueClient(reader, oauthtest.OpaqueRandom)
	iss.RegisterIntrospectionClient(oauthtest.IntrospectionClient{ID: "api", Secret: "api-secret"})
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	src, err := introspect.New(introspect.Config{
		Issuer: iss.Issuer(), Endpoint: iss.IntrospectionURL(), HTTPClient: &http.Client{Transport: tr, Timeout: 10 * time.Second},
		Auth:      introspect.ClientAuth{Method: introspect.AuthClientSecretBasic, ClientID: "api", ClientSecret: "api-secret"},
		Audiences: []string{aud}, ClientIDs: []string{reader},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "oauthtest", Issuer: iss.Issuer(), Mode: jwtverify.ModeIntrospect, Introspection: src,
		Audiences: []string{aud}, ClientIDs: []string{reader},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ic, err := connectauth.New(v, connectauth.Policy{Procedures: map[string]jwtverify.Requirement{
		adaptertest.MethodOrders: jwtverify.RequireAll(adaptertest.OrdersScope),
	}})
	if err != nil {
		t.Fatal(err)
	}
	call := client(startServer(t, probeMux(ic), true), connect.WithGRPC())
	do := func(tok string) error {
		_, err := call(context.Background(), adaptertest.MethodOrders, metadata.MD{"authorization": {"Bearer " + tok}})
		return err
	}
	cached, err := iss.MintOpaque(reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := do(cached); err != nil {
		t.Fatalf("opaque token: %v", err)
	}
	iss.SetFault(oauthtest.EndpointIntrospect, oauthtest.Fault{Status: http.StatusServiceUnavailable})
	if err := do(cached); err != nil {
		t.Fatalf("cached opaque token during the outage: %v", err)
	}
	fresh, err := iss.MintOpaque(reader)
	if err != nil {
		t.Fatal(err)
	}
	st := status.Convert(do(fresh))
	info := ""
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			info = ei.GetReason()
		}
	}
	if st.Code() != codes.Unavailable || info != connectauth.InfoIntrospectionUnavailable {
		t.Fatalf("new opaque token during the outage: %v %q", st.Code(), info)
	}
}
