package ginauth_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gin-gonic/gin"

	"github.com/m2mauth/m2mauth/ginauth"
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

	auth, err := ginauth.New(v, middleware.WithRealm("invoices"))
	if err != nil {
		panic(err)
	}
	r := gin.New()
	api := r.Group("/api", auth.Authenticate)
	api.GET("/invoices/:id", auth.Require(jwtverify.RequireAll("invoices.read")), getInvoice)
	api.POST("/invoices", auth.Require(jwtverify.RequireAll("invoices.write")), createInvoice)

	tok, err := iss.Mint(oauthtest.WithClaims(map[string]any{"scope": "invoices.read"}))
	if err != nil {
		panic(err)
	}
	serveDoc(r, "GET", "/api/invoices/42", tok)
	serveDoc(r, "POST", "/api/invoices", tok)
	// Output:
	// 200 invoice 42 for oauthtest-client
	// 403 {"error":"insufficient_scope","error_description":"The access token lacks the permissions this request requires"}
}

func getInvoice(c *gin.Context) {
	p, _ := ginauth.Principal(c) // or jwtverify.FromContext(c.Request.Context())
	c.String(http.StatusOK, "invoice "+c.Param("id")+" for "+p.ClientID())
}

func createInvoice(c *gin.Context) { c.Status(http.StatusCreated) }

// The README's Gin lines.
func Example_readme() {
	iss, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer iss.Close()
	v := docVerifier(iss)
	r := gin.New()
	listOrders := func(c *gin.Context) { c.String(http.StatusOK, "orders") }

	auth, err := ginauth.New(v)
	api := r.Group("", auth.Authenticate)
	api.GET("/orders", auth.Require(jwtverify.RequireAll("orders.read")), listOrders) // handlers: ginauth.Principal(c)
	if err != nil {
		panic(err)
	}
	tok, err := iss.Mint(oauthtest.WithClaims(map[string]any{"scope": "orders.read"}))
	if err != nil {
		panic(err)
	}
	serveDoc(r, "GET", "/orders", tok)
	// Output: 200 orders
}
