package metrics_test

import (
	"context"
	"testing"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkHotPath compares a verified-token cache hit with and without the
// Prometheus observer, in one run: the difference is what metrics cost on
// the hot path.
func BenchmarkHotPath(b *testing.B) {
	srv := oauthtest.NewT(b, oauthtest.WithKeyAlgs("EdDSA"))
	pub, _ := srv.PublicKey(srv.SigningKeyID())
	key, err := jwkscache.NewKey(srv.SigningKeyID(), "EdDSA", pub)
	if err != nil {
		b.Fatal(err)
	}
	src := jwkscache.NewStatic("static", key)
	tok := srv.MintT(b)
	newVerifier := func(obs jwtverify.Observer) *jwtverify.Verifier {
		v, err := jwtverify.New(jwtverify.Config{
			Issuers: []jwtverify.IssuerConfig{{
				Name: "corp", Issuer: srv.Issuer(), Keys: src, Audiences: []string{oauthtest.DefaultAudience},
				AllowAnyClient: true, Algorithms: []string{"EdDSA"},
			}},
			Observer: obs,
		})
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	m, err := metrics.New(prometheus.NewRegistry(), metrics.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		v    *jwtverify.Verifier
	}{{"metrics=off", newVerifier(nil)}, {"metrics=on", newVerifier(m)}} {
		ctx := context.Background()
		if _, err := c.v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
