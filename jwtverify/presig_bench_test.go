package jwtverify

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hostileShapes build a claims document of about n bytes that our reader
// must read to its end before any signature check: each is valid strict
// JSON, so no early exit, and each stresses another part of the reader.
var hostileShapes = []struct {
	name string
	fill func(n int) string // JSON text to put after "x": in the claims
}{
	{"numbers", func(n int) string { return "[" + strings.Repeat("0,", n/2) + "0]" }},
	{"members", func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; b.Len() < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"` + strconv.FormatInt(int64(i), 36) + `":0`)
		}
		return b.String() + "}"
	}},
	{"small_objects", func(n int) string { return "[" + strings.Repeat(`{"a":0,"b":0},`, n/14) + "{}]" }},
	{"escapes", func(n int) string { return `"` + strings.Repeat(`\u00e9`, n/6) + `"` }},
	{"nesting", func(n int) string {
		unit := strings.Repeat("[", 14) + strings.Repeat("]", 14)
		return "[" + strings.Repeat(unit+",", n/(len(unit)+1)) + "0]"
	}},
	{"surrogates", func(n int) string { return `"` + strings.Repeat(`\ud83d\ude00`, n/12) + `"` }},
}

// hostileToken returns a token of at most size bytes whose claims hold
// shape; its header names kid and its signature is 256 random bytes (a
// forgery: it never verifies).
func hostileToken(size int, kid string, fill func(int) string) string {
	hdr := b64([]byte(`{"alg":"RS256","kid":"` + kid + `","typ":"at+jwt"}`))
	sig := make([]byte, 256)
	_, _ = rand.Read(sig)
	sigs := b64(sig)
	base := fmt.Sprintf(`{"iss":%q,"aud":%q,"client_id":%q,"exp":%d,"x":`, testIss, testAud, testClient, time.Now().Unix()+3600)
	budget := (size-len(hdr)-len(sigs)-2)*3/4 - len(base) - 1
	for {
		token := hdr + "." + b64([]byte(base+fill(budget)+"}")) + "." + sigs
		if len(token) <= size {
			return token
		}
		budget -= 16
	}
}

// pairedRatio alternates batches of base and work (switching which runs
// first) for b.N rounds and returns the median ratio work/base and the
// mean time of one work call.
func pairedRatio(b *testing.B, batch int, base, work func()) (ratio float64, workNs float64) {
	var ratios []float64
	var total time.Duration
	run := func(f func()) time.Duration {
		t := time.Now()
		for range batch {
			f()
		}
		return time.Since(t)
	}
	odd := false
	for b.Loop() {
		var r, w time.Duration
		if odd {
			w, r = run(work), run(base)
		} else {
			r, w = run(base), run(work)
		}
		odd = !odd
		total += w
		ratios = append(ratios, float64(w)/float64(r))
	}
	slices.Sort(ratios)
	return ratios[len(ratios)/2], float64(total.Nanoseconds()) / float64(batch*len(ratios))
}

// BenchmarkPreSignature measures what a forged token costs before its
// signature is checked, at the default MaxTokenSize (16 KiB) and at the
// ceiling (64 KiB), for several hostile claims shapes, as a ratio to one
// raw RS256 verification run alternately in the same process
// ("presig/rs256"). The token names a kid the key source does not know, so
// Verify stops right after the key lookup: its whole cost is the strict
// parse. "forged/rs256" is the full cost of the same token with a kid that
// exists (parse plus the failing RSA check).
func BenchmarkPreSignature(b *testing.B) {
	raw := rawVerifier(b, "RS256", benchToken("RS256"))
	rawCall := func() {
		if !raw() {
			b.Fatal("raw verify failed")
		}
	}
	ctx := context.Background()
	for _, size := range []int{DefaultMaxTokenSize, MaxMaxTokenSize} {
		v := newV(b, func(c *Config) {
			c.MaxTokenSize = size
			c.Cache.Disabled = true
			c.Now = nil
		})
		for _, sh := range hostileShapes {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, sh.name), func(b *testing.B) {
				unknown := hostileToken(size, "no-such-kid", sh.fill)
				known := hostileToken(size, "RS256", sh.fill)
				if len(unknown) < size-256 || len(unknown) > size {
					b.Fatalf("token of %d bytes for a %d-byte cap", len(unknown), size)
				}
				if _, err := v.Verify(ctx, unknown); !errors.Is(err, ErrUnknownKey) {
					b.Fatalf("want unknown_key after a full parse: %v", err)
				}
				if _, err := v.Verify(ctx, known); !errors.Is(err, ErrBadSignature) {
					b.Fatalf("want bad_signature: %v", err)
				}
				presig := func() { _, _ = v.Verify(ctx, unknown) }
				forged := func() { _, _ = v.Verify(ctx, known) }
				ratio, ns := pairedRatio(b, 4, rawCall, presig)
				b.ReportMetric(ratio, "presig/rs256")
				b.ReportMetric(ns, "presig-ns")
				// A short second pass for the full forged-token cost.
				var fr []float64
				for range 50 {
					t0 := time.Now()
					rawCall()
					t1 := time.Now()
					forged()
					fr = append(fr, float64(time.Since(t1))/float64(t1.Sub(t0)))
				}
				slices.Sort(fr)
				b.ReportMetric(fr[len(fr)/2], "forged/rs256")
			})
		}
	}
}
