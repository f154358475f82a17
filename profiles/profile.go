package profiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// Profile is a provider preset: the verifier configuration of one trusted
// issuer plus where that issuer publishes its keys.
//
// Every field can be overridden after construction (the embedded
// IssuerConfig is a plain value): add audiences, change the name, replace
// the key source. The provider's own rules are in Rules (pure checks, run
// once per token, each with a code of RuleCodes); Validate is left to the
// user: AddRule and AddRuleCode append to it, and it runs on every
// Verify, cache hit or not.
type Profile struct {
	jwtverify.IssuerConfig

	// Provider names the preset ("entra", "azure-b2c", "auth0", "okta",
	// "keycloak", "cognito", "hydra", "rfc9068").
	Provider string
	// JWKSURL is the provider's JWKS document, to fetch directly (no
	// discovery). Empty when only discovery can find it (RFC9068 without
	// an explicit JWKS URL).
	JWKSURL string
	// DiscoveryURL is the provider's metadata document when exact-issuer
	// discovery works for it; empty for Entra multi-tenant, where the
	// "common" metadata names the "{tenantid}" template instead of an
	// issuer.
	DiscoveryURL string
}

// CacheConfig returns base completed with where this profile's keys are:
// Name (when base has none) is the profile's name, and JWKSURL is the
// profile's JWKSURL, or, when the profile has none, Issuer is the profile's
// issuer for discovery. A base that already names a JWKSURL or Issuer is
// left as it is. Pass the result to jwkscache.New.
func (p *Profile) CacheConfig(base jwkscache.Config) jwkscache.Config {
	if base.Name == "" {
		base.Name = p.Name
	}
	if base.JWKSURL == "" && base.Issuer == "" {
		if p.JWKSURL != "" {
			base.JWKSURL = p.JWKSURL
		} else {
			base.Issuer = p.Issuer
		}
	}
	return base
}

// StartKeys starts a jwkscache.Cache for this profile's keys
// (jwkscache.New(ctx, p.CacheConfig(base))), sets p.Keys to it and returns
// it. The cache refreshes in the background until ctx is cancelled or it
// is closed; use its Ready method to wait for the first key set.
func (p *Profile) StartKeys(ctx context.Context, base jwkscache.Config) (*jwkscache.Cache, error) {
	c, err := jwkscache.New(ctx, p.CacheConfig(base))
	if err != nil {
		return nil, fmt.Errorf("profiles: %s: keys: %w", p.Name, err)
	}
	p.Keys = c
	return c, nil
}

// IssuerConfigs returns the IssuerConfig of each profile, in order, for
// jwtverify.Config.Issuers.
func IssuerConfigs(ps ...Profile) []jwtverify.IssuerConfig {
	out := make([]jwtverify.IssuerConfig, len(ps))
	for i := range ps {
		out[i] = ps[i].IssuerConfig
	}
	return out
}

// ErrInvalidConfig is matched (errors.Is) by every construction error of
// this package.
var ErrInvalidConfig = errors.New("profiles: invalid configuration")

// ConfigError is a misconfiguration found by a profile constructor.
type ConfigError struct {
	// Provider is the preset ("entra", "okta", ...).
	Provider string
	// Field is the options field at fault.
	Field string
	// Problem says what is wrong and how to fix it.
	Problem string
}

// Error implements error.
func (e *ConfigError) Error() string {
	return "profiles: " + e.Provider + ": " + e.Field + ": " + e.Problem
}

// Is reports whether target is ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

func cfgErr(provider, field, format string, args ...any) error {
	return &ConfigError{Provider: provider, Field: field, Problem: fmt.Sprintf(format, args...)}
}

// common holds the fields every options struct shares.
type common struct {
	provider       string
	name           string
	keys           jwkscache.KeySource
	clientIDs      []string
	allowAnyClient bool
	algorithms     []string
	leeway         time.Duration
	// clientRequired: the client allow list is the only binding of the
	// token to this API (no audience): AllowAnyClient is refused.
	clientRequired bool
}

// defaultAlgorithms is the algorithm allow list a profile uses when the
// options leave Algorithms empty: every provider here signs with RS256 by
// default.
var defaultAlgorithms = []string{"RS256"}

// DefaultAlgorithms returns the algorithm allow list profiles use when
// Algorithms is empty (RS256).
func DefaultAlgorithms() []string { return clone(defaultAlgorithms) }

func (c common) base() (jwtverify.IssuerConfig, error) {
	var ic jwtverify.IssuerConfig
	ic.Name = c.name
	ic.Keys = c.keys
	ic.Leeway = c.leeway
	for i, id := range c.clientIDs {
		if strings.TrimSpace(id) == "" || id != strings.TrimSpace(id) {
			return ic, cfgErr(c.provider, "ClientIDs", "entry %d is empty or has surrounding spaces", i)
		}
	}
	switch {
	case c.allowAnyClient && c.clientRequired:
		return ic, cfgErr(c.provider, "AllowAnyClient", "refused here: without an audience the client allow list is the only binding of a token to this API; list the calling applications in ClientIDs")
	case c.allowAnyClient && len(c.clientIDs) > 0:
		return ic, cfgErr(c.provider, "AllowAnyClient", "set ClientIDs or AllowAnyClient, not both")
	case !c.allowAnyClient && len(c.clientIDs) == 0:
		return ic, cfgErr(c.provider, "ClientIDs", "list the calling applications (an empty list never means any client; set AllowAnyClient to accept every client of the issuer)")
	}
	ic.ClientIDs = clone(c.clientIDs)
	ic.AllowAnyClient = c.allowAnyClient
	if len(c.algorithms) == 0 {
		ic.Algorithms = clone(defaultAlgorithms)
	} else {
		ic.Algorithms = clone(c.algorithms)
	}
	return ic, nil
}

func clone(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}

// dedupe returns the non-empty values of s in order, without repeats.
func dedupe(s ...string) []string {
	out := make([]string, 0, len(s))
	seen := make(map[string]bool, len(s))
	for _, v := range s {
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	return out
}

// checkBaseURL validates an issuer or instance URL: absolute, https (http
// only for a loopback host, for tests), no query, fragment or user info.
// It returns the URL without a trailing slash unless keepSlash.
func checkBaseURL(provider, field, raw string) (string, error) {
	if raw == "" {
		return "", cfgErr(provider, field, "required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", cfgErr(provider, field, "not a URL: %v", err)
	}
	if u.Host == "" || u.Opaque != "" {
		return "", cfgErr(provider, field, "must be an absolute URL such as https://host/path")
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", cfgErr(provider, field, "must not carry user info, a query or a fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", cfgErr(provider, field, "must use https (http only for a loopback host)")
		}
	default:
		return "", cfgErr(provider, field, "must use https")
	}
	return raw, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isGUID reports whether s is a GUID in the 8-4-4-4-12 hex form.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// quote renders a claim value for an error detail: quoted, truncated.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

// claimNonEmpty reports whether the claim is present with a usable value:
// a non-blank string, a non-empty array, or any other non-null value. The
// verifier already checked the claims are valid JSON, so a byte look is
// enough (no decoding on the request path).
func claimNonEmpty(p *jwtverify.Principal, name string) bool {
	raw, ok := p.Claim(name)
	if !ok {
		return false
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return false
	}
	switch raw[0] {
	case 'n': // null
		return false
	case '[':
		return len(bytes.TrimSpace(raw[1:len(raw)-1])) > 0
	case '"':
		return len(bytes.TrimSpace(raw[1:len(raw)-1])) > 0
	}
	return true
}

// ruleErr builds a rule's refusal: an error wrapping sentinel, so
// errors.Is(err, sentinel) holds and the verifier reports the intended
// reason (the sub-reason is the Rule's code).
func ruleErr(sentinel *jwtverify.Error, provider, format string, args ...any) error {
	return fmt.Errorf("profiles: %s: %s: %w", provider, fmt.Sprintf(format, args...), sentinel)
}

// sameSubjectAndClient reports sub == client ID (the RFC 9068 section 2.2
// mark of a client acting on its own behalf).
func sameSubjectAndClient(p *jwtverify.Principal) bool {
	sub := p.Subject()
	return sub != "" && sub == p.ClientID()
}
