package introspect

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestClientAuthentication: each method authenticates at the endpoint,
// and wrong credentials make the answer unavailable (the server refused
// us, not the token).
func TestClientAuthentication(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name     string
		auth     ClientAuth
		register crypto.PublicKey // private_key_jwt key known to the server
		optional bool             // server accepts no authentication
		want     Reason
	}{
		{name: "client_secret_basic", auth: ClientAuth{Method: AuthClientSecretBasic, ClientID: apiID, ClientSecret: apiSecret}},
		{name: "client_secret_post", auth: ClientAuth{Method: AuthClientSecretPost, ClientID: apiID, ClientSecret: apiSecret}},
		{name: "basic_wrong_secret", auth: ClientAuth{Method: AuthClientSecretBasic, ClientID: apiID, ClientSecret: "nope"}, want: ReasonEndpointDown},
		{name: "private_key_jwt_ES256", auth: ClientAuth{Method: AuthPrivateKeyJWT, ClientID: "pkj", Key: ec, KeyID: "k1"}, register: ec.Public()},
		{name: "private_key_jwt_ES384", auth: ClientAuth{Method: AuthPrivateKeyJWT, ClientID: "pkj", Key: ec384}, register: ec384.Public()},
		{name: "private_key_jwt_EdDSA", auth: ClientAuth{Method: AuthPrivateKeyJWT, ClientID: "pkj", Key: ed}, register: ed.Public()},
		{name: "private_key_jwt_RS256", auth: ClientAuth{Method: AuthPrivateKeyJWT, ClientID: "pkj", Key: rk}, register: rk.Public()},
		{name: "private_key_jwt_PS256", auth: ClientAuth{Method: AuthPrivateKeyJWT, ClientID: "pkj", Key: rk, Alg: "PS256"}, register: rk.Public()},
		{name: "private_key_jwt_wrong_key", auth: ClientAuth{Method: AuthPrivateKeyJWT, ClientID: "pkj", Key: other}, register: ec.Public(), want: ReasonEndpointDown},
		{name: "none_hydra_admin_style", auth: ClientAuth{Method: AuthNone}, optional: true},
		{name: "none_refused_by_server", auth: ClientAuth{Method: AuthNone}, want: ReasonEndpointDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, oauthtest.OpaqueRandom)
			if tt.register != nil {
				e.srv.RegisterIntrospectionClient(oauthtest.IntrospectionClient{ID: "pkj", PublicKey: tt.register})
			}
			e.srv.SetIntrospectionAuthOptional(tt.optional)
			cfg := e.config()
			cfg.Auth = tt.auth
			s := e.source(cfg)
			// Two distinct tokens: a private_key_jwt assertion is fresh
			// per call (the server refuses a replayed jti).
			for range 2 {
				if _, err := s.Introspect(context.Background(), e.token()); reason(t, err) != tt.want {
					t.Fatalf("%v, want %q", err, tt.want)
				}
			}
		})
	}
}

// TestConfigRefusals: New refuses configurations that would silently skip
// a check or weaken transport security.
func TestConfigRefusals(t *testing.T) {
	ok := Config{
		Issuer: "https://issuer.example", Endpoint: "https://issuer.example/introspect",
		Auth:      ClientAuth{Method: AuthNone},
		Audiences: []string{"api"}, ClientIDs: []string{"c"},
	}
	if _, err := New(ok); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := map[string]func(*Config){
		"no_issuer":                func(c *Config) { c.Issuer = "" },
		"no_auth_method":           func(c *Config) { c.Auth = ClientAuth{} },
		"basic_without_secret":     func(c *Config) { c.Auth = ClientAuth{Method: AuthClientSecretBasic, ClientID: "x"} },
		"pkjwt_without_key":        func(c *Config) { c.Auth = ClientAuth{Method: AuthPrivateKeyJWT, ClientID: "x"} },
		"pkjwt_small_rsa":          func(c *Config) { c.Auth = ClientAuth{Method: AuthPrivateKeyJWT, ClientID: "x", Key: small} },
		"pkjwt_alg_mismatch":       func(c *Config) { c.Auth = ClientAuth{Method: AuthPrivateKeyJWT, ClientID: "x", Key: ec, Alg: "RS256"} },
		"no_audiences":             func(c *Config) { c.Audiences = nil },
		"no_clients":               func(c *Config) { c.ClientIDs = nil },
		"http_issuer_not_loopback": func(c *Config) { c.Issuer, c.Endpoint = "http://issuer.example", "http://issuer.example/i" },
		"http_endpoint_downgrade":  func(c *Config) { c.Endpoint = "http://127.0.0.1/introspect" },
		"endpoint_with_userinfo":   func(c *Config) { c.Endpoint = "https://u:p@issuer.example/i" },
		"endpoint_with_fragment":   func(c *Config) { c.Endpoint = "https://issuer.example/i#x" },
		"issuer_with_query":        func(c *Config) { c.Issuer = "https://issuer.example?x=1" },
		"leeway_too_large":         func(c *Config) { c.Leeway = 1 << 40 },
		"leeway_negative":          func(c *Config) { c.Leeway = -2 },
		"max_age_too_large":        func(c *Config) { c.MaxAge = 1 << 62 },
		"unknown_provider":         func(c *Config) { c.Provider = 99 },
		"bad_allowed_host":         func(c *Config) { c.AllowedEndpointHosts = []string{"https://x/"} },
	}
	for name, mut := range tests {
		t.Run(name, func(t *testing.T) {
			c := ok
			mut(&c)
			if _, err := New(c); err == nil || !strings.HasPrefix(err.Error(), "introspect: config: ") {
				t.Fatalf("accepted or unprefixed: %v", err)
			}
		})
	}
	// InsecureAllowHTTP opens http to a non-loopback host, but never after
	// https.
	c := ok
	c.Issuer, c.Endpoint, c.InsecureAllowHTTP = "http://issuer.example", "http://issuer.example/i", true
	if _, err := New(c); err != nil {
		t.Fatalf("InsecureAllowHTTP: %v", err)
	}
	c = ok
	c.Endpoint, c.InsecureAllowHTTP = "http://issuer.example/i", true
	if _, err := New(c); err == nil {
		t.Fatal("http endpoint of an https issuer accepted with InsecureAllowHTTP")
	}
}

// TestDiscovery: the endpoint comes from the issuer's metadata under the
// exact-issuer and host rules.
func TestDiscovery(t *testing.T) {
	tests := []struct {
		name    string
		extra   map[string]any
		openID  bool
		rfc8414 bool
		allow   []string
		want    Reason
	}{
		{name: "openid", openID: true, rfc8414: true},
		{name: "rfc8414_only", rfc8414: true},
		{name: "foreign_issuer", openID: true, extra: map[string]any{"issuer": "https://evil.example"}, want: ReasonDiscovery},
		{name: "missing_endpoint", openID: true, extra: map[string]any{"introspection_endpoint": nil}, want: ReasonDiscovery},
		{name: "endpoint_not_string", openID: true, extra: map[string]any{"introspection_endpoint": 1}, want: ReasonDiscovery},
		{name: "endpoint_other_host", openID: true, extra: map[string]any{"introspection_endpoint": "http://127.0.0.2:1/introspect"}, want: ReasonDiscovery},
		{name: "endpoint_other_host_allowed_but_down", openID: true, extra: map[string]any{"introspection_endpoint": "http://127.0.0.2:1/introspect"}, allow: []string{"127.0.0.2:1"}, want: ReasonEndpointDown},
		{name: "endpoint_http_not_loopback", openID: true, extra: map[string]any{"introspection_endpoint": "http://issuer.example/introspect"}, want: ReasonDiscovery},
		{name: "no_metadata", want: ReasonDiscovery},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, oauthtest.OpaqueRandom, oauthtest.WithIssuerPath("/realm"))
			e.srv.SetDiscoveryServed(tt.openID, tt.rfc8414)
			e.srv.SetDiscoveryExtra(tt.extra)
			cfg := e.config()
			cfg.Endpoint = ""
			cfg.AllowedEndpointHosts = tt.allow
			s := e.source(cfg)
			_, err := s.Introspect(context.Background(), e.token())
			if reason(t, err) != tt.want {
				t.Fatalf("%v, want %q", err, tt.want)
			}
			if tt.want == "" {
				// Discovered once.
				before := e.srv.Requests(oauthtest.EndpointDiscovery)
				if _, err := s.Introspect(context.Background(), e.token()); err != nil {
					t.Fatal(err)
				}
				if e.srv.Requests(oauthtest.EndpointDiscovery) != before {
					t.Error("discovered again")
				}
			}
		})
	}
}

// TestDiscoveryFailureRetryBounded: a failed discovery is not retried on
// every token.
func TestDiscoveryFailureRetryBounded(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	e.srv.SetDiscoveryServed(false, false)
	cfg := e.config()
	cfg.Endpoint = ""
	s := e.source(cfg)
	for range 5 {
		if _, err := s.Introspect(context.Background(), e.token()); reason(t, err) != ReasonDiscovery {
			t.Fatal(err)
		}
	}
	if n := e.srv.Requests(oauthtest.EndpointDiscovery); n != 2 {
		t.Fatalf("%d metadata requests, want 2 (one try of each document)", n)
	}
	// After DefaultDiscoveryRetry the next call discovers again.
	e.srv.SetDiscoveryServed(true, true)
	e.clk.Advance(DefaultDiscoveryRetry)
	if _, err := s.Introspect(context.Background(), e.token()); err != nil {
		t.Fatalf("after the retry interval: %v", err)
	}
}
