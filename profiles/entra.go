package profiles

import (
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// TenantTemplate is the placeholder of a multi-tenant issuer, filled from
// the token's "tid" claim by the verifier.
const TenantTemplate = "{tenantid}"

// Default Entra ID hosts (public cloud). Sovereign clouds set
// EntraOptions.Instance and V1Instance.
const (
	EntraInstance   = "https://login.microsoftonline.com"
	EntraV1Instance = "https://sts.windows.net"
)

// EntraVersions selects the token versions an Entra API accepts. The
// version of the tokens an API receives follows the API's
// accessTokenAcceptedVersion manifest setting (null or 1: v1.0; 2: v2.0),
// not the endpoint the client called.
type EntraVersions uint8

// Token versions.
const (
	// EntraV1 accepts v1.0 tokens (iss https://sts.windows.net/{tid}/).
	EntraV1 EntraVersions = 1 << iota
	// EntraV2 accepts v2.0 tokens (iss
	// https://login.microsoftonline.com/{tid}/v2.0).
	EntraV2
	// EntraV1AndV2 accepts both; the zero value means this.
	EntraV1AndV2 = EntraV1 | EntraV2
)

// EntraOptions configures EntraID. Single-tenant: set TenantID.
// Multi-tenant: leave TenantID empty (or "common"/"organizations") and set
// AllowedTenants (or, loudly, InsecureAnyTenant).
type EntraOptions struct {
	// TenantID is the directory (tenant) ID, a GUID, of a single-tenant
	// API. Domain names are refused: tokens carry the GUID.
	TenantID string
	// AllowedTenants lists the tenant GUIDs whose tokens a multi-tenant
	// API accepts (the "tid" claim).
	AllowedTenants []string
	// InsecureAnyTenant accepts tokens from every Entra tenant in the
	// world. Anyone can create a tenant and consent to a multi-tenant
	// app: you MUST NOT set it unless ClientIDs lists the callers. It
	// cannot be combined with AllowAnyClient.
	InsecureAnyTenant bool

	// ClientID is the API's own application (client) ID, a GUID: the v2.0
	// audience. Required.
	ClientID string
	// AppIDURI is the API's Application ID URI (e.g. "api://orders-api"),
	// the usual v1.0 audience. "api://{ClientID}" is always accepted too.
	// Entra writes the URI as configured: a trailing slash must be
	// configured to be accepted.
	AppIDURI string
	// ExtraAudiences are further accepted audiences.
	ExtraAudiences []string
	// Versions selects v1.0, v2.0 or both (the zero value: both).
	Versions EntraVersions

	// ClientIDs is the allow list of calling applications (v1 "appid", v2
	// "azp"). Required unless AllowAnyClient.
	ClientIDs []string
	// AllowAnyClient accepts every application the tenant(s) let call
	// this API (their app role assignments are then the only gate).
	AllowAnyClient bool
	// AllowDelegated accepts delegated (user) tokens besides app-only
	// ones. Off by default: this is a client-credentials library, and a
	// delegated scope can share its name with an app role. With it on,
	// require roles (RequireAllRoles) or scopes (RequireAllScopes)
	// explicitly in your routes.
	AllowDelegated bool
	// AuthorizeByClientIDs accepts tokens carrying neither "roles" nor
	// "scp" (an app the admin granted no permission) because ClientIDs
	// alone authorizes callers. Requires ClientIDs. Without it such tokens
	// are rejected, as Microsoft.Identity.Web does.
	AuthorizeByClientIDs bool

	// Instance is the v2.0 authority host. Default EntraInstance.
	Instance string
	// V1Instance is the v1.0 issuer host. Default EntraV1Instance.
	V1Instance string

	// AppSigningKeys: the API has a claims-mapping policy or its own
	// signing key, so Entra signs its tokens with app-specific keys
	// published at the JWKS URL with "?appid={ClientID}".
	AppSigningKeys bool

	// Keys is the key source for every returned profile (tests, offline
	// use). When nil, build one per profile from its JWKSURL
	// (Profile.StartKeys): v1 and v2 tokens must be verified against their
	// own key documents. The v2 "common" keys carry an "issuer" member with
	// the v2 issuer template, which the verifier compares with the token's
	// iss: a source holding them refuses v1 tokens.
	Keys jwkscache.KeySource
	// Name prefixes the issuer names: "{Name}-v1", "{Name}-v2". Default
	// "entra".
	Name string
	// Algorithms overrides the allow list (default RS256).
	Algorithms []string
	// Leeway overrides the clock skew allowance (jwtverify default).
	Leeway time.Duration
}

// EntraID returns one profile per accepted token version (v1 first).
//
// Rules: exact issuer per version (v1 with its trailing slash), or the
// "{tenantid}" template filled from "tid" for a multi-tenant API; "tid"
// must be a GUID equal to the tenant in "iss" (SECURITY.md F13) and an
// allowed tenant (F12); audience ClientID, api://ClientID or AppIDURI;
// client from "appid" (v1) or "azp" (v2); permissions "roles" (KindRole)
// and "scp" (KindScope); app-only = idtyp "app", or no "scp" when idtyp is
// absent; delegated tokens refused unless AllowDelegated; tokens without
// roles and scp refused unless AuthorizeByClientIDs. Keys come from the
// tenant's JWKS, or the "common" JWKS for a multi-tenant API (each key's
// "issuer" member is then honoured by the verifier). JWKs without "alg"
// and headers with "x5t" are fine.
func EntraID(o EntraOptions) ([]Profile, error) {
	const prov = "entra"
	c := common{provider: prov, keys: o.Keys, clientIDs: o.ClientIDs, allowAnyClient: o.AllowAnyClient,
		algorithms: o.Algorithms, leeway: o.Leeway}
	if _, err := c.base(); err != nil {
		return nil, err
	}
	if !isGUID(o.ClientID) {
		return nil, cfgErr(prov, "ClientID", "the API's application (client) ID must be a GUID")
	}
	clientID := strings.ToLower(o.ClientID)
	if o.AuthorizeByClientIDs && len(o.ClientIDs) == 0 {
		return nil, cfgErr(prov, "AuthorizeByClientIDs", "requires ClientIDs: the allow list is then the authorization")
	}

	tenant := strings.ToLower(o.TenantID)
	multi := tenant == "" || tenant == "common" || tenant == "organizations"
	var allowed map[string]bool
	switch {
	case tenant == "consumers":
		return nil, cfgErr(prov, "TenantID", "\"consumers\" (personal accounts) issues no app-only tokens")
	case !multi:
		if !isGUID(tenant) {
			return nil, cfgErr(prov, "TenantID", "must be the tenant GUID (tokens carry the GUID, not the domain name)")
		}
		if len(o.AllowedTenants) > 0 || o.InsecureAnyTenant {
			return nil, cfgErr(prov, "AllowedTenants", "a single-tenant API (TenantID set) takes no AllowedTenants or InsecureAnyTenant")
		}
	case o.InsecureAnyTenant:
		if len(o.AllowedTenants) > 0 {
			return nil, cfgErr(prov, "InsecureAnyTenant", "set AllowedTenants or InsecureAnyTenant, not both")
		}
		if o.AllowAnyClient {
			return nil, cfgErr(prov, "InsecureAnyTenant", "cannot be combined with AllowAnyClient: any application of any tenant could call; list ClientIDs")
		}
	case len(o.AllowedTenants) == 0:
		return nil, cfgErr(prov, "AllowedTenants", "a multi-tenant API must list the tenant GUIDs it accepts (or set InsecureAnyTenant)")
	default:
		allowed = make(map[string]bool, len(o.AllowedTenants))
		for i, t := range o.AllowedTenants {
			if !isGUID(t) {
				return nil, cfgErr(prov, "AllowedTenants", "entry %d is not a tenant GUID", i)
			}
			allowed[strings.ToLower(t)] = true
		}
	}

	instance := o.Instance
	if instance == "" {
		instance = EntraInstance
	}
	v1Instance := o.V1Instance
	if v1Instance == "" {
		v1Instance = EntraV1Instance
	}
	var err error
	if instance, err = checkBaseURL(prov, "Instance", strings.TrimRight(instance, "/")); err != nil {
		return nil, err
	}
	if v1Instance, err = checkBaseURL(prov, "V1Instance", strings.TrimRight(v1Instance, "/")); err != nil {
		return nil, err
	}
	if o.AppIDURI != "" && strings.TrimSpace(o.AppIDURI) != o.AppIDURI {
		return nil, cfgErr(prov, "AppIDURI", "has surrounding spaces")
	}
	auds := dedupe(append([]string{clientID, "api://" + clientID, o.AppIDURI}, o.ExtraAudiences...)...)

	versions := o.Versions
	if versions == 0 {
		versions = EntraV1AndV2
	}
	if versions&^EntraV1AndV2 != 0 {
		return nil, cfgErr(prov, "Versions", "unknown version bits")
	}
	name := o.Name
	if name == "" {
		name = prov
	}
	keySeg := tenant
	if multi {
		keySeg = "common"
	}

	var out []Profile
	for _, v := range []EntraVersions{EntraV1, EntraV2} {
		if versions&v == 0 {
			continue
		}
		ic, _ := c.base()
		r := &entraRules{tenant: tenant, allowed: allowed, anyTenant: multi && o.InsecureAnyTenant,
			allowDelegated: o.AllowDelegated, acl: o.AuthorizeByClientIDs}
		p := Profile{Provider: prov}
		issTenant := tenant
		if multi {
			issTenant = TenantTemplate
		}
		if v == EntraV1 {
			ic.Name = name + "-v1"
			r.template = v1Instance + "/" + TenantTemplate + "/"
			r.ver = "1.0"
			ic.ClientIDClaims = []string{"appid"}
			p.JWKSURL = instance + "/" + keySeg + "/discovery/keys"
			if !multi {
				p.DiscoveryURL = instance + "/" + tenant + "/.well-known/openid-configuration"
			}
			ic.Issuer = v1Instance + "/" + issTenant + "/"
		} else {
			ic.Name = name + "-v2"
			r.template = instance + "/" + TenantTemplate + "/v2.0"
			r.ver = "2.0"
			ic.ClientIDClaims = []string{"azp"}
			p.JWKSURL = instance + "/" + keySeg + "/discovery/v2.0/keys"
			if !multi {
				p.DiscoveryURL = instance + "/" + tenant + "/v2.0/.well-known/openid-configuration"
			}
			ic.Issuer = instance + "/" + issTenant + "/v2.0"
		}
		if multi {
			if o.InsecureAnyTenant {
				ic.InsecureAllowAnyTenant = true
			} else {
				ic.AllowedTenants = make([]string, 0, len(o.AllowedTenants))
				for _, t := range o.AllowedTenants {
					ic.AllowedTenants = append(ic.AllowedTenants, strings.ToLower(t))
				}
			}
		}
		if o.AppSigningKeys {
			p.JWKSURL += "?appid=" + clientID
		}
		ic.Audiences = clone(auds)
		ic.TokenType = jwtverify.TypeDefault
		ic.RequiredClaims = []string{"tid"}
		ic.Permissions = []jwtverify.PermissionClaim{
			{Path: []string{"roles"}, Kind: jwtverify.KindRole},
			{Path: []string{"scp"}, Kind: jwtverify.KindScope},
		}
		ic.AppOnly = EntraAppOnly
		ic.Rules = r.rules()
		p.IssuerConfig = ic
		out = append(out, p)
	}
	return out, nil
}

// EntraAppOnly is Entra's app-only test: "idtyp" is "app" when present;
// without idtyp (an optional claim), a token without "scp" is app-only.
func EntraAppOnly(p *jwtverify.Principal) bool {
	if idtyp, ok := p.StringClaim("idtyp"); ok {
		return idtyp == "app"
	}
	return !claimNonEmpty(p, "scp")
}

type entraRules struct {
	template       string // issuer with {tenantid}
	ver            string
	tenant         string          // single tenant GUID, lower case
	allowed        map[string]bool // multi-tenant allow list
	anyTenant      bool
	allowDelegated bool
	acl            bool
}

// rules returns Entra's checks in order; each assumes the ones before it
// passed.
func (r *entraRules) rules() []jwtverify.Rule {
	const prov = "entra"
	rs := []jwtverify.Rule{
		check(RuleEntraTenantMissing, func(p *jwtverify.Principal) error {
			if _, ok := p.StringClaim("tid"); !ok {
				return ruleErr(jwtverify.ErrMissingClaim, prov, "token has no string tid")
			}
			return nil
		}),
		check(RuleEntraTenantNotGUID, func(p *jwtverify.Principal) error {
			if tid, _ := p.StringClaim("tid"); !isGUID(tid) {
				return ruleErr(jwtverify.ErrIssuer, prov, "tid %s is not a GUID", quote(tid))
			}
			return nil
		}),
		check(RuleEntraTenantNotAllowed, func(p *jwtverify.Principal) error {
			tid, _ := p.StringClaim("tid")
			switch {
			case r.tenant != "":
				if tid != r.tenant {
					return ruleErr(jwtverify.ErrIssuer, prov, "tid %s is not the configured tenant", quote(tid))
				}
			case !r.anyTenant:
				if !r.allowed[tid] {
					return ruleErr(jwtverify.ErrIssuer, prov, "tenant %s is not allowed", quote(tid))
				}
			}
			return nil
		}),
		check(RuleEntraIssuerTenant, func(p *jwtverify.Principal) error {
			tid, _ := p.StringClaim("tid")
			if want := strings.Replace(r.template, TenantTemplate, tid, 1); p.Issuer() != want {
				return ruleErr(jwtverify.ErrIssuer, prov, "iss does not name the tenant in tid %s", quote(tid))
			}
			return nil
		}),
		check(RuleEntraVersion, func(p *jwtverify.Principal) error {
			if ver, ok := p.StringClaim("ver"); ok && ver != r.ver {
				return ruleErr(jwtverify.ErrType, prov, "token version %s where %s was expected", quote(ver), r.ver)
			}
			return nil
		}),
	}
	if !r.acl {
		rs = append(rs, check(RuleEntraNoPermissions, func(p *jwtverify.Principal) error {
			if !claimNonEmpty(p, "roles") && !claimNonEmpty(p, "scp") {
				return ruleErr(jwtverify.ErrMissingClaim, prov, "token carries neither roles nor scp (grant the client an app role, or set AuthorizeByClientIDs)")
			}
			return nil
		}))
	}
	if !r.allowDelegated {
		rs = append(rs, check(RuleEntraDelegated, func(p *jwtverify.Principal) error {
			if !EntraAppOnly(p) {
				return ruleErr(jwtverify.ErrType, prov, "delegated (user) token refused: only app-only tokens are accepted (set AllowDelegated)")
			}
			return nil
		}))
	}
	return rs
}
