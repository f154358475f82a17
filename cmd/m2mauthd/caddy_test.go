package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// caddyBinary finds caddy, or skips when it is absent outside CI (CI=true
// must install it: .ci/run does).
func caddyBinary(t *testing.T) string {
	if path, err := exec.LookPath("caddy"); err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("caddy is not installed, and CI=true: .ci/run installs it (apt-get install -y caddy)")
	}
	t.Skip("caddy is not installed (apt-get install -y caddy); this end-to-end test needs it")
	return ""
}

// startCaddy runs examples/Caddyfile with only its addresses replaced.
func startCaddy(t *testing.T, authz, upstream string) string {
	bin := caddyBinary(t)
	conf, err := os.ReadFile("examples/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	listen := freeAddr(t)
	s := strings.NewReplacer("127.0.0.1:9191", authz, "127.0.0.1:8080", upstream, "http://:8001", "http://:"+listen[strings.LastIndex(listen, ":")+1:]).Replace(string(conf))
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "run", "--adapter", "caddyfile", "--config", path)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	var logs syncBuffer
	cmd.Stderr = &logs
	cmd.Stdout = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("caddy log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", listen, time.Second)
		if err == nil {
			c.Close()
			return listen
		}
		select {
		case <-exited:
			t.Fatalf("caddy exited: %v\n%s", waitErr, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy not listening after 30s:\n%s", logs.String())
		}
	}
}

// The Caddy example, end to end, with the cases of the nginx test.
func TestCaddyEndToEnd(t *testing.T) {
	caddyBinary(t)
	is := newIssuer(t)
	down := newIssuer(t)
	down.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: 500})
	down.SetFault(oauthtest.EndpointDiscovery, oauthtest.Fault{Status: 500})
	doc := policyDoc(issuerBlock("main", is), issuerBlock("down", down))
	d := startDaemon(t, doc, 10e6)
	up := echoUpstream(t)
	proxy := startCaddy(t, d.httpAddr, strings.TrimPrefix(up.URL, "http://"))

	reader := is.MintT(t, oauthtest.WithClient("reader"))
	writer := is.MintT(t, oauthtest.WithClient("writer"))
	admin := is.MintT(t, oauthtest.WithClient("admin"))

	for _, tc := range []struct {
		method, path, token string
		status              int
		challenge           string
	}{
		{"GET", "/orders/1", reader, 200, ""},
		{"POST", "/orders/", writer, 200, ""},
		{"DELETE", "/admin/x", admin, 200, ""},
		{"POST", "/orders/", reader, 403, `scope="orders.write"`},
		{"GET", "/orders/1", "", 401, `Bearer realm="orders"`},
		{"GET", "/orders/1", "a.b.c", 401, `error="invalid_token"`},
		{"GET", "/elsewhere", reader, 403, `insufficient_scope`},
	} {
		got := viaProxy(t, proxy, tc.method, tc.path, tc.token, nil)
		if got.status != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, got.status, tc.status)
			continue
		}
		if ch := got.header.Values("WWW-Authenticate"); tc.challenge != "" && (len(ch) != 1 || !strings.Contains(ch[0], tc.challenge)) {
			t.Errorf("%s %s: WWW-Authenticate %q, want one containing %q", tc.method, tc.path, ch, tc.challenge)
		}
	}

	spoof := map[string]string{"X-Auth-Client-Id": "admin", "X-Auth-Roles": "admin", "X-Auth-Issuer": "evil"}
	got := viaProxy(t, proxy, "GET", "/orders/1", reader, spoof)
	if got.status != 200 || got.seen.Get("X-Auth-Client-Id") != "reader" || got.seen.Get("X-Auth-Issuer") != "main" {
		t.Fatalf("identity: %d %v", got.status, got.seen)
	}
	if v := got.seen.Values("X-Auth-Roles"); len(v) > 1 || len(v) == 1 && v[0] != "" {
		t.Fatalf("a spoofed X-Auth-Roles reached the upstream: %q", v)
	}
	if got := viaProxy(t, proxy, "POST", "/orders/", reader, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/orders/1"}); got.status != 403 {
		t.Fatalf("a client described the request to the authorizer: %d", got.status)
	}
	// Caddy passes X-Original-* through untouched: disagreeing with Caddy's
	// own X-Forwarded-* it is refused, never believed.
	if got := viaProxy(t, proxy, "POST", "/orders/", reader, map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/orders/1"}); got.status != 400 {
		t.Fatalf("X-Original-* from a client behind Caddy: %d, want 400", got.status)
	}

	if got := viaProxy(t, proxy, "GET", "/orders/1", down.MintT(t, oauthtest.WithClient("reader")), nil); got.status != 503 || got.header.Get("Retry-After") == "" {
		t.Fatalf("issuer down: %d Retry-After %q", got.status, got.header.Get("Retry-After"))
	}

	writeFile(t, d.policy, strings.Replace(doc, "all_scopes: [orders.write]", "all_scopes: [orders.read]", 1))
	if err := d.waitReload(t); err != nil {
		t.Fatal(err)
	}
	if got := viaProxy(t, proxy, "POST", "/orders/", reader, nil); got.status != 200 {
		t.Fatalf("after the edit: %d", got.status)
	}
	writeFile(t, d.policy, "version: 1\nroutes: {\n")
	if err := d.waitReload(t); err == nil {
		t.Fatal("broken edit accepted")
	}
	if got := viaProxy(t, proxy, "POST", "/orders/", reader, nil); got.status != 200 {
		t.Fatalf("after the broken edit: %d", got.status)
	}
}
