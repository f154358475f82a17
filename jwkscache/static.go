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
// alg may be empty. It refuses key types m2mauth cannot verify with and RSA
// keys under 2048 bits.
func NewKey(kid, alg string, pub crypto.PublicKey) (Key, error) {
	k := Key{KID: kid, Alg: alg, Public: pub}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N == nil || p.N.BitLen() < MinRSABits {
			return Key{}, fmt.Errorf("jwkscache: RSA key under %d bits", MinRSABits)
		}
		if p.E < 3 || p.E%2 == 0 {
			return Key{}, errors.New("jwkscache: RSA key with unusable exponent")
		}
		k.Kty = "RSA"
	case *ecdsa.PublicKey:
		k.Kty = "EC"
		switch p.Curve {
		case elliptic.P256():
			k.Crv = "P-256"
		case elliptic.P384():
			k.Crv = "P-384"
		case elliptic.P521():
			k.Crv = "P-521"
		default:
			return Key{}, errors.New("jwkscache: unsupported EC curve")
		}
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return Key{}, errors.New("jwkscache: bad Ed25519 key size")
		}
		k.Kty, k.Crv = "OKP", "Ed25519"
	default:
		return Key{}, fmt.Errorf("jwkscache: unsupported public key type %T", pub)
	}
	jk, err := jwk.Import(pub)
	if err != nil {
		return Key{}, fmt.Errorf("jwkscache: import key: %w", err)
	}
	tp, err := jk.Thumbprint(crypto.SHA256)
	if err != nil {
		return Key{}, fmt.Errorf("jwkscache: thumbprint: %w", err)
	}
	k.Thumbprint = base64.RawURLEncoding.EncodeToString(tp)
	return k, nil
}

// MinRSABits is the smallest RSA modulus accepted.
const MinRSABits = 2048

// Static is a KeySource over a fixed set of keys, for tests and offline
// use. It never fetches and never expires.
type Static struct {
	name string
	set  *KeySet
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
