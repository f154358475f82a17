package jwkscache

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// testKeys are generated once per test binary.
var testKeys = sync.OnceValue(func() (k struct {
	rsa2048, rsa1024 *rsa.PrivateKey
	p256, p384       *ecdsa.PrivateKey
	ed               ed25519.PrivateKey
}) {
	var err error
	if k.rsa2048, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.rsa1024, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
		panic(err)
	}
	if k.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if k.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	return k
})

// jwkMap renders key (public or private) as a JWK member map with kid,
// then applies extra (a nil value deletes the member).
func jwkMap(t testing.TB, key any, kid string, extra map[string]any) map[string]any {
	t.Helper()
	jk, err := jwk.Import(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jk)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if kid != "" {
		m["kid"] = kid
	}
	for name, v := range extra {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	return m
}

func jwksDoc(t testing.TB, keys ...any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestParseJWKSFiltersKeys(t *testing.T) {
	k := testKeys()
	rsaPub, ecPub, edPub := &k.rsa2048.PublicKey, &k.p256.PublicKey, k.ed.Public()
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	offCurve := jwkMap(t, ecPub, "off-curve", map[string]any{"y": b64(append([]byte{}, make([]byte, 32)...))})
	tests := []struct {
		name   string
		jwk    any
		reason SkipReason // "" = usable
		check  func(t *testing.T, k Key)
	}{
		{"rsa", jwkMap(t, rsaPub, "r1", map[string]any{"alg": "RS256", "use": "sig"}), "", func(t *testing.T, k Key) {
			if k.Kty != "RSA" || k.Crv != "" || k.Alg != "RS256" {
				t.Errorf("got %s/%s/%s", k.Kty, k.Crv, k.Alg)
			}
		}},
		{"rsa PS256", jwkMap(t, rsaPub, "r2", map[string]any{"alg": "PS256"}), "", nil},
		{"rsa without alg kept", jwkMap(t, rsaPub, "r3", nil), "", func(t *testing.T, k Key) {
			if k.Alg != "" {
				t.Errorf("alg %q", k.Alg)
			}
		}},
		{"ec", jwkMap(t, ecPub, "e1", map[string]any{"alg": "ES256"}), "", func(t *testing.T, k Key) {
			if k.Kty != "EC" || k.Crv != "P-256" {
				t.Errorf("got %s/%s", k.Kty, k.Crv)
			}
		}},
		{"ed25519", jwkMap(t, edPub, "o1", map[string]any{"alg": "EdDSA"}), "", func(t *testing.T, k Key) {
			if _, ok := k.Public.(ed25519.PublicKey); !ok || k.Kty != "OKP" || k.Crv != "Ed25519" {
				t.Errorf("got %T %s/%s", k.Public, k.Kty, k.Crv)
			}
		}},
		{"issuer member copied", jwkMap(t, rsaPub, "r4", map[string]any{"issuer": "https://login.example/{tenantid}/v2.0"}), "", func(t *testing.T, k Key) {
			if k.Issuer != "https://login.example/{tenantid}/v2.0" {
				t.Errorf("issuer %q", k.Issuer)
			}
		}},
		{"key_ops with verify", jwkMap(t, rsaPub, "r5", map[string]any{"key_ops": []string{"verify"}}), "", nil},
		{"use enc", jwkMap(t, rsaPub, "x", map[string]any{"use": "enc"}), SkipNotForSignature, nil},
		{"use empty", jwkMap(t, rsaPub, "x", map[string]any{"use": ""}), SkipNotForSignature, nil},
		{"key_ops sign only", jwkMap(t, rsaPub, "x", map[string]any{"key_ops": []string{"sign"}}), SkipKeyOpsNoVerify, nil},
		{"key_ops empty", jwkMap(t, rsaPub, "x", map[string]any{"key_ops": []string{}}), SkipKeyOpsNoVerify, nil},
		{"key_ops not array", jwkMap(t, rsaPub, "x", map[string]any{"key_ops": "verify"}), SkipMalformed, nil},
		{"rsa private", jwkMap(t, k.rsa2048, "x", nil), SkipPrivateKey, nil},
		{"ec private", jwkMap(t, k.p256, "x", nil), SkipPrivateKey, nil},
		{"ed private", jwkMap(t, k.ed, "x", nil), SkipPrivateKey, nil},
		{"oct", map[string]any{"kty": "oct", "k": "c2VjcmV0", "kid": "x"}, SkipUnsupportedKty, nil},
		{"no kty", map[string]any{"kid": "x", "n": "AQAB", "e": "AQAB"}, SkipUnsupportedKty, nil},
		{"rsa 1024", map[string]any{"kty": "RSA", "kid": "x", "n": b64(k.rsa1024.N.Bytes()), "e": "AQAB"}, SkipRSAKeySize, nil},
		{"rsa e=1", jwkMap(t, rsaPub, "x", map[string]any{"e": "AQ"}), SkipRSAExponent, nil},
		{"rsa e even", jwkMap(t, rsaPub, "x", map[string]any{"e": "AQAA"}), SkipRSAExponent, nil},
		{"rsa with crv", jwkMap(t, rsaPub, "x", map[string]any{"crv": "P-256"}), SkipMalformed, nil},
		{"rsa bad n", jwkMap(t, rsaPub, "x", map[string]any{"n": "!!!"}), SkipMalformed, nil},
		{"ec off curve", offCurve, SkipMalformed, nil},
		{"ec bad x", jwkMap(t, ecPub, "x", map[string]any{"x": "AA"}), SkipMalformed, nil},
		{"ec secp256k1", jwkMap(t, ecPub, "x", map[string]any{"crv": "secp256k1"}), SkipUnsupportedCrv, nil},
		{"x25519", map[string]any{"kty": "OKP", "crv": "X25519", "x": b64(x25519.PublicKey().Bytes()), "kid": "x"}, SkipUnsupportedCrv, nil},
		{"ES384 on P-256", jwkMap(t, ecPub, "x", map[string]any{"alg": "ES384"}), SkipAlgMismatch, nil},
		{"RS256 on EC", jwkMap(t, ecPub, "x", map[string]any{"alg": "RS256"}), SkipAlgMismatch, nil},
		{"ES256 on RSA", jwkMap(t, rsaPub, "x", map[string]any{"alg": "ES256"}), SkipAlgMismatch, nil},
		{"EdDSA on EC", jwkMap(t, ecPub, "x", map[string]any{"alg": "EdDSA"}), SkipAlgMismatch, nil},
		{"HS256 on RSA", jwkMap(t, rsaPub, "x", map[string]any{"alg": "HS256"}), SkipUnsupportedAlg, nil},
		{"RSA-OAEP", jwkMap(t, rsaPub, "x", map[string]any{"alg": "RSA-OAEP"}), SkipUnsupportedAlg, nil},
		{"alg none", jwkMap(t, rsaPub, "x", map[string]any{"alg": "none"}), SkipUnsupportedAlg, nil},
		{"alg lower case", jwkMap(t, rsaPub, "x", map[string]any{"alg": "rs256"}), SkipUnsupportedAlg, nil},
		{"alg number", jwkMap(t, rsaPub, "x", map[string]any{"alg": 256}), SkipMalformed, nil},
		{"kid number", jwkMap(t, rsaPub, "", map[string]any{"kid": 7}), SkipMalformed, nil},
		{"kid too long", jwkMap(t, rsaPub, strings.Repeat("k", MaxKIDLength+1), nil), SkipKIDTooLong, nil},
		{"issuer not string", jwkMap(t, rsaPub, "x", map[string]any{"issuer": []string{"a"}}), SkipMalformed, nil},
		{"not an object", "RSA", SkipMalformed, nil},
		{"null", nil, SkipMalformed, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Each key sits between two good keys: a bad key never hides them.
			good1 := jwkMap(t, ecPub, "good1", nil)
			good2 := jwkMap(t, edPub, "good2", nil)
			keys, skipped, err := ParseJWKS(jwksDoc(t, good1, tc.jwk, good2), "src")
			if err != nil {
				t.Fatalf("ParseJWKS: %v", err)
			}
			if tc.reason == "" {
				if len(keys) != 3 || len(skipped) != 0 {
					t.Fatalf("got %d keys, skipped %+v", len(keys), skipped)
				}
				if keys[1].Source != "src" || keys[1].Thumbprint == "" {
					t.Errorf("key %+v", keys[1])
				}
				if tc.check != nil {
					tc.check(t, keys[1])
				}
				return
			}
			if len(keys) != 2 || keys[0].KID != "good1" || keys[1].KID != "good2" {
				t.Fatalf("good keys lost: %+v", keys)
			}
			if len(skipped) != 1 || skipped[0].Index != 1 || skipped[0].Reason != tc.reason {
				t.Fatalf("skipped = %+v, want reason %s at 1", skipped, tc.reason)
			}
		})
	}
}

func TestParseJWKSDocument(t *testing.T) {
	k := testKeys()
	good := jwkMap(t, &k.p256.PublicKey, "g", nil)
	goodJSON, _ := json.Marshal(good)
	tests := []struct {
		name string
		doc  string
		want error
	}{
		{"not json", `keys`, ErrMalformedJWKS},
		{"array", `[` + string(goodJSON) + `]`, ErrMalformedJWKS},
		{"no keys", `{"kees":[]}`, ErrMalformedJWKS},
		{"keys not array", `{"keys":{}}`, ErrMalformedJWKS},
		{"keys null", `{"keys":null}`, ErrMalformedJWKS},
		{"duplicate keys member", `{"keys":[],"keys":[` + string(goodJSON) + `]}`, ErrMalformedJWKS},
		{"trailing data", `{"keys":[` + string(goodJSON) + `]} {}`, ErrMalformedJWKS},
		{"truncated", `{"keys":[` + string(goodJSON[:len(goodJSON)/2]), ErrMalformedJWKS},
		{"empty set", `{"keys":[]}`, ErrNoUsableKeys},
		{"only bad keys", `{"keys":[{"kty":"oct","k":"AA"}]}`, ErrNoUsableKeys},
		{"ok with other members", `{"other":1,"keys":[` + string(goodJSON) + `]}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, _, err := ParseJWKS([]byte(tc.doc), "s")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == nil && len(keys) != 1 {
				t.Fatalf("keys = %d", len(keys))
			}
			if tc.want != nil && keys != nil {
				t.Fatalf("keys returned with an error")
			}
		})
	}
}

func TestParseJWKSDuplicateMemberInKey(t *testing.T) {
	k := testKeys()
	good, _ := json.Marshal(jwkMap(t, &k.p256.PublicKey, "g", nil))
	dup := `{"kty":"RSA","kty":"EC","crv":"P-256","x":"` + jwkMap(t, &k.p256.PublicKey, "", nil)["x"].(string) +
		`","y":"` + jwkMap(t, &k.p256.PublicKey, "", nil)["y"].(string) + `"}`
	keys, skipped, err := ParseJWKS([]byte(`{"keys":[`+dup+`,`+string(good)+`]}`), "s")
	if err != nil || len(keys) != 1 || len(skipped) != 1 || skipped[0].Reason != SkipMalformed {
		t.Fatalf("keys=%d skipped=%+v err=%v", len(keys), skipped, err)
	}
}

func TestParseJWKSDuplicateKIDs(t *testing.T) {
	k := testKeys()
	doc := jwksDoc(t, jwkMap(t, &k.rsa2048.PublicKey, "same", nil), jwkMap(t, &k.p256.PublicKey, "other", nil),
		jwkMap(t, &k.p384.PublicKey, "same", nil))
	keys, _, err := ParseJWKS(doc, "s")
	if err != nil {
		t.Fatal(err)
	}
	set := NewKeySet(1, time.Time{}, keys)
	got := set.Lookup("same")
	if len(got) != 2 || got[0].Kty != "RSA" || got[1].Crv != "P-384" {
		t.Fatalf("candidates = %+v", got)
	}
}

func TestParseJWKSTooManyKeys(t *testing.T) {
	k := testKeys()
	entries := make([]any, MaxKeys+50)
	for i := range entries {
		entries[i] = jwkMap(t, k.ed.Public(), "", nil)
	}
	keys, skipped, err := ParseJWKS(jwksDoc(t, entries...), "s")
	if err != nil || len(keys) != MaxKeys {
		t.Fatalf("keys=%d err=%v", len(keys), err)
	}
	if len(skipped) != 1 || skipped[0].Reason != SkipTooManyKeys || skipped[0].Index != MaxKeys {
		t.Fatalf("skipped = %+v", skipped)
	}
}

func TestNewKeyMatchesParsedThumbprint(t *testing.T) {
	k := testKeys()
	for _, pub := range []crypto.PublicKey{&k.rsa2048.PublicKey, &k.p256.PublicKey, &k.p384.PublicKey, k.ed.Public()} {
		nk, err := NewKey("kid", "", pub)
		if err != nil {
			t.Fatal(err)
		}
		keys, _, err := ParseJWKS(jwksDoc(t, jwkMap(t, pub, "kid", nil)), "s")
		if err != nil {
			t.Fatal(err)
		}
		if keys[0].Thumbprint != nk.Thumbprint || keys[0].Kty != nk.Kty || keys[0].Crv != nk.Crv {
			t.Errorf("%T: parsed %+v, NewKey %+v", pub, keys[0], nk)
		}
	}
}

func TestNewKeyRefuses(t *testing.T) {
	k := testKeys()
	badE := k.rsa2048.PublicKey
	badE.E = 1
	//lint:ignore SA1019 the test builds an invalid key on purpose
	offCurve := &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1), Y: big.NewInt(1)}
	tests := []struct {
		name string
		alg  string
		pub  crypto.PublicKey
	}{
		{"rsa 1024", "", &k.rsa1024.PublicKey},
		{"rsa e=1", "", &badE},
		{"ec off curve", "", offCurve},
		{"ES384 on P-256", "ES384", &k.p256.PublicKey},
		{"HS256", "HS256", &k.rsa2048.PublicKey},
		{"private key", "", k.rsa2048},
		{"short ed25519", "", ed25519.PublicKey(make([]byte, 31))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewKey("kid", tc.alg, tc.pub); err == nil {
				t.Fatal("NewKey accepted it")
			}
		})
	}
	if _, err := NewKey(strings.Repeat("k", MaxKIDLength+1), "", &k.p256.PublicKey); err == nil {
		t.Fatal("NewKey accepted an over-long kid")
	}
}

func TestNewStaticJWKS(t *testing.T) {
	k := testKeys()
	doc := jwksDoc(t, jwkMap(t, &k.p256.PublicKey, "a", nil), jwkMap(t, &k.rsa2048.PublicKey, "b", map[string]any{"use": "enc"}))
	s, err := NewStaticJWKS("offline", doc)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "offline" || len(s.Current().Keys) != 1 || s.Current().Keys[0].Source != "offline" {
		t.Fatalf("static = %+v", s.Current())
	}
	if sk := s.Skipped(); len(sk) != 1 || sk[0].KID != "b" || sk[0].Reason != SkipNotForSignature {
		t.Fatalf("skipped = %+v", sk)
	}
	if _, err := s.Lookup(t.Context(), "b"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("lookup b: %v", err)
	}
	if _, err := NewStaticJWKS("x", []byte(`{"keys":[]}`)); !errors.Is(err, ErrNoUsableKeys) {
		t.Fatalf("empty: %v", err)
	}
}

func TestKeySetLookupDoesNotAllocate(t *testing.T) {
	k := testKeys()
	doc := jwksDoc(t, jwkMap(t, &k.rsa2048.PublicKey, "same", nil), jwkMap(t, &k.p256.PublicKey, "one", nil),
		jwkMap(t, &k.p384.PublicKey, "same", nil))
	keys, _, err := ParseJWKS(doc, "s")
	if err != nil {
		t.Fatal(err)
	}
	set := NewKeySet(3, time.Time{}, keys)
	if n := testing.AllocsPerRun(100, func() {
		if len(set.Lookup("same")) != 2 || len(set.Lookup("one")) != 1 || set.Lookup("none") != nil {
			t.Fatal("lookup")
		}
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
	if got := set.Lookup("one"); cap(got) != 1 || got[0].Generation != 3 {
		t.Fatalf("single candidate slice %+v cap %d", got, cap(got))
	}
	if !set.Contains("same", keys[2].Thumbprint) || set.Contains("one", keys[0].Thumbprint) {
		t.Fatal("Contains")
	}
}

// TestParseJWKSRealWorldShapes covers members real issuers add: x5c/x5t
// (Entra, Auth0, Okta), issuer (Entra), "use" absent (Keycloak's EC keys),
// unknown members.
func TestParseJWKSRealWorldShapes(t *testing.T) {
	k := testKeys()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.rsa2048.PublicKey, k.rsa2048)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(der)
	entra := jwkMap(t, &k.rsa2048.PublicKey, "entra-kid", map[string]any{
		"use": "sig", "x5t": b64(sum[:]), "x5c": []string{base64.StdEncoding.EncodeToString(der)},
		"issuer": "https://login.microsoftonline.com/{tenantid}/v2.0", "cloud_instance_name": "microsoftonline.com",
	})
	keycloak := jwkMap(t, &k.p256.PublicKey, "kc", map[string]any{"alg": "ES256"})
	keys, skipped, err := ParseJWKS(jwksDoc(t, entra, keycloak), "s")
	if err != nil || len(keys) != 2 || len(skipped) != 0 {
		t.Fatalf("keys=%d skipped=%+v err=%v", len(keys), skipped, err)
	}
	if keys[0].Issuer != "https://login.microsoftonline.com/{tenantid}/v2.0" || keys[0].Alg != "" {
		t.Fatalf("entra key %+v", keys[0])
	}
}
