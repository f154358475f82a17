package profiles

import (
	"net/url"
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// OktaOptions configures Okta.
type OktaOptions struct {
	// Issuer is the custom authorization server's issuer,
	// https://{org}.okta.com/oauth2/{authServerId} (e.g.
	// .../oauth2/default), without a trailing slash. Required. The org
	// authorization server (https://{org}.okta.com) is refused: its access
	// tokens are meant for Okta's own APIs only.
	Issuer string
	// Audience is the authorization server's audience ("api://default" or
	// the configured one). Required.
	Audience string
	// ExtraAudiences are further accepted audiences.
	ExtraAudiences []string

	// ClientIDs is the allow list of calling applications ("cid").
	// Required unless AllowAnyClient.
	ClientIDs []string
	// AllowAnyClient accepts every client of the authorization server.
	AllowAnyClient bool
	// Keys is the key source (tests, offline use); nil: build one from
	// the returned JWKSURL.
	Keys jwkscache.KeySource
	// Name of the issuer (default "okta").
	Name string
	// Algorithms overrides the allow list (default RS256).
	Algorithms []string
	// Leeway overrides the clock skew allowance.
	Leeway time.Duration
}

// Okta returns the Okta custom authorization server profile: exact issuer
// .../oauth2/{id}, JWKS {issuer}/v1/keys, client "cid", "scp" array
// (KindScope), app-only when sub equals cid (no "uid").
func Okta(o OktaOptions) (Profile, error) {
	const prov = "okta"
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
	u, _ := url.Parse(iss)
	seg := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	switch {
	case strings.HasSuffix(iss, "/"):
		return Profile{}, cfgErr(prov, "Issuer", "Okta issuers have no trailing slash and are matched exactly")
	case len(seg) < 2 || seg[len(seg)-2] != "oauth2":
		return Profile{}, cfgErr(prov, "Issuer", "must be a custom authorization server issuer https://{org}/oauth2/{authServerId}; tokens of the org authorization server are for Okta's own APIs and are refused")
	case seg[len(seg)-1] == "v1" || seg[len(seg)-1] == "":
		return Profile{}, cfgErr(prov, "Issuer", "/oauth2/v1 is the org authorization server's endpoint path, not a custom authorization server")
	}
	if o.Audience == "" {
		return Profile{}, cfgErr(prov, "Audience", "the authorization server's audience is required")
	}
	ic.Issuer = iss
	ic.Audiences = dedupe(append([]string{o.Audience}, o.ExtraAudiences...)...)
	ic.ClientIDClaims = []string{"cid"}
	ic.TokenType = jwtverify.TypeDefault
	ic.Permissions = []jwtverify.PermissionClaim{{Path: []string{"scp"}, Kind: jwtverify.KindScope}}
	ic.AppOnly = OktaAppOnly
	return Profile{
		IssuerConfig: ic,
		Provider:     prov,
		JWKSURL:      iss + "/v1/keys",
		DiscoveryURL: iss + "/.well-known/oauth-authorization-server",
	}, nil
}

// OktaAppOnly is Okta's app-only test: no "uid" (the user's ID) and sub
// equal to the client ID.
func OktaAppOnly(p *jwtverify.Principal) bool {
	if _, user := p.Claim("uid"); user {
		return false
	}
	return sameSubjectAndClient(p)
}
