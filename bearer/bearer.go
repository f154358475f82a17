// Package bearer parses RFC 6750 section 2.1 credentials ("Bearer <token>")
// with the same rules for every transport: net/http, Echo and gRPC.
//
// The scheme is matched case-insensitively, one or more spaces separate it
// from the token, and the token must be a b64token (RFC 6750 section 2.1):
// letters, digits and "-._~+/" followed by optional "=" padding. Anything
// else after the scheme (a tab, a second word, nothing at all) is a
// malformed request, not a bad token.
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

const scheme = "bearer"

// Parse extracts the token from an Authorization value. It never allocates:
// the token is a substring of value.
func Parse(value string) (string, error) {
	if len(value) < len(scheme) || !hasSchemePrefix(value) {
		return "", ErrNoCredentials
	}
	rest := value[len(scheme):]
	if rest == "" {
		// "Bearer" alone: the scheme without a token.
		return "", ErrInvalidRequest
	}
	if rest[0] != ' ' {
		if rest[0] == '\t' {
			return "", ErrInvalidRequest
		}
		// "Bearerx...": another scheme that merely starts with "bearer".
		return "", ErrNoCredentials
	}
	i := 0
	for i < len(rest) && rest[i] == ' ' {
		i++
	}
	tok := rest[i:]
	if tok == "" || !IsB64Token(tok) {
		return "", ErrInvalidRequest
	}
	return tok, nil
}

func hasSchemePrefix(v string) bool {
	for i := 0; i < len(scheme); i++ {
		c := v[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != scheme[i] {
			return false
		}
	}
	return true
}

// IsB64Token reports whether s matches RFC 6750's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func IsB64Token(s string) bool {
	if s == "" {
		return false
	}
	i := 0
	for ; i < len(s); i++ {
		if !tokenChar[s[i]] {
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

var tokenChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~+/" {
		t[c] = true
	}
	return t
}()
