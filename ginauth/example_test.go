package ginauth_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/gin-gonic/gin"

	"github.com/m2mauth/m2mauth/ginauth"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// A Gin group authenticates every request; routes demand permissions.
func Example() {
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
		Name: "idp", Issuer: iss.Issuer(), Keys: keys,
		Audiences:  []string{"https://invoices.example.test"},
		ClientIDs:  []string{"billing-daemon"},
		Algorithms: []string{"RS256"},
	}}})
	if err != nil {
		panic(err)
	}

	auth, err := ginauth.New(v, middleware.WithRealm("invoices"))
	if err != nil {
		panic(err)
	}
	r := gin.New()
	api := r.Group("/api", auth.Authenticate)
	api.GET("/invoices/:id", auth.Require(jwtverify.RequireAll("invoices.read")), func(c *gin.Context) {
		p, _ := ginauth.Principal(c)
		c.String(http.StatusOK, "invoice "+c.Param("id")+" for "+p.ClientID())
	})
	api.DELETE("/invoices/:id", auth.Require(jwtverify.RequireAnyRoles("Invoices.Admin")), func(c *gin.Context) {
		c.Status(http.StatusNoContent)
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	tok, err := iss.Mint(oauthtest.WithClaims(map[string]any{
		"aud": "https://invoices.example.test", "client_id": "billing-daemon", "scope": "invoices.read",
	}))
	if err != nil {
		panic(err)
	}
	for _, method := range []string{"GET", "DELETE"} {
		req, _ := http.NewRequest(method, srv.URL+"/api/invoices/42", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body))
	}
	// Output:
	// 200  invoice 42 for billing-daemon
	// 403 Bearer realm="invoices", error="insufficient_scope", error_description="The access token lacks the permissions this request requires", scope="Invoices.Admin" {"error":"insufficient_scope","error_description":"The access token lacks the permissions this request requires"}
}
