package introspect

import (
	"errors"
	"fmt"
	"time"
)

// Reason is the bounded, machine-readable cause of an Error. Its values are
// safe as metric labels and log fields: they never carry token or response
// text.
type Reason string

// Reasons of a refused token (the API answers 401 invalid_token). The
// authorization server, or a check of ours, decided that this token is not
// acceptable.
const (
	// ReasonMalformed: the token failed the size, character set or
	// provider format pre-check; no call was made.
	ReasonMalformed Reason = "malformed"
	// ReasonInactive: the response's "active" was false.
	ReasonInactive Reason = "inactive"
	// ReasonExpired: "exp" is in the past.
	ReasonExpired Reason = "expired"
	// ReasonNotYetValid: "nbf" or "iat" is in the future (beyond the leeway).
	ReasonNotYetValid Reason = "not_yet_valid"
	// ReasonMissingClaim: a required member (exp, aud, client_id,
	// token_use, typ) is absent.
	ReasonMissingClaim Reason = "missing_claim"
	// ReasonIssuer: "iss" is not the configured issuer.
	ReasonIssuer Reason = "issuer"
	// ReasonAudience: "aud" names none of the configured audiences.
	ReasonAudience Reason = "audience"
	// ReasonClient: "client_id" is not in the client allow list.
	ReasonClient Reason = "client"
	// ReasonType: "token_type" is not Bearer, or the provider's token kind
	// member (Hydra token_use, Keycloak typ) does not name an access token,
	// or the token is a provider's refresh token by format.
	ReasonType Reason = "type"
	// ReasonBound: the response carries "cnf" (a sender-constrained token)
	// and Config.AcceptConfirmation is off.
	ReasonBound Reason = "bound"
)

// Reasons of an unavailable answer (the API answers 503): the Source cannot
// decide now. A token is never refused or accepted for these reasons.
const (
	// ReasonOverBudget: the per-issuer budget of calls (concurrency or
	// rate) is spent; Error.RetryAfter says when to retry.
	ReasonOverBudget Reason = "over_budget"
	// ReasonEndpointDown: the call failed: connection refused, timeout,
	// cut connection, redirect, or an HTTP status other than 200.
	ReasonEndpointDown Reason = "endpoint_down"
	// ReasonBadResponse: the answer was not a strict JSON object of the
	// RFC 7662 shape (duplicate members, "active" not the JSON true or
	// false, a date that is not a number in range, a string member of
	// another type, too large).
	ReasonBadResponse Reason = "bad_response"
	// ReasonDiscovery: the introspection endpoint could not be discovered
	// or is refused by the URL policy.
	ReasonDiscovery Reason = "discovery"
	// ReasonClosed: the Source is closed.
	ReasonClosed Reason = "closed"
	// ReasonCanceled: the caller's context ended before the shared call
	// answered (the call goes on for the other callers).
	ReasonCanceled Reason = "canceled"
)

// Unavailable reports whether r means "cannot decide now" (503).
func (r Reason) Unavailable() bool {
	switch r {
	case ReasonOverBudget, ReasonEndpointDown, ReasonBadResponse, ReasonDiscovery, ReasonClosed, ReasonCanceled:
		return true
	}
	return false
}

var (
	// ErrInvalid matches (errors.Is) every Error that refuses the token:
	// the adapters answer 401 invalid_token.
	ErrInvalid = errors.New("introspect: token refused")
	// ErrUnavailable matches every Error that means the Source cannot
	// decide now: the adapters answer 503, with Retry-After when
	// Error.RetryAfter is set.
	ErrUnavailable = errors.New("introspect: unavailable")
)

// Error is the error of Source.Introspect. Its text names the source and the
// reason and never contains the token, the client secret or unbounded
// response text.
type Error struct {
	// Source is the Source's configured name (Config.Name).
	Source string
	// Reason is the bounded cause.
	Reason Reason
	// RetryAfter, for ReasonOverBudget, is when a retry may succeed
	// (at least one second); zero otherwise.
	RetryAfter time.Duration
	// Detail is a short, fixed or truncated explanation for logs.
	Detail string
	// Err is the underlying error, if any (network errors).
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	s := "introspect: " + e.Source + ": " + string(e.Reason)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is matches ErrInvalid or ErrUnavailable by the reason's category.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnavailable:
		return e.Reason.Unavailable()
	case ErrInvalid:
		return !e.Reason.Unavailable()
	}
	return false
}

func (s *Source) refuse(r Reason, format string, args ...any) *Error {
	return &Error{Source: s.cfg.Name, Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// truncate returns s cut to n bytes, quoted, for details that quote
// response text.
func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "..."
	}
	return fmt.Sprintf("%q", s)
}
