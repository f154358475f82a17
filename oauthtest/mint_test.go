package oauthtest_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/oauthtest"
)

func segments(t *testing.T, tok string) (header, payload, sig []byte) {
	t.Helper()
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		t.Fatalf("%d segments", len(p))
	}
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return dec(p[0]), dec(p[1]), dec(p[2])
}

func TestMintOptions(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s := oauthtest.NewT(t, oauthtest.WithKeyAlgs("RS256", "ES256"), oauthtest.WithClock(func() time.Time { return now }),
		oauthtest.WithTokenLifetime(10*time.Minute))
	rsaKid, ecKid := s.KeyIDs()[0], s.KeyIDs()[1]
	keys := servedKeys(t, s)
	s.RegisterClient(oauthtest.Client{ID: "app", Secret: "x", Scopes: []string{"a", "b"}, Roles: []string{"R"},
		Audiences: []string{"api://one", "api://two"}, Claims: map[string]any{"azp": "app", "scope": nil}})

	t.Run("clock and lifetime", func(t *testing.T) {
		d, err := verify(t, keys, s.MintT(t))
		if err != nil {
			t.Fatal(err)
		}
		if d.claims["iat"] != float64(now.Unix()) || d.claims["nbf"] != float64(now.Unix()) || d.claims["exp"] != float64(now.Unix()+600) {
			t.Fatalf("claims %v", d.claims)
		}
		d, _ = verify(t, keys, s.MintT(t, oauthtest.WithLifetime(-time.Minute)))
		if d.claims["exp"] != float64(now.Unix()-60) {
			t.Fatalf("exp %v", d.claims["exp"])
		}
		d2, _ := verify(t, keys, s.MintT(t))
		if d2.claims["jti"] == d.claims["jti"] || d.claims["jti"] == "" {
			t.Fatal("jti not unique")
		}
	})
	t.Run("claims merge and delete", func(t *testing.T) {
		tok := s.MintT(t, oauthtest.WithClaims(map[string]any{"aud": []string{"x", "y"}, "nbf": nil, "exp": "tomorrow"}),
			oauthtest.WithClaims(map[string]any{"scp": []string{"r"}, "jti": nil}))
		d, err := verify(t, keys, tok)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := d.claims["nbf"]; ok {
			t.Fatal("nbf not deleted")
		}
		if _, ok := d.claims["jti"]; ok {
			t.Fatal("jti not deleted")
		}
		if d.claims["exp"] != "tomorrow" || len(d.claims["aud"].([]any)) != 2 || d.claims["scp"].([]any)[0] != "r" {
			t.Fatalf("claims %v", d.claims)
		}
	})
	t.Run("client", func(t *testing.T) {
		d, err := verify(t, keys, s.MintT(t, oauthtest.WithClient("app")))
		if err != nil {
			t.Fatal(err)
		}
		if d.claims["sub"] != "app" || d.claims["client_id"] != "app" || d.claims["aud"] != "api://one" || d.claims["azp"] != "app" {
			t.Fatalf("claims %v", d.claims)
		}
		if _, ok := d.claims["scope"]; ok {
			t.Fatal("client Claims did not delete scope")
		}
		if _, err := s.Mint(oauthtest.WithClient("nobody")); err == nil {
			t.Fatal("minted for an unknown client")
		}
	})
	t.Run("header merge and delete", func(t *testing.T) {
		tok := s.MintT(t, oauthtest.WithHeader(map[string]any{"typ": nil, "jku": "https://evil.test/jwks", "kid": 7}))
		h, _, _ := segments(t, tok)
		if string(h) != `{"alg":"RS256","jku":"https://evil.test/jwks","kid":7}` {
			t.Fatalf("header %s", h)
		}
	})
	t.Run("header alg drives the signature", func(t *testing.T) {
		for _, tc := range []struct{ kid, alg string }{{rsaKid, "PS256"}, {rsaKid, "RS512"}, {ecKid, "ES384"}} {
			d, err := verify(t, keys, s.MintT(t, oauthtest.WithKeyID(tc.kid), oauthtest.WithHeader(map[string]any{"alg": tc.alg})))
			if err != nil || d.alg != tc.alg {
				t.Fatalf("%s over %s key: alg %s err %v", tc.alg, keys[tc.kid].alg, d.alg, err)
			}
		}
		// An alg the key cannot compute: signed with the key's own.
		tok := s.MintT(t, oauthtest.WithKeyID(ecKid), oauthtest.WithHeader(map[string]any{"alg": "none"}))
		h, p, sig := segments(t, tok)
		if len(sig) != 64 || verifySig(keys[ecKid].pub, "ES256", []byte(strings.Join(strings.Split(tok, ".")[:2], ".")), sig) != nil {
			t.Fatalf("alg none token %s %s not ES256 signed", h, p)
		}
	})
	t.Run("untrusted key", func(t *testing.T) {
		tok := s.MintT(t, oauthtest.WithUntrustedKey("ES256"))
		d, err := verify(t, keys, tok)
		if err == nil || d.kid == "" || d.kid == ecKid {
			t.Fatalf("untrusted key: kid %q err %v", d.kid, err)
		}
		tok = s.MintT(t, oauthtest.WithUntrustedKey("RS256"), oauthtest.WithHeader(map[string]any{"kid": rsaKid}))
		if _, err := verify(t, keys, tok); err != errBadSig {
			t.Fatalf("untrusted key claiming a published kid: %v", err)
		}
		if _, err := s.Mint(oauthtest.WithUntrustedKey("HS256")); err == nil {
			t.Fatal("untrusted HS256 key")
		}
	})
	t.Run("raw bytes", func(t *testing.T) {
		rawH := []byte(`{"alg":"RS256","alg":"none","kid":"` + rsaKid + `"}`)
		rawP := []byte("\xef\xbb\xbf{\"sub\":\"x\"} trailing")
		tok := s.MintT(t, oauthtest.WithRawHeader(rawH), oauthtest.WithRawClaims(rawP), oauthtest.WithKeyID(rsaKid))
		h, p, sig := segments(t, tok)
		if string(h) != string(rawH) || string(p) != string(rawP) {
			t.Fatalf("header %q payload %q", h, p)
		}
		// The last alg member is "none": signed with the key's own RS256.
		if err := verifySig(keys[rsaKid].pub, "RS256", []byte(strings.Join(strings.Split(tok, ".")[:2], ".")), sig); err != nil {
			t.Fatal(err)
		}
		tok, err := s.Sign(ecKid, []byte(`{"alg":"ES256","kid":"`+ecKid+`"}`), []byte(`{"exp":"1"}`))
		if err != nil {
			t.Fatal(err)
		}
		if d, err := verify(t, keys, tok); err != nil || d.claims["exp"] != "1" {
			t.Fatalf("Sign: %v %v", d.claims, err)
		}
		if _, err := s.Sign("", nil, nil); err == nil {
			t.Fatal("Sign without kid")
		}
		if _, err := s.Sign("unknown", nil, nil); err == nil {
			t.Fatal("Sign with an unknown kid")
		}
		tok, _ = s.Sign(ecKid, nil, nil)
		if tok[:2] != ".." || len(tok) < 10 {
			t.Fatalf("empty header and payload: %q", tok)
		}
	})
	t.Run("signature func", func(t *testing.T) {
		tok := s.MintT(t, oauthtest.WithHeader(map[string]any{"alg": "none"}),
			oauthtest.WithSignatureFunc(func(string, []byte) []byte { return nil }))
		if !strings.HasSuffix(tok, ".") || strings.Count(tok, ".") != 2 {
			t.Fatalf("unsigned token %q", tok)
		}
		var input string
		tok = s.MintT(t, oauthtest.WithKeyID(ecKid), oauthtest.WithSignatureFunc(func(in string, sig []byte) []byte {
			input = in
			return make([]byte, len(sig))
		}))
		if _, _, sig := segments(t, tok); len(sig) != 64 || !strings.HasPrefix(tok, input+".") {
			t.Fatalf("zero signature %x, input %q", sig, input)
		}
	})
	t.Run("add private key", func(t *testing.T) {
		weak, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		kid, err := s.AddPrivateKey("RS256", weak)
		if err != nil {
			t.Fatal(err)
		}
		// jwx refuses to parse RSA keys under 2048 bits, so check the
		// signature with the key itself; the JWKS still publishes it.
		if _, _, body := get(t, s.JWKSURL()); !strings.Contains(string(body), `"kid":"`+kid+`"`) {
			t.Fatalf("1024-bit key not published: %s", body)
		}
		pub, _ := s.PublicKey(kid)
		d, err := verify(t, map[string]servedKey{kid: {pub: pub}}, s.MintT(t, oauthtest.WithKeyID(kid)))
		if err != nil || d.kid != kid {
			t.Fatalf("1024-bit key: %v", err)
		}
		if _, err := s.AddPrivateKey("RS256", weak); err == nil {
			t.Fatal("published the same key twice")
		}
		ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if _, err := s.AddPrivateKey("ES384", ec); err == nil {
			t.Fatal("P-256 key accepted for ES384")
		}
		_, ed, _ := ed25519.GenerateKey(rand.Reader)
		if _, err := s.AddPrivateKey("RS256", ed); err == nil {
			t.Fatal("Ed25519 key accepted for RS256")
		}
		if err := s.RemoveKey(kid); err != nil {
			t.Fatal(err)
		}
	})
}
