package dpop

import (
	"errors"
	"net/http"
)

type origin struct{ base string }

func parseOrigin(s string) (origin, error) { return origin{base: s}, nil }

func algByName(a string) (int, bool) {
	for i, n := range []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"} {
		if n == a {
			return i, true
		}
	}
	return 0, false
}

func (c *Checker) check(r *http.Request, accessToken string, rs bool) (Verified, error) {
	return Verified{}, &Error{Reason: ReasonMalformed, Err: errors.New("not implemented yet")}
}
