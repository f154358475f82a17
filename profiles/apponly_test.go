package profiles_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

// TestAppOnlyClassification: each provider's user tokens are not app-only,
// its client-credentials tokens are.
func TestAppOnlyClassification(t *testing.T) {
	s := newServer(t)
	keys := staticKeys(t, s, "")
	type tc struct {
		name string
		tok  oauthtest.ProviderToken
		app  bool
	}
	cases := []struct {
		pr    oauthtest.Provider
		prof  profiles.Profile
		cases []tc
	}{
		{oauthtest.ProviderAuth0, mustProfile(t)(profiles.Auth0(profiles.Auth0Options{Issuer: s.ProviderIssuer(oauthtest.ProviderAuth0, ""),
			Audience: "https://api.example.com", AllowAnyClient: true, Keys: keys})), []tc{
			{"m2m", oauthtest.ProviderToken{}, true},
			{"no gty, sub @clients", oauthtest.ProviderToken{Claims: map[string]any{"gty": nil}}, true},
			{"user", oauthtest.ProviderToken{Subject: "auth0|64f1", Claims: map[string]any{"gty": nil}}, false},
			{"password grant", oauthtest.ProviderToken{Subject: "auth0|64f1", Claims: map[string]any{"gty": "password"}}, false},
		}},
		{oauthtest.ProviderAzureB2C, mustProfile(t)(profiles.AzureB2C(profiles.AzureB2COptions{TenantName: "contoso", TenantID: oauthtest.DefaultB2CTenantID,
			Policy: oauthtest.DefaultB2CPolicy, ClientID: b2cAPI, AllowAnyClient: true, Instance: s.URL(), Keys: keys})), []tc{
			{"m2m", oauthtest.ProviderToken{}, true},
			{"user flow", oauthtest.ProviderToken{Claims: map[string]any{"auth_time": 1790000000}}, false},
			{"idtyp app", oauthtest.ProviderToken{Claims: map[string]any{"auth_time": 1790000000, "idtyp": "app"}}, true},
			{"idtyp user", oauthtest.ProviderToken{Claims: map[string]any{"idtyp": "user"}}, false},
		}},
		{oauthtest.ProviderCognito, mustProfile(t)(profiles.Cognito(profiles.CognitoOptions{Issuer: s.ProviderIssuer(oauthtest.ProviderCognito, ""),
			ClientIDs: []string{"3hq6k2examplecid0000000000"}, Keys: keys})), []tc{
			{"m2m", oauthtest.ProviderToken{}, true},
			{"user", oauthtest.ProviderToken{Subject: "5b6c7d8e-user", Claims: map[string]any{"username": "jane"}}, false},
			{"user without username", oauthtest.ProviderToken{Subject: "5b6c7d8e-user"}, false},
		}},
		{oauthtest.ProviderKeycloak, mustProfile(t)(profiles.Keycloak(profiles.KeycloakOptions{Issuer: s.ProviderIssuer(oauthtest.ProviderKeycloak, ""),
			ClientIDs: []string{"orders-worker"}, Keys: keys})), []tc{
			{"service account", oauthtest.ProviderToken{}, true},
			{"pre-2023 clientId", oauthtest.ProviderToken{Claims: map[string]any{"client_id": nil, "clientId": "orders-worker", "preferred_username": "x"}}, true},
			{"username only", oauthtest.ProviderToken{Claims: map[string]any{"client_id": nil}}, true},
			{"user", oauthtest.ProviderToken{Claims: map[string]any{"client_id": nil, "clientHost": nil, "preferred_username": "jane", "sid": "s1"}}, false},
		}},
		{oauthtest.ProviderHydra, mustProfile(t)(profiles.Hydra(profiles.HydraOptions{Issuer: s.ProviderIssuer(oauthtest.ProviderHydra, ""),
			Audience: "https://api.example.test", AllowAnyClient: true, Keys: keys})), []tc{
			{"m2m", oauthtest.ProviderToken{}, true},
			{"user", oauthtest.ProviderToken{Subject: "jane"}, false},
		}},
		{oauthtest.ProviderRFC9068, mustProfile(t)(profiles.RFC9068(profiles.RFC9068Options{Issuer: s.ProviderIssuer(oauthtest.ProviderRFC9068, ""),
			Audience: "https://api.example.test", AllowAnyClient: true, Keys: keys})), []tc{
			{"m2m", oauthtest.ProviderToken{}, true},
			{"user", oauthtest.ProviderToken{Subject: "jane"}, false},
		}},
	}
	for _, c := range cases {
		v := newVerifier(t, c.prof)
		for _, k := range c.cases {
			t.Run(string(c.pr)+"/"+k.name, func(t *testing.T) {
				p, err := verify(t, v, s.MintProviderT(t, c.pr, k.tok))
				if err != nil {
					t.Fatal(err)
				}
				if p.AppOnly() != k.app {
					t.Errorf("AppOnly = %v, want %v", p.AppOnly(), k.app)
				}
			})
		}
	}
}

func TestEntraVersionClaimChecked(t *testing.T) {
	s := newServer(t)
	v := newVerifier(t, entra(t, s, profiles.EntraOptions{TenantID: tenantA, Versions: profiles.EntraV2})...)
	mustReject(t, v, s.MintProviderT(t, oauthtest.ProviderEntraV2, oauthtest.ProviderToken{Roles: []string{"r"},
		Claims: map[string]any{"ver": "1.0"}}), jwtverify.ErrType)
	// No ver claim at all is tolerated (the issuer already tells the version).
	mustAccept(t, v, s.MintProviderT(t, oauthtest.ProviderEntraV2, oauthtest.ProviderToken{Roles: []string{"r"},
		Claims: map[string]any{"ver": nil}}), want{client: caller, tenant: tenantA, scopes: []string{"r"}, roles: []string{"r"}, appOnly: true})
}

func TestConfigErrorText(t *testing.T) {
	_, err := profiles.Okta(profiles.OktaOptions{Issuer: "https://acme.okta.com", Audience: "a", AllowAnyClient: true})
	var ce *profiles.ConfigError
	if !errors.As(err, &ce) || ce.Provider != "okta" || ce.Field != "Issuer" {
		t.Fatalf("err = %#v", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "profiles: okta: Issuer: ") || !strings.Contains(msg, "org authorization server") {
		t.Errorf("message %q", msg)
	}
	if got := profiles.DefaultAlgorithms(); len(got) != 1 || got[0] != "RS256" {
		t.Errorf("DefaultAlgorithms = %q", got)
	}
	got := profiles.DefaultAlgorithms()
	got[0] = "none"
	if profiles.DefaultAlgorithms()[0] != "RS256" {
		t.Error("DefaultAlgorithms returned shared storage")
	}
}
