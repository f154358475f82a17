package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"time"
)

// Nonces makes and checks resource-server nonces (RFC 9449 section 9): an
// HMAC-SHA256 under a secret of a time bucket. A nonce is accepted during
// its bucket and the next one, so it lives between one and two periods.
// Replicas sharing the secret and (roughly) the clock accept each other's
// nonces. Nonces are unpredictable without the secret; they are compared in
// constant time. A Nonces is safe for concurrent use.
//
// These nonces are the resource server's, separate from any nonce of the
// authorization server.
type Nonces struct {
	secret []byte
	period int64 // ns
	cache  atomic.Pointer[nonceBucket]
}

type nonceBucket struct {
	bucket    int64
	cur, prev [nonceMACLen]byte
	curStr    string
}

const (
	nonceMACLen = 16
	nonceRawLen = 8 + nonceMACLen
	// nonceLen is the base64url length of a nonce.
	nonceLen = (nonceRawLen*8 + 5) / 6
)

// MinNonceSecret is the minimum length of the secret given to NewNonces.
const MinNonceSecret = 32

// NewNonces returns Nonces keyed by secret (at least MinNonceSecret random
// bytes; share it between replicas) whose buckets last period (between one
// second and one hour; a minute or a few suits most APIs).
func NewNonces(secret []byte, period time.Duration) (*Nonces, error) {
	if len(secret) < MinNonceSecret {
		return nil, errors.New("dpop: the nonce secret must be at least 32 bytes")
	}
	if period < time.Second || period > time.Hour {
		return nil, errors.New("dpop: the nonce period must be between 1 s and 1 h")
	}
	return &Nonces{secret: append([]byte(nil), secret...), period: int64(period)}, nil
}

// Current returns the nonce of the current bucket by the system clock.
func (n *Nonces) Current() string { return n.At(time.Now()) }

// At returns the nonce of the bucket holding t.
func (n *Nonces) At(t time.Time) string { return n.bucketAt(n.bucketOf(t)).curStr }

func (n *Nonces) bucketOf(t time.Time) int64 {
	ns := t.UnixNano()
	b := ns / n.period
	if ns < 0 && ns%n.period != 0 {
		b--
	}
	return b
}

// bucketAt returns the cached MACs for bucket b, computing them when the
// cache holds another bucket.
func (n *Nonces) bucketAt(b int64) *nonceBucket {
	if c := n.cache.Load(); c != nil && c.bucket == b {
		return c
	}
	c := &nonceBucket{bucket: b, cur: n.mac(b), prev: n.mac(b - 1)}
	var raw [nonceRawLen]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(b))
	copy(raw[8:], c.cur[:])
	c.curStr = base64.RawURLEncoding.EncodeToString(raw[:])
	if old := n.cache.Load(); old == nil || old.bucket < b {
		n.cache.Store(c)
	}
	return c
}

func (n *Nonces) mac(b int64) [nonceMACLen]byte {
	h := hmac.New(sha256.New, n.secret)
	var in [8]byte
	binary.BigEndian.PutUint64(in[:], uint64(b))
	h.Write([]byte("m2mauth dpop nonce v1\x00"))
	h.Write(in[:])
	var out [nonceMACLen]byte
	copy(out[:], h.Sum(nil))
	return out
}

// valid reports whether nonce is the nonce of now's bucket or of the
// previous one.
func (n *Nonces) valid(nonce string, now time.Time) bool {
	if len(nonce) != nonceLen {
		return false
	}
	var raw [nonceRawLen]byte
	if m, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(nonce)); err != nil || m != nonceRawLen {
		return false
	}
	b := int64(binary.BigEndian.Uint64(raw[:8]))
	cur := n.bucketOf(now)
	c := n.bucketAt(cur)
	var want []byte
	switch b {
	case cur:
		want = c.cur[:]
	case cur - 1:
		want = c.prev[:]
	default:
		return false
	}
	return subtle.ConstantTimeCompare(raw[8:], want) == 1
}
