package jwtverify_test

import (
	"context"
	"fmt"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// Example verifies a client-credentials token from an in-process issuer
// whose keys are fetched and cached by jwkscache, then checks a route's
// requirement.
func Example() {
	issuer, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer issuer.Close()
	issuer.RegisterClient(oauthtest.Client{
		ID: "billing-worker", Scopes: []string{"orders.read"}, Audiences: []string{"https://orders.example"},
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys, err := jwkscache.New(ctx, jwkscache.Config{Name: "corp", Issuer: issuer.Issuer()})
	if err != nil {
		panic(err)
	}
	defer keys.Close()
	readyCtx, done := context.WithTimeout(ctx, 10*time.Second)
	defer done()
	if err := keys.Ready(readyCtx); err != nil {
		panic(err)
	}

	v, err := jwtverify.New(jwtverify.Config{
		Issuers: []jwtverify.IssuerConfig{{
			Name:       "corp",
			Issuer:     issuer.Issuer(),
			Keys:       keys,
			Audiences:  []string{"https://orders.example"},
			ClientIDs:  []string{"billing-worker"},
			Algorithms: []string{"RS256"},
		}},
	})
	if err != nil {
		panic(err)
	}

	token, err := issuer.Mint(oauthtest.WithClient("billing-worker"))
	if err != nil {
		panic(err)
	}
	p, err := v.Verify(ctx, token)
	if err != nil {
		panic(err)
	}
	fmt.Println("client:", p.ClientID(), "scopes:", p.Scopes())

	if err := jwtverify.RequireAll("orders.write").Check(p); err != nil {
		r := jwtverify.ReasonOf(err)
		fmt.Println("denied:", r.Code(), jwtverify.RequireAll("orders.write").Scopes())
	}

	_, err = v.Verify(ctx, token+"x")
	fmt.Println("tampered:", jwtverify.ReasonOf(err), "->", jwtverify.ReasonOf(err).Code())
	// Output:
	// client: billing-worker scopes: [orders.read]
	// denied: insufficient_scope [orders.write]
	// tampered: malformed -> invalid_token
}
