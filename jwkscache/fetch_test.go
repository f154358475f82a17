package jwkscache

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// jwksHandler serves doc and counts requests.
type jwksHandler struct {
	doc    []byte
	hits   atomic.Int64
	accept atomic.Value
	ua     atomic.Value
}

func (h *jwksHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.hits.Add(1)
	h.accept.Store(r.Header.Get("Accept"))
	h.ua.Store(r.Header.Get("User-Agent"))
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Write(h.doc)
}

func testJWKS(t *testing.T) []byte {
	return jwksDoc(t, jwkMap(t, &testKeys().p256.PublicKey, "k1", nil))
}

func TestFetchHeaders(t *testing.T) {
	h := &jwksHandler{doc: testJWKS(t)}
	srv := httptest.NewServer(h)
	defer srv.Close()
	e := newEnv(t, Config{JWKSURL: srv.URL + "/jwks?appid=1"})
	e.ready(t)
	if got := h.accept.Load(); got != "application/jwk-set+json, application/json" {
		t.Fatalf("Accept = %q", got)
	}
	if got := h.ua.Load(); got != "m2mauth-jwkscache" {
		t.Fatalf("User-Agent = %q", got)
	}
}

func TestRedirects(t *testing.T) {
	doc := testJWKS(t)
	t.Run("same origin followed", func(t *testing.T) {
		mux := http.NewServeMux()
		mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/jwks", http.StatusFound) })
		mux.Handle("/jwks", &jwksHandler{doc: doc})
		srv := httptest.NewTLSServer(mux)
		defer srv.Close()
		e := newEnv(t, Config{JWKSURL: srv.URL + "/old", HTTPClient: srv.Client()})
		e.ready(t)
		lookupOK(t, e.c, "k1")
	})
	t.Run("other origin refused", func(t *testing.T) {
		other := &jwksHandler{doc: doc}
		otherSrv := httptest.NewServer(other)
		defer otherSrv.Close()
		srv := httptest.NewServer(http.RedirectHandler(otherSrv.URL+"/jwks", http.StatusFound))
		defer srv.Close()
		e := newEnv(t, Config{JWKSURL: srv.URL + "/jwks"})
		if ev := e.rec.nextFetch(t); ev.Class != ClassRedirect || !strings.Contains(ev.Err.Error(), "another origin") {
			t.Fatalf("event = %+v", ev)
		}
		if other.hits.Load() != 0 {
			t.Fatal("the other origin was contacted")
		}
	})
	t.Run("https to http refused", func(t *testing.T) {
		plain := &jwksHandler{doc: doc}
		plainSrv := httptest.NewServer(plain)
		defer plainSrv.Close()
		srv := httptest.NewTLSServer(http.RedirectHandler(plainSrv.URL+"/jwks", http.StatusMovedPermanently))
		defer srv.Close()
		e := newEnv(t, Config{JWKSURL: srv.URL + "/jwks", HTTPClient: srv.Client()})
		fe := fetchError(t, e.c.Refresh(context.Background()), ClassRedirect)
		if !strings.Contains(fe.Error(), "from https to http") {
			t.Fatalf("error = %v", fe)
		}
		if plain.hits.Load() != 0 {
			t.Fatal("the http server was contacted")
		}
	})
	t.Run("redirect loop refused", func(t *testing.T) {
		srv := httptest.NewServer(http.RedirectHandler("/jwks", http.StatusFound))
		defer srv.Close()
		e := newEnv(t, Config{JWKSURL: srv.URL + "/jwks"})
		fetchError(t, e.c.Refresh(context.Background()), ClassRedirect)
	})
	t.Run("user CheckRedirect still consulted", func(t *testing.T) {
		mux := http.NewServeMux()
		mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/jwks", http.StatusFound) })
		mux.Handle("/jwks", &jwksHandler{doc: doc})
		srv := httptest.NewServer(mux)
		defer srv.Close()
		mine := errors.New("mine")
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return mine }}
		e := newEnv(t, Config{JWKSURL: srv.URL + "/old", HTTPClient: client})
		if err := e.c.Refresh(context.Background()); !errors.Is(err, mine) {
			t.Fatalf("err = %v", err)
		}
		if client.CheckRedirect(nil, nil) != mine {
			t.Fatal("the caller's client was modified")
		}
	})
}

func TestStatusOtherThan200(t *testing.T) {
	for _, code := range []int{http.StatusNoContent, http.StatusNotModified, http.StatusNotFound, http.StatusServiceUnavailable} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
		}))
		e := newEnv(t, Config{JWKSURL: srv.URL})
		fe := fetchError(t, e.c.Refresh(context.Background()), ClassStatus)
		if fe.StatusCode != code {
			t.Fatalf("status %d, want %d", fe.StatusCode, code)
		}
		e.c.Close()
		srv.Close()
	}
}

func TestMaxResponseBytes(t *testing.T) {
	doc := testJWKS(t)
	h := &jwksHandler{doc: doc}
	srv := httptest.NewServer(h) // announces Content-Length
	defer srv.Close()
	e := newEnv(t, Config{JWKSURL: srv.URL, MaxResponseBytes: int64(len(doc) - 1)})
	fetchError(t, e.c.Refresh(context.Background()), ClassTooLarge)
	e2 := newEnv(t, Config{JWKSURL: srv.URL, MaxResponseBytes: int64(len(doc))})
	if err := e2.c.Refresh(context.Background()); err != nil {
		t.Fatalf("exactly at the limit: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	refuse := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("injected: no network in this test")
	})}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"no name", Config{JWKSURL: "https://a.example/jwks"}, false},
		{"no source", Config{Name: "n"}, false},
		{"both sources", Config{Name: "n", JWKSURL: "https://a.example/jwks", Issuer: "https://a.example"}, false},
		{"https", Config{Name: "n", JWKSURL: "https://a.example/jwks"}, true},
		{"http remote", Config{Name: "n", JWKSURL: "http://a.example/jwks"}, false},
		{"http remote issuer", Config{Name: "n", Issuer: "http://a.example"}, false},
		{"http remote, insecure opt-in", Config{Name: "n", JWKSURL: "http://a.example/jwks", InsecureAllowHTTP: true}, true},
		{"http 127.0.0.2", Config{Name: "n", JWKSURL: "http://127.0.0.2:1/jwks"}, true},
		{"http ::1", Config{Name: "n", JWKSURL: "http://[::1]:1/jwks"}, true},
		{"http localhost", Config{Name: "n", Issuer: "http://localhost:1"}, true},
		{"http localhost.evil", Config{Name: "n", Issuer: "http://localhost.evil.example"}, false},
		{"ftp", Config{Name: "n", JWKSURL: "ftp://a.example/jwks"}, false},
		{"relative", Config{Name: "n", JWKSURL: "/jwks"}, false},
		{"user info", Config{Name: "n", JWKSURL: "https://u:p@a.example/jwks"}, false},
		{"fragment", Config{Name: "n", JWKSURL: "https://a.example/jwks#x"}, false},
		{"issuer with query", Config{Name: "n", Issuer: "https://a.example/?x=1"}, false},
		{"negative timeout", Config{Name: "n", JWKSURL: "https://a.example/jwks", FetchTimeout: -1}, false},
		{"negative size", Config{Name: "n", JWKSURL: "https://a.example/jwks", MaxResponseBytes: -1}, false},
		{"min refresh under floor", Config{Name: "n", JWKSURL: "https://a.example/jwks", MinRefreshInterval: time.Millisecond}, false},
		{"max under min", Config{Name: "n", JWKSURL: "https://a.example/jwks", MinRefreshInterval: time.Hour, MaxRefreshInterval: time.Minute}, false},
		{"staleness under max refresh", Config{Name: "n", JWKSURL: "https://a.example/jwks", MaxStaleness: time.Minute}, false},
		{"backoff max under initial", Config{Name: "n", JWKSURL: "https://a.example/jwks", BackoffInitial: time.Minute, BackoffMax: time.Second}, false},
		{"timer without clock", Config{Name: "n", JWKSURL: "https://a.example/jwks", NewTimer: newFakeClock().NewTimer}, false},
		{"name with newline", Config{Name: "a\nb", JWKSURL: "https://a.example/jwks"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.HTTPClient = refuse
			c, err := New(context.Background(), tc.cfg)
			if tc.ok != (err == nil) {
				t.Fatalf("New = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			if c != nil {
				c.Close()
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRefreshInterval(t *testing.T) {
	fc := newFakeClock()
	cfg := Config{Name: "n", JWKSURL: "https://a.example/jwks", MinRefreshInterval: time.Minute,
		MaxRefreshInterval: 10 * time.Hour, DefaultRefreshInterval: 7 * time.Minute, Now: fc.Now}
	if err := cfg.normalize(); err != nil {
		t.Fatal(err)
	}
	c := &Cache{cfg: cfg, now: fc.Now}
	date := fc.Now().Add(-time.Hour) // the server's clock is an hour behind
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"max-age", http.Header{"Cache-Control": {"public, max-age=3600"}}, time.Hour},
		{"max-age quoted", http.Header{"Cache-Control": {`max-age="120"`}}, 2 * time.Minute},
		{"max-age case", http.Header{"Cache-Control": {"Max-Age=120"}}, 2 * time.Minute},
		{"first max-age wins", http.Header{"Cache-Control": {"max-age=120", "max-age=3600"}}, 2 * time.Minute},
		{"minus Age", http.Header{"Cache-Control": {"max-age=3600"}, "Age": {"600"}}, 50 * time.Minute},
		{"Age beyond max-age", http.Header{"Cache-Control": {"max-age=60"}, "Age": {"600"}}, time.Minute},
		{"floor", http.Header{"Cache-Control": {"max-age=5"}}, time.Minute},
		{"ceiling", http.Header{"Cache-Control": {"max-age=99999999999999999999999"}}, 10 * time.Hour},
		{"negative", http.Header{"Cache-Control": {"max-age=-5"}}, 7 * time.Minute},
		{"no-store", http.Header{"Cache-Control": {"no-store"}}, 7 * time.Minute},
		{"no-cache wins over max-age", http.Header{"Cache-Control": {"max-age=3600, no-cache"}}, 7 * time.Minute},
		{"Expires relative to Date", http.Header{"Expires": {date.Add(2 * time.Hour).Format(http.TimeFormat)}, "Date": {date.Format(http.TimeFormat)}}, 2 * time.Hour},
		{"Expires without Date", http.Header{"Expires": {fc.Now().Add(3 * time.Hour).Format(http.TimeFormat)}}, 3 * time.Hour},
		{"Expires in the past", http.Header{"Expires": {fc.Now().Add(-time.Hour).Format(http.TimeFormat)}}, time.Minute},
		{"Expires invalid", http.Header{"Expires": {"0"}}, 7 * time.Minute},
		{"max-age over Expires", http.Header{"Cache-Control": {"max-age=7200"}, "Expires": {fc.Now().Format(http.TimeFormat)}}, 2 * time.Hour},
		{"nothing", http.Header{}, 7 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.refreshInterval(tc.h); got != tc.want {
				t.Fatalf("interval = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDiscoveryURLs(t *testing.T) {
	tests := []struct{ issuer, openid, rfc8414 string }{
		{"https://a.example", "https://a.example/.well-known/openid-configuration", "https://a.example/.well-known/oauth-authorization-server"},
		{"https://a.example/", "https://a.example/.well-known/openid-configuration", "https://a.example/.well-known/oauth-authorization-server"},
		{"https://login.example/tid/v2.0", "https://login.example/tid/v2.0/.well-known/openid-configuration", "https://login.example/.well-known/oauth-authorization-server/tid/v2.0"},
		{"https://kc.example:8443/realms/r/", "https://kc.example:8443/realms/r/.well-known/openid-configuration", "https://kc.example:8443/.well-known/oauth-authorization-server/realms/r"},
	}
	for _, tc := range tests {
		o, r := discoveryURLs(mustURL(t, tc.issuer))
		if o != tc.openid || r != tc.rfc8414 {
			t.Errorf("%s: got %s %s", tc.issuer, o, r)
		}
	}
}

func TestMultiObserver(t *testing.T) {
	var fetches, misses int
	one := ObserverFuncs{OnFetch: func(FetchEvent) { fetches++ }, OnUnknownKID: func(UnknownKIDEvent) { misses++ }}
	m := MultiObserver(one, nil, one)
	m.FetchDone(FetchEvent{})
	m.UnknownKID(UnknownKIDEvent{})
	if fetches != 2 || misses != 2 {
		t.Fatalf("fetches=%d misses=%d", fetches, misses)
	}
}

func TestCompressedBodyBoundedAfterDecompression(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"keys":[],"pad":"`))
	zw.Write(bytes.Repeat([]byte("a"), 10<<20))
	zw.Write([]byte(`"}`))
	zw.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "gzip" {
			t.Errorf("Accept-Encoding = %q", r.Header.Get("Accept-Encoding"))
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(buf.Bytes())
	}))
	defer srv.Close()
	e := newEnv(t, Config{JWKSURL: srv.URL})
	fetchError(t, e.c.Refresh(context.Background()), ClassTooLarge)
}
