package middleware_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/internal/authtest"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// BenchmarkBoundToken measures a repeated token through the net/http
// middleware in process, the request carrying a fixed *tls.ConnectionState
// with a client certificate (net/http reuses one per connection): a bearer
// token under binding.Off (Verify, the path before binding existed), a
// bearer token and a certificate-bound token under binding.Optional
// (VerifyBound; the thumbprint is cached per certificate). The bound token
// must cost at most 1 us more than the bearer token.
func BenchmarkBoundToken(b *testing.B) {
	env := authtest.NewBindEnv(b)
	bound, bearerTok := env.BoundToken(b), env.BearerToken(b)
	cs := &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{env.Cert.Certificate}}
	final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	off, err := middleware.New(env.Verifier(b, binding.Off, nil))
	if err != nil {
		b.Fatal(err)
	}
	opt, err := middleware.New(env.Verifier(b, binding.Optional, nil))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		h    http.Handler
		tok  string
	}{
		{"bearer_off", off.Handler(final), bearerTok},
		{"bearer_optional", opt.Handler(final), bearerTok},
		{"bound_optional", opt.Handler(final), bound},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/orders", nil)
			r.TLS = cs
			r.Header.Set("Authorization", "Bearer "+bc.tok)
			w := httptest.NewRecorder()
			bc.h.ServeHTTP(w, r)
			if w.Code != http.StatusNoContent {
				b.Fatalf("status %d", w.Code)
			}
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				bc.h.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkBoundTokenTLS is the end-to-end view: repeated requests over one
// real TLS (HTTP/2) connection presenting the client certificate, with a
// bearer and with a certificate-bound token, under binding.Optional. Their
// ratio is the cost of binding on a real request.
func BenchmarkBoundTokenTLS(b *testing.B) {
	env := authtest.NewBindEnv(b)
	bound, bearerTok := env.BoundToken(b), env.BearerToken(b)
	mw, err := middleware.New(env.Verifier(b, binding.Optional, nil))
	if err != nil {
		b.Fatal(err)
	}
	api := oauthtest.NewMTLSServer(mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })))
	defer api.Close()
	hc := env.Cert.HTTPClient(oauthtest.RootCAs(api))
	defer hc.CloseIdleConnections()
	for _, bc := range []struct{ name, tok string }{{"bearer", bearerTok}, {"bound", bound}} {
		b.Run(bc.name, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, api.URL+"/orders", nil)
			req.Header.Set("Authorization", "Bearer "+bc.tok)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := hc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
