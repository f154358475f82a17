package binding

import (
	"errors"
	"fmt"
	"strings"
)

// Policy is an issuer's binding policy: what the API does with tokens bound
// to a key (a "cnf" claim, RFC 7800) and with unbound (bearer) tokens.
type Policy uint8

// The policies. The zero value is Off.
const (
	// Off refuses every bound token (ReasonBindingOff) and accepts
	// bearer tokens: the behaviour of an API that checks no binding.
	Off Policy = iota
	// Optional accepts a bound token only when this request proves its
	// binding, and an unbound token as a bearer token.
	Optional
	// Required accepts only bound tokens whose binding this request
	// proves; an unbound token is refused (ReasonBindingRequired).
	Required
)

// String returns "off", "optional" or "required".
func (p Policy) String() string {
	switch p {
	case Off:
		return "off"
	case Optional:
		return "optional"
	case Required:
		return "required"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// ParsePolicy reads "off", "optional" or "required" (exact, lower case), for
// configuration files and flags.
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "off":
		return Off, nil
	case "optional":
		return Optional, nil
	case "required":
		return Required, nil
	}
	return Off, fmt.Errorf("%w: unknown policy %q (want off, optional or required)", ErrConfig, truncate(s))
}

// Methods is a set of confirmation methods.
type Methods uint8

// The confirmation methods m2mauth knows.
const (
	// Certificate is mutual-TLS certificate binding (RFC 8705 section 3):
	// cnf "x5t#S256", proven by the client certificate of the connection.
	Certificate Methods = 1 << iota
	// DPoP is DPoP key binding (RFC 9449): cnf "jkt", proven by a DPoP
	// proof on the request.
	DPoP

	allMethods = Certificate | DPoP
)

// Has reports whether every method of m2 is in m.
func (m Methods) Has(m2 Methods) bool { return m2 != 0 && m&m2 == m2 }

// String lists the methods, "certificate" and "dpop", joined by "+"
// ("none" for the empty set).
func (m Methods) String() string {
	if m == 0 {
		return "none"
	}
	var parts []string
	if m&Certificate != 0 {
		parts = append(parts, "certificate")
	}
	if m&DPoP != 0 {
		parts = append(parts, "dpop")
	}
	if rest := m &^ allMethods; rest != 0 {
		parts = append(parts, fmt.Sprintf("Methods(%#x)", uint8(rest)))
	}
	return strings.Join(parts, "+")
}

// Config is one issuer's binding configuration. The zero value is the
// policy Off: bound tokens refused, bearer tokens accepted.
type Config struct {
	// Policy is the binding policy. Default Off.
	Policy Policy
	// Methods are the confirmation methods the issuer's tokens may use.
	// Required (non-empty) unless Policy is Off; a token naming another
	// method is refused (ReasonMethodNotAllowed).
	Methods Methods
}

// ErrConfig is the sentinel of every configuration error of this package.
var ErrConfig = errors.New("binding: invalid configuration")

// Validate reports a configuration that cannot work: an unknown policy or
// method, or a policy other than Off without any method.
func (c Config) Validate() error {
	if c.Policy > Required {
		return fmt.Errorf("%w: unknown policy %d", ErrConfig, c.Policy)
	}
	if c.Methods&^allMethods != 0 {
		return fmt.Errorf("%w: unknown confirmation method %#x", ErrConfig, uint8(c.Methods&^allMethods))
	}
	if c.Policy != Off && c.Methods == 0 {
		return fmt.Errorf("%w: policy %s needs at least one confirmation method", ErrConfig, c.Policy)
	}
	return nil
}

// truncate bounds attacker- or user-supplied text quoted in errors.
func truncate(s string) string {
	const max = 32
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
