package profiles

import (
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// HydraOptions configures Hydra.
type HydraOptions struct {
	// Issuer is Hydra's issuer exactly as configured (urls.self.issuer;
	// often with a trailing slash; compare with a token). Required.
	Issuer string
	// Audience must be in the token's "aud" array. Required: Hydra writes
	// "aud": [] when the client requested no audience, and such tokens are
	// refused.
	Audience string
	// ExtraAudiences are further accepted audiences.
	ExtraAudiences []string

	// ClientIDs is the allow list of calling clients ("client_id").
	// Required unless AllowAnyClient.
	ClientIDs []string
	// AllowAnyClient accepts every client of the server.
	AllowAnyClient bool
	// Keys is the key source (tests, offline use); nil: build one from
	// the returned JWKSURL.
	Keys jwkscache.KeySource
	// Name of the issuer (default "hydra").
	Name string
	// Algorithms overrides the allow list (default RS256).
	Algorithms []string
	// Leeway overrides the clock skew allowance.
	Leeway time.Duration
}

// Hydra returns the Ory Hydra (JWT access-token strategy) profile: exact
// issuer, JWKS {issuer}/.well-known/jwks.json, client "client_id", "scp"
// array and "scope" string (KindScope), aud an array that must contain
// Audience ("aud": [] refused), app-only when sub equals client_id.
func Hydra(o HydraOptions) (Profile, error) {
	const prov = "hydra"
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
	if o.Audience == "" {
		return Profile{}, cfgErr(prov, "Audience", "required: Hydra tokens minted without a requested audience carry \"aud\": [] and must be refused")
	}
	ic.Issuer = iss
	ic.Audiences = dedupe(append([]string{o.Audience}, o.ExtraAudiences...)...)
	ic.ClientIDClaims = []string{"client_id"}
	ic.TokenType = jwtverify.TypeDefault
	ic.Permissions = []jwtverify.PermissionClaim{
		{Path: []string{"scp"}, Kind: jwtverify.KindScope},
		{Path: []string{"scope"}, Kind: jwtverify.KindScope},
	}
	ic.AppOnly = sameSubjectAndClient
	ic.Rules = []jwtverify.Rule{check(RuleHydraEmptyAudience, func(p *jwtverify.Principal) error {
		if len(p.Audiences()) == 0 {
			return ruleErr(jwtverify.ErrAudience, prov, "empty aud (the client requested no audience)")
		}
		return nil
	})}
	base := strings.TrimRight(iss, "/")
	return Profile{
		IssuerConfig: ic,
		Provider:     prov,
		JWKSURL:      base + "/.well-known/jwks.json",
		DiscoveryURL: base + "/.well-known/openid-configuration",
	}, nil
}
