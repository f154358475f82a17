package authlog

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/m2mauth/m2mauth/jwtverify"
)

// nopHandler is enabled and writes nothing, so benchmarks measure the rate
// limiter, not a formatter.
type nopHandler struct{}

func (nopHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (nopHandler) Handle(context.Context, slog.Record) error { return nil }
func (h nopHandler) WithAttrs([]slog.Attr) slog.Handler      { return h }
func (h nopHandler) WithGroup(string) slog.Handler           { return h }

// BenchmarkDistinctKeys: every event is a new key, so with maxKeys windows
// already held every insert evicts one. The cost per event must not grow
// with maxKeys (it scanned every window under the mutex before).
func BenchmarkDistinctKeys(b *testing.B) {
	for _, maxKeys := range []int{16, 4096} {
		b.Run(fmt.Sprint("max_keys=", maxKeys), func(b *testing.B) {
			l := New(slog.New(nopHandler{}), Options{MaxKeys: maxKeys})
			defer l.Close()
			evs := make([]jwtverify.DecisionEvent, 2*maxKeys+1)
			for i := range evs {
				id := fmt.Sprint("r", i)
				evs[i] = jwtverify.DecisionEvent{Transport: "http", Result: jwtverify.DecisionForbidden,
					Reason: jwtverify.ReasonInsufficientScope, Issuer: "corp", Route: id, ClientID: id}
			}
			for i := 0; i < maxKeys; i++ {
				l.ObserveDecision(evs[i])
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				l.ObserveDecision(evs[(maxKeys+i)%len(evs)])
			}
		})
	}
}

// BenchmarkRepeatedKey: the flood case, one key suppressed.
func BenchmarkRepeatedKey(b *testing.B) {
	l := New(slog.New(nopHandler{}), Options{})
	defer l.Close()
	ev := jwtverify.DecisionEvent{Transport: "http", Result: jwtverify.DecisionUnauthenticated,
		Reason: jwtverify.ReasonBadSignature, Issuer: "corp", Route: "GET /orders"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.ObserveDecision(ev)
	}
}
