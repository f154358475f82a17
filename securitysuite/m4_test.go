package securitysuite

import (
	"context"
	"errors"
	"testing"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

// TestM4 is row M4 (issue 16 finding 4): the Azure AD B2C profile accepts
// a token only when it proves the configured policy, through every
// adapter. On the previous main a token with no policy claim, or with a
// non-string one, was accepted whatever policy was configured.
func TestM4(t *testing.T) {
	const policy = "B2C_1A_SUSI"
	f := newFixture(t, fixtureOptions{issuerConfig: func(f *fixture, ic *jwtverify.IssuerConfig) {
		p, err := profiles.AzureB2C(profiles.AzureB2COptions{TenantName: "contoso", TenantID: oauthtest.DefaultB2CTenantID,
			Policy: policy, ClientID: oauthtest.DefaultAudience, ClientIDs: []string{oauthtest.DefaultClientID},
			Issuer: f.iss.Issuer(), Keys: f.keys, Algorithms: algs, Name: ic.Name})
		if err != nil {
			t.Fatal(err)
		}
		*ic = p.IssuerConfig
	}})
	// B2C's shape: the client in azp, permissions in the scp string.
	tok := func(policyClaims map[string]any) string {
		over := map[string]any{"azp": oauthtest.DefaultClientID, "client_id": nil, "scope": nil, "scp": scopeRead}
		for k, v := range policyClaims {
			over[k] = v
		}
		return f.sign(t, "RS256", f.header("RS256", nil), f.claimsJSON(over))
	}
	cases := []struct {
		name   string
		claims map[string]any
		want   outcome
		rule   string
	}{
		{"tfp", map[string]any{"tfp": policy}, accept, ""},
		{"tfp_other_case", map[string]any{"tfp": "b2c_1a_susi"}, accept, ""},
		{"acr", map[string]any{"acr": policy}, accept, ""},
		{"no_policy_claim", nil, invalidT, profiles.RuleB2CPolicyMissing},
		{"tfp_array", map[string]any{"tfp": []string{policy}}, invalidT, profiles.RuleB2CPolicy},
		{"tfp_number", map[string]any{"tfp": 1}, invalidT, profiles.RuleB2CPolicy},
		{"acr_number_beside_tfp", map[string]any{"tfp": policy, "acr": 1}, invalidT, profiles.RuleB2CPolicy},
		{"other_policy", map[string]any{"tfp": "B2C_1_other"}, invalidT, profiles.RuleB2CPolicy},
	}
	for _, c := range cases {
		token := tok(c.claims)
		_, err := f.v.Verify(context.Background(), token)
		var e *jwtverify.Error
		if c.rule == "" && err != nil || c.rule != "" && (!errors.As(err, &e) || e.Rule != c.rule) {
			t.Fatalf("%s: Verify %v, want rule %q", c.name, err, c.rule)
		}
		for _, tr := range transports {
			f.checkToken(t, tr, string(tr)+"/"+c.name, token, c.want)
		}
	}
}
