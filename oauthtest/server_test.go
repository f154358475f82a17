package oauthtest_test

import (
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/m2mauth/m2mauth/oauthtest"
)

var allAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func TestMintedTokensVerifyAgainstServedJWKS(t *testing.T) {
	s := oauthtest.NewT(t, oauthtest.WithKeyAlgs(allAlgs...))
	keys := servedKeys(t, s)
	if len(keys) != len(allAlgs) {
		t.Fatalf("JWKS has %d keys, want %d", len(keys), len(allAlgs))
	}
	kids := s.KeyIDs()
	if s.SigningKeyID() != kids[0] {
		t.Fatalf("default signer %q, want the first key %q", s.SigningKeyID(), kids[0])
	}
	for i, kid := range kids {
		alg := allAlgs[i]
		t.Run(alg, func(t *testing.T) {
			k := keys[kid]
			if k.alg != alg || k.use != "sig" {
				t.Fatalf("JWK alg %q use %q, want %q sig", k.alg, k.use, alg)
			}
			if k.thumb != kid {
				t.Errorf("kid %q is not the RFC 7638 thumbprint %q", kid, k.thumb)
			}
			pub, ok := s.PublicKey(kid)
			if !ok || !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.pub) {
				t.Fatal("PublicKey differs from the served key")
			}
			tok := s.MintT(t, oauthtest.WithKeyID(kid))
			d, err := verify(t, keys, tok)
			if err != nil {
				t.Fatalf("minted token does not verify: %v", err)
			}
			if d.alg != alg || d.kid != kid || d.header["typ"] != "at+jwt" || len(d.header) != 3 {
				t.Fatalf("header %v", d.header)
			}
			for _, c := range []string{"iss", "sub", "aud", "client_id", "scope", "exp", "iat", "nbf", "jti"} {
				if _, ok := d.claims[c]; !ok {
					t.Errorf("claim %s missing in %v", c, d.claims)
				}
			}
			if d.claims["iss"] != s.Issuer() || d.claims["sub"] != oauthtest.DefaultClientID ||
				d.claims["client_id"] != oauthtest.DefaultClientID || d.claims["aud"] != oauthtest.DefaultAudience ||
				d.claims["scope"] != oauthtest.DefaultScope {
				t.Errorf("claims %v", d.claims)
			}
			// A flipped signature bit must not verify: the check can fail.
			b := []byte(tok)
			last := strings.LastIndexByte(tok, '.') + 1
			if b[last] == 'A' {
				b[last] = 'B'
			} else {
				b[last] = 'A'
			}
			if _, err := verify(t, keys, string(b)); err == nil {
				t.Fatal("tampered signature verified")
			}
		})
	}
}

func TestDefaultsAndAccessors(t *testing.T) {
	s := oauthtest.NewT(t)
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL %q not on loopback", s.URL())
	}
	if s.Issuer() != s.URL() || s.DiscoveryURL() != s.URL()+"/.well-known/openid-configuration" ||
		s.MetadataURL() != s.URL()+"/.well-known/oauth-authorization-server" {
		t.Fatalf("issuer %q discovery %q metadata %q", s.Issuer(), s.DiscoveryURL(), s.MetadataURL())
	}
	keys := servedKeys(t, s)
	if len(keys) != 1 || keys[s.SigningKeyID()].alg != "RS256" {
		t.Fatalf("default key set %v, want one RS256 key", keys)
	}
	_, h, _ := get(t, s.JWKSURL())
	if got := h.Get("Cache-Control"); got != oauthtest.DefaultJWKSCacheControl {
		t.Fatalf("Cache-Control %q", got)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, opts := range map[string][]oauthtest.Option{
		"relative path":  {oauthtest.WithIssuerPath("tenant")},
		"trailing slash": {oauthtest.WithIssuerPath("/tenant/")},
		"no algs":        {oauthtest.WithKeyAlgs()},
		"unknown alg":    {oauthtest.WithKeyAlgs("HS256")},
		"none alg":       {oauthtest.WithKeyAlgs("none")},
		"nil clock":      {oauthtest.WithClock(nil)},
		"nil key":        {oauthtest.WithPrivateKey("ES256", nil)},
		"key for alg":    {oauthtest.WithPrivateKey("RS256", ed25519.NewKeyFromSeed(make([]byte, 32)))},
		"zero lifetime":  {oauthtest.WithTokenLifetime(0)},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := oauthtest.New(opts...)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if !strings.HasPrefix(err.Error(), "oauthtest: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestDiscoveryWithIssuerPath(t *testing.T) {
	s := oauthtest.NewT(t, oauthtest.WithIssuerPath("/tenant-a/v2.0"))
	if s.Issuer() != s.URL()+"/tenant-a/v2.0" {
		t.Fatalf("issuer %q", s.Issuer())
	}
	for _, u := range []string{
		s.URL() + "/tenant-a/v2.0/.well-known/openid-configuration",
		s.URL() + "/.well-known/oauth-authorization-server/tenant-a/v2.0",
	} {
		status, h, body := get(t, u)
		if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: %d %q", u, status, h.Get("Content-Type"))
		}
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if doc["issuer"] != s.Issuer() || doc["jwks_uri"] != s.JWKSURL() || doc["token_endpoint"] != s.TokenURL() {
			t.Fatalf("%s: %v", u, doc)
		}
		if gt, _ := doc["grant_types_supported"].([]any); !slices.Contains(gt, any("client_credentials")) {
			t.Fatalf("grant_types_supported %v", doc["grant_types_supported"])
		}
		if !strings.HasPrefix(s.JWKSURL(), s.Issuer()+"/") || !strings.HasPrefix(s.TokenURL(), s.Issuer()+"/") {
			t.Fatalf("endpoints %s %s not under the issuer", s.JWKSURL(), s.TokenURL())
		}
	}
	// Forms real path issuers do not serve.
	for _, u := range []string{
		s.URL() + "/.well-known/openid-configuration",
		s.URL() + "/.well-known/oauth-authorization-server",
		s.Issuer() + "/.well-known/oauth-authorization-server",
		s.URL() + "/jwks",
	} {
		if status, _, _ := get(t, u); status != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", u, status)
		}
	}
	if d := s.Requests(oauthtest.EndpointDiscovery); d != 2 {
		t.Errorf("discovery requests %d, want 2", d)
	}
	tok := s.MintT(t)
	d, err := verify(t, servedKeys(t, s), tok)
	if err != nil || d.claims["iss"] != s.Issuer() {
		t.Fatalf("token iss %v err %v", d.claims["iss"], err)
	}
}

func TestDiscoveryServedAndExtra(t *testing.T) {
	s := oauthtest.NewT(t, oauthtest.WithIssuerPath("/realms/demo"))
	s.SetDiscoveryServed(false, true)
	if status, _, _ := get(t, s.DiscoveryURL()); status != http.StatusNotFound {
		t.Fatalf("OpenID document served: %d", status)
	}
	if status, _, _ := get(t, s.MetadataURL()); status != http.StatusOK {
		t.Fatalf("RFC 8414 document: %d", status)
	}
	s.SetDiscoveryServed(true, false)
	if status, _, _ := get(t, s.MetadataURL()); status != http.StatusNotFound {
		t.Fatalf("RFC 8414 document served: %d", status)
	}
	s.SetDiscoveryExtra(map[string]any{"issuer": "https://elsewhere.test", "jwks_uri": nil, "x": 1})
	_, _, body := get(t, s.DiscoveryURL())
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["jwks_uri"]; ok || doc["issuer"] != "https://elsewhere.test" || doc["x"] != float64(1) {
		t.Fatalf("extras not applied: %v", doc)
	}
	if got := s.Requests(oauthtest.EndpointDiscovery); got != 4 {
		t.Fatalf("discovery requests %d, want 4", got)
	}
}

func TestRotation(t *testing.T) {
	s := oauthtest.NewT(t, oauthtest.WithKeyAlgs("ES256"))
	old := s.SigningKeyID()
	oldTok := s.MintT(t)
	kid, err := s.RotateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	if s.SigningKeyID() != kid || kid == old {
		t.Fatalf("signer %q after rotation to %q", s.SigningKeyID(), kid)
	}
	keys := servedKeys(t, s)
	if len(keys) != 2 || keys[old].alg != "ES256" || keys[kid].alg != "EdDSA" {
		t.Fatalf("JWKS after rotation: %v", keys)
	}
	newTok := s.MintT(t)
	for _, tok := range []string{oldTok, newTok} {
		if _, err := verify(t, keys, tok); err != nil {
			t.Fatalf("token does not verify after rotation: %v", err)
		}
	}
	if d, _ := verify(t, keys, newTok); d.kid != kid || d.alg != "EdDSA" {
		t.Fatalf("new token kid %q alg %q", d.kid, d.alg)
	}

	if err := s.RemoveKey(old); err != nil {
		t.Fatal(err)
	}
	keys = servedKeys(t, s)
	if _, ok := keys[old]; ok || len(keys) != 1 {
		t.Fatalf("removed key still served: %v", keys)
	}
	if _, err := verify(t, keys, oldTok); err == nil {
		t.Fatal("token of a removed key verified")
	}
	if _, err := s.Mint(oauthtest.WithKeyID(old)); err == nil {
		t.Fatal("minted with a removed key")
	}
	if _, ok := s.PublicKey(old); ok {
		t.Fatal("PublicKey of a removed key")
	}
	if err := s.RemoveKey(old); err == nil {
		t.Fatal("removed a key twice")
	}
	if err := s.SetSigningKey(old); err == nil {
		t.Fatal("SetSigningKey accepted a removed key")
	}

	// AddKey publishes without changing the signer; SetSigningKey switches.
	added, err := s.AddKey("PS256")
	if err != nil {
		t.Fatal(err)
	}
	if s.SigningKeyID() != kid {
		t.Fatal("AddKey changed the signer")
	}
	if err := s.SetSigningKey(added); err != nil || s.SigningKeyID() != added {
		t.Fatalf("SetSigningKey: %v", err)
	}
	// Removing the signer falls back to the first remaining key.
	if err := s.RemoveKey(added); err != nil || s.SigningKeyID() != kid {
		t.Fatalf("signer %q after removing it, err %v", s.SigningKeyID(), err)
	}
	if err := s.RemoveKey(kid); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mint(); err == nil || s.SigningKeyID() != "" {
		t.Fatal("minted without any key")
	}
	if _, _, body := get(t, s.JWKSURL()); string(body) != `{"keys":[]}` {
		t.Fatalf("empty JWKS %s", body)
	}
	if _, err := s.AddKey("HS256"); err == nil {
		t.Fatal("AddKey accepted HS256")
	}
}

func TestJWKSCacheControlAndExtra(t *testing.T) {
	s := oauthtest.NewT(t, oauthtest.WithJWKSCacheControl(""))
	if _, h, _ := get(t, s.JWKSURL()); len(h.Values("Cache-Control")) != 0 {
		t.Fatalf("Cache-Control sent: %q", h.Values("Cache-Control"))
	}
	s.SetJWKSCacheControl("max-age=60")
	if _, h, _ := get(t, s.JWKSURL()); h.Get("Cache-Control") != "max-age=60" {
		t.Fatalf("Cache-Control %q", h.Get("Cache-Control"))
	}
	kid := s.SigningKeyID()
	s.SetJWKSExtra(kid, map[string]any{"use": "enc", "alg": nil, "issuer": "https://login.example/{tenantid}/v2.0"})
	s.SetJWKSExtra("no-such-kid", map[string]any{"use": "enc"})
	_, _, body := get(t, s.JWKSURL())
	k := parseJWKS(t, body)[kid]
	if k.use != "enc" || k.alg != "" || k.fields["issuer"] != "https://login.example/{tenantid}/v2.0" {
		t.Fatalf("extras not applied: %v", k.fields)
	}
	if _, ok := k.fields["alg"]; ok {
		t.Fatal("alg not removed")
	}
	s.SetJWKSExtra(kid, nil)
	_, _, body = get(t, s.JWKSURL())
	if k := parseJWKS(t, body)[kid]; k.use != "sig" || k.alg != "RS256" {
		t.Fatalf("extras not cleared: %v", k.fields)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := oauthtest.NewT(t, oauthtest.WithKeyAlgs("ES256"))
	s.RegisterClient(oauthtest.Client{ID: "c", Secret: "s", Scopes: []string{"read"}})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 10 {
				switch i % 4 {
				case 0:
					if _, err := s.Mint(); err != nil {
						t.Error(err)
					}
				case 1:
					kid, err := s.AddKey("ES256")
					if err != nil {
						t.Error(err)
						return
					}
					_ = s.SetSigningKey(kid)
					_ = s.RemoveKey(kid)
				case 2:
					get(t, s.JWKSURL())
				case 3:
					s.SetFault(oauthtest.EndpointDiscovery, oauthtest.Fault{Status: 500})
					get(t, s.DiscoveryURL())
					s.ClearFault(oauthtest.EndpointDiscovery)
				}
			}
		})
	}
	wg.Wait()
	if got := s.Requests(oauthtest.EndpointJWKS); got != 20 {
		t.Fatalf("JWKS requests %d, want 20", got)
	}
	if got := s.Requests(oauthtest.EndpointDiscovery); got != 20 {
		t.Fatalf("discovery requests %d, want 20", got)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	s, err := oauthtest.New(oauthtest.WithKeyAlgs("EdDSA"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close()
	if _, err := http.Get(s.JWKSURL()); err == nil {
		t.Fatal("closed server answered")
	}
}
