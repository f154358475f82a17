package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// The API's credential at the issuers' introspection endpoints.
const (
	apiClientID = "orders-api"
	apiSecret   = "s3cret-of-the-orders-api"
)

// newOpaqueIssuer is newIssuer that also serves introspection to the API
// (client_secret_basic/post with apiSecret).
func newOpaqueIssuer(t testing.TB, opts ...oauthtest.Option) *oauthtest.Server {
	t.Helper()
	is := oauthtest.NewT(t, opts...)
	is.RegisterClient(oauthtest.Client{ID: "reader", Scopes: []string{"orders.read"}})
	is.RegisterClient(oauthtest.Client{ID: "writer", Scopes: []string{"orders.read", "orders.write"}})
	is.RegisterClient(oauthtest.Client{ID: "stranger", Scopes: []string{"orders.read", "orders.write"}})
	is.RegisterIntrospectionClient(oauthtest.IntrospectionClient{ID: apiClientID, Secret: apiSecret})
	return is
}

// secretFile writes apiSecret (with the trailing newline editors add) to a
// 0600 file and returns its path.
func secretFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "introspection-secret")
	if err := os.WriteFile(p, []byte(apiSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// opaqueIssuerBlock is an rfc9068 issuer named name for is whose opaque
// tokens are introspected; intro is the YAML of the introspection block's
// fields (indented by 6).
func opaqueIssuerBlock(name string, is *oauthtest.Server, intro string) string {
	return issuerBlock(name, is) + "    introspection:\n" + intro
}

// basicIntro is an introspection block: jwt-or-introspect at the issuer's
// endpoint with client_secret_basic read from secretPath, plus extra lines.
func basicIntro(is *oauthtest.Server, secretPath, extra string) string {
	return fmt.Sprintf(`      mode: jwt-or-introspect
      endpoint: %s
      client_auth:
        method: client_secret_basic
        client_id: %s
        client_secret_file: %s
`, is.IntrospectionURL(), apiClientID, secretPath) + extra
}

// clock is a test clock: real time plus an offset the test advances.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

func withClock(c *clock) func(*config) { return func(cf *config) { cf.now = c.now } }

func calls(is *oauthtest.Server) int64 { return is.Requests(oauthtest.EndpointIntrospect) }

// An opaque token is accepted through /auth with the identity headers,
// its scopes enforced per route; JWTs of the same issuer still work
// (jwt-or-introspect); an unlisted client and junk are refused; the calls
// show in /metrics.
func TestOpaqueTokenThroughForwardAuth(t *testing.T) {
	is := newOpaqueIssuer(t)
	d := startDaemon(t, policyDoc(opaqueIssuerBlock("opq", is, basicIntro(is, secretFile(t), ""))), 0)
	reader, err := is.MintOpaque("reader")
	if err != nil {
		t.Fatal(err)
	}
	resp := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", reader)
	if resp.StatusCode != 200 {
		t.Fatalf("opaque reader GET: %d %v", resp.StatusCode, resp.Header)
	}
	for h, want := range map[string]string{"X-Auth-Client-Id": "reader", "X-Auth-Subject": "reader", "X-Auth-Issuer": "opq", "X-Auth-Scopes": "orders.read"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if s := forward(t, d.httpAddr, "caddy", "POST", "/orders/", reader).StatusCode; s != 403 {
		t.Fatalf("opaque reader POST (lacks orders.write): %d", s)
	}
	writer, _ := is.MintOpaque("writer")
	if s := forward(t, d.httpAddr, "caddy", "POST", "/orders/", writer).StatusCode; s != 200 {
		t.Fatalf("opaque writer POST: %d", s)
	}
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", is.MintT(t, oauthtest.WithClient("reader"))).StatusCode; s != 200 {
		t.Fatalf("a JWT of the same issuer: %d", s)
	}
	stranger, _ := is.MintOpaque("stranger")
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", stranger).StatusCode; s != 401 {
		t.Fatalf("an unlisted client: %d", s)
	}
	if n := calls(is); n != 3 {
		t.Fatalf("introspection calls %d, want 3 (reader once though used twice, writer, stranger)", n)
	}
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", "not-a-token-we-issued").StatusCode; s != 401 {
		t.Fatalf("junk: %d", s)
	}
	m := scrape(t, d.httpAddr)
	for _, want := range []string{
		`m2mauth_introspection_calls_total{reason="none",result="active",source="opq"} 2`,
		`m2mauth_introspection_cache_lookups_total{result="hit",source="opq"}`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(m, "introspection"))
		}
	}
	if strings.Contains(m, reader) || strings.Contains(d.logs.String(), reader) || strings.Contains(d.logs.String(), apiSecret) {
		t.Fatal("a token or the secret leaked into metrics or logs")
	}
}

func scrape(t testing.TB, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// A revoked token is still accepted from the cache until max_age (the
// revocation delay), then refused.
func TestRevokedOpaqueTokenRefusedAfterMaxAge(t *testing.T) {
	is := newOpaqueIssuer(t)
	var c clock
	d := startDaemon(t, policyDoc(opaqueIssuerBlock("opq", is, basicIntro(is, secretFile(t), "      max_age: 10s\n"))), 0, withClock(&c))
	tok, _ := is.MintOpaque("reader")
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", tok).StatusCode; s != 200 {
		t.Fatalf("before revocation: %d", s)
	}
	if !is.Revoke(tok) {
		t.Fatal("not revoked")
	}
	c.advance(9 * time.Second)
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", tok).StatusCode; s != 200 {
		t.Fatalf("within max_age the cached answer stands: %d", s)
	}
	if n := calls(is); n != 1 {
		t.Fatalf("calls %d, want 1", n)
	}
	c.advance(2 * time.Second)
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", tok).StatusCode; s != 401 {
		t.Fatalf("after max_age a revoked token must be refused: %d", s)
	}
}

// Introspection endpoint down: cached tokens keep working, new ones get
// 503 with Retry-After (never 401, never accepted).
func TestIntrospectionEndpointDown(t *testing.T) {
	is := newOpaqueIssuer(t)
	d := startDaemon(t, policyDoc(opaqueIssuerBlock("opq", is, basicIntro(is, secretFile(t), ""))), 0)
	cached, _ := is.MintOpaque("reader")
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", cached).StatusCode; s != 200 {
		t.Fatalf("before: %d", s)
	}
	fresh, _ := is.MintOpaque("reader")
	for _, f := range []oauthtest.Fault{{Status: 503}, {Body: []byte("<html>")}} {
		is.SetFault(oauthtest.EndpointIntrospect, f)
		if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", cached).StatusCode; s != 200 {
			t.Fatalf("%+v: a cached token: %d", f, s)
		}
		resp := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", fresh)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%+v: a new token: %d Retry-After %q", f, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	is.ClearFault(oauthtest.EndpointIntrospect)
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", fresh).StatusCode; s != 200 {
		t.Fatalf("after recovery (503 is never cached): %d", s)
	}
}

// The credential: client_secret_basic from a file, client_secret_post from
// an environment variable, private_key_jwt from a PEM file; a wrong secret
// is never an acceptance.
func TestIntrospectionClientAuthSecrets(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPath := filepath.Join(t.TempDir(), "api-key.pem")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrong, []byte("not-the-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("M2MAUTHD_TEST_INTROSPECTION_SECRET", apiSecret)
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"basic from file", "method: client_secret_basic\n        client_id: orders-api\n        client_secret_file: " + secretFile(t), 200},
		{"post from env", "method: client_secret_post\n        client_id: orders-api\n        client_secret_env: M2MAUTHD_TEST_INTROSPECTION_SECRET", 200},
		{"private_key_jwt", "method: private_key_jwt\n        client_id: key-api\n        private_key_file: " + keyPath, 200},
		{"wrong secret", "method: client_secret_basic\n        client_id: orders-api\n        client_secret_file: " + wrong, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := newOpaqueIssuer(t)
			is.RegisterIntrospectionClient(oauthtest.IntrospectionClient{ID: "key-api", PublicKey: &key.PublicKey})
			intro := fmt.Sprintf("      mode: jwt-or-introspect\n      endpoint: %s\n      client_auth:\n        %s\n", is.IntrospectionURL(), tc.auth)
			d := startDaemon(t, policyDoc(opaqueIssuerBlock("opq", is, intro)), 0)
			tok, _ := is.MintOpaque("reader")
			if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", tok).StatusCode; s != tc.want {
				t.Fatalf("status %d, want %d", s, tc.want)
			}
			if calls(is) != 1 {
				t.Fatalf("calls %d", calls(is))
			}
		})
	}
}

// lineOfText returns the 1-based line of doc holding sub; "#2 sub": the
// second such line.
func lineOfText(t *testing.T, doc, sub string) int {
	t.Helper()
	nth := 1
	if rest, ok := strings.CutPrefix(sub, "#2 "); ok {
		sub, nth = rest, 2
	}
	for i, l := range strings.Split(doc, "\n") {
		if strings.Contains(l, sub) {
			if nth--; nth == 0 {
				return i + 1
			}
		}
	}
	t.Fatalf("%q not in the document", sub)
	return 0
}

// Bad introspection blocks are refused with FILE:LINE: field: message, by
// `m2mauthd check` (offline) as by the daemon; no secret is echoed.
func TestIntrospectionBadConfigs(t *testing.T) {
	is := newOpaqueIssuer(t)
	sf := secretFile(t)
	good := basicIntro(is, sf, "")
	hydra := func(intro string) string {
		return fmt.Sprintf("  - name: hy\n    profile: hydra\n    options:\n      issuer: %s\n      audience: %s\n      client_ids: [reader]\n    introspection:\n%s",
			is.Issuer(), oauthtest.DefaultAudience, intro)
	}
	for _, tc := range []struct {
		name, issuers, at, field, msg string
	}{
		{"mode", opaqueIssuerBlock("a", is, "      mode: opaque\n"), "mode: opaque", "issuers[0].introspection.mode", "jwt, introspect or jwt-or-introspect"},
		{"jwt with fields", opaqueIssuerBlock("a", is, "      mode: jwt\n      max_age: 5s\n"), "mode: jwt", "issuers[0].introspection.mode", "jwt accepts JWTs only"},
		{"inline secret", opaqueIssuerBlock("a", is, strings.Replace(good, "client_secret_file: "+sf, "client_secret: hunter2", 1)), "client_secret: hunter2", "issuers[0].introspection.client_auth.client_secret", "never written in the policy file"},
		{"inline secret in the block", opaqueIssuerBlock("a", is, good+"      client_secret: hunter2\n"), "      client_secret: hunter2", "issuers[0].introspection.client_secret", "never written in the policy file"},
		{"missing secret file", opaqueIssuerBlock("a", is, basicIntro(is, sf+".missing", "")), "client_secret_file:", "issuers[0].introspection.client_auth.client_secret_file", "cannot read"},
		{"unset env", opaqueIssuerBlock("a", is, strings.Replace(good, "client_secret_file: "+sf, "client_secret_env: M2MAUTHD_TEST_UNSET_VARIABLE", 1)), "client_secret_env:", "issuers[0].introspection.client_auth.client_secret_env", "unset, empty"},
		{"bad env name", opaqueIssuerBlock("a", is, strings.Replace(good, "client_secret_file: "+sf, "client_secret_env: 1-x", 1)), "client_secret_env:", "issuers[0].introspection.client_auth.client_secret_env", "environment variable name"},
		{"file and env", opaqueIssuerBlock("a", is, good+"        client_secret_env: X\n"), "client_secret_file:", "issuers[0].introspection.client_auth.client_secret_file", "exactly one"},
		{"no method", opaqueIssuerBlock("a", is, strings.Replace(good, "method: client_secret_basic", "method: password", 1)), "method: password", "issuers[0].introspection.client_auth.method", "none, client_secret_basic"},
		{"none with client id", opaqueIssuerBlock("a", is, strings.Replace(strings.Replace(good, "method: client_secret_basic", "method: none", 1), "        client_secret_file: "+sf+"\n", "", 1)), "client_id: orders-api", "issuers[0].introspection.client_auth.client_id", "not used by method none"},
		{"private key not pem", opaqueIssuerBlock("a", is, strings.Replace(strings.Replace(good, "method: client_secret_basic", "method: private_key_jwt", 1), "client_secret_file:", "private_key_file:", 1)), "private_key_file:", "issuers[0].introspection.client_auth.private_key_file", "no PEM block"},
		{"prefix with dot", opaqueIssuerBlock("a", is, good+"      opaque_prefix: ory.at\n"), "opaque_prefix:", "issuers[0].introspection.opaque_prefix", "without a dot"},
		{"negative concurrency", opaqueIssuerBlock("a", is, good+"      concurrency: -1\n"), "concurrency:", "issuers[0].introspection.concurrency", "must not be negative"},
		{"max_age too long", opaqueIssuerBlock("a", is, good+"      max_age: 2h\n"), "max_age:", "issuers[0].introspection.max_age", "at most 1h"},
		{"bad duration", opaqueIssuerBlock("a", is, good+"      timeout: soon\n"), "timeout:", "", "not a duration"},
		{"unknown field", opaqueIssuerBlock("a", is, good+"      budget: 3\n"), "budget:", "issuers[0].introspection.budget", "unknown field"},
		{"plain http endpoint", opaqueIssuerBlock("a", is, strings.Replace(good, is.IntrospectionURL(), "http://idp.example.com/introspect", 1)), "endpoint:", "issuers[0].introspection.endpoint", "http is refused for a non-loopback host (use https, or set insecure_allow_http)"},
		{"empty block", issuerBlock("a", is) + "    introspection:\n", "introspection:", "issuers[0].introspection", "must be a mapping"},
		{"profile without introspection", fmt.Sprintf("  - name: a0\n    profile: auth0\n    options:\n      domain: tenant.auth0.com\n      audience: x\n      client_ids: [reader]\n    introspection:\n%s", good), "mode: jwt-or-introspect", "issuers[0].introspection.mode", "no token introspection endpoint"},
		{"hydra without endpoint", hydra("      mode: introspect\n      client_auth:\n        method: none\n"), "mode: introspect", "issuers[0].introspection.endpoint", "not in discovery"},
		{"two without prefix", opaqueIssuerBlock("a", is, good) + opaqueIssuerBlock("b", newOpaqueIssuer(t), good), "#2 mode: jwt-or-introspect", "issuers[1].introspection.opaque_prefix", "both introspect opaque tokens without an opaque_prefix"},
		{"overlapping prefixes", opaqueIssuerBlock("a", is, good+"      opaque_prefix: ory_\n") + hydra("      mode: introspect\n      endpoint: "+is.IntrospectionURL()+"\n      client_auth:\n        method: none\n"), "mode: introspect", "issuers[1].introspection.opaque_prefix", "overlap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := policyDoc(tc.issuers)
			path := filepath.Join(t.TempDir(), "policy.yaml")
			writeFile(t, path, doc)
			var out, errb strings.Builder
			if code := check([]string{path}, &out, &errb); code != 1 {
				t.Fatalf("check: exit %d, out %q", code, out.String())
			}
			line := lineOfText(t, doc, tc.at)
			prefix := fmt.Sprintf("%s:%d: %s", path, line, tc.field)
			if tc.field == "" {
				prefix = fmt.Sprintf("%s:%d:", path, line)
			}
			got := errb.String()
			if !strings.Contains(got, prefix) || !strings.Contains(got, tc.msg) {
				t.Fatalf("got\n%s\nwant %q ... %q", got, prefix, tc.msg)
			}
			if strings.Contains(got, "hunter2") || strings.Contains(got, apiSecret) {
				t.Fatalf("a secret is echoed: %s", got)
			}
			if _, err := loadPolicyFile(path); err == nil {
				t.Fatal("the daemon's loader accepted it")
			}
		})
	}
	// And the good block passes check, offline.
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, path, policyDoc(opaqueIssuerBlock("a", is, good)))
	var out, errb strings.Builder
	before := calls(is)
	if code := check([]string{path}, &out, &errb); code != 0 || !strings.Contains(out.String(), "ok (1 issuers") {
		t.Fatalf("check of a good policy: %d %s %s", code, out.String(), errb.String())
	}
	if calls(is) != before || is.Requests(oauthtest.EndpointDiscovery) != 0 {
		t.Fatal("check without -fetch made a request")
	}
}

// A reload that keeps the issuer keeps its Source: a cached token makes no
// new call. A reload that changes the issuer's introspection starts a new
// Source and closes the old one; one that removes it closes it too.
func TestReloadReusesAndClosesIntrospectionSources(t *testing.T) {
	is := newOpaqueIssuer(t)
	other := newIssuer(t)
	sf := secretFile(t)
	block := opaqueIssuerBlock("opq", is, basicIntro(is, sf, ""))
	d := startDaemon(t, policyDoc(block), 0)
	tok, _ := is.MintOpaque("reader")
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", tok).StatusCode; s != 200 {
		t.Fatalf("before: %d", s)
	}
	first := onlySource(t, d.engine)

	// Keep "opq", add an issuer and edit a route.
	if err := d.engine.Reload(writeAndReturn(t, d.policy, strings.Replace(policyDoc(block, issuerBlock("second", other)), "all_roles: [admin]", "all_roles: [root]", 1))); err != nil {
		t.Fatal(err)
	}
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", tok).StatusCode; s != 200 {
		t.Fatalf("after a reload keeping the issuer: %d", s)
	}
	if n := calls(is); n != 1 {
		t.Fatalf("introspection calls %d after the reload, want 1: the Source (and its cache) was not reused", n)
	}
	if onlySource(t, d.engine) != first {
		t.Fatal("a new Source for an unchanged issuer")
	}
	d.engine.Wait()
	if _, err := first.Introspect(context.Background(), tok); err != nil {
		t.Fatalf("the kept Source was closed: %v", err)
	}

	// Change the issuer's introspection (max_age): a new Source, the old
	// one closed.
	if err := d.engine.Reload(writeAndReturn(t, d.policy, policyDoc(opaqueIssuerBlock("opq", is, basicIntro(is, sf, "      max_age: 30s\n"))))); err != nil {
		t.Fatal(err)
	}
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", tok).StatusCode; s != 200 {
		t.Fatalf("after a reload changing the issuer: %d", s)
	}
	if n := calls(is); n != 2 {
		t.Fatalf("calls %d, want 2 (a new Source starts with an empty cache)", n)
	}
	second := onlySource(t, d.engine)
	d.engine.Wait()
	assertClosed(t, first, tok)

	// Remove the issuer: its Source is closed.
	if err := d.engine.Reload(writeAndReturn(t, d.policy, policyDoc(issuerBlock("second", other)))); err != nil {
		t.Fatal(err)
	}
	d.engine.Wait()
	assertClosed(t, second, tok)
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", tok).StatusCode; s != 401 {
		t.Fatalf("an opaque token without an introspecting issuer: %d", s)
	}
}

func onlySource(t *testing.T, e *Engine) *introspect.Source {
	t.Helper()
	s := e.cur.Load()
	if len(s.sources) != 1 {
		t.Fatalf("%d sources", len(s.sources))
	}
	for _, src := range s.sources {
		return src
	}
	return nil
}

func assertClosed(t *testing.T, src *introspect.Source, tok string) {
	t.Helper()
	src.Forget(tok)
	_, err := src.Introspect(context.Background(), tok)
	var ie *introspect.Error
	if !errors.As(err, &ie) || ie.Reason != introspect.ReasonClosed {
		t.Fatalf("the dropped Source is not closed: %v", err)
	}
}

// A check in flight on the old policy finishes there, introspection call
// included; the Source the new policy dropped is closed after it.
func TestInFlightIntrospectionFinishesOnItsPolicy(t *testing.T) {
	is := newOpaqueIssuer(t)
	other := newIssuer(t)
	path := filepath.Join(t.TempDir(), "p.yaml")
	writeFile(t, path, policyDoc(opaqueIssuerBlock("opq", is, basicIntro(is, secretFile(t), ""))))
	p, err := loadPolicyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(context.Background(), p, EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	held := e.acquire()
	src := onlySource(t, e)
	writeFile(t, path, policyDoc(issuerBlock("other", other)))
	if err := e.Reload(path); err != nil {
		t.Fatal(err)
	}
	tok, _ := is.MintOpaque("reader")
	r, _ := Original{Method: "GET", URI: "/orders/1", Host: "h", Header: http.Header{"Authorization": {"Bearer " + tok}}}.request()
	if dec := held.decide(r); dec.Status != 0 || dec.Principal == nil || dec.Principal.ClientID() != "reader" {
		t.Fatalf("in-flight check on the old policy: %d (%v)", dec.Status, dec.Err)
	}
	held.mu.RUnlock()
	e.Wait()
	assertClosed(t, src, tok)
}

// Mode introspect (Ory Hydra: admin endpoint, no client authentication,
// ory_at_ tokens): no key cache is started, /readyz is ready without keys,
// even a JWS of the issuer is introspected, junk in Hydra's format makes no
// call.
func TestHydraIntrospectModeNeedsNoKeys(t *testing.T) {
	is := newOpaqueIssuer(t)
	is.SetOpaqueClient("reader", oauthtest.OpaqueHydra)
	is.SetIntrospectionAuthOptional(true)
	doc := policyDoc(fmt.Sprintf(`  - name: hydra
    profile: hydra
    options:
      issuer: %s
      audience: %s
      client_ids: [reader]
    introspection:
      mode: introspect
      endpoint: %s
      client_auth:
        method: none
      concurrency: 2
      rate: 5
      burst: 5
      timeout: 2s
`, is.Issuer(), oauthtest.DefaultAudience, is.IntrospectionURL()))
	d := startDaemon(t, doc, 0)
	resp, err := http.Get("http://" + d.httpAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz: %d", resp.StatusCode)
	}
	tok, _ := is.MintOpaque("reader")
	if !strings.HasPrefix(tok, "ory_at_") {
		t.Fatalf("not a Hydra token: %q", tok[:10])
	}
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", tok).StatusCode; s != 200 {
		t.Fatalf("Hydra opaque token: %d", s)
	}
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", "ory_at_short.junk").StatusCode; s != 401 {
		t.Fatalf("junk in no Hydra format: %d", s)
	}
	if n := calls(is); n != 1 {
		t.Fatalf("calls %d, want 1 (junk is refused without a call)", n)
	}
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", is.MintT(t, oauthtest.WithClient("reader"))).StatusCode; s != 401 {
		t.Fatalf("a JWT under introspect is introspected (inactive): %d", s)
	}
	if n := is.Requests(oauthtest.EndpointJWKS) + is.Requests(oauthtest.EndpointDiscovery); n != 0 {
		t.Fatalf("%d key requests under mode introspect", n)
	}
	var out, errb strings.Builder
	if code := check([]string{"-fetch", d.policy}, &out, &errb); code != 0 {
		t.Fatalf("check -fetch: %d %s", code, errb.String())
	}
	if n := is.Requests(oauthtest.EndpointJWKS) + is.Requests(oauthtest.EndpointDiscovery); n != 0 {
		t.Fatalf("check -fetch fetched keys unused under mode introspect (%d requests)", n)
	}
}

// Beyond the budget (burst 1, then 0.01 calls per second) a new token is
// 503 with the budget's Retry-After and makes no call; a cached one works.
func TestIntrospectionBudgetSpent(t *testing.T) {
	is := newOpaqueIssuer(t)
	d := startDaemon(t, policyDoc(opaqueIssuerBlock("opq", is, basicIntro(is, secretFile(t), "      burst: 1\n      rate: 0.01\n      concurrency: 1\n"))), 0)
	first, _ := is.MintOpaque("reader")
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", first).StatusCode; s != 200 {
		t.Fatalf("first: %d", s)
	}
	second, _ := is.MintOpaque("reader")
	resp := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", second)
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 503 || ra < 50 {
		t.Fatalf("over budget: %d Retry-After %q (the budget refills in about 100 s)", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", first).StatusCode; s != 200 {
		t.Fatalf("cached, over budget: %d", s)
	}
	if n := calls(is); n != 1 {
		t.Fatalf("calls %d, want 1", n)
	}
	if m := scrape(t, d.httpAddr); !strings.Contains(m, `m2mauth_introspection_budget_refusals_total{limit="rate",source="opq"} 1`) {
		t.Fatalf("budget refusal not counted:\n%s", grepLines(m, "budget"))
	}
}
