package jwkscache

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"net/url"
	"slices"
	"testing"
)

var allSkipReasons = []SkipReason{SkipMalformed, SkipUnsupportedKty, SkipUnsupportedCrv, SkipNotForSignature,
	SkipKeyOpsNoVerify, SkipPrivateKey, SkipRSAKeySize, SkipRSAExponent, SkipUnsupportedAlg, SkipAlgMismatch,
	SkipKIDTooLong, SkipTooManyKeys}

// FuzzParseJWKS checks that nothing unusable ever becomes a usable key: each
// key ParseJWKS returns is re-checked against its JSON entry and its key
// material by rules written independently of the parser.
func FuzzParseJWKS(f *testing.F) {
	k := testKeys()
	rsaPub, ecPub, edPub := &k.rsa2048.PublicKey, &k.p384.PublicKey, k.ed.Public()
	seeds := [][]any{
		{jwkMap(f, rsaPub, "r", map[string]any{"alg": "RS256", "use": "sig"}), jwkMap(f, ecPub, "e", nil), jwkMap(f, edPub, "o", map[string]any{"alg": "EdDSA"})},
		{jwkMap(f, rsaPub, "r", map[string]any{"use": "enc"}), jwkMap(f, ecPub, "e", map[string]any{"key_ops": []string{"verify"}})},
		{jwkMap(f, k.rsa2048, "priv", nil), jwkMap(f, ecPub, "e", map[string]any{"alg": "ES256"})},
		{jwkMap(f, rsaPub, "r", map[string]any{"e": "AQ"}), map[string]any{"kty": "oct", "k": "AAAA"}},
		{jwkMap(f, rsaPub, "dup", map[string]any{"issuer": "https://x/{tenantid}"}), jwkMap(f, edPub, "dup", nil)},
	}
	for _, s := range seeds {
		f.Add(jwksDoc(f, s...))
	}
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`))
	f.Add([]byte(`{"keys":[],"keys":[{}]}`))
	f.Add([]byte(`{"keys":[null,1,"x",[]]} `))
	f.Fuzz(func(t *testing.T, doc []byte) {
		keys, skipped, err := ParseJWKS(doc, "fuzz")
		if err == nil && len(keys) == 0 {
			t.Fatal("no error and no key")
		}
		if err != nil && keys != nil {
			t.Fatal("keys returned with an error")
		}
		for _, s := range skipped {
			if !slices.Contains(allSkipReasons, s.Reason) {
				t.Fatalf("unknown reason %q", s.Reason)
			}
		}
		if err != nil {
			return
		}
		var parsed struct{ Keys []map[string]json.RawMessage }
		if e := json.Unmarshal(doc, &parsed); e != nil {
			t.Fatalf("accepted a document encoding/json refuses: %v", e)
		}
		skippedAt := map[int]bool{}
		for _, s := range skipped {
			skippedAt[s.Index] = true
		}
		next := 0
		for i, entry := range parsed.Keys {
			if i == MaxKeys {
				break
			}
			if skippedAt[i] {
				continue
			}
			if next >= len(keys) {
				t.Fatalf("entry %d neither skipped nor a key", i)
			}
			checkUsable(t, keys[next], entry)
			next++
		}
		if next != len(keys) {
			t.Fatalf("%d keys for %d unskipped entries", len(keys), next)
		}
	})
}

// checkUsable re-checks one usable key against its JWK entry.
func checkUsable(t *testing.T, k Key, m map[string]json.RawMessage) {
	t.Helper()
	str := func(name string) (string, bool) {
		raw, ok := m[name]
		if !ok {
			return "", false
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || bytes.Equal(raw, []byte("null")) {
			t.Fatalf("usable key with a non-string %q", name)
		}
		return s, true
	}
	for _, p := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
		if _, ok := m[p]; ok {
			t.Fatalf("usable key with private member %q", p)
		}
	}
	if use, ok := str("use"); ok && use != "sig" {
		t.Fatalf("usable key with use %q", use)
	}
	if raw, ok := m["key_ops"]; ok {
		var ops []string
		if err := json.Unmarshal(raw, &ops); err != nil || !slices.Contains(ops, "verify") {
			t.Fatalf("usable key with key_ops %s", raw)
		}
	}
	if kty, _ := str("kty"); kty != k.Kty {
		t.Fatalf("kty %q became %q", kty, k.Kty)
	}
	if kid, _ := str("kid"); kid != k.KID || len(kid) > MaxKIDLength {
		t.Fatalf("kid %q became %q", kid, k.KID)
	}
	if alg, _ := str("alg"); alg != k.Alg {
		t.Fatalf("alg %q became %q", alg, k.Alg)
	}
	if iss, _ := str("issuer"); iss != k.Issuer {
		t.Fatalf("issuer %q became %q", iss, k.Issuer)
	}
	if k.Source != "fuzz" {
		t.Fatalf("source %q", k.Source)
	}
	// The key material, by rules independent of the parser.
	okAlgs := map[string][]string{
		"RSA":     {"", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"},
		"P-256":   {"", "ES256"},
		"P-384":   {"", "ES384"},
		"P-521":   {"", "ES512"},
		"Ed25519": {"", "EdDSA", "Ed25519"},
	}
	var thumbInput string
	switch p := k.Public.(type) {
	case *rsa.PublicKey:
		if k.Kty != "RSA" || k.Crv != "" || p.N.BitLen() < 2048 || p.N.BitLen() > 8192 || p.E < 3 || p.E%2 == 0 {
			t.Fatalf("unusable RSA key: %d bits, e=%d, %s/%s", p.N.BitLen(), p.E, k.Kty, k.Crv)
		}
		if !slices.Contains(okAlgs["RSA"], k.Alg) {
			t.Fatalf("RSA key with alg %q", k.Alg)
		}
		thumbInput = `{"e":"` + b64(big.NewInt(int64(p.E)).Bytes()) + `","kty":"RSA","n":"` + b64(p.N.Bytes()) + `"}`
	case *ecdsa.PublicKey:
		enc, err := p.Bytes() // fails for invalid points
		if err != nil || k.Kty != "EC" || k.Crv != p.Curve.Params().Name {
			t.Fatalf("unusable EC key: %v, %s/%s", err, k.Kty, k.Crv)
		}
		if !slices.Contains(okAlgs[k.Crv], k.Alg) {
			t.Fatalf("EC %s key with alg %q", k.Crv, k.Alg)
		}
		size := (len(enc) - 1) / 2
		thumbInput = `{"crv":"` + k.Crv + `","kty":"EC","x":"` + b64(enc[1:1+size]) + `","y":"` + b64(enc[1+size:]) + `"}`
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize || k.Kty != "OKP" || k.Crv != "Ed25519" {
			t.Fatalf("unusable Ed25519 key")
		}
		if !slices.Contains(okAlgs["Ed25519"], k.Alg) {
			t.Fatalf("Ed25519 key with alg %q", k.Alg)
		}
		thumbInput = `{"crv":"Ed25519","kty":"OKP","x":"` + b64(p) + `"}`
	default:
		t.Fatalf("usable key of type %T", k.Public)
	}
	sum := sha256.Sum256([]byte(thumbInput))
	if b64(sum[:]) != k.Thumbprint {
		t.Fatalf("thumbprint %s, want %s", k.Thumbprint, b64(sum[:]))
	}
}

// FuzzDiscovery checks the metadata parser: a jwks_uri is only returned
// from a document whose issuer is exactly the configured one, and it is an
// absolute http(s) URL without user info or fragment.
func FuzzDiscovery(f *testing.F) {
	const issuer = "https://login.example/tenant/v2.0"
	f.Add([]byte(`{"issuer":"https://login.example/tenant/v2.0","jwks_uri":"https://login.example/keys"}`))
	f.Add([]byte(`{"issuer":"https://login.example/tenant/v2.0/","jwks_uri":"https://login.example/keys"}`))
	f.Add([]byte(`{"issuer":"https://login.example/tenant/v2.0","issuer":"https://evil.example","jwks_uri":"https://evil.example/keys"}`))
	f.Add([]byte(`{"issuer":"https:\/\/login.example\/tenant\/v2.0","jwks_uri":"https://u:p@login.example/keys#f"}`))
	f.Add([]byte(`{"issuer":"https://login.example/tenant/v2.0","jwks_uri":"javascript:alert(1)"}`))
	f.Add([]byte(`{"issuer":null,"jwks_uri":null}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		got, err := parseDiscovery(doc, issuer)
		if err != nil {
			if got != "" {
				t.Fatal("URL returned with an error")
			}
			return
		}
		var m map[string]any
		if err := json.Unmarshal(doc, &m); err != nil {
			t.Fatalf("accepted a document encoding/json refuses: %v", err)
		}
		if m["issuer"] != issuer {
			t.Fatalf("accepted issuer %v", m["issuer"])
		}
		if m["jwks_uri"] != got {
			t.Fatalf("returned %q for jwks_uri %v", got, m["jwks_uri"])
		}
		u, err := url.Parse(got)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
			t.Fatalf("returned unusable URL %q", got)
		}
	})
}
