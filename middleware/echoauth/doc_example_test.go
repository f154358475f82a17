package echoauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/labstack/echo/v4"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/echoauth"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// The package doc's usage, run against the in-process issuer
// (TestSnippetsCompile in the root package checks that the doc's lines
// stand here).
func Example_group() {
	iss, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer iss.Close()
	keys, err := jwkscache.New(context.Background(), jwkscache.Config{Name: "idp", Issuer: iss.Issuer()})
	if err != nil {
		panic(err)
	}
	defer keys.Close()
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "idp", Issuer: iss.Issuer(), Keys: keys, Algorithms: []string{"RS256"},
		Audiences: []string{oauthtest.DefaultAudience}, ClientIDs: []string{oauthtest.DefaultClientID},
	}}})
	if err != nil {
		panic(err)
	}
	e := echo.New()

	auth, err := echoauth.New(v, middleware.WithRealm("invoices"))
	if err != nil {
		panic(err)
	}
	api := e.Group("/api", auth.Authenticate)
	api.GET("/invoices/:id", getInvoice, auth.Require(jwtverify.RequireAll("invoices.read")))
	api.POST("/invoices", createInvoice, auth.Require(jwtverify.RequireAll("invoices.write")))

	tok, err := iss.Mint(oauthtest.WithClaims(map[string]any{"scope": "invoices.read"}))
	if err != nil {
		panic(err)
	}
	for _, r := range []*http.Request{httptest.NewRequest("GET", "/api/invoices/42", nil), httptest.NewRequest("POST", "/api/invoices", nil)} {
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Body.String())
	}
	// Output:
	// 200 invoice 42 for oauthtest-client
	// 403 {"error":"insufficient_scope","error_description":"The access token lacks the permissions this request requires"}
}

func getInvoice(c echo.Context) error {
	p, _ := echoauth.Principal(c) // or jwtverify.FromContext(c.Request().Context())
	return c.String(http.StatusOK, "invoice "+c.Param("id")+" for "+p.ClientID())
}

func createInvoice(c echo.Context) error { return c.NoContent(http.StatusCreated) }
