package jwtverify_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

const (
	opaqueCaller = "caller"
	opaqueAPI    = "api"
	opaqueSecret = "api-secret"
)

// opaqueEnv is an oauthtest issuer whose client "caller" gets opaque
// tokens, a real introspect.Source on its endpoint over loopback, a real
// JWKS cache, and a verifier routing to them.
type opaqueEnv struct {
	t   *testing.T
	clk *fakeClock
	srv *oauthtest.Server
	src *introspect.Source
	v   *jwtverify.Verifier
}

func newOpaqueIssuer(t *testing.T, clk *fakeClock, f oauthtest.OpaqueFormat) *oauthtest.Server {
	t.Helper()
	srv := oauthtest.NewT(t, oauthtest.WithKeyAlgs("ES256"), oauthtest.WithClock(clk.now))
	srv.RegisterClient(oauthtest.Client{ID: opaqueCaller, Secret: "caller-secret", Scopes: []string{"orders.read", "orders.write"}})
	srv.SetOpaqueClient(opaqueCaller, f)
	srv.RegisterIntrospectionClient(oauthtest.IntrospectionClient{ID: opaqueAPI, Secret: opaqueSecret})
	return srv
}

func sourceConfig(srv *oauthtest.Server, clk *fakeClock) introspect.Config {
	return introspect.Config{
		Name:      "opaque",
		Issuer:    srv.Issuer(),
		Endpoint:  srv.IntrospectionURL(),
		Auth:      introspect.ClientAuth{Method: introspect.AuthClientSecretBasic, ClientID: opaqueAPI, ClientSecret: opaqueSecret},
		Audiences: []string{oauthtest.DefaultAudience},
		ClientIDs: []string{opaqueCaller, oauthtest.DefaultClientID},
		Now:       clk.now,
	}
}

func newSource(t *testing.T, cfg introspect.Config) *introspect.Source {
	t.Helper()
	s, err := introspect.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newKeys(t *testing.T, srv *oauthtest.Server, clk *fakeClock) *jwkscache.Cache {
	t.Helper()
	c, err := jwkscache.New(context.Background(), jwkscache.Config{Name: "keys", Issuer: srv.Issuer(), FetchTimeout: 2 * time.Second, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// issuerConfig is the IssuerConfig of srv in mode m.
func issuerConfig(srv *oauthtest.Server, m jwtverify.Mode, intro jwtverify.Introspector, keys jwkscache.KeySource) jwtverify.IssuerConfig {
	ic := jwtverify.IssuerConfig{
		Name:          "opaque",
		Issuer:        srv.Issuer(),
		Audiences:     []string{oauthtest.DefaultAudience},
		ClientIDs:     []string{opaqueCaller, oauthtest.DefaultClientID},
		Mode:          m,
		Introspection: intro,
	}
	if m != jwtverify.ModeIntrospect {
		ic.Keys, ic.Algorithms = keys, []string{"ES256"}
	}
	return ic
}

func newOpaqueEnv(t *testing.T, m jwtverify.Mode, f oauthtest.OpaqueFormat, tune func(*introspect.Config, *jwtverify.Config)) *opaqueEnv {
	t.Helper()
	clk := &fakeClock{}
	clk.t.Store(time.Now().UnixNano())
	srv := newOpaqueIssuer(t, clk, f)
	scfg := sourceConfig(srv, clk)
	if f == oauthtest.OpaqueHydra {
		scfg.Provider = introspect.ProviderHydra
	}
	var keys jwkscache.KeySource
	if m != jwtverify.ModeIntrospect {
		keys = newKeys(t, srv, clk)
	}
	vcfg := jwtverify.Config{Now: clk.now}
	if tune != nil {
		tune(&scfg, &vcfg)
	}
	src := newSource(t, scfg)
	vcfg.Issuers = append([]jwtverify.IssuerConfig{issuerConfig(srv, m, src, keys)}, vcfg.Issuers...)
	v, err := jwtverify.New(vcfg)
	if err != nil {
		t.Fatal(err)
	}
	return &opaqueEnv{t: t, clk: clk, srv: srv, src: src, v: v}
}

func (e *opaqueEnv) opaque() string {
	e.t.Helper()
	tok, err := e.srv.MintOpaque(opaqueCaller)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *opaqueEnv) calls() int64 { return e.srv.Requests(oauthtest.EndpointIntrospect) }

func wantRule(t *testing.T, err error, r jwtverify.Reason, rule string) *jwtverify.Error {
	t.Helper()
	wantReason(t, err, r)
	if r == "" {
		return nil
	}
	var je *jwtverify.Error
	if !errors.As(err, &je) {
		t.Fatalf("%v is not a *jwtverify.Error", err)
	}
	if je.Rule != rule {
		t.Fatalf("rule %q, want %q (%v)", je.Rule, rule, err)
	}
	return je
}

func TestOpaqueAccepted(t *testing.T) {
	ctx := context.Background()
	e := newOpaqueEnv(t, jwtverify.ModeIntrospect, oauthtest.OpaqueRandom, nil)
	tok := e.opaque()
	p, err := e.v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Introspected() || p.ClientID() != opaqueCaller || p.Subject() != opaqueCaller || p.IssuerName() != "opaque" || p.Issuer() != e.srv.Issuer() {
		t.Fatalf("principal %v (introspected %v, iss %q)", p, p.Introspected(), p.Issuer())
	}
	if !p.Has("orders.read") || !p.HasScope("orders.write") || p.Has("admin") {
		t.Fatalf("scopes %v", p.Scopes())
	}
	if err := jwtverify.RequireAll("orders.read").Check(p); err != nil {
		t.Fatal(err)
	}
	if err := jwtverify.RequireAll("orders.delete").Check(p); jwtverify.ReasonOf(err) != jwtverify.ReasonInsufficientScope {
		t.Fatalf("Require on an introspected principal: %v", err)
	}
	if s, ok := p.StringClaim("token_type"); !ok || s != "Bearer" {
		t.Fatal("raw claims are not the introspection answer")
	}
	if a, _ := p.Claim("active"); string(a) != "true" {
		t.Fatalf("active claim %s", a)
	}
	if got, want := p.ValidUntil(), e.clk.now().Add(introspect.DefaultMaxAge); got.After(want) {
		t.Fatalf("ValidUntil %v after the revocation delay %v", got, want)
	}
	if !e.v.Issued(p) {
		t.Fatal("not Issued by the verifier")
	}
	// The second Verify is a hit of the verifier's cache: no call.
	if _, err := e.v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if n := e.calls(); n != 1 {
		t.Fatalf("%d introspection calls, want 1", n)
	}
	if st := e.v.CacheStats(); st.Hits != 1 {
		t.Fatalf("cache stats %+v", st)
	}
}

func TestOpaqueCacheOffAndSharedSource(t *testing.T) {
	ctx := context.Background()
	e := newOpaqueEnv(t, jwtverify.ModeIntrospect, oauthtest.OpaqueRandom, func(_ *introspect.Config, vc *jwtverify.Config) {
		vc.Cache.Disabled = true
	})
	tok := e.opaque()
	p1, err := e.v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := e.v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if p1 != p2 {
		t.Fatal("the Principal is not kept with the cached answer")
	}
	// A second verifier on the same Source, which only accepts another
	// client: it must build its own view, not reuse the first one's.
	ic := issuerConfig(e.srv, jwtverify.ModeIntrospect, e.src, nil)
	ic.ClientIDs = []string{"someone-else"}
	v2, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{ic}, Now: e.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v2.Verify(ctx, tok)
	wantReason(t, err, jwtverify.ReasonClient)
	if n := e.calls(); n != 1 {
		t.Fatalf("%d calls", n)
	}
}

func TestOpaqueJWTOrIntrospect(t *testing.T) {
	ctx := context.Background()
	e := newOpaqueEnv(t, jwtverify.ModeJWTOrIntrospect, oauthtest.OpaqueRandom, nil)
	jwt := e.srv.MintT(t)
	p, err := e.v.Verify(ctx, jwt)
	if err != nil {
		t.Fatal(err)
	}
	if p.Introspected() {
		t.Fatal("a JWT was introspected")
	}
	p, err = e.v.Verify(ctx, e.opaque())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Introspected() {
		t.Fatal("opaque token not introspected")
	}
	if n := e.calls(); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
}

// TestOpaqueJWTNeverIntrospected: a JWT of a jwt-or-introspect issuer that
// fails any check is refused without a call.
func TestOpaqueJWTNeverIntrospected(t *testing.T) {
	ctx := context.Background()
	e := newOpaqueEnv(t, jwtverify.ModeJWTOrIntrospect, oauthtest.OpaqueRandom, nil)
	cases := []struct {
		name string
		tok  string
		want jwtverify.Reason
	}{
		{"bad_signature", e.srv.MintT(t, oauthtest.WithSignatureFunc(func(_ string, sig []byte) []byte { sig[0] ^= 1; return sig })), jwtverify.ReasonBadSignature},
		{"untrusted_key", e.srv.MintT(t, oauthtest.WithUntrustedKey("ES256")), jwtverify.ReasonUnknownKey},
		{"expired", e.srv.MintT(t, oauthtest.WithLifetime(-time.Hour)), jwtverify.ReasonExpired},
		{"audience", e.srv.MintT(t, oauthtest.WithClaims(map[string]any{"aud": "other"})), jwtverify.ReasonAudience},
		{"unknown_issuer", e.srv.MintT(t, oauthtest.WithClaims(map[string]any{"iss": "https://elsewhere.test"})), jwtverify.ReasonIssuer},
		{"garbage_jws", "eyJhbGciOiJFUzI1NiJ9.!!.xx", jwtverify.ReasonMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.v.Verify(ctx, c.tok)
			wantReason(t, err, c.want)
		})
	}
	if n := e.calls(); n != 0 {
		t.Fatalf("%d introspection calls for refused JWTs, want 0", n)
	}
}

// TestOpaqueForeignJWSNotIntrospected: under ModeIntrospect a JWS whose
// iss names no configured issuer is refused without a call (sending it
// would leak another issuer's token to ours); one naming the issuer is
// introspected.
func TestOpaqueForeignJWSNotIntrospected(t *testing.T) {
	ctx := context.Background()
	e := newOpaqueEnv(t, jwtverify.ModeIntrospect, oauthtest.OpaqueRandom, nil)
	foreign := e.srv.MintT(t, oauthtest.WithClaims(map[string]any{"iss": "https://other-issuer.test"}))
	_, err := e.v.Verify(ctx, foreign)
	wantReason(t, err, jwtverify.ReasonIssuer)
	if n := e.calls(); n != 0 {
		t.Fatalf("%d calls for a foreign JWS", n)
	}
	// A JWS of our issuer is introspected (oauthtest answers inactive for
	// JWTs, as a server would for a token it does not know).
	_, err = e.v.Verify(ctx, e.srv.MintT(t))
	wantRule(t, err, jwtverify.ReasonInactive, "inactive")
	if n := e.calls(); n != 1 {
		t.Fatalf("%d calls for our JWS, want 1", n)
	}
}

func TestOpaqueNoIntrospectingIssuer(t *testing.T) {
	e := newE2E(t, true, nil)
	tok, err := e.srv.MintOpaque(oauthtest.DefaultClientID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.v.Verify(context.Background(), tok)
	wantReason(t, err, jwtverify.ReasonMalformed)
	if n := e.srv.Requests(oauthtest.EndpointIntrospect); n != 0 {
		t.Fatalf("%d calls", n)
	}
}

func TestOpaquePrefixRouting(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{}
	clk.t.Store(time.Now().UnixNano())
	hydra := newOpaqueIssuer(t, clk, oauthtest.OpaqueHydra)
	plain := newOpaqueIssuer(t, clk, oauthtest.OpaqueRandom)
	hcfg := sourceConfig(hydra, clk)
	hcfg.Name, hcfg.Provider = "hydra", introspect.ProviderHydra
	pcfg := sourceConfig(plain, clk)
	pcfg.Name = "plain"
	hic := issuerConfig(hydra, jwtverify.ModeIntrospect, newSource(t, hcfg), nil)
	hic.Name, hic.OpaquePrefix = "hydra", "ory_at_"
	pic := issuerConfig(plain, jwtverify.ModeJWTOrIntrospect, newSource(t, pcfg), newKeys(t, plain, clk))
	pic.Name = "plain"
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{hic, pic}, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	htok, _ := hydra.MintOpaque(opaqueCaller)
	ptok, _ := plain.MintOpaque(opaqueCaller)
	p, err := v.Verify(ctx, htok)
	if err != nil || p.IssuerName() != "hydra" {
		t.Fatalf("hydra token: %v %v", p, err)
	}
	p, err = v.Verify(ctx, ptok)
	if err != nil || p.IssuerName() != "plain" {
		t.Fatalf("plain token: %v %v", p, err)
	}
	// A Hydra-shaped token unknown to Hydra goes to Hydra only.
	fake := "ory_at_" + strings.Repeat("A", 43) + "." + strings.Repeat("B", 43)
	_, err = v.Verify(ctx, fake)
	wantRule(t, err, jwtverify.ReasonInactive, "inactive")
	if h, p := hydra.Requests(oauthtest.EndpointIntrospect), plain.Requests(oauthtest.EndpointIntrospect); h != 2 || p != 1 {
		t.Fatalf("calls hydra %d plain %d, want 2 and 1", h, p)
	}
}

func TestOpaqueRoutingConfig(t *testing.T) {
	clk := &fakeClock{}
	srv := newOpaqueIssuer(t, clk, oauthtest.OpaqueRandom)
	src := newSource(t, sourceConfig(srv, clk))
	keys := jwkscache.NewStatic("static")
	mk := func(name, iss string, m jwtverify.Mode, prefix string) jwtverify.IssuerConfig {
		ic := issuerConfig(srv, m, src, keys)
		ic.Name, ic.Issuer, ic.OpaquePrefix = name, iss, prefix
		return ic
	}
	cases := []struct {
		name    string
		issuers []jwtverify.IssuerConfig
		want    string // "" accepts
	}{
		{"one_default", []jwtverify.IssuerConfig{mk("a", "https://a.test", jwtverify.ModeIntrospect, "")}, ""},
		{"two_defaults", []jwtverify.IssuerConfig{
			mk("a", "https://a.test", jwtverify.ModeIntrospect, ""),
			mk("b", "https://b.test", jwtverify.ModeJWTOrIntrospect, ""),
		}, "both introspect opaque tokens"},
		{"default_and_prefix", []jwtverify.IssuerConfig{
			mk("a", "https://a.test", jwtverify.ModeIntrospect, ""),
			mk("b", "https://b.test", jwtverify.ModeIntrospect, "ory_at_"),
		}, ""},
		{"overlapping_prefixes", []jwtverify.IssuerConfig{
			mk("a", "https://a.test", jwtverify.ModeIntrospect, "ory_"),
			mk("b", "https://b.test", jwtverify.ModeIntrospect, "ory_at_"),
		}, "overlap"},
		{"prefix_with_dot", []jwtverify.IssuerConfig{mk("a", "https://a.test", jwtverify.ModeIntrospect, "a.b")}, "OpaquePrefix"},
		{"jwt_with_introspection", []jwtverify.IssuerConfig{mk("a", "https://a.test", jwtverify.ModeJWT, "")}, "fields need Mode"},
		{"introspect_without_introspection", func() []jwtverify.IssuerConfig {
			ic := mk("a", "https://a.test", jwtverify.ModeIntrospect, "")
			ic.Introspection = nil
			return []jwtverify.IssuerConfig{ic}
		}(), "needs Introspection"},
		{"jwt_or_introspect_needs_keys", func() []jwtverify.IssuerConfig {
			ic := mk("a", "https://a.test", jwtverify.ModeJWTOrIntrospect, "")
			ic.Keys = nil
			return []jwtverify.IssuerConfig{ic}
		}(), "Keys is required"},
		{"unknown_mode", []jwtverify.IssuerConfig{mk("a", "https://a.test", jwtverify.Mode(9), "")}, "unknown Mode"},
		{"template", []jwtverify.IssuerConfig{func() jwtverify.IssuerConfig {
			ic := mk("a", "https://login.test/{tenantid}/v2.0", jwtverify.ModeIntrospect, "")
			ic.AllowedTenants = []string{"72f988bf-86f1-41af-91ab-2d7cd011db47"}
			return ic
		}()}, "template"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := jwtverify.New(jwtverify.Config{Issuers: c.issuers})
			switch {
			case c.want == "" && err != nil:
				t.Fatal(err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestModeString(t *testing.T) {
	for _, m := range []jwtverify.Mode{jwtverify.ModeJWT, jwtverify.ModeIntrospect, jwtverify.ModeJWTOrIntrospect} {
		got, err := jwtverify.ParseMode(m.String())
		if err != nil || got != m {
			t.Fatalf("%v: %v %v", m, got, err)
		}
	}
	if _, err := jwtverify.ParseMode("opaque"); err == nil {
		t.Fatal("unknown mode parsed")
	}
	if m, err := jwtverify.ParseMode(""); err != nil || m != jwtverify.ModeJWT {
		t.Fatal("empty mode is not jwt")
	}
}

// TestOpaqueOutage: with the endpoint down a cached token keeps working and
// a new one is introspection_unavailable (503), never cached.
func TestOpaqueOutage(t *testing.T) {
	ctx := context.Background()
	e := newOpaqueEnv(t, jwtverify.ModeIntrospect, oauthtest.OpaqueRandom, nil)
	old := e.opaque()
	if _, err := e.v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}
	fresh := e.opaque()
	for _, f := range []oauthtest.Fault{{Status: 500}, {Body: []byte(`{"active":"true"}`)}, {Body: []byte("<html>")}} {
		e.srv.SetFault(oauthtest.EndpointIntrospect, f)
		if _, err := e.v.Verify(ctx, old); err != nil {
			t.Fatalf("cached token refused during the outage: %v", err)
		}
		_, err := e.v.Verify(ctx, fresh)
		je := wantRule(t, err, jwtverify.ReasonIntrospectionUnavailable, map[bool]string{true: "endpoint_down", false: "bad_response"}[f.Status != 0])
		if !je.Reason.Unavailable() {
			t.Fatal("not a server condition")
		}
	}
	e.srv.ClearFault(oauthtest.EndpointIntrospect)
	if _, err := e.v.Verify(ctx, fresh); err != nil {
		t.Fatalf("unavailability was cached: %v", err)
	}
}

// TestOpaqueBudget: a flood of distinct tokens makes at most the budgeted
// number of calls; beyond it 503 with a Retry-After.
func TestOpaqueBudget(t *testing.T) {
	ctx := context.Background()
	const burst = 5
	e := newOpaqueEnv(t, jwtverify.ModeIntrospect, oauthtest.OpaqueRandom, func(sc *introspect.Config, _ *jwtverify.Config) {
		sc.Rate, sc.Burst = 0.001, burst
	})
	over := 0
	for i := 0; i < 200; i++ {
		tok := e.opaque()
		_, err := e.v.Verify(ctx, tok)
		if err == nil {
			continue
		}
		je := wantRule(t, err, jwtverify.ReasonIntrospectionUnavailable, "over_budget")
		if je.RetryAfter < time.Second {
			t.Fatalf("RetryAfter %v", je.RetryAfter)
		}
		over++
	}
	if n := e.calls(); n > burst {
		t.Fatalf("%d calls for the flood, budget %d", n, burst)
	}
	if over != 200-burst {
		t.Fatalf("%d refusals over budget, want %d", over, 200-burst)
	}
}

// TestOpaqueHydraPrecheck: junk that fails Hydra's format is 401 with no
// call; a Hydra refresh token is a type refusal with no call.
func TestOpaqueHydraPrecheck(t *testing.T) {
	ctx := context.Background()
	e := newOpaqueEnv(t, jwtverify.ModeIntrospect, oauthtest.OpaqueHydra, nil)
	for _, junk := range []string{"junk", "ory_at_short.short", "ory_at_" + strings.Repeat("A", 43) + "_" + strings.Repeat("B", 43), strings.Repeat("x", 5000)} {
		_, err := e.v.Verify(ctx, junk)
		wantRule(t, err, jwtverify.ReasonMalformed, "malformed")
	}
	_, err := e.v.Verify(ctx, "ory_rt_"+strings.Repeat("A", 43)+"."+strings.Repeat("B", 43))
	wantRule(t, err, jwtverify.ReasonType, "type")
	if n := e.calls(); n != 0 {
		t.Fatalf("%d calls for junk", n)
	}
	if _, err := e.v.Verify(ctx, e.opaque()); err != nil {
		t.Fatal(err)
	}
}

// TestOpaqueOneCallForConcurrentRequests: 1,000 concurrent Verify calls
// with one new token make exactly one introspection call.
func TestOpaqueOneCallForConcurrentRequests(t *testing.T) {
	ctx := context.Background()
	e := newOpaqueEnv(t, jwtverify.ModeIntrospect, oauthtest.OpaqueRandom, nil)
	tok := e.opaque()
	hold := make(chan struct{})
	e.srv.SetFault(oauthtest.EndpointIntrospect, oauthtest.Fault{Wait: hold})
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	start := make(chan struct{})
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := e.v.Verify(ctx, tok)
			errs <- err
		}()
	}
	close(start)
	// Release the held answer once the call arrived.
	for e.calls() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(hold)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.calls(); n != 1 {
		t.Fatalf("%d calls, want exactly 1", n)
	}
}

// TestOpaqueRevocationDelay: a revoked token is accepted at most MaxAge
// after the call that accepted it, then refused.
func TestOpaqueRevocationDelay(t *testing.T) {
	ctx := context.Background()
	const maxAge = 10 * time.Second
	e := newOpaqueEnv(t, jwtverify.ModeIntrospect, oauthtest.OpaqueRandom, func(sc *introspect.Config, _ *jwtverify.Config) {
		sc.MaxAge = maxAge
	})
	tok := e.opaque()
	if _, err := e.v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if !e.srv.Revoke(tok) {
		t.Fatal("not revoked")
	}
	e.clk.add(maxAge - time.Second)
	if _, err := e.v.Verify(ctx, tok); err != nil {
		t.Fatalf("within the revocation delay: %v", err)
	}
	e.clk.add(time.Second)
	_, err := e.v.Verify(ctx, tok)
	wantRule(t, err, jwtverify.ReasonInactive, "inactive")
}

// TestOpaqueIssuerConfigIsTheSourceOfTruth: the IssuerConfig's audiences,
// client list and permission mapping apply to the answer even when the
// Source is more permissive.
func TestOpaqueIssuerConfigIsTheSourceOfTruth(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		tune func(*jwtverify.IssuerConfig)
		want jwtverify.Reason
	}{
		{"audience", func(ic *jwtverify.IssuerConfig) { ic.Audiences = []string{"https://other.test"} }, jwtverify.ReasonAudience},
		{"client", func(ic *jwtverify.IssuerConfig) { ic.ClientIDs = []string{"other"} }, jwtverify.ReasonClient},
		{"required_claim", func(ic *jwtverify.IssuerConfig) { ic.RequiredClaims = []string{"tenant"} }, jwtverify.ReasonMissingClaim},
		{"rule", func(ic *jwtverify.IssuerConfig) {
			ic.Rules = []jwtverify.Rule{{Code: "no_writers", Check: func(p *jwtverify.Principal) error {
				if p.Has("orders.write") {
					return jwtverify.ErrType
				}
				return nil
			}}}
		}, jwtverify.ReasonType},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := &fakeClock{}
			clk.t.Store(time.Now().UnixNano())
			srv := newOpaqueIssuer(t, clk, oauthtest.OpaqueRandom)
			scfg := sourceConfig(srv, clk)
			scfg.Audiences, scfg.InsecureSkipAudienceCheck = nil, true
			scfg.ClientIDs, scfg.AnyClient = nil, true
			ic := issuerConfig(srv, jwtverify.ModeIntrospect, newSource(t, scfg), nil)
			c.tune(&ic)
			v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{ic}, Now: clk.now})
			if err != nil {
				t.Fatal(err)
			}
			tok, _ := srv.MintOpaque(opaqueCaller)
			_, err = v.Verify(ctx, tok)
			wantReason(t, err, c.want)
		})
	}
	t.Run("permissions_mapping", func(t *testing.T) {
		clk := &fakeClock{}
		clk.t.Store(time.Now().UnixNano())
		srv := newOpaqueIssuer(t, clk, oauthtest.OpaqueRandom)
		srv.SetIntrospectionExtra(map[string]any{"realm_access": map[string]any{"roles": []string{"auditor"}}})
		ic := issuerConfig(srv, jwtverify.ModeIntrospect, newSource(t, sourceConfig(srv, clk)), nil)
		ic.Permissions = []jwtverify.PermissionClaim{{Path: []string{"scope"}, Kind: jwtverify.KindScope}, {Path: []string{"realm_access", "roles"}, Kind: jwtverify.KindRole}}
		v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{ic}, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := srv.MintOpaque(opaqueCaller)
		p, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if !p.HasRole("auditor") || !p.HasScope("orders.read") {
			t.Fatalf("roles %v scopes %v", p.Roles(), p.DelegatedScopes())
		}
	})
}

// TestOpaqueRefusalReasons: each refusal of the Source maps to a bounded
// jwtverify Reason with the introspect reason as Rule.
func TestOpaqueRefusalReasons(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		extra map[string]any
		want  jwtverify.Reason
		rule  string
	}{
		{"string_active", map[string]any{"active": "true"}, jwtverify.ReasonIntrospectionUnavailable, "bad_response"},
		{"no_exp", map[string]any{"exp": nil}, jwtverify.ReasonMissingClaim, "missing_claim"},
		{"foreign_iss", map[string]any{"iss": "https://evil.test"}, jwtverify.ReasonIssuer, "issuer"},
		{"refresh_kind", map[string]any{"token_type": "refresh_token"}, jwtverify.ReasonType, "type"},
		{"cnf", map[string]any{"cnf": map[string]any{"x5t#S256": strings.Repeat("A", 43)}}, jwtverify.ReasonType, "bound"},
		{"audience", map[string]any{"aud": "https://other.test"}, jwtverify.ReasonAudience, "audience"},
		{"client", map[string]any{"client_id": "intruder"}, jwtverify.ReasonClient, "client"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newOpaqueEnv(t, jwtverify.ModeIntrospect, oauthtest.OpaqueRandom, nil)
			e.srv.SetIntrospectionExtra(c.extra)
			_, err := e.v.Verify(ctx, e.opaque())
			wantRule(t, err, c.want, c.rule)
		})
	}
}

// TestOpaqueBoundToken: an answer with a cnf (accepted by a Source with
// AcceptConfirmation) is handled by the binding model exactly as a JWT's
// cnf: refused by Verify and under binding.Off, accepted by VerifyBound
// with the certificate it names, refused with another one.
func TestOpaqueBoundToken(t *testing.T) {
	ctx := context.Background()
	thumb := binding.Thumbprint([]byte("the client certificate"))
	other := binding.Thumbprint([]byte("another certificate"))
	cnf := map[string]any{"cnf": map[string]any{"x5t#S256": base64.RawURLEncoding.EncodeToString(thumb[:])}}
	for _, c := range []struct {
		name   string
		policy binding.Policy
		proof  *binding.Proof
		want   jwtverify.Reason
		rule   string
	}{
		{"off_verify_bound", binding.Off, &binding.Proof{}, jwtverify.ReasonType, ""},
		{"optional_verify", binding.Optional, nil, jwtverify.ReasonType, ""},
		{"optional_right_cert", binding.Optional, ptr(binding.CertificateProof(thumb)), "", ""},
		{"optional_wrong_cert", binding.Optional, ptr(binding.CertificateProof(other)), jwtverify.ReasonBinding, string(binding.ReasonThumbprintMismatch)},
		{"required_right_cert", binding.Required, ptr(binding.CertificateProof(thumb)), "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newOpaqueEnv(t, jwtverify.ModeIntrospect, oauthtest.OpaqueRandom, func(sc *introspect.Config, vc *jwtverify.Config) {
				sc.AcceptConfirmation = true
			})
			// Rebuild the verifier with the binding policy.
			ic := issuerConfig(e.srv, jwtverify.ModeIntrospect, e.src, nil)
			if c.policy != binding.Off {
				ic.Binding = binding.Config{Policy: c.policy, Methods: binding.Certificate}
			}
			v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{ic}, Now: e.clk.now})
			if err != nil {
				t.Fatal(err)
			}
			e.srv.SetIntrospectionExtra(cnf)
			tok := e.opaque()
			for i := 0; i < 2; i++ { // the miss, then the cached Principal
				var p *jwtverify.Principal
				if c.proof == nil {
					p, err = v.Verify(ctx, tok)
				} else {
					p, err = v.VerifyBound(ctx, tok, *c.proof)
				}
				wantRule(t, err, c.want, c.rule)
				if c.want == "" && !p.Confirmation().Bound() {
					t.Fatal("the Principal lost the confirmation")
				}
			}
		})
	}
	t.Run("malformed_cnf", func(t *testing.T) {
		e := newOpaqueEnv(t, jwtverify.ModeIntrospect, oauthtest.OpaqueRandom, func(sc *introspect.Config, _ *jwtverify.Config) {
			sc.AcceptConfirmation = true
		})
		ic := issuerConfig(e.srv, jwtverify.ModeIntrospect, e.src, nil)
		ic.Binding = binding.Config{Policy: binding.Optional, Methods: binding.Certificate}
		v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{ic}, Now: e.clk.now})
		if err != nil {
			t.Fatal(err)
		}
		e.srv.SetIntrospectionExtra(map[string]any{"cnf": map[string]any{"x5t#S256": "short"}})
		_, err = v.VerifyBound(ctx, e.opaque(), binding.CertificateProof(thumb))
		wantRule(t, err, jwtverify.ReasonBinding, jwtverify.RuleMalformedConfirmation)
	})
}

func ptr[T any](v T) *T { return &v }

// TestOpaqueForget: Verifier.Forget drops an opaque token from the
// verifier's cache and the Source's, so a revoked token is refused at
// once instead of after MaxAge.
func TestOpaqueForget(t *testing.T) {
	ctx := context.Background()
	e := newOpaqueEnv(t, jwtverify.ModeIntrospect, oauthtest.OpaqueRandom, nil)
	tok := e.opaque()
	if _, err := e.v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	e.srv.Revoke(tok)
	if _, err := e.v.Verify(ctx, tok); err != nil {
		t.Fatalf("within the revocation delay: %v", err)
	}
	if !e.v.Forget(tok) {
		t.Fatal("Forget found nothing")
	}
	_, err := e.v.Verify(ctx, tok)
	wantRule(t, err, jwtverify.ReasonInactive, "inactive")
	if n := e.calls(); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
}
