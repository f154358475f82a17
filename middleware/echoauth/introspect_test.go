package echoauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware/echoauth"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestOpaqueTokenOverEcho: an opaque token introspected at oauthtest's
// endpoint over loopback is accepted with its scopes enforced by Require;
// an outage keeps the cached token and answers a new one 503, with the
// budget's Retry-After beyond the budget.
func TestOpaqueTokenOverEcho(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	iss := oauthtest.NewT(t, oauthtest.WithKeyAlgs("ES256"), oauthtest.WithClock(clock))
	iss.RegisterClient(oauthtest.Client{ID: "reader", Secret: "s", Scopes: []string{"orders.read"}})
	iss.SetOpaqueClient("reader", oauthtest.OpaqueHydra)
	iss.SetIntrospectionAuthOptional(true) // as Hydra's admin endpoint
	src, err := introspect.New(introspect.Config{
		Issuer: iss.Issuer(), Endpoint: iss.IntrospectionURL(), Provider: introspect.ProviderHydra,
		Auth:      introspect.ClientAuth{Method: introspect.AuthNone},
		Audiences: []string{oauthtest.DefaultAudience}, ClientIDs: []string{"reader"},
		Rate: 0.5, Burst: 2, Now: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	v, err := jwtverify.New(jwtverify.Config{Now: clock, Issuers: []jwtverify.IssuerConfig{{
		Name: "hydra", Issuer: iss.Issuer(), Mode: jwtverify.ModeIntrospect, Introspection: src, OpaquePrefix: "ory_at_",
		Audiences: []string{oauthtest.DefaultAudience}, ClientIDs: []string{"reader"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := echoauth.New(v)
	if err != nil {
		t.Fatal(err)
	}
	e := newEcho()
	h := func(c echo.Context) error { return c.String(http.StatusOK, principal(c).ClientID()) }
	e.GET("/read", h, auth.Authenticate, auth.Require(jwtverify.RequireAll("orders.read")))
	e.GET("/write", h, auth.Authenticate, auth.Require(jwtverify.RequireAll("orders.write")))
	ts := httptest.NewServer(e)
	t.Cleanup(ts.Close)
	get := func(path, tok string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, ts.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	mint := func() string {
		tok, err := iss.MintOpaque("reader")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok := mint()
	if r := get("/read", tok); r.StatusCode != http.StatusOK {
		t.Fatalf("read: %d", r.StatusCode)
	}
	if r := get("/write", tok); r.StatusCode != http.StatusForbidden {
		t.Fatalf("write: %d", r.StatusCode)
	}
	// Junk failing Hydra's format: 401 and no call.
	if r := get("/read", "ory_at_junk"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("junk: %d", r.StatusCode)
	}
	iss.SetFault(oauthtest.EndpointIntrospect, oauthtest.Fault{Status: http.StatusInternalServerError})
	if r := get("/read", tok); r.StatusCode != http.StatusOK {
		t.Fatalf("cached token during the outage: %d", r.StatusCode)
	}
	if r := get("/read", mint()); r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "30" {
		t.Fatalf("new token during the outage: %d %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	// The outage spent the second call of the budget: the next new token is
	// refused by the budget, with its Retry-After (one call per 2 s).
	iss.ClearFault(oauthtest.EndpointIntrospect)
	if r := get("/read", mint()); r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "2" {
		t.Fatalf("over budget: %d %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if n := iss.Requests(oauthtest.EndpointIntrospect); n != 2 {
		t.Fatalf("%d introspection calls, want 2", n)
	}
}
