package jwtverify

// STUB FILE: signatures of the contract, bodies to be written by the
// jwtverify implementation (which deletes this file and moves each
// declaration to its real home, keeping the signatures).

import (
	"context"
	"encoding/json"
	"time"
)

// Verifier verifies access tokens. Safe for concurrent use.
type Verifier struct{}

// New validates cfg and builds a Verifier. Misconfiguration fails here.
func New(cfg Config) (*Verifier, error) { panic("unimplemented") }

// Verify checks token and returns its Principal, or a *Error.
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	panic("unimplemented")
}

// IssuerInfo is the public description of a trusted issuer (for RFC 9728
// metadata).
type IssuerInfo struct {
	Name      string
	Issuer    string
	Audiences []string
}

// Issuers describes the configured issuers.
func (v *Verifier) Issuers() []IssuerInfo { panic("unimplemented") }

// CacheStats is a snapshot of the verified-token cache counters.
type CacheStats struct {
	Entries, Bytes          int64
	Hits, Misses, Evictions uint64
	MaxEntries              int
	MaxBytes                int64
}

// CacheStats returns the verified-token cache counters (zero when off).
func (v *Verifier) CacheStats() CacheStats { panic("unimplemented") }

// Principal is the verified identity of a caller. Immutable; getters
// return copies.
type Principal struct{}

func (p *Principal) Issuer() string                            { panic("unimplemented") } // iss value
func (p *Principal) IssuerName() string                        { panic("unimplemented") } // configured name
func (p *Principal) Subject() string                           { panic("unimplemented") }
func (p *Principal) ClientID() string                          { panic("unimplemented") }
func (p *Principal) TenantID() string                          { panic("unimplemented") }
func (p *Principal) Audiences() []string                       { panic("unimplemented") }
func (p *Principal) Scopes() []string                          { panic("unimplemented") } // merged, sorted
func (p *Principal) DelegatedScopes() []string                 { panic("unimplemented") }
func (p *Principal) Roles() []string                           { panic("unimplemented") }
func (p *Principal) Has(perm string) bool                      { panic("unimplemented") } // merged set
func (p *Principal) HasAll(perms ...string) bool               { panic("unimplemented") }
func (p *Principal) HasAny(perms ...string) bool               { panic("unimplemented") }
func (p *Principal) HasScope(s string) bool                    { panic("unimplemented") } // delegated only
func (p *Principal) HasRole(r string) bool                     { panic("unimplemented") } // roles only
func (p *Principal) AppOnly() bool                             { panic("unimplemented") }
func (p *Principal) ExpiresAt() time.Time                      { panic("unimplemented") }
func (p *Principal) IssuedAt() time.Time                       { panic("unimplemented") }
func (p *Principal) TokenID() string                           { panic("unimplemented") }
func (p *Principal) Claim(name string) (json.RawMessage, bool) { panic("unimplemented") } // copy
func (p *Principal) StringClaim(name string) (string, bool)    { panic("unimplemented") }
func (p *Principal) DecodeClaim(name string, v any) error      { panic("unimplemented") }
func (p *Principal) RawClaims() []byte                         { panic("unimplemented") } // copy
func (p *Principal) String() string                            { panic("unimplemented") } // safe summary

// Error is every rejection of this package.
type Error struct {
	Reason Reason
	// Issuer is the configured issuer name, when chosen.
	Issuer string
	// Detail is a safe-to-log explanation (attacker text quoted, truncated).
	Detail string
	// Required lists the permissions a failed Requirement asks for.
	Required []string
	// Missing lists the permissions the Principal lacked.
	Missing []string
	// Err is the cause.
	Err error
}

func (e *Error) Error() string        { panic("unimplemented") }
func (e *Error) Unwrap() error        { return e.Err }
func (e *Error) Is(target error) bool { panic("unimplemented") } // same Reason as a sentinel

// Sentinels, one per reason: errors.Is(err, ErrExpired).
var (
	ErrMalformed         = &Error{Reason: ReasonMalformed}
	ErrUnsupportedAlg    = &Error{Reason: ReasonUnsupportedAlg}
	ErrUnknownKey        = &Error{Reason: ReasonUnknownKey}
	ErrBadSignature      = &Error{Reason: ReasonBadSignature}
	ErrExpired           = &Error{Reason: ReasonExpired}
	ErrNotYetValid       = &Error{Reason: ReasonNotYetValid}
	ErrIssuer            = &Error{Reason: ReasonIssuer}
	ErrAudience          = &Error{Reason: ReasonAudience}
	ErrClient            = &Error{Reason: ReasonClient}
	ErrType              = &Error{Reason: ReasonType}
	ErrMissingClaim      = &Error{Reason: ReasonMissingClaim}
	ErrKeysUnavailable   = &Error{Reason: ReasonKeysUnavailable}
	ErrInsufficientScope = &Error{Reason: ReasonInsufficientScope}
)

// Reasons returns the fixed set of reasons.
func Reasons() []Reason { panic("unimplemented") }

// ReasonOf returns the Reason of err (ReasonMalformed for a non-*Error).
func ReasonOf(err error) Reason { panic("unimplemented") }

// Code returns the RFC 6750 error code for r: invalid_token for every token
// problem, insufficient_scope, or "" for keys_unavailable (a server
// condition, 503).
func (r Reason) Code() string { panic("unimplemented") }

// Description returns the fixed client-facing error_description for r:
// one text per code, except "The access token expired" for ReasonExpired.
func (r Reason) Description() string { panic("unimplemented") }

// Requirement is an immutable, composable permission requirement. The zero
// value requires only authentication.
type Requirement struct{}

func RequireAll(perms ...string) Requirement   { panic("unimplemented") } // merged set
func RequireAny(perms ...string) Requirement   { panic("unimplemented") }
func RequireAllScopes(s ...string) Requirement { panic("unimplemented") } // delegated only
func RequireAnyScopes(s ...string) Requirement { panic("unimplemented") }
func RequireAllRoles(r ...string) Requirement  { panic("unimplemented") } // roles only
func RequireAnyRoles(r ...string) Requirement  { panic("unimplemented") }
func And(reqs ...Requirement) Requirement      { panic("unimplemented") }
func Or(reqs ...Requirement) Requirement       { panic("unimplemented") }
func Authenticated() Requirement               { return Requirement{} }

// Check returns nil or a *Error with ReasonInsufficientScope, Required and
// Missing set.
func (r Requirement) Check(p *Principal) error { panic("unimplemented") }

// Scopes lists every permission the requirement names, deduplicated in
// order: the 403 scope="..." attribute.
func (r Requirement) Scopes() []string { panic("unimplemented") }

// String describes the requirement.
func (r Requirement) String() string { panic("unimplemented") }
