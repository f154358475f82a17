// Package authtest holds what the net/http and Echo adapter tests share
// beyond the public conformance kit (package adaptertest, which runs the
// SECURITY.md H and I rows against both and whose Env, Recorder and
// identities this package reuses): verifiers with an edited configuration,
// a loopback server, the requirement routes of the router tests and a log
// collector. Test-only; internal.
package authtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/m2mauth/m2mauth/adaptertest"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
)

// Test identities, those of adaptertest.
const (
	PathWhoAmI = adaptertest.PathWhoAmI
	PathHealth = adaptertest.PathHealth
	Audience   = adaptertest.Audience
	ClientID   = adaptertest.ClientID
	Realm      = adaptertest.Realm
)

// IssuerName is the name of the issuer of Env.Verifier (as adaptertest
// names it) and of NewVerifier's verifiers, as decision events report it.
const IssuerName = "conformance"

// Env is adaptertest's in-process issuer and verifiers, plus the issuer's
// key for NewVerifier.
type Env struct {
	*adaptertest.Env

	key jwkscache.Key
}

// NewEnv starts an issuer and builds the verifiers (adaptertest.NewEnv).
func NewEnv(t testing.TB) *Env {
	t.Helper()
	e := adaptertest.NewEnv(t)
	kid := e.Issuer.SigningKeyID()
	pub, ok := e.Issuer.PublicKey(kid)
	if !ok {
		t.Fatalf("oauthtest: no public key for %q", kid)
	}
	key, err := jwkscache.NewKey(kid, "RS256", pub)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Env: e, key: key}
}

// NewVerifier builds another verifier trusting Issuer (as Verifier does),
// after edit changed its configuration (an Observer, a Validate rule, the
// Keys).
func (e *Env) NewVerifier(t testing.TB, edit func(*jwtverify.Config)) *jwtverify.Verifier {
	t.Helper()
	cfg := verifierConfig(e.Issuer.Issuer(), jwkscache.NewStatic("test", e.key))
	if edit != nil {
		edit(&cfg)
	}
	v, err := jwtverify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// verifierConfig trusts issuer with keys under the test identities and
// the generic permission mapping (IssuerName, as decision events report).
func verifierConfig(issuer string, keys jwkscache.KeySource) jwtverify.Config {
	return jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name:        IssuerName,
		Issuer:      issuer,
		Keys:        keys,
		Audiences:   []string{Audience},
		ClientIDs:   []string{ClientID},
		Algorithms:  []string{"RS256"},
		Permissions: adaptertest.GenericPermissions,
	}}}
}

// BaseOptions are the harness options every adapter gets first.
func BaseOptions() []middleware.Option {
	return []middleware.Option{middleware.WithRealm(Realm), middleware.WithExemptPaths(adaptertest.PathHealth)}
}

// NewServer starts h on 127.0.0.1 with a 4 MiB header limit (row C4 sends a
// 1 MB token) and closes it with the test.
func NewServer(t testing.TB, h http.Handler) *httptest.Server {
	ts := httptest.NewUnstartedServer(h)
	ts.Config.MaxHeaderBytes = 4 << 20
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

// downSource is an injected fault: a key source that never had a usable
// key set (an issuer down since start-up).
type downSource struct{}

func (downSource) Name() string               { return "down" }
func (downSource) Current() *jwkscache.KeySet { return nil }
func (downSource) Lookup(context.Context, string) ([]jwkscache.Key, error) {
	return nil, jwkscache.ErrKeysUnavailable
}

// DownKeys is a key source that never had a usable key set, for
// NewVerifier.
func DownKeys() jwkscache.KeySource { return downSource{} }

// WhoAmI writes the answer of PathWhoAmI for p (adaptertest.Respond).
func WhoAmI(w http.ResponseWriter, r *http.Request, p *jwtverify.Principal) {
	adaptertest.Respond(w, r, p)
}
