package echov5auth_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/labstack/echo/v5"

	"github.com/m2mauth/m2mauth/echov5auth"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// docVerifier trusts iss with its current signing key, for the default
// audience and client of oauthtest.
func docVerifier(iss *oauthtest.Server) *jwtverify.Verifier {
	pub, _ := iss.PublicKey(iss.SigningKeyID())
	key, err := jwkscache.NewKey(iss.SigningKeyID(), "RS256", pub)
	if err != nil {
		panic(err)
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "idp", Issuer: iss.Issuer(), Keys: jwkscache.NewStatic("idp", key), Algorithms: []string{"RS256"},
		Audiences: []string{oauthtest.DefaultAudience}, ClientIDs: []string{oauthtest.DefaultClientID},
	}}})
	if err != nil {
		panic(err)
	}
	return v
}

// serveDoc sends one request with token to h and prints the answer.
func serveDoc(h http.Handler, method, target, token string) {
	r := httptest.NewRequest(method, target, nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Body.String())
}

// The package doc's usage, run (TestSnippetsCompile in the root module
// checks that the doc's lines stand here).
func Example_group() {
	iss, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer iss.Close()
	v := docVerifier(iss)
	e := echo.New()

	auth, err := echov5auth.New(v, middleware.WithRealm("invoices"))
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
	serveDoc(e, "GET", "/api/invoices/42", tok)
	serveDoc(e, "POST", "/api/invoices", tok)
	// Output:
	// 200 invoice 42 for oauthtest-client
	// 403 {"error":"insufficient_scope","error_description":"The access token lacks the permissions this request requires"}
}

func getInvoice(c *echo.Context) error {
	p, _ := echov5auth.Principal(c) // or jwtverify.FromContext(c.Request().Context())
	return c.String(http.StatusOK, "invoice "+c.Param("id")+" for "+p.ClientID())
}

func createInvoice(c *echo.Context) error { return c.NoContent(http.StatusCreated) }

// The README's Echo v5 lines.
func Example_readme() {
	iss, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer iss.Close()
	v := docVerifier(iss)
	e := echo.New()
	listOrders := func(c *echo.Context) error { return c.String(http.StatusOK, "orders") }

	auth, err := echov5auth.New(v)
	api := e.Group("", auth.Authenticate)
	api.GET("/orders", listOrders, auth.Require(jwtverify.RequireAll("orders.read")))
	if err != nil {
		panic(err)
	}
	tok, err := iss.Mint(oauthtest.WithClaims(map[string]any{"scope": "orders.read"}))
	if err != nil {
		panic(err)
	}
	serveDoc(e, "GET", "/orders", tok)
	// Output: 200 orders
}
