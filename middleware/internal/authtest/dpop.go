package authtest

import (
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/adaptertest"
	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// PathOrders is served behind the authenticating middleware and the
// route requirement RequireAll(OrdersScope) in the DPoP harness.
const (
	PathOrders  = adaptertest.PathOrders
	OrdersScope = adaptertest.OrdersScope
)

// DPoPHandle builds the adapter under test for v with the harness options
// plus opts: PathWhoAmI behind the authenticating middleware (Handler,
// Authenticate), PathOrders behind it and the route requirement
// RequireAll(OrdersScope) (Require), both answering with WhoAmI.
type DPoPHandle func(t testing.TB, v *jwtverify.Verifier, opts ...middleware.Option) http.Handler

// DPoPEnv is an issuer and two DPoP keys, A and B.
type DPoPEnv struct {
	Issuer *oauthtest.Server
	A, B   *oauthtest.DPoPProver
	key    jwkscache.Key
}

// NewDPoPEnv starts the issuer and makes the keys.
func NewDPoPEnv(t testing.TB) *DPoPEnv {
	t.Helper()
	srv := oauthtest.NewT(t)
	kid := srv.SigningKeyID()
	pub, _ := srv.PublicKey(kid)
	key, err := jwkscache.NewKey(kid, "RS256", pub)
	if err != nil {
		t.Fatal(err)
	}
	a, err := oauthtest.NewDPoPProver("ES256")
	if err != nil {
		t.Fatal(err)
	}
	b, err := oauthtest.NewDPoPProver("ES256")
	if err != nil {
		t.Fatal(err)
	}
	return &DPoPEnv{Issuer: srv, A: a, B: b, key: key}
}

// Verifier trusts the issuer under policy with methods; edits change the
// configuration further.
func (e *DPoPEnv) Verifier(t testing.TB, policy binding.Policy, methods binding.Methods, edits ...func(*jwtverify.Config)) *jwtverify.Verifier {
	t.Helper()
	cfg := verifierConfig(e.Issuer.Issuer(), jwkscache.NewStatic("test", e.key))
	cfg.Issuers[0].Binding = binding.Config{Policy: policy, Methods: methods}
	for _, edit := range edits {
		edit(&cfg)
	}
	v, err := jwtverify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Token mints a token with scope, bound to p's key (unbound when p is nil).
func (e *DPoPEnv) Token(t testing.TB, p *oauthtest.DPoPProver, scope string) string {
	t.Helper()
	opts := []oauthtest.MintOption{oauthtest.WithClaims(map[string]any{"aud": Audience, "client_id": ClientID, "sub": ClientID, "scope": scope})}
	if p != nil {
		opts = append(opts, oauthtest.WithDPoPBinding(p.Thumbprint()))
	}
	return e.Issuer.MintT(t, opts...)
}

// PublicKey returns the issuer's token signing key (for raw baselines).
func (e *DPoPEnv) PublicKey() any { return e.key.Public }

// DPoPServer is an adapter serving with a DPoP Checker whose public origin
// is its URL.
type DPoPServer struct {
	URL string
	Rec *Recorder
	c   *http.Client
}

// StartDPoP listens on loopback, builds a Checker from cfg for that origin
// (PublicOrigins is set here) and serves handle's adapter for v with it and
// a Recorder.
func StartDPoP(t testing.TB, handle DPoPHandle, v *jwtverify.Verifier, cfg dpop.Config, opts ...middleware.Option) *DPoPServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://" + l.Addr().String()
	cfg.PublicOrigins = []string{origin}
	c, err := dpop.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &Recorder{}
	ts := httptest.NewUnstartedServer(handle(t, v, append([]middleware.Option{middleware.WithDPoP(c), middleware.WithObserver(rec)}, opts...)...))
	ts.Listener.Close()
	ts.Listener = l
	ts.Start()
	t.Cleanup(ts.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &DPoPServer{URL: origin, Rec: rec, c: &http.Client{Transport: tr}}
}

// DPoPAnswer is what a request got.
type DPoPAnswer struct {
	Status     int
	Challenges []string
	Nonce      string
	RetryAfter string
	Body       string
}

// Do sends method path with the Authorization value authz (none when "")
// and the DPoP header values proofs.
func (s *DPoPServer) Do(t testing.TB, method, path, authz string, proofs ...string) DPoPAnswer {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := s.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return DPoPAnswer{
		Status: resp.StatusCode, Challenges: resp.Header.Values("WWW-Authenticate"),
		Nonce: resp.Header.Get("DPoP-Nonce"), RetryAfter: resp.Header.Get("Retry-After"), Body: string(b),
	}
}

// Proof makes p's proof for method and the server's path, for tok.
func (s *DPoPServer) Proof(t testing.TB, p *oauthtest.DPoPProver, method, path, tok, nonce string, opts ...oauthtest.ProofOption) string {
	t.Helper()
	pr, err := p.Proof(method, s.URL+path, tok, nonce, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// CheckEvents fails unless the server reported exactly one decision since
// the last call, with result, reason and rule ("" = not checked), and none
// of secrets in any field.
func (s *DPoPServer) CheckEvents(t testing.TB, name, result string, reason jwtverify.Reason, rule string, secrets ...string) {
	t.Helper()
	evs := s.Rec.Take()
	if len(evs) != 1 {
		t.Errorf("%s: %d decision events %+v, want 1", name, len(evs), evs)
		return
	}
	ev := evs[0]
	if ev.Result != result || ev.Reason != reason || (rule != "" && ev.Rule != rule) {
		t.Errorf("%s: event %s/%s/%s, want %s/%s/%s", name, ev.Result, ev.Reason, ev.Rule, result, reason, rule)
	}
	for _, sec := range secrets {
		for _, f := range []string{ev.Rule, ev.Route, ev.Issuer, ev.ClientID, string(ev.Reason)} {
			if sec != "" && strings.Contains(f, sec) {
				t.Errorf("%s: the event carries client input", name)
			}
		}
	}
}

// WantDPoPRefusal fails unless a is a 401 whose first challenge is the
// DPoP scheme's with error code, the bare Bearer challenge second, and
// whose body reflects none of secrets.
func WantDPoPRefusal(t testing.TB, name string, a DPoPAnswer, code string, secrets ...string) {
	t.Helper()
	if a.Status != http.StatusUnauthorized || len(a.Challenges) != 2 ||
		!strings.HasPrefix(a.Challenges[0], `DPoP algs="`) || param(a.Challenges[0], "error") != code ||
		param(a.Challenges[0], "error_description") == "" || a.Challenges[1] != `Bearer realm="`+Realm+`"` {
		t.Errorf("%s: %d %q, want 401 with a DPoP %s challenge and the bare Bearer one", name, a.Status, a.Challenges, code)
	}
	for _, s := range secrets {
		if strings.Contains(a.Body, s) || strings.Contains(strings.Join(a.Challenges, " "), s) {
			t.Errorf("%s: the answer reflects client input", name)
		}
	}
}

// RunDPoP runs RFC 9449 through the adapter (SECURITY.md K rows): every
// check of section 4.3 with a proof wrong in exactly that way, a proof for
// another URL, method or token, a token bound to key A with a proof by key
// B, the schemes under each binding policy, replay, the middleware and a
// route requirement on one request, server nonces, and a full replay
// store.
func RunDPoP(t *testing.T, env *DPoPEnv, handle DPoPHandle) {
	t.Run("proof_checks", func(t *testing.T) { runProofChecks(t, env, handle) })
	t.Run("schemes_and_policies", func(t *testing.T) { runSchemes(t, env, handle) })
	t.Run("replay_and_requirement", func(t *testing.T) { runReplay(t, env, handle) })
	t.Run("nonces", func(t *testing.T) { runNonces(t, env, handle) })
	t.Run("replay_store_full", func(t *testing.T) { runStoreFull(t, env, handle) })
}

func runProofChecks(t *testing.T, env *DPoPEnv, handle DPoPHandle) {
	s := StartDPoP(t, handle, env.Verifier(t, binding.Optional, binding.DPoP), dpop.Config{})
	tok := env.Token(t, env.A, OrdersScope)
	other := env.Token(t, env.A, "profile")
	hs := func(h map[string]any) oauthtest.ProofOption { return oauthtest.WithProofHeader(h) }
	cl := func(c map[string]any) oauthtest.ProofOption { return oauthtest.WithProofClaims(c) }
	proof := func(opts ...oauthtest.ProofOption) func() []string {
		return func() []string { return []string{s.Proof(t, env.A, "GET", PathWhoAmI, tok, "", opts...)} }
	}
	now := time.Now()
	cases := []struct {
		name   string
		proofs func() []string
		rule   dpop.Reason
	}{
		{"K5_no_dpop_header", func() []string { return nil }, dpop.ReasonMissing},
		{"K5_two_dpop_headers", func() []string { return append(proof()(), proof()()...) }, dpop.ReasonMultiple},
		{"K5_proof_too_large", proof(cl(map[string]any{"pad": strings.Repeat("a", 16<<10)})), dpop.ReasonTooLarge},
		{"K5_not_a_compact_jws", func() []string { return []string{"a.b"} }, dpop.ReasonMalformed},
		{"K5_typ_jwt", proof(hs(map[string]any{"typ": "JWT"})), dpop.ReasonType},
		{"K5_typ_missing", proof(hs(map[string]any{"typ": nil})), dpop.ReasonType},
		{"K5_alg_none", proof(hs(map[string]any{"alg": "none"})), dpop.ReasonAlg},
		{"K5_alg_hs256", proof(hs(map[string]any{"alg": "HS256"})), dpop.ReasonAlg},
		{"K5_alg_not_allowed", func() []string {
			p, err := oauthtest.NewDPoPProver("ES512") // not in dpop.DefaultAlgorithms
			if err != nil {
				t.Fatal(err)
			}
			return []string{s.Proof(t, p, "GET", PathWhoAmI, tok, "")}
		}, dpop.ReasonAlg},
		{"K5_jwk_other_curve", proof(oauthtest.WithProofJWK(map[string]any{"crv": "P-384"})), ""},
		{"K5_jwk_missing", proof(hs(map[string]any{"jwk": nil})), dpop.ReasonJWK},
		{"K5_jwk_private", proof(oauthtest.WithProofJWK(map[string]any{"d": "AAAA"})), dpop.ReasonJWKPrivate},
		{"K5_jwk_symmetric", proof(hs(map[string]any{"jwk": map[string]any{"kty": "oct", "k": "AAAA"}})), ""},
		{"K5_jku_lookup", proof(hs(map[string]any{"jku": "https://attacker.test/jwks"})), dpop.ReasonHeader},
		{"K5_x5u_lookup", proof(hs(map[string]any{"x5u": "https://attacker.test/cert"})), dpop.ReasonHeader},
		{"K5_x5c_lookup", proof(hs(map[string]any{"x5c": []string{"AAAA"}})), dpop.ReasonHeader},
		{"K5_signature_by_another_key", proof(oauthtest.WithProofSigner("ES256")), dpop.ReasonSignature},
		{"K5_htm_other_method", func() []string { return []string{s.Proof(t, env.A, "POST", PathWhoAmI, tok, "")} }, dpop.ReasonHTM},
		{"K5_htu_other_path", func() []string { return []string{s.Proof(t, env.A, "GET", PathOrders, tok, "")} }, dpop.ReasonHTU},
		{"K5_htu_other_origin", proof(cl(map[string]any{"htu": "https://other.test" + PathWhoAmI})), dpop.ReasonHTU},
		{"K5_htu_escaped_slash", proof(cl(map[string]any{"htu": s.URL + "/api%2Fwhoami"})), dpop.ReasonHTU},
		{"K5_iat_too_old", proof(oauthtest.WithProofTime(now.Add(-5 * time.Minute))), dpop.ReasonIAT},
		{"K5_iat_in_the_future", proof(oauthtest.WithProofTime(now.Add(5 * time.Minute))), dpop.ReasonIAT},
		{"K5_jti_missing", proof(cl(map[string]any{"jti": nil})), dpop.ReasonJTI},
		{"K5_jti_too_long", proof(cl(map[string]any{"jti": strings.Repeat("j", 4096)})), dpop.ReasonJTI},
		{"K5_ath_missing", proof(cl(map[string]any{"ath": nil})), dpop.ReasonATH},
		{"K5_ath_of_another_token", func() []string { return []string{s.Proof(t, env.A, "GET", PathWhoAmI, other, "")} }, dpop.ReasonATH},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.Rec.Take()
			ps := c.proofs()
			a := s.Do(t, "GET", PathWhoAmI, "DPoP "+tok, ps...)
			WantDPoPRefusal(t, c.name, a, jwtverify.CodeInvalidDPoPProof, append(ps, tok)...)
			if len(a.Challenges) > 0 && param(a.Challenges[0], "error_description") != jwtverify.ReasonDPoPProof.Description() {
				t.Errorf("challenge %q, want the fixed description", a.Challenges[0])
			}
			s.CheckEvents(t, c.name, jwtverify.DecisionUnauthenticated, jwtverify.ReasonDPoPProof, string(c.rule), append(ps, tok)...)
		})
	}
	// The same token with a right proof passes: each case above failed
	// for its one defect. A kid names nothing to look up: the key is the
	// jwk, whatever kid says.
	a := s.Do(t, "GET", PathWhoAmI, "DPoP "+tok, proof()()...)
	if a.Status != http.StatusOK {
		t.Fatalf("right proof: %d %q", a.Status, a.Challenges)
	}
	a = s.Do(t, "GET", PathWhoAmI, "DPoP "+tok, proof(hs(map[string]any{"kid": "https://attacker.test/key"}))()...)
	if a.Status != http.StatusOK {
		t.Fatalf("right proof with a kid: %d %q", a.Status, a.Challenges)
	}
	// htu is compared after RFC 3986 normalisation (case of scheme and
	// host, default port), and the request's query is not part of it.
	upper := "HTTP://" + strings.ToUpper(strings.TrimPrefix(s.URL, "http://")) + PathWhoAmI
	a = s.Do(t, "GET", PathWhoAmI, "DPoP "+tok, proof(cl(map[string]any{"htu": upper}))()...)
	if a.Status != http.StatusOK {
		t.Fatalf("htu with upper-case scheme and host: %d %q", a.Status, a.Challenges)
	}
	a = s.Do(t, "GET", PathWhoAmI+"?page=2", "DPoP "+tok, proof()()...)
	if a.Status != http.StatusOK {
		t.Fatalf("request with a query: %d %q", a.Status, a.Challenges)
	}
}

func runSchemes(t *testing.T, env *DPoPEnv, handle DPoPHandle) {
	boundA := env.Token(t, env.A, OrdersScope)
	unbound := env.Token(t, nil, OrdersScope)
	for _, policy := range []binding.Policy{binding.Optional, binding.Required} {
		t.Run(policy.String(), func(t *testing.T) {
			s := StartDPoP(t, handle, env.Verifier(t, policy, binding.DPoP), dpop.Config{})
			// K1: no token, both challenges.
			a := s.Do(t, "GET", PathWhoAmI, "")
			if a.Status != 401 || len(a.Challenges) != 2 || a.Challenges[0] != `Bearer realm="`+Realm+`"` ||
				!strings.HasPrefix(a.Challenges[1], `DPoP algs="`) || strings.Contains(a.Challenges[1], "error") {
				t.Errorf("no token: %d %q, want both bare challenges", a.Status, a.Challenges)
			}
			s.CheckEvents(t, "no token", jwtverify.DecisionUnauthenticated, "", "")
			// K3: a DPoP-bound token with Bearer, even with a right proof.
			a = s.Do(t, "GET", PathWhoAmI, "Bearer "+boundA, s.Proof(t, env.A, "GET", PathWhoAmI, boundA, ""))
			if a.Status != 401 || len(a.Challenges) != 2 || param(a.Challenges[0], "error") != jwtverify.CodeInvalidToken ||
				!strings.HasPrefix(a.Challenges[0], "Bearer ") || !strings.HasPrefix(a.Challenges[1], "DPoP ") {
				t.Errorf("bound token with Bearer: %d %q", a.Status, a.Challenges)
			}
			s.CheckEvents(t, "bound token with Bearer", jwtverify.DecisionUnauthenticated, jwtverify.ReasonBinding, string(binding.ReasonNoDPoPProof))
			// K3: an unbound token with Bearer is a bearer token (optional)
			// and the DPoP header beside it is not even parsed.
			a = s.Do(t, "GET", PathWhoAmI, "Bearer "+unbound, "garbage", "more garbage")
			if policy == binding.Optional {
				if a.Status != 200 || a.Nonce != "" {
					t.Errorf("unbound token with Bearer and a junk DPoP header: %d %q", a.Status, a.Challenges)
				}
				s.CheckEvents(t, "unbound bearer", jwtverify.DecisionAllowed, "", "")
			} else {
				if a.Status != 401 || param(a.Challenges[0], "error") != jwtverify.CodeInvalidToken {
					t.Errorf("unbound token with Bearer under required: %d %q", a.Status, a.Challenges)
				}
				s.CheckEvents(t, "unbound bearer", jwtverify.DecisionUnauthenticated, jwtverify.ReasonBinding, string(binding.ReasonBindingRequired))
			}
			// K4: an unbound token with the DPoP scheme and a right proof.
			a = s.Do(t, "GET", PathWhoAmI, "DPoP "+unbound, s.Proof(t, env.A, "GET", PathWhoAmI, unbound, ""))
			WantDPoPRefusal(t, "unbound token with DPoP", a, jwtverify.CodeInvalidToken, unbound)
			s.CheckEvents(t, "unbound token with DPoP", jwtverify.DecisionUnauthenticated, jwtverify.ReasonBinding, string(binding.ReasonDPoPNotBound))
			// K5: bound to key A, proof by key B (a valid proof of B's).
			a = s.Do(t, "GET", PathWhoAmI, "DPoP "+boundA, s.Proof(t, env.B, "GET", PathWhoAmI, boundA, ""))
			WantDPoPRefusal(t, "token of A, proof of B", a, jwtverify.CodeInvalidToken, boundA)
			s.CheckEvents(t, "token of A, proof of B", jwtverify.DecisionUnauthenticated, jwtverify.ReasonBinding, string(binding.ReasonJKTMismatch))
			// K2: the right key.
			a = s.Do(t, "GET", PathWhoAmI, "DPoP "+boundA, s.Proof(t, env.A, "GET", PathWhoAmI, boundA, ""))
			if a.Status != 200 || !strings.HasPrefix(a.Body, "client="+ClientID) || a.Nonce != "" {
				t.Errorf("bound token, right proof: %d %q %q", a.Status, a.Challenges, a.Body)
			}
			s.CheckEvents(t, "right proof", jwtverify.DecisionAllowed, "", "")
		})
	}
}

func runReplay(t *testing.T, env *DPoPEnv, handle DPoPHandle) {
	s := StartDPoP(t, handle, env.Verifier(t, binding.Optional, binding.DPoP), dpop.Config{})
	tok := env.Token(t, env.A, OrdersScope)
	// The middleware and the route requirement on one request: the proof
	// is checked once, not seen as its own replay; one decision.
	p := s.Proof(t, env.A, "GET", PathOrders, tok, "")
	if a := s.Do(t, "GET", PathOrders, "DPoP "+tok, p); a.Status != 200 {
		t.Fatalf("handler and requirement: %d %q", a.Status, a.Challenges)
	}
	s.CheckEvents(t, "handler and requirement", jwtverify.DecisionAllowed, "", "")
	// K7: the same proof again is a replay.
	a := s.Do(t, "GET", PathOrders, "DPoP "+tok, p)
	WantDPoPRefusal(t, "replay", a, jwtverify.CodeInvalidDPoPProof, tok, p)
	s.CheckEvents(t, "replay", jwtverify.DecisionUnauthenticated, jwtverify.ReasonDPoPProof, string(dpop.ReasonReplay), tok, p)
	// A fresh proof passes: the refusal was the replay, not the token.
	if a := s.Do(t, "GET", PathOrders, "DPoP "+tok, s.Proof(t, env.A, "GET", PathOrders, tok, "")); a.Status != 200 {
		t.Fatalf("fresh proof after a replay: %d %q", a.Status, a.Challenges)
	}
	s.Rec.Take()
	// A token over the verifier's MaxTokenSize is refused as Verify
	// refuses it (invalid_token, malformed) before its proof is looked at:
	// the proof's ath would otherwise hash it (this proof is even forged).
	big := tok + "." + strings.Repeat("A", jwtverify.DefaultMaxTokenSize)
	bp := s.Proof(t, env.A, "GET", PathOrders, big, "", oauthtest.WithProofSignatureFunc(func(_ string, sig []byte) []byte { return sig[1:] }))
	if a := s.Do(t, "GET", PathOrders, "DPoP "+big, bp); a.Status != 401 || len(a.Challenges) == 0 || param(a.Challenges[0], "error") != jwtverify.CodeInvalidToken {
		t.Errorf("oversized token: %d %q, want 401 invalid_token", a.Status, a.Challenges)
	}
	s.CheckEvents(t, "oversized token", jwtverify.DecisionUnauthenticated, jwtverify.ReasonMalformed, "")
	// A stolen token without the key: the thief's own key does not match
	// and a captured proof is for another URL.
	if a := s.Do(t, "GET", PathWhoAmI, "DPoP "+tok, p); a.Status != 401 {
		t.Errorf("captured proof on another URL: %d", a.Status)
	}
}

func runNonces(t *testing.T, env *DPoPEnv, handle DPoPHandle) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	n, err := dpop.NewNonces(secret, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	s := StartDPoP(t, handle, env.Verifier(t, binding.Optional, binding.DPoP), dpop.Config{Nonces: n})
	tok := env.Token(t, env.A, OrdersScope)
	// K8: a proof without the nonce: use_dpop_nonce and a nonce.
	a := s.Do(t, "GET", PathWhoAmI, "DPoP "+tok, s.Proof(t, env.A, "GET", PathWhoAmI, tok, ""))
	WantDPoPRefusal(t, "no nonce", a, jwtverify.CodeUseDPoPNonce, tok)
	if a.Nonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	s.CheckEvents(t, "no nonce", jwtverify.DecisionUnauthenticated, jwtverify.ReasonDPoPNonce, string(dpop.ReasonNonce))
	// A made-up nonce is refused the same way.
	a = s.Do(t, "GET", PathWhoAmI, "DPoP "+tok, s.Proof(t, env.A, "GET", PathWhoAmI, tok, "bm90LWEtbm9uY2U"))
	WantDPoPRefusal(t, "forged nonce", a, jwtverify.CodeUseDPoPNonce, tok)
	s.Rec.Take()
	// With the nonce: allowed, and the answer carries a fresh nonce.
	a = s.Do(t, "GET", PathWhoAmI, "DPoP "+tok, s.Proof(t, env.A, "GET", PathWhoAmI, tok, a.Nonce))
	if a.Status != 200 || a.Nonce == "" {
		t.Fatalf("with the nonce: %d %q nonce %q", a.Status, a.Challenges, a.Nonce)
	}
	s.CheckEvents(t, "with the nonce", jwtverify.DecisionAllowed, "", "")
	// The prover's RoundTripper retries once on use_dpop_nonce.
	hc := &http.Client{Transport: env.A.Transport(nil)}
	req, _ := http.NewRequest("GET", s.URL+PathWhoAmI, nil)
	req.Header.Set("Authorization", "DPoP "+tok)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("oauthtest Transport: %d", resp.StatusCode)
	}
}

func runStoreFull(t *testing.T, env *DPoPEnv, handle DPoPHandle) {
	s := StartDPoP(t, handle, env.Verifier(t, binding.Optional, binding.DPoP), dpop.Config{Replay: dpop.NewMemoryStore(1)})
	tok := env.Token(t, env.A, OrdersScope)
	if a := s.Do(t, "GET", PathWhoAmI, "DPoP "+tok, s.Proof(t, env.A, "GET", PathWhoAmI, tok, "")); a.Status != 200 {
		t.Fatalf("first proof: %d %q", a.Status, a.Challenges)
	}
	s.Rec.Take()
	// K9: the store cannot record a second proof: 503, fail safe.
	a := s.Do(t, "GET", PathWhoAmI, "DPoP "+tok, s.Proof(t, env.A, "GET", PathWhoAmI, tok, ""))
	if a.Status != http.StatusServiceUnavailable || len(a.Challenges) != 0 || a.RetryAfter == "" ||
		!strings.Contains(a.Body, "temporarily_unavailable") {
		t.Errorf("store full: %d %q Retry-After %q %q", a.Status, a.Challenges, a.RetryAfter, a.Body)
	}
	s.CheckEvents(t, "store full", jwtverify.DecisionUnavailable, jwtverify.ReasonReplayUnavailable, string(dpop.ReasonStoreUnavailable))
	// Junk never reaches the store: a refused proof leaves it alone, so a
	// bad proof still gets 401, not 503.
	a = s.Do(t, "GET", PathWhoAmI, "DPoP "+tok, s.Proof(t, env.B, "GET", PathWhoAmI, tok, ""))
	if a.Status != 401 {
		t.Errorf("wrong key with a full store: %d", a.Status)
	}
}
