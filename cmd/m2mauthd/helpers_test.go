package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newIssuer starts an oauthtest issuer with the clients the tests use.
func newIssuer(t testing.TB) *oauthtest.Server {
	t.Helper()
	is := oauthtest.NewT(t)
	is.RegisterClient(oauthtest.Client{ID: "reader", Scopes: []string{"orders.read"}})
	is.RegisterClient(oauthtest.Client{ID: "writer", Scopes: []string{"orders.read", "orders.write"}})
	is.RegisterClient(oauthtest.Client{ID: "admin", Scopes: []string{"orders.read"}, Roles: []string{"admin"}})
	is.RegisterClient(oauthtest.Client{ID: "stranger", Scopes: []string{"orders.read"}})
	return is
}

// issuerBlock is the YAML of one rfc9068 issuer named name for is.
func issuerBlock(name string, is *oauthtest.Server) string {
	return fmt.Sprintf(`  - name: %s
    profile: rfc9068
    options:
      issuer: %s
      audience: %s
      client_ids: [reader, writer, admin]
`, name, is.Issuer(), oauthtest.DefaultAudience)
}

// testRoutes is the routes section of the tests' policy.
const testRoutes = `routes:
  - methods: [GET]
    path: /orders/{id}
    require:
      all_scopes: [orders.read]
  - methods: [POST]
    path: /orders/
    require:
      all_scopes: [orders.write]
  - path: /admin/
    require:
      all_roles: [admin]
`

func policyDoc(issuers ...string) string {
	return "version: 1\nrealm: orders\nissuers:\n" + strings.Join(issuers, "") + testRoutes
}

// writeFile replaces path atomically (as editors and Kubernetes do).
func writeFile(t testing.TB, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// daemon is a running m2mauthd (run) for a test.
type daemon struct {
	httpAddr, grpcAddr string
	engine             *Engine
	policy             string
	hup                chan os.Signal
	reloads            chan error
	logs               *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDaemon runs m2mauthd on loopback with the policy doc; poll > 0
// turns the file watcher on.
func startDaemon(t testing.TB, doc string, poll time.Duration, opts ...func(*config)) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{policy: filepath.Join(dir, "policy.yaml"), hup: make(chan os.Signal, 1), reloads: make(chan error, 16), logs: &syncBuffer{}}
	writeFile(t, d.policy, doc)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan error, 1)
	c := config{
		policy: d.policy, httpAddr: "127.0.0.1:0", grpcAddr: "127.0.0.1:0", poll: poll,
		logger: slog.New(slog.NewTextHandler(d.logs, nil)), hup: d.hup,
		started: func(h, g net.Addr, e *Engine) {
			d.httpAddr, d.grpcAddr, d.engine = h.String(), g.String(), e
			close(started)
		},
		reloaded: func(err error) { d.reloads <- err },
	}
	for _, o := range opts {
		o(&c)
	}
	go func() { done <- run(ctx, c) }()
	select {
	case <-started:
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return d
}

// waitReload waits for the next reload attempt.
func (d *daemon) waitReload(t testing.TB) error {
	t.Helper()
	select {
	case err := <-d.reloads:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("no reload within 20s")
		return nil
	}
}

// forward sends a forward-auth subrequest as nginx would (X-Original-*
// headers) or as Caddy and Traefik do (X-Forwarded-*).
func forward(t testing.TB, addr, style, method, uri, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+ForwardAuthPath, nil)
	switch style {
	case "nginx":
		req.Header.Set("X-Original-Method", method)
		req.Header.Set("X-Original-URI", uri)
		req.Header.Set("X-Forwarded-Host", "api.example.test")
		req.Header.Set("X-Forwarded-Proto", "http")
	default:
		req.Header.Set("X-Forwarded-Method", method)
		req.Header.Set("X-Forwarded-Uri", uri)
		req.Header.Set("X-Forwarded-Host", "api.example.test")
		req.Header.Set("X-Forwarded-Proto", "https")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func counterValue(t testing.TB, e *Engine, result string) float64 {
	t.Helper()
	return testutil.ToFloat64(e.reloads.WithLabelValues(result))
}
