package oauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// algSpec describes how a JWS algorithm is computed (RFC 7518 section 3).
type algSpec struct {
	kty   string         // "RSA", "EC" or "OKP"
	hash  crypto.Hash    // digest (0 for EdDSA)
	pss   bool           // RSASSA-PSS instead of PKCS #1 v1.5
	curve elliptic.Curve // curve of a fresh EC key
}

var algs = map[string]algSpec{
	"RS256": {kty: "RSA", hash: crypto.SHA256},
	"RS384": {kty: "RSA", hash: crypto.SHA384},
	"RS512": {kty: "RSA", hash: crypto.SHA512},
	"PS256": {kty: "RSA", hash: crypto.SHA256, pss: true},
	"PS384": {kty: "RSA", hash: crypto.SHA384, pss: true},
	"PS512": {kty: "RSA", hash: crypto.SHA512, pss: true},
	"ES256": {kty: "EC", hash: crypto.SHA256, curve: elliptic.P256()},
	"ES384": {kty: "EC", hash: crypto.SHA384, curve: elliptic.P384()},
	"ES512": {kty: "EC", hash: crypto.SHA512, curve: elliptic.P521()},
	"EdDSA": {kty: "OKP"},
}

// rsaBits is the size of the RSA keys the server generates.
const rsaBits = 2048

// key is one signing key of the server.
type key struct {
	kid  string
	alg  string
	priv crypto.Signer
	jwk  map[string]any // public JWK members (without extras)
}

var errUnknownAlg = errors.New("oauthtest: unsupported algorithm")

// generateKey makes a fresh private key for alg.
func generateKey(alg string) (crypto.Signer, error) {
	spec, ok := algs[alg]
	if !ok {
		return nil, fmt.Errorf("%w %q", errUnknownAlg, alg)
	}
	switch spec.kty {
	case "RSA":
		return rsa.GenerateKey(rand.Reader, rsaBits)
	case "EC":
		return ecdsa.GenerateKey(spec.curve, rand.Reader)
	default:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
}

// newKey wraps priv for alg, checking that they fit, and computes its JWK
// and RFC 7638 thumbprint (the kid).
func newKey(alg string, priv crypto.Signer) (*key, error) {
	spec, ok := algs[alg]
	if !ok {
		return nil, fmt.Errorf("%w %q", errUnknownAlg, alg)
	}
	jwk, thumb, err := publicJWK(priv.Public())
	if err != nil {
		return nil, err
	}
	if jwk["kty"] != spec.kty {
		return nil, fmt.Errorf("oauthtest: a %s key cannot sign %s", jwk["kty"], alg)
	}
	if spec.kty == "EC" {
		if pub := priv.Public().(*ecdsa.PublicKey); pub.Curve != spec.curve {
			return nil, fmt.Errorf("oauthtest: a %s key cannot sign %s", pub.Curve.Params().Name, alg)
		}
	}
	jwk["kid"] = thumb
	jwk["alg"] = alg
	jwk["use"] = "sig"
	return &key{kid: thumb, alg: alg, priv: priv, jwk: jwk}, nil
}

var b64 = base64.RawURLEncoding

// publicJWK returns the public JWK members of pub (kty and key material) and
// its RFC 7638 SHA-256 thumbprint, base64url encoded.
func publicJWK(pub crypto.PublicKey) (map[string]any, string, error) {
	var m map[string]any
	var canon string // RFC 7638 section 3.2: required members, sorted, no whitespace
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		n := b64.EncodeToString(pub.N.Bytes())
		e := b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
		m = map[string]any{"kty": "RSA", "n": n, "e": e}
		canon = `{"e":"` + e + `","kty":"RSA","n":"` + n + `"}`
	case *ecdsa.PublicKey:
		raw, err := pub.Bytes() // 0x04 || X || Y, fixed size
		if err != nil {
			return nil, "", fmt.Errorf("oauthtest: %w", err)
		}
		size := (len(raw) - 1) / 2
		crv := pub.Curve.Params().Name
		x := b64.EncodeToString(raw[1 : 1+size])
		y := b64.EncodeToString(raw[1+size:])
		m = map[string]any{"kty": "EC", "crv": crv, "x": x, "y": y}
		canon = `{"crv":"` + crv + `","kty":"EC","x":"` + x + `","y":"` + y + `"}`
	case ed25519.PublicKey:
		x := b64.EncodeToString(pub)
		m = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": x}
		canon = `{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`
	default:
		return nil, "", fmt.Errorf("oauthtest: unsupported public key type %T", pub)
	}
	sum := sha256.Sum256([]byte(canon))
	return m, b64.EncodeToString(sum[:]), nil
}

// signingAlg picks the algorithm a signature over a token with header alg
// hdrAlg is computed with: hdrAlg itself when the key can compute it (so a
// PS256 header over an RS256 key, or ES384 over a P-256 key, is really
// signed that way), else the key's own algorithm.
func signingAlg(k *key, hdrAlg string) string {
	spec, ok := algs[hdrAlg]
	if ok && spec.kty == algs[k.alg].kty {
		return hdrAlg
	}
	return k.alg
}

// sign computes the JWS signature of input with priv using alg. ECDSA
// signatures are in the JOSE form R || S, each padded to the curve size
// (RFC 7518 section 3.4).
func sign(priv crypto.Signer, alg string, input []byte) ([]byte, error) {
	spec, ok := algs[alg]
	if !ok {
		return nil, fmt.Errorf("%w %q", errUnknownAlg, alg)
	}
	if spec.kty == "OKP" {
		return priv.Sign(rand.Reader, input, crypto.Hash(0))
	}
	h := spec.hash.New()
	h.Write(input)
	digest := h.Sum(nil)
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		if spec.pss {
			return rsa.SignPSS(rand.Reader, p, spec.hash, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.SignPKCS1v15(rand.Reader, p, spec.hash, digest)
	case *ecdsa.PrivateKey:
		der, err := ecdsa.SignASN1(rand.Reader, p, digest)
		if err != nil {
			return nil, err
		}
		var rs struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(der, &rs); err != nil {
			return nil, fmt.Errorf("oauthtest: %w", err)
		}
		size := (p.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		rs.R.FillBytes(out[:size])
		rs.S.FillBytes(out[size:])
		return out, nil
	default:
		return nil, fmt.Errorf("oauthtest: cannot sign %s with %T", alg, priv)
	}
}

// compact builds a compact JWS from exact header and payload bytes.
func compact(k *key, hdrAlg string, header, payload []byte, sigFn func(string, []byte) []byte) (string, error) {
	var sb strings.Builder
	sb.Grow(b64.EncodedLen(len(header)) + b64.EncodedLen(len(payload)) + 2 + 700)
	sb.WriteString(b64.EncodeToString(header))
	sb.WriteByte('.')
	sb.WriteString(b64.EncodeToString(payload))
	input := sb.String()
	sig, err := sign(k.priv, signingAlg(k, hdrAlg), []byte(input))
	if err != nil {
		return "", err
	}
	if sigFn != nil {
		sig = sigFn(input, sig)
	}
	sb.WriteByte('.')
	sb.WriteString(b64.EncodeToString(sig))
	return sb.String(), nil
}

// PublicJWK returns the public JWK members of pub (*rsa.PublicKey,
// *ecdsa.PublicKey or ed25519.PublicKey) as the server publishes them: kty,
// the key material, "kid" (the RFC 7638 SHA-256 thumbprint), "use": "sig"
// and "alg" (omitted when alg is ""). It is for tests that build JWKS
// documents by hand; marshal the map with encoding/json.
func PublicJWK(pub crypto.PublicKey, alg string) (map[string]any, error) {
	m, thumb, err := publicJWK(pub)
	if err != nil {
		return nil, err
	}
	m["kid"] = thumb
	m["use"] = "sig"
	if alg != "" {
		m["alg"] = alg
	}
	return m, nil
}
