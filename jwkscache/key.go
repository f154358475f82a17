package jwkscache

import (
	"context"
	"crypto"
	"errors"
	"time"
)

// Key is one usable verification key, in m2mauth's own types: jwx stays an
// implementation detail of this package.
//
// A Key is immutable once it is part of a KeySet; share it freely.
type Key struct {
	// KID is the JWK "kid" member (may be empty).
	KID string
	// Alg is the JWK "alg" member, empty when the JWK has none (Entra
	// publishes such keys); the verifier then infers the algorithm family
	// from Kty and Crv.
	Alg string
	// Kty is "RSA", "EC" or "OKP".
	Kty string
	// Crv is the curve for EC and OKP keys ("P-256", "P-384", "P-521",
	// "Ed25519"), empty for RSA.
	Crv string
	// Issuer is the JWK "issuer" member when present (Entra multi-tenant
	// key sets carry an issuer template per key), else empty.
	Issuer string
	// Thumbprint is the RFC 7638 SHA-256 thumbprint, base64url without
	// padding. It identifies the key material independently of its kid.
	Thumbprint string
	// Public is the public key: *rsa.PublicKey, *ecdsa.PublicKey or
	// ed25519.PublicKey.
	Public crypto.PublicKey
	// Source is the configured name of the source the key came from.
	Source string
	// Generation is the generation of the KeySet the key was published in.
	Generation uint64
}

// KeySet is an immutable snapshot of the usable keys of one source. A
// refresh builds a new KeySet with a higher Generation and swaps it in
// atomically; readers never lock.
type KeySet struct {
	// Generation increases by one with every successful fetch that
	// replaced the set (starting at 1).
	Generation uint64
	// FetchedAt is when the set was fetched (by the source's clock).
	FetchedAt time.Time
	// Keys holds the usable keys in document order. Do not modify.
	Keys []Key

	byKID map[string][]Key
}

// NewKeySet builds an immutable KeySet from keys (copied). Each key's
// Generation is set to gen.
func NewKeySet(gen uint64, fetchedAt time.Time, keys []Key) *KeySet {
	ks := &KeySet{Generation: gen, FetchedAt: fetchedAt, Keys: make([]Key, len(keys)), byKID: make(map[string][]Key, len(keys))}
	copy(ks.Keys, keys)
	count := make(map[string]int, len(keys))
	for i := range ks.Keys {
		ks.Keys[i].Generation = gen
		count[ks.Keys[i].KID]++
	}
	for i := range ks.Keys {
		kid := ks.Keys[i].KID
		if count[kid] == 1 {
			// A sub-slice of Keys with no spare capacity: an append by a
			// careless caller cannot overwrite the next key.
			ks.byKID[kid] = ks.Keys[i : i+1 : i+1]
			continue
		}
		// Duplicate kids get their own candidate slice, in document
		// order, built once here so that Lookup never allocates.
		ks.byKID[kid] = append(ks.byKID[kid], ks.Keys[i])
	}
	return ks
}

// Lookup returns the keys whose KID equals kid, in document order. Duplicate
// kids are all returned as candidates. The returned slice must not be
// modified. It returns nil when no key matches. It does not allocate.
func (ks *KeySet) Lookup(kid string) []Key {
	if ks == nil {
		return nil
	}
	return ks.byKID[kid]
}

// Contains reports whether the set still publishes a key with this kid and
// thumbprint. The verified-token cache uses it to drop tokens whose key was
// removed from the issuer's JWKS.
func (ks *KeySet) Contains(kid, thumbprint string) bool {
	if ks == nil {
		return false
	}
	for i := range ks.byKID[kid] {
		if ks.byKID[kid][i].Thumbprint == thumbprint {
			return true
		}
	}
	return false
}

// KeySource is what the verifier needs from a key provider: the cache of a
// remote JWKS (*Cache) or a fixed set (*Static). Implementations must be
// safe for concurrent use.
type KeySource interface {
	// Name is the configured name of the source (used in logs and metric
	// labels; never derived from a token).
	Name() string
	// Current returns the current usable snapshot without any I/O, or nil
	// when there is no usable key set (never fetched, or older than the
	// maximum staleness). It must be cheap: the verified-token cache calls
	// it on every hit.
	Current() *KeySet
	// Lookup returns the candidate keys for kid. An empty kid returns every
	// key of the current set (the caller bounds how many it tries). When kid
	// is unknown the source may refresh (rate limited, shared between
	// concurrent callers); ctx bounds only the caller's own wait.
	//
	// Errors: ErrUnknownKey when the set is usable but has no such kid
	// (also during an outage), ErrKeysUnavailable when there is no usable
	// set at all. Errors wrap these sentinels; test with errors.Is.
	Lookup(ctx context.Context, kid string) ([]Key, error)
}

var (
	// ErrUnknownKey means a usable key set exists but has no key with the
	// requested kid (after any refresh the rate limit allowed).
	ErrUnknownKey = errors.New("jwkscache: unknown key id")
	// ErrKeysUnavailable means there is no usable key set: the source never
	// fetched successfully, or its keys are older than the maximum
	// staleness. Adapters answer 503 / Unavailable.
	ErrKeysUnavailable = errors.New("jwkscache: no usable key set")
)

// MaxKIDLength is the longest kid a lookup accepts; longer kids are unknown
// without any fetch.
const MaxKIDLength = 256
