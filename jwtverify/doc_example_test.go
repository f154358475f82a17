package jwtverify_test

import (
	"context"
	"fmt"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// The package doc's usage, run (TestSnippetsCompile in the root package
// checks that the doc's lines stand here): the in-process issuer signs
// tokens that claim the doc's issuer, and a static key source holds its
// public key.
func Example_packageDoc() {
	is, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer is.Close()
	pub, _ := is.PublicKey(is.SigningKeyID())
	key, err := jwkscache.NewKey(is.SigningKeyID(), "RS256", pub)
	if err != nil {
		panic(err)
	}
	keys := jwkscache.NewStatic("corp", key)
	ctx := context.Background()
	mint := func(scope string) string {
		tok, err := is.Mint(oauthtest.WithClaims(map[string]any{"iss": "https://issuer.example.com",
			"aud": "https://api.example.com", "client_id": "billing-worker", "scope": scope}))
		if err != nil {
			panic(err)
		}
		return tok
	}

	handle := func(token string) error {
		v, err := jwtverify.New(jwtverify.Config{
			Issuers: []jwtverify.IssuerConfig{{
				Name:       "corp",
				Issuer:     "https://issuer.example.com",
				Keys:       keys, // a *jwkscache.Cache or a jwkscache.Static
				Audiences:  []string{"https://api.example.com"},
				ClientIDs:  []string{"billing-worker"},
				Algorithms: []string{"RS256"},
			}},
		})
		if err != nil {
			return err
		}
		p, err := v.Verify(ctx, token)
		if err != nil {
			return err
		}
		if err := jwtverify.RequireAll("orders.read").Check(p); err != nil {
			return err
		}
		return nil
	}
	for _, tok := range []string{mint("orders.read"), mint("orders.write"), mint("orders.read") + "x"} {
		if err := handle(tok); err != nil {
			fmt.Println("refused:", jwtverify.ReasonOf(err), jwtverify.ReasonOf(err).Code())
			continue
		}
		fmt.Println("allowed")
	}
	// Output:
	// allowed
	// refused: insufficient_scope insufficient_scope
	// refused: malformed invalid_token
}
