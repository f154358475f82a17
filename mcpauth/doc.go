// Package mcpauth protects Model Context Protocol servers built with
// github.com/modelcontextprotocol/go-sdk with m2mauth's OAuth 2.0 bearer
// token verification. It is a nested module, so users of the other adapters
// never compile the MCP SDK.
//
// With v, the API's *jwtverify.Verifier:
//
//	ma, err := mcpauth.New(v, middleware.WithRealm("mcp"),
//		middleware.WithResourceMetadata(middleware.ResourceMetadata{
//			Resource:        "https://api.example.com/mcp", // the endpoint clients connect to
//			ScopesSupported: []string{"mcp.tools"},
//		}))
//
//	server := mcp.NewServer(&mcp.Implementation{Name: "invoices"}, nil)
//	mcp.AddTool(server, tool, handler)
//	mux := http.NewServeMux()
//	mux.Handle("/mcp", ma.Handler(jwtverify.RequireAll("mcp.tools"),
//		mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))
//	mux.Handle(ma.MetadataPath(), ma.MetadataHandler())
//
// # Who answers what
//
// The SDK's own bearer middleware (auth.RequireBearerToken) reads the
// fields of one Authorization header and answers without realm or error
// code. Here m2mauth decides and answers first, as the net/http middleware
// does (RFC 6750: 400 invalid_request, 401 with a bare challenge or
// invalid_token, 403 insufficient_scope naming the required scopes, 503
// when no key set is usable; every challenge carries resource_metadata
// with WithResourceMetadata). Only verified requests that meet the
// requirement reach the SDK's middleware, which then only maps the
// Principal to its auth.TokenInfo (TokenInfo): scopes, expiry (checked
// with a ClockSkew equal to the issuer's leeway) and a UserID naming the
// issuer, the client and the subject.
//
// # Sessions
//
// The streamable transport binds a session to the TokenInfo.UserID of the
// request that created it and refuses (403) any later request for that
// session ID with another UserID. An empty UserID turns that check off, so
// any caller holding a session ID could use another caller's session;
// UserID is never empty. A client that closes its session with an expired
// token is refused (401) like any other request, so the session stays until
// the server ends it: set mcp.StreamableHTTPOptions.SessionTimeout.
//
// # Streams end with their token
//
// Authorization lasts no longer than the token: every request's context
// ends at the Principal's ValidUntil (exp plus leeway), with context.Cause
// ErrTokenExpired, and its Deadline reports that instant. The SDK ends a
// standalone SSE stream, or a POST's response stream, when that context
// ends; the client reconnects with a fresh token.
//
// How, and why so: a context.WithTimeoutCause per request (a runtime
// timer armed and stopped each time, 4 allocations and two clock
// readings) was a third of the adapter's cost. Instead each request gets
// a context.WithCancelCause of its own, joined to a shared expiry: one
// time.AfterFunc per ValidUntil instant, kept in a table of 256 slots,
// which cancels with ErrTokenExpired the requests in flight on the tokens
// that end then (a list under a mutex: joining and leaving are two short
// critical sections, no allocation, no clock reading). A slot taken by
// another instant stops the old timer once no request is in flight on it,
// so at most 256 timers wait for idle tokens. Only documented behaviour is
// used: CancelCauseFunc, Cause, time.AfterFunc, and a Context whose
// Deadline method reports the instant its Done channel closes at. Err of
// an ended request is context.Canceled, not DeadlineExceeded (only a
// context deadline sets that, and it costs the per-request timer); test
// with context.Cause. The instant is shared only with the Verifier's
// default clock (jwtverify.Verifier.DefaultClock); with an injected clock
// each request arms its own timer at ValidUntil minus that clock's Now.
// A shared timer measures from its first request, as any armed timer
// does: a later step of the wall clock does not move it.
//
// Also measured (BenchmarkRequestEnd) and left: a context.AfterFunc
// joining each request's cancel to a shared per-expiry deadline context
// (6 allocations), or a time.AfterFunc per request (5), save a third of
// the deadline's time where the shared expiry saves two thirds (3,
// counting the bridge every variant needs). Arming only the requests that
// can stream saves nothing on real traffic: every MCP POST that carries a
// call accepts text/event-stream and may stream, and telling calls from
// notifications means reading the body before the SDK. A Context type of
// our own that creates the deadline lazily cannot report Cause through
// the context package's documented API, and the SDK calls Done on every
// call anyway.
//
// # Discovery (RFC 9728)
//
// The SDK's clients look for the protected resource metadata at the
// resource_metadata URL of a challenge, then at
// /.well-known/oauth-protected-resource followed by the endpoint's path,
// and accept a document only when its resource equals the endpoint URL
// they connected to. middleware.WithResourceMetadata with Resource set to
// that URL serves the document at exactly that path (MetadataPath), so both
// lookups find it; MetadataHandler adds the CORS headers browser clients
// need.
//
// # Cost
//
// On a repeated token Handler adds about 1.2 us of CPU and 7 allocations
// to a request, against about 0.5 us and 2 for the net/http middleware's
// Require measured alongside (BenchmarkOverhead, CPU time per request;
// benchstat medians of 42 runs interleaved with the former design on a
// shared two-core machine under load 4 to 14). With a context deadline
// per request it added 1.78 us and 9 allocations in the same runs (-31%,
// p=0.000; about 1.55 us on a quieter machine). Of the 7: 2 are the
// request's cancelable context, 1 the bridge (Principal, headers, expiry
// membership), 1 the request copy the SDK's middleware reads, and 3 the
// SDK's bearer middleware itself (its field split, request copy and
// context value), which also reads the clock once. The TokenInfo is built
// once per token (a small cache keeps the last 256). An MCP tool call
// itself costs hundreds of microseconds (BenchmarkToolCall).
//
// # The caller in tool handlers
//
// Tool handlers read the caller with
// PrincipalFromTokenInfo(req.Extra.TokenInfo): the TokenInfo of the HTTP
// request that carried the call. A tool handler's context is derived from
// the request that created the session, so what the context holds
// (auth.TokenInfoFromContext, or jwtverify.FromContext when
// middleware.Handler runs in front) is the session creator's, from a token
// that may have expired since; Handler puts no Principal of its own there.
package mcpauth
