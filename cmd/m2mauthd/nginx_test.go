package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// echoUpstream answers every request with the headers it received, as JSON.
func echoUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r.Header)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// nginxBinary finds nginx, or skips when it is absent outside CI (CI=true
// must install it: .ci/run does).
func nginxBinary(t *testing.T) string {
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx is not installed, and CI=true: .ci/run installs it (apt-get install -y nginx)")
	}
	t.Skip("nginx is not installed (apt-get install -y nginx); this end-to-end test needs it")
	return ""
}

// freeAddr returns a loopback address with a free port.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startNginx runs examples/nginx.conf, with only its addresses and working
// directory replaced, in front of upstream and the authorizer at authz.
func startNginx(t *testing.T, authz, upstream string) string {
	bin := nginxBinary(t)
	conf, err := os.ReadFile("examples/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	listen := freeAddr(t)
	s := strings.NewReplacer(
		"127.0.0.1:9191", authz,
		"127.0.0.1:8080", upstream,
		"127.0.0.1:8000", listen,
		"/var/lib/m2mauthd-nginx", dir,
	).Replace(string(conf))
	if os.Getuid() == 0 {
		// The workers of a root master run as nobody: let them in.
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return launchNginx(t, bin, dir, s, listen)
}

// launchNginx runs nginx with the configuration conf (written to dir) in
// the foreground until the test ends, and returns listen once nginx
// accepts connections there.
func launchNginx(t testing.TB, bin, dir, conf, listen string) string {
	t.Helper()
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-p", dir, "-c", path, "-g", "daemon off;")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	var logs syncBuffer
	cmd.Stderr = &logs
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
			t.Logf("nginx log:\n%s", logs.String())
		}
	})
	// Wait until nginx accepts connections (or dies).
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", listen, time.Second)
		if err == nil {
			c.Close()
			return listen
		}
		select {
		case <-exited:
			t.Fatalf("nginx exited: %v\n%s", waitErr, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx not listening after 20s:\n%s", logs.String())
		}
	}
}

type echoed struct {
	status int
	header http.Header
	seen   http.Header // what the upstream received (allowed requests)
}

func viaProxy(t *testing.T, addr, method, path, token string, extra map[string]string) echoed {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+addr+path, nil)
	req.Host = "api.example.test"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	e := echoed{status: resp.StatusCode, header: resp.Header}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(body, &e.seen); err != nil {
			t.Fatalf("upstream answer %q (%v): %v", body, resp.Header, err)
		}
	}
	return e
}

// The nginx example, end to end: real nginx, the echo upstream, m2mauthd
// and an oauthtest issuer.
func TestNginxEndToEnd(t *testing.T) {
	bin := nginxBinary(t)
	_ = bin
	is := newIssuer(t)
	down := newIssuer(t)
	down.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: 500})
	down.SetFault(oauthtest.EndpointDiscovery, oauthtest.Fault{Status: 500})
	doc := policyDoc(issuerBlock("main", is), issuerBlock("down", down))
	d := startDaemon(t, doc, 10e6)
	up := echoUpstream(t)
	proxy := startNginx(t, d.httpAddr, strings.TrimPrefix(up.URL, "http://"))

	reader := is.MintT(t, oauthtest.WithClient("reader"))
	writer := is.MintT(t, oauthtest.WithClient("writer"))
	admin := is.MintT(t, oauthtest.WithClient("admin"))

	t.Run("allowed and denied per route", func(t *testing.T) {
		for _, tc := range []struct {
			method, path, token string
			status              int
			challenge           string
		}{
			{"GET", "/orders/1", reader, 200, ""},
			{"POST", "/orders/", writer, 200, ""},
			{"DELETE", "/admin/x", admin, 200, ""},
			{"POST", "/orders/", reader, 403, `error="insufficient_scope"`},
			{"GET", "/admin/x", writer, 403, `scope="admin"`},
			{"GET", "/orders/1", "", 401, `Bearer realm="orders"`},
			{"GET", "/orders/1", "a.b.c", 401, `error="invalid_token"`},
			{"GET", "/elsewhere", reader, 403, `insufficient_scope`},
		} {
			got := viaProxy(t, proxy, tc.method, tc.path, tc.token, nil)
			if got.status != tc.status {
				t.Errorf("%s %s: %d, want %d", tc.method, tc.path, got.status, tc.status)
				continue
			}
			ch := got.header.Values("WWW-Authenticate")
			if tc.challenge != "" && (len(ch) != 1 || !strings.Contains(ch[0], tc.challenge)) {
				t.Errorf("%s %s: WWW-Authenticate %q, want one containing %q", tc.method, tc.path, ch, tc.challenge)
			}
		}
	})

	t.Run("403 names the scope", func(t *testing.T) {
		got := viaProxy(t, proxy, "POST", "/orders/", reader, nil)
		if got.status != 403 || !strings.Contains(got.header.Get("WWW-Authenticate"), `scope="orders.write"`) {
			t.Fatalf("%d %q", got.status, got.header.Get("WWW-Authenticate"))
		}
	})

	t.Run("identity reaches the upstream, spoofed copies do not", func(t *testing.T) {
		spoof := map[string]string{
			"X-Auth-Client-Id": "admin", "X-Auth-Roles": "admin", "X-Auth-Subject": "root",
			"X-Auth-Issuer": "evil", "X-Auth-Scopes": "everything",
		}
		got := viaProxy(t, proxy, "GET", "/orders/1", reader, spoof)
		if got.status != 200 {
			t.Fatalf("status %d", got.status)
		}
		for h, want := range map[string]string{"X-Auth-Client-Id": "reader", "X-Auth-Subject": "reader", "X-Auth-Issuer": "main", "X-Auth-Scopes": "orders.read"} {
			if v := got.seen.Values(h); len(v) != 1 || v[0] != want {
				t.Errorf("upstream saw %s = %q, want %q", h, v, want)
			}
		}
		if v := got.seen.Values("X-Auth-Roles"); len(v) != 0 {
			t.Errorf("a spoofed X-Auth-Roles reached the upstream: %q", v)
		}
	})

	t.Run("a client cannot describe the request to the authorizer", func(t *testing.T) {
		got := viaProxy(t, proxy, "POST", "/orders/", reader, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/orders/1", "X-Original-URI": "/orders/1"})
		if got.status != 403 {
			t.Fatalf("status %d, want 403", got.status)
		}
	})

	t.Run("issuer down is 503 with Retry-After", func(t *testing.T) {
		got := viaProxy(t, proxy, "GET", "/orders/1", down.MintT(t, oauthtest.WithClient("reader")), nil)
		if got.status != 503 || got.header.Get("Retry-After") == "" {
			t.Fatalf("status %d Retry-After %q, want 503 with Retry-After", got.status, got.header.Get("Retry-After"))
		}
	})

	t.Run("a policy edit takes effect, a broken one does not", func(t *testing.T) {
		writeFile(t, d.policy, strings.Replace(doc, "all_scopes: [orders.write]", "all_scopes: [orders.read]", 1))
		if err := d.waitReload(t); err != nil {
			t.Fatal(err)
		}
		if got := viaProxy(t, proxy, "POST", "/orders/", reader, nil); got.status != 200 {
			t.Fatalf("after the edit: %d", got.status)
		}
		writeFile(t, d.policy, strings.Replace(doc, "version: 1", "version: one", 1))
		if err := d.waitReload(t); err == nil {
			t.Fatal("broken edit accepted")
		}
		if got := viaProxy(t, proxy, "POST", "/orders/", reader, nil); got.status != 200 {
			t.Fatalf("after the broken edit: %d (the last good policy must stay)", got.status)
		}
	})
}
