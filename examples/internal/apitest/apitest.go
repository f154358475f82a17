// Package apitest holds the test the example HTTP programs share: each
// starts against oauthtest and makes an allowed, a denied and an anonymous
// call.
package apitest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/m2mauth/m2mauth/examples/internal/apiconfig"
	"github.com/m2mauth/m2mauth/internal/exampleapi"
	"github.com/m2mauth/m2mauth/internal/exampletest"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// Run is an example program's entry point: it serves until ctx ends and
// sends its address on ready once listening.
type Run = exampleapi.Run[*apiconfig.Config]

// RunHTTPProgram runs an example HTTP program (its run function), configured
// as from a shell, against an in-process issuer: a client with the scope is
// served, one without it is refused with 403, an anonymous call gets 401,
// the forbidden decision is counted under transport, and each refusal is
// one log record naming route (never a token).
func RunHTTPProgram(t *testing.T, program, transport, route string, run Run) {
	t.Helper()
	iss := oauthtest.NewT(t)
	iss.RegisterClient(oauthtest.Client{ID: "worker", Secret: "s1", Scopes: []string{"orders.read"}, Audiences: []string{"https://orders.example.test"}})
	iss.RegisterClient(oauthtest.Client{ID: "auditor", Secret: "s2", Scopes: []string{"audit.read"}, Audiences: []string{"https://orders.example.test"}})

	env := map[string]string{
		"M2M_PROVIDER":   "generic",
		"M2M_ISSUER":     iss.Issuer(),
		"M2M_AUDIENCE":   "https://orders.example.test",
		"M2M_CLIENT_IDS": "worker,auditor",
	}
	cfg, err := apiconfig.Parse(program, []string{"-addr", "127.0.0.1:0", "-scope", "orders.read"},
		func(k string) string { return env[k] }, "127.0.0.1:8080", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var logs strings.Builder
	addr, stop := exampletest.Start(ctx, t, cfg, slog.New(slog.NewTextHandler(&logs, nil)), run)

	base := &http.Transport{}
	defer base.CloseIdleConnections()
	hctx := context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: base})
	get := func(c *http.Client) (int, string) {
		t.Helper()
		resp, err := c.Get("http://" + addr + "/orders")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate") + string(b)
	}
	client := func(id, secret string) *http.Client {
		cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: iss.TokenURL()}
		return &http.Client{Transport: &oauth2.Transport{Source: cc.TokenSource(hctx), Base: base}}
	}

	if code, body := get(client("worker", "s1")); code != http.StatusOK || !strings.Contains(body, `"caller":"worker"`) {
		t.Errorf("allowed call: %d %s", code, body)
	}
	if code, body := get(client("auditor", "s2")); code != http.StatusForbidden || !strings.Contains(body, `scope="orders.read"`) {
		t.Errorf("denied call: %d %s", code, body)
	}
	if code, _ := get(&http.Client{Transport: base}); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	resp, err := (&http.Client{Transport: base}).Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `m2mauth_authorization_decisions_total{result="forbidden",transport="` + transport + `"} 1`; !strings.Contains(string(b), want) {
		t.Errorf("metrics lack the forbidden decision:\n%s", b)
	}

	stop()
	out := logs.String()
	if n := strings.Count(out, `msg="m2mauth: request refused"`); n != 2 {
		t.Errorf("%d refusal records, want 2 (403 and 401):\n%s", n, out)
	}
	routeAttr := "route=" + route
	if strings.Contains(route, " ") {
		routeAttr = "route=" + strconv.Quote(route)
	}
	for _, want := range []string{
		`transport=` + transport + ` result=forbidden reason=insufficient_scope issuer=rfc9068 ` + routeAttr + ` client_id=auditor missing=[orders.read]`,
		`transport=` + transport + ` result=unauthenticated reason=no_credentials issuer=none ` + routeAttr + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no record %s in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "eyJ") {
		t.Errorf("a token was logged:\n%s", out)
	}
}
