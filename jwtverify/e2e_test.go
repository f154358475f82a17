package jwtverify_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// e2e is an in-process issuer, a real JWKS cache over loopback and a
// verifier.
type e2e struct {
	clk   *fakeClock
	srv   *oauthtest.Server
	cache *jwkscache.Cache
	v     *jwtverify.Verifier
}

func newE2E(t *testing.T, ready bool, prep func(*oauthtest.Server)) *e2e {
	t.Helper()
	srv := oauthtest.NewT(t, oauthtest.WithKeyAlgs("ES256"))
	if prep != nil {
		prep(srv)
	}
	clk := &fakeClock{}
	clk.t.Store(time.Now().UnixNano())
	cache, err := jwkscache.New(context.Background(), jwkscache.Config{Name: "e2e", Issuer: srv.Issuer(), FetchTimeout: 2 * time.Second, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	if ready {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cache.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name:       "e2e",
		Issuer:     srv.Issuer(),
		Keys:       cache,
		Audiences:  []string{oauthtest.DefaultAudience},
		ClientIDs:  []string{oauthtest.DefaultClientID},
		Algorithms: []string{"ES256", "RS256", "EdDSA"},
	}}, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return &e2e{clk: clk, srv: srv, cache: cache, v: v}
}

// fakeClock is a settable clock shared by the cache and the verifier.
type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() time.Time      { return time.Unix(0, c.t.Load()) }
func (c *fakeClock) add(d time.Duration) { c.t.Add(int64(d)) }

func wantReason(t *testing.T, err error, r jwtverify.Reason) {
	t.Helper()
	if r == "" {
		if err != nil {
			t.Fatalf("want accept, got %v", err)
		}
		return
	}
	if jwtverify.ReasonOf(err) != r {
		t.Fatalf("want %s, got %v", r, err)
	}
}

// TestSecurityKeysEndToEnd covers the SECURITY.md key rows that need a
// real JWKS endpoint.
func TestSecurityKeysEndToEnd(t *testing.T) {
	ctx := context.Background()
	t.Run("B5_unknown_kid_burst", func(t *testing.T) {
		e := newE2E(t, true, nil)
		e.srv.ResetCounters()
		for i := 0; i < 1000; i++ {
			tok := e.srv.MintT(t, oauthtest.WithHeader(map[string]any{"kid": fmt.Sprintf("rnd-%d-%x", i, i*7919)}))
			_, err := e.v.Verify(ctx, tok)
			wantReason(t, err, jwtverify.ReasonUnknownKey)
		}
		if n := e.srv.Requests(oauthtest.EndpointJWKS); n > 1 {
			t.Fatalf("%d JWKS fetches for the burst, want at most 1 per cooldown", n)
		}
	})
	t.Run("B6_rotation_new_key_accepted_after_one_refresh", func(t *testing.T) {
		e := newE2E(t, true, nil)
		e.srv.ResetCounters()
		e.clk.add(2 * jwkscache.MinFetchGap) // past the gap after the first fetch
		kid, err := e.srv.RotateKey("RS256")
		if err != nil {
			t.Fatal(err)
		}
		tok := e.srv.MintT(t, oauthtest.WithKeyID(kid))
		_, err = e.v.Verify(ctx, tok)
		wantReason(t, err, "")
		if n := e.srv.Requests(oauthtest.EndpointJWKS); n != 1 {
			t.Fatalf("%d JWKS fetches, want 1", n)
		}
	})
	t.Run("B7_removed_key_refused_after_refresh", func(t *testing.T) {
		e := newE2E(t, true, nil)
		old := e.srv.SigningKeyID()
		tok := e.srv.MintT(t)
		_, err := e.v.Verify(ctx, tok)
		wantReason(t, err, "")
		if _, err := e.srv.RotateKey("ES256"); err != nil {
			t.Fatal(err)
		}
		if err := e.srv.RemoveKey(old); err != nil {
			t.Fatal(err)
		}
		if err := e.cache.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		_, err = e.v.Verify(ctx, tok) // cached before: must be dropped
		wantReason(t, err, jwtverify.ReasonUnknownKey)
		if st := e.v.CacheStats(); st.Entries != 0 {
			t.Fatalf("cache kept the token: %+v", st)
		}
	})
	t.Run("B10_key_use_enc", func(t *testing.T) {
		e := newE2E(t, true, func(s *oauthtest.Server) {
			if _, err := s.AddKey("ES256"); err != nil { // keeps the set usable
				t.Fatal(err)
			}
			s.SetJWKSExtra(s.SigningKeyID(), map[string]any{"use": "enc"})
		})
		_, err := e.v.Verify(ctx, e.srv.MintT(t))
		wantReason(t, err, jwtverify.ReasonUnknownKey)
	})
	t.Run("B10_key_ops_without_verify", func(t *testing.T) {
		e := newE2E(t, true, func(s *oauthtest.Server) {
			if _, err := s.AddKey("ES256"); err != nil { // keeps the set usable
				t.Fatal(err)
			}
			s.SetJWKSExtra(s.SigningKeyID(), map[string]any{"key_ops": []string{"encrypt"}})
		})
		_, err := e.v.Verify(ctx, e.srv.MintT(t))
		wantReason(t, err, jwtverify.ReasonUnknownKey)
	})
	t.Run("B13a_no_usable_key_set_then_recovery", func(t *testing.T) {
		e := newE2E(t, false, func(s *oauthtest.Server) {
			s.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: 500})
		})
		tok := e.srv.MintT(t)
		_, err := e.v.Verify(ctx, tok)
		wantReason(t, err, jwtverify.ReasonKeysUnavailable)
		if !errors.Is(err, jwkscache.ErrKeysUnavailable) || jwtverify.ReasonOf(err).Code() != "" {
			t.Fatalf("cause or code: %v", err)
		}
		e.srv.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Body: []byte("not json")})
		_, err = e.v.Verify(ctx, tok)
		wantReason(t, err, jwtverify.ReasonKeysUnavailable)
		e.srv.ClearFault(oauthtest.EndpointJWKS)
		if err := e.cache.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		_, err = e.v.Verify(ctx, tok)
		wantReason(t, err, "")
	})
	t.Run("B13b_issuer_down_unknown_kid", func(t *testing.T) {
		e := newE2E(t, true, nil)
		e.srv.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: 503})
		kid, err := e.srv.AddKey("ES256")
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.v.Verify(ctx, e.srv.MintT(t, oauthtest.WithKeyID(kid)))
		wantReason(t, err, jwtverify.ReasonUnknownKey)
	})
	t.Run("B13c_issuer_down_cached_key", func(t *testing.T) {
		e := newE2E(t, true, nil)
		e.srv.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: 503})
		_ = e.cache.Refresh(ctx) // fails; the last good set stays
		_, err := e.v.Verify(ctx, e.srv.MintT(t))
		wantReason(t, err, "")
	})
}

// TestEndToEndScopesAndRoles maps scope and roles of a token served
// through a real JWKS cache.
func TestEndToEndScopesAndRoles(t *testing.T) {
	e := newE2E(t, true, nil)
	tok := e.srv.MintT(t, oauthtest.WithClaims(map[string]any{"scope": "orders.read orders.write", "roles": []string{"Admin"}}))
	p, err := e.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasAll("orders.read", "Admin") || !p.HasScope("orders.write") || p.HasScope("Admin") || !p.HasRole("Admin") {
		t.Fatalf("principal %v", p)
	}
	if err := jwtverify.RequireAllRoles("orders.read").Check(p); !errors.Is(err, jwtverify.ErrInsufficientScope) {
		t.Fatalf("role requirement satisfied by a scope: %v", err)
	}
}
