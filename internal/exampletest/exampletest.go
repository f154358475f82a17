// Package exampletest holds the test steps the example programs share
// (those of examples/ and of the nested modules' examples/ directories):
// start a program in-process, and, for the nested modules' examples, the
// whole check against an in-process issuer.
package exampletest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/internal/exampleapi"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// Start runs run with cfg in a goroutine until ctx ends, and returns the
// address it listens on and a function that stops it (cancel) and fails t
// if run failed. It fails t if run returns before it is ready.
func Start[C any](ctx context.Context, t *testing.T, cfg C, log *slog.Logger, run exampleapi.Run[C]) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, log, ready) }()
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	}
	return addr, func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("run: %v", err)
		}
	}
}

// RunBasic runs a nested module's example program (its run function),
// configured as from a shell (exampleapi.ParseBasic), against an in-process
// issuer: a client with the scope is served (200), one without it gets 403,
// an anonymous call and an unknown client 401; the program stops with its
// context. request builds the call of the program's protected route, with
// no Authorization header.
func RunBasic(t *testing.T, program string, run exampleapi.Run[exampleapi.Basic], request func(addr string) *http.Request) {
	t.Helper()
	iss := oauthtest.NewT(t)
	cfg, err := exampleapi.ParseBasic(program, []string{"-addr", "127.0.0.1:0", "-issuer", iss.Issuer(), "-audience", "https://orders.example.test",
		"-clients", "worker, auditor", "-scope", "orders.read"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr, stop := Start(ctx, t, cfg, slog.New(slog.DiscardHandler), run)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	mint := func(id, scope string) string {
		return iss.MintT(t, oauthtest.WithClaims(map[string]any{"aud": "https://orders.example.test", "client_id": id, "scope": scope}))
	}
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"worker", mint("worker", "orders.read"), 200},
		{"auditor", mint("auditor", "audit.read"), 403},
		{"anonymous", "", 401},
		{"unknown_client", mint("stranger", "orders.read"), 401},
	} {
		req := request(addr)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
	stop()
}

// GetOrders is the request of RunBasic for a program serving GET /orders.
func GetOrders(addr string) *http.Request {
	req, _ := http.NewRequest("GET", "http://"+addr+"/orders", nil)
	return req
}
