package jwtverify

import (
	"context"
	"fmt"
	"strings"

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
			return fmt.Errorf("Introspection and OpaquePrefix need Mode %s or %s", ModeIntrospect, ModeJWTOrIntrospect)
		}
	case ModeIntrospect, ModeJWTOrIntrospect:
		if ic.Introspection == nil {
			return fmt.Errorf("Mode %s needs Introspection", ic.Mode)
		}
		if strings.Contains(ic.Issuer, tenantPlaceholder) {
			return fmt.Errorf("Mode %s cannot be used with a %s issuer template", ic.Mode, tenantPlaceholder)
		}
		if ic.OpaquePrefix != "" && !validOpaquePrefix(ic.OpaquePrefix) {
			return fmt.Errorf("OpaquePrefix %q must be 1 to 32 b64token characters without a dot", ic.OpaquePrefix)
		}
	default:
		return fmt.Errorf("unknown Mode %d", int(ic.Mode))
	}
	is.mode, is.intro, is.opaquePrefix = ic.Mode, ic.Introspection, ic.OpaquePrefix
	return nil
}

// validOpaquePrefix: 1 to 32 RFC 6750 b64token characters (no "=", no
// "."): a prefix with a dot could make an opaque token look like a JWS.
func validOpaquePrefix(p string) bool {
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
