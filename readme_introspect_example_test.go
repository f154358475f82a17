package m2mauth

// The README's "Opaque tokens (introspection)" snippets, compiled (see
// readme_example_test.go): Examples without Output, never run.
//lint:file-ignore SA4006 the README's snippets leave error handling out for brevity
//lint:file-ignore SA5001 the README's snippets leave error handling out for brevity

import (
	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/profiles"
)

func Example_opaqueTokens() {
	secret := "the API's client secret"
	src, err := introspect.New(introspect.Config{
		Issuer:    "https://idp.example.com",
		Auth:      introspect.ClientAuth{Method: introspect.AuthClientSecretBasic, ClientID: "orders-api", ClientSecret: secret},
		Audiences: []string{"https://api.example.com"},
		ClientIDs: []string{"orders-worker"},
	})
	defer src.Close()
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "idp", Issuer: "https://idp.example.com", Mode: jwtverify.ModeIntrospect, Introspection: src,
		Audiences: []string{"https://api.example.com"}, ClientIDs: []string{"orders-worker"},
	}}})
	_, _ = v, err
}

func Example_opaqueTokensProfile() {
	p, err := profiles.Hydra(profiles.HydraOptions{Issuer: "https://hydra.example.com/", Audience: "https://api.example.com", ClientIDs: []string{"orders-worker"}})
	src, err := p.StartIntrospection(jwtverify.ModeIntrospect, introspect.Config{Endpoint: "https://hydra-admin.internal:4445/admin/oauth2/introspect", Auth: introspect.ClientAuth{Method: introspect.AuthNone}})
	if err == nil {
		defer src.Close()
	}
}
