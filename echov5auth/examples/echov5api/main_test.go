package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/m2mauth/m2mauth/oauthtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The program, configured as from a shell, against an in-process issuer: a
// client with the scope is served, one without it gets 403, an anonymous
// call 401; the program stops with its context.
func TestAgainstOAuthtest(t *testing.T) {
	iss := oauthtest.NewT(t)
	cfg, err := parse([]string{"-addr", "127.0.0.1:0", "-issuer", iss.Issuer(), "-audience", "https://orders.example.test",
		"-clients", "worker, auditor", "-scope", "orders.read"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, slog.New(slog.DiscardHandler), ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
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
		req, _ := http.NewRequest("GET", "http://"+addr+"/orders", nil)
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
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestParseRequiresTheIssuerBinding(t *testing.T) {
	for _, args := range [][]string{
		{"-audience", "a", "-clients", "c"},
		{"-issuer", "https://i", "-clients", "c"},
		{"-issuer", "https://i", "-audience", "a", "-clients", " , "},
	} {
		if _, err := parse(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}
