package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// Clients registered at every Hydra the suite starts.
var (
	// worker may read and write, for our API and another one.
	worker = hydraClient{
		ID: "e2e-worker", Secret: "e2e-worker-secret-0123456789",
		Scopes: []string{scopeRead, scopeWrite}, Audiences: []string{apiAudience, otherAudience},
	}
	// stranger is a valid client of the same Hydra, not on our allow list.
	stranger = hydraClient{
		ID: "e2e-stranger", Secret: "e2e-stranger-secret-0123456789",
		Scopes: []string{scopeRead, scopeWrite}, Audiences: []string{apiAudience},
	}
	// opaque gets opaque (non-JWT) access tokens (per-client strategy).
	opaque = hydraClient{
		ID: "e2e-opaque", Secret: "e2e-opaque-secret-0123456789",
		Scopes: []string{scopeRead, scopeWrite}, Audiences: []string{apiAudience}, Opaque: true,
	}
)

// registerClients registers the suite's clients at h; the returned IDs are
// what Hydra stored.
func registerClients(t *testing.T, h *hydraProcess) (w, s, o hydraClient) {
	t.Helper()
	return h.createClient(t, worker), h.createClient(t, stranger), h.createClient(t, opaque)
}

// TestHydra: tokens Hydra issues, checked by m2mauth's Hydra profile behind
// net/http, Echo and gRPC.
func TestHydra(t *testing.T) {
	h := needHydra(t)
	w, str, opq := registerClients(t, h)
	s := newStack(t, h, w.ID, opq.ID)
	both := []string{scopeRead, scopeWrite}

	t.Run("right_scopes_accepted", func(t *testing.T) {
		tok := h.token(t, w, both, apiAudience)
		s.expect(t, tok, opRead, allowed, "")
		s.expect(t, tok, opWrite, allowed, "")
	})
	t.Run("oauth2_client_transport", func(t *testing.T) {
		// The caller's usual setup: an *http.Client from clientcredentials
		// that fetches, caches and attaches the token itself.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ctx = context.WithValue(ctx, oauth2.HTTPClient, httpClient(t))
		c := h.tokenConfig(w, both, apiAudience).Client(ctx)
		for _, base := range []string{s.httpURL, s.echoURL} {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/orders", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("%s: %s", base, resp.Status)
			}
		}
	})
	t.Run("missing_scope_forbidden", func(t *testing.T) {
		tok := h.token(t, w, []string{scopeRead}, apiAudience)
		s.expect(t, tok, opRead, allowed, "")
		s.expect(t, tok, opWrite, forbidden, jwtverify.ReasonInsufficientScope)
	})
	t.Run("no_scope_forbidden", func(t *testing.T) {
		tok := h.token(t, w, nil, apiAudience) // "scp": []
		s.expect(t, tok, opRead, forbidden, jwtverify.ReasonInsufficientScope)
	})
	t.Run("other_audience_rejected", func(t *testing.T) {
		tok := h.token(t, w, both, otherAudience)
		s.expect(t, tok, opRead, unauthenticated, jwtverify.ReasonAudience)
	})
	t.Run("no_audience_rejected", func(t *testing.T) {
		tok := h.token(t, w, both) // "aud": []
		s.expect(t, tok, opRead, unauthenticated, jwtverify.ReasonAudience)
	})
	t.Run("client_not_allowed_rejected", func(t *testing.T) {
		tok := h.token(t, str, both, apiAudience)
		s.expect(t, tok, opRead, unauthenticated, jwtverify.ReasonClient)
	})
	t.Run("opaque_token_rejected", func(t *testing.T) {
		tok := h.token(t, opq, both, apiAudience)
		if n := len(strings.Split(tok, ".")); n == 3 {
			t.Fatalf("Hydra issued a JWS to the opaque client; the case proves nothing")
		}
		s.expect(t, tok, opRead, unauthenticated, jwtverify.ReasonMalformed)
	})
}

// TestHydraKeyRotation: Hydra gets a new signing key; m2mauth picks it up
// through the unknown-kid refresh. Then the key is deleted at Hydra; after
// a refresh its tokens are refused, also those already verified and cached.
func TestHydraKeyRotation(t *testing.T) {
	h := startPrivateHydra(t)
	w, _, _ := registerClients(t, h)
	both := []string{scopeRead, scopeWrite}
	s := newStack(t, h, w.ID)

	old := h.token(t, w, both, apiAudience)
	oldKID := kidOf(t, old)
	s.expect(t, old, opRead, allowed, "")

	const newKID = "e2e-rotated-key-1"
	h.rotateKey(t, newKID)
	rotated := h.token(t, w, both, apiAudience)
	if got := kidOf(t, rotated); got != newKID {
		t.Fatalf("Hydra signed with kid %q after rotation, want the new key %q", got, newKID)
	}

	t.Run("unknown_kid_rate_limited", func(t *testing.T) {
		// The cache fetched moments ago (by its clock): the unknown kid may
		// not trigger a fetch yet, so the token is refused, not queued.
		s.expect(t, rotated, opRead, unauthenticated, jwtverify.ReasonUnknownKey)
	})
	t.Run("accepted_after_unknown_kid_refresh", func(t *testing.T) {
		before := s.cache.Current().Generation
		s.clock.Advance(unknownKIDWait)
		s.expect(t, rotated, opRead, allowed, "")
		s.expect(t, rotated, opWrite, allowed, "")
		if after := s.cache.Current().Generation; after != before+1 {
			t.Errorf("key set generation %d -> %d, want one unknown-kid refresh", before, after)
		}
		// The previous key is still published: its tokens still pass.
		s.expect(t, old, opRead, allowed, "")
	})
	t.Run("deleted_key_rejected_after_refresh", func(t *testing.T) {
		h.deleteKey(t, newKID)
		// Until the cache learns of it, the key and the verified token stay
		// (the documented bound is MaxRefreshInterval).
		s.expect(t, rotated, opRead, allowed, "")
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := s.cache.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if ks := s.cache.Current(); len(ks.Lookup(newKID)) != 0 || len(ks.Lookup(oldKID)) == 0 {
			t.Fatalf("after refresh: kid %q present=%v, kid %q present=%v", newKID, len(ks.Lookup(newKID)) != 0, oldKID, len(ks.Lookup(oldKID)) != 0)
		}
		s.expect(t, rotated, opRead, unauthenticated, jwtverify.ReasonUnknownKey)
		s.expect(t, rotated, opWrite, unauthenticated, jwtverify.ReasonUnknownKey)
		// Hydra signs with the remaining key again.
		again := h.token(t, w, both, apiAudience)
		if got := kidOf(t, again); got != oldKID {
			t.Errorf("after deletion Hydra signs with %q, want %q", got, oldKID)
		}
		s.expect(t, again, opRead, allowed, "")
	})
}

// TestHydraStopped: the issuer goes away mid-run; tokens signed by keys the
// cache holds keep validating, including tokens never seen before.
//
// The same verifier introspects Hydra's opaque tokens (jwt-or-introspect):
// an answer it cached keeps working (up to its maximum age), any other
// opaque token is 503 / Unavailable, never 401 and never accepted.
func TestHydraStopped(t *testing.T) {
	h := startPrivateHydra(t)
	w, _, opq := registerClients(t, h)
	both := []string{scopeRead, scopeWrite}
	issuer := h.discovery(t).Issuer
	src := introspectSource(t, h, issuer, time.Minute, nil, w.ID, opq.ID)
	s := buildStackWith(t, issuer, true, src, w.ID, opq.ID)

	seen := h.token(t, w, both, apiAudience)
	s.expect(t, seen, opRead, allowed, "")
	unseen := h.token(t, w, both, apiAudience) // verified only after the stop
	readOnly := h.token(t, w, []string{scopeRead}, apiAudience)
	if seen == unseen {
		t.Fatal("Hydra returned the same token twice")
	}
	opaqueSeen := h.token(t, opq, both, apiAudience)
	s.expect(t, opaqueSeen, opRead, allowed, "")
	opaqueReadOnly := h.token(t, opq, []string{scopeRead}, apiAudience)
	s.expect(t, opaqueReadOnly, opRead, allowed, "")
	opaqueUnseen := h.token(t, opq, both, apiAudience) // first presented after the stop

	h.stop()
	if h.running() {
		t.Fatal("Hydra still running after stop")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var fe *jwkscache.FetchError
	if err := s.cache.Refresh(ctx); err == nil || !errors.As(err, &fe) {
		t.Fatalf("Refresh with Hydra down: %v, want a *jwkscache.FetchError", err)
	}
	if s.cache.Current() == nil {
		t.Fatal("the cache dropped its keys when Hydra went down")
	}

	t.Run("cached_token", func(t *testing.T) {
		s.expect(t, seen, opRead, allowed, "")
	})
	t.Run("new_token_cached_key", func(t *testing.T) {
		s.expect(t, unseen, opRead, allowed, "")
		s.expect(t, unseen, opWrite, allowed, "")
	})
	t.Run("missing_scope_still_forbidden", func(t *testing.T) {
		s.expect(t, readOnly, opWrite, forbidden, jwtverify.ReasonInsufficientScope)
	})
	t.Run("unknown_kid_is_401_not_503", func(t *testing.T) {
		// Let the unknown kid try a refresh (it fails: Hydra is down). The
		// caller gets 401 invalid_token, not 503: the keys it has are usable.
		s.clock.Advance(unknownKIDWait)
		failures := s.cache.Stats().ConsecutiveFailures
		bad := withKID(t, unseen, "e2e-no-such-key")
		s.rec.reset()
		if got, detail := s.call(t, "http", bad, opRead); got != unauthenticated {
			t.Fatalf("http: got %v (%s), want unauthenticated", got, detail)
		}
		if st := s.cache.Stats(); st.ConsecutiveFailures != failures+1 || !st.Usable {
			t.Errorf("stats after the unknown kid: %d failures (want %d), usable %v", st.ConsecutiveFailures, failures+1, st.Usable)
		}
		s.expect(t, bad, opRead, unauthenticated, jwtverify.ReasonUnknownKey)
	})
	t.Run("opaque_cached_token", func(t *testing.T) {
		s.expect(t, opaqueSeen, opRead, allowed, "")
		s.expect(t, opaqueSeen, opWrite, allowed, "")
		s.expect(t, opaqueReadOnly, opWrite, forbidden, jwtverify.ReasonInsufficientScope)
	})
	t.Run("opaque_new_token_is_503", func(t *testing.T) {
		s.expect(t, opaqueUnseen, opRead, unavailable, jwtverify.ReasonIntrospectionUnavailable)
		s.expect(t, opaqueUnseen, opWrite, unavailable, jwtverify.ReasonIntrospectionUnavailable)
	})
	t.Run("never_fetched_is_503", func(t *testing.T) {
		// A service started while the issuer is down has no keys at all:
		// that is the server's condition, 503 / Unavailable, not the
		// caller's fault.
		cold := buildStack(t, issuer, false, w.ID)
		cold.expect(t, unseen, opRead, unavailable, jwtverify.ReasonKeysUnavailable)
	})
}
