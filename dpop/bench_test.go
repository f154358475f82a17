package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// benchToken is an access token of a realistic size (about 1 KB).
var benchToken = strings.Repeat("t", 1000)

// benchProofs returns n fresh ES256 proofs (distinct jti) for GET apiURL,
// all dated at now, by one key, with their requests.
func benchProofs(b *testing.B, n int, now time.Time) (*ecdsa.PrivateKey, []string, []*http.Request) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	p, err := oauthtest.NewDPoPProverKey("ES256", priv)
	if err != nil {
		b.Fatal(err)
	}
	proofs := make([]string, n)
	reqs := make([]*http.Request, n)
	for i := range proofs {
		proofs[i] = mustProof(b, p, "GET", apiURL, benchToken, "", oauthtest.WithProofTime(now))
		reqs[i] = request("GET", "/orders/42", proofs[i])
	}
	return priv, proofs, reqs
}

// rawES256 is the baseline: SHA-256 of the signing input and crypto/ecdsa's
// check of a DER signature built beforehand, with a parsed key.
func rawES256(b *testing.B, priv *ecdsa.PrivateKey, proof string) func() bool {
	i := strings.LastIndexByte(proof, '.')
	input := []byte(proof[:i])
	sig, err := base64.RawURLEncoding.DecodeString(proof[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
	if err != nil {
		b.Fatal(err)
	}
	pub := &priv.PublicKey
	return func() bool {
		d := sha256.Sum256(input)
		return ecdsa.VerifyASN1(pub, d[:], der)
	}
}

func BenchmarkRawES256Verify(b *testing.B) {
	now := time.Now()
	priv, proofs, _ := benchProofs(b, 1, now)
	raw := rawES256(b, priv, proofs[0])
	b.ReportAllocs()
	for b.Loop() {
		if !raw() {
			b.Fatal("raw verify failed")
		}
	}
}

// BenchmarkCheckES256 is the whole Check of a fresh ES256 proof: parse,
// jwk to key, claims, signature, thumbprint, replay key.
func BenchmarkCheckES256(b *testing.B) {
	now := time.Now()
	_, _, reqs := benchProofs(b, 64, now)
	c := newChecker(b, dpop.Config{Now: func() time.Time { return now }})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := c.Check(reqs[i%len(reqs)], benchToken); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCheckAndCommitES256 adds the memory store's Commit.
func BenchmarkCheckAndCommitES256(b *testing.B) {
	now := time.Now()
	_, _, reqs := benchProofs(b, 1, now)
	c := newChecker(b, dpop.Config{Now: func() time.Time { return now }, Replay: dpop.NewMemoryStore(1 << 20)})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v, err := c.Check(reqs[0], benchToken)
		if err != nil {
			b.Fatal(err)
		}
		// A distinct replay key per iteration, as fresh proofs have.
		_ = c.Commit(ctx, v)
	}
}

// BenchmarkCheckVsRawES256 alternates small batches of the raw baseline and
// of Check and reports the median per-batch ratio ("check/raw"), which
// stays meaningful on a shared machine.
func BenchmarkCheckVsRawES256(b *testing.B) {
	now := time.Now()
	priv, proofs, reqs := benchProofs(b, 64, now)
	raw := rawES256(b, priv, proofs[0])
	c := newChecker(b, dpop.Config{Now: func() time.Time { return now }})
	const batch = 4
	var ratios []float64
	var checkTotal, rawTotal time.Duration
	runRaw := func() time.Duration {
		t := time.Now()
		for range batch {
			if !raw() {
				b.Fatal("raw verify failed")
			}
		}
		return time.Since(t)
	}
	i := 0
	runCheck := func() time.Duration {
		t := time.Now()
		for range batch {
			if _, err := c.Check(reqs[i%len(reqs)], benchToken); err != nil {
				b.Fatal(err)
			}
			i++
		}
		return time.Since(t)
	}
	odd := false
	for b.Loop() {
		var r, k time.Duration
		if odd {
			k, r = runCheck(), runRaw()
		} else {
			r, k = runRaw(), runCheck()
		}
		odd = !odd
		checkTotal += k
		rawTotal += r
		ratios = append(ratios, float64(k)/float64(r))
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "check/raw")
	b.ReportMetric(float64(checkTotal)/float64(rawTotal), "sum-check/sum-raw")
}

// BenchmarkRefusedBeforeSignature isolates the cost around the crypto: a proof refused
// at the last claim check (ath) has been parsed, its key built and its
// claims read, but its signature not checked.
func BenchmarkRefusedBeforeSignature(b *testing.B) {
	now := time.Now()
	_, _, reqs := benchProofs(b, 1, now)
	c := newChecker(b, dpop.Config{Now: func() time.Time { return now }})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Check(reqs[0], "another token"); err == nil {
			b.Fatal("accepted")
		}
	}
}
