package jwkscache

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// countingServer is a loopback server counting every request it receives:
// the service a spoofed jwks_uri would aim at.
func countingServer(t *testing.T, tls bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"keys":[]}`))
	})
	var s *httptest.Server
	if tls {
		s = httptest.NewTLSServer(h)
	} else {
		s = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s, &n
}

// tlsIssuer is an https issuer on loopback whose metadata names jwksURI
// (a func of the issuer's own URL) and whose own /jwks serves keys's JWKS
// (proxied from an oauthtest server).
func tlsIssuer(t *testing.T, keys *oauthtest.Server, jwksURI func(self string) string) *httptest.Server {
	t.Helper()
	var self string
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": self, "jwks_uri": jwksURI(self)})
		case "/jwks":
			resp, err := http.Get(keys.JWKSURL())
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			w.Header().Set("Content-Type", "application/json")
			var doc json.RawMessage
			_ = json.NewDecoder(resp.Body).Decode(&doc)
			_, _ = w.Write(doc)
		default:
			http.NotFound(w, r)
		}
	}))
	self = s.URL
	t.Cleanup(s.Close)
	return s
}

// Issue 16 finding 2: an https issuer whose discovery document names a
// plain-http loopback jwks_uri. On the previous main the cache fetched it
// (and refetched it on every retry); now it is refused without a request,
// with or without InsecureAllowHTTP (no downgrade).
func TestDiscoveredHTTPJWKSURIRefused(t *testing.T) {
	keys := oauthtest.NewT(t)
	for _, insecure := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "InsecureAllowHTTP"}[insecure], func(t *testing.T) {
			target, hits := countingServer(t, false)
			iss := tlsIssuer(t, keys, func(string) string { return target.URL + "/jwks" })
			e := newEnv(t, Config{Issuer: iss.URL, HTTPClient: iss.Client(), InsecureAllowHTTP: insecure})
			if ev := e.rec.nextFetch(t); ev.Class != ClassInsecureURL {
				t.Fatalf("first fetch = %+v, want class %s", ev, ClassInsecureURL)
			}
			for range 3 { // retries discover again and refuse again
				fe := fetchError(t, e.c.Refresh(context.Background()), ClassInsecureURL)
				if !errors.Is(fe, ErrDiscovery) {
					t.Fatalf("refusal %v does not wrap ErrDiscovery", fe)
				}
			}
			if n := hits.Load(); n != 0 {
				t.Fatalf("the refused http jwks_uri received %d requests", n)
			}
			if e.c.Current() != nil {
				t.Fatal("keys served")
			}
		})
	}
}

// A discovered jwks_uri on another host (or another port of the same
// host) is refused without a request unless AllowedJWKSHosts lists it.
func TestDiscoveredJWKSURIHostRule(t *testing.T) {
	keys := oauthtest.NewT(t)
	other, hits := countingServer(t, true)
	otherHost := mustURL(t, other.URL).Host
	for _, tc := range []struct {
		name    string
		uri     func(self string) string
		allowed []string
		class   ErrorClass
		hits    int64
	}{
		{"same origin", func(self string) string { return self + "/jwks" }, nil, ClassOK, 0},
		{"other port", func(string) string { return other.URL + "/jwks" }, nil, ClassForeignHost, 0},
		{"localhost is another host", func(self string) string {
			return "https://localhost:" + mustURL(t, self).Port() + "/jwks"
		}, nil, ClassForeignHost, 0},
		{"instance metadata", func(string) string { return "https://169.254.169.254/latest/meta-data" }, nil, ClassForeignHost, 0},
		{"allow-listed without that port", func(string) string { return other.URL + "/jwks" }, []string{"127.0.0.1"}, ClassForeignHost, 0},
		{"allow-listed", func(string) string { return other.URL + "/jwks" }, []string{"keys.example.test", otherHost}, ClassNoUsableKeys, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			iss := tlsIssuer(t, keys, tc.uri)
			// The client refuses (and fails the test on) any dial off
			// loopback: the test never leaves the machine.
			tr := iss.Client().Transport.(*http.Transport).Clone()
			var d net.Dialer
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
					t.Errorf("dial to %s", addr)
					return nil, errors.New("test: dial off loopback refused")
				}
				return d.DialContext(ctx, network, addr)
			}
			t.Cleanup(tr.CloseIdleConnections)
			e := newEnv(t, Config{Issuer: iss.URL, HTTPClient: &http.Client{Transport: tr}, AllowedJWKSHosts: tc.allowed})
			if ev := e.rec.nextFetch(t); ev.Class != tc.class {
				t.Fatalf("fetch = %+v (%v), want class %s", ev, ev.Err, tc.class)
			}
			if n := hits.Load() - before; n != tc.hits {
				t.Fatalf("the other server received %d requests, want %d", n, tc.hits)
			}
		})
	}
}

// On a plain-http loopback issuer (tests), the jwks_uri must still be on
// its own origin: another loopback port is another service.
func TestDiscoveredJWKSURIOtherLoopbackPort(t *testing.T) {
	target, hits := countingServer(t, false)
	srv := oauthtest.NewT(t, oauthtest.WithIssuerPath("/t"))
	srv.SetDiscoveryExtra(map[string]any{"jwks_uri": target.URL + "/jwks"})
	e := newEnv(t, Config{Issuer: srv.Issuer()})
	if ev := e.rec.nextFetch(t); ev.Class != ClassForeignHost {
		t.Fatalf("fetch = %+v", ev)
	}
	if hits.Load() != 0 {
		t.Fatal("the other loopback port was requested")
	}
}

// A redirect obeys the same rules: an https JWKS URL redirecting to http
// on loopback is refused, InsecureAllowHTTP or not.
func TestRedirectDowngradeRefused(t *testing.T) {
	target, hits := countingServer(t, false)
	redir := httptest.NewTLSServer(http.RedirectHandler(target.URL+"/jwks", http.StatusFound))
	t.Cleanup(redir.Close)
	e := newEnv(t, Config{JWKSURL: redir.URL + "/jwks", HTTPClient: redir.Client(), InsecureAllowHTTP: true})
	if ev := e.rec.nextFetch(t); ev.Class != ClassRedirect {
		t.Fatalf("fetch = %+v", ev)
	}
	if hits.Load() != 0 {
		t.Fatal("the redirect target was requested")
	}
}

func TestAllowedJWKSHostsValidated(t *testing.T) {
	for _, h := range []string{"", "https://keys.example.com", "keys.example.com/jwks", "user@keys.example.com", "keys.example.com:x", "a b"} {
		_, err := New(context.Background(), Config{Name: "x", Issuer: "https://issuer.example.com", AllowedJWKSHosts: []string{h}})
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("AllowedJWKSHosts %q: err = %v, want ErrInvalidConfig", h, err)
		}
	}
	for _, h := range []string{"keys.example.com", "KEYS.example.com:8443", "[::1]:8443", "10.0.0.1"} {
		if _, err := newURLPolicy(&url.URL{Scheme: "https", Host: "issuer.example.com"}, &Config{AllowedJWKSHosts: []string{h}}); err != nil {
			t.Errorf("%q: %v", h, err)
		}
	}
}

func TestURLPolicyScheme(t *testing.T) {
	for _, tc := range []struct {
		configured, target string
		insecure, ok       bool
	}{
		{"https://issuer.example", "https://issuer.example/k", false, true},
		{"https://issuer.example", "http://issuer.example/k", true, false},
		{"https://127.0.0.1:8443", "http://127.0.0.1:8443/k", false, false},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/k", false, true},
		{"http://127.0.0.1:8080", "http://keys.example/k", false, false},
		{"http://127.0.0.1:8080", "http://keys.example/k", true, true},
		{"http://issuer.example", "http://issuer.example/k", true, true},
	} {
		u, _ := url.Parse(tc.configured)
		p, err := newURLPolicy(u, &Config{InsecureAllowHTTP: tc.insecure})
		if err != nil {
			t.Fatal(err)
		}
		tu, _ := url.Parse(tc.target)
		if got := p.checkScheme(tu) == nil; got != tc.ok {
			t.Errorf("configured %s, insecure %v: %s allowed = %v, want %v", tc.configured, tc.insecure, tc.target, got, tc.ok)
		}
	}
}
