package jwtverify_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

// ExampleRuleError shows a user rule: a deny list of token IDs checked by
// IssuerConfig.Validate on every Verify, also when the verified-token
// cache answers, with its own sub-reason code.
func ExampleRuleError() {
	issuer, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer issuer.Close()
	pub, _ := issuer.PublicKey(issuer.SigningKeyID())
	key, err := jwkscache.NewKey(issuer.SigningKeyID(), "RS256", pub)
	if err != nil {
		panic(err)
	}

	var denied sync.Map // token ID -> true; filled at run time
	v, err := jwtverify.New(jwtverify.Config{
		Issuers: []jwtverify.IssuerConfig{{
			Name:       "corp",
			Issuer:     issuer.Issuer(),
			Keys:       jwkscache.NewStatic("corp", key),
			Audiences:  []string{oauthtest.DefaultAudience},
			ClientIDs:  []string{oauthtest.DefaultClientID},
			Algorithms: []string{"RS256"},
			Validate: func(p *jwtverify.Principal) error {
				if _, ok := denied.Load(p.TokenID()); ok {
					return jwtverify.RuleError(jwtverify.ErrClient, "jti_denied", "token ID is denied")
				}
				return nil
			},
			ValidateCodes: []string{"jti_denied"},
		}},
	})
	if err != nil {
		panic(err)
	}

	token, err := issuer.Mint(oauthtest.WithClaims(map[string]any{"jti": "t-42"}))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_, err = v.Verify(ctx, token)
	fmt.Println("first use:", err)

	denied.Store("t-42", true) // the token is cached, the rule still runs
	_, err = v.Verify(ctx, token)
	var e *jwtverify.Error
	if errors.As(err, &e) {
		fmt.Println("after the deny:", e.Reason, e.Rule, "cache hits:", v.CacheStats().Hits)
	}
	// Output:
	// first use: <nil>
	// after the deny: client jti_denied cache hits: 1
}
