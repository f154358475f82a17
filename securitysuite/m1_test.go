package securitysuite

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

// TestM1 is row M1 (issue 16 finding 1): a rule the user supplies
// (IssuerConfig.Validate, and so profiles' AddRule) runs on every request,
// also when the verified-token cache answers, through every adapter. A
// deny list that starts refusing a token refuses it at its next request;
// on the previous main the cached token kept being accepted until exp.
func TestM1(t *testing.T) {
	var denied sync.Map // jti -> true
	deny := func(p *jwtverify.Principal) error {
		if _, ok := denied.Load(p.TokenID()); ok {
			return jwtverify.RuleError(jwtverify.ErrClient, "jti_denied", "token ID on the deny list")
		}
		return nil
	}
	configs := map[string]func(f *fixture, ic *jwtverify.IssuerConfig){
		"validate": func(_ *fixture, ic *jwtverify.IssuerConfig) {
			ic.Validate, ic.ValidateCodes = deny, []string{"jti_denied"}
		},
		"profile_addrule": func(f *fixture, ic *jwtverify.IssuerConfig) {
			p, err := profiles.RFC9068(profiles.RFC9068Options{Issuer: f.iss.Issuer(), Audience: oauthtest.DefaultAudience,
				ClientIDs: []string{oauthtest.DefaultClientID}, Keys: f.keys, Algorithms: algs, Name: ic.Name})
			if err != nil {
				t.Fatal(err)
			}
			p.AddRuleCode("jti_denied", deny)
			*ic = p.IssuerConfig
		},
	}
	for cname, cfg := range configs {
		t.Run(cname, func(t *testing.T) {
			f := newFixture(t, fixtureOptions{issuerConfig: cfg})
			for _, tr := range transports {
				t.Run(string(tr), func(t *testing.T) {
					jti := "m1-" + cname + "-" + string(tr)
					tok := f.sign(t, "RS256", f.header("RS256", nil), f.claimsJSON(map[string]any{"jti": jti}))
					expect(t, tr, f.send(t, tr, bearer(tok)), accept, "")
					expect(t, tr, f.send(t, tr, bearer(tok)), accept, "") // from the cache
					before := f.v.CacheStats()
					denied.Store(jti, true)
					expect(t, tr, f.send(t, tr, bearer(tok)), invalidT, "")
					after := f.v.CacheStats()
					if after.Hits <= before.Hits || after.Misses != before.Misses {
						t.Fatalf("the refusal did not come from a cache hit: before %+v after %+v", before, after)
					}
					_, err := f.v.Verify(context.Background(), tok)
					var e *jwtverify.Error
					if !errors.As(err, &e) || e.Rule != "jti_denied" || e.Reason != jwtverify.ReasonClient {
						t.Fatalf("refusal %v", err)
					}
					denied.Delete(jti)
					expect(t, tr, f.send(t, tr, bearer(tok)), accept, "")
					// Forget drops the token: the next request verifies it
					// from scratch.
					if !f.v.Forget(tok) {
						t.Fatal("Forget: token not cached")
					}
					misses := f.v.CacheStats().Misses
					expect(t, tr, f.send(t, tr, bearer(tok)), accept, "")
					if f.v.CacheStats().Misses == misses {
						t.Fatal("forgotten token answered from the cache")
					}
				})
			}
		})
	}
}
