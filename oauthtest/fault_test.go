package oauthtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/oauthtest"
)

func TestFaults(t *testing.T) {
	s := oauthtest.NewT(t, oauthtest.WithKeyAlgs("ES256"))
	_, _, good := get(t, s.JWKSURL())

	t.Run("status keeps the real body", func(t *testing.T) {
		s.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: http.StatusInternalServerError})
		defer s.ClearFault(oauthtest.EndpointJWKS)
		status, _, body := get(t, s.JWKSURL())
		if status != 500 || string(body) != string(good) {
			t.Fatalf("status %d body %s", status, body)
		}
	})
	t.Run("malformed body", func(t *testing.T) {
		s.SetFault(oauthtest.EndpointDiscovery, oauthtest.Fault{Body: []byte(`{"issuer":`)})
		defer s.ClearFault(oauthtest.EndpointDiscovery)
		status, _, body := get(t, s.DiscoveryURL())
		if status != 200 || string(body) != `{"issuer":` {
			t.Fatalf("status %d body %s", status, body)
		}
		if json.Valid(body) {
			t.Fatal("body is valid JSON")
		}
	})
	t.Run("truncated", func(t *testing.T) {
		s.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Truncate: true})
		defer s.ClearFault(oauthtest.EndpointJWKS)
		resp, err := http.Get(s.JWKSURL())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) || len(b) != len(good)/2 || string(b) != string(good[:len(good)/2]) {
			t.Fatalf("read %d of %d bytes, err %v", len(b), len(good), err)
		}
	})
	t.Run("oversized", func(t *testing.T) {
		const n = 1 << 20
		s.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Oversize: n})
		defer s.ClearFault(oauthtest.EndpointJWKS)
		status, _, body := get(t, s.JWKSURL())
		if status != 200 || len(body) != n {
			t.Fatalf("status %d, %d bytes", status, len(body))
		}
		if keys := parseJWKS(t, body); len(keys) != 1 {
			t.Fatalf("padded JWKS has %d keys", len(keys))
		}
		// Non-object bodies are padded with spaces.
		s.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Body: []byte(`[1]`), Oversize: 10})
		if _, _, body := get(t, s.JWKSURL()); string(body) != `[1]       ` {
			t.Fatalf("padded body %q", body)
		}
		// An empty object stays valid.
		s.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Body: []byte(`{}`), Oversize: 40})
		if _, _, body := get(t, s.JWKSURL()); len(body) != 40 || !json.Valid(body) {
			t.Fatalf("padded body %q", body)
		}
	})
	t.Run("delay", func(t *testing.T) {
		const d = 20 * time.Millisecond
		s.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Delay: d})
		defer s.ClearFault(oauthtest.EndpointJWKS)
		start := time.Now()
		status, _, body := get(t, s.JWKSURL())
		if status != 200 || string(body) != string(good) || time.Since(start) < d {
			t.Fatalf("status %d after %v", status, time.Since(start))
		}
	})
	t.Run("wait", func(t *testing.T) {
		release := make(chan struct{})
		s.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Wait: release, Status: 503})
		defer s.ClearFault(oauthtest.EndpointJWKS)
		s.ResetCounters()
		done := make(chan int)
		go func() {
			resp, err := http.Get(s.JWKSURL())
			if err != nil {
				t.Error(err)
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		waitFor(t, func() bool { return s.Requests(oauthtest.EndpointJWKS) == 1 })
		select {
		case <-done:
			t.Fatal("answered before release")
		default:
		}
		close(release)
		if status := <-done; status != 503 {
			t.Fatalf("status %d", status)
		}
	})
}

// waitFor polls cond until it holds (bounded by the test deadline).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	timeout := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatal("condition not reached")
		}
	}
}

func TestDelayHonoursCancellation(t *testing.T) {
	s := oauthtest.NewT(t, oauthtest.WithKeyAlgs("EdDSA"))
	s.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Delay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.JWKSURL(), nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitFor(t, func() bool { return s.Requests(oauthtest.EndpointJWKS) == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	// Close waits for every handler: it returns only if the held one ended.
	s.ClearFault(oauthtest.EndpointJWKS)
	if status, _, _ := get(t, s.JWKSURL()); status != 200 {
		t.Fatalf("status %d after clearing the fault", status)
	}
}

func TestCloseReleasesHeldRequests(t *testing.T) {
	s, err := oauthtest.New(oauthtest.WithKeyAlgs("EdDSA"))
	if err != nil {
		t.Fatal(err)
	}
	s.SetFault(oauthtest.EndpointDiscovery, oauthtest.Fault{Delay: time.Hour})
	s.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Wait: make(chan struct{})})
	errc := make(chan error, 2)
	for _, u := range []string{s.DiscoveryURL(), s.JWKSURL()} {
		go func() {
			resp, err := http.Get(u)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
	}
	waitFor(t, func() bool {
		return s.Requests(oauthtest.EndpointDiscovery) == 1 && s.Requests(oauthtest.EndpointJWKS) == 1
	})
	s.Close() // would block for an hour if the held handlers ignored Close
	for range 2 {
		if err := <-errc; err == nil {
			t.Fatal("held request got an answer after Close")
		}
	}
}

func TestCounters(t *testing.T) {
	s := oauthtest.NewT(t, oauthtest.WithKeyAlgs("ES256"))
	for range 3 {
		get(t, s.JWKSURL())
	}
	get(t, s.DiscoveryURL())
	get(t, s.MetadataURL())
	s.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: 502})
	get(t, s.JWKSURL())
	get(t, s.URL()+"/nowhere")
	if j, d, tk := s.Requests(oauthtest.EndpointJWKS), s.Requests(oauthtest.EndpointDiscovery), s.Requests(oauthtest.EndpointToken); j != 4 || d != 2 || tk != 0 {
		t.Fatalf("jwks %d discovery %d token %d", j, d, tk)
	}
	s.ResetCounters()
	if s.Requests(oauthtest.EndpointJWKS) != 0 || s.Requests(oauthtest.EndpointDiscovery) != 0 {
		t.Fatal("counters not reset")
	}
	if s.Requests(oauthtest.Endpoint(42)) != 0 || oauthtest.EndpointToken.String() != "token" {
		t.Fatal("unknown endpoint")
	}
}
