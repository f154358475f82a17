package jwtverify

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/jwkscache"
)

// certThumb is the thumbprint of a (pretend) client certificate; other is
// another one.
var (
	certThumb  = sha256.Sum256([]byte("client certificate"))
	otherThumb = sha256.Sum256([]byte("another certificate"))
)

func boundTok(thumb [32]byte) string {
	return tok("ES256", nil, map[string]any{"cnf": map[string]any{"x5t#S256": binding.EncodeThumbprint(thumb)}})
}

func withBinding(p binding.Policy, m binding.Methods) func(*Config) {
	return func(c *Config) { c.Issuers[0].Binding = binding.Config{Policy: p, Methods: m} }
}

// bindingRule asserts err is a ReasonBinding refusal with the rule want.
func bindingRule(t *testing.T, name string, err error, want binding.Reason) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonBinding || e.Rule != string(want) || e.Issuer != "test" {
		t.Fatalf("%s: %v (%#v), want reason binding, rule %s", name, err, e, want)
	}
	if !errors.Is(err, ErrBinding) {
		t.Fatalf("%s: errors.Is(ErrBinding) fails", name)
	}
}

func TestBindingConfigAtNew(t *testing.T) {
	keys := jwkscache.NewStatic("static", trustedKeys()...)
	for name, c := range map[string]struct {
		b      binding.Config
		ignore bool
		want   string
	}{
		"ignore with optional": {binding.Config{Policy: binding.Optional, Methods: binding.Certificate}, true, "InsecureIgnoreConfirmation"},
		"ignore with required": {binding.Config{Policy: binding.Required, Methods: binding.Certificate}, true, "InsecureIgnoreConfirmation"},
		"no method":            {binding.Config{Policy: binding.Optional}, false, "confirmation method"},
		"unknown policy":       {binding.Config{Policy: 7, Methods: binding.Certificate}, false, "policy"},
	} {
		ic := baseIssuer(keys)
		ic.Binding, ic.InsecureIgnoreConfirmation = c.b, c.ignore
		_, err := New(Config{Issuers: []IssuerConfig{ic}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, c.want)
		}
	}
	ic := baseIssuer(keys)
	ic.InsecureIgnoreConfirmation = true // with Off: allowed, as before
	if _, err := New(Config{Issuers: []IssuerConfig{ic}}); err != nil {
		t.Fatal(err)
	}
	ic.InsecureIgnoreConfirmation, ic.Binding = false, binding.Config{Policy: binding.Required, Methods: binding.Certificate}
	v, err := New(Config{Issuers: []IssuerConfig{ic}})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Issuers()[0].Binding; got != ic.Binding {
		t.Fatalf("IssuerInfo.Binding = %+v", got)
	}
}

// TestVerifyBound: a certificate-bound token is accepted by VerifyBound with
// the right certificate only, on the first (miss) and later (hit) calls in
// any order; plain Verify refuses it under every policy, hit or miss.
func TestVerifyBound(t *testing.T) {
	ctx := context.Background()
	right := binding.CertificateProof(certThumb)
	for _, policy := range []binding.Policy{binding.Optional, binding.Required} {
		t.Run(policy.String(), func(t *testing.T) {
			rec := &recorder{}
			v := newV(t, func(c *Config) {
				withBinding(policy, binding.Certificate)(c)
				c.Observer = rec
			})
			token := boundTok(certThumb)
			// Plain Verify first (a miss that caches the token), then again
			// (a hit): refused both times.
			for i := 0; i < 2; i++ {
				if _, err := v.Verify(ctx, token); !errors.Is(err, ErrType) {
					t.Fatalf("Verify #%d of a bound token: %v", i, err)
				}
			}
			for i := 0; i < 3; i++ {
				p, err := v.VerifyBound(ctx, token, right)
				if err != nil {
					t.Fatalf("VerifyBound #%d, right certificate: %v", i, err)
				}
				if x5t, ok := p.Confirmation().X5tS256(); !ok || x5t != certThumb || !p.Confirmation().Equal(binding.CertificateConfirmation(certThumb)) {
					t.Fatal("Principal.Confirmation lost the thumbprint")
				}
				if ev := rec.last(); ev.Reason != "" || !ev.CacheHit { // cached by the Verify above
					t.Fatalf("event %+v", ev)
				}
			}
			n := len(rec.evs)
			for name, c := range map[string]struct {
				proof binding.Proof
				want  binding.Reason
			}{
				"another certificate": {binding.CertificateProof(otherThumb), binding.ReasonThumbprintMismatch},
				"no certificate":      {binding.NoCertificate(binding.ReasonNoClientCertificate), binding.ReasonNoClientCertificate},
				"not TLS":             {binding.NoCertificate(binding.ReasonNotTLS), binding.ReasonNotTLS},
				"zero proof":          {binding.Proof{}, binding.ReasonNoClientCertificate},
				"forwarded repeated":  {binding.NoCertificate(binding.ReasonForwardedRepeated), binding.ReasonForwardedRepeated},
			} {
				_, err := v.VerifyBound(ctx, token, c.proof)
				bindingRule(t, name, err, c.want)
				if ev := rec.last(); ev.Reason != ReasonBinding || ev.Rule != string(c.want) || !ev.CacheHit || ev.Issuer != "test" {
					t.Fatalf("%s: event %+v", name, ev)
				}
			}
			if len(rec.evs) != n+5 {
				t.Fatalf("%d events for 5 calls", len(rec.evs)-n)
			}
			// Still accepted with the right certificate after the refusals.
			if _, err := v.VerifyBound(ctx, token, right); err != nil {
				t.Fatal(err)
			}
			// The same from a cold cache: the refusal on a miss.
			v.ForgetAll()
			_, err := v.VerifyBound(ctx, token, binding.CertificateProof(otherThumb))
			bindingRule(t, "mismatch on a miss", err, binding.ReasonThumbprintMismatch)

			// An unbound token.
			bearer := tok("ES256", nil, nil)
			_, errV := v.Verify(ctx, bearer)
			_, errB := v.VerifyBound(ctx, bearer, right)
			if policy == binding.Required {
				bindingRule(t, "Verify, required, unbound", errV, binding.ReasonBindingRequired)
				bindingRule(t, "VerifyBound, required, unbound", errB, binding.ReasonBindingRequired)
			} else if errV != nil || errB != nil {
				t.Fatalf("optional, unbound: %v, %v", errV, errB)
			}
		})
	}
}

// TestVerifyBoundOff: under Off (the default) a bound token is refused by
// both entry points as before (ReasonType), and a bearer token accepted.
func TestVerifyBoundOff(t *testing.T) {
	ctx := context.Background()
	v := newV(t, nil)
	for i := 0; i < 2; i++ {
		if _, err := v.VerifyBound(ctx, boundTok(certThumb), binding.CertificateProof(certThumb)); !errors.Is(err, ErrType) {
			t.Fatalf("VerifyBound under Off: %v", err)
		}
		if _, err := v.Verify(ctx, boundTok(certThumb)); !errors.Is(err, ErrType) {
			t.Fatalf("Verify under Off: %v", err)
		}
	}
	if _, err := v.VerifyBound(ctx, tok("ES256", nil, nil), binding.Proof{}); err != nil {
		t.Fatal(err)
	}
	// InsecureIgnoreConfirmation: accepted unparsed, no Confirmation.
	v = newV(t, func(c *Config) { c.Issuers[0].InsecureIgnoreConfirmation = true })
	p, err := v.VerifyBound(ctx, boundTok(certThumb), binding.Proof{})
	if err != nil || p.Confirmation().Bound() {
		t.Fatalf("ignore: %v %v", err, p.Confirmation().Bound())
	}
	if (*Principal)(nil).Confirmation().Bound() {
		t.Fatal("nil Principal bound")
	}
}

// TestMalformedConfirmation: under a binding policy a cnf that is not a
// strict confirmation object refuses (rule malformed_cnf), through both
// entry points, and is not cached.
func TestMalformedConfirmation(t *testing.T) {
	ctx := context.Background()
	good := binding.EncodeThumbprint(certThumb)
	v := newV(t, withBinding(binding.Optional, binding.Certificate|binding.DPoP))
	for name, cnf := range map[string]any{
		"string":        "junk",
		"null":          nil,
		"array":         []any{good},
		"empty object":  map[string]any{},
		"short":         map[string]any{"x5t#S256": good[:42]},
		"padded":        map[string]any{"x5t#S256": good + "="},
		"unknown":       map[string]any{"x5t#S256": good, "kid": "k"},
		"jwk":           map[string]any{"jwk": map[string]any{"kty": "EC"}},
		"number member": map[string]any{"jkt": 7},
	} {
		cl := baseClaims()
		cl["cnf"] = cnf
		token := signToken("ES256", fx("ES256").priv, mustJSON(map[string]any{"alg": "ES256", "kid": "ES256", "typ": "at+jwt"}), mustJSON(cl))
		for i := 0; i < 2; i++ {
			_, err := v.VerifyBound(ctx, token, binding.CertificateProof(certThumb))
			bindingRule(t, name, err, binding.ReasonMalformedConfirmation)
			_, err = v.Verify(ctx, token)
			bindingRule(t, name+" (Verify)", err, binding.ReasonMalformedConfirmation)
		}
	}
	if st := v.CacheStats(); st.Entries != 0 {
		t.Fatalf("malformed tokens cached: %+v", st)
	}
}

// TestMethodNotAllowed: a DPoP-bound token at an issuer allowing only
// certificates, and a token bound with both methods, need each method
// allowed and proven.
func TestMethodNotAllowed(t *testing.T) {
	ctx := context.Background()
	jkt := sha256.Sum256([]byte("key"))
	v := newV(t, withBinding(binding.Optional, binding.Certificate))
	dpop := tok("ES256", nil, map[string]any{"cnf": map[string]any{"jkt": binding.EncodeThumbprint(jkt)}})
	_, err := v.VerifyBound(ctx, dpop, binding.CertificateProof(certThumb).WithDPoP(jkt))
	bindingRule(t, "jkt at a certificate-only issuer", err, binding.ReasonMethodNotAllowed)
	both := tok("ES256", nil, map[string]any{"cnf": map[string]any{"jkt": binding.EncodeThumbprint(jkt), "x5t#S256": binding.EncodeThumbprint(certThumb)}})
	_, err = v.VerifyBound(ctx, both, binding.CertificateProof(certThumb))
	bindingRule(t, "two methods, one allowed", err, binding.ReasonMethodNotAllowed)
	v = newV(t, withBinding(binding.Optional, binding.Certificate|binding.DPoP))
	_, err = v.VerifyBound(ctx, both, binding.CertificateProof(certThumb))
	bindingRule(t, "two methods, one proven", err, binding.ReasonNoDPoPProof)
	if _, err := v.VerifyBound(ctx, both, binding.CertificateProof(certThumb).WithDPoP(jkt)); err != nil {
		t.Fatal(err)
	}
}
