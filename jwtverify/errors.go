package jwtverify

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Error is every rejection of this package. Its message is safe to log: it
// never contains the token, and attacker-controlled text is quoted and
// truncated.
type Error struct {
	// Reason is the machine-readable cause, from a fixed set.
	Reason Reason
	// Issuer is the configured issuer name, when chosen.
	Issuer string
	// Rule is the sub-reason code of the rule (IssuerConfig.Rules or
	// Validate) that refused the token, empty for the generic checks. A
	// fixed code, never token text.
	Rule string
	// Detail is a safe-to-log explanation (attacker text quoted, truncated).
	Detail string
	// Required lists the permissions a failed Requirement asks for.
	Required []string
	// Missing lists the permissions the Principal lacked.
	Missing []string
	// Err is the cause.
	Err error
	// RetryAfter, on a server condition (Reason.Unavailable), is when the
	// condition may be over if the verifier knows (an introspection
	// budget says when it refills); zero means the adapter's default.
	RetryAfter time.Duration
}

// Error returns "jwtverify: <reason>[ (issuer "<name>")][: detail][: cause]".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("jwtverify: ")
	b.WriteString(string(e.Reason))
	if e.Issuer != "" {
		b.WriteString(" (issuer ")
		b.WriteString(strconv.Quote(e.Issuer))
		b.WriteString(")")
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Reason, so that
// errors.Is(err, ErrExpired) matches every expiry rejection.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && t.Reason == e.Reason
}

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
	ErrBinding           = &Error{Reason: ReasonBinding}

	ErrIntrospectionUnavailable = &Error{Reason: ReasonIntrospectionUnavailable}
	ErrDPoPProof                = &Error{Reason: ReasonDPoPProof}
	ErrDPoPNonce                = &Error{Reason: ReasonDPoPNonce}
	ErrReplayUnavailable        = &Error{Reason: ReasonReplayUnavailable}
	ErrInactive                 = &Error{Reason: ReasonInactive}
)

// Reasons returns the fixed set of reasons (a new slice each call).
func Reasons() []Reason {
	return []Reason{
		ReasonMalformed, ReasonUnsupportedAlg, ReasonUnknownKey, ReasonBadSignature,
		ReasonExpired, ReasonNotYetValid, ReasonIssuer, ReasonAudience, ReasonClient,
		ReasonType, ReasonMissingClaim, ReasonKeysUnavailable, ReasonInsufficientScope,
		ReasonBinding, ReasonIntrospectionUnavailable, ReasonDPoPProof, ReasonDPoPNonce,
		ReasonReplayUnavailable, ReasonInactive,
	}
}

// Unavailable reports whether r is a server condition (the answer is 503
// with Retry-After, or gRPC Unavailable: retry later), not a verdict on
// the token: keys_unavailable, introspection_unavailable,
// replay_unavailable.
func (r Reason) Unavailable() bool {
	switch r {
	case ReasonKeysUnavailable, ReasonIntrospectionUnavailable, ReasonReplayUnavailable:
		return true
	}
	return false
}

// ReasonOf returns the Reason of err: the Reason of the first *Error in its
// chain, ReasonMalformed for any other non-nil error, and "" for nil.
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Reason != "" {
		return e.Reason
	}
	return ReasonMalformed
}

// Code returns the error code for r: invalid_token for every token
// problem, insufficient_scope, invalid_dpop_proof and use_dpop_nonce (RFC
// 9449), or "" for a server condition (see Unavailable: 503).
func (r Reason) Code() string {
	if r.Unavailable() {
		return ""
	}
	switch r {
	case ReasonInsufficientScope:
		return CodeInsufficientScope
	case ReasonDPoPProof:
		return CodeInvalidDPoPProof
	case ReasonDPoPNonce:
		return CodeUseDPoPNonce
	default:
		return CodeInvalidToken
	}
}

// Fixed client-facing descriptions (RFC 6750 error_description). They never
// depend on the token.
const (
	descInvalidToken      = "The access token is invalid"
	descExpired           = "The access token expired"
	descInsufficientScope = "The access token lacks the permissions this request requires"
	descUnavailable       = "The access token cannot be verified at the moment"
	descBinding           = "The access token is bound to a client certificate or key this request does not prove"
	descDPoPProof         = "The DPoP proof is invalid"
	descDPoPNonce         = "The DPoP proof must carry the nonce the server provided"
)

// Description returns the fixed client-facing error_description for r:
// one text per code, except "The access token expired" for ReasonExpired
// and a text of its own for ReasonBinding (whatever the binding.Reason: the
// precise one goes to logs and metrics only).
func (r Reason) Description() string {
	switch r {
	case ReasonExpired:
		return descExpired
	case ReasonBinding:
		return descBinding
	case ReasonInsufficientScope:
		return descInsufficientScope
	case ReasonKeysUnavailable, ReasonIntrospectionUnavailable, ReasonReplayUnavailable:
		return descUnavailable
	case ReasonDPoPProof:
		return descDPoPProof
	case ReasonDPoPNonce:
		return descDPoPNonce
	default:
		return descInvalidToken
	}
}

// maxQuoted bounds attacker text copied into error details.
const maxQuoted = 64

// quote returns s quoted with %q semantics, truncated to maxQuoted bytes on a
// rune boundary (with "..." appended when cut).
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

// quoteBytes is quote for bytes.
func quoteBytes(b []byte) string {
	if len(b) > maxQuoted+4 {
		b = b[:maxQuoted+4]
	}
	return quote(string(b))
}

func newErr(r Reason, detail string) *Error { return &Error{Reason: r, Detail: detail} }

// RuleError builds the refusal of a rule with a declared sub-reason code:
// an *Error with the Reason of sentinel (ReasonMissingClaim when nil), Rule
// code and Detail detail, so errors.Is(err, sentinel) holds. Return it from
// IssuerConfig.Validate with a code listed in ValidateCodes (any other code
// is recorded as RuleCustom), or from a Rule's Check (the Rule's own Code
// is recorded whatever code says). detail is logged: it MUST NOT hold the
// token, and text taken from the token should be quoted and truncated.
func RuleError(sentinel *Error, code, detail string) *Error {
	r := ReasonMissingClaim
	if sentinel != nil && sentinel.Reason != "" {
		r = sentinel.Reason
	}
	return &Error{Reason: r, Rule: code, Detail: detail}
}

// ruleRefusal is the rejection of issuer is by the rule code: the Reason of
// the first *Error in err's chain (default ReasonMissingClaim), err as the
// cause.
func ruleRefusal(is *issuer, code string, err error) *Error {
	r := ReasonMissingClaim
	var ve *Error
	if errors.As(err, &ve) && ve.Reason != "" {
		r = ve.Reason
	}
	return &Error{Reason: r, Issuer: is.name, Rule: code, Detail: "rule " + code, Err: err}
}

// validateCode is the sub-reason of a Validate refusal: the Rule of the
// first *Error in err's chain when Validate declared it, else RuleCustom.
func validateCode(is *issuer, err error) string {
	var ve *Error
	if errors.As(err, &ve) && ve.Rule != "" {
		for _, c := range is.valCodes {
			if c == ve.Rule {
				return c
			}
		}
	}
	return RuleCustom
}
