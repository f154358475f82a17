package jwtverify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/internal/strictjson"
	"github.com/m2mauth/m2mauth/introspect"
)

// Mode says how the tokens of an issuer are verified (issue 19's routing).
type Mode uint8

// The modes.
const (
	// ModeJWT (the zero value): every token of the issuer is a JWT verified
	// with its keys (IssuerConfig.Keys). Opaque tokens are never accepted
	// for it.
	ModeJWT Mode = iota
	// ModeIntrospect: every token of the issuer is introspected (RFC 7662)
	// by IssuerConfig.Introspection, whatever its shape: a compact JWS
	// whose unverified iss names the issuer (Keycloak "lightweight" access
	// tokens; the JWS signature is not checked, the endpoint decides) and
	// the opaque tokens routed to it (see IssuerConfig.OpaquePrefix).
	// Keys and Algorithms are not used and may be left empty.
	ModeIntrospect
	// ModeJWTOrIntrospect: a compact JWS whose iss names the issuer goes
	// through the JWT pipeline (Keys and Algorithms are required) and is
	// never introspected, whatever check it fails; the opaque tokens routed
	// to it are introspected.
	ModeJWTOrIntrospect
)

// String returns "jwt", "introspect" or "jwt-or-introspect".
func (m Mode) String() string {
	switch m {
	case ModeJWT:
		return "jwt"
	case ModeIntrospect:
		return "introspect"
	case ModeJWTOrIntrospect:
		return "jwt-or-introspect"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses the String form of a Mode ("" is ModeJWT).
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "jwt":
		return ModeJWT, nil
	case "introspect":
		return ModeIntrospect, nil
	case "jwt-or-introspect":
		return ModeJWTOrIntrospect, nil
	}
	return 0, fmt.Errorf("jwtverify: unknown mode %q (jwt, introspect, jwt-or-introspect)", s)
}

// Introspector decides on a token by introspection (RFC 7662).
// *introspect.Source satisfies it. The error must be an *introspect.Error
// (errors.Is ErrInvalid or ErrUnavailable); any other error is treated as
// unavailable (503), never as an acceptance. Implementations must be safe
// for concurrent use, and must cache and share calls themselves: the
// Verifier calls Introspect on every miss of its own cache.
type Introspector interface {
	Introspect(ctx context.Context, token string) (*introspect.Result, error)
}

var _ Introspector = (*introspect.Source)(nil)

// introspects reports whether the issuer takes opaque tokens.
func (m Mode) introspects() bool { return m == ModeIntrospect || m == ModeJWTOrIntrospect }

// compileRouting checks the routing fields of ic into is.
func compileRouting(ic *IssuerConfig, is *issuer) error {
	switch ic.Mode {
	case ModeJWT:
		if ic.Introspection != nil || ic.OpaquePrefix != "" {
			return fmt.Errorf("the Introspection and OpaquePrefix fields need Mode %s or %s", ModeIntrospect, ModeJWTOrIntrospect)
		}
	case ModeIntrospect, ModeJWTOrIntrospect:
		if ic.Introspection == nil {
			return fmt.Errorf("Mode %s needs Introspection", ic.Mode)
		}
		if strings.Contains(ic.Issuer, tenantPlaceholder) {
			return fmt.Errorf("Mode %s cannot be used with a %s issuer template", ic.Mode, tenantPlaceholder)
		}
		if ic.OpaquePrefix != "" && !ValidOpaquePrefix(ic.OpaquePrefix) {
			return fmt.Errorf("OpaquePrefix %q must be 1 to 32 b64token characters without a dot", ic.OpaquePrefix)
		}
	default:
		return fmt.Errorf("unknown Mode %d", int(ic.Mode))
	}
	is.mode, is.intro, is.opaquePrefix = ic.Mode, ic.Introspection, ic.OpaquePrefix
	return nil
}

// ValidOpaquePrefix reports whether p can be an IssuerConfig.OpaquePrefix:
// 1 to 32 RFC 6750 b64token characters (no "=", no "."): a prefix with a
// dot could make an opaque token look like a JWS. For configuration
// loaders that report errors before New.
func ValidOpaquePrefix(p string) bool {
	if p == "" || len(p) > 32 {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '~' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// compileOpaqueRoutes checks that every opaque token has at most one
// issuer: at most one introspecting issuer without OpaquePrefix, and no
// prefix that is a prefix of another.
func compileOpaqueRoutes(v *Verifier) error {
	for _, is := range v.issuers {
		if !is.mode.introspects() {
			continue
		}
		if is.opaquePrefix == "" {
			if v.opaqueDefault != nil {
				return fmt.Errorf("jwtverify: issuers %q and %q both introspect opaque tokens without an OpaquePrefix: an opaque token names no issuer, and it is never sent to more than one endpoint", v.opaqueDefault.name, is.name)
			}
			v.opaqueDefault = is
			continue
		}
		for _, o := range v.opaquePrefixed {
			if strings.HasPrefix(o.opaquePrefix, is.opaquePrefix) || strings.HasPrefix(is.opaquePrefix, o.opaquePrefix) {
				return fmt.Errorf("jwtverify: the OpaquePrefix of issuers %q (%q) and %q (%q) overlap", o.name, o.opaquePrefix, is.name, is.opaquePrefix)
			}
		}
		v.opaquePrefixed = append(v.opaquePrefixed, is)
	}
	return nil
}

// opaqueIssuer returns the issuer an opaque token is routed to: the one
// whose OpaquePrefix starts it, else the one without a prefix, else nil.
func (v *Verifier) opaqueIssuer(token string) *issuer {
	for _, is := range v.opaquePrefixed {
		if strings.HasPrefix(token, is.opaquePrefix) {
			return is
		}
	}
	return v.opaqueDefault
}

// introspected is what jwtverify attaches to an introspect.Result: the
// Principal (or refusal) of issuer is of Verifier v for that answer.
type introspected struct {
	v   *Verifier
	is  *issuer
	p   *Principal
	err *Error
}

// introspectToken is the introspection pipeline of issuer is: one call to
// its Introspector (which caches and shares calls), the answer turned into
// a Principal once per answer, then the checks of the clock. On success it
// also returns a cache entry (when the cache is on).
func (v *Verifier) introspectToken(ctx context.Context, is *issuer, token string, now time.Time) (*Principal, *issuer, *cacheEntry, *Error) {
	res, err := is.intro.Introspect(ctx, token)
	if err != nil || res == nil {
		return nil, is, nil, introspectionRefusal(is, err)
	}
	build := func(r *introspect.Result) any { return v.fromResult(is, r) }
	in, _ := res.Attached(build).(*introspected)
	if in == nil || in.v != v || in.is != is {
		// The Source is shared with another Verifier or issuer, which
		// attached its own view first: build ours (not kept).
		in = v.fromResult(is, res)
	}
	if in.err != nil {
		e := *in.err
		return nil, is, nil, &e
	}
	p := in.p
	us := now.UnixMicro()
	limit := p.until
	if p.exp != 0 && p.exp+p.leeway < limit {
		limit = p.exp + p.leeway
	}
	if us >= limit {
		// The Source reused the answer past what this issuer's leeway
		// allows (its own Leeway is larger).
		return nil, is, nil, &Error{Reason: ReasonExpired, Issuer: is.name, Detail: "token expired"}
	}
	if v.cache == nil {
		return p, is, nil, nil
	}
	return p, is, &cacheEntry{p: p, is: is, expLimit: limit, nbfLimit: math.MinInt64}, nil
}

// fromResult builds the Principal of an accepted answer and applies the
// IssuerConfig's checks, the source of truth for what this API accepts:
// Audiences (a present aud must name one; whether aud may be missing is
// the Source's choice, introspect.Config.AllowMissingAudience), ClientIDs
// (against client_id), RequiredClaims, the binding policy for a cnf, the
// Permissions mapping, AppOnly and Rules.
func (v *Verifier) fromResult(is *issuer, r *introspect.Result) *introspected {
	in := &introspected{v: v, is: is}
	fail := func(reason Reason, detail string) *introspected {
		in.err = &Error{Reason: reason, Issuer: is.name, Detail: detail}
		return in
	}
	until := r.ReusedUntil().UnixMicro()
	if until <= 0 {
		return fail(ReasonIntrospectionUnavailable, "introspection answer without a reuse deadline")
	}
	t := parsed{raw: r.RawJSON()}
	if err := parseClaims(t.raw, v.interestTab, &t.c); err != nil {
		err.Issuer = is.name
		err.Detail = "introspection answer: " + err.Detail
		in.err = err
		return in
	}
	t.doc = bytesString(t.raw)
	p := &Principal{
		raw: t.doc, issuerName: is.name, iss: r.Issuer(), sub: r.Subject(), clientID: r.ClientID(),
		leeway: is.leeway, verifier: v, until: until, aud: r.Audiences(),
	}
	if exp := r.ExpiresAt(); !exp.IsZero() {
		p.exp = exp.UnixMicro()
	}
	if iat := r.IssuedAt(); !iat.IsZero() {
		p.iat, p.hasIat = iat.UnixMicro(), true
	}
	if t.c.jti.Kind == strictjson.String {
		p.jti = strictjson.StringOf(t.doc, t.c.jti)
	}
	if !is.skipAud && len(p.aud) > 0 && !audOK(p.aud, is.audiences) {
		return fail(ReasonAudience, "aud names none of the configured audiences")
	}
	if !is.anyClient {
		if p.clientID == "" {
			return fail(ReasonClient, "no client_id in the introspection answer")
		}
		if _, ok := is.clientIDs[p.clientID]; !ok {
			return fail(ReasonClient, "client "+quote(p.clientID)+" is not allowed")
		}
	}
	for i, idx := range is.required {
		if k := t.c.extra[idx].Kind; k == 0 || k == strictjson.Null {
			return fail(ReasonMissingClaim, "required claim "+quote(is.reqNames[i])+" is missing")
		}
	}
	if t.c.hasCnf {
		if !is.ignoreCnf && is.binding.Policy == binding.Off {
			return fail(ReasonType, "token is sender-constrained (cnf)")
		}
		cnf, err := parseCnf(is, &t)
		if err != nil {
			err.Issuer = is.name
			in.err = err
			return in
		}
		p.cnf = cnf
	}
	if err := mapAndRule(is, &t, p); err != nil {
		err.Issuer = is.name
		in.err = err
		return in
	}
	in.p = p
	return in
}

// introspectionRefusal maps an Introspector's error: a refusal is 401 with
// the closest Reason, a Source that cannot decide is
// ReasonIntrospectionUnavailable (503) with its RetryAfter; either way
// Rule is the precise introspect.Reason. Anything else is unavailable:
// never an acceptance, never a refusal of a token that may be valid.
func introspectionRefusal(is *issuer, err error) *Error {
	var ie *introspect.Error
	if !errors.As(err, &ie) {
		return &Error{Reason: ReasonIntrospectionUnavailable, Issuer: is.name, Detail: "introspector failed", Err: err}
	}
	e := &Error{Reason: ReasonIntrospectionUnavailable, Issuer: is.name, Rule: string(ie.Reason), Detail: "introspection " + string(ie.Reason), Err: err}
	if ie.Reason.Unavailable() {
		e.RetryAfter = ie.RetryAfter
		return e
	}
	switch ie.Reason {
	case introspect.ReasonMalformed:
		e.Reason = ReasonMalformed
	case introspect.ReasonInactive:
		e.Reason = ReasonInactive
	case introspect.ReasonExpired:
		e.Reason = ReasonExpired
	case introspect.ReasonNotYetValid:
		e.Reason = ReasonNotYetValid
	case introspect.ReasonIssuer:
		e.Reason = ReasonIssuer
	case introspect.ReasonAudience:
		e.Reason = ReasonAudience
	case introspect.ReasonClient:
		e.Reason = ReasonClient
	case introspect.ReasonType, introspect.ReasonBound:
		e.Reason = ReasonType
	case introspect.ReasonMissingClaim:
		e.Reason = ReasonMissingClaim
	default:
		// A refusal this version does not know: refuse (fail closed) with
		// a bounded rule.
		e.Reason, e.Rule = ReasonMalformed, "unknown"
	}
	return e
}
