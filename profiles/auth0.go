package profiles

import (
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// Auth0Options configures Auth0.
type Auth0Options struct {
	// Domain is the tenant domain ("acme.us.auth0.com") or custom domain,
	// without scheme. The issuer is https://{Domain}/ (trailing slash).
	// Required unless Issuer is set.
	Domain string
	// Issuer overrides the issuer (it must end with "/", as Auth0's do).
	Issuer string
	// Audience is the API identifier. Required.
	Audience string
	// ExtraAudiences are further accepted audiences.
	ExtraAudiences []string

	// ClientIDs is the allow list of calling applications ("azp", or
	// "client_id" for the RFC 9068 token profile). Required unless
	// AllowAnyClient.
	ClientIDs []string
	// AllowAnyClient accepts every application authorized for the API.
	AllowAnyClient bool
	// Keys is the key source (tests, offline use); nil: build one from
	// the returned JWKSURL.
	Keys jwkscache.KeySource
	// Name of the issuer (default "auth0").
	Name string
	// Algorithms overrides the allow list (default RS256).
	Algorithms []string
	// Leeway overrides the clock skew allowance.
	Leeway time.Duration
}

// Auth0 returns the Auth0 profile: issuer https://{Domain}/, audience the
// API identifier (aud string or array), client "azp" then "client_id",
// "scope" string (KindScope) and the RBAC "permissions" array (KindRole),
// header typ JWT or at+jwt (the RFC 9068 token profile), app-only when
// gty is "client-credentials".
func Auth0(o Auth0Options) (Profile, error) {
	const prov = "auth0"
	c := common{provider: prov, name: o.Name, keys: o.Keys, clientIDs: o.ClientIDs,
		allowAnyClient: o.AllowAnyClient, algorithms: o.Algorithms, leeway: o.Leeway}
	if c.name == "" {
		c.name = prov
	}
	ic, err := c.base()
	if err != nil {
		return Profile{}, err
	}
	iss := o.Issuer
	switch {
	case iss != "" && o.Domain != "":
		return Profile{}, cfgErr(prov, "Issuer", "set Domain or Issuer, not both")
	case iss == "":
		d := o.Domain
		if d == "" || strings.ContainsAny(d, "/:@?# ") {
			return Profile{}, cfgErr(prov, "Domain", "the tenant domain such as \"acme.us.auth0.com\" (no scheme, no path) is required")
		}
		iss = "https://" + strings.ToLower(d) + "/"
	}
	if iss, err = checkBaseURL(prov, "Issuer", iss); err != nil {
		return Profile{}, err
	}
	if !strings.HasSuffix(iss, "/") {
		return Profile{}, cfgErr(prov, "Issuer", "Auth0 issuers end with \"/\" and are matched exactly")
	}
	if o.Audience == "" {
		return Profile{}, cfgErr(prov, "Audience", "the API identifier is required")
	}
	ic.Issuer = iss
	ic.Audiences = dedupe(append([]string{o.Audience}, o.ExtraAudiences...)...)
	ic.ClientIDClaims = []string{"azp", "client_id"}
	ic.TokenType = jwtverify.TypeDefault
	ic.Permissions = []jwtverify.PermissionClaim{
		{Path: []string{"scope"}, Kind: jwtverify.KindScope},
		{Path: []string{"permissions"}, Kind: jwtverify.KindRole},
	}
	ic.AppOnly = Auth0AppOnly
	return Profile{
		IssuerConfig: ic,
		Provider:     prov,
		JWKSURL:      iss + ".well-known/jwks.json",
		DiscoveryURL: iss + ".well-known/openid-configuration",
	}, nil
}

// Auth0AppOnly is Auth0's app-only test: gty "client-credentials", or a
// subject "{client_id}@clients".
func Auth0AppOnly(p *jwtverify.Principal) bool {
	if gty, ok := p.StringClaim("gty"); ok && gty == "client-credentials" {
		return true
	}
	cid := p.ClientID()
	return cid != "" && p.Subject() == cid+"@clients"
}
