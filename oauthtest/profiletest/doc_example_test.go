package profiletest_test

import (
	"context"
	"testing"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/oauthtest/profiletest"
	"github.com/m2mauth/m2mauth/profiles"
)

// TestPackageDoc runs the package doc's wiring (TestSnippetsCompile in the
// root package checks that the doc's lines stand here): the token minted
// for the Entra v2.0 profile verifies with that profile, its role included.
func TestPackageDoc(t *testing.T) {
	const tenant, apiID, callerID = "72f988bf-86f1-41af-91ab-2d7cd011db47", "6e74172b-be56-4843-9ff4-e66a39bb12e3", "75dbe77f-10a3-4e59-85fd-8c127544f17c"
	is := oauthtest.NewT(t)
	ps, _ := profiles.EntraID(profiles.EntraOptions{TenantID: tenant, ClientID: apiID, ClientIDs: []string{callerID}})
	entra := profiletest.NewT(t, is, &ps[1]) // the v2.0 profile
	v, _ := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(ps[1])})
	tok := entra.MintT(t, oauthtest.ProviderToken{Roles: []string{"Orders.Read"}})
	if entra == nil || v == nil {
		t.Fatal("the doc's wiring returned nil")
	}
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.ClientID() != callerID || jwtverify.RequireAllRoles("Orders.Read").Check(p) != nil {
		t.Fatalf("principal %q, roles %v", p.ClientID(), p.Roles())
	}
}
