package mcpauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/m2mauth/m2mauth/adaptertest"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

const benchVersion = "2025-06-18"

// mcpPost sends one JSON-RPC message to h in process.
func mcpPost(h http.Handler, tok, session, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/mcp", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	if session != "" {
		r.Header.Set("Mcp-Session-Id", session)
		r.Header.Set("Mcp-Protocol-Version", benchVersion)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// openSession initializes an MCP session on h and returns its ID.
func openSession(b *testing.B, h http.Handler, tok string) string {
	b.Helper()
	w := mcpPost(h, tok, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"`+benchVersion+`","capabilities":{},"clientInfo":{"name":"bench","version":"v1"}}}`)
	sid := w.Header().Get("Mcp-Session-Id")
	if w.Code != http.StatusOK || sid == "" {
		b.Fatalf("initialize: %d %q", w.Code, w.Body.String())
	}
	if w := mcpPost(h, tok, sid, `{"jsonrpc":"2.0","method":"notifications/initialized","params":{}}`); w.Code != http.StatusAccepted {
		b.Fatalf("initialized: %d %q", w.Code, w.Body.String())
	}
	return sid
}

type echoIn struct {
	S string `json:"s"`
}

// closeSession ends an MCP session on h (DELETE).
func closeSession(h http.Handler, tok, session string) {
	r := httptest.NewRequest(http.MethodDelete, "http://127.0.0.1/mcp", nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	r.Header.Set("Mcp-Session-Id", session)
	h.ServeHTTP(httptest.NewRecorder(), r)
}

// BenchmarkToolCall: one tools/call on an open session through the SDK's
// streamable handler, without auth and behind mcpauth, with a repeated
// token (verified-token cache hit).
func BenchmarkToolCall(b *testing.B) {
	e := newEnv(b, envOpts{})
	tok := e.iss.MintT(b, oauthtest.WithClient(clientA))
	server := mcp.NewServer(&mcp.Implementation{Name: "bench", Version: "v1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoIn, error) {
		return nil, in, nil
	})
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	const call = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"s":"hi"}}}`
	for _, bc := range []struct {
		name string
		h    http.Handler
		tok  string
	}{
		{"raw", sdk, ""},
		{"mcpauth", e.ma.Handler(jwtverify.RequireAll(scope), sdk), tok},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sid := openSession(b, bc.h, bc.tok)
			b.Cleanup(func() { closeSession(bc.h, bc.tok, sid) })
			if w := mcpPost(bc.h, bc.tok, sid, call); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"result"`) {
				b.Fatalf("tools/call: %d %q", w.Code, w.Body.String())
			}
			b.ReportAllocs()
			for b.Loop() {
				mcpPost(bc.h, bc.tok, sid, call)
			}
		})
	}
}

// BenchmarkOverhead isolates what mcpauth adds in front of an MCP handler
// (the decision, the context with the token's deadline, the SDK's bearer
// middleware mapping the Principal to a TokenInfo), against the same
// route without auth, with adaptertest.Overhead (interleaved halves; CPU
// time on Linux). The net/http middleware's Require on the same route is
// the decision alone, for comparison.
func BenchmarkOverhead(b *testing.B) {
	e := newEnv(b, envOpts{})
	tok := e.iss.MintT(b, oauthtest.WithClient(clientA))
	noop := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mw, err := middleware.New(e.v)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/mcp", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	b.Run("middleware.Require", func(b *testing.B) {
		adaptertest.Overhead(b, noop, mw.Require(jwtverify.RequireAll(scope))(noop), r)
	})
	b.Run("mcpauth", func(b *testing.B) {
		adaptertest.Overhead(b, noop, e.ma.Handler(jwtverify.RequireAll(scope), noop), r)
	})
}
