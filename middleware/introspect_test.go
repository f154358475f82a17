package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// opaqueAPI is an API whose issuer's tokens are opaque and introspected
// (oauthtest's endpoint, a real introspect.Source over loopback, a fixed
// clock so the budget's Retry-After is exact).
type opaqueAPI struct {
	iss *oauthtest.Server
	ts  *httptest.Server
}

func newOpaqueAPI(t *testing.T, rate float64, burst int) *opaqueAPI {
	t.Helper()
	now := time.Now()
	clock := func() time.Time { return now }
	iss := oauthtest.NewT(t, oauthtest.WithKeyAlgs("ES256"), oauthtest.WithClock(clock))
	iss.RegisterClient(oauthtest.Client{ID: "reader", Secret: "s", Scopes: []string{"orders.read"}})
	iss.SetOpaqueClient("reader", oauthtest.OpaqueRandom)
	iss.RegisterIntrospectionClient(oauthtest.IntrospectionClient{ID: "api", Secret: "api-secret"})
	src, err := introspect.New(introspect.Config{
		Issuer: iss.Issuer(), Endpoint: iss.IntrospectionURL(),
		Auth:      introspect.ClientAuth{Method: introspect.AuthClientSecretBasic, ClientID: "api", ClientSecret: "api-secret"},
		Audiences: []string{oauthtest.DefaultAudience}, ClientIDs: []string{"reader"},
		Rate: rate, Burst: burst, Now: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	v, err := jwtverify.New(jwtverify.Config{Now: clock, Issuers: []jwtverify.IssuerConfig{{
		Name: "opaque", Issuer: iss.Issuer(), Mode: jwtverify.ModeIntrospect, Introspection: src,
		Audiences: []string{oauthtest.DefaultAudience}, ClientIDs: []string{"reader"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := middleware.New(v, middleware.WithRealm("orders"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := jwtverify.FromContext(r.Context())
		_, _ = w.Write([]byte(p.ClientID()))
	})
	mux.Handle("GET /read", mw.Require(jwtverify.RequireAll("orders.read"))(ok))
	mux.Handle("GET /write", mw.Require(jwtverify.RequireAll("orders.write"))(ok))
	ts := httptest.NewServer(mw.Handler(mux))
	t.Cleanup(ts.Close)
	return &opaqueAPI{iss: iss, ts: ts}
}

func (a *opaqueAPI) token(t *testing.T) string {
	t.Helper()
	tok, err := a.iss.MintOpaque("reader")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (a *opaqueAPI) get(t *testing.T, path, tok string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, a.ts.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := a.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestOpaqueTokenOverHTTP(t *testing.T) {
	a := newOpaqueAPI(t, 0, 0)
	tok := a.token(t)
	if r := a.get(t, "/read", tok); r.StatusCode != http.StatusOK {
		t.Fatalf("read: %d", r.StatusCode)
	}
	r := a.get(t, "/write", tok)
	if r.StatusCode != http.StatusForbidden || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Fatalf("write: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	r = a.get(t, "/read", "not-a-token-anyone-issued")
	if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("unknown token: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	// Endpoint down: the cached token still works, a new one is 503 with
	// the default Retry-After and no challenge.
	a.iss.SetFault(oauthtest.EndpointIntrospect, oauthtest.Fault{Status: http.StatusBadGateway})
	if r := a.get(t, "/read", tok); r.StatusCode != http.StatusOK {
		t.Fatalf("cached token during the outage: %d", r.StatusCode)
	}
	r = a.get(t, "/read", a.token(t))
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "30" || r.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("new token during the outage: %d Retry-After %q WWW-Authenticate %q", r.StatusCode, r.Header.Get("Retry-After"), r.Header.Get("WWW-Authenticate"))
	}
}

// TestOpaqueBudgetRetryAfter: beyond the introspection budget the answer
// is 503 with the budget's Retry-After, not the default.
func TestOpaqueBudgetRetryAfter(t *testing.T) {
	a := newOpaqueAPI(t, 0.2, 1) // one call, then one every 5 s
	if r := a.get(t, "/read", a.token(t)); r.StatusCode != http.StatusOK {
		t.Fatalf("first token: %d", r.StatusCode)
	}
	r := a.get(t, "/read", a.token(t))
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "5" {
		t.Fatalf("over budget: %d Retry-After %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if n := a.iss.Requests(oauthtest.EndpointIntrospect); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
}
