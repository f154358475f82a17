package main

import (
	"context"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// nullWriter is a ResponseWriter that keeps nothing: the benchmark measures
// the decision, not a recorder.
type nullWriter struct{ h http.Header }

func (w *nullWriter) Header() http.Header         { return w.h }
func (w *nullWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nullWriter) WriteHeader(int)             {}

// processCPU is the CPU time of the whole process (every thread, the GC
// included).
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkForwardAuth is the forward-auth handler alone with one repeated
// token (the caller reuses its token until it expires): the target is at
// most 15 us of CPU per decision, reported as cpu-us/op.
func BenchmarkForwardAuth(b *testing.B) {
	is := newIssuer(b)
	path := filepath.Join(b.TempDir(), "p.yaml")
	writeFile(b, path, policyDoc(issuerBlock("main", is)))
	p, err := loadPolicyFile(path)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := NewEngine(ctx, p, EngineOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/auth", nil)
	req.Header.Set("X-Original-Method", "GET")
	req.Header.Set("X-Original-URI", "/orders/42?expand=items")
	req.Header.Set("X-Forwarded-Host", "api.example.test")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Authorization", "Bearer "+is.MintT(b, oauthtest.WithClient("reader")))
	w := &nullWriter{h: http.Header{}}
	e.ForwardAuth(w, req) // warm the key and token caches
	if w.h.Get("X-Auth-Client-Id") != "reader" {
		b.Fatalf("not allowed: %v", w.h)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := processCPU()
	for i := 0; i < b.N; i++ {
		clear(w.h)
		e.ForwardAuth(w, req)
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-start)/float64(time.Microsecond)/float64(b.N), "cpu-us/op")
}
