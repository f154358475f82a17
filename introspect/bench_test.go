package introspect

import (
	"context"
	"strings"
	"testing"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// benchCached introspects a cached token of n bytes.
func benchCached(b *testing.B, n int) {
	clk := newClock()
	srv := oauthtest.NewT(b, oauthtest.WithClock(clk.Now), oauthtest.WithKeyAlgs("ES256"))
	srv.RegisterIntrospectionClient(oauthtest.IntrospectionClient{ID: apiID, Secret: apiSecret})
	srv.SetIntrospectionAuthOptional(true)
	// Any token the server does not know answers inactive; the extra makes
	// every answer active, so a token of any length can be cached.
	tok := strings.Repeat("t", n)
	srv.SetIntrospectionExtra(nil)
	s, err := New(Config{
		Issuer: srv.Issuer(), Endpoint: srv.IntrospectionURL(), Auth: ClientAuth{Method: AuthNone},
		InsecureSkipAudienceCheck: true, AnyClient: true, Now: clk.Now,
		MaxTokenBytes: 2048,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	srv.SetFault(oauthtest.EndpointIntrospect, oauthtest.Fault{Body: []byte(`{"active":true,"exp":9999999999,"scope":"read","client_id":"c","sub":"c"}`)})
	ctx := context.Background()
	if _, err := s.Introspect(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	build := func(r *Result) any { return r.ClientID() }
	for b.Loop() {
		r, err := s.Introspect(ctx, tok)
		if err != nil {
			b.Fatal(err)
		}
		// What jwtverify will do: fetch its Principal attached to the Result.
		_ = r.Attached(build)
	}
}

// BenchmarkCachedOpaque128: the hot path, a cached opaque token of 128
// bytes (target: at most 500 ns and 0 allocs).
func BenchmarkCachedOpaque128(b *testing.B) { benchCached(b, 128) }

// BenchmarkCachedOpaque1536: a cached 1.5 KB token (hashing dominates).
func BenchmarkCachedOpaque1536(b *testing.B) { benchCached(b, 1536) }

// BenchmarkSHA256Baseline128 and 1536: the raw hash of the token, the
// floor of the lookup.
func BenchmarkSHA256Baseline128(b *testing.B)  { benchSHA(b, 128) }
func BenchmarkSHA256Baseline1536(b *testing.B) { benchSHA(b, 1536) }

var sink [32]byte

func benchSHA(b *testing.B, n int) {
	tok := strings.Repeat("t", n)
	b.ReportAllocs()
	for b.Loop() {
		sink = hashToken(tok)
	}
}
