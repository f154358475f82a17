package mcpauth_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/mcpauth"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

const (
	audience = "https://mcp.example.test"
	scope    = "mcp.tools"
	clientA  = "client-a"
	clientB  = "client-b"
	clientC  = "client-c" // lacks scope
	secret   = "s3cret-s3cret"
)

// env is an MCP server protected by mcpauth on an httptest server, with
// an oauthtest issuer.
type env struct {
	iss *oauthtest.Server
	v   *jwtverify.Verifier
	ma  *mcpauth.Auth
	srv *httptest.Server
	url string // the MCP endpoint

	h     atomic.Pointer[http.Handler]
	ends  chan streamEnd // one per finished GET (standalone SSE stream)
	posts chan streamEnd // one per finished POST
	// release ends the calls of the "block" tool (unblock).
	release     chan struct{}
	releaseOnce sync.Once
}

// unblock ends the calls of the "block" tool.
func (e *env) unblock() { e.releaseOnce.Do(func() { close(e.release) }) }

// streamEnd is what a standalone SSE stream's request saw when it ended.
type streamEnd struct {
	at       time.Time
	deadline time.Time
	cause    error
}

type envOpts struct {
	leeway time.Duration
	now    func() time.Time // the Verifier's clock (Config.Now)
	opts   []middleware.Option
}

func newEnv(t testing.TB, eo envOpts) *env {
	t.Helper()
	iss := oauthtest.NewT(t)
	for _, c := range []oauthtest.Client{
		{ID: clientA, Secret: secret, Scopes: []string{scope}, Audiences: []string{audience}},
		{ID: clientB, Secret: secret, Scopes: []string{scope}, Audiences: []string{audience}},
		{ID: clientC, Secret: secret, Scopes: []string{"other"}, Audiences: []string{audience}},
	} {
		iss.RegisterClient(c)
	}
	kid := iss.SigningKeyID()
	pub, _ := iss.PublicKey(kid)
	key, err := jwkscache.NewKey(kid, "RS256", pub)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name:       "test",
		Issuer:     iss.Issuer(),
		Keys:       jwkscache.NewStatic("test", key),
		Audiences:  []string{audience},
		ClientIDs:  []string{clientA, clientB, clientC},
		Algorithms: []string{"RS256"},
		Leeway:     eo.leeway,
	}}, Now: eo.now})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{iss: iss, v: v, ends: make(chan streamEnd, 16), posts: make(chan streamEnd, 64), release: make(chan struct{})}

	// The resource must be the endpoint URL, known only once listening.
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*e.h.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	t.Cleanup(e.unblock)
	e.url = e.srv.URL + "/mcp"
	e.mount(t, append([]middleware.Option{
		middleware.WithResourceMetadata(middleware.ResourceMetadata{Resource: e.url, ScopesSupported: []string{scope}}),
	}, eo.opts...)...)
	return e
}

// mount (re)builds the adapter with opts and serves a fresh MCP server.
func (e *env) mount(t testing.TB, opts ...middleware.Option) {
	t.Helper()
	ma, err := mcpauth.New(e.v, append([]middleware.Option{middleware.WithRealm("mcp")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e.ma = ma
	server := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "v1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami"}, whoami)
	mcp.AddTool(server, &mcp.Tool{Name: "block"}, e.block)
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	mux := http.NewServeMux()
	mux.Handle("/mcp", ma.Handler(jwtverify.RequireAll(scope), e.recordStreams(sdk)))
	mux.Handle(ma.MetadataPath(), ma.MetadataHandler())
	var h http.Handler = mux
	e.h.Store(&h)
}

type whoamiOut struct {
	Client string `json:"client"`
	UserID string `json:"user_id"`
	// Header is the Authorization header the tool handler sees.
	Header string `json:"header"`
	// TokenID is the jti of the Principal the tool handler sees.
	TokenID string `json:"token_id"`
	// InContext: jwtverify.FromContext found a Principal in the tool
	// handler's context.
	InContext bool `json:"in_context"`
}

// whoami answers with the Principal the tool handler sees.
func whoami(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, whoamiOut, error) {
	ti := req.Extra.TokenInfo
	p, ok := mcpauth.PrincipalFromTokenInfo(ti)
	if !ok {
		return nil, whoamiOut{}, errNoPrincipal
	}
	_, inCtx := jwtverify.FromContext(ctx)
	return nil, whoamiOut{
		Client: p.ClientID(), UserID: ti.UserID, Header: req.Extra.Header.Get("Authorization"),
		TokenID: p.TokenID(), InContext: inCtx,
	}, nil
}

type errString string

func (e errString) Error() string { return string(e) }

const errNoPrincipal = errString("no principal in the tool handler")

// block is a tool whose call runs until the test ends (or its session).
func (e *env) block(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{}, error) {
	select {
	case <-e.release:
	case <-ctx.Done():
	}
	return nil, struct{}{}, nil
}

// recordStreams reports how every GET (the standalone SSE stream) and
// every POST ended.
func (e *env) recordStreams(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		ends := e.posts
		switch r.Method {
		case http.MethodGet:
			ends = e.ends
		case http.MethodPost:
		default:
			return
		}
		d, _ := r.Context().Deadline()
		select {
		case ends <- streamEnd{at: time.Now(), deadline: d, cause: context.Cause(r.Context())}:
		default:
		}
	})
}

// bearer is an http.RoundTripper adding a token and recording answers.
type bearer struct {
	token  func() string
	mu     sync.Mutex
	resps  []*http.Response
	bodies [][]byte // of the refusals, in order
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != nil {
		r.Header.Set("Authorization", "Bearer "+b.token())
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if resp != nil && resp.StatusCode >= 400 {
		// Keep refusals readable after the SDK's client closed them.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		b.mu.Lock()
		b.bodies = append(b.bodies, body)
		b.mu.Unlock()
	}
	if resp != nil {
		b.mu.Lock()
		b.resps = append(b.resps, resp)
		b.mu.Unlock()
	}
	return resp, err
}

func (b *bearer) first(t *testing.T) *http.Response {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.resps) == 0 {
		t.Fatal("no response recorded")
	}
	return b.resps[0]
}

func fixed(tok string) func() string { return func() string { return tok } }

// connect opens an MCP client session through the SDK's own client.
func (e *env) connect(t *testing.T, rt http.RoundTripper, sessOpts ...func(*mcp.StreamableClientTransport)) (*mcp.ClientSession, error) {
	t.Helper()
	tr := &mcp.StreamableClientTransport{Endpoint: e.url, HTTPClient: &http.Client{Transport: rt}, MaxRetries: -1}
	for _, o := range sessOpts {
		o(tr)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "client", Version: "v1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, tr, nil)
	if err == nil {
		t.Cleanup(func() { _ = cs.Close() })
	}
	return cs, err
}

func (e *env) token(t *testing.T, client string, opts ...oauthtest.MintOption) string {
	t.Helper()
	return e.iss.MintT(t, append([]oauthtest.MintOption{oauthtest.WithClient(client)}, opts...)...)
}

func callWhoami(t *testing.T, cs *mcp.ClientSession) (whoamiOut, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		return whoamiOut{}, err
	}
	if res.IsError {
		return whoamiOut{}, errString("tool error: " + contentText(res))
	}
	var out whoamiOut
	m, _ := res.StructuredContent.(map[string]any)
	out.Client, _ = m["client"].(string)
	out.UserID, _ = m["user_id"].(string)
	out.Header, _ = m["header"].(string)
	out.TokenID, _ = m["token_id"].(string)
	out.InContext, _ = m["in_context"].(bool)
	return out, nil
}

func contentText(res *mcp.CallToolResult) string {
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			return tc.Text
		}
	}
	return ""
}

type recorder struct {
	mu  sync.Mutex
	evs []jwtverify.DecisionEvent
}

func (r *recorder) ObserveDecision(ev jwtverify.DecisionEvent) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

func (r *recorder) events() []jwtverify.DecisionEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]jwtverify.DecisionEvent(nil), r.evs...)
}
