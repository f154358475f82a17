package adaptertest

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// The identities of the kit: every token it mints is for Audience and
// ClientID, and every HTTP challenge must carry Realm.
const (
	Audience = "https://conformance.api.test"
	ClientID = "conformance-client"
	Realm    = "conformance"
)

// Env is an in-process issuer (package oauthtest) and two verifiers that
// trust it.
type Env struct {
	// Issuer mints the tokens.
	Issuer *oauthtest.Server
	// Verifier trusts Issuer for Audience and ClientID, with the generic
	// claim mapping GenericPermissions.
	Verifier *jwtverify.Verifier
	// Down trusts Issuer too, but its key source never had a usable key
	// set (an issuer down since start-up): every token is refused with
	// jwtverify.ReasonKeysUnavailable, the 503 / Unavailable answer.
	Down *jwtverify.Verifier
	// Bound is Verifier accepting DPoP-bound tokens too (IssuerConfig
	// Binding: binding.Optional with binding.DPoP), for the K rows.
	Bound *jwtverify.Verifier
	// Prover holds the DPoP key of the K rows (ES256).
	Prover *oauthtest.DPoPProver
}

// GenericPermissions is the claim mapping of Env's verifiers: scope and scp
// as delegated scopes; roles, permissions and Keycloak's realm_access.roles
// as app roles (catalogue row I4).
var GenericPermissions = []jwtverify.PermissionClaim{
	{Path: []string{"scope"}, Kind: jwtverify.KindScope},
	{Path: []string{"scp"}, Kind: jwtverify.KindScope},
	{Path: []string{"roles"}, Kind: jwtverify.KindRole},
	{Path: []string{"permissions"}, Kind: jwtverify.KindRole},
	{Path: []string{"realm_access", "roles"}, Kind: jwtverify.KindRole},
}

// NewEnv starts an issuer on loopback (closed with the test) and builds
// the verifiers.
func NewEnv(t testing.TB) *Env {
	t.Helper()
	srv := oauthtest.NewT(t)
	kid := srv.SigningKeyID()
	pub, ok := srv.PublicKey(kid)
	if !ok {
		t.Fatalf("adaptertest: no public key for %q", kid)
	}
	key, err := jwkscache.NewKey(kid, "RS256", pub)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jwtverify.New(verifierConfig(srv.Issuer(), jwkscache.NewStatic("conformance", key)))
	if err != nil {
		t.Fatal(err)
	}
	down, err := jwtverify.New(verifierConfig(srv.Issuer(), downSource{}))
	if err != nil {
		t.Fatal(err)
	}
	bc := verifierConfig(srv.Issuer(), jwkscache.NewStatic("conformance", key))
	bc.Issuers[0].Binding = binding.Config{Policy: binding.Optional, Methods: binding.DPoP}
	bound, err := jwtverify.New(bc)
	if err != nil {
		t.Fatal(err)
	}
	prover, err := oauthtest.NewDPoPProver("ES256")
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Issuer: srv, Verifier: v, Down: down, Bound: bound, Prover: prover}
}

func verifierConfig(issuer string, keys jwkscache.KeySource) jwtverify.Config {
	return jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name:        "conformance",
		Issuer:      issuer,
		Keys:        keys,
		Audiences:   []string{Audience},
		ClientIDs:   []string{ClientID},
		Algorithms:  []string{"RS256"},
		Permissions: GenericPermissions,
	}}}
}

// downSource is the injected fault behind Env.Down: a key source that
// never had a usable key set.
type downSource struct{}

func (downSource) Name() string               { return "down" }
func (downSource) Current() *jwkscache.KeySet { return nil }
func (downSource) Lookup(context.Context, string) ([]jwkscache.Key, error) {
	return nil, jwkscache.ErrKeysUnavailable
}

// Token mints a token for ClientID and Audience, valid for the issuer's
// default lifetime; claims are merged over those (a nil value deletes a
// claim).
func (e *Env) Token(t testing.TB, claims map[string]any, opts ...oauthtest.MintOption) string {
	t.Helper()
	c := map[string]any{"aud": Audience, "client_id": ClientID, "sub": ClientID}
	for k, v := range claims {
		c[k] = v
	}
	return e.Issuer.MintT(t, append([]oauthtest.MintOption{oauthtest.WithClaims(c)}, opts...)...)
}

// Recorder is a jwtverify.DecisionObserver that keeps every event. The kit
// hands one to each server it has built and checks, after every answer,
// the events of that request. Safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	events []jwtverify.DecisionEvent
}

// ObserveDecision records ev.
func (r *Recorder) ObserveDecision(ev jwtverify.DecisionEvent) {
	r.mu.Lock()
	ev.Missing = slices.Clone(ev.Missing)
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

// Take returns the events recorded since the last Take and forgets them.
func (r *Recorder) Take() []jwtverify.DecisionEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := r.events
	r.events = nil
	return evs
}

var _ jwtverify.DecisionObserver = (*Recorder)(nil)
