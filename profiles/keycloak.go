package profiles

import (
	"net/url"
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// KeycloakOptions configures Keycloak.
type KeycloakOptions struct {
	// URL is the server's base URL ("https://kc.example.com", or
	// "https://kc.example.com/auth" for versions before 17). Required
	// unless Issuer is set.
	URL string
	// Realm is the realm name. Required unless Issuer is set.
	Realm string
	// Issuer overrides the computed issuer {URL}/realms/{Realm}.
	Issuer string
	// Audience, when set, must be in "aud" (it needs an audience mapper
	// in Keycloak). Empty: Keycloak access tokens often carry no aud, or
	// only "account", so the azp allow list (ClientIDs) is the binding and
	// is then required.
	Audience string
	// ExtraAudiences are further accepted audiences (only with Audience).
	ExtraAudiences []string
	// RoleClients names the clients whose resource_access.{client}.roles
	// become roles; roles of any other client are ignored. Default: the
	// Audience, when set.
	RoleClients []string
	// IgnoreRealmRoles leaves realm_access.roles out of the roles.
	IgnoreRealmRoles bool

	// ClientIDs is the allow list of calling clients ("azp"). Required
	// (AllowAnyClient is only possible together with Audience).
	ClientIDs []string
	// AllowAnyClient accepts every client of the realm; refused unless
	// Audience is set.
	AllowAnyClient bool
	// Keys is the key source (tests, offline use); nil: build one from
	// the returned JWKSURL.
	Keys jwkscache.KeySource
	// Name of the issuer (default "keycloak").
	Name string
	// Algorithms overrides the allow list (default RS256).
	Algorithms []string
	// Leeway overrides the clock skew allowance.
	Leeway time.Duration
}

// Keycloak returns the Keycloak profile: issuer {URL}/realms/{realm}, JWKS
// {issuer}/protocol/openid-connect/certs, client "azp", roles from
// realm_access.roles and resource_access.{RoleClients}.roles (KindRole),
// "scope" string (KindScope), payload "typ" must be "Bearer" (ID, Refresh
// and Logout tokens refused), audience checked only when Audience is set.
func Keycloak(o KeycloakOptions) (Profile, error) {
	const prov = "keycloak"
	c := common{provider: prov, name: o.Name, keys: o.Keys, clientIDs: o.ClientIDs,
		allowAnyClient: o.AllowAnyClient, algorithms: o.Algorithms, leeway: o.Leeway,
		clientRequired: o.Audience == ""}
	if c.name == "" {
		c.name = prov
	}
	ic, err := c.base()
	if err != nil {
		return Profile{}, err
	}
	iss := o.Issuer
	switch {
	case iss != "" && (o.URL != "" || o.Realm != ""):
		return Profile{}, cfgErr(prov, "Issuer", "set URL and Realm, or Issuer, not both")
	case iss == "":
		if o.Realm == "" || strings.ContainsAny(o.Realm, "/?#") {
			return Profile{}, cfgErr(prov, "Realm", "the realm name is required")
		}
		base, err := checkBaseURL(prov, "URL", strings.TrimRight(o.URL, "/"))
		if err != nil {
			return Profile{}, err
		}
		iss = base + "/realms/" + url.PathEscape(o.Realm)
	}
	if iss, err = checkBaseURL(prov, "Issuer", iss); err != nil {
		return Profile{}, err
	}
	if strings.HasSuffix(iss, "/") || !strings.Contains(iss, "/realms/") {
		return Profile{}, cfgErr(prov, "Issuer", "must be the realm issuer https://{host}/realms/{realm}, no trailing slash")
	}
	ic.Issuer = iss
	if o.Audience == "" {
		if len(o.ExtraAudiences) > 0 {
			return Profile{}, cfgErr(prov, "ExtraAudiences", "set Audience first")
		}
		// The azp allow list (required above) binds tokens to this API.
		ic.InsecureSkipAudienceCheck = true
	} else {
		ic.Audiences = dedupe(append([]string{o.Audience}, o.ExtraAudiences...)...)
	}
	ic.ClientIDClaims = []string{"azp"}
	ic.TokenType = jwtverify.TypeDefault
	ic.RequiredClaims = []string{"typ"}
	roleClients := o.RoleClients
	if len(roleClients) == 0 && o.Audience != "" {
		roleClients = []string{o.Audience}
	}
	if !o.IgnoreRealmRoles {
		ic.Permissions = append(ic.Permissions, jwtverify.PermissionClaim{Path: []string{"realm_access", "roles"}, Kind: jwtverify.KindRole})
	}
	for i, rc := range dedupe(roleClients...) {
		if strings.TrimSpace(rc) != rc {
			return Profile{}, cfgErr(prov, "RoleClients", "entry %d has surrounding spaces", i)
		}
		ic.Permissions = append(ic.Permissions, jwtverify.PermissionClaim{Path: []string{"resource_access", rc, "roles"}, Kind: jwtverify.KindRole})
	}
	ic.Permissions = append(ic.Permissions, jwtverify.PermissionClaim{Path: []string{"scope"}, Kind: jwtverify.KindScope})
	ic.AppOnly = KeycloakAppOnly
	ic.Rules = []jwtverify.Rule{check(RuleKeycloakTokenType, func(p *jwtverify.Principal) error {
		typ, _ := p.StringClaim("typ")
		if typ != "Bearer" {
			return ruleErr(jwtverify.ErrType, prov, "payload typ %s is not \"Bearer\" (ID, Refresh and Logout tokens are refused)", quote(typ))
		}
		return nil
	})}
	return Profile{
		IssuerConfig: ic,
		Provider:     prov,
		JWKSURL:      iss + "/protocol/openid-connect/certs",
		DiscoveryURL: iss + "/.well-known/openid-configuration",
	}, nil
}

// KeycloakAppOnly is Keycloak's app-only test: a service-account token,
// recognised by the "client_id" (or pre-2023 "clientId") claim its
// protocol mapper adds, or a preferred_username "service-account-...".
func KeycloakAppOnly(p *jwtverify.Principal) bool {
	if _, ok := p.Claim("client_id"); ok {
		return true
	}
	if _, ok := p.Claim("clientId"); ok {
		return true
	}
	u, _ := p.StringClaim("preferred_username")
	return strings.HasPrefix(u, "service-account-")
}
