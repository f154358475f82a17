package oauthtest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// postForm sends a form with optional Basic credentials and decodes a JSON
// answer (nil when the body is empty).
func postForm(t *testing.T, u string, form url.Values, id, secret string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func opaqueServer(t *testing.T, f oauthtest.OpaqueFormat) *oauthtest.Server {
	s := oauthtest.NewT(t, oauthtest.WithKeyAlgs("ES256"))
	s.RegisterClient(oauthtest.Client{ID: "c", Secret: "cs", Scopes: []string{"read"}})
	s.RegisterClient(oauthtest.Client{ID: "d", Secret: "ds"})
	s.SetOpaqueClient("c", f)
	s.RegisterIntrospectionClient(oauthtest.IntrospectionClient{ID: "rs", Secret: "rss"})
	return s
}

func tokenFor(t *testing.T, s *oauthtest.Server, id, secret string) string {
	t.Helper()
	code, m := postForm(t, s.TokenURL(), url.Values{"grant_type": {"client_credentials"}}, id, secret)
	tok, _ := m["access_token"].(string)
	if code != http.StatusOK || tok == "" {
		t.Fatalf("token endpoint: %d %v", code, m)
	}
	return tok
}

// TestOpaqueTokenEndpoint: an opaque client gets an opaque token, other
// clients keep getting JWTs; Hydra's format is exact.
func TestOpaqueTokenEndpoint(t *testing.T) {
	s := opaqueServer(t, oauthtest.OpaqueHydra)
	tok := tokenFor(t, s, "c", "cs")
	body, ok := strings.CutPrefix(tok, "ory_at_")
	if !ok || len(body) != 87 || body[43] != '.' || strings.Count(tok, ".") != 1 {
		t.Fatalf("not a Hydra access token: %q", tok)
	}
	if jwt := tokenFor(t, s, "d", "ds"); strings.Count(jwt, ".") != 2 {
		t.Fatalf("a JWT client got %q", jwt)
	}
	s.SetOpaqueClient("c", oauthtest.OpaqueJWT)
	if jwt := tokenFor(t, s, "c", "cs"); strings.Count(jwt, ".") != 2 {
		t.Fatalf("OpaqueJWT client got %q", jwt)
	}
}

// TestIntrospectionEndpoint: RFC 7662 answers with client authentication,
// counters and faults like the other endpoints.
func TestIntrospectionEndpoint(t *testing.T) {
	s := opaqueServer(t, oauthtest.OpaqueHydra)
	tok := tokenFor(t, s, "c", "cs")
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}

	code, m := postForm(t, s.IntrospectionURL(), form, "rs", "rss")
	if code != 200 || m["active"] != true || m["client_id"] != "c" || m["token_use"] != "access_token" ||
		m["token_type"] != "Bearer" || m["scope"] != "read" || m["iss"] != s.Issuer() {
		t.Fatalf("active answer: %d %v", code, m)
	}
	if aud, ok := m["aud"].([]any); !ok || len(aud) != 1 {
		t.Errorf("Hydra aud must be an array: %v", m["aud"])
	}
	if code, _ := postForm(t, s.IntrospectionURL(), form, "rs", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", code)
	}
	if code, _ := postForm(t, s.IntrospectionURL(), form, "", ""); code != http.StatusUnauthorized {
		t.Errorf("no authentication: %d", code)
	}
	s.SetIntrospectionAuthOptional(true)
	if code, m := postForm(t, s.IntrospectionURL(), form, "", ""); code != 200 || m["active"] != true {
		t.Errorf("optional authentication: %d %v", code, m)
	}
	if code, m := postForm(t, s.IntrospectionURL(), url.Values{"token": {"unknown"}}, "rs", "rss"); code != 200 || len(m) != 1 || m["active"] != false {
		t.Errorf("unknown token: %d %v", code, m)
	}
	s.SetIntrospectionExtra(map[string]any{"active": "true", "exp": nil})
	if _, m := postForm(t, s.IntrospectionURL(), form, "rs", "rss"); m["active"] != "true" || m["exp"] != nil {
		t.Errorf("extra: %v", m)
	}
	s.SetIntrospectionExtra(nil)
	s.ResetCounters()
	s.SetFault(oauthtest.EndpointIntrospect, oauthtest.Fault{Status: 503})
	if code, _ := postForm(t, s.IntrospectionURL(), form, "rs", "rss"); code != 503 {
		t.Errorf("fault: %d", code)
	}
	if n := s.Requests(oauthtest.EndpointIntrospect); n != 1 {
		t.Errorf("counter %d", n)
	}
	if oauthtest.EndpointIntrospect.String() != "introspect" || oauthtest.EndpointRevoke.String() != "revoke" {
		t.Error("endpoint names")
	}
}

// TestIntrospectionExpiry: a token past its exp is inactive.
func TestIntrospectionExpiry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := oauthtest.NewT(t, oauthtest.WithKeyAlgs("ES256"), oauthtest.WithClock(func() time.Time { return now }),
		oauthtest.WithTokenLifetime(time.Minute))
	s.SetIntrospectionAuthOptional(true)
	tok, err := s.MintOpaque("x")
	if err != nil {
		t.Fatal(err)
	}
	if _, m := postForm(t, s.IntrospectionURL(), url.Values{"token": {tok}}, "", ""); m["active"] != true {
		t.Fatalf("fresh: %v", m)
	}
	now = now.Add(time.Minute)
	if _, m := postForm(t, s.IntrospectionURL(), url.Values{"token": {tok}}, "", ""); m["active"] != false {
		t.Fatalf("expired: %v", m)
	}
}

// TestRevocationEndpoint: RFC 7009 by the owning client only; unknown
// tokens answer 200.
func TestRevocationEndpoint(t *testing.T) {
	s := opaqueServer(t, oauthtest.OpaqueRandom)
	tok := tokenFor(t, s, "c", "cs")
	if code, m := postForm(t, s.RevocationURL(), url.Values{"token": {tok}}, "d", "ds"); code != 400 || m["error"] != "unauthorized_client" {
		t.Fatalf("another client revoked: %d %v", code, m)
	}
	if code, _ := postForm(t, s.RevocationURL(), url.Values{"token": {tok}}, "c", "wrong"); code != 401 {
		t.Fatalf("wrong secret: %d", code)
	}
	if code, _ := postForm(t, s.RevocationURL(), url.Values{"token": {tok}}, "c", "cs"); code != 200 {
		t.Fatalf("revocation: %d", code)
	}
	if _, m := postForm(t, s.IntrospectionURL(), url.Values{"token": {tok}}, "rs", "rss"); m["active"] != false {
		t.Fatalf("revoked token: %v", m)
	}
	if code, _ := postForm(t, s.RevocationURL(), url.Values{"token": {"unknown"}}, "c", "cs"); code != 200 {
		t.Fatalf("unknown token: %d", code)
	}
	if s.Requests(oauthtest.EndpointRevoke) != 4 {
		t.Errorf("counter %d", s.Requests(oauthtest.EndpointRevoke))
	}
	tok2, _ := s.MintOpaque("c")
	if !s.Revoke(tok2) || s.Revoke(tok2) {
		t.Error("Revoke reports liveness")
	}
}

// TestIntrospectionMetadata: both discovery documents advertise the new
// endpoints.
func TestIntrospectionMetadata(t *testing.T) {
	s := opaqueServer(t, oauthtest.OpaqueRandom)
	for _, u := range []string{s.DiscoveryURL(), s.MetadataURL()} {
		_, _, body := get(t, u)
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if doc["introspection_endpoint"] != s.IntrospectionURL() || doc["revocation_endpoint"] != s.RevocationURL() {
			t.Errorf("%s: %v", u, doc)
		}
	}
}

// TestIntrospectionPrivateKeyJWT: an RFC 7523 assertion authenticates once;
// a replayed jti, a wrong audience or a wrong key do not.
func TestIntrospectionPrivateKeyJWT(t *testing.T) {
	s := opaqueServer(t, oauthtest.OpaqueRandom)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s.RegisterIntrospectionClient(oauthtest.IntrospectionClient{ID: "pk", PublicKey: key.Public()})
	tok, _ := s.MintOpaque("c")
	assertion := func(k *ecdsa.PrivateKey, aud, jti string) url.Values {
		b64 := base64.RawURLEncoding
		h, _ := json.Marshal(map[string]any{"alg": "ES256", "typ": "JWT"})
		c, _ := json.Marshal(map[string]any{"iss": "pk", "sub": "pk", "aud": aud, "jti": jti, "exp": time.Now().Add(time.Minute).Unix()})
		in := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
		d := sha256.Sum256([]byte(in))
		r, sv, err := ecdsa.Sign(rand.Reader, k, d[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		sv.FillBytes(sig[32:])
		return url.Values{"token": {tok}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {in + "." + b64.EncodeToString(sig)}}
	}
	if code, m := postForm(t, s.IntrospectionURL(), assertion(key, s.IntrospectionURL(), "j1"), "", ""); code != 200 || m["active"] != true {
		t.Fatalf("assertion: %d %v", code, m)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, form := range map[string]url.Values{
		"replayed_jti": assertion(key, s.IntrospectionURL(), "j1"),
		"foreign_aud":  assertion(key, "https://elsewhere.example", "j2"),
		"wrong_key":    assertion(other, s.IntrospectionURL(), "j3"),
	} {
		if code, _ := postForm(t, s.IntrospectionURL(), form, "", ""); code != http.StatusUnauthorized {
			t.Errorf("%s: %d", name, code)
		}
	}
}

// TestIntrospectionClientClaimsExp: a client's own exp claim (an int in
// Client.Claims) still decides whether its opaque token is active.
func TestIntrospectionClientClaimsExp(t *testing.T) {
	s := oauthtest.NewT(t, oauthtest.WithKeyAlgs("ES256"))
	s.SetIntrospectionAuthOptional(true)
	s.RegisterClient(oauthtest.Client{ID: "past", Claims: map[string]any{"exp": 1000}})
	s.RegisterClient(oauthtest.Client{ID: "future", Claims: map[string]any{"exp": 4_000_000_000}})
	for id, want := range map[string]bool{"past": false, "future": true} {
		tok, err := s.MintOpaque(id)
		if err != nil {
			t.Fatal(err)
		}
		if _, m := postForm(t, s.IntrospectionURL(), url.Values{"token": {tok}}, "", ""); m["active"] != want {
			t.Errorf("%s: %v", id, m)
		}
	}
}
