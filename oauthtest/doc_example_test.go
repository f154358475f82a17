package oauthtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestAPI is the package doc's "typical use in a test", completed with the
// verifier it leaves to the reader (TestSnippetsCompile in the root package
// checks that the doc's lines stand here).
func TestAPI(t *testing.T) {
	is := oauthtest.NewT(t) // one RS256 key, as the profiles accept by default
	is.RegisterClient(oauthtest.Client{ID: "svc", Secret: "s3cret",
		Scopes: []string{"read"}, Audiences: []string{"https://api.example.test"}})
	tok := is.MintT(t, oauthtest.WithClient("svc"))
	expired := is.MintT(t, oauthtest.WithClient("svc"), oauthtest.WithLifetime(-time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := jwkscache.New(ctx, jwkscache.Config{Name: "test", Issuer: is.Issuer()})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{Name: "test", Issuer: is.Issuer(), Keys: keys,
		Audiences: []string{"https://api.example.test"}, ClientIDs: []string{"svc"}, Algorithms: []string{"RS256"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(ctx, tok); err != nil || !p.HasScope("read") {
		t.Fatalf("tok: %v, %v", p, err)
	}
	if _, err := v.Verify(ctx, expired); !errors.Is(err, jwtverify.ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
}
