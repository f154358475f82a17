package middleware_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// newVerifier trusts iss through its discovery document, as with a real
// provider (Entra ID, Auth0, Okta, ...). The returned stop closes the key
// cache.
func newVerifier(iss *oauthtest.Server, client string) (*jwtverify.Verifier, func()) {
	keys, err := jwkscache.New(context.Background(), jwkscache.Config{Name: "idp", Issuer: iss.Issuer()})
	if err != nil {
		panic(err)
	}
	if err := keys.Ready(context.Background()); err != nil {
		panic(err)
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name:       "idp",
		Issuer:     iss.Issuer(),
		Keys:       keys,
		Audiences:  []string{"https://invoices.example.test"},
		ClientIDs:  []string{client},
		Algorithms: []string{"RS256"},
	}}})
	if err != nil {
		panic(err)
	}
	return v, func() { _ = keys.Close() }
}

func show(resp *http.Response, err error) {
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		fmt.Printf("%d %s\n", resp.StatusCode, body)
		return
	}
	fmt.Printf("%d %s\n", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
}

// A service authenticates every request and demands a permission per route;
// a daemon calls it with a client credentials token.
func Example() {
	iss, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer iss.Close()
	iss.RegisterClient(oauthtest.Client{
		ID: "billing-daemon", Secret: "s3cret",
		Scopes:    []string{"invoices.read"},
		Audiences: []string{"https://invoices.example.test"},
	})
	v, stop := newVerifier(iss, "billing-daemon")
	defer stop()

	// The service.
	mw, err := middleware.New(v, middleware.WithRealm("invoices"), middleware.WithExemptPaths("/healthz"))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	mux.Handle("GET /invoices/{id}", mw.Require(jwtverify.RequireAll("invoices.read"))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := jwtverify.FromContext(r.Context())
			fmt.Fprintf(w, "invoice %s for %s", r.PathValue("id"), p.ClientID())
		})))
	mux.Handle("POST /invoices", mw.Require(jwtverify.RequireAll("invoices.write"))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })))
	srv := httptest.NewServer(mw.Handler(mux))
	defer srv.Close()

	// The daemon.
	cc := clientcredentials.Config{
		ClientID: "billing-daemon", ClientSecret: "s3cret",
		TokenURL: iss.TokenURL(), Scopes: []string{"invoices.read"},
	}
	client := cc.Client(context.Background())
	show(client.Get(srv.URL + "/invoices/42"))
	show(client.Post(srv.URL+"/invoices", "application/json", nil))
	show(http.Get(srv.URL + "/invoices/42"))
	show(http.Get(srv.URL + "/healthz"))
	// Output:
	// 200 invoice 42 for billing-daemon
	// 403 Bearer realm="invoices", error="insufficient_scope", error_description="The access token lacks the permissions this request requires", scope="invoices.write"
	// 401 Bearer realm="invoices"
	// 200 ok
}

// RFC 9728: clients discover the authorization server from the challenge.
func ExampleWithResourceMetadata() {
	iss, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer iss.Close()
	v, stop := newVerifier(iss, "billing-daemon")
	defer stop()

	mw, err := middleware.New(v, middleware.WithResourceMetadata(middleware.ResourceMetadata{
		Resource:        "https://invoices.example.test",
		ScopesSupported: []string{"invoices.read", "invoices.write"},
	}))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+mw.MetadataPath(), mw.MetadataHandler())

	w := httptest.NewRecorder()
	mw.Handler(mux).ServeHTTP(w, httptest.NewRequest("GET", "/invoices", nil))
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))

	w = httptest.NewRecorder()
	mw.Handler(mux).ServeHTTP(w, httptest.NewRequest("GET", mw.MetadataPath(), nil))
	fmt.Print(w.Code, " ", strings.ReplaceAll(w.Body.String(), iss.Issuer(), "http://127.0.0.1:PORT"))
	// Output:
	// 401 Bearer realm="api", resource_metadata="https://invoices.example.test/.well-known/oauth-protected-resource"
	// 200 {"resource":"https://invoices.example.test","authorization_servers":["http://127.0.0.1:PORT"],"scopes_supported":["invoices.read","invoices.write"],"bearer_methods_supported":["header"]}
}
