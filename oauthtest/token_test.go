package oauthtest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/m2mauth/m2mauth/oauthtest"
)

const api = "https://api.example.test"

func tokenServer(t *testing.T) *oauthtest.Server {
	s := oauthtest.NewT(t, oauthtest.WithKeyAlgs("ES256"))
	s.RegisterClient(oauthtest.Client{
		ID:        "svc",
		Secret:    "s3:cr&t +/=", // exercises the form-encoding of client_secret_basic
		Scopes:    []string{"read", "write"},
		Roles:     []string{"Reader"},
		Audiences: []string{api, "https://other.example.test"},
		Claims:    map[string]any{"tid": "tenant-1"},
	})
	return s
}

func TestClientCredentialsWithOAuth2Library(t *testing.T) {
	s := tokenServer(t)
	for _, tc := range []struct {
		name  string
		style oauth2.AuthStyle
	}{
		{"client_secret_basic", oauth2.AuthStyleInHeader},
		{"client_secret_post", oauth2.AuthStyleInParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := clientcredentials.Config{
				ClientID:       "svc",
				ClientSecret:   "s3:cr&t +/=",
				TokenURL:       s.TokenURL(),
				Scopes:         []string{"read"},
				EndpointParams: url.Values{"audience": {api}},
				AuthStyle:      tc.style,
			}
			tok, err := cfg.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != "Bearer" || tok.Expiry.IsZero() || tok.Extra("scope") != "read" {
				t.Fatalf("token %+v scope %v", tok, tok.Extra("scope"))
			}
			d, err := verify(t, servedKeys(t, s), tok.AccessToken)
			if err != nil {
				t.Fatalf("issued token does not verify: %v", err)
			}
			c := d.claims
			if d.header["typ"] != "at+jwt" || c["iss"] != s.Issuer() || c["sub"] != "svc" || c["client_id"] != "svc" ||
				c["aud"] != api || c["scope"] != "read" || c["tid"] != "tenant-1" {
				t.Fatalf("claims %v header %v", c, d.header)
			}
			if r, _ := c["roles"].([]any); len(r) != 1 || r[0] != "Reader" {
				t.Fatalf("roles %v", c["roles"])
			}
		})
	}
	if got := s.Requests(oauthtest.EndpointToken); got != 2 {
		t.Fatalf("token requests %d, want 2", got)
	}
}

// post sends a raw token request.
func post(t *testing.T, s *oauthtest.Server, form url.Values, mod func(*http.Request)) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if mod != nil {
		mod(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("answer %q is not JSON: %v", b, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	return resp.StatusCode, resp.Header, body
}

func basic(id, secret string) func(*http.Request) {
	return func(r *http.Request) {
		v := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
		r.Header.Set("Authorization", "Basic "+v)
	}
}

func TestTokenEndpoint(t *testing.T) {
	s := tokenServer(t)
	ok := basic("svc", "s3:cr&t +/=")
	cc := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		mod    func(*http.Request)
		status int
		code   string
	}{
		{"basic", cc(), ok, 200, ""},
		{"post", cc("client_id", "svc", "client_secret", "s3:cr&t +/="), nil, 200, ""},
		{"basic with matching client_id", cc("client_id", "svc"), ok, 200, ""},
		{"scope subset", cc("scope", "write"), ok, 200, ""},
		{"resource", cc("resource", api), ok, 200, ""},
		{"no authentication", cc(), nil, 401, "invalid_client"},
		{"client_id without secret", cc("client_id", "svc"), nil, 401, "invalid_client"},
		{"wrong secret basic", cc(), basic("svc", "nope"), 401, "invalid_client"},
		{"wrong secret post", cc("client_id", "svc", "client_secret", "nope"), nil, 401, "invalid_client"},
		{"unknown client", cc(), basic("who", "s3:cr&t +/="), 401, "invalid_client"},
		{"empty secret", cc("client_id", "svc", "client_secret", ""), nil, 401, "invalid_client"},
		{"bad basic encoding", cc(), func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") }, 401, "invalid_client"},
		{"basic without colon", cc(), func(r *http.Request) {
			r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("svc")))
		}, 401, "invalid_client"},
		{"bearer instead of basic", cc(), func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") }, 401, "invalid_client"},
		{"two methods", cc("client_id", "svc", "client_secret", "s3:cr&t +/="), ok, 400, "invalid_request"},
		{"mismatched client_id", cc("client_id", "other"), ok, 400, "invalid_request"},
		{"missing grant_type", url.Values{}, ok, 400, "invalid_request"},
		{"repeated grant_type", url.Values{"grant_type": {"client_credentials", "client_credentials"}}, ok, 400, "invalid_request"},
		{"repeated scope", cc("scope", "read", "scope", "write"), ok, 400, "invalid_request"},
		{"password grant", url.Values{"grant_type": {"password"}}, ok, 400, "unsupported_grant_type"},
		{"scope not allowed", cc("scope", "read admin"), ok, 400, "invalid_scope"},
		{"resource not allowed", cc("resource", "https://evil.example.test"), ok, 400, "invalid_target"},
		{"relative resource", cc("resource", "/api"), ok, 400, "invalid_request"},
		{"resource with fragment", cc("resource", api+"#x"), ok, 400, "invalid_request"},
		{"audience not allowed", cc("audience", "https://evil.example.test"), ok, 400, "invalid_target"},
		{"wrong content type", cc(), func(r *http.Request) {
			ok(r)
			r.Header.Set("Content-Type", "application/json")
		}, 400, "invalid_request"},
		{"oversized body", cc("scope", strings.Repeat("a", 70<<10)), ok, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := post(t, s, tc.form, tc.mod)
			if status != tc.status {
				t.Fatalf("status %d, want %d (%v)", status, tc.status, body)
			}
			if h.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", h.Get("Cache-Control"))
			}
			if tc.code == "" {
				if body["token_type"] != "Bearer" || body["expires_in"] != float64(3600) || body["access_token"] == nil {
					t.Fatalf("answer %v", body)
				}
				return
			}
			if body["error"] != tc.code {
				t.Fatalf("error %v, want %s", body["error"], tc.code)
			}
			if d, _ := body["error_description"].(string); d == "" || strings.Contains(d, "s3:cr") {
				t.Errorf("error_description %q", d)
			}
			challenge := h.Get("WWW-Authenticate")
			if tc.code == "invalid_client" {
				if !strings.HasPrefix(challenge, "Basic realm=") {
					t.Errorf("WWW-Authenticate %q", challenge)
				}
			} else if challenge != "" {
				t.Errorf("WWW-Authenticate %q on %s", challenge, tc.code)
			}
		})
	}
}

func TestTokenEndpointAudiencesAndScopes(t *testing.T) {
	s := tokenServer(t)
	ok := basic("svc", "s3:cr&t +/=")
	claims := func(form url.Values) (map[string]any, map[string]any) {
		t.Helper()
		form.Set("grant_type", "client_credentials")
		status, _, body := post(t, s, form, ok)
		if status != 200 {
			t.Fatalf("status %d %v", status, body)
		}
		d, err := verify(t, servedKeys(t, s), body["access_token"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return d.claims, body
	}
	c, body := claims(url.Values{})
	if c["aud"] != api || c["scope"] != "read write" || body["scope"] != "read write" {
		t.Fatalf("defaults: claims %v answer %v", c, body)
	}
	c, _ = claims(url.Values{"resource": {api, "https://other.example.test"}})
	if aud, _ := c["aud"].([]any); len(aud) != 2 || aud[0] != api || aud[1] != "https://other.example.test" {
		t.Fatalf("aud %v", c["aud"])
	}
	c, body = claims(url.Values{"scope": {""}, "audience": {"https://other.example.test"}})
	if _, has := c["scope"]; has || body["scope"] != nil || c["aud"] != "https://other.example.test" {
		t.Fatalf("empty scope: claims %v answer %v", c, body)
	}
	// Method.
	resp, err := http.Get(s.TokenURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET token endpoint: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestTokenEndpointFaultFailsOAuth2Client(t *testing.T) {
	s := tokenServer(t)
	s.SetFault(oauthtest.EndpointToken, oauthtest.Fault{Status: http.StatusServiceUnavailable, Body: []byte("<html>down</html>")})
	cfg := clientcredentials.Config{ClientID: "svc", ClientSecret: "s3:cr&t +/=", TokenURL: s.TokenURL(), AuthStyle: oauth2.AuthStyleInHeader}
	_, err := cfg.Token(context.Background())
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("error %v", err)
	}
	s.ClearFault(oauthtest.EndpointToken)
	if _, err := cfg.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
}
