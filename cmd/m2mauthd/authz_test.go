package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/m2mauth/m2mauth/oauthtest"
)

func TestPolicyErrorsNameFileLineAndField(t *testing.T) {
	is := newIssuer(t)
	good := policyDoc(issuerBlock("main", is))
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"unknown top-level field", "version: 1\nrelam: x\n", []string{"p.yaml:2: relam: unknown field"}},
		{"unknown route field", strings.Replace(good, "    path: /orders/{id}", "    pth: /orders/{id}", 1), []string{"p.yaml:", "routes[0].pth: unknown field"}},
		{"unknown requirement", strings.Replace(good, "all_scopes: [orders.read]", "all_scope: [orders.read]", 1), []string{"routes[0].require.all_scope: unknown field"}},
		{"empty permission list", strings.Replace(good, "all_scopes: [orders.read]", "all_scopes: []", 1), []string{"routes[0].require.all_scopes: must list at least one permission"}},
		{"empty requirement", strings.Replace(good, "    require:\n      all_roles: [admin]\n", "    require: {}\n", 1), []string{"routes[2].require: must name at least one"}},
		{"no requirement", strings.Replace(good, "    require:\n      all_roles: [admin]\n", "", 1), []string{"routes[2].require: required"}},
		{"bad profile", strings.Replace(good, "profile: rfc9068", "profile: acme", 1), []string{"p.yaml:5: issuers[0].profile: must be one of"}},
		{"profile option missing", strings.Replace(good, "      audience: "+oauthtest.DefaultAudience+"\n", "", 1), []string{"issuers[0].options.audience"}},
		{"unknown profile option", strings.Replace(good, "      audience:", "      audiance:", 1), []string{"p.yaml:8: issuers[0].options.audiance: unknown field"}},
		{"bad duration", strings.Replace(good, "      client_ids:", "      leeway: soon\n      client_ids:", 1), []string{"p.yaml:9", "issuers[0].options", "not a duration"}},
		{"wrong type", strings.Replace(good, "version: 1", "version: [1]", 1), []string{"p.yaml:1", "cannot unmarshal"}},
		{"wrong version", strings.Replace(good, "version: 1", "version: 2", 1), []string{"p.yaml:1: version: must be 1"}},
		{"conflicting patterns", strings.Replace(good, "  - path: /admin/", "  - methods: [GET]\n    path: /orders/{x}", 1), []string{"routes[2].path", "conflicts"}},
		{"invalid pattern", strings.Replace(good, "path: /admin/", "path: /admin/{x", 1), []string{"routes[2].path"}},
		{"lower-case method", strings.Replace(good, "methods: [GET]", "methods: [get]", 1), []string{"routes[0].methods", "upper-case"}},
		{"bad header name", strings.Replace(good, "realm: orders", "realm: orders\nheaders:\n  client_id: \"X Bad\"", 1), []string{"p.yaml:4: headers.client_id"}},
		{"no routes", strings.SplitN(good, "routes:", 2)[0], []string{"routes: at least one route"}},
		{"yaml syntax", "version: 1\nissuers: [\n", []string{"p.yaml:"}},
		{"duplicate key", "version: 1\nversion: 1\n", []string{"p.yaml:2", "already defined"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parsePolicy("p.yaml", []byte(tc.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := parsePolicy("p.yaml", []byte(good)); err != nil {
		t.Fatalf("good policy refused: %v", err)
	}
}

func TestExamplePolicyIsValid(t *testing.T) {
	var out, errb bytes.Buffer
	if code := check([]string{"examples/policy.yaml"}, &out, &errb); code != 0 {
		t.Fatalf("check: %d %s", code, errb.String())
	}
}

func TestExampleOpaquePolicyIsValid(t *testing.T) {
	var out, errb bytes.Buffer
	if code := check([]string{"examples/policy-opaque.yaml"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "client_secret_env: the secret is unset") {
		t.Fatalf("check without the secret: %d %s", code, errb.String())
	}
	t.Setenv("OKTA_INTROSPECTION_SECRET", "example-secret")
	errb.Reset()
	if code := check([]string{"examples/policy-opaque.yaml"}, &out, &errb); code != 0 {
		t.Fatalf("check: %d %s", code, errb.String())
	}
}

// The offline check never touches the network; -fetch does.
func TestCheckCommandOfflineAndFetch(t *testing.T) {
	is := newIssuer(t)
	path := filepath.Join(t.TempDir(), "p.yaml")
	writeFile(t, path, policyDoc(issuerBlock("main", is)))
	var out, errb bytes.Buffer
	if code := check([]string{path}, &out, &errb); code != 0 {
		t.Fatalf("check: %d %s", code, errb.String())
	}
	if n := is.Requests(oauthtest.EndpointJWKS) + is.Requests(oauthtest.EndpointDiscovery); n != 0 {
		t.Fatalf("offline check made %d requests to the issuer", n)
	}
	if code := check([]string{"-fetch", path}, &out, &errb); code != 0 {
		t.Fatalf("check -fetch: %d %s", code, errb.String())
	}
	if is.Requests(oauthtest.EndpointJWKS) == 0 {
		t.Fatal("check -fetch fetched no keys")
	}
	is.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: 500})
	is.SetFault(oauthtest.EndpointDiscovery, oauthtest.Fault{Status: 500})
	if code := check([]string{"-fetch", "-timeout", "2s", path}, &out, &errb); code != 1 {
		t.Fatalf("check -fetch against a failing issuer: exit %d", code)
	}
	writeFile(t, path, "version: 1\nbogus: 1\n")
	errb.Reset()
	if code := check([]string{path}, &out, &errb); code != 1 || !strings.Contains(errb.String(), path+":2: bogus") {
		t.Fatalf("check of a bad file: exit %d, %q", code, errb.String())
	}
}

// Forward-auth answers for nginx's and Caddy/Traefik's headers.
func TestForwardAuthDecisions(t *testing.T) {
	is := newIssuer(t)
	d := startDaemon(t, policyDoc(issuerBlock("main", is)), 0)
	reader := is.MintT(t, oauthtest.WithClient("reader"))
	writer := is.MintT(t, oauthtest.WithClient("writer"))
	admin := is.MintT(t, oauthtest.WithClient("admin"))
	stranger := is.MintT(t, oauthtest.WithClient("stranger"))
	for _, style := range []string{"nginx", "caddy"} {
		for _, tc := range []struct {
			name, method, uri, token string
			status                   int
			challenge                string
		}{
			{"reader GET", "GET", "/orders/7?x=1", reader, 200, ""},
			{"reader HEAD (GET covers HEAD)", "HEAD", "/orders/7", reader, 200, ""},
			{"reader POST lacks scope", "POST", "/orders/", reader, 403, `scope="orders.write"`},
			{"writer POST", "POST", "/orders/", writer, 200, ""},
			{"admin role", "DELETE", "/admin/users/1", admin, 200, ""},
			{"scope is not a role", "GET", "/admin/x", writer, 403, `scope="admin"`},
			{"no token", "GET", "/orders/7", "", 401, `Bearer realm="orders"`},
			{"client not allowed", "GET", "/orders/7", stranger, 401, `error="invalid_token"`},
			{"garbage token", "GET", "/orders/7", "abc.def.ghi", 401, `error="invalid_token"`},
			{"no route: default deny", "GET", "/other", reader, 403, `error="insufficient_scope"`},
			{"no route, no token", "GET", "/other", "", 401, `Bearer realm="orders"`},
			{"method not routed", "PUT", "/orders/7", writer, 403, ""},
			{"unclean path is not routed", "GET", "/orders/../admin/x", admin, 403, ""},
		} {
			t.Run(style+"/"+tc.name, func(t *testing.T) {
				resp := forward(t, d.httpAddr, style, tc.method, tc.uri, tc.token)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
				}
				if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, tc.challenge) {
					t.Fatalf("WWW-Authenticate %q lacks %q", got, tc.challenge)
				}
				if tc.status == 200 && resp.Header.Get("X-Auth-Client-Id") == "" {
					t.Fatal("allowed without identity headers")
				}
				if tc.status != 200 && resp.Header.Get("X-Auth-Client-Id") != "" {
					t.Fatal("refused with identity headers")
				}
			})
		}
	}
	resp := forward(t, d.httpAddr, "nginx", "GET", "/orders/7", writer)
	for h, want := range map[string]string{"X-Auth-Client-Id": "writer", "X-Auth-Subject": "writer", "X-Auth-Issuer": "main", "X-Auth-Scopes": "orders.read orders.write", "X-Auth-Roles": ""} {
		if got, ok := resp.Header[h]; !ok || got[0] != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}

func TestForwardAuthRefusesMissingOrRepeatedAttributes(t *testing.T) {
	is := newIssuer(t)
	d := startDaemon(t, policyDoc(issuerBlock("main", is)), 0)
	tok := is.MintT(t, oauthtest.WithClient("reader"))
	for name, hdr := range map[string]http.Header{
		"no method":         {"X-Forwarded-Uri": {"/orders/1"}, "X-Forwarded-Host": {"a"}},
		"no uri":            {"X-Forwarded-Method": {"GET"}, "X-Forwarded-Host": {"a"}},
		"no host":           {"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/orders/1"}},
		"two methods":       {"X-Forwarded-Method": {"GET", "POST"}, "X-Forwarded-Uri": {"/orders/1"}, "X-Forwarded-Host": {"a"}},
		"absolute uri":      {"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"http://x/orders/1"}, "X-Forwarded-Host": {"a"}},
		"odd scheme":        {"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/orders/1"}, "X-Forwarded-Host": {"a"}, "X-Forwarded-Proto": {"gopher"}},
		"families disagree": {"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/orders/1"}, "X-Original-Uri": {"/admin/1"}, "X-Forwarded-Host": {"a"}},
		"uri not a path?":   {"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"orders/1"}, "X-Forwarded-Host": {"a"}},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+d.httpAddr+ForwardAuthPath, nil)
			for k, v := range hdr {
				req.Header[k] = v
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
		})
	}
}

// Go's ServeMux decides precedence: the most specific pattern wins,
// whatever the order in the file.
func TestRoutePrecedenceIsServeMux(t *testing.T) {
	is := newIssuer(t)
	doc := "version: 1\nissuers:\n" + issuerBlock("main", is) + `routes:
  - path: /orders/
    require:
      all_roles: [admin]
  - methods: [GET]
    path: /orders/{id}
    require:
      all_scopes: [orders.read]
  - host: internal.example.test
    path: /orders/{id}
    require:
      all_scopes: [orders.write]
`
	d := startDaemon(t, doc, 0)
	reader := is.MintT(t, oauthtest.WithClient("reader"))
	check := func(host, method, uri string, want int) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+d.httpAddr+ForwardAuthPath, nil)
		req.Header.Set("X-Forwarded-Method", method)
		req.Header.Set("X-Forwarded-Uri", uri)
		req.Header.Set("X-Forwarded-Host", host)
		req.Header.Set("Authorization", "Bearer "+reader)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s %s%s: %d, want %d", method, host, uri, resp.StatusCode, want)
		}
	}
	check("api.example.test", "GET", "/orders/1", 200)           // GET /orders/{id} beats /orders/
	check("api.example.test", "GET", "/orders/1/items", 403)     // only /orders/ matches
	check("api.example.test", "POST", "/orders/1", 403)          // method: /orders/ only
	check("internal.example.test", "GET", "/orders/1", 403)      // host pattern wins
	check("internal.example.test:8443", "GET", "/orders/1", 403) // port ignored as ServeMux does
}

func TestIdentityHeaderValuesAreSafe(t *testing.T) {
	is := newIssuer(t)
	d := startDaemon(t, policyDoc(issuerBlock("main", is)), 0)
	tok := is.MintT(t, oauthtest.WithClient("reader"), oauthtest.WithClaims(map[string]any{"sub": "évil\u2028"}))
	resp := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", tok)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if v, ok := resp.Header["X-Auth-Subject"]; !ok || v[0] != "" {
		t.Fatalf("X-Auth-Subject = %q, want present and empty", v)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	is := newIssuer(t)
	d := startDaemon(t, policyDoc(issuerBlock("main", is)), 0)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + d.httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	// Ready once the key cache holds a set: one decision waits for it.
	forward(t, d.httpAddr, "nginx", "GET", "/orders/1", is.MintT(t, oauthtest.WithClient("reader")))
	if code, body := get("/readyz"); code != 200 {
		t.Fatalf("/readyz %d %s", code, body)
	}
	forward(t, d.httpAddr, "nginx", "GET", "/orders/1", "")
	_, body := get("/metrics")
	t.Log(grepLines(body, "decisions_total{"))
	for _, want := range []string{`m2mauth_authorization_decisions_total{`, `m2mauthd_policy_reloads_total{result="error"} 0`, "m2mauth_jwks_usable"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestReadyzUnavailableWhenIssuerNeverAnswered(t *testing.T) {
	is := newIssuer(t)
	is.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: 500})
	is.SetFault(oauthtest.EndpointDiscovery, oauthtest.Fault{Status: 500})
	d := startDaemon(t, policyDoc(issuerBlock("main", is)), 0)
	resp := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", is.MintT(t, oauthtest.WithClient("reader")))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("issuer down: %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	r, err := http.Get("http://" + d.httpAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 503 {
		t.Fatalf("/readyz %d, want 503", r.StatusCode)
	}
}

func TestGracefulShutdownFinishesAndStops(t *testing.T) {
	is := newIssuer(t)
	path := filepath.Join(t.TempDir(), "p.yaml")
	writeFile(t, path, policyDoc(issuerBlock("main", is)))
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{policy: path, httpAddr: "127.0.0.1:0", started: func(h, _ net.Addr, _ *Engine) { started <- h.String() }})
	}()
	addr := <-started
	if resp := forward(t, addr, "nginx", "GET", "/orders/1", ""); resp.StatusCode != 401 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
	_ = os.Remove(path)
}
