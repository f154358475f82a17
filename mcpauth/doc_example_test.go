package mcpauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/mcpauth"
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

// showAnswer sends a POST without a token to h and prints the answer.
func showAnswer(h http.Handler, target string) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, target, nil))
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
}

// The package doc's usage, run (TestSnippetsCompile in the root module
// checks that the doc's lines stand here).
func Example_doc() {
	iss, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer iss.Close()
	v := docVerifier(iss)
	tool := &mcp.Tool{Name: "list_invoices"}
	handler := func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	}

	ma, err := mcpauth.New(v, middleware.WithRealm("mcp"),
		middleware.WithResourceMetadata(middleware.ResourceMetadata{
			Resource:        "https://api.example.com/mcp", // the endpoint clients connect to
			ScopesSupported: []string{"mcp.tools"},
		}))
	if err != nil {
		panic(err)
	}

	server := mcp.NewServer(&mcp.Implementation{Name: "invoices"}, nil)
	mcp.AddTool(server, tool, handler)
	mux := http.NewServeMux()
	mux.Handle("/mcp", ma.Handler(jwtverify.RequireAll("mcp.tools"),
		mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))
	mux.Handle(ma.MetadataPath(), ma.MetadataHandler())

	showAnswer(mux, "https://api.example.com/mcp")
	// Output:
	// 401 Bearer realm="mcp", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/mcp"
}

// The README's MCP lines.
func Example_readme() {
	iss, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer iss.Close()
	v := docVerifier(iss)
	server := mcp.NewServer(&mcp.Implementation{Name: "orders"}, nil)
	getServer := func(*http.Request) *mcp.Server { return server }
	mux := http.NewServeMux()

	ma, err := mcpauth.New(v, middleware.WithResourceMetadata(middleware.ResourceMetadata{
		Resource: "https://mcp.example.com/mcp"})) // the endpoint URL clients connect to
	mux.Handle("/mcp", ma.Handler(jwtverify.RequireAll("mcp.tools"),
		mcp.NewStreamableHTTPHandler(getServer, nil))) // tools: mcpauth.PrincipalFromTokenInfo(req.Extra.TokenInfo)
	mux.Handle(ma.MetadataPath(), ma.MetadataHandler()) // RFC 9728, found by the SDK's discovery
	if err != nil {
		panic(err)
	}

	showAnswer(mux, "https://mcp.example.com/mcp")
	// Output:
	// 401 Bearer realm="api", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
}
