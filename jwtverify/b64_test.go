package jwtverify

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
		n := b64Len(len(src))
		want, err := std.DecodeString(src)
		stdOK := err == nil && !strings.ContainsAny(src, "\r\n")
		ok := n >= 0
		var got []byte
		if ok {
			got = make([]byte, n)
			ok = b64Decode(got, src)
		}
		if ok != stdOK || (ok && !bytes.Equal(got, want)) {
			t.Fatalf("%q: ours %v %x, stdlib %v %x", src, ok, got, stdOK, want)
		}
	}
}
