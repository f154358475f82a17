package apiconfig

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Every preset, configured with the flags the READMEs show (the issuer
// host replaced by the in-process issuer), accepts its provider's token
// carrying the permission, refuses one without it, and refuses another
// client.
func TestProvidersAgainstOAuthtest(t *testing.T) {
	iss := oauthtest.NewT(t)
	u := iss.URL()
	cases := []struct {
		name     string
		args     []string
		provider oauthtest.Provider
		perm     oauthtest.ProviderToken // the allowed token's permission
	}{
		{"entra v2", []string{"-provider", "entra", "-tenant", oauthtest.DefaultEntraTenantID, "-audience", oauthtest.DefaultEntraAPIID,
			"-clients", oauthtest.DefaultEntraClientID, "-scope", "Orders.Read.All", "-entra-version", "2", "-instance", u},
			oauthtest.ProviderEntraV2, oauthtest.ProviderToken{Roles: []string{"Orders.Read.All"}}},
		{"entra v1 (both versions)", []string{"-provider", "entra", "-tenant", oauthtest.DefaultEntraTenantID, "-audience", oauthtest.DefaultEntraAPIID,
			"-app-id-uri", oauthtest.DefaultEntraAppIDURI, "-clients", oauthtest.DefaultEntraClientID, "-scope", "Orders.Read.All", "-instance", u},
			oauthtest.ProviderEntraV1, oauthtest.ProviderToken{Roles: []string{"Orders.Read.All"}}},
		{"b2c", []string{"-provider", "b2c", "-b2c-tenant", "contoso", "-tenant", oauthtest.DefaultB2CTenantID, "-b2c-policy", oauthtest.DefaultB2CPolicy,
			"-audience", "11111111-2222-3333-4444-555555555555", "-clients", "33333333-0000-0000-0000-000000000000", "-scope", "orders.read", "-instance", u},
			oauthtest.ProviderAzureB2C, oauthtest.ProviderToken{Scopes: []string{"orders.read"}}},
		{"auth0", []string{"-provider", "auth0", "-issuer", u + "/", "-audience", "https://api.example.com",
			"-clients", "Zk3mPq7RtY2vW9xB4nC6dF8gH1jK5lM0", "-scope", "orders.read"},
			oauthtest.ProviderAuth0, oauthtest.ProviderToken{Roles: []string{"orders.read"}}},
		{"okta", []string{"-provider", "okta", "-issuer", u + "/oauth2/default", "-audience", "api://default",
			"-clients", "0oa8acv8gbBPRCZ7I5d7", "-scope", "orders.read"},
			oauthtest.ProviderOkta, oauthtest.ProviderToken{Scopes: []string{"orders.read"}}},
		{"keycloak", []string{"-provider", "keycloak", "-issuer", u + "/realms/" + oauthtest.DefaultKeycloakRealm, "-audience", "orders-api",
			"-clients", "orders-worker", "-scope", "orders.read"},
			oauthtest.ProviderKeycloak, oauthtest.ProviderToken{Roles: []string{"orders.read"}}},
		{"cognito", []string{"-provider", "cognito", "-issuer", u + "/" + oauthtest.DefaultCognitoPoolID,
			"-clients", "3hq6k2examplecid0000000000", "-scope", "orders/read"},
			oauthtest.ProviderCognito, oauthtest.ProviderToken{Scopes: []string{"orders/read"}}},
		{"hydra", []string{"-provider", "hydra", "-issuer", u + "/", "-audience", "https://api.example.test",
			"-clients", "orders-worker", "-scope", "orders.read"},
			oauthtest.ProviderHydra, oauthtest.ProviderToken{Scopes: []string{"orders.read"}}},
		{"generic", []string{"-provider", "generic", "-issuer", u, "-audience", "https://api.example.test",
			"-clients", "e2e-client", "-scope", "orders.read"},
			oauthtest.ProviderRFC9068, oauthtest.ProviderToken{Scopes: []string{"orders.read"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-jwks-url", iss.JWKSURL()}, tc.args...)
			cfg, err := Parse("test", args, func(string) string { return "" }, "127.0.0.1:0", io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			v, _, stop, err := cfg.Verifier(ctx, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			mint := func(tok oauthtest.ProviderToken) string {
				s, err := iss.MintProvider(tc.provider, tok)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}

			p, err := v.Verify(ctx, mint(tc.perm))
			if err != nil {
				t.Fatalf("allowed token refused: %v", err)
			}
			if err := cfg.Requirement().Check(p); err != nil {
				t.Errorf("allowed token lacks the permission: %v", err)
			}

			other := tc.perm
			other.Scopes, other.Roles = nil, nil
			if tc.provider == oauthtest.ProviderEntraV2 || tc.provider == oauthtest.ProviderEntraV1 {
				other.Roles = []string{"Orders.Write.All"} // Entra refuses tokens without any permission
			} else if tc.provider == oauthtest.ProviderKeycloak {
				other.Roles = []string{"orders.write"}
			} else {
				other.Scopes = []string{"audit.read"}
			}
			p, err = v.Verify(ctx, mint(other))
			if err != nil {
				t.Fatalf("token without the permission: %v", err)
			}
			if err := cfg.Requirement().Check(p); !errors.Is(err, jwtverify.ErrInsufficientScope) {
				t.Errorf("token without the permission: %v, want insufficient_scope", err)
			}

			stranger := tc.perm
			stranger.ClientID = "00000000-0000-4000-8000-000000000099"
			if _, err := v.Verify(ctx, mint(stranger)); !errors.Is(err, jwtverify.ErrClient) {
				t.Errorf("another client: %v, want client", err)
			}
		})
	}
}

// Settings that cannot work are refused before anything starts, each with
// a message naming the flag.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-issuer", "https://op.example.com", "-audience", "a", "-clients", "c"}, "-scope"},
		{[]string{"-issuer", "https://op.example.com", "-audience", "a", "-scope", "s"}, "-clients"},
		{[]string{"-provider", "nope", "-scope", "s", "-clients", "c"}, "unknown -provider"},
		{[]string{"-provider", "entra", "-issuer", "https://login.microsoftonline.com/x/v2.0", "-scope", "s", "-clients", "c"}, "-tenant"},
		{[]string{"-provider", "cognito", "-issuer", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf", "-audience", "x", "-scope", "s", "-clients", "c"}, "no audience"},
		{[]string{"-provider", "okta", "-issuer", "http://okta.example.com/oauth2/default", "-audience", "api://default", "-scope", "s", "-clients", "c"}, "https"},
		{[]string{"-provider", "entra", "-entra-version", "3", "-tenant", oauthtest.DefaultEntraTenantID, "-audience", oauthtest.DefaultEntraAPIID, "-scope", "s", "-clients", "c"}, "-entra-version"},
	} {
		_, err := Parse("test", tc.args, func(string) string { return "" }, "127.0.0.1:0", io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}

// Flags take their defaults from the environment; flags win.
func TestEnvironment(t *testing.T) {
	env := map[string]string{"M2M_PROVIDER": "hydra", "M2M_ISSUER": "https://hydra.example.com/", "M2M_AUDIENCE": "https://api.example.com",
		"M2M_SCOPE": "orders.read, orders.list", "M2M_CLIENT_IDS": "a,b", "M2M_ADDR": ":9000"}
	cfg, err := Parse("test", []string{"-clients", "c"}, func(k string) string { return env[k] }, "127.0.0.1:8080", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Provider != "hydra" || cfg.Addr != ":9000" || strings.Join(cfg.Scopes, "|") != "orders.read|orders.list" || strings.Join(cfg.ClientIDs, "|") != "c" {
		t.Errorf("%+v", cfg)
	}
	if got := cfg.Requirement().String(); !strings.Contains(got, "orders.read") || !strings.Contains(got, "orders.list") {
		t.Errorf("requirement %s", got)
	}
}
