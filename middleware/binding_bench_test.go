package middleware_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

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

// BenchmarkBoundOverhead interleaves blocks of requests with the repeated
// bearer token and the repeated certificate-bound token (binding.Optional,
// a fixed *tls.ConnectionState with the client certificate), so that both
// see the same machine load, and reports per request the wall and (Linux)
// thread CPU time of each and the difference, bound minus bearer
// (bound-extra-ns/op, bound-extra-cpu-ns/op): the cost of the binding on
// the cached path. The target is at most 1000 ns.
func BenchmarkBoundOverhead(b *testing.B) {
	env := authtest.NewBindEnv(b)
	bound, bearerTok := env.BoundToken(b), env.BearerToken(b)
	mw, err := middleware.New(env.Verifier(b, binding.Optional, nil))
	if err != nil {
		b.Fatal(err)
	}
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	cs := &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{env.Cert.Certificate}}
	req := func(tok string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		r.TLS = cs
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusNoContent {
			b.Fatalf("status %d", w.Code)
		}
		return r
	}
	rBearer, rBound := req(bearerTok), req(bound)
	type cost struct{ wall, cpu time.Duration }
	run := func(r *http.Request, n int) cost {
		c0, _ := threadCPU()
		start := time.Now()
		for range n {
			h.ServeHTTP(httptest.NewRecorder(), r)
		}
		wall := time.Since(start)
		c1, _ := threadCPU()
		return cost{wall, c1 - c0}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const block = 256
	var be, bo cost
	var n int
	b.ResetTimer()
	for b.Loop() {
		c := run(rBearer, block)
		be.wall, be.cpu = be.wall+c.wall, be.cpu+c.cpu
		c = run(rBound, block)
		bo.wall, bo.cpu = bo.wall+c.wall, bo.cpu+c.cpu
		n += block
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
	b.ReportMetric(per(be.wall), "bearer-ns/op")
	b.ReportMetric(per(bo.wall), "bound-ns/op")
	b.ReportMetric(per(bo.wall-be.wall), "bound-extra-ns/op")
	if _, ok := threadCPU(); ok {
		b.ReportMetric(per(be.cpu), "bearer-cpu-ns/op")
		b.ReportMetric(per(bo.cpu-be.cpu), "bound-extra-cpu-ns/op")
	}
}

// BenchmarkBoundTokenTLS is the end-to-end view: repeated requests over one
// real TLS (HTTP/2) connection presenting the client certificate, with a
// bearer and with a certificate-bound token, under binding.Optional,
// interleaved in blocks so both see the same load. It reports each one's
// wall time per request and their ratio (bound/bearer), the cost of binding
// on a real request.
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
	mk := func(tok string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, api.URL+"/orders", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return req
	}
	rBearer, rBound := mk(bearerTok), mk(bound)
	run := func(req *http.Request, n int) time.Duration {
		start := time.Now()
		for range n {
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
		return time.Since(start)
	}
	run(rBearer, 1)
	run(rBound, 1)
	const block = 16
	var be, bo time.Duration
	var n int
	b.ResetTimer()
	for b.Loop() {
		be += run(rBearer, block)
		bo += run(rBound, block)
		n += block
	}
	b.ReportMetric(float64(be.Nanoseconds())/float64(n), "bearer-ns/op")
	b.ReportMetric(float64(bo.Nanoseconds())/float64(n), "bound-ns/op")
	b.ReportMetric(float64(bo)/float64(be), "bound/bearer")
}
