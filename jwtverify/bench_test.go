package jwtverify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
)

// benchAlgs are the algorithms with performance targets.
var benchAlgs = []string{"RS256", "ES256", "EdDSA"}

// benchClaims resemble an Entra app-only access token.
func benchClaims() map[string]any { return benchClaimsAt(testNow) }

func benchClaimsAt(now time.Time) map[string]any {
	return map[string]any{
		"iss": testIss, "aud": testAud, "sub": "b1f0c6a2-4c1d-4e3b-9a8e-6f7d5c4b3a21",
		"azp": testClient, "azpacr": "1", "idtyp": "app", "ver": "2.0",
		"tid": "72f988bf-86f1-41af-91ab-2d7cd011db47", "oid": "b1f0c6a2-4c1d-4e3b-9a8e-6f7d5c4b3a21",
		"iat": now.Unix() - 60, "nbf": now.Unix() - 60, "exp": now.Unix() + 3600,
		"jti": "8f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "uti": "FVsGxYXI30-TuikuuUoFAA",
		"roles": []string{"Orders.Read.All", "Orders.Write.All"},
		"aio":   "E2ZgYJj8dPz6mGj3xs9Lq3tbPsR1ZfXr6OAv/ATG1bMrdGxbnJzQAA=",
	}
}

// benchToken is valid now (the benchmarks use the real clock).
func benchToken(alg string) string {
	k := fx(alg)
	return signToken(alg, k.priv, mustJSON(map[string]any{"alg": alg, "kid": k.kid, "typ": "at+jwt"}), mustJSON(benchClaimsAt(time.Now())))
}

func benchVerifier(b *testing.B, disabled bool) *Verifier {
	return newV(b, func(c *Config) {
		c.Cache.Disabled = disabled
		c.Now = nil // time.Now, as in production
	})
}

// BenchmarkRaw is the baseline: exactly the standard library's work on the
// same token (SHA-256 of the signing input plus the signature check), with
// the signature already decoded.
func BenchmarkRaw(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			token := benchToken(alg)
			verify := rawVerifier(b, alg, token)
			b.SetBytes(int64(len(token)))
			b.ReportAllocs()
			for b.Loop() {
				if !verify() {
					b.Fatal("raw verify failed")
				}
			}
		})
	}
}

// rawVerifier returns the baseline work for token: SHA-256 of the signing
// input and the standard library's signature check (ES256 on a DER
// signature built beforehand, as crypto/ecdsa expects; Ed25519 hashes
// internally).
func rawVerifier(b *testing.B, alg, token string) func() bool {
	i := strings.LastIndexByte(token, '.')
	input := []byte(token[:i])
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	pub := fx(alg).priv.Public()
	switch alg {
	case "RS256":
		return func() bool {
			d := sha256.Sum256(input)
			return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, d[:], sig) == nil
		}
	case "ES256":
		der, _ := asn1Sig(new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
		return func() bool {
			d := sha256.Sum256(input)
			return ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), d[:], der)
		}
	case "EdDSA":
		return func() bool { return ed25519.Verify(pub.(ed25519.PublicKey), input, sig) }
	}
	b.Fatal("alg " + alg)
	return nil
}

// BenchmarkColdVsRaw alternates small batches of the raw baseline and of a
// cold Verify on the same token and reports the median per-batch ratio
// ("cold/raw"), which stays meaningful when other processes share the CPU
// (the separate Raw and VerifyCold benchmarks run seconds apart).
func BenchmarkColdVsRaw(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			v := benchVerifier(b, true)
			token := benchToken(alg)
			raw := rawVerifier(b, alg, token)
			ctx := context.Background()
			const batch = 4
			var ratios []float64
			var coldTotal, rawTotal time.Duration
			runRaw := func() time.Duration {
				t := time.Now()
				for range batch {
					if !raw() {
						b.Fatal("raw verify failed")
					}
				}
				return time.Since(t)
			}
			runCold := func() time.Duration {
				t := time.Now()
				for range batch {
					if _, err := v.Verify(ctx, token); err != nil {
						b.Fatal(err)
					}
				}
				return time.Since(t)
			}
			odd := false
			for b.Loop() {
				// Alternate which side runs first, so neither always
				// follows the other's cache footprint.
				var r, c time.Duration
				if odd {
					c, r = runCold(), runRaw()
				} else {
					r, c = runRaw(), runCold()
				}
				odd = !odd
				coldTotal += c
				rawTotal += r
				ratios = append(ratios, float64(c)/float64(r))
			}
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], "cold/raw")
			b.ReportMetric(float64(coldTotal)/float64(rawTotal), "sum-cold/sum-raw")
			b.ReportMetric(float64(coldTotal.Nanoseconds())/float64(batch*len(ratios)), "cold-ns/verify")
		})
	}
}

// BenchmarkVerifyCold is the first sight of a token: the cache is off.
func BenchmarkVerifyCold(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			v := benchVerifier(b, true)
			token := benchToken(alg)
			ctx := context.Background()
			b.SetBytes(int64(len(token)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyHot repeats one token: every call is a cache hit.
func BenchmarkVerifyHot(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			v := benchVerifier(b, false)
			token := benchToken(alg)
			ctx := context.Background()
			if _, err := v.Verify(ctx, token); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(token)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyHotParallel: concurrent hits of the same token; compare
// -cpu 1 and -cpu 2.
func BenchmarkVerifyHotParallel(b *testing.B) {
	v := benchVerifier(b, false)
	token := benchToken("RS256")
	ctx := context.Background()
	if _, err := v.Verify(ctx, token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, token); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerifyHotMany spreads hits over many cached tokens.
func BenchmarkVerifyHotMany(b *testing.B) {
	v := benchVerifier(b, false)
	const n = 512
	tokens := make([]string, n)
	ctx := context.Background()
	for i := range tokens {
		c := benchClaimsAt(time.Now())
		c["jti"] = strings.Repeat("j", i%40) + string(rune('a'+i%26))
		c["n"] = i
		tokens[i] = signToken("EdDSA", fx("EdDSA").priv, mustJSON(map[string]any{"alg": "EdDSA", "kid": "EdDSA"}), mustJSON(c))
		if _, err := v.Verify(ctx, tokens[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := v.Verify(ctx, tokens[i%n]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

var _ jwkscache.KeySource = (*swapSource)(nil)

// BenchmarkParallelControl does work of about a cache hit's cost with no
// shared memory at all: the -cpu 1 to -cpu 2 scaling of
// BenchmarkVerifyHotParallel can only be judged against what this one
// reaches on the same machine at the same time.
func BenchmarkParallelControl(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		var x [32]byte
		for pb.Next() {
			x = sha256.Sum256(x[:])
		}
	})
}

// BenchmarkVerifyHotUserRule is a cache hit with a trivial user rule
// (IssuerConfig.Validate), which runs on every Verify: compare with
// BenchmarkVerifyHot/EdDSA.
func BenchmarkVerifyHotUserRule(b *testing.B) {
	v := newV(b, func(c *Config) {
		c.Now = nil
		c.Issuers[0].Validate = func(p *Principal) error {
			if p.TokenID() == "denied" {
				return ErrClient
			}
			return nil
		}
	})
	token := benchToken("EdDSA")
	ctx := context.Background()
	if _, err := v.Verify(ctx, token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHotUserRuleVsHot alternates batches of cache hits without and
// with a trivial user rule (two verifiers, the same token) and reports the
// median ratio ("rule/none") and the extra nanoseconds per hit: the cost of
// running Validate on every Verify, robust to a loaded machine.
func BenchmarkHotUserRuleVsHot(b *testing.B) {
	plain := benchVerifier(b, false)
	ruled := newV(b, func(c *Config) {
		c.Now = nil
		c.Issuers[0].Validate = func(p *Principal) error {
			if p.TokenID() == "denied" {
				return ErrClient
			}
			return nil
		}
	})
	token := benchToken("EdDSA")
	ctx := context.Background()
	for _, v := range []*Verifier{plain, ruled} {
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
	hit := func(v *Verifier) func() {
		return func() {
			if _, err := v.Verify(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	}
	ratio, ns := pairedRatio(b, 256, hit(plain), hit(ruled))
	b.ReportMetric(ratio, "rule/none")
	b.ReportMetric(ns, "rule-ns/hit")
	b.ReportMetric(ns-ns/ratio, "extra-ns/hit")
}
