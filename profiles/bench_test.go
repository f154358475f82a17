package profiles_test

import (
	"context"
	"testing"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

// BenchmarkEntraVerify measures what the Entra profile's rules (Validate and
// AppOnly hooks) add to a full verification (cache off: every call checks
// the signature and runs the rules), against the same IssuerConfig without
// the hooks ("raw"), and the cached path.
func BenchmarkEntraVerify(b *testing.B) {
	s := newServer(b)
	ps := entra(b, s, profiles.EntraOptions{TenantID: tenantA, Versions: profiles.EntraV2})
	raw := ps[0]
	raw.Validate, raw.AppOnly = nil, nil
	tok := s.MintProviderT(b, oauthtest.ProviderEntraV2, oauthtest.ProviderToken{Roles: []string{"Orders.Read.All"}})
	run := func(b *testing.B, p profiles.Profile, cache bool) {
		v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(p), Cache: jwtverify.CacheConfig{Disabled: !cache}})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("raw", func(b *testing.B) { run(b, raw, false) })
	b.Run("profile", func(b *testing.B) { run(b, ps[0], false) })
	b.Run("profile-cached", func(b *testing.B) { run(b, ps[0], true) })
}
