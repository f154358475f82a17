package profiles

import (
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// RFC9068Options configures RFC9068.
type RFC9068Options struct {
	// Issuer is the authorization server's issuer, exactly. Required.
	Issuer string
	// JWKSURL is the key document when known; empty: find it through
	// discovery (some issuers publish it outside /.well-known/).
	JWKSURL string
	// Audience is this API's resource identifier. Required.
	Audience string
	// ExtraAudiences are further accepted audiences.
	ExtraAudiences []string

	// ClientIDs is the allow list of calling clients ("client_id").
	// Required unless AllowAnyClient.
	ClientIDs []string
	// AllowAnyClient accepts every client of the issuer.
	AllowAnyClient bool
	// Keys is the key source (tests, offline use); nil: build one from
	// the returned JWKSURL or DiscoveryURL.
	Keys jwkscache.KeySource
	// Name of the issuer (default "rfc9068").
	Name string
	// Algorithms overrides the allow list (default RS256).
	Algorithms []string
	// Leeway overrides the clock skew allowance.
	Leeway time.Duration
}

// rfc9068Claims are the claims RFC 9068 section 2.2 requires in every JWT
// access token.
var rfc9068Claims = []string{"iss", "exp", "aud", "sub", "client_id", "iat", "jti"}

// RFC9068 returns the generic RFC 9068 profile: header typ "at+jwt"
// required (TypeStrictRFC9068), claims iss, exp, aud, sub, client_id, iat
// and jti required, client "client_id", "scope" string (KindScope) and
// the section 2.2.3.1 "roles" (KindRole), app-only when sub equals
// client_id.
func RFC9068(o RFC9068Options) (Profile, error) {
	const prov = "rfc9068"
	c := common{provider: prov, name: o.Name, keys: o.Keys, clientIDs: o.ClientIDs,
		allowAnyClient: o.AllowAnyClient, algorithms: o.Algorithms, leeway: o.Leeway}
	if c.name == "" {
		c.name = prov
	}
	ic, err := c.base()
	if err != nil {
		return Profile{}, err
	}
	iss, err := checkBaseURL(prov, "Issuer", o.Issuer)
	if err != nil {
		return Profile{}, err
	}
	if o.JWKSURL != "" {
		if _, err := checkBaseURL(prov, "JWKSURL", o.JWKSURL); err != nil {
			return Profile{}, err
		}
	}
	if o.Audience == "" {
		return Profile{}, cfgErr(prov, "Audience", "this API's resource identifier is required")
	}
	ic.Issuer = iss
	ic.Audiences = dedupe(append([]string{o.Audience}, o.ExtraAudiences...)...)
	ic.ClientIDClaims = []string{"client_id"}
	ic.TokenType = jwtverify.TypeStrictRFC9068
	ic.RequiredClaims = clone(rfc9068Claims)
	ic.Permissions = []jwtverify.PermissionClaim{
		{Path: []string{"scope"}, Kind: jwtverify.KindScope},
		{Path: []string{"roles"}, Kind: jwtverify.KindRole},
	}
	ic.AppOnly = sameSubjectAndClient
	return Profile{
		IssuerConfig: ic,
		Provider:     prov,
		JWKSURL:      o.JWKSURL,
		DiscoveryURL: trimSlash(iss) + "/.well-known/openid-configuration",
	}, nil
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}
