package dpop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"testing"
)

func (c *ecKeyCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// The EC key cache holds only keys that parsed, stays within its bound and
// still checks alg against the curve.
func TestECKeyCache(t *testing.T) {
	var c ecKeyCache
	enc := base64.RawURLEncoding
	jwkOf := func(k *ecdsa.PrivateKey, crv string) *jwkMembers {
		raw, _ := k.PublicKey.Bytes()
		size := (len(raw) - 1) / 2
		return &jwkMembers{kty: []byte("EC"), crv: []byte(crv),
			x: []byte(enc.EncodeToString(raw[1 : 1+size])), y: []byte(enc.EncodeToString(raw[1+size:]))}
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var out pubKey
	if err := jwkOf(k, "P-256").publicKey(es256, &out, &c); err != nil {
		t.Fatal(err)
	}
	first := out.ec
	if err := jwkOf(k, "P-256").publicKey(es256, &out, &c); err != nil || out.ec != first || c.len() != 1 {
		t.Fatalf("second parse: %v, same key %v, cached %d", err, out.ec == first, c.len())
	}
	if !out.ec.Equal(&k.PublicKey) {
		t.Fatal("cached key differs")
	}
	// An off-curve point is refused and not cached, even after a valid one.
	bad := jwkOf(k, "P-256")
	bad.y = []byte(enc.EncodeToString(append(make([]byte, 31), 7)))
	for range 2 {
		if err := bad.publicKey(es256, &out, &c); err == nil || err.Reason != ReasonJWK {
			t.Fatalf("off-curve: %v", err)
		}
	}
	if c.len() != 1 {
		t.Fatalf("cached %d", c.len())
	}
	// A cached P-256 key with another alg is still refused.
	if err := jwkOf(k, "P-256").publicKey(es384, &out, &c); err == nil || err.Reason != ReasonAlg {
		t.Fatalf("alg: %v", err)
	}
	// The same coordinates bytes under another curve are another entry.
	k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err := jwkOf(k384, "P-384").publicKey(es384, &out, &c); err != nil || c.len() != 2 || !out.ec.Equal(&k384.PublicKey) {
		t.Fatalf("P-384: %v, cached %d", err, c.len())
	}
	// Bounded.
	for range maxCachedKeys + 10 {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err := jwkOf(k, "P-256").publicKey(es256, &out, &c); err != nil {
			t.Fatal(err)
		}
		if c.len() > maxCachedKeys {
			t.Fatalf("cache holds %d keys", c.len())
		}
	}
}
