package profiles_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

// sample is one file of testdata/providers.
type sample struct {
	Provider  string         `json:"provider"`
	Header    map[string]any `json:"header"`
	HeaderRaw string         `json:"header_raw"`
	Claims    map[string]any `json:"claims"`
	Expect    struct {
		ClientID string   `json:"client_id"`
		TenantID string   `json:"tenant_id"`
		Scopes   []string `json:"scopes"`
		Deleg    []string `json:"delegated_scopes"`
		Roles    []string `json:"roles"`
		AppOnly  bool     `json:"app_only"`
	} `json:"expect"`
}

// sampleProfile configures the provider's profile for the sample's values
// against the test server s.
func sampleProfile(t *testing.T, s *oauthtest.Server, sm sample) profiles.Profile {
	keys := staticKeys(t, s, "")
	str := func(k string) string { v, _ := sm.Claims[k].(string); return v }
	switch sm.Provider {
	case "entra-v1", "entra-v2":
		o := profiles.EntraOptions{TenantID: str("tid"), ClientID: apiID, AppIDURI: "api://orders-api",
			ClientIDs: []string{sm.Expect.ClientID}, Instance: s.URL(), V1Instance: s.URL(), Keys: keys, Versions: profiles.EntraV2}
		if sm.Provider == "entra-v1" {
			o.Versions = profiles.EntraV1
		}
		ps, err := profiles.EntraID(o)
		if err != nil {
			t.Fatal(err)
		}
		return ps[0]
	case "azure-b2c":
		return mustProfile(t)(profiles.AzureB2C(profiles.AzureB2COptions{TenantName: "contoso", TenantID: oauthtest.DefaultB2CTenantID,
			Policy: str("tfp"), ClientID: str("aud"), ClientIDs: []string{sm.Expect.ClientID}, Instance: s.URL(), Keys: keys}))
	case "auth0":
		return mustProfile(t)(profiles.Auth0(profiles.Auth0Options{Issuer: s.URL() + "/", Audience: str("aud"),
			ClientIDs: []string{sm.Expect.ClientID}, Keys: keys}))
	case "okta":
		iss := str("iss")
		return mustProfile(t)(profiles.Okta(profiles.OktaOptions{Issuer: s.URL() + iss[strings.Index(iss, "/oauth2/"):],
			Audience: str("aud"), ClientIDs: []string{sm.Expect.ClientID}, Keys: keys}))
	case "keycloak":
		return mustProfile(t)(profiles.Keycloak(profiles.KeycloakOptions{URL: s.URL(), Realm: "acme",
			ClientIDs: []string{sm.Expect.ClientID}, RoleClients: []string{"orders-api"}, Keys: keys}))
	case "cognito":
		return mustProfile(t)(profiles.Cognito(profiles.CognitoOptions{Issuer: s.URL() + "/eu-west-1_AbCdEf",
			ClientIDs: []string{sm.Expect.ClientID}, Keys: keys}))
	case "hydra":
		return mustProfile(t)(profiles.Hydra(profiles.HydraOptions{Issuer: s.URL() + "/", Audience: "https://api.example.test",
			ClientIDs: []string{sm.Expect.ClientID}, Keys: keys}))
	case "rfc9068":
		return mustProfile(t)(profiles.RFC9068(profiles.RFC9068Options{Issuer: s.URL(), Audience: str("aud"),
			ClientIDs: []string{sm.Expect.ClientID}, Keys: keys}))
	}
	t.Fatalf("no profile for sample provider %q", sm.Provider)
	return profiles.Profile{}
}

// TestProviderSamples mints every testdata/providers sample (its header and
// claims, with the test server's issuer, key and current times) and checks
// the Principal its profile produces against the sample's expectations.
func TestProviderSamples(t *testing.T) {
	files, err := filepath.Glob("../testdata/providers/*.json")
	if err != nil || len(files) < 9 {
		t.Fatalf("samples: %v (%d files)", err, len(files))
	}
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var sm sample
		if err := json.Unmarshal(b, &sm); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if strings.TrimSuffix(filepath.Base(f), ".json") != sm.Provider {
			t.Errorf("%s: provider %q does not match the file name", f, sm.Provider)
		}
		seen[sm.Provider] = true
		t.Run(sm.Provider, func(t *testing.T) {
			s := newServer(t)
			p := sampleProfile(t, s, sm)
			kid := s.SigningKeyID()
			claims := map[string]any{}
			for k, v := range sm.Claims {
				claims[k] = v
			}
			claims["iss"] = p.Issuer
			// Fresh times from the server; drop the defaults the sample lacks.
			delete(claims, "iat")
			delete(claims, "exp")
			for _, k := range []string{"nbf", "aud", "sub", "client_id", "scope", "jti"} {
				if _, ok := sm.Claims[k]; !ok {
					claims[k] = nil
				}
			}
			if _, ok := sm.Claims["nbf"]; ok {
				delete(claims, "nbf")
			}
			opts := []oauthtest.MintOption{oauthtest.WithKeyID(kid), oauthtest.WithClaims(claims)}
			if sm.HeaderRaw != "" {
				raw := strings.Replace(sm.HeaderRaw, sm.Header["kid"].(string), kid, 1)
				opts = append(opts, oauthtest.WithRawHeader([]byte(raw)))
			} else {
				h := map[string]any{"typ": nil}
				for k, v := range sm.Header {
					h[k] = v
				}
				h["kid"] = kid
				opts = append(opts, oauthtest.WithHeader(h))
			}
			tok := s.MintT(t, opts...)
			v := newVerifier(t, p)
			pr := mustAccept(t, v, tok, want{client: sm.Expect.ClientID, tenant: sm.Expect.TenantID,
				scopes: sm.Expect.Scopes, delegated: sm.Expect.Deleg, roles: sm.Expect.Roles, appOnly: sm.Expect.AppOnly})
			if pr.Issuer() != p.Issuer {
				t.Errorf("Issuer() = %q, want %q", pr.Issuer(), p.Issuer)
			}
		})
	}
	for _, pr := range oauthtest.Providers() {
		if !seen[string(pr)] {
			t.Errorf("no testdata/providers sample for %s", pr)
		}
	}
}
