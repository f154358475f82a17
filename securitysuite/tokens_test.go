package securitysuite

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"math/big"
	"strings"
	"testing"
)

var b64 = base64.RawURLEncoding

func enc(b []byte) string { return b64.EncodeToString(b) }

// signJWS signs header.payload with priv using alg (our own signer for
// attacker keys: only the standard library).
func signJWS(t testing.TB, alg string, priv crypto.Signer, header, payload []byte) string {
	t.Helper()
	in := enc(header) + "." + enc(payload)
	return in + "." + enc(rawSig(t, alg, priv, []byte(in)))
}

func hasherFor(alg string) (crypto.Hash, hash.Hash) {
	switch alg[len(alg)-3:] {
	case "384":
		return crypto.SHA384, sha512.New384()
	case "512":
		return crypto.SHA512, sha512.New()
	}
	return crypto.SHA256, sha256.New()
}

func rawSig(t testing.TB, alg string, priv crypto.Signer, in []byte) []byte {
	t.Helper()
	if alg == "EdDSA" {
		return ed25519.Sign(priv.(ed25519.PrivateKey), in)
	}
	h, hh := hasherFor(alg)
	hh.Write(in)
	d := hh.Sum(nil)
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		var sig []byte
		var err error
		if strings.HasPrefix(alg, "PS") {
			sig, err = rsa.SignPSS(rand.Reader, k, h, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, h, d)
		}
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, d)
		if err != nil {
			t.Fatal(err)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		return append(r.FillBytes(make([]byte, size)), s.FillBytes(make([]byte, size))...)
	}
	t.Fatalf("cannot sign %s with %T", alg, priv)
	return nil
}

func hmacSHA256(key []byte, in string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return m.Sum(nil)
}

// ecJWK is the public JWK of an EC key.
func ecJWK(k *ecdsa.PrivateKey) map[string]any {
	size := (k.Curve.Params().BitSize + 7) / 8
	return map[string]any{"kty": "EC", "crv": k.Curve.Params().Name,
		"x": enc(k.X.FillBytes(make([]byte, size))), "y": enc(k.Y.FillBytes(make([]byte, size)))}
}

func newAttackerKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// segments splits a compact token.
func segments(tok string) []string { return strings.Split(tok, ".") }

// replaceSig re-encodes the signature of tok after mut.
func replaceSig(t testing.TB, tok string, mut func(sig []byte) []byte) string {
	t.Helper()
	s := segments(tok)
	sig, err := b64.DecodeString(s[2])
	if err != nil {
		t.Fatal(err)
	}
	return s[0] + "." + s[1] + "." + enc(mut(sig))
}

// derSig converts a JOSE r||s ECDSA signature to ASN.1 DER.
func derSig(sig []byte) []byte {
	n := len(sig) / 2
	intDER := func(b []byte) []byte {
		v := new(big.Int).SetBytes(b).Bytes()
		if len(v) == 0 || v[0]&0x80 != 0 {
			v = append([]byte{0}, v...)
		}
		return append([]byte{0x02, byte(len(v))}, v...)
	}
	body := append(intDER(sig[:n]), intDER(sig[n:])...)
	return append([]byte{0x30, byte(len(body))}, body...)
}

// randomKID returns a random base64url kid of n bytes.
func randomKID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return enc(b)
}
