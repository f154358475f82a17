package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"math/big"
	"sync"

	"github.com/m2mauth/m2mauth/internal/jose"
)

// algID numbers the supported proof algorithms.
type algID uint8

const (
	rs256 algID = iota
	rs384
	rs512
	ps256
	ps384
	ps512
	es256
	es384
	es512
	edDSA
	numAlgs
)

var algNames = [numAlgs]string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// algByName returns the algorithm named a, case-sensitively (RFC 7515
// section 4.1.1).
func algByName(a string) (algID, bool) {
	for i, n := range algNames {
		if n == a {
			return algID(i), true
		}
	}
	return 0, false
}

func algOfBytes(a []byte) (algID, bool) { return algByName(string(a)) }

func (a algID) hash() crypto.Hash {
	switch a {
	case rs256, ps256, es256:
		return crypto.SHA256
	case rs384, ps384, es384:
		return crypto.SHA384
	case rs512, ps512, es512:
		return crypto.SHA512
	}
	return 0
}

// RSA moduli accepted in a proof's jwk.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// pubKey is the proof's public key, of the kind its alg needs.
type pubKey struct {
	ec  *ecdsa.PublicKey
	rsa rsa.PublicKey
	ed  ed25519.PublicKey
}

// publicKey checks the jwk against alg (kty and curve fit, sizes, a valid
// point) and returns the key. Its error is ReasonJWK, or ReasonAlg when the
// key is valid but of another type than alg needs.
func (k *jwkMembers) publicKey(alg algID, out *pubKey, cache *ecKeyCache) *Error {
	switch string(k.kty) {
	case "EC":
		var curve elliptic.Curve
		var size int
		var want algID
		switch string(k.crv) {
		case "P-256":
			curve, size, want = elliptic.P256(), 32, es256
		case "P-384":
			curve, size, want = elliptic.P384(), 48, es384
		case "P-521":
			curve, size, want = elliptic.P521(), 66, es512
		default:
			return refuse(ReasonJWK, "unsupported EC curve")
		}
		if k.n != nil || k.e != nil {
			return refuse(ReasonJWK, "EC jwk with RSA members")
		}
		var id ecKeyID
		pt := id[:]
		pt[0] = byte(size) // the curve, by its size
		pt[1] = 4
		if !jose.DecodeBase64URLBytesExact(pt[2:2+size], k.x) || !jose.DecodeBase64URLBytesExact(pt[2+size:2+2*size], k.y) {
			return refuse(ReasonJWK, "EC coordinates are not canonical base64url of the curve size")
		}
		pub := cache.get(&id)
		if pub == nil {
			var err error
			if pub, err = ecdsa.ParseUncompressedPublicKey(curve, pt[1:2+2*size]); err != nil {
				return refuse(ReasonJWK, "EC point is not on the curve")
			}
			cache.put(&id, pub)
		}
		if alg != want {
			return refuse(ReasonAlg, "alg does not fit the jwk's curve")
		}
		out.ec = pub
	case "RSA":
		if k.crv != nil || k.x != nil || k.y != nil {
			return refuse(ReasonJWK, "RSA jwk with EC or OKP members")
		}
		if len(k.n) > (maxRSABits/8*4+2)/3 || len(k.e) > 6 {
			return refuse(ReasonJWK, "RSA key too large")
		}
		var nb [maxRSABits / 8]byte
		nn := jose.Base64URLLen(len(k.n))
		var eb [4]byte
		ne := jose.Base64URLLen(len(k.e))
		if nn <= 0 || ne <= 0 || ne > 4 || !jose.DecodeBase64URLBytesExact(nb[:nn], k.n) || !jose.DecodeBase64URLBytesExact(eb[:ne], k.e) || nb[0] == 0 || eb[0] == 0 {
			return refuse(ReasonJWK, "RSA n or e is not minimal canonical base64url")
		}
		var e int
		for _, c := range eb[:ne] {
			e = e<<8 | int(c)
		}
		n := new(big.Int).SetBytes(nb[:nn])
		if bits := n.BitLen(); bits < minRSABits || bits > maxRSABits || e < 3 || e&1 == 0 || e > 1<<31-1 {
			return refuse(ReasonJWK, "RSA key of a refused size or exponent")
		}
		if alg > ps512 {
			return refuse(ReasonAlg, "alg does not fit an RSA jwk")
		}
		out.rsa = rsa.PublicKey{N: n, E: e}
	case "OKP":
		if string(k.crv) != "Ed25519" {
			return refuse(ReasonJWK, "unsupported OKP curve")
		}
		if k.y != nil || k.n != nil || k.e != nil {
			return refuse(ReasonJWK, "OKP jwk with EC or RSA members")
		}
		var x [ed25519.PublicKeySize]byte
		if !jose.DecodeBase64URLBytesExact(x[:], k.x) {
			return refuse(ReasonJWK, "Ed25519 x is not 32 bytes of canonical base64url")
		}
		if alg != edDSA {
			return refuse(ReasonAlg, "alg does not fit an Ed25519 jwk")
		}
		out.ed = ed25519.PublicKey(x[:])
	default:
		return refuse(ReasonJWK, "missing or unsupported kty")
	}
	return nil
}

// ecKeyID is an EC public key as cache key: the curve's size, then the
// uncompressed point 0x04 || x || y.
type ecKeyID [2 + 2*66]byte

// maxCachedKeys bounds a Checker's cache of parsed EC keys (about 400 bytes
// an entry).
const maxCachedKeys = 1024

// ecKeyCache keeps the EC keys of recent proofs parsed and validated: a
// client proves with the same key on every request, and parsing with the
// on-curve check costs about 2 µs and 7 allocations. Only keys that parsed
// are cached; when full it starts over (bounded, no bookkeeping).
type ecKeyCache struct {
	mu sync.RWMutex
	m  map[ecKeyID]*ecdsa.PublicKey
}

func (c *ecKeyCache) get(id *ecKeyID) *ecdsa.PublicKey {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[*id]
}

func (c *ecKeyCache) put(id *ecKeyID, pub *ecdsa.PublicKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedKeys {
		c.m = make(map[ecKeyID]*ecdsa.PublicKey)
	}
	c.m[*id] = pub
}

// verify checks the signature of input with the key for alg.
func verify(alg algID, k *pubKey, input, sig []byte) bool {
	switch alg {
	case edDSA:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.ed, input, sig)
	case es256:
		d := sha256.Sum256(input)
		return jose.VerifyECDSA(k.ec, d[:], sig, jose.OrderP256)
	case es384:
		d := sha512.Sum384(input)
		return jose.VerifyECDSA(k.ec, d[:], sig, jose.OrderP384)
	case es512:
		d := sha512.Sum512(input)
		return jose.VerifyECDSA(k.ec, d[:], sig, jose.OrderP521)
	}
	var buf [64]byte
	var d []byte
	switch alg.hash() {
	case crypto.SHA256:
		s := sha256.Sum256(input)
		d = append(buf[:0], s[:]...)
	case crypto.SHA384:
		s := sha512.Sum384(input)
		d = append(buf[:0], s[:]...)
	default:
		s := sha512.Sum512(input)
		d = append(buf[:0], s[:]...)
	}
	if len(sig) != (k.rsa.N.BitLen()+7)/8 {
		return false
	}
	if alg >= ps256 {
		return rsa.VerifyPSS(&k.rsa, alg.hash(), d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	}
	return rsa.VerifyPKCS1v15(&k.rsa, alg.hash(), d, sig) == nil
}

// thumbprint computes the RFC 7638 SHA-256 thumbprint: the required
// members in lexicographic order, no white space. The members were checked
// to be canonical base64url (minimal for RSA), so they are the canonical
// values.
func (k *jwkMembers) thumbprint() [32]byte {
	var buf [64 + (maxRSABits/8*4+2)/3 + 8]byte
	b := buf[:0]
	switch string(k.kty) {
	case "EC":
		b = append(b, `{"crv":"`...)
		b = append(b, k.crv...)
		b = append(b, `","kty":"EC","x":"`...)
		b = append(b, k.x...)
		b = append(b, `","y":"`...)
		b = append(b, k.y...)
	case "RSA":
		b = append(b, `{"e":"`...)
		b = append(b, k.e...)
		b = append(b, `","kty":"RSA","n":"`...)
		b = append(b, k.n...)
	default:
		b = append(b, `{"crv":"`...)
		b = append(b, k.crv...)
		b = append(b, `","kty":"OKP","x":"`...)
		b = append(b, k.x...)
	}
	b = append(b, `"}`...)
	return sha256.Sum256(b)
}
