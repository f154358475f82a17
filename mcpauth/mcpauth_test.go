package mcpauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/auth/extauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/mcpauth"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// A caller with the required scope calls a tool through the SDK's own
// client; the tool handler sees its Principal and a UserID naming it.
func TestToolCallAllowedWithScope(t *testing.T) {
	e := newEnv(t, envOpts{})
	tok := e.token(t, clientA)
	cs, err := e.connect(t, &bearer{token: fixed(tok)})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	out, err := callWhoami(t, cs)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if out.Client != clientA || out.UserID != mcpauth.UserID(p) || out.UserID == "" {
		t.Fatalf("tool saw %+v, want client %q and UserID %q", out, clientA, mcpauth.UserID(p))
	}
	if out.Header != "Bearer "+tok {
		t.Fatal("the tool handler does not see the request's own Authorization header")
	}
}

func wantChallenge(t *testing.T, resp *http.Response, status int, challenge string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d", resp.StatusCode, status)
	}
	got := resp.Header.Values("WWW-Authenticate")
	if len(got) != 1 || got[0] != challenge {
		t.Fatalf("WWW-Authenticate %q, want %q", got, challenge)
	}
	// The SDK's own parser reads it, as its clients do for discovery.
	cs, err := oauthex.ParseWWWAuthenticate(got)
	if err != nil || len(cs) != 1 || cs[0].Scheme != "bearer" || cs[0].Params["realm"] != "mcp" {
		t.Fatalf("the SDK parses %q as %+v, %v", got, cs, err)
	}
}

// No token, a bad token, a token lacking the scope: the SDK's client gets
// m2mauth's RFC 6750 answers (realm, error codes, scope, resource_metadata),
// never the SDK's loose ones.
func TestRefusalsCarryOurChallenge(t *testing.T) {
	e := newEnv(t, envOpts{})
	md := `resource_metadata="` + e.srv.URL + `/.well-known/oauth-protected-resource/mcp"`
	expired := e.token(t, clientA, oauthtest.WithClaims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix()}))
	for _, tc := range []struct {
		name      string
		token     func() string
		status    int
		challenge string
		errCode   string
	}{
		{"no token", nil, 401, `Bearer realm="mcp", ` + md, "unauthorized"},
		{"expired token", fixed(expired), 401,
			`Bearer realm="mcp", error="invalid_token", error_description="` + jwtverify.ReasonExpired.Description() + `", ` + md, "invalid_token"},
		{"garbage token", fixed("not.a.token"), 401,
			`Bearer realm="mcp", error="invalid_token", error_description="` + jwtverify.ReasonMalformed.Description() + `", ` + md, "invalid_token"},
		{"insufficient scope", fixed(e.token(t, clientC)), 403,
			`Bearer realm="mcp", error="insufficient_scope", error_description="` + jwtverify.ReasonInsufficientScope.Description() + `", scope="mcp.tools", ` + md, "insufficient_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &bearer{token: tc.token}
			if _, err := e.connect(t, rt); err == nil {
				t.Fatal("connected")
			}
			resp := rt.first(t)
			wantChallenge(t, resp, tc.status, tc.challenge)
			var body middleware.ErrorBody
			if err := json.Unmarshal(rt.bodies[0], &body); err != nil || body.Error != tc.errCode {
				t.Fatalf("body %+v, %v; want error %q", body, err, tc.errCode)
			}
		})
	}
}

// postRaw sends one JSON-RPC message to the MCP endpoint as a client would.
func (e *env) postRaw(t *testing.T, tok, session, version, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", session)
	req.Header.Set("Mcp-Protocol-Version", version)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// A second client holding the first one's session ID cannot use the
// session (the SDK compares TokenInfo.UserID); the first client can, with
// a fresh token too.
func TestSessionHijackRefused(t *testing.T) {
	e := newEnv(t, envOpts{})
	cs, err := e.connect(t, &bearer{token: fixed(e.token(t, clientA))})
	if err != nil {
		t.Fatal(err)
	}
	sid, version := cs.ID(), cs.InitializeResult().ProtocolVersion
	if sid == "" {
		t.Fatal("no session ID")
	}
	const call = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`

	resp := e.postRaw(t, e.token(t, clientB), sid, version, call)
	if resp.StatusCode != http.StatusForbidden {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("client B on client A's session: status %d (%q), want 403", resp.StatusCode, b)
	}
	b, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(b), "whoami") || strings.Contains(string(b), clientA) {
		t.Fatalf("client B read %q", b)
	}

	// The owner with a fresh token keeps its session.
	fresh := e.token(t, clientA, oauthtest.WithClaims(map[string]any{"jti": "fresh"}))
	resp = e.postRaw(t, fresh, sid, version, call)
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), clientA) {
		t.Fatalf("client A with a fresh token: status %d, body %q", resp.StatusCode, b)
	}
	if _, err := callWhoami(t, cs); err != nil {
		t.Fatalf("client A's session after the attempt: %v", err)
	}
}

// UserID tells apart callers that a naive concatenation would not.
func TestUserIDUnambiguous(t *testing.T) {
	e := newEnv(t, envOpts{})
	a, err := e.v.Verify(context.Background(), e.token(t, clientA))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.v.Verify(context.Background(), e.token(t, clientB))
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.v.Verify(context.Background(), e.token(t, clientA, oauthtest.WithClaims(map[string]any{"sub": "someone-else"})))
	if err != nil {
		t.Fatal(err)
	}
	ua, ub, uo := mcpauth.UserID(a), mcpauth.UserID(b), mcpauth.UserID(other)
	if ua == "" || ua == ub || ua == uo {
		t.Fatalf("UserIDs %q %q %q", ua, ub, uo)
	}
	if want := "4:test8:" + clientA + clientA; ua != want {
		t.Fatalf("UserID %q, want %q", ua, want)
	}
}

// The standalone SSE stream of a session ends when its token expires: its
// request context has a deadline at ValidUntil with cause ErrTokenExpired,
// and the SDK's handler returns then.
func TestStreamEndsAtExpiry(t *testing.T) {
	e := newEnv(t, envOpts{leeway: jwtverify.NoLeeway})
	tok := e.token(t, clientA, oauthtest.WithLifetime(3*time.Second))
	p, err := e.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := e.connect(t, &bearer{token: fixed(tok)})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	var end streamEnd
	select {
	case end = <-e.ends:
	case <-time.After(20 * time.Second):
		t.Fatal("the SSE stream outlived its token")
	}
	if end.at.Before(p.ValidUntil()) {
		t.Fatalf("stream ended at %v, before the token's ValidUntil %v", end.at, p.ValidUntil())
	}
	if d := end.deadline.Sub(p.ValidUntil()); d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Fatalf("deadline %v, want ValidUntil %v", end.deadline, p.ValidUntil())
	}
	if !errors.Is(end.cause, mcpauth.ErrTokenExpired) {
		t.Fatalf("cause %v, want ErrTokenExpired", end.cause)
	}
	// The client's own DELETE on Close carries the expired token and is
	// refused: the owner ends the session with a fresh one.
	req, _ := http.NewRequest(http.MethodDelete, e.url, nil)
	req.Header.Set("Authorization", "Bearer "+e.token(t, clientA))
	req.Header.Set("Mcp-Session-Id", cs.ID())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE by the owner with a fresh token: %d", resp.StatusCode)
	}
}

// The SDK checks expiry on its own clock: its ClockSkew is our leeway, so a
// token that m2mauth accepts within the leeway is not refused behind it.
func TestSDKClockSkewIsOurLeeway(t *testing.T) {
	e := newEnv(t, envOpts{leeway: 2 * time.Minute})
	now := time.Now()
	tok := e.token(t, clientA, oauthtest.WithClaims(map[string]any{"exp": now.Add(-30 * time.Second).Unix(), "iat": now.Add(-time.Hour).Unix()}))
	cs, err := e.connect(t, &bearer{token: fixed(tok)})
	if err != nil {
		t.Fatalf("a token within the leeway: %v", err)
	}
	if out, err := callWhoami(t, cs); err != nil || out.Client != clientA {
		t.Fatalf("whoami %+v, %v", out, err)
	}
}

// The SDK's own client-credentials handler discovers everything from our
// 401: the resource_metadata URL, our RFC 9728 document (whose resource
// must equal the endpoint), the issuer's metadata and token endpoint.
func TestSDKDiscoveryClientCredentials(t *testing.T) {
	e := newEnv(t, envOpts{})
	// oauthtest's RFC 8414 document lacks code_challenge_methods_supported,
	// which the SDK demands even for the client credentials grant: this
	// authorization server metadata names oauthtest's token endpoint.
	as := httptest.NewServer(nil)
	t.Cleanup(as.Close)
	as.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/oauth-authorization-server" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                as.URL,
			"token_endpoint":                        e.iss.TokenURL(),
			"grant_types_supported":                 []string{"client_credentials"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
			"code_challenge_methods_supported":      []string{"S256"},
		})
	})
	e.mount(t, middleware.WithResourceMetadata(middleware.ResourceMetadata{
		Resource: e.url, ScopesSupported: []string{scope}, AuthorizationServers: []string{as.URL},
	}))
	h, err := extauth.NewClientCredentialsHandler(&extauth.ClientCredentialsHandlerConfig{
		Credentials: &oauthex.ClientCredentials{ClientID: clientA, ClientSecretAuth: &oauthex.ClientSecretAuth{ClientSecret: secret}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := e.connect(t, http.DefaultTransport, func(tr *mcp.StreamableClientTransport) { tr.OAuthHandler = h })
	if err != nil {
		t.Fatalf("connect with discovery: %v", err)
	}
	if out, err := callWhoami(t, cs); err != nil || out.Client != clientA {
		t.Fatalf("whoami %+v, %v", out, err)
	}
}

// The metadata document passes the SDK's checks at both places its clients
// look, and answers browser clients' CORS preflights.
func TestMetadataAsSDKExpects(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	for _, u := range []string{e.ma.MetadataURL(), e.srv.URL + "/.well-known/oauth-protected-resource/mcp"} {
		prm, err := oauthex.GetProtectedResourceMetadata(ctx, u, e.url, http.DefaultClient)
		if err != nil {
			t.Fatal(err)
		}
		if len(prm.AuthorizationServers) != 1 || prm.AuthorizationServers[0] != e.iss.Issuer() ||
			len(prm.ScopesSupported) != 1 || prm.ScopesSupported[0] != scope {
			t.Fatalf("metadata %+v", prm)
		}
	}
	req, _ := http.NewRequest(http.MethodOptions, e.ma.MetadataURL(), nil)
	req.Header.Set("Origin", "https://inspector.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("preflight: %d %q", resp.StatusCode, resp.Header)
	}
	resp, err = http.Get(e.ma.MetadataURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("GET: %d %q", resp.StatusCode, resp.Header)
	}
}

// queryToken moves the token into the access_token query parameter.
type queryToken struct{ tok string }

func (q queryToken) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	u := *r.URL
	v := u.Query()
	v.Set("access_token", q.tok)
	u.RawQuery = v.Encode()
	r.URL = &u
	return http.DefaultTransport.RoundTrip(r)
}

// A token that m2mauth read from the query (AllowQueryToken) still reaches
// the SDK's mapping, and the tool handler sees the request's real headers.
func TestQueryTokenBridged(t *testing.T) {
	e := newEnv(t, envOpts{opts: []middleware.Option{middleware.AllowQueryToken()}})
	cs, err := e.connect(t, queryToken{e.token(t, clientA)})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	out, err := callWhoami(t, cs)
	if err != nil || out.Client != clientA {
		t.Fatalf("whoami %+v, %v", out, err)
	}
	if out.Header != "" {
		t.Fatalf("the tool handler sees Authorization %q, not the request's (none)", out.Header)
	}
}

// Decisions reach the observers once per request, named "mcp".
func TestObserverOncePerDecision(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, envOpts{opts: []middleware.Option{middleware.WithObserver(rec)}})
	rt := &bearer{token: fixed(e.token(t, clientC))}
	if _, err := e.connect(t, rt); err == nil {
		t.Fatal("connected without the scope")
	}
	evs := rec.events()
	rt.mu.Lock()
	n := len(rt.resps)
	rt.mu.Unlock()
	if len(evs) != n || n == 0 {
		t.Fatalf("%d events for %d requests: %+v", len(evs), n, evs)
	}
	for _, ev := range evs {
		if ev.Transport != mcpauth.Transport || ev.Result != jwtverify.DecisionForbidden || ev.ClientID != clientC || ev.Route != "/mcp" {
			t.Fatalf("event %+v", ev)
		}
	}
}

// Each tool call sees the Principal of the request that carried it, not
// the one that created the session; nothing stale is left in the tool
// handler's context.
func TestToolSeesTheCallsToken(t *testing.T) {
	e := newEnv(t, envOpts{})
	var cur atomic.Value
	first := e.token(t, clientA, oauthtest.WithClaims(map[string]any{"jti": "first"}))
	cur.Store(first)
	cs, err := e.connect(t, &bearer{token: func() string { return cur.Load().(string) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, jti := range []string{"second", "third"} {
		cur.Store(e.token(t, clientA, oauthtest.WithClaims(map[string]any{"jti": jti})))
		out, err := callWhoami(t, cs)
		if err != nil {
			t.Fatal(err)
		}
		if out.TokenID != jti || out.InContext {
			t.Fatalf("call with token %q: the tool saw %q, a Principal in its context: %v", jti, out.TokenID, out.InContext)
		}
	}
}

// The TokenInfo behind the SDK's middleware always belongs to the request's
// own token, also when more tokens are in use than the TokenInfo cache
// holds; a repeated token reuses its TokenInfo.
func TestTokenInfoPerToken(t *testing.T) {
	e := newEnv(t, envOpts{})
	var got *auth.TokenInfo
	h := e.ma.Handler(jwtverify.RequireAll(scope), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = auth.TokenInfoFromContext(r.Context())
	}))
	serve := func(tok string) *auth.TokenInfo {
		got = nil
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/mcp", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK || got == nil {
			t.Fatalf("status %d, TokenInfo %v", w.Code, got)
		}
		return got
	}
	const n = 600 // more than the cache's slots: collisions happen
	toks := make([]string, n)
	for i := range toks {
		toks[i] = e.token(t, clientA, oauthtest.WithClaims(map[string]any{"jti": fmt.Sprint("t", i)}))
	}
	for round := 0; round < 2; round++ {
		for i, tok := range toks {
			ti := serve(tok)
			p, ok := mcpauth.PrincipalFromTokenInfo(ti)
			if !ok || p.TokenID() != fmt.Sprint("t", i) || ti.UserID != mcpauth.UserID(p) {
				t.Fatalf("token t%d got the TokenInfo of %v", i, p)
			}
		}
	}
	if a, b := serve(toks[0]), serve(toks[0]); a != b {
		t.Fatal("a repeated token built its TokenInfo again")
	}
}

// A POST's response stream ends when its token expires, while the tool
// call it carries still runs: the response stops at ValidUntil with cause
// ErrTokenExpired, and the session goes on.
func TestPostStreamEndsAtExpiry(t *testing.T) {
	e := newEnv(t, envOpts{leeway: jwtverify.NoLeeway})
	defer e.unblock()
	cs, err := e.connect(t, &bearer{token: fixed(e.token(t, clientA))})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	short := e.token(t, clientA, oauthtest.WithLifetime(3*time.Second))
	p, err := e.v.Verify(context.Background(), short)
	if err != nil {
		t.Fatal(err)
	}
	drain(e.posts)
	resp := e.postRaw(t, short, cs.ID(), cs.InitializeResult().ProtocolVersion,
		`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"block","arguments":{}}}`)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("POST: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	read := make(chan time.Time, 1)
	go func() {
		_, _ = io.Copy(io.Discard, resp.Body)
		read <- time.Now()
	}()
	var at time.Time
	select {
	case at = <-read:
	case <-time.After(20 * time.Second):
		t.Fatal("the POST's response stream outlived its token")
	}
	if at.Before(p.ValidUntil()) {
		t.Fatalf("response ended at %v, before the token's ValidUntil %v", at, p.ValidUntil())
	}
	var end streamEnd
	select {
	case end = <-e.posts:
	case <-time.After(5 * time.Second):
		t.Fatal("the POST's handler did not return")
	}
	if !errors.Is(end.cause, mcpauth.ErrTokenExpired) || end.at.Before(p.ValidUntil()) {
		t.Fatalf("POST ended at %v with cause %v, want ErrTokenExpired at ValidUntil %v", end.at, end.cause, p.ValidUntil())
	}
	if d := end.deadline.Sub(p.ValidUntil()); d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Fatalf("deadline %v, want ValidUntil %v", end.deadline, p.ValidUntil())
	}
	// The session is intact: the client's own calls go on.
	if out, err := callWhoami(t, cs); err != nil || out.Client != clientA {
		t.Fatalf("whoami after the stream ended: %+v, %v", out, err)
	}
}

// With an injected clock (Config.Now), that clock decides when a stream
// ends: here it runs an hour minus 3 s ahead of the system clock, so a
// token valid for an hour by the system clock ends its stream in 3 s.
func TestInjectedClockEndsStream(t *testing.T) {
	const ahead = time.Hour - 3*time.Second
	e := newEnv(t, envOpts{leeway: jwtverify.NoLeeway, now: func() time.Time { return time.Now().Add(ahead) }})
	tok := e.token(t, clientA, oauthtest.WithLifetime(time.Hour))
	p, err := e.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cs, err := e.connect(t, &bearer{token: fixed(tok)})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	var end streamEnd
	select {
	case end = <-e.ends:
	case <-time.After(20 * time.Second):
		t.Fatal("the SSE stream outlived its token by the injected clock")
	}
	want := p.ValidUntil().Add(-ahead) // ValidUntil on the system clock
	if end.at.Before(want) || !errors.Is(end.cause, mcpauth.ErrTokenExpired) {
		t.Fatalf("stream ended at %v (started %v) with cause %v, want ErrTokenExpired at %v", end.at, start, end.cause, want)
	}
	if d := end.deadline.Sub(want); d < -time.Second || d > time.Second {
		t.Fatalf("deadline %v, want %v", end.deadline, want)
	}
	// The client's DELETE on Close carries the expired token: the owner
	// ends the session with one that the injected clock finds valid.
	req, _ := http.NewRequest(http.MethodDelete, e.url, nil)
	req.Header.Set("Authorization", "Bearer "+e.token(t, clientA, oauthtest.WithLifetime(2*time.Hour)))
	req.Header.Set("Mcp-Session-Id", cs.ID())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE by the owner with a fresh token: %d", resp.StatusCode)
	}
}

// drain empties ch.
func drain(ch chan streamEnd) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
