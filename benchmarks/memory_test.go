package benchmarks

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/m2mauth/m2mauth/benchmarks/internal/fixture"
	"github.com/m2mauth/m2mauth/benchmarks/internal/m2m"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// cacheTokens is how many distinct tokens BenchmarkCacheMemory caches;
// M2M_BENCH_CACHE_TOKENS overrides it (for a quick check).
func cacheTokens() int {
	if s := os.Getenv("M2M_BENCH_CACHE_TOKENS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 && n <= 1_000_000 {
			return n
		}
	}
	return 100_000
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkCacheMemory fills the verified-token cache with distinct EdDSA
// tokens of the fixture's shape (one client each) and reports the heap
// growth per cached token, including the token string the cache keeps (the
// minted tokens are dropped before the heap is measured), and jwtverify's
// own accounting (CacheStats.Bytes per entry). Run with -benchtime 1x: one
// operation fills the whole cache.
func BenchmarkCacheMemory(b *testing.B) {
	n := cacheTokens()
	f := fixture.Get("EdDSA")
	priv := f.Priv.(ed25519.PrivateKey)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		cfg, err := m2m.Config(jwtverify.CacheConfig{MaxEntries: n + 1, MaxBytes: 1 << 40}, "EdDSA")
		if err != nil {
			b.Fatal(err)
		}
		cfg.Issuers[0].ClientIDs = nil
		cfg.Issuers[0].AllowAnyClient = true
		// Measured before New, so the cache's slot table counts too.
		before := heapInUse()
		v, err := m2m.NewFromConfig(cfg)
		if err != nil {
			b.Skip(err)
		}
		toks := make([]string, n)
		var tokBytes int
		for i := range toks {
			client := fmt.Sprintf("3f2a9c1e-5b7d-4e8f-a6c2-%012d", i)
			jti := fmt.Sprintf("c2b7e9d4-1a3f-4b6c-8e2d-%012d", i)
			toks[i], err = fixture.Sign("EdDSA", f.KID, priv, fixture.Claims(client, jti))
			if err != nil {
				b.Fatal(err)
			}
			tokBytes += len(toks[i])
		}
		b.StartTimer()
		for _, t := range toks {
			if _, err := v.Verify(ctx, t); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		toks = nil
		after := heapInUse()
		st := v.CacheStats()
		// n minted tokens plus the fixture token verified by NewFromConfig.
		// The cache is set-associative: a full probe window evicts even
		// below MaxEntries, so a few evictions are expected; the figures
		// are per entry actually held.
		if st.Entries < int64(n)*99/100 {
			b.Fatalf("cache holds %d entries (%d evicted), want about %d", st.Entries, st.Evictions, n+1)
		}
		b.ReportMetric(float64(int64(after)-int64(before))/float64(st.Entries), "heap-B/entry")
		b.ReportMetric(float64(st.Bytes)/float64(st.Entries), "accounted-B/entry")
		b.ReportMetric(float64(tokBytes)/float64(n), "token-B")
		b.ReportMetric(float64(st.Entries), "entries")
		b.ReportMetric(float64(st.Evictions), "evictions")
		runtime.KeepAlive(v)
		b.StartTimer()
	}
}
