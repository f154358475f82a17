package profiles_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var fixedKey = sync.OnceValues(func() (crypto.Signer, error) {
	b, err := os.ReadFile("../testdata/keys/rsa2048.pem")
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	return k.(crypto.Signer), nil
})

// newServer starts an oauthtest server signing with the fixed RSA key of
// testdata/keys (no key generation per test).
func newServer(t testing.TB, opts ...oauthtest.Option) *oauthtest.Server {
	t.Helper()
	k, err := fixedKey()
	if err != nil {
		t.Fatal(err)
	}
	return oauthtest.NewT(t, append([]oauthtest.Option{oauthtest.WithPrivateKey("RS256", k)}, opts...)...)
}

// staticKeys returns a static key source holding the server's signing key,
// published without alg (as Entra does) and with the given JWK issuer
// member (empty: none).
func staticKeys(t testing.TB, s *oauthtest.Server, issuerMember string) jwkscache.KeySource {
	t.Helper()
	kid := s.SigningKeyID()
	pub, ok := s.PublicKey(kid)
	if !ok {
		t.Fatalf("no public key for %q", kid)
	}
	k, err := jwkscache.NewKey(kid, "", pub)
	if err != nil {
		t.Fatal(err)
	}
	k.Issuer = issuerMember
	return jwkscache.NewStatic("test", k)
}

// newVerifier builds a verifier over the profiles, cache off so every call
// runs every check.
func newVerifier(t testing.TB, ps ...profiles.Profile) *jwtverify.Verifier {
	t.Helper()
	v, err := jwtverify.New(jwtverify.Config{
		Issuers: profiles.IssuerConfigs(ps...),
		Cache:   jwtverify.CacheConfig{Disabled: true},
	})
	if err != nil {
		t.Fatalf("jwtverify.New: %v", err)
	}
	return v
}

func verify(t testing.TB, v *jwtverify.Verifier, token string) (*jwtverify.Principal, error) {
	t.Helper()
	return v.Verify(context.Background(), token)
}

// want is the Principal a realistic token must produce.
type want struct {
	client, tenant string
	scopes         []string // merged, sorted
	delegated      []string
	roles          []string
	appOnly        bool
}

func mustAccept(t testing.TB, v *jwtverify.Verifier, token string, w want) *jwtverify.Principal {
	t.Helper()
	p, err := verify(t, v, token)
	if err != nil {
		t.Fatalf("Verify rejected a valid token: %v", err)
	}
	if got := p.ClientID(); got != w.client {
		t.Errorf("ClientID = %q, want %q", got, w.client)
	}
	if got := p.TenantID(); got != w.tenant {
		t.Errorf("TenantID = %q, want %q", got, w.tenant)
	}
	eq := func(name string, got, want []string) {
		if len(got) == 0 && len(want) == 0 {
			return
		}
		g, w := slices.Clone(got), slices.Clone(want)
		slices.Sort(g)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	eq("Scopes", p.Scopes(), w.scopes)
	eq("DelegatedScopes", p.DelegatedScopes(), w.delegated)
	eq("Roles", p.Roles(), w.roles)
	if got := p.AppOnly(); got != w.appOnly {
		t.Errorf("AppOnly = %v, want %v", got, w.appOnly)
	}
	return p
}

// mustReject checks that token is refused with the reason of sentinel.
func mustReject(t testing.TB, v *jwtverify.Verifier, token string, sentinel *jwtverify.Error) {
	t.Helper()
	p, err := verify(t, v, token)
	if err == nil {
		t.Fatalf("Verify accepted a token it must refuse (client %q)", p.ClientID())
	}
	var e *jwtverify.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *jwtverify.Error", err, err)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("reason = %q (%v), want %q", e.Reason, err, sentinel.Reason)
	}
}

// mustProfile returns a function that unwraps a constructor's result,
// failing t on error: mustProfile(t)(profiles.Okta(...)).
func mustProfile(t testing.TB) func(profiles.Profile, error) profiles.Profile {
	return func(p profiles.Profile, err error) profiles.Profile {
		t.Helper()
		if err != nil {
			t.Fatalf("profile: %v", err)
		}
		return p
	}
}
