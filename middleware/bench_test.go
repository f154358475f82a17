package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/internal/authtest"
)

// BenchmarkRequest measures a whole request with a repeated token (the
// verified-token cache answers) through the net/http middleware, against the
// same handler without middleware in the same run ("raw"): the overhead is
// the difference. Each iteration builds a fresh ResponseRecorder in every
// variant.
func BenchmarkRequest(b *testing.B) {
	env := authtest.NewEnv(b)
	tok := env.Token(b, map[string]any{"scope": "orders.read orders.write"})
	mw, err := middleware.New(env.Verifier)
	if err != nil {
		b.Fatal(err)
	}
	final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	req := jwtverify.RequireAll("orders.read")
	for _, bc := range []struct {
		name string
		h    http.Handler
		want int
	}{
		{"raw", final, http.StatusNoContent},
		{"Handler", mw.Handler(final), http.StatusNoContent},
		{"Handler+Require", mw.Handler(mw.Require(req)(final)), http.StatusNoContent},
		{"Require_alone", mw.Require(req)(final), http.StatusNoContent},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/orders", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			bc.h.ServeHTTP(w, r) // warm the verified-token cache
			if w.Code != bc.want {
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

// BenchmarkOverhead interleaves blocks of requests with and without the
// middleware (Handler+Require, the usual setup) so that both halves see the
// same machine load, and reports the difference per request as
// "overhead-ns/op" and the extra allocations as "overhead-allocs/op". On a
// shared machine this is the figure to trust; ns/op is the pair.
func BenchmarkOverhead(b *testing.B) {
	env := authtest.NewEnv(b)
	tok := env.Token(b, map[string]any{"scope": "orders.read"})
	mw, err := middleware.New(env.Verifier)
	if err != nil {
		b.Fatal(err)
	}
	final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	guarded := mw.Handler(mw.Require(jwtverify.RequireAll("orders.read"))(final))
	r := httptest.NewRequest(http.MethodGet, "/orders", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	run := func(h http.Handler, n int) time.Duration {
		start := time.Now()
		for range n {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
		}
		return time.Since(start)
	}
	run(guarded, 1)
	allocs := testing.AllocsPerRun(1000, func() { run(guarded, 1) }) - testing.AllocsPerRun(1000, func() { run(final, 1) })
	const block = 256
	var raw, with time.Duration
	var n int
	b.ResetTimer()
	for b.Loop() {
		raw += run(final, block)
		with += run(guarded, block)
		n += block
	}
	b.ReportMetric(float64(raw.Nanoseconds())/float64(n), "raw-ns/op")
	b.ReportMetric(float64(with.Nanoseconds())/float64(n), "mw-ns/op")
	b.ReportMetric(float64((with-raw).Nanoseconds())/float64(n), "overhead-ns/op")
	b.ReportMetric(allocs, "overhead-allocs/op")
}
