package jwtverify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
)

// Test fixtures: keys generated once per test binary (no testdata needed),
// tokens signed with the standard library.

const (
	testIss    = "https://issuer.test"
	testAud    = "api://orders"
	testClient = "worker"
)

var testNow = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

type testKey struct {
	alg  string // signing algorithm
	kid  string
	priv crypto.Signer
	key  jwkscache.Key
}

var (
	keysOnce sync.Once
	keysByID map[string]*testKey
	rsaPool  []*rsa.PrivateKey
)

func genRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func mustKey(kid, alg string, pub crypto.PublicKey) jwkscache.Key {
	k, err := jwkscache.NewKey(kid, alg, pub)
	if err != nil {
		panic(err)
	}
	return k
}

// fixtures: one key per algorithm with kid = alg name, plus spares.
func fixtures() map[string]*testKey {
	keysOnce.Do(func() {
		keysByID = map[string]*testKey{}
		for i := 0; i < 4; i++ {
			rsaPool = append(rsaPool, genRSA(2048))
		}
		add := func(kid, alg string, priv crypto.Signer, jwkAlg string) {
			keysByID[kid] = &testKey{alg: alg, kid: kid, priv: priv, key: mustKey(kid, jwkAlg, priv.Public())}
		}
		for _, a := range []string{"RS256", "RS384", "RS512"} {
			add(a, a, rsaPool[0], a)
		}
		for _, a := range []string{"PS256", "PS384", "PS512"} {
			add(a, a, rsaPool[1], a)
		}
		p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		_, ed, _ := ed25519.GenerateKey(rand.Reader)
		add("ES256", "ES256", p256, "ES256")
		add("ES384", "ES384", p384, "ES384")
		add("ES512", "ES512", p521, "ES512")
		add("EdDSA", "EdDSA", ed, "EdDSA")
		// A7: JWK without alg (Entra).
		add("noalg-rsa", "RS256", rsaPool[2], "")
	})
	return keysByID
}

func fx(kid string) *testKey { return fixtures()[kid] }

// trustedKeys is the default static key set.
func trustedKeys() []jwkscache.Key {
	var ks []jwkscache.Key
	for _, id := range []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "noalg-rsa"} {
		ks = append(ks, fx(id).key)
	}
	return ks
}

var allAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func hasherFor(alg string) (crypto.Hash, hash.Hash) {
	switch alg[2:] {
	case "384":
		return crypto.SHA384, sha512.New384()
	case "512":
		return crypto.SHA512, sha512.New()
	}
	return crypto.SHA256, sha256.New()
}

// signRaw signs input with priv as alg (which may deliberately not fit the
// key, for hostile tokens) and returns the raw JOSE signature.
func signRaw(alg string, priv crypto.Signer, input []byte) []byte {
	if alg == "EdDSA" {
		return ed25519.Sign(priv.(ed25519.PrivateKey), input)
	}
	h, hh := hasherFor(alg)
	hh.Write(input)
	d := hh.Sum(nil)
	switch alg[:2] {
	case "RS":
		s, err := rsa.SignPKCS1v15(rand.Reader, priv.(*rsa.PrivateKey), h, d)
		if err != nil {
			panic(err)
		}
		return s
	case "PS":
		s, err := rsa.SignPSS(rand.Reader, priv.(*rsa.PrivateKey), h, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		if err != nil {
			panic(err)
		}
		return s
	case "ES":
		k := priv.(*ecdsa.PrivateKey)
		r, s, err := ecdsa.Sign(rand.Reader, k, d)
		if err != nil {
			panic(err)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out
	}
	panic("alg " + alg)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signToken builds header.payload.signature over exact bytes.
func signToken(alg string, priv crypto.Signer, header, payload []byte) string {
	in := b64(header) + "." + b64(payload)
	return in + "." + b64(signRaw(alg, priv, []byte(in)))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// baseClaims are valid claims at testNow.
func baseClaims() map[string]any {
	return map[string]any{
		"iss":       testIss,
		"sub":       testClient,
		"aud":       testAud,
		"client_id": testClient,
		"iat":       testNow.Unix() - 60,
		"exp":       testNow.Unix() + 3600,
		"jti":       "jti-1",
		"scope":     "orders.read orders.write",
	}
}

// tok mints a token with the fixture key kid: header {alg, kid, typ
// at+jwt} and baseClaims, each edited by the maps (nil deletes).
func tok(kid string, hdrEdit, clEdit map[string]any) string {
	k := fx(kid)
	h := map[string]any{"alg": k.alg, "kid": k.kid, "typ": "at+jwt"}
	for n, v := range hdrEdit {
		if v == nil {
			delete(h, n)
		} else {
			h[n] = v
		}
	}
	c := baseClaims()
	for n, v := range clEdit {
		if v == nil {
			delete(c, n)
		} else {
			c[n] = v
		}
	}
	alg, _ := h["alg"].(string)
	if _, ok := h["alg"].(string); !ok {
		alg = k.alg
	}
	return signToken(sigAlgFor(alg, k), k.priv, mustJSON(h), mustJSON(c))
}

// sigAlgFor returns alg when the key can produce it, else the key's own.
func sigAlgFor(alg string, k *testKey) string {
	switch k.priv.(type) {
	case *rsa.PrivateKey:
		if len(alg) == 5 && (alg[:2] == "RS" || alg[:2] == "PS") {
			return alg
		}
	case *ecdsa.PrivateKey:
		if len(alg) == 5 && alg[:2] == "ES" {
			return alg
		}
	case ed25519.PrivateKey:
		return "EdDSA"
	}
	return k.alg
}

// rawTok signs exact header and claims bytes with fixture kid.
func rawTok(kid string, header, claims []byte) string {
	k := fx(kid)
	return signToken(k.alg, k.priv, header, claims)
}

func hdrJSON(kid string) []byte {
	return []byte(fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"at+jwt"}`, fx(kid).alg, kid))
}

func baseIssuer(keys jwkscache.KeySource) IssuerConfig {
	return IssuerConfig{
		Name:       "test",
		Issuer:     testIss,
		Keys:       keys,
		Audiences:  []string{testAud},
		ClientIDs:  []string{testClient},
		Algorithms: allAlgs,
	}
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// newV builds a verifier over the trusted keys with edits applied.
func newV(t testing.TB, edit func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{
		Issuers: []IssuerConfig{baseIssuer(jwkscache.NewStatic("static", trustedKeys()...))},
		Now:     fixedClock(testNow),
	}
	if edit != nil {
		edit(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

// swapSource is a KeySource whose key set the test replaces (a JWKS
// refresh), or takes away (an injected outage), and which counts lookups.
type swapSource struct {
	name    string
	set     atomic.Pointer[jwkscache.KeySet]
	gen     atomic.Uint64
	down    atomic.Bool // injected fault: no usable set
	lookups atomic.Int64
}

func newSwapSource(keys ...jwkscache.Key) *swapSource {
	s := &swapSource{name: "swap"}
	s.publish(keys...)
	return s
}

func (s *swapSource) publish(keys ...jwkscache.Key) {
	s.set.Store(jwkscache.NewKeySet(s.gen.Add(1), time.Time{}, keys))
}

func (s *swapSource) Name() string { return s.name }
func (s *swapSource) Current() *jwkscache.KeySet {
	if s.down.Load() {
		return nil
	}
	return s.set.Load()
}
func (s *swapSource) Lookup(_ context.Context, kid string) ([]jwkscache.Key, error) {
	s.lookups.Add(1)
	set := s.Current()
	if set == nil {
		return nil, jwkscache.ErrKeysUnavailable
	}
	if kid == "" {
		return set.Keys, nil
	}
	if len(kid) > jwkscache.MaxKIDLength {
		return nil, jwkscache.ErrUnknownKey
	}
	if ks := set.Lookup(kid); len(ks) > 0 {
		return ks, nil
	}
	return nil, jwkscache.ErrUnknownKey
}

// bigOrder returns n of the curve as fixed bytes.
func orderBytes(c elliptic.Curve) []byte {
	size := (c.Params().BitSize + 7) / 8
	return new(big.Int).Set(c.Params().N).FillBytes(make([]byte, size))
}
