package oauthtest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// A client gets a token with golang.org/x/oauth2/clientcredentials, exactly as
// it would from a real provider.
func Example() {
	// The default key is RS256, the algorithm every profile of package
	// profiles accepts by default.
	is, err := oauthtest.New(oauthtest.WithIssuerPath("/tenant-a/v2.0"))
	if err != nil {
		panic(err)
	}
	defer is.Close()
	is.RegisterClient(oauthtest.Client{
		ID:        "billing-daemon",
		Secret:    "s3cret",
		Scopes:    []string{"invoices.read", "invoices.write"},
		Audiences: []string{"https://api.example.test"},
	})

	cfg := clientcredentials.Config{
		ClientID:     "billing-daemon",
		ClientSecret: "s3cret",
		TokenURL:     is.TokenURL(),
		Scopes:       []string{"invoices.read"},
	}
	tok, err := cfg.Token(context.Background())
	if err != nil {
		panic(err)
	}
	header, claims := decode(tok.AccessToken)
	fmt.Println("token type:", tok.TokenType)
	fmt.Println("typ:", header["typ"], "alg:", header["alg"], "kid published:", header["kid"] == is.SigningKeyID())
	fmt.Println("iss is the issuer:", claims["iss"] == is.Issuer())
	fmt.Println("sub:", claims["sub"], "aud:", claims["aud"], "scope:", claims["scope"])
	// Output:
	// token type: Bearer
	// typ: at+jwt alg: RS256 kid published: true
	// iss is the issuer: true
	// sub: billing-daemon aud: https://api.example.test scope: invoices.read
}

// Tests build hostile tokens with Mint and make the issuer misbehave with
// SetFault.
func ExampleServer_Mint() {
	is, err := oauthtest.New(oauthtest.WithKeyAlgs("EdDSA"))
	if err != nil {
		panic(err)
	}
	defer is.Close()

	expired, _ := is.Mint(oauthtest.WithLifetime(-time.Minute))
	wrongAud, _ := is.Mint(oauthtest.WithClaims(map[string]any{"aud": "https://other.example.test"}))
	idToken, _ := is.Mint(oauthtest.WithHeader(map[string]any{"typ": "JWT"}))
	forged, _ := is.Mint(oauthtest.WithUntrustedKey("EdDSA"), oauthtest.WithHeader(map[string]any{"kid": is.SigningKeyID()}))
	for _, tok := range []string{expired, wrongAud, idToken, forged} {
		h, c := decode(tok)
		fmt.Println(h["typ"], c["aud"], h["kid"] == is.SigningKeyID())
	}

	is.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: http.StatusServiceUnavailable})
	resp, err := http.Get(is.JWKSURL())
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, is.Requests(oauthtest.EndpointJWKS))
	// Output:
	// at+jwt https://api.example.test true
	// at+jwt https://other.example.test true
	// JWT https://api.example.test true
	// at+jwt https://api.example.test true
	// 503 1
}

// decode returns a token's header and claims without verifying it.
func decode(tok string) (header, claims map[string]any) {
	p := strings.Split(tok, ".")
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(p[i])
		if err != nil {
			panic(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			panic(err)
		}
	}
	return header, claims
}
