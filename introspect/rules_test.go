package introspect

import (
	"context"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestAccept: a live opaque token of an allowed client becomes a Result
// with its scopes, client, subject, expiry and raw answer.
func TestAccept(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	s := e.source(e.config())
	tok := e.token()
	r, err := s.Introspect(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Scopes(); len(got) != 2 || got[0] != "read" || got[1] != "write" {
		t.Errorf("scopes %v", got)
	}
	if r.ClientID() != callerID || r.Subject() != callerID || r.Issuer() != e.srv.Issuer() {
		t.Errorf("client %q subject %q issuer %q", r.ClientID(), r.Subject(), r.Issuer())
	}
	if want := e.clk.Now().Add(oauthtest.DefaultTokenLifetime); !r.ExpiresAt().Equal(want) {
		t.Errorf("exp %v, want %v", r.ExpiresAt(), want)
	}
	if string(r.RawJSON()) == "" || r.IssuedAt().IsZero() || r.Audiences()[0] != oauthtest.DefaultAudience {
		t.Errorf("raw %s iat %v aud %v", r.RawJSON(), r.IssuedAt(), r.Audiences())
	}
}

// TestTokenEndpointIssuesOpaque: the token endpoint gives an opaque client
// an opaque token that introspects.
func TestTokenEndpointIssuesOpaque(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueHydra)
	cfg := e.config()
	cfg.Provider = ProviderHydra
	s := e.source(cfg)
	tok := clientToken(t, e.srv)
	if !isHydraAccessToken(tok) {
		t.Fatalf("token %q is not in Hydra's format", tok)
	}
	if _, err := s.Introspect(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}

// TestRules: each decision rule refuses (or accepts) exactly as documented.
// The issuer's answer is altered with SetIntrospectionExtra or a raw body.
func TestRules(t *testing.T) {
	now := newClock().Now().Unix()
	tests := []struct {
		name   string
		extra  map[string]any
		body   string // raw answer instead of extra
		cfg    func(*Config)
		format oauthtest.OpaqueFormat
		want   Reason // "" accepts
	}{
		{name: "active/string_true_is_bad_response", extra: map[string]any{"active": "true"}, want: ReasonBadResponse},
		{name: "active/number_is_bad_response", extra: map[string]any{"active": 1}, want: ReasonBadResponse},
		{name: "active/missing_is_bad_response", extra: map[string]any{"active": nil}, want: ReasonBadResponse},
		{name: "active/false_is_inactive", extra: map[string]any{"active": false}, want: ReasonInactive},
		{name: "exp/missing", extra: map[string]any{"exp": nil}, want: ReasonMissingClaim},
		{name: "exp/missing_waived_loudly", extra: map[string]any{"exp": nil}, cfg: func(c *Config) { c.InsecureAllowNoExpiry = true }},
		{name: "exp/past", extra: map[string]any{"exp": now - 3600}, want: ReasonExpired},
		{name: "exp/past_within_leeway", extra: map[string]any{"exp": now - 10}},
		{name: "exp/past_no_leeway", extra: map[string]any{"exp": now - 1}, cfg: func(c *Config) { c.Leeway = NoLeeway }, want: ReasonExpired},
		{name: "exp/now_is_expired", extra: map[string]any{"exp": now}, cfg: func(c *Config) { c.Leeway = NoLeeway }, want: ReasonExpired},
		{name: "exp/string", extra: map[string]any{"exp": "2000000000"}, want: ReasonBadResponse},
		{name: "exp/out_of_range", extra: map[string]any{"exp": 1e20}, want: ReasonBadResponse},
		{name: "exp/negative", extra: map[string]any{"exp": -1}, want: ReasonBadResponse},
		{name: "iss/foreign", extra: map[string]any{"iss": "https://evil.example"}, want: ReasonIssuer},
		{name: "iss/absent", extra: map[string]any{"iss": nil}},
		{name: "iss/number", extra: map[string]any{"iss": 7}, want: ReasonBadResponse},
		{name: "aud/foreign", extra: map[string]any{"aud": "https://other.example"}, want: ReasonAudience},
		{name: "aud/array_with_ours", extra: map[string]any{"aud": []string{"x", oauthtest.DefaultAudience}}},
		{name: "aud/missing", extra: map[string]any{"aud": nil}, want: ReasonMissingClaim},
		{name: "aud/empty_array", extra: map[string]any{"aud": []string{}}, want: ReasonMissingClaim},
		{name: "aud/empty_array_allowed", extra: map[string]any{"aud": []string{}}, cfg: func(c *Config) { c.AllowMissingAudience = true }},
		{name: "aud/foreign_with_missing_allowed", extra: map[string]any{"aud": "https://other.example"}, cfg: func(c *Config) { c.AllowMissingAudience = true }, want: ReasonAudience},
		{name: "aud/foreign_check_skipped", extra: map[string]any{"aud": "https://other.example"}, cfg: func(c *Config) { c.InsecureSkipAudienceCheck = true; c.Audiences = nil }},
		{name: "aud/non_string_member", extra: map[string]any{"aud": []any{1}}, want: ReasonBadResponse},
		{name: "client/unlisted", extra: map[string]any{"client_id": "intruder"}, want: ReasonClient},
		{name: "client/missing", extra: map[string]any{"client_id": nil}, want: ReasonMissingClaim},
		{name: "client/any_client", extra: map[string]any{"client_id": "intruder"}, cfg: func(c *Config) { c.AnyClient = true; c.ClientIDs = nil }},
		{name: "token_type/dpop_refused_until_binding", extra: map[string]any{"token_type": "DPoP"}, want: ReasonType},
		{name: "token_type/token_kind_refused", extra: map[string]any{"token_type": "refresh_token"}, want: ReasonType},
		{name: "token_type/bearer_any_case", extra: map[string]any{"token_type": "bearer"}},
		{name: "token_type/absent", extra: map[string]any{"token_type": nil}},
		{name: "hydra/token_use_refresh", format: oauthtest.OpaqueHydra, extra: map[string]any{"token_use": "refresh_token"}, want: ReasonType},
		{name: "hydra/token_use_missing", format: oauthtest.OpaqueHydra, extra: map[string]any{"token_use": nil}, want: ReasonMissingClaim},
		{name: "hydra/access_token", format: oauthtest.OpaqueHydra},
		{name: "keycloak/typ_refresh", extra: map[string]any{"typ": "Refresh"}, cfg: func(c *Config) { c.Provider = ProviderKeycloak }, want: ReasonType},
		{name: "keycloak/typ_bearer", extra: map[string]any{"typ": "Bearer"}, cfg: func(c *Config) { c.Provider = ProviderKeycloak }},
		{name: "nbf/future", extra: map[string]any{"nbf": now + 3600}, want: ReasonNotYetValid},
		{name: "nbf/within_leeway", extra: map[string]any{"nbf": now + 10}},
		{name: "iat/future", extra: map[string]any{"iat": now + 3600}, want: ReasonNotYetValid},
		{name: "cnf/refused", extra: map[string]any{"cnf": map[string]any{"jkt": "abc"}}, want: ReasonBound},
		{name: "cnf/accepted_for_the_caller", extra: map[string]any{"cnf": map[string]any{"x5t#S256": "abc"}}, cfg: func(c *Config) { c.AcceptConfirmation = true }},
		{name: "token_type/dpop_with_cnf", extra: map[string]any{"token_type": "DPoP", "cnf": map[string]any{"jkt": "abc"}}, cfg: func(c *Config) { c.AcceptConfirmation = true }},
		{name: "token_type/dpop_without_cnf", extra: map[string]any{"token_type": "DPoP"}, cfg: func(c *Config) { c.AcceptConfirmation = true }, want: ReasonType},
		{name: "token_type/dpop_without_accept", extra: map[string]any{"token_type": "DPoP", "cnf": map[string]any{"jkt": "abc"}}, want: ReasonBound},
		{name: "sub/number", extra: map[string]any{"sub": 1}, want: ReasonBadResponse},
		{name: "scope/null", extra: map[string]any{"scope": nil, "x": nil}},
		{name: "json/duplicate_active", body: `{"active":true,"active":true,"exp":9999999999,"aud":"https://api.example.test","client_id":"caller"}`, want: ReasonBadResponse},
		{name: "json/duplicate_nested", body: `{"active":true,"exp":9999999999,"aud":"https://api.example.test","client_id":"caller","ext":{"a":1,"a":2}}`, want: ReasonBadResponse},
		{name: "json/trailing_data", body: `{"active":true,"exp":9999999999,"aud":"https://api.example.test","client_id":"caller"} {}`, want: ReasonBadResponse},
		{name: "json/not_object", body: `[true]`, want: ReasonBadResponse},
		{name: "json/html", body: `<html>ok</html>`, want: ReasonBadResponse},
		{name: "json/raw_accept", body: `{"active":true,"exp":9999999999,"aud":"https://api.example.test","client_id":"caller"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.format
			if f == oauthtest.OpaqueJWT {
				f = oauthtest.OpaqueRandom
			}
			e := newEnv(t, f)
			cfg := e.config()
			if f == oauthtest.OpaqueHydra {
				cfg.Provider = ProviderHydra
				cfg.AllowMissingAudience = true
			}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			s := e.source(cfg)
			e.srv.SetIntrospectionExtra(tt.extra)
			if tt.body != "" {
				e.srv.SetFault(oauthtest.EndpointIntrospect, oauthtest.Fault{Body: []byte(tt.body)})
			}
			r, err := s.Introspect(context.Background(), e.token())
			if got := reason(t, err); got != tt.want {
				t.Fatalf("reason %q, want %q (err %v)", got, tt.want, err)
			}
			if tt.want == "" && r == nil {
				t.Fatal("accepted without a Result")
			}
			if e.calls() != 1 {
				t.Errorf("%d calls, want 1", e.calls())
			}
		})
	}
}

// TestRevokedTokenRefusedAfterMaxAge: revocation takes effect at the
// latest MaxAge after the last call (the documented revocation delay).
func TestRevokedTokenRefusedAfterMaxAge(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	s := e.source(e.config())
	tok := e.token()
	ctx := context.Background()
	if _, err := s.Introspect(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if !e.srv.Revoke(tok) {
		t.Fatal("token was not live")
	}
	e.clk.Advance(DefaultMaxAge - time.Second)
	if _, err := s.Introspect(ctx, tok); err != nil {
		t.Fatalf("within MaxAge the cached answer holds: %v", err)
	}
	e.clk.Advance(time.Second)
	if _, err := s.Introspect(ctx, tok); reason(t, err) != ReasonInactive {
		t.Fatalf("after MaxAge: %v, want inactive", err)
	}
	if e.calls() != 2 {
		t.Errorf("%d calls, want 2", e.calls())
	}
}

// TestRevocationEndpoint: RFC 7009 revocation by the owning client.
func TestRevocationEndpoint(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	cfg := e.config()
	cfg.MaxAge = time.Second
	s := e.source(cfg)
	tok := clientToken(t, e.srv)
	ctx := context.Background()
	if _, err := s.Introspect(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if code := revoke(t, e.srv, tok, "caller", "caller-secret"); code != 200 {
		t.Fatalf("revocation answered %d", code)
	}
	e.clk.Advance(time.Second)
	if _, err := s.Introspect(ctx, tok); reason(t, err) != ReasonInactive {
		t.Fatalf("revoked: %v, want inactive", err)
	}
}

// TestCachedUntilExp: an answer is never reused past exp (+ leeway), even
// within MaxAge.
func TestCachedUntilExp(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom, oauthtest.WithTokenLifetime(10*time.Second))
	cfg := e.config()
	cfg.Leeway = time.Second
	s := e.source(cfg)
	tok := e.token()
	if _, err := s.Introspect(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(11 * time.Second)
	if _, err := s.Introspect(context.Background(), tok); reason(t, err) != ReasonInactive {
		t.Fatalf("past exp: %v", err)
	}
	if e.calls() != 2 {
		t.Errorf("%d calls, want 2 (the cache must not outlive exp)", e.calls())
	}
}

// TestNegativeCache: a refusal by the server is reused for NegativeTTL.
func TestNegativeCache(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	s := e.source(e.config())
	junk := "not-a-live-token"
	for range 3 {
		if _, err := s.Introspect(context.Background(), junk); reason(t, err) != ReasonInactive {
			t.Fatal(err)
		}
	}
	if e.calls() != 1 {
		t.Fatalf("%d calls, want 1", e.calls())
	}
	e.clk.Advance(DefaultNegativeTTL)
	_, _ = s.Introspect(context.Background(), junk)
	if e.calls() != 2 {
		t.Fatalf("%d calls after NegativeTTL, want 2", e.calls())
	}
}

// TestAttachedOncePerResult: a consumer's view is built once per cached
// Result and shared by every hit.
func TestAttachedOncePerResult(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	s := e.source(e.config())
	tok := e.token()
	builds := 0
	build := func(r *Result) any { builds++; return r.ClientID() + "!" }
	for range 3 {
		r, err := s.Introspect(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if v := r.Attached(build); v != callerID+"!" {
			t.Fatalf("attached %v", v)
		}
	}
	if builds != 1 {
		t.Fatalf("%d builds, want 1", builds)
	}
}
