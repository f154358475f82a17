package profiletest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/oauthtest/profiletest"
	"github.com/m2mauth/m2mauth/profiles"
)

// Testing an Entra-protected API: the profile is built as in production,
// one call points it at the test server. The README's "Testing your API"
// section mirrors this example.
func Example() {
	const tenantID, apiAppID, daemonAppID = "72f988bf-86f1-41af-91ab-2d7cd011db47", "6e74172b-be56-4843-9ff4-e66a39bb12e3", "75dbe77f-10a3-4e59-85fd-8c127544f17c"
	ctx := context.Background()

	is, err := oauthtest.New()
	check(err)
	defer is.Close()
	ps, err := profiles.EntraID(profiles.EntraOptions{TenantID: tenantID, ClientID: apiAppID,
		ClientIDs: []string{daemonAppID}, Versions: profiles.EntraV2})
	check(err)
	entra, err := profiletest.New(ctx, is, &ps[0]) // keys from is
	check(err)
	defer entra.Close()
	v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(ps...)})
	check(err)
	tok, err := entra.Mint(oauthtest.ProviderToken{Roles: []string{"Orders.Read"}})
	check(err)

	mw, err := middleware.New(v)
	if err != nil {
		panic(err)
	}
	api := mw.Handler(mw.Require(jwtverify.RequireAllRoles("Orders.Read"))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := jwtverify.FromContext(r.Context())
			fmt.Fprintf(w, "orders for %s", p.ClientID())
		})))

	call := func(tok string) {
		req := httptest.NewRequest(http.MethodGet, "/orders", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Body.String())
	}
	writer, _ := entra.Mint(oauthtest.ProviderToken{Roles: []string{"Orders.Write"}})
	call(tok)
	call(writer)
	// Output:
	// 200 orders for 75dbe77f-10a3-4e59-85fd-8c127544f17c
	// 403 {"error":"insufficient_scope","error_description":"The access token lacks the permissions this request requires"}
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}
