package e2e

import (
	"slices"
	"strings"
	"testing"
)

// TestHydraTokenShape pins what Hydra v2.3.0 really issues (PROVIDERS.md):
// the Hydra profile and the cases below rely on it.
func TestHydraTokenShape(t *testing.T) {
	h := needHydra(t)
	c := h.createClient(t, hydraClient{
		ID: "e2e-shape", Secret: "e2e-shape-secret-0123456789",
		Scopes: []string{"read", "write"}, Audiences: []string{apiAudience},
	})

	d := h.discovery(t)
	if d.Issuer == "" || d.JWKSURI == "" || d.TokenEndpoint == "" {
		t.Fatalf("discovery incomplete: %+v", d)
	}

	t.Run("with_audience", func(t *testing.T) {
		tok := h.token(t, c, []string{"read", "write"}, apiAudience)
		hdr, cl := jwtParts(t, tok)
		if hdr["alg"] != "RS256" || hdr["typ"] != "JWT" || hdr["kid"] == "" {
			t.Errorf("header = %v, want alg RS256, typ JWT, a kid", hdr)
		}
		if cl["iss"] != d.Issuer {
			t.Errorf("iss = %v, want discovery issuer %q", cl["iss"], d.Issuer)
		}
		if got := strs(cl["aud"]); !slices.Equal(got, []string{apiAudience}) {
			t.Errorf("aud = %#v, want [%q] (an array)", cl["aud"], apiAudience)
		}
		if got := strs(cl["scp"]); !slices.Equal(got, []string{"read", "write"}) {
			t.Errorf("scp = %#v, want [read write] (an array)", cl["scp"])
		}
		if cl["client_id"] != c.ID || cl["sub"] != c.ID {
			t.Errorf("client_id = %v, sub = %v, want %q", cl["client_id"], cl["sub"], c.ID)
		}
		for _, k := range []string{"exp", "iat", "nbf", "jti"} {
			if _, ok := cl[k]; !ok {
				t.Errorf("claim %s missing", k)
			}
		}
	})
	t.Run("without_audience", func(t *testing.T) {
		tok := h.token(t, c, []string{"read"})
		_, cl := jwtParts(t, tok)
		aud, ok := cl["aud"].([]any)
		if !ok || len(aud) != 0 {
			t.Errorf("aud = %#v, want an empty array", cl["aud"])
		}
	})
	t.Run("jwks_no_store", func(t *testing.T) {
		kids, cc := h.publicKIDs(t)
		if len(kids) == 0 {
			t.Fatal("JWKS has no keys")
		}
		if !strings.Contains(cc, "no-store") {
			t.Errorf("JWKS Cache-Control = %q, want no-store", cc)
		}
	})
}

// strs converts a decoded JSON array of strings.
func strs(v any) []string {
	a, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(a))
	for _, e := range a {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}
