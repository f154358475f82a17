package oauthtest

import (
	"crypto"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // x5t is a SHA-1 thumbprint by definition (RFC 7515 section 4.1.7)
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// Provider names the token shape of a real issuer, for MintProvider.
type Provider string

// The shapes oauthtest can mint. testdata/providers holds one sample of each.
const (
	// ProviderEntraV1: iss {URL}/{tid}/ (Entra's https://sts.windows.net/{tid}/), aud the App ID
	// URI, client appid, roles array, scp string (delegated), idtyp, header typ JWT with x5t and kid.
	ProviderEntraV1 Provider = "entra-v1"
	// ProviderEntraV2: iss {URL}/{tid}/v2.0, aud the API client ID, client azp, roles, scp,
	// idtyp, header typ JWT with kid.
	ProviderEntraV2 Provider = "entra-v2"
	// ProviderAzureB2C: iss {URL}/{tid}/v2.0/ (trailing slash), azp, scp string, tfp policy.
	ProviderAzureB2C Provider = "azure-b2c"
	// ProviderAuth0: iss ending in "/", azp, sub {client}@clients, scope string, permissions
	// array (from Roles), gty client-credentials.
	ProviderAuth0 Provider = "auth0"
	// ProviderOkta: iss .../oauth2/default, cid, scp array, ver 1, no header typ.
	ProviderOkta Provider = "okta"
	// ProviderKeycloak: iss .../realms/acme, aud array, azp, payload typ Bearer, realm_access
	// and resource_access roles (Roles go to resource_access[RoleClient]), scope string, and the
	// header serialized as Keycloak does ({"alg":"RS256","typ" : "JWT","kid" : "..."}).
	ProviderKeycloak Provider = "keycloak"
	// ProviderCognito: iss .../{poolId}, no aud, client_id, token_use access, scope string, no
	// header typ.
	ProviderCognito Provider = "cognito"
	// ProviderHydra: aud array (possibly []), client_id, scp array, ext, header typ JWT.
	ProviderHydra Provider = "hydra"
	// ProviderRFC9068: header typ at+jwt; iss, exp, aud, sub, client_id, iat, jti, scope.
	ProviderRFC9068 Provider = "rfc9068"
)

// Providers lists every Provider.
func Providers() []Provider {
	return []Provider{ProviderEntraV1, ProviderEntraV2, ProviderAzureB2C, ProviderAuth0, ProviderOkta,
		ProviderKeycloak, ProviderCognito, ProviderHydra, ProviderRFC9068}
}

// Default identifiers of provider-shaped tokens (the values of testdata/providers).
const (
	DefaultEntraTenantID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	DefaultEntraClientID = "75dbe77f-10a3-4e59-85fd-8c127544f17c" // the calling app
	DefaultEntraAPIID    = "6e74172b-be56-4843-9ff4-e66a39bb12e3" // the API (v2 audience)
	DefaultEntraAppIDURI = "api://orders-api"                     // the API (v1 audience)
	DefaultB2CTenantID   = "775527ff-9a37-4307-8b3d-cc311f58d925"
	DefaultB2CPolicy     = "B2C_1A_SUSI"
	DefaultKeycloakRealm = "acme"
	DefaultCognitoPoolID = "eu-west-1_AbCdEf"
)

// ProviderToken describes a token to mint in a provider's shape. Zero fields take the values of
// the provider's sample in testdata/providers (client, audience, tenant); permissions have no
// default: leave Scopes and Roles empty for a token without any.
type ProviderToken struct {
	// Issuer overrides the issuer (default: ProviderIssuer).
	Issuer string
	// TenantID is Entra's tid (default DefaultEntraTenantID) or B2C's tenant GUID in the issuer
	// (default DefaultB2CTenantID).
	TenantID string
	// ClientID is the calling client, in the provider's client claim.
	ClientID string
	// Subject overrides sub (default per provider: Entra a service principal object ID, Auth0
	// {client}@clients, Keycloak a user ID, others the client ID).
	Subject string
	// Audience is the aud value; one element is written as a string except where the provider
	// always writes an array (Keycloak, Hydra). Nil takes the default (Cognito: no aud). An
	// empty non-nil slice writes "aud": [] (Hydra's shape when no audience was requested), except
	// for Keycloak, where it omits aud (a realm without an audience mapper).
	Audience []string
	// Scopes go to the provider's scope claim (Entra/B2C scp string, Okta/Hydra scp array, others
	// a scope string). On Entra, scopes make a delegated (user) token: idtyp "user".
	Scopes []string
	// Roles go to the provider's role claim: Entra roles, Auth0 permissions, Keycloak
	// resource_access[RoleClient].roles; ignored elsewhere.
	Roles []string
	// RoleClient is Keycloak's resource_access client of Roles (default "orders-api").
	RoleClient string
	// Policy is B2C's tfp claim (default DefaultB2CPolicy; "-" omits the claim).
	Policy string
	// KeyID signs with this published key (default: the current signing key). Use it instead of
	// WithKeyID so the provider's header names the right kid.
	KeyID string
	// Claims are merged last (a nil value deletes the claim).
	Claims map[string]any
}

// ProviderIssuer returns the issuer a provider-shaped token of this server carries when
// ProviderToken.Issuer is empty: Entra v1 {URL}/{tid}/, Entra v2 {URL}/{tid}/v2.0, B2C
// {URL}/{tid}/v2.0/; for the others Issuer() when the server has an issuer path, else URL()
// plus the provider's usual path: Auth0 and Hydra "/", Okta "/oauth2/default", Keycloak
// "/realms/acme", Cognito "/eu-west-1_AbCdEf", RFC 9068 none.
//
// These are issuer strings only: the server publishes its keys at JWKSURL(), not at the key
// URL a profile of package profiles computes, and an Entra profile needs both Instance and
// V1Instance to name these issuers. To test an API protected by a profile, build the profile
// as in production and wire it with package oauthtest/profiletest (profiletest.New): it
// points the profile's keys at this server and mints tokens with the profile's own issuer.
func (s *Server) ProviderIssuer(p Provider, tenantID string) string {
	switch p {
	case ProviderEntraV1:
		return s.URL() + "/" + orDefault(tenantID, DefaultEntraTenantID) + "/"
	case ProviderEntraV2:
		return s.URL() + "/" + orDefault(tenantID, DefaultEntraTenantID) + "/v2.0"
	case ProviderAzureB2C:
		return s.URL() + "/" + orDefault(tenantID, DefaultB2CTenantID) + "/v2.0/"
	}
	if iss := s.Issuer(); iss != s.URL() {
		return iss
	}
	switch p {
	case ProviderAuth0, ProviderHydra:
		return s.URL() + "/"
	case ProviderOkta:
		return s.URL() + "/oauth2/default"
	case ProviderKeycloak:
		return s.URL() + "/realms/" + DefaultKeycloakRealm
	case ProviderCognito:
		return s.URL() + "/" + DefaultCognitoPoolID
	}
	return s.URL()
}

// ProviderMintOptions returns the MintOptions that shape a token like p's (header and claims);
// append your own options after them. MintProvider is the shortcut.
func (s *Server) ProviderMintOptions(p Provider, tok ProviderToken) ([]MintOption, error) {
	kid := tok.KeyID
	if kid == "" {
		kid = s.SigningKeyID()
	}
	s.mu.RLock()
	k, ok := s.keys[kid]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("oauthtest: unknown key %q", kid)
	}
	alg, pub := k.alg, k.priv.Public()
	iss := tok.Issuer
	if iss == "" {
		tenant := tok.TenantID
		iss = s.ProviderIssuer(p, tenant)
	}
	c := map[string]any{}
	// Defaults of the RFC 9068 minting, set again below where the provider has them.
	for _, k := range []string{"client_id", "scope", "jti", "aud"} {
		c[k] = nil
	}
	switch p {
	case ProviderAuth0, ProviderOkta, ProviderKeycloak, ProviderCognito, ProviderRFC9068:
		c["nbf"] = nil // these providers write no nbf
	}
	h := map[string]any{"alg": alg, "kid": kid, "typ": "JWT"}
	var rawHeader []byte
	c["iss"] = iss
	join := func(v []string) any {
		if len(v) == 0 {
			return nil
		}
		return strings.Join(v, " ")
	}
	arr := func(v []string) any {
		if len(v) == 0 {
			return nil
		}
		return append([]string(nil), v...)
	}
	aud := func(def ...string) any {
		a := tok.Audience
		if a == nil {
			a = def
		}
		if len(a) == 1 {
			return a[0]
		}
		return append([]string{}, a...)
	}
	audArray := func(def ...string) any {
		if tok.Audience == nil {
			return append([]string{}, def...)
		}
		return append([]string{}, tok.Audience...)
	}
	switch p {
	case ProviderEntraV1, ProviderEntraV2:
		tid := orDefault(tok.TenantID, DefaultEntraTenantID)
		client := orDefault(tok.ClientID, DefaultEntraClientID)
		sub := orDefault(tok.Subject, "b1f0c2d4-3e5f-4a6b-8c7d-9e0f1a2b3c4d")
		idtyp := "app"
		if len(tok.Scopes) > 0 {
			idtyp = "user"
		}
		c["aio"] = "E2ZgYGjTdGlJsEnUVk9J0wA="
		c["idtyp"] = idtyp
		c["oid"] = sub
		c["sub"] = sub
		c["rh"] = "0.AAAAv4j5cvGGr0GRqy180BHbR3_36F91Ey5ZhfSMEnVE8XwAAAA."
		c["roles"] = arr(tok.Roles)
		c["scp"] = join(tok.Scopes)
		c["tid"] = tid
		c["uti"] = randomID(16)
		if p == ProviderEntraV1 {
			c["aud"] = aud(DefaultEntraAppIDURI)
			c["appid"] = client
			c["appidacr"] = "1"
			c["idp"] = "https://sts.windows.net/" + tid + "/"
			c["ver"] = "1.0"
			h["x5t"] = x5t(pub)
		} else {
			c["aud"] = aud(DefaultEntraAPIID)
			c["azp"] = client
			c["azpacr"] = "1"
			c["ver"] = "2.0"
		}
	case ProviderAzureB2C:
		client := orDefault(tok.ClientID, "33333333-0000-0000-0000-000000000000")
		c["aud"] = aud("11111111-2222-3333-4444-555555555555")
		c["sub"] = orDefault(tok.Subject, "4f3e2d1c-0b9a-4876-a5b4-c3d2e1f00112")
		c["azp"] = client
		c["scp"] = join(tok.Scopes)
		c["ver"] = "1.0"
		if pol := orDefault(tok.Policy, DefaultB2CPolicy); pol != "-" {
			c["tfp"] = pol
		}
	case ProviderAuth0:
		client := orDefault(tok.ClientID, "Zk3mPq7RtY2vW9xB4nC6dF8gH1jK5lM0")
		c["sub"] = orDefault(tok.Subject, client+"@clients")
		c["aud"] = aud("https://api.example.com")
		c["scope"] = join(tok.Scopes)
		c["gty"] = "client-credentials"
		c["azp"] = client
		c["permissions"] = arr(tok.Roles)
	case ProviderOkta:
		client := orDefault(tok.ClientID, "0oa8acv8gbBPRCZ7I5d7")
		c["ver"] = 1
		c["jti"] = "AT." + randomID(20)
		c["aud"] = aud("api://default")
		c["cid"] = client
		c["scp"] = arr(tok.Scopes)
		c["sub"] = orDefault(tok.Subject, client)
		h["typ"] = nil
	case ProviderKeycloak:
		client := orDefault(tok.ClientID, "orders-worker")
		rc := orDefault(tok.RoleClient, "orders-api")
		c["jti"] = uuid()
		if tok.Audience == nil || len(tok.Audience) > 0 {
			c["aud"] = audArray(rc, "account")
		}
		c["sub"] = orDefault(tok.Subject, "bc2a72f4-1d3e-4f5a-8b6c-7d8e9f0a1b2c")
		c["typ"] = "Bearer"
		c["azp"] = client
		c["allowed-origins"] = []string{"/*"}
		c["realm_access"] = map[string]any{"roles": []string{"default-roles-" + DefaultKeycloakRealm, "offline_access"}}
		ra := map[string]any{"account": map[string]any{"roles": []string{"view-profile", "manage-account"}}}
		if len(tok.Roles) > 0 {
			ra[rc] = map[string]any{"roles": append([]string(nil), tok.Roles...)}
		}
		c["resource_access"] = ra
		scopes := tok.Scopes
		if scopes == nil {
			scopes = []string{"profile", "email"}
		}
		c["scope"] = join(scopes)
		c["clientHost"] = "172.20.0.1"
		c["clientAddress"] = "172.20.0.1"
		c["preferred_username"] = "service-account-" + client
		c["client_id"] = client
		// Keycloak writes its header with spaces around some colons.
		hb, err := json.Marshal(kid)
		if err != nil {
			return nil, err
		}
		rawHeader = []byte(`{"alg":"` + alg + `","typ" : "JWT","kid" : ` + string(hb) + `}`)
	case ProviderCognito:
		client := orDefault(tok.ClientID, "3hq6k2examplecid0000000000")
		c["sub"] = orDefault(tok.Subject, client)
		c["token_use"] = "access"
		c["scope"] = join(tok.Scopes)
		c["jti"] = uuid()
		c["client_id"] = client
		c["version"] = 2
		if tok.Audience != nil {
			c["aud"] = aud()
		}
		h["typ"] = nil
	case ProviderHydra:
		client := orDefault(tok.ClientID, "orders-worker")
		c["aud"] = audArray("https://api.example.test")
		c["client_id"] = client
		c["ext"] = map[string]any{}
		c["jti"] = uuid()
		scp := []string{}
		scp = append(scp, tok.Scopes...)
		c["scp"] = scp
		c["sub"] = orDefault(tok.Subject, client)
	case ProviderRFC9068:
		client := orDefault(tok.ClientID, "e2e-client")
		c["jti"] = randomID(16)
		c["sub"] = orDefault(tok.Subject, client)
		c["scope"] = join(tok.Scopes)
		c["client_id"] = client
		c["aud"] = aud("https://api.example.test")
		h["typ"] = "at+jwt"
	default:
		return nil, fmt.Errorf("oauthtest: unknown provider %q", p)
	}
	for k, v := range tok.Claims {
		c[k] = v
	}
	opts := []MintOption{WithKeyID(kid), WithClaims(c)}
	if rawHeader != nil {
		opts = append(opts, WithRawHeader(rawHeader))
	} else {
		opts = append(opts, WithHeader(h))
	}
	return opts, nil
}

// MintProvider mints a token shaped like p's (ProviderMintOptions), then applies opts.
func (s *Server) MintProvider(p Provider, tok ProviderToken, opts ...MintOption) (string, error) {
	base, err := s.ProviderMintOptions(p, tok)
	if err != nil {
		return "", err
	}
	return s.Mint(append(base, opts...)...)
}

// MintProviderT is MintProvider that fails t on error.
func (s *Server) MintProviderT(t testing.TB, p Provider, tok ProviderToken, opts ...MintOption) string {
	t.Helper()
	tok2, err := s.MintProvider(p, tok, opts...)
	if err != nil {
		t.Fatalf("oauthtest: mint %s token: %v", p, err)
	}
	return tok2
}

// PublishLikeEntra publishes the key kid as Entra ID does: no "alg" member, an "x5t"
// thumbprint, and, when issuer is non-empty, an "issuer" member (the multi-tenant "common" key
// set carries "https://login.microsoftonline.com/{tenantid}/v2.0" there).
func (s *Server) PublishLikeEntra(kid, issuer string) error {
	pub, ok := s.PublicKey(kid)
	if !ok {
		return fmt.Errorf("oauthtest: no published key %q", kid)
	}
	m := map[string]any{"alg": nil, "use": "sig", "x5t": x5t(pub)}
	if issuer != "" {
		m["issuer"] = issuer
	}
	s.SetJWKSExtra(kid, m)
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// x5t returns a SHA-1 thumbprint of the public key's DER, base64url: the shape of Entra's x5t
// (there the thumbprint of the certificate, which oauthtest does not make).
func x5t(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha1.Sum(der) //nolint:gosec // x5t is SHA-1 by definition
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func uuid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
