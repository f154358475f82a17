// Package bearer parses RFC 6750 section 2.1 credentials ("Bearer <token>")
// with the same rules for every transport: net/http, Echo and gRPC.
//
// The scheme is matched case-insensitively, one or more spaces separate it
// from the token, and the token must be a b64token (RFC 6750 section 2.1):
// letters, digits and "-._~+/" followed by optional "=" padding. Anything
// else after the scheme (a tab, a second word, nothing at all) is a
// malformed request, not a bad token.
//
// Two entry points share these rules:
//
//   - [Parse] checks everything, including every byte of the token.
//   - [Cut] checks the scheme and the separator but not the token's
//     characters, so its cost does not grow with the token. A token that a
//     verifier accepted is a valid b64token (a compact JWS only uses the
//     base64url alphabet and dots), so a hot path can hand the result of Cut
//     to the verifier and run [IsB64Token] only when the verifier refuses it,
//     to tell a malformed request (400) from a bad token (401). On this
//     project's reference machine a byte scan of a 1 KB token costs about a
//     microsecond, more than the whole cached verification.
//
// Errors are one of two sentinels, [ErrNoCredentials] and
// [ErrInvalidRequest] (compare with errors.Is); the error text says which
// rule failed and never contains the value. No function of this package
// allocates.
//
//	tok, err := bearer.Parse(r.Header.Get("Authorization"))
//	switch {
//	case errors.Is(err, bearer.ErrNoCredentials):
//		// 401 with a bare challenge
//	case err != nil:
//		// 400 invalid_request
//	}
package bearer

import "errors"

var (
	// ErrNoCredentials means the value does not use the Bearer scheme (or
	// is empty): the request carries no bearer credentials and the answer
	// is a bare challenge (401 without an error code).
	ErrNoCredentials = errors.New("bearer: no bearer credentials")
	// ErrInvalidRequest means the value uses the Bearer scheme but is
	// syntactically wrong (RFC 6750 invalid_request, HTTP 400).
	ErrInvalidRequest = errors.New("bearer: malformed bearer credentials")
)

// ruleError is a fixed, preallocated refinement of a sentinel: errors.Is
// matches the sentinel, Error names the rule that failed.
type ruleError struct {
	msg string
	err error
}

func (e *ruleError) Error() string { return e.msg }
func (e *ruleError) Unwrap() error { return e.err }

var (
	errNoToken = &ruleError{"bearer: malformed bearer credentials: scheme without a token", ErrInvalidRequest}
	errSep     = &ruleError{"bearer: malformed bearer credentials: the separator after the scheme must be spaces", ErrInvalidRequest}
	errChars   = &ruleError{"bearer: malformed bearer credentials: token is not a b64token (whitespace, a second word or a forbidden character)", ErrInvalidRequest}
	errMany    = &ruleError{"bearer: malformed bearer credentials: more than one authorization value", ErrInvalidRequest}
)

const scheme = "bearer"

// Parse extracts the token from an Authorization value. It never allocates:
// the token is a substring of value.
func Parse(value string) (string, error) {
	tok, err := Cut(value)
	if err != nil {
		return "", err
	}
	if !IsB64Token(tok) {
		return "", errChars
	}
	return tok, nil
}

// Cut checks that value uses the Bearer scheme followed by one or more
// spaces and something else, and returns that something else without
// checking its characters. The result may therefore contain spaces, tabs or
// any other byte: before treating a rejected result as a bad token (rather
// than a malformed request), check it with [IsB64Token], or use [Parse].
// Cut never allocates and never looks past the leading spaces of the token.
func Cut(value string) (string, error) {
	if len(value) < len(scheme) || !hasSchemePrefix(value) {
		return "", ErrNoCredentials
	}
	rest := value[len(scheme):]
	if rest == "" {
		// "Bearer" alone: the scheme without a token.
		return "", errNoToken
	}
	if rest[0] != ' ' {
		if rest[0] == '\t' {
			return "", errSep
		}
		// "Bearerx...": another scheme that merely starts with "bearer".
		return "", ErrNoCredentials
	}
	i := 1
	for i < len(rest) && rest[i] == ' ' {
		i++
	}
	if i == len(rest) {
		return "", errNoToken
	}
	return rest[i:], nil
}

// ParseValues applies [Parse] to the Authorization values of one request
// (for example r.Header["Authorization"] or the gRPC "authorization"
// metadata): none is [ErrNoCredentials], more than one is
// [ErrInvalidRequest] (RFC 6750 section 2: one method, one token), whatever
// the values hold.
func ParseValues(values []string) (string, error) {
	tok, err := CutValues(values)
	if err != nil {
		return "", err
	}
	if !IsB64Token(tok) {
		return "", errChars
	}
	return tok, nil
}

// CutValues is [ParseValues] with the rules of [Cut]: the token's characters
// are not checked.
func CutValues(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", ErrNoCredentials
	case 1:
		return Cut(values[0])
	default:
		return "", errMany
	}
}

func hasSchemePrefix(v string) bool { return hasFold(v, scheme) }

// hasFold reports whether v starts with the lower-case ASCII word w, in
// any case (len(v) >= len(w) is the caller's to check).
func hasFold(v, w string) bool {
	for i := 0; i < len(w); i++ {
		c := v[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[i] {
			return false
		}
	}
	return true
}

// dpopScheme is the RFC 9449 section 7.1 authorization scheme, lower-case.
const dpopScheme = "dpop"

// IsDPoPScheme reports whether an Authorization value uses the DPoP scheme
// (RFC 9449 section 7.1, any case), well formed or not: "DPoP",
// "DPoP <token>", "DPoP\t...". "DPoPx ..." is another scheme. Adapters that
// do not accept DPoP use it to refuse the scheme as such rather than as a
// request without credentials.
func IsDPoPScheme(v string) bool {
	if len(v) < len(dpopScheme) || !hasFold(v, dpopScheme) {
		return false
	}
	return len(v) == len(dpopScheme) || v[len(dpopScheme)] == ' ' || v[len(dpopScheme)] == '\t'
}

// IsB64Token reports whether s matches RFC 6750's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func IsB64Token(s string) bool {
	// Eight bytes per step with one branch: the table holds 1 for token
	// characters, so the AND of eight lookups is 0 when any byte is not one.
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if tokenChar[s[i]]&tokenChar[s[i+1]]&tokenChar[s[i+2]]&tokenChar[s[i+3]]&
			tokenChar[s[i+4]]&tokenChar[s[i+5]]&tokenChar[s[i+6]]&tokenChar[s[i+7]] == 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if tokenChar[s[i]] == 0 {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

var tokenChar = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = 1
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = 1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = 1
	}
	for _, c := range "-._~+/" {
		t[c] = 1
	}
	return t
}()
