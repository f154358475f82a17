package oauthtest_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/oauthtest"
)

func newProver(t *testing.T, alg string) *oauthtest.DPoPProver {
	t.Helper()
	p, err := oauthtest.NewDPoPProver(alg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDPoPTokenEndpointIssuesBoundTokens(t *testing.T) {
	s := tokenServer(t)
	for _, alg := range []string{"", "ES384", "RS256", "PS256", "EdDSA"} {
		t.Run("alg "+alg, func(t *testing.T) {
			p := newProver(t, alg)
			tok, err := p.FetchToken(context.Background(), nil, s.TokenURL(), "svc", "s3:cr&t +/=", url.Values{"scope": {"read"}})
			if err != nil {
				t.Fatal(err)
			}
			d, err := verify(t, servedKeys(t, s), tok)
			if err != nil {
				t.Fatal(err)
			}
			cnf, _ := d.claims["cnf"].(map[string]any)
			if cnf["jkt"] != p.Thumbprint() || len(cnf) != 1 {
				t.Fatalf("cnf %v, want jkt %s", d.claims["cnf"], p.Thumbprint())
			}
		})
	}
	// Without a proof: a Bearer token without cnf.
	status, _, body := post(t, s, url.Values{"grant_type": {"client_credentials"}}, basic("svc", "s3:cr&t +/="))
	if status != 200 || body["token_type"] != "Bearer" {
		t.Fatalf("bearer: %d %v", status, body)
	}
	d, err := verify(t, servedKeys(t, s), body["access_token"].(string))
	if err != nil || d.claims["cnf"] != nil {
		t.Fatalf("bearer token cnf %v (%v)", d.claims["cnf"], err)
	}
}

func TestDPoPTokenEndpointRefusesInvalidProofs(t *testing.T) {
	s := tokenServer(t)
	p := newProver(t, "")
	form := url.Values{"grant_type": {"client_credentials"}}
	replayed := mustProof(t, p, "POST", s.TokenURL(), "")
	for _, tc := range []struct {
		name   string
		proofs []string
		status int
	}{
		{"valid", []string{replayed}, 200},
		{"replayed", []string{replayed}, 400},
		{"another URL", []string{mustProof(t, p, "POST", s.JWKSURL(), "")}, 400},
		{"another method", []string{mustProof(t, p, "GET", s.TokenURL(), "")}, 400},
		{"with ath", []string{mustProof(t, p, "POST", s.TokenURL(), "a-token")}, 400},
		{"bad signature", []string{mustProof(t, p, "POST", s.TokenURL(), "", oauthtest.WithProofSigner("ES256"))}, 400},
		{"private jwk", []string{mustProof(t, p, "POST", s.TokenURL(), "", oauthtest.WithProofJWK(map[string]any{"d": "AQAB"}))}, 400},
		{"two proofs", []string{mustProof(t, p, "POST", s.TokenURL(), ""), mustProof(t, p, "POST", s.TokenURL(), "")}, 400},
		{"not a JWS", []string{"proof"}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := post(t, s, form, func(r *http.Request) {
				basic("svc", "s3:cr&t +/=")(r)
				for _, pr := range tc.proofs {
					r.Header.Add("DPoP", pr)
				}
			})
			if status != tc.status {
				t.Fatalf("status %d, want %d (%v)", status, tc.status, body)
			}
			if tc.status == 400 && body["error"] != "invalid_dpop_proof" {
				t.Fatalf("error %v", body["error"])
			}
			if tc.status == 200 && body["token_type"] != "DPoP" {
				t.Fatalf("token_type %v", body["token_type"])
			}
		})
	}
}

func TestDiscoveryAdvertisesDPoPAlgorithms(t *testing.T) {
	s := tokenServer(t)
	_, _, body := get(t, s.DiscoveryURL())
	if !strings.Contains(string(body), `"dpop_signing_alg_values_supported":["ES256","ES384","ES512","RS256","PS256","EdDSA"]`) {
		t.Fatalf("discovery %s", body)
	}
}

func TestWithDPoPBinding(t *testing.T) {
	s := tokenServer(t)
	p := newProver(t, "")
	d, err := verify(t, servedKeys(t, s), s.MintT(t, oauthtest.WithDPoPBinding(p.Thumbprint())))
	if err != nil {
		t.Fatal(err)
	}
	if cnf, _ := d.claims["cnf"].(map[string]any); cnf["jkt"] != p.Thumbprint() {
		t.Fatalf("cnf %v", d.claims["cnf"])
	}
}

func mustProof(t *testing.T, p *oauthtest.DPoPProver, method, u, tok string, opts ...oauthtest.ProofOption) string {
	t.Helper()
	s, err := p.Proof(method, u, tok, "", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dpopAPI is a DPoP-protected API built on dpop.Checker directly (the
// middleware wiring is package middleware's): it requires a server nonce,
// checks the proof and that the token (verified against the issuer's keys)
// is bound to the proof's key, and counts what it answered.
type dpopAPI struct {
	*httptest.Server
	checker            *dpop.Checker
	ok, nonce, refused atomic.Int64
	bodies             atomic.Value // last POST body
}

func newDPoPAPI(t *testing.T, s *oauthtest.Server) *dpopAPI {
	t.Helper()
	secret := make([]byte, 32)
	rand.Read(secret)
	nonces, err := dpop.NewNonces(secret, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	a := &dpopAPI{}
	keys := servedKeys(t, s)
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP ")
		if !ok {
			a.refused.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		v, err := a.checker.Check(r, tok)
		var d decoded
		if err == nil {
			d, err = verify(t, keys, tok)
		}
		if err == nil {
			if cnf, _ := d.claims["cnf"].(map[string]any); cnf["jkt"] != v.JKT() {
				err = errors.New("token not bound to the proof's key")
			}
		}
		if err == nil {
			err = a.checker.Commit(r.Context(), v)
		}
		w.Header().Set("DPoP-Nonce", a.checker.Nonce())
		switch {
		case dpop.ReasonOf(err).Nonce():
			a.nonce.Add(1)
			w.Header().Set("WWW-Authenticate", `DPoP algs="ES256", error="use_dpop_nonce"`)
			w.WriteHeader(http.StatusUnauthorized)
		case err != nil:
			a.refused.Add(1)
			w.Header().Set("WWW-Authenticate", `DPoP algs="ES256", error="invalid_dpop_proof"`)
			w.WriteHeader(http.StatusUnauthorized)
		default:
			a.ok.Add(1)
			b, _ := io.ReadAll(r.Body)
			a.bodies.Store(string(b))
			fmt.Fprint(w, "hello")
		}
	}))
	t.Cleanup(a.Close)
	a.checker, err = dpop.New(dpop.Config{PublicOrigins: []string{a.URL}, Nonces: nonces})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDPoPTransportRetriesOnceWithTheServerNonce(t *testing.T) {
	s := tokenServer(t)
	api := newDPoPAPI(t, s)
	p := newProver(t, "")
	tok, err := p.FetchToken(context.Background(), nil, s.TokenURL(), "svc", "s3:cr&t +/=", nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: p.Transport(nil)}
	do := func(method, path string, body io.Reader) int {
		t.Helper()
		req, err := http.NewRequest(method, api.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if req.Header.Get("Authorization") != "Bearer "+tok || req.Header.Get("DPoP") != "" {
			t.Fatal("the transport changed the caller's request")
		}
		return resp.StatusCode
	}
	// First call: 401 use_dpop_nonce, then the retry with the nonce.
	if st := do("GET", "/orders?x=1", nil); st != 200 || api.nonce.Load() != 1 || api.ok.Load() != 1 {
		t.Fatalf("status %d, nonce answers %d, ok %d", st, api.nonce.Load(), api.ok.Load())
	}
	// Later calls reuse the nonce: no more 401s.
	if st := do("GET", "/orders/1", nil); st != 200 || api.nonce.Load() != 1 {
		t.Fatalf("status %d, nonce answers %d", st, api.nonce.Load())
	}
	// A replayable POST body is sent again on the retry.
	p2 := newProver(t, "EdDSA")
	tok2, err := p2.FetchToken(context.Background(), nil, s.TokenURL(), "svc", "s3:cr&t +/=", nil)
	if err != nil {
		t.Fatal(err)
	}
	client.Transport = p2.TransportWithToken(nil, func(context.Context) (string, error) { return tok2, nil })
	tok = "ignored: the token function wins"
	if st := do("POST", "/orders", strings.NewReader("order-1")); st != 200 || api.nonce.Load() != 2 || api.bodies.Load() != "order-1" {
		t.Fatalf("POST status %d, nonce answers %d, body %v", st, api.nonce.Load(), api.bodies.Load())
	}
	// A body that cannot be replayed is not retried: the 401 comes back.
	client.Transport = newProver(t, "").TransportWithToken(nil, func(context.Context) (string, error) { return tok2, nil })
	if st := do("POST", "/orders", io.NopCloser(strings.NewReader("order-2"))); st != 401 || api.nonce.Load() != 3 {
		t.Fatalf("non-replayable POST: status %d, nonce answers %d", st, api.nonce.Load())
	}
	// Another key's transport with this token: the binding refuses.
	client.Transport = newProver(t, "").TransportWithToken(nil, func(context.Context) (string, error) { return tok2, nil })
	refused := api.refused.Load()
	if st := do("GET", "/orders", nil); st != 401 || api.refused.Load() != refused+1 {
		t.Fatalf("other key: status %d", st)
	}
}

func TestDPoPTransportNeedsAToken(t *testing.T) {
	p := newProver(t, "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("request sent without a token")
	}))
	defer srv.Close()
	client := &http.Client{Transport: p.Transport(nil)}
	if _, err := client.Get(srv.URL); err == nil || !strings.Contains(err.Error(), "no access token") {
		t.Fatalf("err %v", err)
	}
	failing := &http.Client{Transport: p.TransportWithToken(nil, func(context.Context) (string, error) { return "", errors.New("no token today") })}
	if _, err := failing.Get(srv.URL); err == nil || !strings.Contains(err.Error(), "no token today") {
		t.Fatalf("err %v", err)
	}
}

func TestDPoPProverProofShape(t *testing.T) {
	p := newProver(t, "")
	if p.Algorithm() != "ES256" {
		t.Fatalf("default alg %s", p.Algorithm())
	}
	if _, err := oauthtest.NewDPoPProver("HS256"); err == nil {
		t.Fatal("HS256 prover")
	}
	if _, err := p.Proof("GET", "/relative", "", ""); err == nil {
		t.Fatal("relative URL accepted")
	}
	c, err := dpop.New(dpop.Config{PublicOrigins: []string{"https://api.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	proof, err := p.Proof("GET", "https://api.example.test/x?q=1#frag", "tok", "")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("DPoP", proof)
	if _, err := c.Check(r, "tok"); err != nil {
		t.Fatal(err)
	}
}
