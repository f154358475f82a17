package securitysuite

import (
	"crypto/rand"
	"crypto/rsa"
	"testing"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestBoundedKeyTries: a token without kid tries at most 3 keys that fit
// its alg, in the JWKS's order, never the whole set (SECURITY.md: bounded
// work per token). The issuer publishes four RS256 keys; a token without
// kid signed by the third verifies, one signed by the fourth does not.
func TestBoundedKeyTries(t *testing.T) {
	var extra []string
	f := newFixture(t, fixtureOptions{issuer: func(t testing.TB, f *fixture) {
		for i := 0; i < 3; i++ {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				t.Fatal(err)
			}
			kid, err := f.iss.AddPrivateKey("RS256", k)
			if err != nil {
				t.Fatal(err)
			}
			extra = append(extra, kid)
		}
	}})
	// Fitting RS256 keys in JWKS order: the fixture's RS256 key, then extra.
	noKid := func(kid string) string {
		return f.mint(t, oauthtest.WithKeyID(kid), oauthtest.WithHeader(map[string]any{"kid": nil}))
	}
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			f.checkToken(t, tr, "first_key", noKid(f.kid["RS256"]), accept)
			f.checkToken(t, tr, "third_key", noKid(extra[1]), accept)
			f.checkToken(t, tr, "fourth_key_never_tried", noKid(extra[2]), invalidT)
			f.checkToken(t, tr, "fourth_key_with_kid", f.mint(t, oauthtest.WithKeyID(extra[2])), accept)
			// Keys for other algorithms do not count: an ES256 token
			// without kid finds its key among the EC keys.
			f.checkToken(t, tr, "ES256_without_kid", f.mint(t, oauthtest.WithKeyID(f.kid["ES256"]), oauthtest.WithHeader(map[string]any{"kid": nil})), accept)
		})
	}
}
