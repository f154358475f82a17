package jwkscache_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/oauthtest"
)

func Example() {
	issuer, err := oauthtest.New(oauthtest.WithKeyAlgs("ES256"))
	if err != nil {
		panic(err)
	}
	defer issuer.Close()

	ctx := context.Background()
	keys, err := jwkscache.New(ctx, jwkscache.Config{
		Name:   "test-issuer",
		Issuer: issuer.Issuer(), // discovery finds the JWKS URL
	})
	if err != nil {
		panic(err)
	}
	defer keys.Close()

	readyCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := keys.Ready(readyCtx); err != nil {
		panic(err)
	}
	found, err := keys.Lookup(ctx, issuer.SigningKeyID())
	if err != nil {
		panic(err)
	}
	fmt.Println(len(found), found[0].Kty, found[0].Crv, found[0].Alg, found[0].Source)

	_, err = keys.Lookup(ctx, "no-such-kid")
	fmt.Println(errors.Is(err, jwkscache.ErrUnknownKey))
	// Output:
	// 1 EC P-256 ES256 test-issuer
	// true
}

func ExampleNewStaticJWKS() {
	doc := []byte(`{"keys":[
	  {"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
	  {"kty":"oct","kid":"k2","k":"c2VjcmV0"}]}`)
	src, err := jwkscache.NewStaticJWKS("offline", doc)
	if err != nil {
		panic(err)
	}
	keys, _ := src.Lookup(context.Background(), "k1")
	fmt.Println(keys[0].Kty, keys[0].Crv)
	for _, s := range src.Skipped() {
		fmt.Println("skipped", s.KID, s.Reason)
	}
	// Output:
	// OKP Ed25519
	// skipped k2 unsupported_kty
}

func ExampleObserverFuncs() {
	issuer, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer issuer.Close()
	done := make(chan jwkscache.FetchEvent, 1)
	keys, err := jwkscache.New(context.Background(), jwkscache.Config{
		Name:    "observed",
		JWKSURL: issuer.JWKSURL(),
		Observer: jwkscache.ObserverFuncs{OnFetch: func(e jwkscache.FetchEvent) {
			select {
			case done <- e:
			default:
			}
		}},
	})
	if err != nil {
		panic(err)
	}
	defer keys.Close()
	e := <-done
	fmt.Println(e.Source, e.Cause, e.Class, e.Keys)
	// Output: observed scheduled ok 1
}
