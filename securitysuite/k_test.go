package securitysuite

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// Rows K1-K11: DPoP-bound access tokens (RFC 9449) through the fixture's
// net/http and Echo stacks (real servers on loopback) with
// middleware.WithDPoP. The Checker's public origin is kOrigin, as behind
// a proxy: the proofs name it, the requests go to the loopback listener,
// and the Host header is never consulted.

const kOrigin = "https://api.example.test"

var httpTransports = []transport{trHTTP, trEcho}

// kEnv is the fixture under a DPoP binding policy, with two client keys.
type kEnv struct {
	f    *fixture
	a, b *oauthtest.DPoPProver
}

func newKEnv(t testing.TB, policy binding.Policy, cfg dpop.Config, opts ...middleware.Option) *kEnv {
	t.Helper()
	cfg.PublicOrigins = []string{kOrigin}
	c, err := dpop.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, fixtureOptions{
		issuerConfig: func(_ *fixture, ic *jwtverify.IssuerConfig) {
			ic.Binding = binding.Config{Policy: policy, Methods: binding.DPoP}
		},
		mwOpts: append([]middleware.Option{middleware.WithDPoP(c)}, opts...),
	})
	e := &kEnv{f: f}
	if e.a, err = oauthtest.NewDPoPProver("ES256"); err != nil {
		t.Fatal(err)
	}
	if e.b, err = oauthtest.NewDPoPProver("ES256"); err != nil {
		t.Fatal(err)
	}
	return e
}

// token is a token of the fixture's issuer bound to p's key (unbound for
// nil).
func (e *kEnv) token(t testing.TB, p *oauthtest.DPoPProver) string {
	over := map[string]any{}
	if p != nil {
		over["cnf"] = map[string]any{"jkt": p.Thumbprint()}
	}
	return e.f.sign(t, "RS256", e.f.header("RS256", nil), e.f.claimsJSON(over))
}

// proof is p's proof for GET /api/read (the fixture's route) for tok.
func (e *kEnv) proof(t testing.TB, p *oauthtest.DPoPProver, tok string, opts ...oauthtest.ProofOption) string {
	pr, err := p.Proof(http.MethodGet, kOrigin+"/api/read", tok, "", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

func (e *kEnv) send(t testing.TB, tr transport, authz string, proofs ...string) answer {
	t.Helper()
	r := request{header: http.Header{}}
	if authz != "" {
		r.auth = []string{authz}
	}
	if proofs != nil {
		r.header["Dpop"] = proofs
	}
	a := e.f.send(t, tr, r)
	if a.err != nil {
		t.Fatal(a.err)
	}
	return a
}

// wantDPoP fails unless a is a 401 with the DPoP challenge carrying code
// first and the bare Bearer challenge second.
func wantDPoP(t testing.TB, name string, a answer, code string) {
	t.Helper()
	ch := a.header.Values("WWW-Authenticate")
	if a.status != http.StatusUnauthorized || len(ch) != 2 || !strings.HasPrefix(ch[0], `DPoP algs="`) ||
		!strings.Contains(ch[0], `error="`+code+`"`) || !strings.HasPrefix(ch[1], "Bearer realm=") || strings.Contains(ch[1], "error") {
		t.Errorf("%s: %d %q, want 401 with DPoP error=%q then a bare Bearer challenge", name, a.status, ch, code)
	}
}

// TestK1 (both challenges): with DPoP on, a 401 for a request without a
// token names both schemes.
func TestK1(t *testing.T) {
	e := newKEnv(t, binding.Optional, dpop.Config{})
	for _, tr := range httpTransports {
		a := e.send(t, tr, "")
		ch := a.header.Values("WWW-Authenticate")
		if a.status != 401 || len(ch) != 2 || !strings.HasPrefix(ch[0], "Bearer realm=") || !strings.HasPrefix(ch[1], `DPoP algs="`) ||
			strings.Contains(strings.Join(ch, ""), "error") {
			t.Errorf("%s: %d %q", tr, a.status, ch)
		}
	}
}

// TestK2 (accepted): a DPoP-bound token with a right proof passes the
// middleware and the route requirement on one request, the proof checked
// once (not seen as its own replay).
func TestK2(t *testing.T) {
	e := newKEnv(t, binding.Required, dpop.Config{})
	tok := e.token(t, e.a)
	for _, tr := range httpTransports {
		for i := 0; i < 3; i++ {
			if a := e.send(t, tr, "DPoP "+tok, e.proof(t, e.a, tok)); a.status != 200 {
				t.Fatalf("%s #%d: %d %q", tr, i, a.status, a.header.Values("WWW-Authenticate"))
			}
		}
	}
}

// TestK3 (Bearer): a DPoP-bound token with the Bearer scheme is refused
// even with a right proof; an unbound token with Bearer is a bearer token
// under optional, its DPoP header not even parsed.
func TestK3(t *testing.T) {
	e := newKEnv(t, binding.Optional, dpop.Config{})
	bound, unbound := e.token(t, e.a), e.token(t, nil)
	for _, tr := range httpTransports {
		a := e.send(t, tr, "Bearer "+bound, e.proof(t, e.a, bound))
		ch := a.header.Values("WWW-Authenticate")
		if a.status != 401 || len(ch) != 2 || !strings.Contains(ch[0], `error="invalid_token"`) || !strings.HasPrefix(ch[0], "Bearer ") {
			t.Errorf("%s bound with Bearer: %d %q", tr, a.status, ch)
		}
		if a := e.send(t, tr, "Bearer "+unbound, marker, marker); a.status != 200 {
			t.Errorf("%s unbound with Bearer and junk DPoP headers: %d", tr, a.status)
		}
	}
}

// TestK4 (unbound with DPoP): nothing ties an unbound token to the proof.
func TestK4(t *testing.T) {
	for _, policy := range []binding.Policy{binding.Optional, binding.Required} {
		e := newKEnv(t, policy, dpop.Config{})
		unbound := e.token(t, nil)
		for _, tr := range httpTransports {
			wantDPoP(t, string(tr)+" "+policy.String(), e.send(t, tr, "DPoP "+unbound, e.proof(t, e.a, unbound)), jwtverify.CodeInvalidToken)
		}
	}
}

// TestK5 (proof checks): a proof wrong in exactly one way of RFC 9449
// section 4.3, or made for another URL, method or token.
func TestK5(t *testing.T) {
	e := newKEnv(t, binding.Optional, dpop.Config{})
	tok, other := e.token(t, e.a), e.token(t, nil)
	hs := func(h map[string]any) oauthtest.ProofOption { return oauthtest.WithProofHeader(h) }
	cl := func(c map[string]any) oauthtest.ProofOption { return oauthtest.WithProofClaims(c) }
	for _, c := range []struct {
		name   string
		proofs func() []string
	}{
		{"missing", func() []string { return nil }},
		{"two_headers", func() []string { return []string{e.proof(t, e.a, tok), e.proof(t, e.a, tok)} }},
		{"too_large", func() []string {
			return []string{e.proof(t, e.a, tok, cl(map[string]any{"pad": strings.Repeat("p", 16<<10)}))}
		}},
		{"not_jws", func() []string { return []string{marker} }},
		{"typ", func() []string { return []string{e.proof(t, e.a, tok, hs(map[string]any{"typ": "JWT"}))} }},
		{"alg_none", func() []string { return []string{e.proof(t, e.a, tok, hs(map[string]any{"alg": "none"}))} }},
		{"alg_hmac", func() []string { return []string{e.proof(t, e.a, tok, hs(map[string]any{"alg": "HS256"}))} }},
		{"jwk_missing", func() []string { return []string{e.proof(t, e.a, tok, hs(map[string]any{"jwk": nil}))} }},
		{"jwk_private", func() []string {
			return []string{e.proof(t, e.a, tok, oauthtest.WithProofJWK(map[string]any{"d": "AAAA"}))}
		}},
		{"jku", func() []string {
			return []string{e.proof(t, e.a, tok, hs(map[string]any{"jku": "https://" + marker + "/jwks"}))}
		}},
		{"x5c", func() []string { return []string{e.proof(t, e.a, tok, hs(map[string]any{"x5c": []string{"AAAA"}}))} }},
		{"signature", func() []string { return []string{e.proof(t, e.a, tok, oauthtest.WithProofSigner("ES256"))} }},
		{"other_method", func() []string {
			p, _ := e.a.Proof(http.MethodPost, kOrigin+"/api/read", tok, "")
			return []string{p}
		}},
		{"other_url", func() []string {
			p, _ := e.a.Proof(http.MethodGet, kOrigin+"/api/admin", tok, "")
			return []string{p}
		}},
		{"other_origin", func() []string {
			p, _ := e.a.Proof(http.MethodGet, "http://127.0.0.1/api/read", tok, "")
			return []string{p}
		}},
		{"iat_old", func() []string {
			return []string{e.proof(t, e.a, tok, oauthtest.WithProofTime(time.Now().Add(-10*time.Minute)))}
		}},
		{"jti_missing", func() []string { return []string{e.proof(t, e.a, tok, cl(map[string]any{"jti": nil}))} }},
		{"other_token", func() []string { return []string{e.proof(t, e.a, other)} }},
	} {
		for _, tr := range httpTransports {
			ps := c.proofs()
			a := e.send(t, tr, "DPoP "+tok, ps...)
			wantDPoP(t, string(tr)+" "+c.name, a, jwtverify.CodeInvalidDPoPProof)
			if !strings.Contains(a.header.Get("WWW-Authenticate"), `error_description="`+jwtverify.ReasonDPoPProof.Description()+`"`) {
				t.Errorf("%s %s: not the fixed description: %q", tr, c.name, a.header.Get("WWW-Authenticate"))
			}
		}
	}
}

// TestK6 (key A, proof B): a token bound to key A with a valid proof of
// key B.
func TestK6(t *testing.T) {
	e := newKEnv(t, binding.Optional, dpop.Config{})
	tok := e.token(t, e.a)
	for _, tr := range httpTransports {
		wantDPoP(t, string(tr), e.send(t, tr, "DPoP "+tok, e.proof(t, e.b, tok)), jwtverify.CodeInvalidToken)
		if a := e.send(t, tr, "DPoP "+tok, e.proof(t, e.a, tok)); a.status != 200 {
			t.Errorf("%s: key A's proof: %d", tr, a.status)
		}
	}
}

// TestK7 (replay): an accepted proof is refused the second time, on
// either stack (one Checker, one store); a refused proof is never recorded.
func TestK7(t *testing.T) {
	e := newKEnv(t, binding.Optional, dpop.Config{})
	tok := e.token(t, e.a)
	p := e.proof(t, e.a, tok)
	// Refused first (the proof's ath is another token's), then accepted:
	// the refusal recorded nothing.
	if a := e.send(t, trHTTP, "DPoP "+e.token(t, e.b), p); a.status != 401 {
		t.Fatalf("other token: %d", a.status)
	}
	if a := e.send(t, trHTTP, "DPoP "+tok, p); a.status != 200 {
		t.Fatalf("first use: %d %q", a.status, a.header.Values("WWW-Authenticate"))
	}
	for _, tr := range httpTransports {
		wantDPoP(t, string(tr), e.send(t, tr, "DPoP "+tok, p), jwtverify.CodeInvalidDPoPProof)
	}
}

// TestK8 (nonces): with server nonces a proof without the current nonce
// gets use_dpop_nonce and a DPoP-Nonce header; with it, success and a
// fresh nonce.
func TestK8(t *testing.T) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	n, err := dpop.NewNonces(secret, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e := newKEnv(t, binding.Optional, dpop.Config{Nonces: n})
	tok := e.token(t, e.a)
	for _, tr := range httpTransports {
		a := e.send(t, tr, "DPoP "+tok, e.proof(t, e.a, tok))
		wantDPoP(t, string(tr), a, jwtverify.CodeUseDPoPNonce)
		nonce := a.header.Get("DPoP-Nonce")
		if nonce == "" {
			t.Fatalf("%s: no DPoP-Nonce", tr)
		}
		p, err := e.a.Proof(http.MethodGet, kOrigin+"/api/read", tok, nonce)
		if err != nil {
			t.Fatal(err)
		}
		a = e.send(t, tr, "DPoP "+tok, p)
		if a.status != 200 || a.header.Get("DPoP-Nonce") == "" {
			t.Errorf("%s: with the nonce: %d, DPoP-Nonce %q", tr, a.status, a.header.Get("DPoP-Nonce"))
		}
	}
}

// failingStore is an injected fault: a shared replay store that is down.
type failingStore struct{}

func (failingStore) Record(context.Context, [32]byte, time.Time, time.Time) error {
	return errors.New("store down")
}

// TestK9 (replay store cannot record): a full store, or a failing shared
// one, answers 503 with Retry-After: never an unrecorded acceptance.
func TestK9(t *testing.T) {
	for name, store := range map[string]dpop.ReplayStore{"full": dpop.NewMemoryStore(1), "failing": failingStore{}} {
		e := newKEnv(t, binding.Optional, dpop.Config{Replay: store})
		tok := e.token(t, e.a)
		if name == "full" {
			if a := e.send(t, trHTTP, "DPoP "+tok, e.proof(t, e.a, tok)); a.status != 200 {
				t.Fatalf("first proof: %d", a.status)
			}
		}
		for _, tr := range httpTransports {
			a := e.send(t, tr, "DPoP "+tok, e.proof(t, e.a, tok))
			if a.status != 503 || a.header.Get("Retry-After") == "" || len(a.header.Values("WWW-Authenticate")) != 0 {
				t.Errorf("%s %s: %d Retry-After %q %q", name, tr, a.status, a.header.Get("Retry-After"), a.header.Values("WWW-Authenticate"))
			}
		}
	}
}

// TestK10 (gRPC): the DPoP scheme over gRPC is refused with
// Unauthenticated DPOP_UNSUPPORTED, not taken for a missing token.
func TestK10(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	tok := f.mint(t)
	for _, v := range []string{"DPoP " + tok, "dpop " + tok, "DPoP"} {
		a := f.send(t, trGRPC, request{grpcMD: metadata.MD{"authorization": {v}}})
		if a.code != codes.Unauthenticated || a.info.GetReason() != grpcauth.InfoDPoPUnsupported || strings.Contains(a.msg, tok) {
			t.Errorf("%.12q: %v %q %v", v, a.code, a.msg, a.info)
		}
	}
}

// TestK11 (nothing reflected): answers, logs, decision events and metric
// labels carry bounded reasons, never the proof or the token.
func TestK11(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{ClientIDLabel: true})
	if err != nil {
		t.Fatal(err)
	}
	e := newKEnv(t, binding.Optional, dpop.Config{}, middleware.WithObserver(m))
	tok := e.token(t, e.a)
	sent := []string{tok}
	for _, tr := range httpTransports {
		for _, p := range []string{
			e.proof(t, e.a, tok, oauthtest.WithProofClaims(map[string]any{"jti": marker, "htu": "https://" + marker})),
			e.proof(t, e.a, tok, oauthtest.WithProofHeader(map[string]any{"typ": marker})),
			e.proof(t, e.b, tok, oauthtest.WithProofClaims(map[string]any{"jti": marker})),
			marker + "." + marker + "." + marker,
		} {
			sent = append(sent, p)
			a := e.send(t, tr, "DPoP "+tok, p)
			for _, s := range sent {
				if strings.Contains(a.body, s) || strings.Contains(strings.Join(a.header.Values("WWW-Authenticate"), " "), s) {
					t.Errorf("%s: the answer reflects the request", tr)
				}
			}
			if strings.Contains(a.body, marker) {
				t.Errorf("%s: the answer reflects the proof", tr)
			}
		}
	}
	logs := e.f.logs.String()
	if !strings.Contains(logs, "dpop_proof") {
		t.Errorf("the logs do not name the reason: %s", logs)
	}
	for _, s := range append(sent, marker) {
		if strings.Contains(logs, s) {
			t.Error("the logs carry the token or the proof")
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, mm := range mf.GetMetric() {
			for _, lp := range mm.GetLabel() {
				if strings.Contains(lp.GetValue(), marker) || len(lp.GetValue()) > 64 {
					t.Errorf("label %s=%q", lp.GetName(), lp.GetValue())
				}
			}
		}
	}
}

// FuzzDPoPRequest drives the net/http middleware with DPoP on in process
// with an arbitrary Authorization value and zero, one or two arbitrary DPoP
// header values (seeded with a right token and right proofs, and their
// mutations). Every answer must be one of the fixed answers with the
// challenges in order, reflect nothing it was sent, and a request is
// allowed only with the bound token and a proof the seeds made, each proof
// at most once (a replay is refused).
func FuzzDPoPRequest(f *testing.F) {
	e := newKEnv(f, binding.Optional, dpop.Config{})
	tok := e.token(f, e.a)
	made := map[string]bool{}
	for i := 0; i < 4; i++ {
		p := e.proof(f, e.a, tok)
		made[p] = true
		f.Add("DPoP "+tok, p, "", uint8(1))
		f.Add("dpop  "+tok, p, p, uint8(2))
		f.Add("DPoP "+tok+" x", p, "", uint8(1))
		f.Add("Bearer "+tok, p, "", uint8(1))
	}
	f.Add("DPoP "+tok, e.proof(f, e.b, tok), "", uint8(1))
	f.Add("DPoP", "", "", uint8(0))
	f.Add("DPoP "+marker, marker+"."+marker+"."+marker, "", uint8(1))
	accepted := map[string]bool{}
	f.Fuzz(func(t *testing.T, authz, p1, p2 string, n uint8) {
		r := httptest.NewRequest(http.MethodGet, kOrigin+"/api/read", nil)
		r.Header["Authorization"] = []string{authz}
		if ps := [][]string{nil, {p1}, {p1, p2}}[n%3]; ps != nil {
			r.Header["Dpop"] = ps
		}
		rec := httptest.NewRecorder()
		e.f.httpHandler.ServeHTTP(rec, r)
		ch := rec.Header().Values("WWW-Authenticate")
		switch rec.Code {
		case 200:
			if !isDPoPValue(authz, tok) || n%3 != 1 || !made[p1] || accepted[p1] {
				t.Fatalf("allowed %.40q with proof %.40q (made %v, accepted before %v)", authz, p1, made[p1], accepted[p1])
			}
			accepted[p1] = true
			return
		case 400, 401:
			if len(ch) != 2 {
				t.Fatalf("%d with challenges %q", rec.Code, ch)
			}
			dp, br := ch[0], ch[1]
			if strings.HasPrefix(ch[0], "Bearer ") {
				dp, br = ch[1], ch[0]
			}
			if !strings.HasPrefix(dp, `DPoP algs="`) || !strings.HasPrefix(br, `Bearer realm="`) {
				t.Fatalf("challenges %q", ch)
			}
		case 403:
			if len(ch) != 1 {
				t.Fatalf("403 with challenges %q", ch)
			}
		default:
			t.Fatalf("status %d", rec.Code)
		}
		for _, s := range []string{p1, p2, authz} {
			if len(s) >= 16 && (strings.Contains(rec.Body.String(), s) || strings.Contains(strings.Join(ch, " "), s)) {
				t.Fatal("the answer reflects the request")
			}
		}
	})
}

// isDPoPValue reports whether authz is "DPoP" (any case), spaces, tok.
func isDPoPValue(authz, tok string) bool {
	if len(authz) < 5 || !strings.EqualFold(authz[:4], "dpop") {
		return false
	}
	return strings.TrimLeft(authz[4:], " ") == tok && authz[4] == ' '
}
