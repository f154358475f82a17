package securitysuite

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// m2Target is a loopback service a spoofed jwks_uri aims at. It counts
// every request and, to make an allow-listed case work, serves the
// fixture issuer's real JWKS.
type m2Target struct {
	srv  *httptest.Server
	hits atomic.Int64
}

func newM2Target(t testing.TB, f *fixture) *m2Target {
	t.Helper()
	m := &m2Target{}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		m.hits.Add(1)
		resp, err := http.Get(f.iss.JWKSURL())
		if err != nil {
			http.Error(w, "upstream", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

// M2 (issue 16 finding 2): every URL the key fetcher requests obeys one
// rule set, however learnt. A discovery document naming plain http under
// an https issuer, another loopback port, or the cloud instance-metadata
// address is refused without a request, at start-up and on every retry:
// the API answers 503 keys_unavailable on every adapter. Allow-listing the
// host (AllowedJWKSHosts) is the one way to accept another host.
func TestM2(t *testing.T) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			t.Run("https_issuer_http_loopback_jwks_uri", func(t *testing.T) { runM2HTTPS(t, tr) })
			t.Run("other_loopback_port", func(t *testing.T) {
				var target *m2Target
				f := newFixture(t, fixtureOptions{noWait: true, issuer: func(t testing.TB, f *fixture) {
					target = newM2Target(t, f)
					f.iss.SetDiscoveryExtra(map[string]any{"jwks_uri": target.srv.URL + "/jwks"})
				}})
				m2Refused(t, f, tr, jwkscache.ClassForeignHost, func() int64 { return target.hits.Load() })
			})
			t.Run("instance_metadata_address", func(t *testing.T) {
				// The client refuses (and counts) any dial off loopback:
				// the test itself never leaves the machine.
				var offLoopback atomic.Int64
				var d net.Dialer
				guarded := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
						offLoopback.Add(1)
						return nil, errors.New("test: dial off loopback refused")
					}
					return d.DialContext(ctx, network, addr)
				}}
				t.Cleanup(guarded.CloseIdleConnections)
				f := newFixture(t, fixtureOptions{noWait: true,
					issuer: func(_ testing.TB, f *fixture) {
						f.iss.SetDiscoveryExtra(map[string]any{"jwks_uri": "https://169.254.169.254/latest/meta-data/jwks"})
					},
					cacheConfig: func(c *jwkscache.Config) { c.HTTPClient = &http.Client{Transport: guarded} },
				})
				m2Refused(t, f, tr, jwkscache.ClassForeignHost, offLoopback.Load)
			})
			t.Run("allow_listed_host", func(t *testing.T) {
				var target *m2Target
				f := newFixture(t, fixtureOptions{
					issuer: func(t testing.TB, f *fixture) {
						target = newM2Target(t, f)
						f.iss.SetDiscoveryExtra(map[string]any{"jwks_uri": target.srv.URL + "/jwks"})
					},
					cacheConfig: func(c *jwkscache.Config) {
						u, _ := url.Parse(target.srv.URL)
						c.AllowedJWKSHosts = []string{u.Host}
					},
				})
				f.checkToken(t, tr, "accepted", f.mint(t), accept)
				if target.hits.Load() == 0 {
					t.Fatal("the allow-listed jwks_uri was not used")
				}
			})
		})
	}
}

// runM2HTTPS: an https issuer (TLS on loopback) whose metadata names
// http://127.0.0.1:port/jwks. The previous main fetched it.
func runM2HTTPS(t *testing.T, tr transport) {
	var target *m2Target
	var front *httptest.Server
	f := newFixture(t, fixtureOptions{
		noWait: true,
		issuer: func(t testing.TB, f *fixture) {
			target = newM2Target(t, f)
			var self string
			front = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/.well-known/openid-configuration" {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(map[string]string{"issuer": self, "jwks_uri": target.srv.URL + "/jwks"})
			}))
			self = front.URL
			t.Cleanup(front.Close)
		},
		cacheConfig: func(c *jwkscache.Config) {
			c.Issuer, c.HTTPClient = front.URL, front.Client()
			c.InsecureAllowHTTP = true // no downgrade even then
		},
		issuerConfig: func(_ *fixture, ic *jwtverify.IssuerConfig) { ic.Issuer = front.URL },
	})
	m2Refused(t, f, tr, jwkscache.ClassInsecureURL, func() int64 { return target.hits.Load() },
		oauthtest.WithClaims(map[string]any{"iss": front.URL}))
}

// m2Refused checks a refused jwks_uri: the fetch fails with class, the
// API answers 503, the target sees no request, also after a retry.
func m2Refused(t *testing.T, f *fixture, tr transport, class jwkscache.ErrorClass, hits func() int64, mint ...oauthtest.MintOption) {
	t.Helper()
	if e := f.waitFetch(t, func(e jwkscache.FetchEvent) bool { return true }); e.Class != class {
		t.Fatalf("fetch class %s (%v), want %s", e.Class, e.Err, class)
	}
	f.checkToken(t, tr, "keys_unavailable", f.mint(t, mint...), unavail)
	f.drainFetches()
	// The scheduled retry (advanced until it runs).
	if e := f.advanceUntilFetch(t, 2*jwkscache.DefaultBackoffMax, func(jwkscache.FetchEvent) bool { return true }); e.Class != class {
		t.Fatalf("retry class %s, want %s", e.Class, class)
	}
	f.checkToken(t, tr, "still_keys_unavailable", f.mint(t, mint...), unavail)
	if n := hits(); n != 0 {
		t.Fatalf("the refused jwks_uri received %d requests", n)
	}
}
