package oauthtest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// A DPoP client in a few lines: the prover gets a DPoP-bound token from
// the test server and calls an API through its Transport, which adds
// "Authorization: DPoP" and a fresh proof to every request.
func ExampleDPoPProver() {
	is, _ := oauthtest.New(oauthtest.WithKeyAlgs("ES256"))
	defer is.Close()
	is.RegisterClient(oauthtest.Client{ID: "svc", Secret: "s3cret", Scopes: []string{"read"}})

	// The API under test (its token verification left out: see package
	// middleware for the whole stack).
	var checker *dpop.Checker
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP ")
		v, err := checker.Check(r, tok)
		if err == nil {
			err = checker.Commit(r.Context(), v)
		}
		if err != nil {
			http.Error(w, string(dpop.ReasonOf(err)), http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "hello, key ", v.JKT()[:4])
	}))
	defer api.Close()
	checker, _ = dpop.New(dpop.Config{PublicOrigins: []string{api.URL}})

	prover, _ := oauthtest.NewDPoPProver("ES256")
	token, err := prover.FetchToken(context.Background(), nil, is.TokenURL(), "svc", "s3cret", nil)
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: prover.TransportWithToken(nil, func(context.Context) (string, error) { return token, nil })}
	for range 2 {
		resp, err := client.Get(api.URL + "/orders")
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// Each call carries a fresh proof (no replay) by the prover's key.
		fmt.Println(resp.Status, string(body) == "hello, key "+prover.Thumbprint()[:4])
	}
	// Output:
	// 200 OK true
	// 200 OK true
}
