package dpop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzParseProof feeds arbitrary DPoP header values to the parser and the
// whole Check: nothing panics, every refusal is an *Error with a known
// reason, and an accepted proof has a thumbprint. A valid proof seeds the
// corpus so the fuzzer explores past the signature.
func FuzzParseProof(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.AA")
	f.Add(signedSeed(f, `{"jti":"1","htm":"GET","htu":"https://api.example.com/x","iat":1700000000,"ath":"`+athOf("tok")+`"}`))
	f.Add(signedSeed(f, `{"jti":"\u0031","htm":"GET","htu":"https:\/\/API.example.com:443\/%78","iat":1700000000.5,"ath":"`+athOf("tok")+`","x":[{"a":null}]}`))
	c, err := New(Config{PublicOrigins: []string{"https://api.example.com"}, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	known := map[Reason]bool{}
	for _, r := range Reasons() {
		known[r] = true
	}
	f.Fuzz(func(t *testing.T, s string) {
		var p proof
		if err := parseProof(s, &p); err != nil && !known[err.Reason] {
			t.Fatalf("parse reason %q", err.Reason)
		}
		r := httptest.NewRequest("GET", "https://api.example.com/x", nil)
		r.Header.Set("DPoP", s)
		v, err := c.Check(r, "tok")
		if err == nil {
			if v.IsZero() {
				t.Fatal("accepted with a zero Verified")
			}
			return
		}
		if !known[ReasonOf(err)] {
			t.Fatalf("check reason %q", ReasonOf(err))
		}
	})
}

func athOf(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

// signedSeed signs claims with a fresh P-256 key as an ES256 DPoP proof.
func signedSeed(f *testing.F, claims string) string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := k.PublicKey.Bytes()
	enc := base64.RawURLEncoding
	hdr := `{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"` +
		enc.EncodeToString(raw[1:33]) + `","y":"` + enc.EncodeToString(raw[33:]) + `"}}`
	input := enc.EncodeToString([]byte(hdr)) + "." + enc.EncodeToString([]byte(claims))
	d := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
	if err != nil {
		f.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	seed := input + "." + enc.EncodeToString(sig)
	// The seed must pass, or the fuzzer never reaches the late checks.
	c, _ := New(Config{PublicOrigins: []string{"https://api.example.com"}, Now: func() time.Time { return time.Unix(1_700_000_000, 0) }})
	req := httptest.NewRequest("GET", "https://api.example.com/x", nil)
	req.Header.Set("DPoP", seed)
	if _, err := c.Check(req, "tok"); err != nil {
		f.Fatalf("seed refused: %v", err)
	}
	return seed
}
