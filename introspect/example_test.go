package introspect_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// An in-process issuer hands out opaque tokens; the API introspects them
// with client_secret_basic.
func Example() {
	srv, err := oauthtest.New(oauthtest.WithKeyAlgs("ES256"))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.RegisterClient(oauthtest.Client{ID: "billing-batch", Secret: "s", Scopes: []string{"invoices:read"}})
	srv.SetOpaqueClient("billing-batch", oauthtest.OpaqueRandom)
	srv.RegisterIntrospectionClient(oauthtest.IntrospectionClient{ID: "invoice-api", Secret: "api-secret"})

	src, err := introspect.New(introspect.Config{
		Issuer: srv.Issuer(), // the endpoint is discovered
		Auth: introspect.ClientAuth{
			Method: introspect.AuthClientSecretBasic, ClientID: "invoice-api", ClientSecret: "api-secret",
		},
		Audiences: []string{oauthtest.DefaultAudience},
		ClientIDs: []string{"billing-batch"},
	})
	if err != nil {
		panic(err)
	}
	defer src.Close()

	tok, _ := srv.MintOpaque("billing-batch")
	res, err := src.Introspect(context.Background(), tok)
	fmt.Println(res.ClientID(), res.Scopes(), err)

	srv.Revoke(tok)
	_, err = src.Introspect(context.Background(), tok)
	fmt.Println("revoked, still cached:", err == nil)

	_, err = src.Introspect(context.Background(), "junk with spaces")
	var ie *introspect.Error
	fmt.Println(errors.As(err, &ie), ie.Reason, errors.Is(err, introspect.ErrInvalid))
	// Output:
	// billing-batch [invoices:read] <nil>
	// revoked, still cached: true
	// true malformed true
}
