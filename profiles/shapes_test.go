package profiles_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/m2mauth/m2mauth/oauthtest"
)

func decodeSeg(t *testing.T, seg string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOAuthtestProviderShapes pins the provider shapes oauthtest mints: the
// details the profiles must cope with.
func TestOAuthtestProviderShapes(t *testing.T) {
	s := newServer(t)
	kid := s.SigningKeyID()
	type shape struct {
		header  map[string]any
		absentH []string
		claims  map[string]any
		absentC []string
		rawHdr  string
	}
	cases := map[oauthtest.Provider]shape{
		oauthtest.ProviderEntraV1: {header: map[string]any{"typ": "JWT", "kid": kid}, claims: map[string]any{
			"ver": "1.0", "appid": oauthtest.DefaultEntraClientID, "aud": oauthtest.DefaultEntraAppIDURI, "idtyp": "app",
			"tid": oauthtest.DefaultEntraTenantID, "iss": s.URL() + "/" + oauthtest.DefaultEntraTenantID + "/"},
			absentC: []string{"azp", "scp", "client_id", "scope", "roles"}},
		oauthtest.ProviderEntraV2: {header: map[string]any{"typ": "JWT", "kid": kid}, absentH: []string{"x5t"}, claims: map[string]any{
			"ver": "2.0", "azp": oauthtest.DefaultEntraClientID, "aud": oauthtest.DefaultEntraAPIID,
			"iss": s.URL() + "/" + oauthtest.DefaultEntraTenantID + "/v2.0"}, absentC: []string{"appid", "client_id", "scope"}},
		oauthtest.ProviderAzureB2C: {header: map[string]any{"typ": "JWT"}, claims: map[string]any{"tfp": oauthtest.DefaultB2CPolicy,
			"iss": s.URL() + "/" + oauthtest.DefaultB2CTenantID + "/v2.0/"}},
		oauthtest.ProviderAuth0: {header: map[string]any{"typ": "JWT"}, claims: map[string]any{"gty": "client-credentials",
			"iss": s.URL() + "/"}, absentC: []string{"nbf", "client_id"}},
		oauthtest.ProviderOkta: {absentH: []string{"typ"}, claims: map[string]any{"iss": s.URL() + "/oauth2/default", "ver": 1.0},
			absentC: []string{"client_id", "nbf"}},
		oauthtest.ProviderKeycloak: {rawHdr: `{"alg":"RS256","typ" : "JWT","kid" : "` + kid + `"}`,
			claims: map[string]any{"typ": "Bearer", "azp": "orders-worker", "iss": s.URL() + "/realms/acme"}},
		oauthtest.ProviderCognito: {absentH: []string{"typ"}, claims: map[string]any{"token_use": "access"},
			absentC: []string{"aud", "nbf"}},
		oauthtest.ProviderHydra: {header: map[string]any{"typ": "JWT"}, claims: map[string]any{"iss": s.URL() + "/"}},
		oauthtest.ProviderRFC9068: {header: map[string]any{"typ": "at+jwt"}, claims: map[string]any{"iss": s.URL()},
			absentC: []string{"nbf"}},
	}
	for pr, want := range cases {
		t.Run(string(pr), func(t *testing.T) {
			tok := s.MintProviderT(t, pr, oauthtest.ProviderToken{})
			seg := strings.Split(tok, ".")
			hb, cb := decodeSeg(t, seg[0]), decodeSeg(t, seg[1])
			if want.rawHdr != "" && string(hb) != want.rawHdr {
				t.Errorf("header bytes %s, want %s", hb, want.rawHdr)
			}
			var h, c map[string]any
			if err := json.Unmarshal(hb, &h); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(cb, &c); err != nil {
				t.Fatal(err)
			}
			for k, v := range want.header {
				if h[k] != v {
					t.Errorf("header %s = %v, want %v", k, h[k], v)
				}
			}
			for _, k := range want.absentH {
				if _, ok := h[k]; ok {
					t.Errorf("header has %s", k)
				}
			}
			for k, v := range want.claims {
				if c[k] != v {
					t.Errorf("claim %s = %v, want %v", k, c[k], v)
				}
			}
			for _, k := range want.absentC {
				if _, ok := c[k]; ok {
					t.Errorf("claim %s present: %v", k, c[k])
				}
			}
			for _, k := range []string{"iat", "exp"} {
				if _, ok := c[k].(float64); !ok {
					t.Errorf("claim %s missing", k)
				}
			}
		})
	}
	// Hydra writes aud as an array, [] when no audience was requested.
	tok := s.MintProviderT(t, oauthtest.ProviderHydra, oauthtest.ProviderToken{Audience: []string{}})
	if !strings.Contains(string(decodeSeg(t, strings.Split(tok, ".")[1])), `"aud":[]`) {
		t.Error(`Hydra token without audience lacks "aud":[]`)
	}
	// Entra v1 carries x5t next to kid.
	tok = s.MintProviderT(t, oauthtest.ProviderEntraV1, oauthtest.ProviderToken{})
	var h map[string]any
	_ = json.Unmarshal(decodeSeg(t, strings.Split(tok, ".")[0]), &h)
	if x, _ := h["x5t"].(string); len(x) != 27 {
		t.Errorf("x5t = %v, want a base64url SHA-1 thumbprint", h["x5t"])
	}
}
