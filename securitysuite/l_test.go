package securitysuite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// Rows L1-L11: opaque access tokens accepted by RFC 7662 introspection
// (issue 19). The fixture's issuer is jwt-or-introspect: its JWTs go
// through the JWT pipeline, every other token to a real introspect.Source
// on oauthtest's introspection endpoint over loopback, on the fixture's
// clock; each row runs through net/http, Echo and gRPC.

// lFixture is a fixture whose issuer introspects opaque tokens; tune
// changes the Source's configuration.
func lFixture(t *testing.T, tune func(*introspect.Config)) *fixture {
	t.Helper()
	return newFixture(t, fixtureOptions{
		issuer: func(_ testing.TB, f *fixture) {
			f.iss.RegisterIntrospectionClient(oauthtest.IntrospectionClient{ID: "api", Secret: "api-secret"})
		},
		issuerConfig: func(f *fixture, ic *jwtverify.IssuerConfig) {
			cfg := introspect.Config{
				Name: "oauthtest", Issuer: f.iss.Issuer(), Endpoint: f.iss.IntrospectionURL(), HTTPClient: f.hc,
				Auth:      introspect.ClientAuth{Method: introspect.AuthClientSecretBasic, ClientID: "api", ClientSecret: "api-secret"},
				Audiences: ic.Audiences, ClientIDs: ic.ClientIDs, Now: f.clk.Now,
			}
			if tune != nil {
				tune(&cfg)
			}
			src, err := introspect.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(src.Close)
			ic.Mode, ic.Introspection = jwtverify.ModeJWTOrIntrospect, src
		},
	})
}

func (f *fixture) opaque(t *testing.T) string {
	t.Helper()
	tok, err := f.iss.MintOpaque(oauthtest.DefaultClientID)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) introspections() int64 { return f.iss.Requests(oauthtest.EndpointIntrospect) }

// lRow runs check with a fresh fixture per transport.
func lRow(t *testing.T, tune func(*introspect.Config), check func(t *testing.T, f *fixture, tr transport)) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			check(t, lFixture(t, tune), tr)
		})
	}
}

// TestL1PlainHTTPRefused: an introspection endpoint over plain http is
// refused outside loopback: at New for a configured one, and a discovered
// one is never called (the API answers 503, never accepts).
func TestL1PlainHTTPRefused(t *testing.T) {
	_, err := introspect.New(introspect.Config{
		Issuer: "https://idp.example.com", Endpoint: "http://idp.example.com/introspect",
		Auth: introspect.ClientAuth{Method: introspect.AuthNone}, InsecureSkipAudienceCheck: true, AnyClient: true,
	})
	if err == nil {
		t.Fatal("a plain http endpoint of an https issuer was accepted")
	}
	lRow(t, func(c *introspect.Config) { c.Endpoint = "" }, func(t *testing.T, f *fixture, tr transport) {
		// The issuer's metadata names an http endpoint on another host.
		f.iss.SetDiscoveryExtra(map[string]any{"introspection_endpoint": "http://192.0.2.1/introspect"})
		f.checkToken(t, tr, "discovered_http_endpoint", f.opaque(t), unavailI)
		if n := f.introspections(); n != 0 {
			t.Fatalf("%d calls", n)
		}
	})
}

// TestL2StringActiveRefused: "active": "true" (a string) is never an
// acceptance: the answer is unparsable, 503 (bad_response).
func TestL2StringActiveRefused(t *testing.T) {
	lRow(t, nil, func(t *testing.T, f *fixture, tr transport) {
		f.iss.SetIntrospectionExtra(map[string]any{"active": "true"})
		f.checkToken(t, tr, "string_active", f.opaque(t), unavailI)
		if !strings.Contains(f.logs.String(), "bad_response") {
			t.Fatal("the log does not name bad_response")
		}
	})
}

// TestL3MissingExpRefused: an active answer without exp is refused.
func TestL3MissingExpRefused(t *testing.T) {
	lRow(t, nil, func(t *testing.T, f *fixture, tr transport) {
		f.iss.SetIntrospectionExtra(map[string]any{"exp": nil})
		f.checkToken(t, tr, "no_exp", f.opaque(t), invalidT)
	})
}

// TestL4ForeignIssRefused: an answer naming another issuer is refused.
func TestL4ForeignIssRefused(t *testing.T) {
	lRow(t, nil, func(t *testing.T, f *fixture, tr transport) {
		f.iss.SetIntrospectionExtra(map[string]any{"iss": "https://evil.example"})
		f.checkToken(t, tr, "foreign_iss", f.opaque(t), invalidT)
	})
}

// TestL5RefreshTokensRefused: Hydra's token_use refresh_token is refused,
// and an ory_rt_ token without a call.
func TestL5RefreshTokensRefused(t *testing.T) {
	hydra := func(c *introspect.Config) { c.Provider = introspect.ProviderHydra }
	lRow(t, hydra, func(t *testing.T, f *fixture, tr transport) {
		f.iss.SetOpaqueClient(oauthtest.DefaultClientID, oauthtest.OpaqueHydra)
		f.iss.SetIntrospectionExtra(map[string]any{"token_use": "refresh_token"})
		f.checkToken(t, tr, "token_use_refresh", f.opaque(t), invalidT)
		calls := f.introspections()
		f.checkToken(t, tr, "ory_rt", "ory_rt_"+strings.Repeat("A", 43)+"."+strings.Repeat("B", 43), invalidT)
		if n := f.introspections(); n != calls {
			t.Fatalf("%d calls for an ory_rt_ token", n-calls)
		}
	})
}

// TestL6AmplificationBound: a flood of distinct tokens that pass the
// pre-check makes at most Burst calls (Rate per second after), is 503
// with Retry-After beyond, and a cached token keeps working meanwhile.
func TestL6AmplificationBound(t *testing.T) {
	const burst = 4
	lRow(t, func(c *introspect.Config) { c.Rate, c.Burst = 0.01, burst }, func(t *testing.T, f *fixture, tr transport) {
		cached := f.opaque(t)
		f.checkToken(t, tr, "cached", cached, accept)
		for i := 0; i < 3*burst; i++ {
			a := f.send(t, tr, bearer(fmt.Sprintf("junk-%04d-passes-the-b64token-check", i)))
			if i < burst-1 {
				expect(t, tr, a, invalidT, "") // the server answers inactive
			} else {
				expect(t, tr, a, unavailI, "")
				if tr != trGRPC && a.header.Get("Retry-After") != "100" {
					t.Fatalf("Retry-After %q, want the budget's 100", a.header.Get("Retry-After"))
				}
			}
		}
		if n := f.introspections(); n != burst {
			t.Fatalf("%d calls for the flood, want %d", n, burst)
		}
		f.checkToken(t, tr, "cached_after_flood", cached, accept)
	})
}

// TestL7JWTNeverIntrospected: a JWT of the issuer that fails a check (bad
// signature, expired) is refused without any call.
func TestL7JWTNeverIntrospected(t *testing.T) {
	lRow(t, nil, func(t *testing.T, f *fixture, tr transport) {
		bad := f.mint(t, oauthtest.WithSignatureFunc(func(_ string, sig []byte) []byte { sig[len(sig)/2] ^= 1; return sig }))
		f.checkToken(t, tr, "bad_signature", bad, invalidT)
		f.checkToken(t, tr, "expired", f.mint(t, oauthtest.WithLifetime(-time.Hour)), expiredT)
		if n := f.introspections(); n != 0 {
			t.Fatalf("%d calls for refused JWTs", n)
		}
	})
}

// TestL8ForeignJWSNotSent: a JWS naming another issuer is refused and
// never sent to our introspection endpoint (it would leak another
// issuer's token), even by an introspect-mode issuer.
func TestL8ForeignJWSNotSent(t *testing.T) {
	lRow(t, nil, func(t *testing.T, f *fixture, tr transport) {
		tok := f.mint(t, oauthtest.WithClaims(map[string]any{"iss": "https://other.example"}))
		f.checkToken(t, tr, "foreign_jws", tok, invalidT)
		if n := f.introspections(); n != 0 {
			t.Fatalf("%d calls for a foreign JWS", n)
		}
	})
}

// TestL9RevocationDelay: a revoked token is accepted at most MaxAge after
// the call that accepted it.
func TestL9RevocationDelay(t *testing.T) {
	const maxAge = 20 * time.Second
	lRow(t, func(c *introspect.Config) { c.MaxAge = maxAge }, func(t *testing.T, f *fixture, tr transport) {
		tok := f.opaque(t)
		f.checkToken(t, tr, "live", tok, accept)
		f.iss.Revoke(tok)
		f.clk.Advance(maxAge - time.Second)
		f.checkToken(t, tr, "revoked_within_max_age", tok, accept)
		f.clk.Advance(time.Second)
		f.checkToken(t, tr, "revoked_after_max_age", tok, invalidT)
	})
}

// TestL10OutageFailsClosed: with the endpoint down (5xx, cut, garbage) a
// cached token keeps working, a new one is 503, never 401, never accepted.
func TestL10OutageFailsClosed(t *testing.T) {
	lRow(t, nil, func(t *testing.T, f *fixture, tr transport) {
		cached := f.opaque(t)
		f.checkToken(t, tr, "cached", cached, accept)
		for i, fault := range []oauthtest.Fault{{Status: http.StatusInternalServerError}, {Truncate: true}, {Body: []byte("<html>")}} {
			f.iss.SetFault(oauthtest.EndpointIntrospect, fault)
			f.checkToken(t, tr, fmt.Sprintf("new_%d", i), f.opaque(t), unavailI)
			f.checkToken(t, tr, fmt.Sprintf("cached_%d", i), cached, accept)
		}
	})
}

// TestL11BoundAnswerRefused: an answer with a cnf is refused unless the
// Source hands the binding to the verifier (AcceptConfirmation) and the
// issuer's binding policy accepts it: here policy off, so refused either
// way.
func TestL11BoundAnswerRefused(t *testing.T) {
	cnf := map[string]any{"cnf": map[string]any{"x5t#S256": strings.Repeat("A", 43)}}
	for _, accept := range []bool{false, true} {
		t.Run(fmt.Sprint("accept_confirmation_", accept), func(t *testing.T) {
			lRow(t, func(c *introspect.Config) { c.AcceptConfirmation = accept }, func(t *testing.T, f *fixture, tr transport) {
				f.iss.SetIntrospectionExtra(cnf)
				tok := f.opaque(t)
				f.checkToken(t, tr, "bound", tok, invalidT)
				_, err := f.v.Verify(context.Background(), tok)
				var e *jwtverify.Error
				if !errors.As(err, &e) || e.Reason != jwtverify.ReasonType {
					t.Fatalf("Verify: %v", err)
				}
			})
		})
	}
}
