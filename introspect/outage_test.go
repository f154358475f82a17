package introspect

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestOutageCachedKeepWorking: with the endpoint failing, cached answers
// keep working and every new token is unavailable (503), never refused and
// never accepted.
func TestOutageCachedKeepWorking(t *testing.T) {
	faults := []struct {
		name  string
		fault oauthtest.Fault
		want  Reason
	}{
		{"status_500", oauthtest.Fault{Status: 500}, ReasonEndpointDown},
		{"status_503", oauthtest.Fault{Status: 503}, ReasonEndpointDown},
		{"status_401", oauthtest.Fault{Status: 401}, ReasonEndpointDown},
		{"truncated", oauthtest.Fault{Truncate: true}, ReasonEndpointDown},
		{"unparsable", oauthtest.Fault{Body: []byte("<html>")}, ReasonBadResponse},
		{"oversize", oauthtest.Fault{Oversize: DefaultMaxResponseBytes + 1}, ReasonBadResponse},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			e := newEnv(t, oauthtest.OpaqueRandom)
			s := e.source(e.config())
			cached := e.token()
			if _, err := s.Introspect(context.Background(), cached); err != nil {
				t.Fatal(err)
			}
			e.srv.SetFault(oauthtest.EndpointIntrospect, f.fault)
			if _, err := s.Introspect(context.Background(), cached); err != nil {
				t.Fatalf("cached token during outage: %v", err)
			}
			_, err := s.Introspect(context.Background(), e.token())
			if reason(t, err) != f.want || !errors.Is(err, ErrUnavailable) {
				t.Fatalf("new token during outage: %v, want %s", err, f.want)
			}
			// Unavailable answers are not cached: the next call tries again.
			e.srv.ClearFault(oauthtest.EndpointIntrospect)
			if _, err := s.Introspect(context.Background(), e.token()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestEndpointStopped: a closed server is endpoint_down.
func TestEndpointStopped(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	s := e.source(e.config())
	tok := e.token()
	e.srv.Close()
	if _, err := s.Introspect(context.Background(), tok); reason(t, err) != ReasonEndpointDown {
		t.Fatal(err)
	}
}

// TestTimeout: a call that takes longer than Timeout is endpoint_down.
func TestTimeout(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	cfg := e.config()
	cfg.Timeout = 50 * time.Millisecond
	s := e.source(cfg)
	hold := make(chan struct{})
	defer close(hold)
	e.srv.SetFault(oauthtest.EndpointIntrospect, oauthtest.Fault{Wait: hold})
	if _, err := s.Introspect(context.Background(), e.token()); reason(t, err) != ReasonEndpointDown {
		t.Fatal(err)
	}
}

// TestRedirectRefused: a redirect is never followed (the token would be
// posted elsewhere).
func TestRedirectRefused(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, e.srv.IntrospectionURL(), http.StatusTemporaryRedirect)
	}))
	defer redir.Close()
	cfg := e.config()
	cfg.Endpoint = redir.URL + "/introspect"
	s := e.source(cfg)
	if _, err := s.Introspect(context.Background(), e.token()); reason(t, err) != ReasonEndpointDown {
		t.Fatal(err)
	}
	if e.calls() != 0 {
		t.Fatalf("redirect followed: %d calls", e.calls())
	}
}

// TestCacheKeyIsHash: the cache holds the SHA-256 of the token, never the
// token.
func TestCacheKeyIsHash(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	s := e.source(e.config())
	tok := e.token()
	if _, err := s.Introspect(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.cache.m[sha256.Sum256([]byte(tok))]; !ok || s.cache.len() != 1 {
		t.Fatal("cache is not keyed by the token's SHA-256")
	}
	for _, en := range s.cache.m {
		if strings.Contains(en.res.raw, tok) {
			t.Fatal("the cached answer holds the token")
		}
	}
}

// TestCacheBounded: the cache stays within MaxEntries and MaxCacheBytes.
func TestCacheBounded(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	cfg := e.config()
	cfg.MaxEntries = 3
	s := e.source(cfg)
	for range 10 {
		if _, err := s.Introspect(context.Background(), e.token()); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.cache.len(); n != 3 {
		t.Fatalf("%d entries, want 3", n)
	}
	cfg.MaxEntries = 1000
	cfg.MaxCacheBytes = 2000
	s = e.source(cfg)
	for range 10 {
		if _, err := s.Introspect(context.Background(), e.token()); err != nil {
			t.Fatal(err)
		}
	}
	s.cache.mu.RLock()
	b, n := s.cache.bytes, len(s.cache.m)
	s.cache.mu.RUnlock()
	if b > 2000 || n == 0 || n == 10 {
		t.Fatalf("%d bytes in %d entries, want at most 2000 bytes", b, n)
	}
}

// TestErrorsCarryNoSecrets: error texts never contain the token or the
// client secret.
func TestErrorsCarryNoSecrets(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	cfg := e.config()
	cfg.Auth.Method = AuthClientSecretPost
	s := e.source(cfg)
	tok := e.token()
	for _, f := range []oauthtest.Fault{{Status: 500}, {Body: []byte(`{"active":"` + tok + `"}`)}, {Truncate: true}} {
		e.srv.SetFault(oauthtest.EndpointIntrospect, f)
		_, err := s.Introspect(context.Background(), tok)
		if err == nil || strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), apiSecret) {
			t.Fatalf("error %v", err)
		}
	}
}

// TestClose: Close ends the calls in flight; later calls are closed.
func TestClose(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	s, err := New(e.config())
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	defer close(hold)
	e.srv.SetFault(oauthtest.EndpointIntrospect, oauthtest.Fault{Wait: hold})
	done := make(chan error, 1)
	tok := e.token()
	go func() { _, err := s.Introspect(context.Background(), tok); done <- err }()
	waitFor(t, func() bool { return e.calls() == 1 })
	s.Close()
	if err := <-done; reason(t, err) != ReasonClosed {
		t.Fatalf("in flight at Close: %v", err)
	}
	if _, err := s.Introspect(context.Background(), e.token()); reason(t, err) != ReasonClosed {
		t.Fatalf("after Close: %v", err)
	}
}

// TestObserverEvents: calls by result and reason, cache hits and misses,
// budget refusals reach the Observer.
func TestObserverEvents(t *testing.T) {
	e := newEnv(t, oauthtest.OpaqueRandom)
	obs := newCounter()
	cfg := e.config()
	cfg.Observer = obs
	cfg.Rate, cfg.Burst = 1, 3
	s := e.source(cfg)
	tok := e.token()
	ctx := context.Background()
	_, _ = s.Introspect(ctx, tok)    // miss, call active
	_, _ = s.Introspect(ctx, tok)    // hit
	_, _ = s.Introspect(ctx, "dead") // miss, call refused (inactive)
	e.srv.SetFault(oauthtest.EndpointIntrospect, oauthtest.Fault{Status: 500})
	_, _ = s.Introspect(ctx, e.token()) // miss, call unavailable
	_, _ = s.Introspect(ctx, e.token()) // miss, over budget
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.calls[CallActive] != 1 || obs.calls[CallRefused] != 1 || obs.calls[CallUnavailable] != 1 ||
		obs.reasons[ReasonInactive] != 1 || obs.reasons[ReasonEndpointDown] != 1 {
		t.Errorf("calls %v reasons %v", obs.calls, obs.reasons)
	}
	if obs.hits != 1 || obs.misses != 4 || obs.budget["rate"] != 1 {
		t.Errorf("hits %d misses %d budget %v", obs.hits, obs.misses, obs.budget)
	}
}
