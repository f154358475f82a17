package profiles

import (
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
	// ("B2C_1_susi", "B2C_1A_SignUpOrSignin"). Required. A token naming
	// its policy ("tfp" or "acr") must name this one (compared without
	// regard to case, as B2C does).
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
}

var b2cPolicyRE = regexp.MustCompile(`^[A-Za-z0-9_\-]{1,128}$`)
var b2cTenantRE = regexp.MustCompile(`^[a-z0-9][a-z0-9\-]{0,62}$`)

// AzureB2C returns the Azure AD B2C profile: issuer with the trailing
// slash (or the tfp form), per-policy key URL, audience ClientID, client
// "azp", "scp" space-separated string (KindScope, B2C writes application
// permissions there too), and the policy rule: "tfp" or "acr", when
// present, must equal Policy.
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
	policy := o.Policy
	ic.Validate = func(p *jwtverify.Principal) error {
		for _, claim := range []string{"tfp", "acr"} {
			if v, ok := p.StringClaim(claim); ok && !strings.EqualFold(v, policy) {
				return ruleErr(jwtverify.ErrIssuer, prov, "%s %s is not the configured policy", claim, quote(v))
			}
		}
		return nil
	}
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
