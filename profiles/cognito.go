package profiles

import (
	"regexp"
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// CognitoOptions configures Cognito.
type CognitoOptions struct {
	// UserPoolID is the pool ID ("eu-west-1_AbCdEf"). Required unless
	// Issuer is set.
	UserPoolID string
	// Region is the pool's region. Default: the prefix of UserPoolID.
	Region string
	// Issuer overrides the computed issuer
	// https://cognito-idp.{region}.amazonaws.com/{poolId}.
	Issuer string
	// ClientIDs is the allow list of app clients ("client_id"). Required:
	// Cognito access tokens carry no "aud", so this list is what binds a
	// token to this API. AllowAnyClient does not exist here.
	ClientIDs []string
	// Keys is the key source (tests, offline use); nil: build one from
	// the returned JWKSURL.
	Keys jwkscache.KeySource
	// Name of the issuer (default "cognito").
	Name string
	// Algorithms overrides the allow list (default RS256).
	Algorithms []string
	// Leeway overrides the clock skew allowance.
	Leeway time.Duration
}

var cognitoPoolRE = regexp.MustCompile(`^([a-z]{2}(?:-[a-z]+)+-\d+)_[0-9A-Za-z]+$`)

// Cognito returns the AWS Cognito profile: exact issuer, no audience check
// (access tokens have no aud) but a required "client_id" allow list,
// "token_use" must be "access" (ID tokens refused), "scope" string
// (KindScope), app-only when sub equals client_id (no "username").
func Cognito(o CognitoOptions) (Profile, error) {
	const prov = "cognito"
	c := common{provider: prov, name: o.Name, keys: o.Keys, clientIDs: o.ClientIDs,
		algorithms: o.Algorithms, leeway: o.Leeway, clientRequired: true}
	if c.name == "" {
		c.name = prov
	}
	ic, err := c.base()
	if err != nil {
		return Profile{}, err
	}
	iss := o.Issuer
	switch {
	case iss != "" && o.UserPoolID != "":
		return Profile{}, cfgErr(prov, "Issuer", "set UserPoolID or Issuer, not both")
	case iss == "":
		m := cognitoPoolRE.FindStringSubmatch(o.UserPoolID)
		if m == nil {
			return Profile{}, cfgErr(prov, "UserPoolID", "the user pool ID such as \"eu-west-1_AbCdEf\" is required")
		}
		region := o.Region
		if region == "" {
			region = m[1]
		} else if region != m[1] {
			return Profile{}, cfgErr(prov, "Region", "%q does not match the pool ID's region %q", region, m[1])
		}
		iss = "https://cognito-idp." + region + ".amazonaws.com/" + o.UserPoolID
	}
	if iss, err = checkBaseURL(prov, "Issuer", iss); err != nil {
		return Profile{}, err
	}
	if strings.HasSuffix(iss, "/") {
		return Profile{}, cfgErr(prov, "Issuer", "Cognito issuers have no trailing slash")
	}
	ic.Issuer = iss
	// No aud in Cognito access tokens: the client_id allow list, required
	// above, binds tokens to this API.
	ic.InsecureSkipAudienceCheck = true
	ic.ClientIDClaims = []string{"client_id"}
	ic.TokenType = jwtverify.TypeDefault
	ic.RequiredClaims = []string{"token_use", "client_id"}
	ic.Permissions = []jwtverify.PermissionClaim{{Path: []string{"scope"}, Kind: jwtverify.KindScope}}
	ic.AppOnly = CognitoAppOnly
	ic.Rules = []jwtverify.Rule{check(RuleCognitoTokenUse, func(p *jwtverify.Principal) error {
		if use, _ := p.StringClaim("token_use"); use != "access" {
			return ruleErr(jwtverify.ErrType, prov, "token_use %s is not \"access\"", quote(use))
		}
		return nil
	})}
	return Profile{
		IssuerConfig: ic,
		Provider:     prov,
		JWKSURL:      iss + "/.well-known/jwks.json",
		DiscoveryURL: iss + "/.well-known/openid-configuration",
	}, nil
}

// CognitoAppOnly is Cognito's app-only test: no "username" and sub equal
// to client_id.
func CognitoAppOnly(p *jwtverify.Principal) bool {
	if _, user := p.Claim("username"); user {
		return false
	}
	return sameSubjectAndClient(p)
}
