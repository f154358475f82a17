package dpop_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/oauthtest"
)

const (
	apiOrigin = "https://api.example.com"
	apiURL    = apiOrigin + "/orders/42"
	token     = "an-access-token"
)

// clock is a settable fake clock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func newProver(t testing.TB, alg string) *oauthtest.DPoPProver {
	t.Helper()
	p, err := oauthtest.NewDPoPProver(alg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newChecker(t testing.TB, cfg dpop.Config) *dpop.Checker {
	t.Helper()
	if cfg.PublicOrigins == nil {
		cfg.PublicOrigins = []string{apiOrigin}
	}
	c, err := dpop.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// request builds a server-side request for target (a path with optional
// query) carrying the given DPoP header values.
func request(method, target string, proofs ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	return r
}

func mustProof(t testing.TB, p *oauthtest.DPoPProver, method, url, tok, nonce string, opts ...oauthtest.ProofOption) string {
	t.Helper()
	s, err := p.Proof(method, url, tok, nonce, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantReason fails t unless err is a *dpop.Error with reason want.
func wantReason(t testing.TB, err error, want dpop.Reason) {
	t.Helper()
	var e *dpop.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want a *dpop.Error with reason %q", err, want)
	}
	if e.Reason != want {
		t.Fatalf("reason = %q (%v), want %q", e.Reason, err, want)
	}
}

// expectRefused runs a GET of apiURL with the given proof through c.Check.
func expectRefused(t testing.TB, c *dpop.Checker, proof string, want dpop.Reason) {
	t.Helper()
	_, err := c.Check(request("GET", "/orders/42", proof), token)
	wantReason(t, err, want)
}
