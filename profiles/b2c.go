package profiles

import (
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// AzureB2COptions configures AzureB2C.
type AzureB2COptions struct {
	// TenantName is the B2C directory name without suffix ("contoso" for
	// contoso.onmicrosoft.com). Required (it names the key URLs).
	TenantName string
	// TenantID is the directory GUID that appears in the issuer. Required.
	TenantID string
	// Policy is the user flow or custom policy the tokens come from
	// ("B2C_1_susi", "B2C_1A_SignUpOrSignin"). Required. A token must
	// prove it: its issuer is the /tfp/ form naming this policy, or it
	// carries a policy claim ("tfp" or "acr"). Every policy claim present
	// must be a string naming this policy (compared without regard to
	// case, as B2C does); a token without any is refused unless
	// InsecureAcceptTokensWithoutPolicyClaim.
	Policy string
	// ClientID is the API's application (client) ID: the audience.
	// Required.
	ClientID string
	// ExtraAudiences are further accepted audiences.
	ExtraAudiences []string
	// TFPIssuer selects the issuer form with the policy in the path
	// (https://{host}/tfp/{tenantId}/{policy}/v2.0/), used when the policy
	// is configured for it; the policy segment is lower case there, as B2C
	// writes it. Default: https://{host}/{tenantId}/v2.0/.
	TFPIssuer bool
	// Instance is the B2C host. Default https://{TenantName}.b2clogin.com;
	// set it for a custom domain.
	Instance string
	// Issuer overrides the computed issuer (copy the "issuer" of the
	// policy's metadata document when in doubt).
	Issuer string

	// ClientIDs is the allow list of calling applications ("azp").
	// Required unless AllowAnyClient.
	ClientIDs []string
	// AllowAnyClient accepts every application of the directory.
	AllowAnyClient bool
	// Keys is the key source (tests, offline use); nil: build one from
	// the returned JWKSURL.
	Keys jwkscache.KeySource
	// Name of the issuer (default "azure-b2c").
	Name string
	// Algorithms overrides the allow list (default RS256).
	Algorithms []string
	// Leeway overrides the clock skew allowance.
	Leeway time.Duration

	// InsecureAcceptTokensWithoutPolicyClaim accepts a token that carries
	// neither "tfp" nor "acr" while the issuer (the default, policy-less
	// form) does not name the policy either. Such a token does not prove
	// which policy minted it: every user flow and custom policy of the
	// directory signs with keys this API accepts, so a token of another
	// policy would pass. You MUST NOT set it unless your tenant's
	// client-credentials tokens are known to carry no policy claim and
	// TFPIssuer cannot be used; a policy claim that is present must still
	// name Policy.
	InsecureAcceptTokensWithoutPolicyClaim bool
}

var b2cPolicyRE = regexp.MustCompile(`^[A-Za-z0-9_\-]{1,128}$`)
var b2cTenantRE = regexp.MustCompile(`^[a-z0-9][a-z0-9\-]{0,62}$`)

// AzureB2C returns the Azure AD B2C profile: issuer with the trailing
// slash (or the tfp form), per-policy key URL, audience ClientID, client
// "azp", "scp" space-separated string (KindScope, B2C writes application
// permissions there too), and the policy rules (RuleB2CPolicy,
// RuleB2CPolicyMissing): the token must prove its policy, by a /tfp/
// issuer naming Policy or by at least one policy claim, and every "tfp"
// or "acr" present must be a string equal to Policy.
func AzureB2C(o AzureB2COptions) (Profile, error) {
	const prov = "azure-b2c"
	c := common{provider: prov, name: o.Name, keys: o.Keys, clientIDs: o.ClientIDs,
		allowAnyClient: o.AllowAnyClient, algorithms: o.Algorithms, leeway: o.Leeway}
	if c.name == "" {
		c.name = prov
	}
	ic, err := c.base()
	if err != nil {
		return Profile{}, err
	}
	tenantName := strings.ToLower(strings.TrimSuffix(o.TenantName, ".onmicrosoft.com"))
	if !b2cTenantRE.MatchString(tenantName) {
		return Profile{}, cfgErr(prov, "TenantName", "the directory name such as \"contoso\" is required")
	}
	if !isGUID(o.TenantID) {
		return Profile{}, cfgErr(prov, "TenantID", "the directory (tenant) GUID is required")
	}
	tid := strings.ToLower(o.TenantID)
	if !b2cPolicyRE.MatchString(o.Policy) {
		return Profile{}, cfgErr(prov, "Policy", "the user flow or custom policy name (letters, digits, _ and -) is required")
	}
	if o.ClientID == "" || strings.TrimSpace(o.ClientID) != o.ClientID {
		return Profile{}, cfgErr(prov, "ClientID", "the API's application (client) ID is required")
	}
	instance := o.Instance
	if instance == "" {
		instance = "https://" + tenantName + ".b2clogin.com"
	}
	if instance, err = checkBaseURL(prov, "Instance", strings.TrimRight(instance, "/")); err != nil {
		return Profile{}, err
	}
	iss := instance + "/" + tid + "/v2.0/"
	if o.TFPIssuer {
		iss = instance + "/tfp/" + tid + "/" + strings.ToLower(o.Policy) + "/v2.0/"
	}
	if o.Issuer != "" {
		if iss, err = checkBaseURL(prov, "Issuer", o.Issuer); err != nil {
			return Profile{}, err
		}
	}
	ic.Issuer = iss
	ic.Audiences = dedupe(append([]string{o.ClientID}, o.ExtraAudiences...)...)
	ic.ClientIDClaims = []string{"azp"}
	ic.TokenType = jwtverify.TypeDefault
	ic.Permissions = []jwtverify.PermissionClaim{{Path: []string{"scp"}, Kind: jwtverify.KindScope}}
	ic.AppOnly = B2CAppOnly
	issPolicy, tfpForm := b2cIssuerPolicy(iss)
	if tfpForm && !strings.EqualFold(issPolicy, o.Policy) {
		return Profile{}, cfgErr(prov, "Issuer", "the /tfp/ issuer names the policy %q, not Policy %q", issPolicy, o.Policy)
	}
	ic.Rules = b2cRules(o.Policy, tfpForm, o.InsecureAcceptTokensWithoutPolicyClaim)
	base := instance + "/" + tenantName + ".onmicrosoft.com/" + o.Policy
	return Profile{
		IssuerConfig: ic,
		Provider:     prov,
		JWKSURL:      base + "/discovery/v2.0/keys",
		DiscoveryURL: base + "/v2.0/.well-known/openid-configuration",
	}, nil
}

// B2CAppOnly is Azure AD B2C's app-only test: "idtyp" "app" when present;
// otherwise a token without "auth_time" (which user flows write and the
// client credentials flow does not; from the documentation's samples, not
// confirmed on a live tenant).
func B2CAppOnly(p *jwtverify.Principal) bool {
	if idtyp, ok := p.StringClaim("idtyp"); ok {
		return idtyp == "app"
	}
	_, user := p.Claim("auth_time")
	return !user
}

// b2cIssuerPolicy returns the policy segment of a /tfp/ issuer
// (https://host/tfp/{tenant}/{policy}/v2.0/) and whether iss has that form.
func b2cIssuerPolicy(iss string) (string, bool) {
	u, err := url.Parse(iss)
	if err != nil {
		return "", false
	}
	seg := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i := 0; i+2 < len(seg); i++ {
		if strings.EqualFold(seg[i], "tfp") && seg[i+2] != "" {
			return seg[i+2], true
		}
	}
	return "", false
}

// b2cPolicyClaims are the claims in which B2C names the policy (tfp for
// user flows and older tokens, acr in some configurations).
var b2cPolicyClaims = [...]string{"tfp", "acr"}

// b2cRules returns the policy rules. The issuer was matched exactly, so
// when it is the /tfp/ form it names policy (checked at construction).
func b2cRules(policy string, tfpIssuer, acceptNoClaim bool) []jwtverify.Rule {
	const prov = "azure-b2c"
	return []jwtverify.Rule{
		check(RuleB2CPolicy, func(p *jwtverify.Principal) error {
			for _, claim := range b2cPolicyClaims {
				if _, present := p.Claim(claim); !present {
					continue
				}
				v, ok := p.StringClaim(claim)
				if !ok {
					return ruleErr(jwtverify.ErrIssuer, prov, "%s is not a string", claim)
				}
				if !strings.EqualFold(v, policy) {
					return ruleErr(jwtverify.ErrIssuer, prov, "%s %s is not the configured policy", claim, quote(v))
				}
			}
			return nil
		}),
		check(RuleB2CPolicyMissing, func(p *jwtverify.Principal) error {
			if tfpIssuer || acceptNoClaim {
				return nil
			}
			for _, claim := range b2cPolicyClaims {
				if _, present := p.Claim(claim); present {
					return nil
				}
			}
			return ruleErr(jwtverify.ErrMissingClaim, prov, "no tfp or acr claim and an issuer without the policy: the token does not prove its policy (set InsecureAcceptTokensWithoutPolicyClaim only if your tokens never carry one)")
		}),
	}
}
