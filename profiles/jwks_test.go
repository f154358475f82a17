package profiles_test

import (
	"context"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

// startKeys points p at the test server's JWKS and starts a real cache.
func startKeys(t *testing.T, s *oauthtest.Server, p *profiles.Profile) {
	t.Helper()
	p.JWKSURL = s.JWKSURL()
	c, err := p.StartKeys(context.Background(), jwkscache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestEntraMultiTenantWithJWKSCache runs the Entra multi-tenant case over
// HTTP: a JWKS whose key has no alg, an x5t and the {tenantid} issuer
// template, fetched by jwkscache; tokens with x5t + kid headers.
func TestEntraMultiTenantWithJWKSCache(t *testing.T) {
	s := newServer(t)
	if err := s.PublishLikeEntra(s.SigningKeyID(), s.URL()+"/{tenantid}/v2.0"); err != nil {
		t.Fatal(err)
	}
	ps, err := profiles.EntraID(profiles.EntraOptions{ClientID: apiID, ClientIDs: []string{caller},
		AllowedTenants: []string{tenantA, tenantB}, Versions: profiles.EntraV2, Instance: s.URL()})
	if err != nil {
		t.Fatal(err)
	}
	startKeys(t, s, &ps[0])
	k := ps[0].Keys.Current().Keys[0]
	if k.Alg != "" || k.Issuer != s.URL()+"/{tenantid}/v2.0" {
		t.Fatalf("published key alg %q issuer %q, want no alg and the template", k.Alg, k.Issuer)
	}
	v := newVerifier(t, ps...)
	for _, tid := range []string{tenantA, tenantB} {
		tok := s.MintProviderT(t, oauthtest.ProviderEntraV2, oauthtest.ProviderToken{TenantID: tid, Roles: []string{"Orders.Read.All"}},
			oauthtest.WithHeader(map[string]any{"x5t": k.Thumbprint[:27]}))
		mustAccept(t, v, tok, want{client: caller, tenant: tid, scopes: []string{"Orders.Read.All"}, roles: []string{"Orders.Read.All"}, appOnly: true})
	}
	mustReject(t, v, s.MintProviderT(t, oauthtest.ProviderEntraV2, oauthtest.ProviderToken{TenantID: tenantC, Roles: []string{"r"}}), jwtverify.ErrIssuer)
}

// TestProvidersWithJWKSCache verifies each provider's token with keys
// fetched over HTTP by jwkscache (instead of a static source).
func TestProvidersWithJWKSCache(t *testing.T) {
	s := newServer(t)
	mk := map[oauthtest.Provider]func() (profiles.Profile, error){
		oauthtest.ProviderAuth0: func() (profiles.Profile, error) {
			return profiles.Auth0(profiles.Auth0Options{Issuer: s.ProviderIssuer(oauthtest.ProviderAuth0, ""), Audience: "https://api.example.com", AllowAnyClient: true})
		},
		oauthtest.ProviderOkta: func() (profiles.Profile, error) {
			return profiles.Okta(profiles.OktaOptions{Issuer: s.ProviderIssuer(oauthtest.ProviderOkta, ""), Audience: "api://default", AllowAnyClient: true})
		},
		oauthtest.ProviderKeycloak: func() (profiles.Profile, error) {
			return profiles.Keycloak(profiles.KeycloakOptions{Issuer: s.ProviderIssuer(oauthtest.ProviderKeycloak, ""), ClientIDs: []string{"orders-worker"}})
		},
		oauthtest.ProviderCognito: func() (profiles.Profile, error) {
			return profiles.Cognito(profiles.CognitoOptions{Issuer: s.ProviderIssuer(oauthtest.ProviderCognito, ""), ClientIDs: []string{"3hq6k2examplecid0000000000"}})
		},
		oauthtest.ProviderHydra: func() (profiles.Profile, error) {
			return profiles.Hydra(profiles.HydraOptions{Issuer: s.ProviderIssuer(oauthtest.ProviderHydra, ""), Audience: "https://api.example.test", AllowAnyClient: true})
		},
		oauthtest.ProviderRFC9068: func() (profiles.Profile, error) {
			return profiles.RFC9068(profiles.RFC9068Options{Issuer: s.ProviderIssuer(oauthtest.ProviderRFC9068, ""), Audience: "https://api.example.test", AllowAnyClient: true})
		},
		oauthtest.ProviderAzureB2C: func() (profiles.Profile, error) {
			return profiles.AzureB2C(profiles.AzureB2COptions{TenantName: "contoso", TenantID: oauthtest.DefaultB2CTenantID, Policy: oauthtest.DefaultB2CPolicy,
				ClientID: b2cAPI, AllowAnyClient: true, Instance: s.URL()})
		},
	}
	for pr, f := range mk {
		t.Run(string(pr), func(t *testing.T) {
			p := mustProfile(t)(f())
			startKeys(t, s, &p)
			v := newVerifier(t, p)
			if _, err := verify(t, v, s.MintProviderT(t, pr, oauthtest.ProviderToken{Scopes: []string{"a"}})); err != nil {
				t.Fatalf("%s token refused: %v", pr, err)
			}
		})
	}
}

// TestRFC9068DiscoveryKeys uses discovery (the profile has no JWKS URL).
func TestRFC9068DiscoveryKeys(t *testing.T) {
	s := newServer(t)
	p := mustProfile(t)(profiles.RFC9068(profiles.RFC9068Options{Issuer: s.Issuer(), Audience: "https://api.example.test", AllowAnyClient: true}))
	if p.JWKSURL != "" {
		t.Fatalf("JWKSURL %q", p.JWKSURL)
	}
	if cfg := p.CacheConfig(jwkscache.Config{}); cfg.Issuer != s.Issuer() || cfg.JWKSURL != "" || cfg.Name != "rfc9068" {
		t.Fatalf("cache config %+v", cfg)
	}
	c, err := p.StartKeys(context.Background(), jwkscache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, p)
	if _, err := verify(t, v, s.MintProviderT(t, oauthtest.ProviderRFC9068, oauthtest.ProviderToken{})); err != nil {
		t.Fatal(err)
	}
}
