package mcpauth_test

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/mcpauth"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

type greetIn struct {
	Name string `json:"name"`
}

type greetOut struct {
	Greeting string `json:"greeting"`
}

// An MCP server whose tools need the "mcp.tools" scope; an agent calls a
// tool through the SDK's client with a client-credentials token.
func Example() {
	iss, err := oauthtest.New()
	if err != nil {
		panic(err)
	}
	defer iss.Close()
	iss.RegisterClient(oauthtest.Client{ID: "agent", Secret: "agent-secret", Scopes: []string{"mcp.tools"}, Audiences: []string{"https://mcp.example.test"}})

	keys, err := jwkscache.New(context.Background(), jwkscache.Config{Name: "idp", Issuer: iss.Issuer()})
	if err != nil {
		panic(err)
	}
	defer keys.Close()
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "idp", Issuer: iss.Issuer(), Keys: keys, Algorithms: []string{"RS256"},
		Audiences: []string{"https://mcp.example.test"}, ClientIDs: []string{"agent"},
	}}})
	if err != nil {
		panic(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	endpoint := "http://" + ln.Addr().String() + "/mcp"
	ma, err := mcpauth.New(v, middleware.WithRealm("mcp"), middleware.WithResourceMetadata(middleware.ResourceMetadata{
		Resource: endpoint, ScopesSupported: []string{"mcp.tools"},
	}))
	if err != nil {
		panic(err)
	}

	server := mcp.NewServer(&mcp.Implementation{Name: "greeter", Version: "v1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "greet"}, func(_ context.Context, req *mcp.CallToolRequest, in greetIn) (*mcp.CallToolResult, greetOut, error) {
		p, _ := mcpauth.PrincipalFromTokenInfo(req.Extra.TokenInfo)
		return nil, greetOut{Greeting: "hello " + in.Name + ", from " + p.ClientID()}, nil
	})
	mux := http.NewServeMux()
	mux.Handle("/mcp", ma.Handler(jwtverify.RequireAll("mcp.tools"),
		mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))
	mux.Handle(ma.MetadataPath(), ma.MetadataHandler())
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	// Without a token: m2mauth's challenge points at the metadata.
	resp, err := http.Post(endpoint, "application/json", nil)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate") == `Bearer realm="mcp", resource_metadata="`+ma.MetadataURL()+`"`)

	// With a token: the SDK's client calls the tool.
	tok, err := iss.Mint(oauthtest.WithClient("agent"))
	if err != nil {
		panic(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "v1"}, nil)
	cs, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{
		Endpoint: endpoint, HTTPClient: &http.Client{Transport: withToken(tok)},
	}, nil)
	if err != nil {
		panic(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "Ada"}})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.StructuredContent.(map[string]any)["greeting"])
	// Output:
	// 401 true
	// hello Ada, from agent
}

// withToken adds a fixed bearer token to every request.
type withToken string

func (t withToken) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(t))
	return http.DefaultTransport.RoundTrip(r)
}
