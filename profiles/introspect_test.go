package profiles_test

import (
	"context"
	"errors"
	"testing"

	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

// TestHydraIntrospection: the Hydra profile with introspection accepts
// Hydra's opaque tokens (through its admin endpoint, no client
// authentication) with the profile's audience and client list, routes
// them by the ory_at_ prefix, and refuses an unlisted client.
func TestHydraIntrospection(t *testing.T) {
	s := newServer(t)
	s.RegisterClient(oauthtest.Client{ID: "orders-worker", Secret: "s", Scopes: []string{"orders.read"}, Audiences: []string{"https://api.example.com"}})
	s.RegisterClient(oauthtest.Client{ID: "stranger", Secret: "s", Scopes: []string{"orders.read"}, Audiences: []string{"https://api.example.com"}})
	s.SetOpaqueClient("orders-worker", oauthtest.OpaqueHydra)
	s.SetOpaqueClient("stranger", oauthtest.OpaqueHydra)
	s.SetIntrospectionAuthOptional(true)
	p := mustProfile(t)(profiles.Hydra(profiles.HydraOptions{Issuer: s.Issuer(), Audience: "https://api.example.com", ClientIDs: []string{"orders-worker"}}))
	src, err := p.StartIntrospection(jwtverify.ModeIntrospect, introspect.Config{Endpoint: s.IntrospectionURL(), Auth: introspect.ClientAuth{Method: introspect.AuthNone}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if p.OpaquePrefix != "ory_at_" || p.Mode != jwtverify.ModeIntrospect {
		t.Fatalf("prefix %q mode %v", p.OpaquePrefix, p.Mode)
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(p)})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := s.MintOpaque("orders-worker")
	pr, err := v.Verify(context.Background(), tok)
	if err != nil || !pr.Has("orders.read") || pr.ClientID() != "orders-worker" {
		t.Fatalf("%v %v", pr, err)
	}
	tok, _ = s.MintOpaque("stranger")
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, jwtverify.ErrClient) {
		t.Fatalf("unlisted client: %v", err)
	}
	// Without an endpoint: refused (not in discovery).
	p2 := mustProfile(t)(profiles.Hydra(profiles.HydraOptions{Issuer: s.Issuer(), Audience: "a", AllowAnyClient: true}))
	if _, err := p2.StartIntrospection(jwtverify.ModeIntrospect, introspect.Config{Auth: introspect.ClientAuth{Method: introspect.AuthNone}}); !errors.Is(err, profiles.ErrInvalidConfig) {
		t.Fatalf("no endpoint: %v", err)
	}
}

// TestOktaIntrospection: Okta's introspection answer carries "scope",
// which the profile adds to its permission claims.
func TestOktaIntrospection(t *testing.T) {
	s := newServer(t, oauthtest.WithIssuerPath("/oauth2/default"))
	s.RegisterClient(oauthtest.Client{ID: "0oa8acv8gbBPRCZ7I5d7", Secret: "s", Scopes: []string{"orders.read"}, Audiences: []string{"api://default"}})
	s.SetOpaqueClient("0oa8acv8gbBPRCZ7I5d7", oauthtest.OpaqueRandom)
	s.RegisterIntrospectionClient(oauthtest.IntrospectionClient{ID: "api", Secret: "api-secret"})
	p := mustProfile(t)(profiles.Okta(profiles.OktaOptions{Issuer: s.Issuer(), Audience: "api://default", ClientIDs: []string{"0oa8acv8gbBPRCZ7I5d7"}, Keys: staticKeys(t, s, "")}))
	src, err := p.StartIntrospection(jwtverify.ModeJWTOrIntrospect, introspect.Config{
		Endpoint: s.IntrospectionURL(),
		Auth:     introspect.ClientAuth{Method: introspect.AuthClientSecretBasic, ClientID: "api", ClientSecret: "api-secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(p)})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := s.MintOpaque("0oa8acv8gbBPRCZ7I5d7")
	pr, err := v.Verify(context.Background(), tok)
	if err != nil || !pr.HasScope("orders.read") {
		t.Fatalf("%v %v", pr, err)
	}
	// A JWT of the same issuer still goes through the JWT pipeline.
	jwt := s.MintProviderT(t, oauthtest.ProviderOkta, oauthtest.ProviderToken{Scopes: []string{"orders.read"}})
	if pr, err := v.Verify(context.Background(), jwt); err != nil || pr.Introspected() {
		t.Fatalf("JWT: %v %v", pr, err)
	}
	if n := s.Requests(oauthtest.EndpointIntrospect); n != 1 {
		t.Fatalf("%d calls", n)
	}
	// The default endpoint is Okta's.
	p2 := mustProfile(t)(profiles.Okta(profiles.OktaOptions{Issuer: "https://acme.okta.com/oauth2/default", Audience: "api://default", AllowAnyClient: true}))
	src2, err := p2.StartIntrospection(jwtverify.ModeIntrospect, introspect.Config{Auth: introspect.ClientAuth{Method: introspect.AuthClientSecretBasic, ClientID: "api", ClientSecret: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	src2.Close()
}

// TestNoIntrospection: providers without an introspection endpoint, and
// lists that must come from the profile, are refused.
func TestNoIntrospection(t *testing.T) {
	auth := introspect.Config{Auth: introspect.ClientAuth{Method: introspect.AuthNone}}
	a0 := mustProfile(t)(profiles.Auth0(profiles.Auth0Options{Domain: "acme.us.auth0.com", Audience: "a", AllowAnyClient: true}))
	if _, err := a0.StartIntrospection(jwtverify.ModeIntrospect, auth); !errors.Is(err, profiles.ErrInvalidConfig) {
		t.Fatalf("Auth0: %v", err)
	}
	h := mustProfile(t)(profiles.Hydra(profiles.HydraOptions{Issuer: "https://hydra.example.com/", Audience: "a", AllowAnyClient: true}))
	bad := auth
	bad.Endpoint, bad.ClientIDs = "https://hydra-admin.internal/admin/oauth2/introspect", []string{"x"}
	if _, err := h.StartIntrospection(jwtverify.ModeIntrospect, bad); !errors.Is(err, profiles.ErrInvalidConfig) {
		t.Fatalf("client list in base: %v", err)
	}
	if _, err := h.StartIntrospection(jwtverify.ModeJWT, auth); !errors.Is(err, profiles.ErrInvalidConfig) {
		t.Fatalf("ModeJWT: %v", err)
	}
}
