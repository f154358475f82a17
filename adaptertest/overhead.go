package adaptertest

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// Overhead measures what an adapter adds to a request: it interleaves
// blocks of requests r to raw (the framework's route without the adapter)
// and to guarded (the same route behind it), so that both halves see the
// same machine load, and reports per request the wall time of each half
// (raw-ns/op, guarded-ns/op) and their difference (overhead-ns/op); on
// Linux the same from the thread's CPU time (overhead-cpu-ns/op), which
// other processes on a shared machine do not inflate; and the extra
// allocations (overhead-allocs/op). Both handlers must answer r with 2xx:
// use a repeated valid token to measure the hot path.
//
//	func BenchmarkOverhead(b *testing.B) {
//		adaptertest.Overhead(b, rawRouter, guardedRouter, req)
//	}
func Overhead(b *testing.B, raw, guarded http.Handler, r *http.Request) {
	b.Helper()
	for _, h := range []http.Handler{raw, guarded} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code < 200 || w.Code > 299 {
			b.Fatalf("adaptertest: status %d, want 2xx (WWW-Authenticate %q)", w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	type cost struct{ wall, cpu time.Duration }
	run := func(h http.Handler, n int) cost {
		c0, _ := threadCPU()
		start := time.Now()
		for range n {
			h.ServeHTTP(httptest.NewRecorder(), r)
		}
		wall := time.Since(start)
		c1, _ := threadCPU()
		return cost{wall, c1 - c0}
	}
	allocs := testing.AllocsPerRun(1000, func() { run(guarded, 1) }) - testing.AllocsPerRun(1000, func() { run(raw, 1) })
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const block = 256
	var without, with cost
	var n int
	b.ResetTimer()
	for b.Loop() {
		c := run(raw, block)
		without.wall, without.cpu = without.wall+c.wall, without.cpu+c.cpu
		c = run(guarded, block)
		with.wall, with.cpu = with.wall+c.wall, with.cpu+c.cpu
		n += block
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
	b.ReportMetric(per(without.wall), "raw-ns/op")
	b.ReportMetric(per(with.wall), "guarded-ns/op")
	b.ReportMetric(per(with.wall-without.wall), "overhead-ns/op")
	if _, ok := threadCPU(); ok {
		b.ReportMetric(per(without.cpu), "raw-cpu-ns/op")
		b.ReportMetric(per(with.cpu-without.cpu), "overhead-cpu-ns/op")
	}
	b.ReportMetric(allocs, "overhead-allocs/op")
}
