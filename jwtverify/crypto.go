package jwtverify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"

	"github.com/m2mauth/m2mauth/internal/jose"
	"github.com/m2mauth/m2mauth/jwkscache"
)

// minRSABits is the smallest RSA modulus accepted for RS* and PS*.
const minRSABits = 2048

// keyFits reports whether k may verify alg: the key type and curve fit the
// algorithm (this check is ours: jwx accepted ES384 with a P-256 key), an
// RSA modulus has at least 2048 bits, and a JWK alg, when present, equals
// alg exactly. When the JWK has no alg (Entra), the family is inferred from
// kty and crv.
func keyFits(k *jwkscache.Key, alg algID) bool {
	if k.Alg != "" && k.Alg != algNames[alg] && !(alg == algEdDSA && k.Alg == "Ed25519") {
		// RFC 9864 names the Ed25519 instance of EdDSA "Ed25519"; a JWK
		// with that alg (jwkscache keeps it) verifies EdDSA tokens, the
		// curve check below still applies.
		return false
	}
	switch alg {
	case algRS256, algRS384, algRS512, algPS256, algPS384, algPS512:
		p, ok := k.Public.(*rsa.PublicKey)
		return ok && k.Kty == "RSA" && p.N != nil && p.N.BitLen() >= minRSABits && p.E >= 3 && p.E%2 == 1
	case algES256:
		return ecKeyOn(k, "P-256", elliptic.P256())
	case algES384:
		return ecKeyOn(k, "P-384", elliptic.P384())
	case algES512:
		return ecKeyOn(k, "P-521", elliptic.P521())
	case algEdDSA:
		p, ok := k.Public.(ed25519.PublicKey)
		return ok && k.Kty == "OKP" && k.Crv == "Ed25519" && len(p) == ed25519.PublicKeySize
	}
	return false
}

func ecKeyOn(k *jwkscache.Key, crv string, c elliptic.Curve) bool {
	p, ok := k.Public.(*ecdsa.PublicKey)
	return ok && k.Kty == "EC" && k.Crv == crv && p.Curve == c
}

var pssOptions = rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}

// verifySig checks sig over input with the standard library. k must have
// passed keyFits for alg.
func verifySig(alg algID, k *jwkscache.Key, input, sig []byte) bool {
	switch alg {
	case algRS256:
		d := sha256.Sum256(input)
		return rsa.VerifyPKCS1v15(k.Public.(*rsa.PublicKey), crypto.SHA256, d[:], sig) == nil
	case algRS384:
		d := sha512.Sum384(input)
		return rsa.VerifyPKCS1v15(k.Public.(*rsa.PublicKey), crypto.SHA384, d[:], sig) == nil
	case algRS512:
		d := sha512.Sum512(input)
		return rsa.VerifyPKCS1v15(k.Public.(*rsa.PublicKey), crypto.SHA512, d[:], sig) == nil
	case algPS256:
		d := sha256.Sum256(input)
		return rsa.VerifyPSS(k.Public.(*rsa.PublicKey), crypto.SHA256, d[:], sig, &pssOptions) == nil
	case algPS384:
		d := sha512.Sum384(input)
		return rsa.VerifyPSS(k.Public.(*rsa.PublicKey), crypto.SHA384, d[:], sig, &pssOptions) == nil
	case algPS512:
		d := sha512.Sum512(input)
		return rsa.VerifyPSS(k.Public.(*rsa.PublicKey), crypto.SHA512, d[:], sig, &pssOptions) == nil
	case algES256:
		d := sha256.Sum256(input)
		return jose.VerifyECDSA(k.Public.(*ecdsa.PublicKey), d[:], sig, jose.OrderP256)
	case algES384:
		d := sha512.Sum384(input)
		return jose.VerifyECDSA(k.Public.(*ecdsa.PublicKey), d[:], sig, jose.OrderP384)
	case algES512:
		d := sha512.Sum512(input)
		return jose.VerifyECDSA(k.Public.(*ecdsa.PublicKey), d[:], sig, jose.OrderP521)
	case algEdDSA:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.Public.(ed25519.PublicKey), input, sig)
	}
	return false
}
