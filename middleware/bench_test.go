package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
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
// same machine load, and reports per request: the wall time of each half
// (raw-ns/op, mw-ns/op) and their difference (overhead-ns/op); on Linux the
// same from the thread's CPU time (overhead-cpu-ns/op), which other
// processes on a shared machine do not inflate; and the extra allocations
// (overhead-allocs/op).
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
	type cost struct{ wall, cpu time.Duration }
	run := func(h http.Handler, n int) cost {
		c0, _ := threadCPU()
		start := time.Now()
		for range n {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
		}
		wall := time.Since(start)
		c1, _ := threadCPU()
		return cost{wall, c1 - c0}
	}
	run(guarded, 1)
	allocs := testing.AllocsPerRun(1000, func() { run(guarded, 1) }) - testing.AllocsPerRun(1000, func() { run(final, 1) })
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const block = 256
	var raw, with cost
	var n int
	b.ResetTimer()
	for b.Loop() {
		c := run(final, block)
		raw.wall, raw.cpu = raw.wall+c.wall, raw.cpu+c.cpu
		c = run(guarded, block)
		with.wall, with.cpu = with.wall+c.wall, with.cpu+c.cpu
		n += block
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
	b.ReportMetric(per(raw.wall), "raw-ns/op")
	b.ReportMetric(per(with.wall), "mw-ns/op")
	b.ReportMetric(per(with.wall-raw.wall), "overhead-ns/op")
	if _, ok := threadCPU(); ok {
		b.ReportMetric(per(raw.cpu), "raw-cpu-ns/op")
		b.ReportMetric(per(with.cpu-raw.cpu), "overhead-cpu-ns/op")
	}
	b.ReportMetric(allocs, "overhead-allocs/op")
}

type nopObserver struct{}

func (nopObserver) ObserveDecision(jwtverify.DecisionEvent) {}

// BenchmarkObservedRoute: a repeated token through Handler in front of a
// ServeMux whose route has a Require wrapper: without observer, with one
// (Handler's decision names the route "unknown"), and with WithServeMux
// (Handler's decision asks the mux for the pattern: one more route
// lookup per request).
func BenchmarkObservedRoute(b *testing.B) {
	env := authtest.NewEnv(b)
	tok := env.Token(b, map[string]any{"scope": "orders.read"})
	final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, bc := range []struct {
		name    string
		observe bool
		withMux bool
	}{
		{"no_observer", false, false},
		{"observer", true, false},
		{"observer+WithServeMux", true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			mux := http.NewServeMux()
			var opts []middleware.Option
			if bc.observe {
				opts = append(opts, middleware.WithObserver(nopObserver{}))
			}
			if bc.withMux {
				opts = append(opts, middleware.WithServeMux(mux))
			}
			mw, err := middleware.New(env.Verifier, opts...)
			if err != nil {
				b.Fatal(err)
			}
			mux.Handle("GET /orders/{id}", mw.Require(jwtverify.RequireAll("orders.read"))(final))
			h := mw.Handler(mux)
			r := httptest.NewRequest(http.MethodGet, "/orders/42", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusNoContent {
				b.Fatalf("status %d", w.Code)
			}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
