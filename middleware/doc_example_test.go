package middleware_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

// The package doc's snippets, compiled (TestSnippetsCompile in the root
// package checks that the doc's lines stand here).

// getInvoice reads the verified caller, as every handler behind the
// middleware does.
var getInvoice = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p, _ := jwtverify.FromContext(r.Context())
	log.Printf("call from %s", p.ClientID())
	fmt.Fprintf(w, "invoice %s for %s", r.PathValue("id"), p.ClientID())
})

var createInvoice = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })

// The usage of the package doc: a ServeMux with a permission per route,
// served on addr. Not run: it listens on a fixed port.
func Example_serveMux() {
	var p profiles.Profile // your provider's profile, its keys started (package profiles)
	addr := "127.0.0.1:8080"

	v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(p)})
	if err != nil {
		log.Fatal(err)
	}
	mw, err := middleware.New(v, middleware.WithRealm("invoices"), middleware.WithExemptPaths("/healthz"))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /invoices/{id}", mw.Require(jwtverify.RequireAll("invoices.read"))(getInvoice))
	mux.Handle("POST /invoices", mw.Require(jwtverify.RequireAll("invoices.write"))(createInvoice))
	log.Fatal(http.ListenAndServe(addr, mw.Handler(mux)))
}

// The same routes, called with a token of the in-process issuer.
func Example_handlers() {
	iss, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer iss.Close()
	iss.RegisterClient(oauthtest.Client{ID: "billing-daemon", Secret: "s3cret",
		Scopes: []string{"invoices.read"}, Audiences: []string{"https://invoices.example.test"}})
	v, stop := newVerifier(iss, "billing-daemon")
	defer stop()

	mw, err := middleware.New(v, middleware.WithRealm("invoices"), middleware.WithExemptPaths("/healthz"))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /invoices/{id}", mw.Require(jwtverify.RequireAll("invoices.read"))(getInvoice))
	mux.Handle("POST /invoices", mw.Require(jwtverify.RequireAll("invoices.write"))(createInvoice))

	tok, err := iss.Mint(oauthtest.WithClient("billing-daemon"))
	if err != nil {
		panic(err)
	}
	for _, method := range []string{"GET", "POST"} {
		r := httptest.NewRequest(method, "/invoices/42", nil)
		if method == "POST" {
			r = httptest.NewRequest(method, "/invoices", nil)
		}
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		mw.Handler(mux).ServeHTTP(w, r)
		fmt.Println(w.Code, w.Body.String())
	}
	// Output:
	// 200 invoice 42 for billing-daemon
	// 403 {"error":"insufficient_scope","error_description":"The access token lacks the permissions this request requires"}
}
