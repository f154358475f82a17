package jwkscache

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// NewKey builds a Key from a public key, filling Kty, Crv and Thumbprint.
// alg may be empty; when set it must be a signature algorithm that fits the
// key (RS256 on RSA, ES384 on P-384...). It refuses key types m2mauth cannot
// verify with, RSA keys outside [MinRSABits, MaxRSABits] or with an
// unusable exponent, and EC points not on their curve: the same rules
// ParseJWKS applies.
func NewKey(kid, alg string, pub crypto.PublicKey) (Key, error) {
	if len(kid) > MaxKIDLength {
		return Key{}, fmt.Errorf("jwkscache: kid longer than %d bytes", MaxKIDLength)
	}
	k, reason, err := buildKey(kid, alg, pub)
	if reason != "" {
		return Key{}, fmt.Errorf("jwkscache: unusable key (%s): %w", reason, err)
	}
	return k, nil
}

// buildKey checks pub and alg and builds the Key. A non-empty reason means
// the key is unusable, with err as detail.
func buildKey(kid, alg string, pub crypto.PublicKey) (Key, SkipReason, error) {
	k := Key{KID: kid, Alg: alg, Public: pub}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p == nil || p.N == nil || p.N.Sign() <= 0 || p.N.BitLen() < MinRSABits || p.N.BitLen() > MaxRSABits {
			return Key{}, SkipRSAKeySize, fmt.Errorf("jwkscache: RSA modulus outside [%d, %d] bits", MinRSABits, MaxRSABits)
		}
		if p.E < 3 || p.E%2 == 0 || p.E > 1<<31-1 {
			return Key{}, SkipRSAExponent, errors.New("jwkscache: RSA key with unusable exponent")
		}
		k.Kty = "RSA"
	case *ecdsa.PublicKey:
		if p == nil {
			return Key{}, SkipMalformed, errors.New("jwkscache: nil EC key")
		}
		k.Kty = "EC"
		switch p.Curve {
		case elliptic.P256():
			k.Crv = "P-256"
		case elliptic.P384():
			k.Crv = "P-384"
		case elliptic.P521():
			k.Crv = "P-521"
		default:
			return Key{}, SkipUnsupportedCrv, errors.New("jwkscache: unsupported EC curve")
		}
		// ECDH conversion validates that the point is on the curve and
		// not the point at infinity.
		if _, err := p.ECDH(); err != nil {
			return Key{}, SkipMalformed, fmt.Errorf("jwkscache: invalid EC point: %w", err)
		}
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return Key{}, SkipMalformed, errors.New("jwkscache: bad Ed25519 key size")
		}
		k.Kty, k.Crv = "OKP", "Ed25519"
	default:
		return Key{}, SkipUnsupportedKty, fmt.Errorf("jwkscache: unsupported public key type %T", pub)
	}
	if alg != "" {
		if r := checkAlg(alg, k.Kty, k.Crv); r != "" {
			return Key{}, r, fmt.Errorf("jwkscache: alg %q does not fit a %s %s key", truncate(alg, 16), k.Kty, k.Crv)
		}
	}
	jk, err := jwk.Import(pub)
	if err != nil {
		return Key{}, SkipMalformed, fmt.Errorf("jwkscache: import key: %w", err)
	}
	tp, err := jk.Thumbprint(crypto.SHA256)
	if err != nil {
		return Key{}, SkipMalformed, fmt.Errorf("jwkscache: thumbprint: %w", err)
	}
	k.Thumbprint = base64.RawURLEncoding.EncodeToString(tp)
	return k, "", nil
}

// MinRSABits is the smallest RSA modulus accepted.
const MinRSABits = 2048

// Static is a KeySource over a fixed set of keys, for tests and offline
// use. It never fetches and never expires.
type Static struct {
	name    string
	set     *KeySet
	skipped []Skipped
}

var _ KeySource = (*Static)(nil)

// NewStatic returns a fixed KeySource named name holding keys (copied).
func NewStatic(name string, keys ...Key) *Static {
	set := NewKeySet(1, time.Time{}, keys)
	for i := range set.Keys {
		set.Keys[i].Source = name
	}
	return &Static{name: name, set: set}
}

// NewStaticJWKS parses a JWK Set document with ParseJWKS and returns a fixed
// KeySource named name over its usable keys. It fails when the document is
// malformed or no key is usable; keys skipped otherwise are listed by
// Skipped. Bound doc's size yourself when it comes from outside.
func NewStaticJWKS(name string, doc []byte) (*Static, error) {
	keys, skipped, err := ParseJWKS(doc, name)
	if err != nil {
		return nil, err
	}
	s := NewStatic(name, keys...)
	s.skipped = skipped
	return s, nil
}

// Skipped lists the JWKs NewStaticJWKS left out and why (nil for NewStatic).
func (s *Static) Skipped() []Skipped { return append([]Skipped(nil), s.skipped...) }

// Name implements KeySource.
func (s *Static) Name() string { return s.name }

// Current implements KeySource.
func (s *Static) Current() *KeySet { return s.set }

// Lookup implements KeySource.
func (s *Static) Lookup(_ context.Context, kid string) ([]Key, error) {
	if kid == "" {
		return s.set.Keys, nil
	}
	if len(kid) > MaxKIDLength {
		return nil, ErrUnknownKey
	}
	if ks := s.set.Lookup(kid); len(ks) > 0 {
		return ks, nil
	}
	return nil, ErrUnknownKey
}
