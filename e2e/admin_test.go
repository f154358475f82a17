package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The audience the protected services accept, and one they do not.
const (
	apiAudience   = "https://api.example.test"
	otherAudience = "https://other-api.example.test"
)

// accessTokenKeySet is Hydra's JSON Web Key Set signing JWT access tokens.
const accessTokenKeySet = "hydra.jwt.access-token"

// hydraClient is an OAuth 2.0 client registered at Hydra.
type hydraClient struct {
	ID, Secret string
	Scopes     []string
	Audiences  []string
	// Opaque selects Hydra's opaque access-token strategy for this client.
	Opaque bool
}

// httpClient returns a client with its own transport (closed at cleanup,
// so no keep-alive goroutine outlives the test).
func httpClient(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr} // each call bounds itself with a context
}

// statusError is an admin answer with an unexpected status.
type statusError struct {
	method, path string
	status       string
	body         []byte
}

func (e *statusError) Error() string {
	return fmt.Sprintf("hydra admin %s %s: %s: %s", e.method, e.path, e.status, e.body)
}

// adminCall calls Hydra's admin REST API, expecting status want and
// decoding the answer into out (when not nil). The call is bounded by
// keygenTimeout: creating a key makes Hydra generate an RSA key.
func (h *hydraProcess) adminCall(method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), keygenTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, h.adminURL+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("hydra admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return &statusError{method: method, path: path, status: resp.Status, body: b}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("hydra admin %s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// admin is adminCall failing t on error.
func (h *hydraProcess) admin(t testing.TB, method, path string, body any, want int, out any) {
	t.Helper()
	if err := h.adminCall(method, path, body, want, out); err != nil {
		t.Fatal(err)
	}
}

// clientSeq makes client IDs unique within a Hydra, so that tests can run
// with -count > 1 against the shared one.
var clientSeq atomic.Int64

// createClient registers c (client_credentials, client_secret_basic) under
// the ID c.ID plus a unique suffix and returns it with the ID Hydra stored.
func (h *hydraProcess) createClient(t testing.TB, c hydraClient) hydraClient {
	t.Helper()
	body := map[string]any{
		"client_id":                  fmt.Sprintf("%s-%d", c.ID, clientSeq.Add(1)),
		"client_secret":              c.Secret,
		"grant_types":                []string{"client_credentials"},
		"response_types":             []string{"token"},
		"scope":                      strings.Join(c.Scopes, " "),
		"audience":                   c.Audiences,
		"token_endpoint_auth_method": "client_secret_basic",
	}
	if c.Opaque {
		body["access_token_strategy"] = "opaque"
	}
	var got struct {
		ClientID            string   `json:"client_id"`
		Audience            []string `json:"audience"`
		AccessTokenStrategy string   `json:"access_token_strategy"`
	}
	h.admin(t, http.MethodPost, "/admin/clients", body, http.StatusCreated, &got)
	if got.ClientID == "" {
		t.Fatal("hydra admin: created client has no client_id")
	}
	c.ID = got.ClientID
	return c
}

// discovery fetches Hydra's OpenID configuration.
func (h *hydraProcess) discovery(t testing.TB) discovery {
	t.Helper()
	var d discovery
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := getJSON(ctx, httpClient(t), h.publicURL+"/.well-known/openid-configuration", &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// tokenConfig returns the clientcredentials configuration of c asking for
// scopes and, when audience is not empty, that audience.
func (h *hydraProcess) tokenConfig(c hydraClient, scopes []string, audience ...string) *clientcredentials.Config {
	cfg := &clientcredentials.Config{
		ClientID:     c.ID,
		ClientSecret: c.Secret,
		TokenURL:     h.publicURL + "/oauth2/token",
		Scopes:       scopes,
		AuthStyle:    oauth2.AuthStyleInHeader, // client_secret_basic
	}
	if len(audience) > 0 {
		cfg.EndpointParams = url.Values{"audience": {strings.Join(audience, " ")}}
	}
	return cfg
}

// token gets a fresh access token for c from Hydra's token endpoint.
func (h *hydraProcess) token(t testing.TB, c hydraClient, scopes []string, audience ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, httpClient(t))
	tok, err := h.tokenConfig(c, scopes, audience...).Token(ctx)
	if err != nil {
		t.Fatalf("hydra token for %s: %v", c.ID, err)
	}
	if tok.AccessToken == "" {
		t.Fatal("hydra returned an empty access token")
	}
	return tok.AccessToken
}

// jwk is the part of a JWK the suite inspects.
type jwk struct {
	KID string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Kty string `json:"kty"`
}

// rotateKey makes Hydra generate a new RS256 signing key with this kid in
// its access-token key set (POST /admin/keys/{set}). Hydra signs new tokens
// with the newest key.
//
// Hydra generates RSA 4096 keys and its HTTP server gives a handler 10 s to
// answer (not configurable): on a loaded 2-core machine the answer can be
// cut off (EOF) while the key is still created. Then rotateKey waits,
// bounded, until the key is listed.
func (h *hydraProcess) rotateKey(t testing.TB, kid string) {
	t.Helper()
	var set struct {
		Keys []jwk `json:"keys"`
	}
	err := h.adminCall(http.MethodPost, "/admin/keys/"+accessTokenKeySet,
		map[string]string{"alg": "RS256", "use": "sig", "kid": kid}, http.StatusCreated, &set)
	var se *statusError
	switch {
	case err == nil:
		if len(set.Keys) != 1 || set.Keys[0].KID != kid {
			t.Fatalf("hydra admin: key creation returned %+v, want kid %q", set.Keys, kid)
		}
		return
	case errors.As(err, &se):
		t.Fatal(err)
	}
	t.Logf("key creation answer lost (%v); waiting for kid %q to be listed", err, kid)
	ctx, cancel := context.WithTimeout(context.Background(), keygenTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := h.adminCall(http.MethodGet, "/admin/keys/"+accessTokenKeySet+"/"+url.PathEscape(kid), nil, http.StatusOK, nil)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("kid %q never appeared at Hydra: %v", kid, err)
		case <-tick.C:
		}
	}
}

// deleteKey removes kid from Hydra's access-token key set.
func (h *hydraProcess) deleteKey(t testing.TB, kid string) {
	t.Helper()
	h.admin(t, http.MethodDelete, "/admin/keys/"+accessTokenKeySet+"/"+url.PathEscape(kid), nil, http.StatusNoContent, nil)
}

// publicKIDs lists the kids of Hydra's public JWKS and its Cache-Control.
func (h *hydraProcess) publicKIDs(t testing.TB) ([]string, string) {
	t.Helper()
	var set struct {
		Keys []jwk `json:"keys"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	hdr, err := getJSON(ctx, httpClient(t), h.publicURL+"/.well-known/jwks.json", &set)
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	return kids, hdr.Get("Cache-Control")
}

// jwtParts decodes a compact JWS's header and claims without verifying it
// (test inspection only).
func jwtParts(t testing.TB, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d segments", len(parts))
	}
	dec := func(s string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("segment: %v", err)
		}
		m := map[string]any{}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("segment: %v", err)
		}
		return m
	}
	return dec(parts[0]), dec(parts[1])
}

// kidOf returns the kid header of tok.
func kidOf(t testing.TB, tok string) string {
	t.Helper()
	h, _ := jwtParts(t, tok)
	kid, _ := h["kid"].(string)
	return kid
}

// withKID returns tok with its header's kid replaced (signature untouched,
// so the token can only be rejected).
func withKID(t testing.TB, tok, kid string) string {
	t.Helper()
	h, _ := jwtParts(t, tok)
	h["kid"] = kid
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(tok, ".", 2)
	return base64.RawURLEncoding.EncodeToString(b) + "." + parts[1]
}
