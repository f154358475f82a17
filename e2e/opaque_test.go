package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// revocationDelay is the introspection cache's MaxAge in the revocation
// cases: a token revoked at Hydra is refused at most this long after its
// answer was cached.
const revocationDelay = 2 * time.Second

// hydraOpaqueFormat is Hydra's access token format with the HMAC
// strategy: "ory_at_", 43 base64url characters, ".", 43 more.
var hydraOpaqueFormat = regexp.MustCompile(`^ory_at_[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$`)

// opaqueStranger gets opaque tokens from the same Hydra but is not on the
// allow list.
var opaqueStranger = hydraClient{
	ID: "e2e-opaque-stranger", Secret: "e2e-opaque-stranger-secret-0123456789",
	Scopes: []string{scopeRead, scopeWrite}, Audiences: []string{apiAudience}, Opaque: true,
}

// opaqueReader gets opaque tokens and may only read: Hydra grants it no
// "write" scope.
var opaqueReader = hydraClient{
	ID: "e2e-opaque-reader", Secret: "e2e-opaque-reader-secret-0123456789",
	Scopes: []string{scopeRead}, Audiences: []string{apiAudience}, Opaque: true,
}

// introspectionURL is Hydra's RFC 7662 endpoint. It is on the admin port
// and takes no client authentication: the admin port must be reachable
// only from a protected network (here: loopback).
func (h *hydraProcess) introspectionURL() string { return h.adminURL + "/admin/oauth2/introspect" }

// introspectSource builds the API's introspect.Source for Hydra's opaque
// tokens (ProviderHydra, AuthNone, the configured admin endpoint),
// accepting clientIDs, with answers cached for at most maxAge. It is
// closed when t ends.
func introspectSource(t testing.TB, h *hydraProcess, issuer string, maxAge time.Duration, obs introspect.Observer, clientIDs ...string) *introspect.Source {
	t.Helper()
	src, err := introspect.New(introspect.Config{
		Name:       "hydra-opaque",
		Issuer:     issuer,
		Endpoint:   h.introspectionURL(),
		Auth:       introspect.ClientAuth{Method: introspect.AuthNone},
		Provider:   introspect.ProviderHydra,
		Audiences:  []string{apiAudience},
		ClientIDs:  clientIDs,
		HTTPClient: httpClient(t),
		MaxAge:     maxAge,
		Observer:   obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	return src
}

// callCounter counts the Source's calls to Hydra by result.
type callCounter struct {
	calls chan introspect.CallEvent
}

func newCallCounter() *callCounter { return &callCounter{calls: make(chan introspect.CallEvent, 1024)} }

func (c *callCounter) ObserveCall(ev introspect.CallEvent) {
	select {
	case c.calls <- ev:
	default:
	}
}
func (*callCounter) ObserveCache(introspect.CacheEvent)   {}
func (*callCounter) ObserveBudget(introspect.BudgetEvent) {}

// drain returns the calls observed since the last drain.
func (c *callCounter) drain() []introspect.CallEvent {
	var out []introspect.CallEvent
	for {
		select {
		case ev := <-c.calls:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// introspectOnce calls src with a bounded context.
func introspectOnce(src *introspect.Source, tok string) (*introspect.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return src.Introspect(ctx, tok)
}

// reasonOf returns the introspect.Reason of err ("" when nil or another
// error).
func reasonOf(err error) introspect.Reason {
	var ie *introspect.Error
	if errors.As(err, &ie) {
		return ie.Reason
	}
	return ""
}

// revoke revokes tok at Hydra's RFC 7009 endpoint (public port, the
// client's own credentials, client_secret_basic).
func (h *hydraProcess) revoke(t testing.TB, c hydraClient, tok string) {
	t.Helper()
	var d struct {
		Revocation string `json:"revocation_endpoint"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := getJSON(ctx, httpClient(t), h.publicURL+"/.well-known/openid-configuration", &d); err != nil {
		t.Fatal(err)
	}
	if d.Revocation != h.publicURL+"/oauth2/revoke" {
		t.Fatalf("revocation_endpoint = %q, want %s/oauth2/revoke", d.Revocation, h.publicURL)
	}
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Revocation, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %s", resp.Status)
	}
}

// TestHydraOpaqueSource: Hydra's opaque tokens (one Hydra issues JWTs to
// some clients and opaque tokens to others, per client) checked by an
// introspect.Source against Hydra's admin introspection endpoint.
func TestHydraOpaqueSource(t *testing.T) {
	h := needHydra(t)
	w, _, opq := registerClients(t, h)
	ostr := h.createClient(t, opaqueStranger)
	issuer := h.discovery(t).Issuer
	calls := newCallCounter()
	src := introspectSource(t, h, issuer, revocationDelay, calls, opq.ID)
	both := []string{scopeRead, scopeWrite}

	t.Run("token_shape", func(t *testing.T) {
		tok := h.token(t, opq, both, apiAudience)
		if !hydraOpaqueFormat.MatchString(tok) {
			t.Fatalf("opaque token of %d bytes does not match ory_at_<43>.<43>", len(tok))
		}
		// The JWT client of the same Hydra still gets JWTs.
		if n := len(strings.Split(h.token(t, w, both, apiAudience), ".")); n != 3 {
			t.Fatalf("the JWT client got a token of %d segments", n)
		}
	})
	t.Run("accepted_with_scopes", func(t *testing.T) {
		calls.drain()
		tok := h.token(t, opq, []string{scopeRead}, apiAudience)
		res, err := introspectOnce(src, tok)
		if err != nil {
			t.Fatalf("Introspect: %v", err)
		}
		if res.ClientID() != opq.ID || !slices.Equal(res.Scopes(), []string{scopeRead}) ||
			!slices.Equal(res.Audiences(), []string{apiAudience}) || res.Issuer() != issuer {
			t.Errorf("result: client %q scopes %v aud %v issuer %q", res.ClientID(), res.Scopes(), res.Audiences(), res.Issuer())
		}
		if until := time.Until(res.ExpiresAt()); until <= 0 || until > 2*time.Hour {
			t.Errorf("exp %v from now", until)
		}
		// Hydra's answer as the package documents it.
		var raw map[string]any
		if err := json.Unmarshal(res.RawJSON(), &raw); err != nil {
			t.Fatal(err)
		}
		if raw["token_use"] != "access_token" || raw["token_type"] != "Bearer" || raw["iss"] != issuer || raw["active"] != true {
			t.Errorf("Hydra's answer: token_use %v, token_type %v, iss %v, active %v", raw["token_use"], raw["token_type"], raw["iss"], raw["active"])
		}
		// A second request is served by the cache: no new call.
		if _, err := introspectOnce(src, tok); err != nil {
			t.Fatal(err)
		}
		if got := calls.drain(); len(got) != 1 || got[0].Result != introspect.CallActive {
			t.Errorf("calls: %+v, want one active call", got)
		}
	})
	t.Run("unlisted_client_refused", func(t *testing.T) {
		tok := h.token(t, ostr, both, apiAudience)
		if _, err := introspectOnce(src, tok); reasonOf(err) != introspect.ReasonClient || !errors.Is(err, introspect.ErrInvalid) {
			t.Errorf("stranger's opaque token: %v, want reason client", err)
		}
	})
	t.Run("no_audience_refused", func(t *testing.T) {
		tok := h.token(t, opq, both) // "aud": []
		if _, err := introspectOnce(src, tok); reasonOf(err) != introspect.ReasonMissingClaim {
			t.Errorf("token without audience: %v, want reason missing_claim", err)
		}
	})
	t.Run("jwt_refused_without_call", func(t *testing.T) {
		calls.drain()
		tok := h.token(t, w, both, apiAudience)
		if _, err := introspectOnce(src, tok); reasonOf(err) != introspect.ReasonMalformed {
			t.Errorf("a JWT given to the opaque source: %v, want reason malformed (format pre-check)", err)
		}
		if got := calls.drain(); len(got) != 0 {
			t.Errorf("the pre-check made %d calls", len(got))
		}
	})
	t.Run("unknown_token_inactive", func(t *testing.T) {
		// Hydra's format, but never issued: Hydra answers active false.
		tok := "ory_at_" + strings.Repeat("A", 43) + "." + strings.Repeat("B", 43)
		if _, err := introspectOnce(src, tok); reasonOf(err) != introspect.ReasonInactive {
			t.Errorf("unknown token: %v, want reason inactive", err)
		}
	})
	t.Run("revoked_refused_within_max_age", func(t *testing.T) {
		tok := h.token(t, opq, both, apiAudience)
		if _, err := introspectOnce(src, tok); err != nil {
			t.Fatal(err)
		}
		cached := time.Now() // the answer was cached before this moment
		h.revoke(t, opq, tok)
		refusedAt := pollRefused(t, cached.Add(revocationDelay+3*time.Second), func() error {
			_, err := introspectOnce(src, tok)
			return err
		}, introspect.ReasonInactive)
		if d := refusedAt.Sub(cached); d > revocationDelay+time.Second {
			t.Errorf("revoked token refused %v after it was cached, MaxAge %v", d.Round(time.Millisecond), revocationDelay)
		}
	})
}

// pollRefused calls try every 100 ms until it fails with want, and returns
// when; it fails t if the deadline passes first or try fails otherwise.
func pollRefused(t *testing.T, deadline time.Time, try func() error, want introspect.Reason) time.Time {
	t.Helper()
	for {
		err := try()
		now := time.Now()
		switch {
		case err == nil:
		case reasonOf(err) == want:
			return now
		default:
			t.Fatalf("while polling: %v, want acceptance or reason %s", err, want)
		}
		if now.After(deadline) {
			t.Fatalf("still accepted at the deadline")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHydraOpaque: one Hydra issues JWTs to one client and opaque tokens
// to another; one verifier in jwt-or-introspect mode accepts both behind
// net/http, Echo and gRPC, with the same scope requirements.
func TestHydraOpaque(t *testing.T) {
	h := needHydra(t)
	w, _, opq := registerClients(t, h)
	ostr := h.createClient(t, opaqueStranger)
	rdr := h.createClient(t, opaqueReader)
	issuer := h.discovery(t).Issuer
	src := introspectSource(t, h, issuer, revocationDelay, nil, w.ID, opq.ID, rdr.ID)
	s := buildStackWith(t, issuer, true, src, w.ID, opq.ID, rdr.ID)
	both := []string{scopeRead, scopeWrite}

	t.Run("opaque_accepted", func(t *testing.T) {
		tok := h.token(t, opq, both, apiAudience)
		s.expect(t, tok, opRead, allowed, "")
		s.expect(t, tok, opWrite, allowed, "")
	})
	t.Run("opaque_missing_scope_forbidden", func(t *testing.T) {
		tok := h.token(t, opq, []string{scopeRead}, apiAudience)
		s.expect(t, tok, opRead, allowed, "")
		s.expect(t, tok, opWrite, forbidden, jwtverify.ReasonInsufficientScope)
	})
	t.Run("opaque_client_without_scope_forbidden", func(t *testing.T) {
		// The client may only read: a route needing "write" is 403 /
		// PermissionDenied for every token it can get.
		tok := h.token(t, rdr, []string{scopeRead}, apiAudience)
		s.expect(t, tok, opRead, allowed, "")
		s.expect(t, tok, opWrite, forbidden, jwtverify.ReasonInsufficientScope)
	})
	t.Run("jwt_still_accepted", func(t *testing.T) {
		tok := h.token(t, w, both, apiAudience)
		s.expect(t, tok, opRead, allowed, "")
		s.expect(t, tok, opWrite, allowed, "")
		ro := h.token(t, w, []string{scopeRead}, apiAudience)
		s.expect(t, ro, opWrite, forbidden, jwtverify.ReasonInsufficientScope)
	})
	t.Run("opaque_unlisted_client_rejected", func(t *testing.T) {
		tok := h.token(t, ostr, both, apiAudience)
		s.expect(t, tok, opRead, unauthenticated, jwtverify.ReasonClient)
	})
	t.Run("opaque_unknown_token_rejected", func(t *testing.T) {
		tok := "ory_at_" + strings.Repeat("C", 43) + "." + strings.Repeat("D", 43)
		s.expect(t, tok, opRead, unauthenticated, jwtverify.ReasonInactive)
	})
	t.Run("opaque_bad_format_rejected", func(t *testing.T) {
		// ory_at_ routes it to Hydra's Source, whose format pre-check
		// refuses it without a call.
		s.expect(t, "ory_at_"+strings.Repeat("E", 20), opRead, unauthenticated, jwtverify.ReasonMalformed)
	})
	t.Run("opaque_revoked_rejected_within_max_age", func(t *testing.T) {
		tok := h.token(t, opq, both, apiAudience)
		s.expect(t, tok, opRead, allowed, "")
		cached := time.Now() // every transport's answer was cached before this moment
		h.revoke(t, opq, tok)
		refusedAt := pollRefused(t, cached.Add(revocationDelay+3*time.Second), func() error {
			switch got, detail := s.call(t, "http", tok, opRead); got {
			case allowed:
				return nil
			case unauthenticated:
				return &introspect.Error{Reason: introspect.ReasonInactive}
			default:
				return errors.New(detail)
			}
		}, introspect.ReasonInactive)
		if d := refusedAt.Sub(cached); d > revocationDelay+time.Second {
			t.Errorf("revoked token refused %v after it was cached, MaxAge %v", d.Round(time.Millisecond), revocationDelay)
		}
		s.expect(t, tok, opRead, unauthenticated, jwtverify.ReasonInactive)
		s.expect(t, tok, opWrite, unauthenticated, jwtverify.ReasonInactive)
	})
}
