package profiletest_test

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/oauthtest/profiletest"
	"github.com/m2mauth/m2mauth/profiles"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	tenant  = "0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"
	apiID   = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
	caller  = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
	b2cTID  = "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901"
	partner = "3c4d5e6f-7081-4293-a4b5-c6d7e8f90a1b"
)

// production profiles, configured as for the real providers (https hosts
// that tests never reach): the wiring must not need any test-only option.
func productionProfiles(t *testing.T) map[string]profiles.Profile {
	t.Helper()
	must := func(p profiles.Profile, err error) profiles.Profile {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	entra, err := profiles.EntraID(profiles.EntraOptions{TenantID: tenant, ClientID: apiID, AppIDURI: "api://orders",
		ClientIDs: []string{caller}})
	if err != nil {
		t.Fatal(err)
	}
	multi, err := profiles.EntraID(profiles.EntraOptions{AllowedTenants: []string{partner}, ClientID: apiID,
		ClientIDs: []string{caller}, Versions: profiles.EntraV2, Name: "entra-multi"})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]profiles.Profile{
		"entra-v1":    entra[0],
		"entra-v2":    entra[1],
		"entra-multi": multi[0],
		"azure-b2c": must(profiles.AzureB2C(profiles.AzureB2COptions{TenantName: "contoso", TenantID: b2cTID,
			Policy: "B2C_1_client", ClientID: "orders-api-client", ClientIDs: []string{"daemon-client"}})),
		"auth0": must(profiles.Auth0(profiles.Auth0Options{Domain: "acme.eu.auth0.com", Audience: "https://orders.example.com",
			ClientIDs: []string{"Zk3mPq7RtY2vW9xB4nC6dF8gH1jK5lMx"}})),
		"okta": must(profiles.Okta(profiles.OktaOptions{Issuer: "https://acme.okta.com/oauth2/default", Audience: "api://orders",
			ClientIDs: []string{"0oa1b2c3d4e5f6g7h8i9"}})),
		"keycloak": must(profiles.Keycloak(profiles.KeycloakOptions{URL: "https://kc.example.com", Realm: "prod",
			Audience: "orders-api", ClientIDs: []string{"orders-worker"}})),
		"cognito": must(profiles.Cognito(profiles.CognitoOptions{UserPoolID: "eu-central-1_Xy12Ab", ClientIDs: []string{"5f6g7h8i9j0k1l2m3n4o5p6q7r"}})),
		"hydra": must(profiles.Hydra(profiles.HydraOptions{Issuer: "https://auth.example.com/", Audience: "https://orders.example.com",
			ClientIDs: []string{"orders-worker"}})),
		"rfc9068": must(profiles.RFC9068(profiles.RFC9068Options{Issuer: "https://as.example.com", Audience: "https://orders.example.com",
			ClientIDs: []string{"orders-worker"}})),
	}
}

// Issue 15: one call points any profile at a test server. A token minted
// through the wiring verifies with the profile's own rules; tokens signed
// elsewhere (another server, or a forged signature under our kid) are
// refused.
func TestEveryProviderWired(t *testing.T) {
	is := oauthtest.NewT(t)
	other := oauthtest.NewT(t)
	for name, p := range productionProfiles(t) {
		t.Run(name, func(t *testing.T) {
			foreignProfile := p
			w := profiletest.NewT(t, is, &p)
			if p.Keys != w.Keys {
				t.Fatal("profile keys not wired")
			}
			v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(p), Cache: jwtverify.CacheConfig{Disabled: true}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			tok := w.MintT(t, oauthtest.ProviderToken{Scopes: []string{"orders.read"}, Roles: []string{"Orders.Read"},
				Claims: map[string]any{"idtyp": "app"}})
			pr, err := v.Verify(ctx, tok)
			if err != nil {
				t.Fatalf("wired token refused: %v", err)
			}
			if len(p.ClientIDs) > 0 && pr.ClientID() != p.ClientIDs[0] {
				t.Fatalf("client %q", pr.ClientID())
			}
			if pr.Issuer() == "" || pr.Issuer() != w.TokenIssuer() {
				t.Fatalf("issuer %q", pr.Issuer())
			}

			// The same token from another server: its kid is unknown here.
			f := profiletest.NewT(t, other, &foreignProfile)
			foreign := f.MintT(t, oauthtest.ProviderToken{Roles: []string{"Orders.Read"}, Claims: map[string]any{"idtyp": "app"}})
			if _, err := v.Verify(ctx, foreign); !errors.Is(err, jwtverify.ErrUnknownKey) {
				t.Fatalf("foreign token: %v", err)
			}
			forged := w.MintT(t, oauthtest.ProviderToken{Roles: []string{"Orders.Read"}, Claims: map[string]any{"idtyp": "app"}},
				oauthtest.WithUntrustedKey("RS256"), oauthtest.WithKeyID(is.SigningKeyID()))
			if _, err := v.Verify(ctx, forged); !errors.Is(err, jwtverify.ErrBadSignature) {
				t.Fatalf("forged token: %v", err)
			}
		})
	}
}

func TestUnknownProvider(t *testing.T) {
	is := oauthtest.NewT(t)
	if _, err := profiletest.New(context.Background(), is, &profiles.Profile{Provider: "acme"}); !errors.Is(err, profiletest.ErrUnknownProvider) {
		t.Fatalf("err = %v", err)
	}
}
