package jwtverify

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/internal/strictjson"
)

// Principal is the verified identity of a caller. It is immutable: one
// cached Principal serves many concurrent requests, so getters return
// copies. It keeps the raw claims document (for Claim and DecodeClaim) and
// a few compact fields whose strings share the document's memory.
//
// Every method is safe on a nil *Principal (a handler reached without the
// middleware): it returns the zero value (no permission, no claim, the
// zero Time), so code that forgot the middleware fails closed instead of
// panicking.
type Principal struct {
	raw        string // the claims JSON, never modified
	issuerName string
	iss        string
	sub        string
	clientID   string
	tid        string
	jti        string
	aud        []string
	aud1       [1]string // backing of aud for a single audience
	scopes     []string  // merged, sorted, deduplicated
	delegated  []string  // sorted, deduplicated
	roles      []string  // sorted, deduplicated
	exp, iat   int64     // microseconds since the epoch
	leeway     int64     // the issuer's leeway, microseconds
	hasIat     bool
	appOnly    bool
	cnf        binding.Confirmation // parsed cnf under a binding policy (else zero)
	verifier   *Verifier            // the Verifier that built it (see Verifier.Issued)
	until      int64                // introspected: when the answer stops being reused (microseconds), else 0
}

// Introspected reports whether the token was accepted by introspection
// (RFC 7662) rather than verified as a JWT: its raw claims are then the
// introspection answer.
func (p *Principal) Introspected() bool { return p != nil && p.until != 0 }

// Confirmation returns the token's parsed confirmation claim (cnf, RFC
// 7800): the certificate or key thumbprints the token is bound to. It is
// the zero Confirmation (unbound) for a token without cnf, for an issuer
// whose Binding policy is binding.Off (such tokens never verify, unless
// InsecureIgnoreConfirmation accepted them unparsed) and for a nil
// Principal.
func (p *Principal) Confirmation() binding.Confirmation {
	if p == nil {
		return binding.Confirmation{}
	}
	return p.cnf
}

// Issuer returns the token's iss claim.
func (p *Principal) Issuer() string {
	if p == nil {
		return ""
	}
	return p.iss
}

// IssuerName returns the configured name of the issuer that verified the
// token (safe as a metric label).
func (p *Principal) IssuerName() string {
	if p == nil {
		return ""
	}
	return p.issuerName
}

// Subject returns the sub claim ("" when absent).
func (p *Principal) Subject() string {
	if p == nil {
		return ""
	}
	return p.sub
}

// ClientID returns the calling application: the first present claim of the
// issuer's ClientIDClaims ("" when absent and any client is allowed).
func (p *Principal) ClientID() string {
	if p == nil {
		return ""
	}
	return p.clientID
}

// TenantID returns the tid claim ("" when absent).
func (p *Principal) TenantID() string {
	if p == nil {
		return ""
	}
	return p.tid
}

// Audiences returns a copy of the aud claim as a list.
func (p *Principal) Audiences() []string {
	if p == nil {
		return nil
	}
	return slices.Clone(p.aud)
}

// Scopes returns a copy of the merged permission set (delegated scopes and
// app roles), sorted and deduplicated.
func (p *Principal) Scopes() []string {
	if p == nil {
		return nil
	}
	return slices.Clone(p.scopes)
}

// DelegatedScopes returns a copy of the delegated scopes, sorted.
func (p *Principal) DelegatedScopes() []string {
	if p == nil {
		return nil
	}
	return slices.Clone(p.delegated)
}

// Roles returns a copy of the app roles, sorted.
func (p *Principal) Roles() []string {
	if p == nil {
		return nil
	}
	return slices.Clone(p.roles)
}

func has(set []string, v string) bool {
	_, ok := slices.BinarySearch(set, v)
	return ok
}

// Has reports whether perm is in the merged set (scope or role).
func (p *Principal) Has(perm string) bool { return p != nil && has(p.scopes, perm) }

// HasAll reports whether every perm is in the merged set (true for none).
func (p *Principal) HasAll(perms ...string) bool {
	for _, s := range perms {
		if !p.Has(s) {
			return false
		}
	}
	return p != nil
}

// HasAny reports whether at least one perm is in the merged set.
func (p *Principal) HasAny(perms ...string) bool {
	for _, s := range perms {
		if p.Has(s) {
			return true
		}
	}
	return false
}

// HasScope reports whether s is a delegated scope.
func (p *Principal) HasScope(s string) bool { return p != nil && has(p.delegated, s) }

// HasRole reports whether r is an app role.
func (p *Principal) HasRole(r string) bool { return p != nil && has(p.roles, r) }

// AppOnly reports whether the token was classified as app-only (client
// credentials), by the issuer's AppOnly function or the default heuristic.
func (p *Principal) AppOnly() bool { return p != nil && p.appOnly }

// ExpiresAt returns the exp claim (the zero Time for an introspection
// answer without exp, accepted only with the Source's
// InsecureAllowNoExpiry).
func (p *Principal) ExpiresAt() time.Time {
	if p == nil || p.exp == 0 && p.until != 0 {
		return time.Time{}
	}
	return time.UnixMicro(p.exp)
}

// ValidUntil returns the instant from which Verify refuses the token as
// expired: exp plus the issuer's leeway. For an introspected token it is
// the earlier of that and the end of the answer's reuse (the
// introspection source's MaxAge after its call: the revocation delay).
// Adapters that keep a connection or stream open on the strength of a
// token end it then. The zero Time for a nil Principal.
func (p *Principal) ValidUntil() time.Time {
	if p == nil {
		return time.Time{}
	}
	if p.until != 0 && (p.exp == 0 || p.until < p.exp+p.leeway) {
		return time.UnixMicro(p.until)
	}
	return time.UnixMicro(p.exp + p.leeway)
}

// IssuedAt returns the iat claim, or the zero Time when absent.
func (p *Principal) IssuedAt() time.Time {
	if p == nil || !p.hasIat {
		return time.Time{}
	}
	return time.UnixMicro(p.iat)
}

// TokenID returns the jti claim ("" when absent).
func (p *Principal) TokenID() string {
	if p == nil {
		return ""
	}
	return p.jti
}

func (p *Principal) doc() []byte { return stringBytes(p.raw) }

func (p *Principal) member(name string) (strictjson.Value, bool) {
	if p == nil {
		return strictjson.Value{}, false
	}
	return strictjson.LookupMember(p.doc(), strictjson.Value{Start: 0, End: len(p.raw), Kind: strictjson.Object}, name)
}

// Claim returns a copy of the raw JSON of the top-level claim name.
func (p *Principal) Claim(name string) (json.RawMessage, bool) {
	v, ok := p.member(name)
	if !ok {
		return nil, false
	}
	if v.Kind == strictjson.String {
		return json.RawMessage(p.raw[v.Start-1 : v.End+1]), true
	}
	return json.RawMessage(p.raw[v.Start:v.End]), true
}

// StringClaim returns the top-level claim name when it is a JSON string.
func (p *Principal) StringClaim(name string) (string, bool) {
	v, ok := p.member(name)
	if !ok || v.Kind != strictjson.String {
		return "", false
	}
	return strictjson.StringOf(p.raw, v), true
}

// DecodeClaim unmarshals the top-level claim name into v with
// encoding/json. It returns an error wrapping ErrMissingClaim when absent.
func (p *Principal) DecodeClaim(name string, v any) error {
	raw, ok := p.Claim(name)
	if !ok {
		return &Error{Reason: ReasonMissingClaim, Detail: "claim " + quote(name)}
	}
	return json.Unmarshal(raw, v)
}

// RawClaims returns a copy of the verified claims JSON.
func (p *Principal) RawClaims() []byte {
	if p == nil {
		return nil
	}
	return []byte(p.raw)
}

// String returns a safe summary: issuer name, client, subject and
// permissions, never the token.
func (p *Principal) String() string {
	if p == nil {
		return "jwtverify.Principal(nil)"
	}
	var b strings.Builder
	b.WriteString("jwtverify.Principal{issuer=")
	b.WriteString(strconv.Quote(p.issuerName))
	b.WriteString(" client=")
	b.WriteString(quote(p.clientID))
	b.WriteString(" subject=")
	b.WriteString(quote(p.sub))
	b.WriteString(" app_only=")
	b.WriteString(strconv.FormatBool(p.appOnly))
	b.WriteString(" scopes=")
	b.WriteString(quote(strings.Join(p.scopes, " ")))
	b.WriteString("}")
	return b.String()
}

// size estimates the memory held by p (for the cache's byte bound).
func (p *Principal) size() int64 {
	n := int64(unsafe.Sizeof(*p)) + int64(len(p.raw))
	n += int64(16 * (len(p.aud) + len(p.scopes) + len(p.delegated) + len(p.roles)))
	return n
}
