package profiles

import (
	"fmt"
	"strings"

	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// StartIntrospection makes the profile's issuer accept opaque tokens by
// RFC 7662 introspection: it builds an introspect.Source from base and
// sets the profile's Mode (jwtverify.ModeIntrospect or
// jwtverify.ModeJWTOrIntrospect) and Introspection. Close the Source when
// done.
//
// The issuer, audiences and client allow list come from the profile (one
// source of truth: jwtverify checks them on every answer, the Source
// too); base must not set them. base gives the rest: the credential (Auth),
// the endpoint when the provider's is not known, the budget and cache.
// Per provider:
//
//   - Ory Hydra: the admin endpoint (/admin/oauth2/introspect, no client
//     authentication: introspect.AuthNone, reachable only from a protected
//     network) is not in discovery: base.Endpoint is required. Provider
//     ProviderHydra (format pre-check, token_use); OpaquePrefix "ory_at_"
//     unless set.
//   - Okta: {issuer}/v1/introspect unless base.Endpoint is set, with client
//     authentication; "scope" is added to the permission claims (the
//     answer carries scope, the JWT scp).
//   - Keycloak: discovered from the realm's metadata unless base.Endpoint
//     is set, with client authentication; the profile's rules (typ Bearer)
//     and role mappings apply to the answer, which carries the token's
//     claims. Lightweight access tokens need ModeIntrospect.
//   - RFC 9068 issuers: RFC 7662 as discovered, ProviderGeneric.
//
// Microsoft Entra ID, Azure AD B2C, Amazon Cognito and Auth0 have no token
// introspection endpoint for access tokens of APIs: StartIntrospection
// refuses them.
func (p *Profile) StartIntrospection(mode jwtverify.Mode, base introspect.Config) (*introspect.Source, error) {
	fail := func(field, msg string) error { return cfgErr(p.Provider, field, "%s", msg) }
	if mode != jwtverify.ModeIntrospect && mode != jwtverify.ModeJWTOrIntrospect {
		return nil, fail("Mode", "must be introspect or jwt-or-introspect")
	}
	if base.Issuer != "" || len(base.Audiences) > 0 || len(base.ClientIDs) > 0 || base.AnyClient || base.InsecureSkipAudienceCheck {
		return nil, fail("Issuer", "the issuer, audiences and clients of the introspection come from the profile")
	}
	switch p.Provider {
	case "hydra":
		if base.Endpoint == "" {
			return nil, fail("Endpoint", "Hydra's admin introspection endpoint is not in discovery: configure it")
		}
		base.Provider = introspect.ProviderHydra
		if p.OpaquePrefix == "" {
			p.OpaquePrefix = "ory_at_"
		}
	case "okta":
		if base.Endpoint == "" {
			base.Endpoint = strings.TrimRight(p.Issuer, "/") + "/v1/introspect"
		}
		base.Provider = introspect.ProviderOkta
		if !hasPermissionPath(p.Permissions, "scope") {
			p.Permissions = append(p.Permissions, jwtverify.PermissionClaim{Path: []string{"scope"}, Kind: jwtverify.KindScope})
		}
	case "keycloak":
		base.Provider = introspect.ProviderKeycloak
	case "rfc9068":
		base.Provider = introspect.ProviderGeneric
	default:
		return nil, fail("Mode", "the provider has no token introspection endpoint for API access tokens")
	}
	if base.Name == "" {
		base.Name = p.Name
	}
	base.Issuer = p.Issuer
	base.Audiences = append([]string(nil), p.Audiences...)
	base.InsecureSkipAudienceCheck = p.InsecureSkipAudienceCheck
	base.ClientIDs = append([]string(nil), p.ClientIDs...)
	base.AnyClient = p.AllowAnyClient
	src, err := introspect.New(base)
	if err != nil {
		return nil, fmt.Errorf("profiles: %s: introspection: %w", p.Name, err)
	}
	p.Mode, p.Introspection = mode, src
	return src, nil
}

func hasPermissionPath(ps []jwtverify.PermissionClaim, name string) bool {
	for _, pc := range ps {
		if len(pc.Path) == 1 && pc.Path[0] == name {
			return true
		}
	}
	return false
}
