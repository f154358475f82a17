package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/oauth2"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDemo runs the demo as `go run ./examples/demo` does and checks that
// every row of the table is ok and the metrics excerpt is there.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, options{}); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	rows := tableRows(t, out.String())
	if len(rows) != 10*3+2*2 {
		t.Errorf("%d rows, want 34 (10 scenarios x 3 transports, 2 DPoP scenarios x 2 HTTP transports)\n%s", len(rows), out.String())
	}
	perTransport := map[string]int{}
	for _, r := range rows {
		if !strings.HasSuffix(r, " ok") {
			t.Errorf("row not ok: %s", r)
		}
		for _, tr := range []string{"net/http", "Echo", "gRPC"} {
			if strings.Contains(r, "  "+tr+"  ") {
				perTransport[tr]++
			}
		}
	}
	for tr, want := range map[string]int{"net/http": 12, "Echo": 12, "gRPC": 10} {
		if perTransport[tr] != want {
			t.Errorf("%s: %d rows, want %d", tr, perTransport[tr], want)
		}
	}
	// The DPoP caller is served; its stolen token without the key is not.
	for _, want := range []string{"DPoP worker reads (proof of its key)", "401 invalid_dpop_proof"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, want := range []string{
		`m2mauth_token_validations_total{issuer="oauthtest",reason="bad_signature",result="invalid"} 3`,
		`m2mauth_token_validations_total{issuer="oauthtest",reason="expired",result="invalid"} 3`,
		// The certificate-bound token without its certificate.
		`m2mauth_token_validations_total{issuer="oauthtest",reason="binding",result="invalid"} 3`,
		`m2mauth_jwks_fetches_total{cause="unknown_kid",result="ok",source="oauthtest"} 1`,
		`m2mauth_jwks_unknown_kid_total{outcome="fetched",source="oauthtest"} 1`,
		`m2mauth_authorization_decisions_total{result="forbidden",transport="grpc"} 1`,
		"0 not as expected",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q\n%s", want, out.String())
		}
	}
}

// tableRows returns the table's rows (without the header).
func tableRows(t *testing.T, out string) []string {
	t.Helper()
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "SCENARIO") {
		t.Fatalf("no table header:\n%s", out)
	}
	var rows []string
	for _, l := range lines[1:] {
		if strings.TrimSpace(l) == "" {
			break
		}
		rows = append(rows, strings.TrimRight(l, " "))
	}
	return rows
}

// A row whose answer differs from the expectation is marked FAIL and
// counted, so run returns an error and the demo exits 1.
func TestTableMarksFailures(t *testing.T) {
	var out bytes.Buffer
	failed := printTable(&out, []result{
		{scenario: "reader writes", transport: "net/http", want: forbidden, got: answer{status: "200"}},
		{scenario: "reader writes", transport: "gRPC", want: forbidden, got: answer{status: "PermissionDenied", code: "INSUFFICIENT_SCOPE"}},
		{scenario: "no token", transport: "gRPC", want: unauthenticated, got: answer{status: "OK"}},
	})
	if failed != 2 {
		t.Errorf("failed = %d, want 2\n%s", failed, out.String())
	}
	rows := tableRows(t, out.String())
	if len(rows) != 3 || !strings.HasSuffix(rows[0], "FAIL") || !strings.HasSuffix(rows[1], "ok") || !strings.HasSuffix(rows[2], "FAIL") {
		t.Errorf("table:\n%s", out.String())
	}
}

// syncBuffer is written by run while the test reads it.
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

// With -serve the demo keeps serving after the table, prints working curl
// commands, and stops when its context ends.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ready := make(chan endpoints, 1)
	var out syncBuffer
	done := make(chan error, 1)
	var logs syncBuffer
	go func() { done <- run(ctx, &out, options{serve: true, ready: ready, logs: &logs}) }()

	var ep endpoints
	select {
	case ep = <-ready:
	case err := <-done:
		t.Fatalf("run returned before serving: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"curl -s -u admin:admin-secret -d grant_type=client_credentials " + ep.TokenURL,
		"READER=" + ep.ReaderToken,
		"ADMIN=" + ep.AdminToken,
		`curl -i -H "Authorization: Bearer $ADMIN" -d gadget ` + ep.Echo + "/orders",
		"grpcurl -cacert " + ep.CertFile + ` -H "authorization: Bearer $READER" -d '""' ` + ep.GRPC + " orders.v1.Orders/List",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	call := func(method, url, tok string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader("gadget"))
		if err != nil {
			t.Fatal(err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := call("POST", ep.Echo+"/orders", ep.AdminToken); code != 200 || !strings.Contains(body, `"caller":"admin"`) {
		t.Errorf("admin POST over Echo: %d %s", code, body)
	}
	if code, _ := call("POST", ep.HTTP+"/orders", ep.ReaderToken); code != 403 {
		t.Errorf("reader POST over net/http: %d, want 403", code)
	}
	if code, body := call("GET", ep.HTTP+"/metrics", ""); code != 200 || !strings.Contains(body, "m2mauth_authorization_decisions_total") {
		t.Errorf("metrics: %d", code)
	}

	// The printed certificate file lets a client verify the gRPC server.
	pemBytes, err := os.ReadFile(ep.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("%s holds no certificate", ep.CertFile)
	}
	g, err := dialGRPC(ep.GRPC, roots)
	if err != nil {
		t.Fatal(err)
	}
	defer g.conn.Close()
	got, err := g.call(ctx, opWrite, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: ep.AdminToken}))
	if err != nil || got.status != "OK" {
		t.Errorf("admin Create over gRPC: %v %v", got, err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := os.Stat(ep.CertFile); !os.IsNotExist(err) {
		t.Errorf("certificate file left behind: %v", err)
	}
	if l := logs.String(); !strings.Contains(l, "reason=bad_signature") || strings.Contains(l, ep.ReaderToken[:40]) {
		t.Errorf("logs should say why tokens were refused, never show one:\n%s", l)
	}
}
