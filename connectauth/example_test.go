package connectauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/connectauth"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// A Connect service whose procedures demand permissions; undeclared ones
// are denied.
func Example() {
	iss, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer iss.Close()
	keys, err := jwkscache.New(context.Background(), jwkscache.Config{Name: "idp", Issuer: iss.Issuer()})
	if err != nil {
		panic(err)
	}
	defer keys.Close()
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "idp", Issuer: iss.Issuer(), Keys: keys,
		Audiences:  []string{"https://invoices.example.test"},
		ClientIDs:  []string{"billing-daemon"},
		Algorithms: []string{"RS256"},
	}}})
	if err != nil {
		panic(err)
	}

	const get, void = "/invoices.v1.Invoices/Get", "/invoices.v1.Invoices/Void"
	ic, err := connectauth.New(v, connectauth.Policy{Procedures: map[string]jwtverify.Requirement{
		get:  jwtverify.RequireAll("invoices.read"),
		void: jwtverify.RequireAnyRoles("Invoices.Admin"),
	}})
	if err != nil {
		panic(err)
	}
	if err := ic.CheckProcedures(get, void); err != nil {
		panic(err)
	}
	handler := func(ctx context.Context, req *connect.Request[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error) {
		p, _ := jwtverify.FromContext(ctx)
		return connect.NewResponse(wrapperspb.String("invoice " + req.Msg.GetValue() + " for " + p.ClientID())), nil
	}
	mux := http.NewServeMux()
	mux.Handle(get, connect.NewUnaryHandler(get, handler, connect.WithInterceptors(ic)))
	mux.Handle(void, connect.NewUnaryHandler(void, handler, connect.WithInterceptors(ic)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tok, err := iss.Mint(oauthtest.WithClaims(map[string]any{
		"aud": "https://invoices.example.test", "client_id": "billing-daemon", "scope": "invoices.read",
	}))
	if err != nil {
		panic(err)
	}
	for _, proc := range []string{get, void} {
		req := connect.NewRequest(wrapperspb.String("42"))
		req.Header().Set("Authorization", "Bearer "+tok)
		client := connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](srv.Client(), srv.URL+proc)
		resp, err := client.CallUnary(context.Background(), req)
		if err != nil {
			fmt.Println(connect.CodeOf(err), err.(*connect.Error).Meta().Get("WWW-Authenticate"))
			continue
		}
		fmt.Println(resp.Msg.GetValue())
	}
	// Output:
	// invoice 42 for billing-daemon
	// permission_denied Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the permissions this request requires", scope="Invoices.Admin"
}
