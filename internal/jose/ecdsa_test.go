package jose

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"math/big"
	"testing"
)

// TestAppendDERSigMatchesASN1 compares the DER built on the stack with
// encoding/asn1 for values that need a leading zero, lose leading zeros,
// and reach the long length form (P-521).
func TestAppendDERSigMatchesASN1(t *testing.T) {
	vals := [][]byte{{0}, {1}, {0x7f}, {0x80}, {0, 0, 0x80}, bytes.Repeat([]byte{0xff}, 32),
		bytes.Repeat([]byte{0x01}, 48), bytes.Repeat([]byte{0xff}, 66), append([]byte{0, 0}, bytes.Repeat([]byte{0x42}, 64)...)}
	for _, r := range vals {
		for _, s := range vals {
			want, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(r), new(big.Int).SetBytes(s)})
			if err != nil {
				t.Fatal(err)
			}
			if got := AppendDERSig(nil, r, s); !bytes.Equal(got, want) {
				t.Fatalf("r %x s %x: got %x, asn1 %x", r, s, got, want)
			}
		}
	}
}

// TestVerifyECDSA signs with real keys on each curve and checks that the
// signature verifies, and that a changed digest, a wrong length, r or s of
// zero, equal to the order or above it, and s replaced by n-s (the
// malleable twin, which ECDSA accepts) behave as specified.
func TestVerifyECDSA(t *testing.T) {
	for _, tc := range []struct {
		curve elliptic.Curve
		order []byte
		sum   func([]byte) []byte
	}{
		{elliptic.P256(), OrderP256, func(b []byte) []byte { d := sha256.Sum256(b); return d[:] }},
		{elliptic.P384(), OrderP384, func(b []byte) []byte { d := sha512.Sum384(b); return d[:] }},
		{elliptic.P521(), OrderP521, func(b []byte) []byte { d := sha512.Sum512(b); return d[:] }},
	} {
		k, err := ecdsa.GenerateKey(tc.curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		size := len(tc.order)
		digest := tc.sum([]byte("input"))
		r, s, err := ecdsa.Sign(rand.Reader, k, digest)
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
		if !VerifyECDSA(&k.PublicKey, digest, sig, tc.order) {
			t.Fatalf("%s: valid signature refused", tc.curve.Params().Name)
		}
		if VerifyECDSA(&k.PublicKey, tc.sum([]byte("other")), sig, tc.order) {
			t.Fatalf("%s: signature over another digest accepted", tc.curve.Params().Name)
		}
		if VerifyECDSA(&k.PublicKey, digest, sig[:len(sig)-1], tc.order) || VerifyECDSA(&k.PublicKey, digest, append(sig, 0), tc.order) {
			t.Fatalf("%s: signature of a wrong length accepted", tc.curve.Params().Name)
		}
		n := new(big.Int).SetBytes(tc.order)
		for _, bad := range []*big.Int{big.NewInt(0), n, new(big.Int).Add(n, r)} {
			b := make([]byte, 2*size)
			if bad.BitLen() > 8*size {
				continue
			}
			bad.FillBytes(b[:size])
			copy(b[size:], sig[size:])
			if VerifyECDSA(&k.PublicKey, digest, b, tc.order) {
				t.Fatalf("%s: r = %x accepted", tc.curve.Params().Name, bad)
			}
			copy(b[:size], sig[:size])
			bad.FillBytes(b[size:])
			if VerifyECDSA(&k.PublicKey, digest, b, tc.order) {
				t.Fatalf("%s: s = %x accepted", tc.curve.Params().Name, bad)
			}
		}
		twin := make([]byte, 2*size)
		copy(twin, sig[:size])
		new(big.Int).Sub(n, s).FillBytes(twin[size:])
		if !VerifyECDSA(&k.PublicKey, digest, twin, tc.order) {
			t.Fatalf("%s: (r, n-s) refused; ECDSA accepts it", tc.curve.Params().Name)
		}
	}
}

// TestScalarInRange pins the bounds: 0 and n are out, 1 and n-1 in.
func TestScalarInRange(t *testing.T) {
	n := new(big.Int).SetBytes(OrderP256)
	for _, c := range []struct {
		v  *big.Int
		ok bool
	}{{big.NewInt(0), false}, {big.NewInt(1), true}, {new(big.Int).Sub(n, big.NewInt(1)), true}, {n, false}, {new(big.Int).Add(n, big.NewInt(1)), false}} {
		if got := ScalarInRange(c.v.FillBytes(make([]byte, 32)), OrderP256); got != c.ok {
			t.Fatalf("%x: %v, want %v", c.v, got, c.ok)
		}
	}
}
