package jose

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestB64DecodeMatchesStrictStdlib compares the decoder with the standard
// library's strict decoder on random valid and corrupted inputs; they differ
// only where the standard library skips CR and LF.
func TestB64DecodeMatchesStrictStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	std := base64.RawURLEncoding.Strict()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ \r\n.\x00\xff"
	for i := 0; i < 200000; i++ {
		var src string
		if i%2 == 0 {
			raw := make([]byte, r.IntN(64))
			for j := range raw {
				raw[j] = byte(r.Uint32())
			}
			src = base64.RawURLEncoding.EncodeToString(raw)
			if len(src) > 0 && r.IntN(3) == 0 { // corrupt one character
				j := r.IntN(len(src))
				src = src[:j] + string(alphabet[r.IntN(len(alphabet))]) + src[j+1:]
			}
		} else {
			b := make([]byte, r.IntN(40))
			for j := range b {
				b[j] = alphabet[r.IntN(64+r.IntN(2)*(len(alphabet)-64))]
			}
			src = string(b)
		}
		n := Base64URLLen(len(src))
		want, err := std.DecodeString(src)
		stdOK := err == nil && !strings.ContainsAny(src, "\r\n")
		ok := n >= 0
		var got []byte
		if ok {
			got = make([]byte, n)
			ok = DecodeBase64URL(got, src)
		}
		if ok != stdOK || (ok && !bytes.Equal(got, want)) {
			t.Fatalf("%q: ours %v %x, stdlib %v %x", src, ok, got, stdOK, want)
		}
	}
}

// FuzzDecodeBase64URL checks the decoder against the standard library's
// strict decoder (which also skips CR and LF, so those are refused here
// only), for both source types.
func FuzzDecodeBase64URL(f *testing.F) {
	for _, s := range []string{"", "AA", "AQ", "AAA", "AAE", "AAAA", "_-_-", "a\nbc", "YWJjZGVmZ2hpams", "A=", "+/"} {
		f.Add(s)
	}
	std := base64.RawURLEncoding.Strict()
	f.Fuzz(func(t *testing.T, src string) {
		want, err := std.DecodeString(src)
		stdOK := err == nil && !strings.ContainsAny(src, "\r\n")
		n := Base64URLLen(len(src))
		if n < 0 {
			if stdOK {
				t.Fatalf("%q: length refused, stdlib decodes it", src)
			}
			return
		}
		got := make([]byte, n)
		ok := DecodeBase64URL(got, src)
		if ok != stdOK || (ok && !bytes.Equal(got, want)) {
			t.Fatalf("%q: ours %v %x, stdlib %v %x", src, ok, got, stdOK, want)
		}
		got2 := make([]byte, n)
		if ok2 := DecodeBase64URLBytesExact(got2, []byte(src)); ok2 != ok || (ok && !bytes.Equal(got2, got)) {
			t.Fatalf("%q: []byte source %v %x, string source %v %x", src, ok2, got2, ok, got)
		}
		if n > 0 && DecodeBase64URLExact(make([]byte, n-1), src) {
			t.Fatalf("%q: exact decode accepted a short destination", src)
		}
	})
}
