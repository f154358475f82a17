package jwkscache

import (
	"context"
	"runtime"
	"testing"

	"github.com/m2mauth/m2mauth/oauthtest"
)

func benchCache(b *testing.B) (*Cache, string) {
	b.Helper()
	srv := oauthtest.NewT(b, oauthtest.WithKeyAlgs("RS256", "ES256", "EdDSA"))
	c, err := New(context.Background(), Config{Name: "bench", JWKSURL: srv.JWKSURL()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Ready(context.Background()); err != nil {
		b.Fatal(err)
	}
	return c, srv.SigningKeyID()
}

// cpuTimer reports the thread CPU time per operation as "cpu-ns/op"
// besides wall time, which a shared machine inflates.
func cpuTimer(b *testing.B) func() {
	runtime.LockOSThread()
	start, ok := threadCPU()
	return func() {
		end, ok2 := threadCPU()
		runtime.UnlockOSThread()
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// BenchmarkLookupHit is the verifier's hot path: a known kid, real clock.
func BenchmarkLookupHit(b *testing.B) {
	c, kid := benchCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	done := cpuTimer(b)
	for b.Loop() {
		if keys, err := c.Lookup(ctx, kid); err != nil || len(keys) != 1 {
			b.Fatal(err)
		}
	}
	done()
}

// BenchmarkLookupHitParallel is the same with every core looking up.
func BenchmarkLookupHitParallel(b *testing.B) {
	c, kid := benchCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if keys, err := c.Lookup(ctx, kid); err != nil || len(keys) != 1 {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLookupRawMap is the baseline: a plain map lookup with no
// staleness check, no atomic load, no interface.
func BenchmarkLookupRawMap(b *testing.B) {
	c, kid := benchCache(b)
	m := map[string][]Key{}
	for _, k := range c.Current().Keys {
		m[k.KID] = append(m[k.KID], k)
	}
	b.ReportAllocs()
	done := cpuTimer(b)
	for b.Loop() {
		if keys := m[kid]; len(keys) != 1 {
			b.Fatal("miss")
		}
	}
	done()
}

// BenchmarkLookupMissRateLimited is a random-kid flood inside the cooldown.
func BenchmarkLookupMissRateLimited(b *testing.B) {
	c, _ := benchCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	done := cpuTimer(b)
	for b.Loop() {
		if _, err := c.Lookup(ctx, "not-a-known-kid"); err == nil {
			b.Fatal("hit")
		}
	}
	done()
}

func BenchmarkParseJWKS(b *testing.B) {
	k := testKeys()
	doc := jwksDoc(b, jwkMap(b, &k.rsa2048.PublicKey, "r", map[string]any{"alg": "RS256"}),
		jwkMap(b, &k.p256.PublicKey, "e", nil), jwkMap(b, k.ed.Public(), "o", nil))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseJWKS(doc, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
