package benchmarks

import (
	"context"
	"testing"

	"github.com/m2mauth/m2mauth/benchmarks/internal/fixture"
	"github.com/m2mauth/m2mauth/benchmarks/internal/m2m"
	"github.com/m2mauth/m2mauth/benchmarks/internal/peers"
)

// BenchmarkVerify verifies one token per operation on one goroutine.
func BenchmarkVerify(b *testing.B) { benchVerify(b, false) }

// BenchmarkVerifyParallel verifies with b.RunParallel (GOMAXPROCS
// goroutines).
func BenchmarkVerifyParallel(b *testing.B) { benchVerify(b, true) }

func benchVerify(b *testing.B, parallel bool) {
	ctx := context.Background()
	for _, alg := range fixture.Algorithms {
		f := fixture.Get(alg)
		b.Run("alg="+alg, func(b *testing.B) {
			b.Run("lib=raw", func(b *testing.B) {
				if !f.RawVerify() {
					b.Fatal("raw verify refused the fixture")
				}
				loop(b, parallel, func() bool { return f.RawVerify() })
			})
			b.Run("lib=m2mauth-cold", func(b *testing.B) {
				v, err := m2m.Cold(alg)
				if err != nil {
					b.Skip(err)
				}
				tok := f.Token
				loop(b, parallel, func() bool { _, err := v.Verify(ctx, tok); return err == nil })
			})
			b.Run("lib=m2mauth-hot", func(b *testing.B) {
				v, err := m2m.Hot(alg)
				if err != nil {
					b.Skip(err)
				}
				tok := f.Token
				b.ReportAllocs()
				if parallel {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if _, err := v.Verify(ctx, tok); err != nil {
								b.Error(err)
								return
							}
						}
					})
					return
				}
				for b.Loop() {
					if _, err := v.Verify(ctx, tok); err != nil {
						b.Fatal(err)
					}
				}
				if st := v.CacheStats(); st.Hits < uint64(b.N) {
					b.Fatalf("cache hits %d < b.N %d: not measuring the hot path", st.Hits, b.N)
				}
			})
			for _, lib := range peers.All {
				b.Run("lib="+lib.Name, func(b *testing.B) {
					verify := lib.New(f)
					tok := f.Token
					if err := verify(ctx, tok); err != nil {
						b.Fatal(err)
					}
					loop(b, parallel, func() bool { return verify(ctx, tok) == nil })
				})
			}
		})
	}
}

// loop runs ok once per operation, serially or in parallel, and fails the
// benchmark if ok ever reports false.
func loop(b *testing.B, parallel bool, ok func() bool) {
	b.ReportAllocs()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !ok() {
					b.Error("verification failed")
					return
				}
			}
		})
		return
	}
	for b.Loop() {
		if !ok() {
			b.Fatal("verification failed")
		}
	}
}
