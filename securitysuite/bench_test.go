package securitysuite

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/m2mauth/m2mauth/jwtverify"
)

// Run with: go test -run '^$' -bench . -benchmem ./securitysuite/
// The B/op column is the point: hostile input of any size costs a bounded
// amount of memory.

// BenchmarkAuthorizationHeader: refusing a 1 MB header costs what refusing
// a 1 KB one costs (net/http adapter, handler called directly).
func BenchmarkAuthorizationHeader(b *testing.B) {
	f := newFixture(b, fixtureOptions{})
	valid := "Bearer " + f.mint(b)
	for _, c := range []struct{ name, value string }{
		{"valid_cached", valid},
		{"junk_1KB", "Bearer " + strings.Repeat(".", 1<<10)},
		{"junk_1MB", "Bearer " + strings.Repeat(".", 1<<20)},
	} {
		b.Run("http/"+c.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/api/read", nil)
			r.Header.Set("Authorization", c.value)
			b.ReportAllocs()
			for b.Loop() {
				f.httpHandler.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
		b.Run("grpc/"+c.name, func(b *testing.B) {
			ctx := metadata.NewIncomingContext(context.Background(), metadata.MD{"authorization": {c.value}})
			b.ReportAllocs()
			for b.Loop() {
				_, _ = f.gic.Authorize(ctx, grpcRead)
			}
		})
	}
}

// BenchmarkHostileTokens: the verifier's cost per hostile token.
func BenchmarkHostileTokens(b *testing.B) {
	f := newFixture(b, fixtureOptions{})
	base := f.claimsJSON(nil)
	claims := enc(base)
	sig := enc(make([]byte, 64))
	kids := make([]string, 4096)
	for i := range kids {
		kids[i] = enc(mustJSON(map[string]any{"alg": "ES256", "kid": randomKID(24)})) + "." + claims + "." + sig
	}
	deep := f.sign(b, "ES256", f.header("ES256", nil), []byte(`{"d":`+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+","+string(base[1:])))
	ctx := context.Background()
	b.Run("unknown_kid_flood", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_, _ = f.v.Verify(ctx, kids[i%len(kids)])
			i++
		}
	})
	b.Run("deep_json_5000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = f.v.Verify(ctx, deep)
		}
	})
	b.Run("oversize_1MB", func(b *testing.B) {
		tok := strings.Repeat("A", 1<<20)
		b.ReportAllocs()
		for b.Loop() {
			_, _ = f.v.Verify(ctx, tok)
		}
	})
}

// BenchmarkDistinctValidTokens: each iteration verifies a new valid token
// into a full cache (insert plus eviction); the cache stays at its caps.
func BenchmarkDistinctValidTokens(b *testing.B) {
	f := newFixture(b, fixtureOptions{})
	v := newVerifier(b, f, func(c *jwtverify.Config) { c.Cache.MaxEntries = 1024 })
	next := validTokens(b, f, 0, 0)
	toks := make([]string, 8192)
	for i := range toks {
		toks[i] = next(i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := v.Verify(ctx, toks[i%len(toks)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	st := v.CacheStats()
	if st.Entries > int64(st.MaxEntries) || st.Bytes > st.MaxBytes {
		b.Fatalf("cache over its caps: %+v", st)
	}
	b.ReportMetric(float64(st.Entries), "entries")
}
