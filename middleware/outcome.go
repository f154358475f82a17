package middleware

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/m2mauth/m2mauth/jwtverify"
)

// Outcome is the result of one decision of an Authenticator: whether the
// request proceeds and, when it does not, the complete answer (status,
// challenge, fixed description). Adapters only copy it onto their transport.
type Outcome struct {
	// Result is one of the jwtverify.Decision* constants.
	Result string
	// Reason is the rejection reason from jwtverify's fixed set. Empty when
	// the request proceeds and when it carried no credentials; ReasonMalformed
	// for an invalid_request.
	Reason jwtverify.Reason
	// Principal is the verified caller: set when allowed, and when forbidden
	// (the token verified but lacks a permission). Nil when skipped.
	Principal *jwtverify.Principal
	// Err is the cause of a refusal (a *jwtverify.Error or a bearer error),
	// for logs only: it may hold details a client must not see.
	Err error
	// Status is the HTTP status to answer: 400, 401, 403 or 503. Zero when
	// the request proceeds.
	Status int
	// Code is the RFC 6750 error code of the challenge (invalid_request,
	// invalid_token, insufficient_scope). Empty for a bare challenge (no
	// credentials) and for 503.
	Code string
	// Description is the fixed client-facing text of the answer. It never
	// contains anything the client sent.
	Description string
	// Challenges are the WWW-Authenticate values to send, one header line
	// each: the challenge of the scheme the request used (the one carrying
	// Code) first, then, when WithDPoP accepts a second scheme, that
	// scheme's bare challenge (RFC 9449 section 7.1: a 401 for a request
	// without a token names both Bearer and DPoP). Nil when the request
	// proceeds and for 503 (a server condition, not a challenge). The slice
	// may be shared between Outcomes: read it, never modify it.
	Challenges []string
	// DPoPNonce is the DPoP-Nonce header value (RFC 9449 section 8): the
	// nonce a use_dpop_nonce refusal asks the client to put in its next
	// proof, and, when WithDPoP's Checker has server nonces, a fresh nonce
	// for an allowed DPoP request (section 8.2). Empty otherwise.
	DPoPNonce string
	// RetryAfter is the Retry-After value in seconds of a 503, else 0.
	RetryAfter int
}

// Proceed reports whether the request goes on to the next handler (allowed
// or skipped).
func (o Outcome) Proceed() bool {
	return o.Result == jwtverify.DecisionAllowed || o.Result == jwtverify.DecisionSkipped
}

// ErrorBody is the JSON body of the default answer:
// {"error":"...","error_description":"..."}.
type ErrorBody struct {
	// Error is the RFC 6750 code, "unauthorized" for a request without
	// credentials, or "temporarily_unavailable" for a 503.
	Error string `json:"error"`
	// Description is Outcome.Description.
	Description string `json:"error_description,omitempty"`
}

// Body returns the default JSON body of a refusal.
func (o Outcome) Body() ErrorBody {
	b := ErrorBody{Error: o.Code, Description: o.Description}
	if b.Error == "" {
		if o.Status == http.StatusServiceUnavailable {
			b.Error = "temporarily_unavailable"
		} else {
			b.Error = "unauthorized"
		}
	}
	return b
}

// SetHeaders sets the WWW-Authenticate (one line per challenge),
// DPoP-Nonce, Retry-After and Cache-Control headers of a refusal on h.
// Adapters that write their own body (Echo) use it; WriteError calls it.
func (o Outcome) SetHeaders(h http.Header) {
	if len(o.Challenges) > 0 {
		h.Del("WWW-Authenticate")
		for _, c := range o.Challenges {
			h.Add("WWW-Authenticate", c)
		}
	}
	if o.DPoPNonce != "" {
		h.Set(DPoPNonceHeader, o.DPoPNonce)
	}
	if o.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(o.RetryAfter))
	}
	h.Set("Cache-Control", "no-store")
}

// DPoPNonceHeader is the response header carrying a DPoP server nonce (RFC
// 9449 section 8).
const DPoPNonceHeader = "DPoP-Nonce"

// SetProceedHeaders sets the headers an allowed request's response carries
// whatever the handler writes: today the fresh DPoP-Nonce of RFC 9449
// section 8.2 (only when WithDPoP's Checker has server nonces and the
// request used the DPoP scheme). Every adapter calls it before the next
// handler; it costs one comparison when there is nothing to set.
func (o Outcome) SetProceedHeaders(h http.Header) {
	if o.DPoPNonce != "" {
		h.Set(DPoPNonceHeader, o.DPoPNonce)
	}
}

// WriteError writes the default answer of a refused request: the status,
// the headers of SetHeaders and a small JSON ErrorBody.
func WriteError(w http.ResponseWriter, o Outcome) {
	o.SetHeaders(w.Header())
	body, err := json.Marshal(o.Body())
	if err != nil { // cannot happen: two strings
		body = []byte(`{"error":"unauthorized"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(o.Status)
	_, _ = w.Write(append(body, '\n'))
}

// ErrorHandler answers a refused request. Implementations must be safe for
// concurrent use. The Outcome carries everything a standard answer needs;
// WriteError is the default.
type ErrorHandler interface {
	ServeAuthError(w http.ResponseWriter, r *http.Request, o Outcome)
}

// ErrorHandlerFunc adapts a function to ErrorHandler.
type ErrorHandlerFunc func(w http.ResponseWriter, r *http.Request, o Outcome)

// ServeAuthError calls f(w, r, o).
func (f ErrorHandlerFunc) ServeAuthError(w http.ResponseWriter, r *http.Request, o Outcome) {
	f(w, r, o)
}

// TokenExtractor finds the access token of a request. Implementations must
// be safe for concurrent use and must not log the token. Return an error
// matching bearer.ErrNoCredentials when the request carries no token (401
// with a bare challenge); any other error is answered 400 invalid_request.
type TokenExtractor interface {
	ExtractToken(r *http.Request) (string, error)
}

// TokenExtractorFunc adapts a function to TokenExtractor.
type TokenExtractorFunc func(r *http.Request) (string, error)

// ExtractToken calls f(r).
func (f TokenExtractorFunc) ExtractToken(r *http.Request) (string, error) { return f(r) }

var (
	_ ErrorHandler   = ErrorHandlerFunc(nil)
	_ TokenExtractor = TokenExtractorFunc(nil)
	_ TokenExtractor = (*Authenticator)(nil)
)
