// Package profiletest points a provider profile (package profiles) at an
// oauthtest server, so testing an API protected by Entra ID, Azure AD B2C,
// Auth0, Okta, Keycloak, Cognito, Hydra or any RFC 9068 issuer needs no
// knowledge of where that provider publishes its keys.
//
// Build the profile exactly as production does, then wire it:
//
//	is := oauthtest.NewT(t)
//	ps, _ := profiles.EntraID(profiles.EntraOptions{TenantID: tenant, ClientID: apiID, ClientIDs: []string{callerID}})
//	entra := profiletest.NewT(t, is, &ps[1]) // the v2.0 profile
//	v, _ := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(ps[1])})
//	tok := entra.MintT(t, oauthtest.ProviderToken{Roles: []string{"Orders.Read"}})
//
// The profile keeps its issuer, audiences, client allow list and rules;
// only its key source changes, to a jwkscache.Cache of the server's JWKS.
// Tokens minted through the returned Issuer have the provider's shape
// (oauthtest.MintProvider) and, unless the ProviderToken says otherwise,
// the profile's issuer (its tenant template filled), its first audience,
// its first allowed client, and for B2C its policy, for Keycloak its role
// client: the token a real issuer would send this API. Tokens signed by
// any other server are refused, as a foreign issuer's would be.
//
// This package lives apart from oauthtest because profiles imports
// jwkscache, whose own tests import oauthtest.
package profiletest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

// Issuer is a profile wired to an oauthtest server.
type Issuer struct {
	// Server is the test server whose keys the profile trusts.
	Server *oauthtest.Server
	// Profile is the wired profile (its Keys is Keys).
	Profile *profiles.Profile
	// Provider is the token shape of the profile.
	Provider oauthtest.Provider
	// Keys is the cache of the server's JWKS, set as the profile's key
	// source.
	Keys *jwkscache.Cache

	defaults oauthtest.ProviderToken
}

// ErrUnknownProvider is returned for a profile whose Provider has no
// oauthtest shape.
var ErrUnknownProvider = errors.New("profiletest: unknown provider")

// New points p at is: it sets p.Keys to a jwkscache.Cache of is's JWKS
// (named after the profile) and waits, within ctx, for its first key
// set (at most 10 s). Call it before building the verifier
// (profiles.IssuerConfigs copies the profile). The cache runs until Close
// or ctx's end.
func New(ctx context.Context, is *oauthtest.Server, p *profiles.Profile) (*Issuer, error) {
	if is == nil || p == nil {
		return nil, errors.New("profiletest: nil server or profile")
	}
	prov, err := ProviderOf(p)
	if err != nil {
		return nil, err
	}
	w := &Issuer{Server: is, Profile: p, Provider: prov}
	w.defaults = defaults(p, prov)
	c, err := jwkscache.New(ctx, jwkscache.Config{Name: p.Name, JWKSURL: is.JWKSURL()})
	if err != nil {
		return nil, fmt.Errorf("profiletest: %s: keys: %w", p.Name, err)
	}
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Ready(wait); err != nil {
		c.Close()
		return nil, fmt.Errorf("profiletest: %s: %w", p.Name, err)
	}
	w.Keys = c
	p.Keys = c
	return w, nil
}

// NewT is New that fails t on error and closes the cache when t ends.
func NewT(t testing.TB, is *oauthtest.Server, p *profiles.Profile) *Issuer {
	t.Helper()
	w, err := New(context.Background(), is, p)
	if err != nil {
		t.Fatalf("profiletest: %v", err)
	}
	t.Cleanup(w.Close)
	return w
}

// Close stops the key cache.
func (w *Issuer) Close() { w.Keys.Close() }

// Mint mints a token of the profile's provider shape signed by the
// server, with the profile's defaults for the fields tok leaves empty
// (see the package documentation), then applies opts.
func (w *Issuer) Mint(tok oauthtest.ProviderToken, opts ...oauthtest.MintOption) (string, error) {
	d := w.defaults
	if tok.TenantID == "" {
		tok.TenantID = d.TenantID
	}
	if tok.Issuer == "" {
		tok.Issuer = strings.Replace(d.Issuer, profiles.TenantTemplate, tok.TenantID, 1)
	}
	if tok.ClientID == "" {
		tok.ClientID = d.ClientID
	}
	if tok.Audience == nil {
		tok.Audience = d.Audience
	}
	if tok.Policy == "" {
		tok.Policy = d.Policy
	}
	if tok.RoleClient == "" {
		tok.RoleClient = d.RoleClient
	}
	return w.Server.MintProvider(w.Provider, tok, opts...)
}

// TokenIssuer is the iss of tokens minted without Issuer or TenantID: the
// profile's issuer, its tenant template filled.
func (w *Issuer) TokenIssuer() string {
	return strings.Replace(w.defaults.Issuer, profiles.TenantTemplate, w.defaults.TenantID, 1)
}

// MintT is Mint that fails t on error.
func (w *Issuer) MintT(t testing.TB, tok oauthtest.ProviderToken, opts ...oauthtest.MintOption) string {
	t.Helper()
	s, err := w.Mint(tok, opts...)
	if err != nil {
		t.Fatalf("profiletest: mint: %v", err)
	}
	return s
}

// ProviderOf returns the oauthtest token shape of p: from p.Provider, and
// for Entra from the issuer form (v1.0 issuers end with "/", v2.0 with
// "/v2.0").
func ProviderOf(p *profiles.Profile) (oauthtest.Provider, error) {
	switch p.Provider {
	case "entra":
		if strings.HasSuffix(p.Issuer, "/v2.0") {
			return oauthtest.ProviderEntraV2, nil
		}
		return oauthtest.ProviderEntraV1, nil
	case "azure-b2c":
		return oauthtest.ProviderAzureB2C, nil
	case "auth0":
		return oauthtest.ProviderAuth0, nil
	case "okta":
		return oauthtest.ProviderOkta, nil
	case "keycloak":
		return oauthtest.ProviderKeycloak, nil
	case "cognito":
		return oauthtest.ProviderCognito, nil
	case "hydra":
		return oauthtest.ProviderHydra, nil
	case "rfc9068":
		return oauthtest.ProviderRFC9068, nil
	}
	return "", fmt.Errorf("%w %q", ErrUnknownProvider, p.Provider)
}

// defaults derives the token fields a real issuer would write for p.
func defaults(p *profiles.Profile, prov oauthtest.Provider) oauthtest.ProviderToken {
	d := oauthtest.ProviderToken{Issuer: p.Issuer}
	if len(p.ClientIDs) > 0 {
		d.ClientID = p.ClientIDs[0]
	}
	if len(p.Audiences) > 0 {
		d.Audience = []string{p.Audiences[0]}
	}
	switch prov {
	case oauthtest.ProviderEntraV1, oauthtest.ProviderEntraV2:
		if strings.Contains(p.Issuer, profiles.TenantTemplate) {
			d.TenantID = oauthtest.DefaultEntraTenantID
			if len(p.AllowedTenants) > 0 {
				d.TenantID = p.AllowedTenants[0]
			}
		} else {
			// {instance}/{tid}/ (v1.0) or {instance}/{tid}/v2.0.
			path := strings.TrimSuffix(strings.TrimSuffix(issuerPath(p.Issuer), "/v2.0"), "/")
			d.TenantID = path[strings.LastIndex(path, "/")+1:]
		}
	case oauthtest.ProviderAzureB2C:
		// The key URL is {instance}/{tenant}.onmicrosoft.com/{policy}/discovery/v2.0/keys.
		segs := strings.Split(issuerPath(p.JWKSURL), "/")
		for i := 1; i < len(segs); i++ {
			if segs[i] == "discovery" {
				d.Policy = segs[i-1]
				break
			}
		}
	case oauthtest.ProviderKeycloak:
		for _, pc := range p.Permissions {
			if len(pc.Path) == 3 && pc.Path[0] == "resource_access" {
				d.RoleClient = pc.Path[1]
				break
			}
		}
	}
	return d
}

func issuerPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Path
}
