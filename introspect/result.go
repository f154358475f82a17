package introspect

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Result is an accepted introspection answer. It is immutable and shared by
// every request that presents the same token while it is cached: the
// getters return copies.
type Result struct {
	name, issuer      string
	subject, clientID string
	scopes, aud       []string
	exp, iat          int64 // seconds since the epoch; 0 when absent
	raw               string
	until             int64 // unix nanoseconds: end of the cache's reuse, set before publication
	bound             bool  // the answer has a cnf (only with AcceptConfirmation)

	attachOnce sync.Once
	attached   any
}

// Attached returns the value build derives from r, calling build at most
// once per Result; later calls return the same value whatever build they
// pass. It lets the one consumer of a Source (jwtverify) keep its own
// immutable view, such as a Principal, with the cached Result, so that a
// cache hit allocates nothing. build must not call Attached on r.
func (r *Result) Attached(build func(*Result) any) any {
	r.attachOnce.Do(func() { r.attached = build(r) })
	return r.attached
}

// SourceName is the configured name of the Source that produced r.
func (r *Result) SourceName() string { return r.name }

// Issuer is the configured issuer (an answer's "iss", when present, equals
// it).
func (r *Result) Issuer() string { return r.issuer }

// Subject is the answer's "sub" ("" when absent).
func (r *Result) Subject() string { return r.subject }

// ClientID is the answer's "client_id" ("" only with AnyClient).
func (r *Result) ClientID() string { return r.clientID }

// Scopes are the answer's space-separated "scope" values, sorted and
// deduplicated.
func (r *Result) Scopes() []string { return slices.Clone(r.scopes) }

// Audiences are the answer's "aud" values.
func (r *Result) Audiences() []string { return slices.Clone(r.aud) }

// ExpiresAt is "exp" (the zero time only with InsecureAllowNoExpiry).
func (r *Result) ExpiresAt() time.Time {
	if r.exp == 0 {
		return time.Time{}
	}
	return time.Unix(r.exp, 0)
}

// IssuedAt is "iat" (the zero time when absent).
func (r *Result) IssuedAt() time.Time {
	if r.iat == 0 {
		return time.Time{}
	}
	return time.Unix(r.iat, 0)
}

// Bound reports whether the answer carries a "cnf" (a sender-constrained
// token, accepted only with Config.AcceptConfirmation): the caller must
// check the binding (jwtverify does) before trusting the token.
func (r *Result) Bound() bool { return r.bound }

// ReusedUntil is when the Source stops reusing r: the earlier of exp plus
// Leeway and MaxAge after the call that produced it (the revocation
// delay). A consumer that keeps its own view of r (jwtverify's cache)
// keeps it no longer.
func (r *Result) ReusedUntil() time.Time { return time.Unix(0, r.until) }

// RawJSON returns a copy of the whole answer as received: the raw claims of
// the Principal built from it.
func (r *Result) RawJSON() []byte { return []byte(r.raw) }

func (r *Result) size() int64 {
	n := int64(len(r.raw) + len(r.subject) + len(r.clientID) + len(r.name) + len(r.issuer) + 256)
	for _, s := range r.scopes {
		n += int64(len(s)) + 16
	}
	for _, s := range r.aud {
		n += int64(len(s)) + 16
	}
	return n
}

func splitScopes(scope string) []string {
	out := strings.Fields(scope)
	slices.Sort(out)
	return slices.Compact(out)
}
