package mcpauth

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
)

// Transport is the adapter's name in jwtverify.DecisionEvent.Transport.
const Transport = "mcp"

// PrincipalKey is the key of the verified *jwtverify.Principal in
// auth.TokenInfo.Extra. Read it with PrincipalFromTokenInfo.
const PrincipalKey = "github.com/m2mauth/m2mauth/jwtverify.Principal"

// ErrTokenExpired is the context.Cause of a request context that Handler
// ended because the token that authorised the request expired.
var ErrTokenExpired = errors.New("mcpauth: the access token expired")

// errNoPrincipal answers the SDK's bearer middleware when a request reaches
// it without a Principal of this Auth's verifier. Handler never lets that
// happen; it is the fail-closed answer should the chain be rewired.
var errNoPrincipal = fmt.Errorf("mcpauth: no verified principal: %w", auth.ErrInvalidToken)

// Auth protects MCP servers of github.com/modelcontextprotocol/go-sdk with
// m2mauth's verification. Safe for concurrent use.
type Auth struct {
	a *middleware.Authenticator
	v *jwtverify.Verifier

	seed     maphash.Seed
	infos    [infoSlots]atomic.Pointer[infoEntry] // TokenInfo per recent Principal
	expiries [expirySlots]atomic.Pointer[expiry]  // by ValidUntil, on the default clock
}

// infoSlots bounds the TokenInfo cache: a repeated token (one Principal
// from the verifier's cache) maps to the same TokenInfo without building
// it again; at most this many are kept, each pinning its Principal.
const infoSlots = 256

type infoEntry struct {
	p  *jwtverify.Principal
	ti *auth.TokenInfo
}

// New builds the adapter. The options are those of the net/http middleware
// (realm, observers, WithResourceMetadata, ...); misconfiguration fails
// here. Decision events name the transport "mcp".
//
// With middleware.WithResourceMetadata, ResourceMetadata.Resource must be
// the MCP endpoint's URL exactly as clients connect to it (for example
// "https://api.example.com/mcp"): the SDK's client compares the document's
// resource with that URL byte for byte.
func New(v *jwtverify.Verifier, opts ...middleware.Option) (*Auth, error) {
	a, err := middleware.NewAuthenticator(v, Transport, opts...)
	if err != nil {
		return nil, err
	}
	return &Auth{a: a, v: v, seed: maphash.MakeSeed()}, nil
}

// Authenticator returns the shared decision behind the adapter.
func (m *Auth) Authenticator() *middleware.Authenticator { return m.a }

// MetadataPath is the path at which to mount MetadataHandler ("" without
// middleware.WithResourceMetadata).
func (m *Auth) MetadataPath() string { return m.a.MetadataPath() }

// MetadataURL is the resource_metadata parameter of every challenge ("" without
// middleware.WithResourceMetadata).
func (m *Auth) MetadataURL() string { return m.a.MetadataURL() }

// MetadataHandler serves the RFC 9728 document with the CORS headers that
// browser-based MCP clients need for discovery (the document is public):
// Access-Control-Allow-Origin: * on GET and HEAD, and 204 to a CORS
// preflight. Mount it without a method in the pattern so that preflights
// reach it:
//
//	mux.Handle(m.MetadataPath(), m.MetadataHandler())
func (m *Auth) MetadataHandler() http.Handler {
	doc := m.a.MetadataHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
			h.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		doc.ServeHTTP(w, r)
	})
}

// Handler protects next, the SDK's mcp.StreamableHTTPHandler (or
// mcp.SSEHandler), with req. m2mauth decides and answers: a request
// without a valid token, or whose Principal lacks req, gets the RFC 6750
// answer (400, 401, 403 insufficient_scope or 503) with this Auth's
// challenge and never reaches next. Behind that, the SDK's
// auth.RequireBearerToken only maps the Principal to an auth.TokenInfo
// (see TokenInfo), its ClockSkew set to the issuer's leeway, so that the
// SDK binds each session to the caller.
//
// next's request carries the TokenInfo (auth.TokenInfoFromContext), and
// its context ends at the Principal's ValidUntil with context.Cause
// ErrTokenExpired (its Err is then context.Canceled; its Deadline reports
// ValidUntil, or the request's own earlier deadline). The streamable
// transport ends an SSE stream (the standalone GET stream or a POST's
// response stream) when its request context ends, so no stream outlives
// its token; the client reconnects with a fresh one. A tool call still
// running then goes on in its session; its result reaches the client only
// on a later stream (with an event store) or not at all. With the
// Verifier's default clock, one timer per expiry instant serves every
// request of the tokens that end then; with an injected clock
// (jwtverify.Config.Now) each request's end is ValidUntil minus that
// clock's Now, as Verify sees it.
//
// Tool handlers read the caller with
// PrincipalFromTokenInfo(req.Extra.TokenInfo), the TokenInfo of the request
// that carried the call. Not from their context: the streamable transport
// derives every tool call's context from the request that created the
// session, so auth.TokenInfoFromContext there returns the session
// creator's TokenInfo, of a token that may have expired long ago.
// Handler leaves no Principal of its own in that context (a Principal that
// middleware.Handler stored in front stays, and is as stale there).
//
// A Principal that middleware.Handler of the same Verifier stored in front
// is used as is; otherwise Handler authenticates the request itself. A
// CORS preflight let through by middleware.AllowCORSPreflight reaches next
// without a Principal. Build the handler once, at route registration.
func (m *Auth) Handler(req jwtverify.Requirement, next http.Handler) http.Handler {
	if next == nil {
		panic("mcpauth: Handler(..., nil)")
	}
	return &protected{
		m: m, req: req, next: next, inner: handOver(next),
		// Lower case: the SDK lower-cases the scheme to compare it.
		sdkHeader: http.Header{"Authorization": {"bearer m2mauth-verified"}},
	}
}

type protected struct {
	m     *Auth
	req   jwtverify.Requirement
	next  http.Handler // the MCP handler
	inner http.Handler // next, behind handOver
	// sdkHeader is what the SDK's bearer middleware reads. Never written
	// to: the SDK only reads request headers, and next gets the original.
	sdkHeader http.Header

	mu  sync.Mutex                 // serialises adding to sdk
	sdk atomic.Pointer[[]sdkChain] // RequireBearerToken per leeway
}

type sdkChain struct {
	leeway time.Duration
	h      http.Handler
}

func (h *protected) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := h.m.a
	o := a.Authorize(r, h.req)
	if !o.Proceed() {
		a.ServeError(w, r, o)
		return
	}
	o.SetProceedHeaders(w.Header())
	p := o.Principal
	if p == nil { // a CORS preflight
		h.next.ServeHTTP(w, r)
		return
	}
	// The request's context ends at the token's ValidUntil: a context
	// of its own, which the expiry of that instant cancels with
	// ErrTokenExpired (one timer per instant, not one per request).
	ctx, cancel := context.WithCancelCause(r.Context())
	b := &bridge{Context: ctx, p: p, header: r.Header, cancel: cancel}
	x := h.m.arm(b, p.ValidUntil())
	defer cancel(nil)
	defer x.leave(b)
	// The SDK's parser reads the token from the first Authorization
	// header. The bridge ignores the token text, so it is shown a short
	// placeholder header: the token may have come from the query, a form
	// or a custom extractor, and splitting a long token again costs more
	// than the swap. The Principal travels in bridge, which the SDK's
	// handler never sees filled: handOver empties it and gives next the
	// request's own headers back.
	r = r.WithContext(b)
	r.Header = h.sdkHeader
	h.chain(p.ValidUntil().Sub(p.ExpiresAt())).ServeHTTP(w, r)
}

// chain returns the SDK's bearer middleware for one leeway, built on first
// use: there is one per distinct issuer leeway.
func (h *protected) chain(leeway time.Duration) http.Handler {
	if l := h.sdk.Load(); l != nil {
		for _, c := range *l {
			if c.leeway == leeway {
				return c.h
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var list []sdkChain
	if l := h.sdk.Load(); l != nil {
		for _, c := range *l {
			if c.leeway == leeway {
				return c.h
			}
		}
		list = append(list, *l...)
	}
	c := auth.RequireBearerToken(h.m.tokenVerifier, &auth.RequireBearerTokenOptions{
		ResourceMetadataURL: h.m.a.MetadataURL(),
		ClockSkew:           leeway,
	})(h.inner)
	list = append(list, sdkChain{leeway: leeway, h: c})
	h.sdk.Store(&list)
	return c
}

// tokenVerifier is the SDK's auth.TokenVerifier: it ignores the token text
// and maps the Principal that Handler verified.
func (m *Auth) tokenVerifier(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
	b, _ := ctx.Value(bridgeKey{}).(*bridge)
	if b == nil || b.p == nil || !m.v.Issued(b.p) {
		return nil, errNoPrincipal
	}
	return m.tokenInfo(b.p), nil
}

// tokenInfo is TokenInfo(p), shared by the requests of one token. The SDK
// only reads it.
func (m *Auth) tokenInfo(p *jwtverify.Principal) *auth.TokenInfo {
	slot := &m.infos[maphash.Comparable(m.seed, p)%infoSlots]
	if e := slot.Load(); e != nil && e.p == p {
		return e.ti
	}
	ti := TokenInfo(p)
	slot.Store(&infoEntry{p: p, ti: ti})
	return ti
}

// bridge carries one request's Principal and headers across the SDK's
// bearer middleware, and is the request's context from there on: its
// deadline is the token's ValidUntil (due), at which its expiry calls
// cancel.
type bridge struct {
	context.Context
	p      *jwtverify.Principal
	header http.Header

	cancel     context.CancelCauseFunc
	due        time.Time
	prev, next *bridge // in the expiry's list, under its mutex
}

type bridgeKey struct{}

// Value returns the bridge itself for bridgeKey.
func (b *bridge) Value(key any) any {
	if key == (bridgeKey{}) {
		return b
	}
	return b.Context.Value(key)
}

// handOver runs between the SDK's bearer middleware and next: it restores
// the request's headers and empties the bridge. The streamable transport
// keeps the context of the request that created a session as the parent of
// every later tool call's context, so anything left in it would reach
// those calls stale (the Principal of an expired token).
func handOver(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, _ := r.Context().Value(bridgeKey{}).(*bridge); b != nil {
			if b.header != nil {
				r.Header = b.header
			}
			b.p, b.header = nil, nil
		}
		next.ServeHTTP(w, r)
	})
}

// TokenInfo maps a verified Principal to the SDK's auth.TokenInfo: Scopes
// are its merged permissions (delegated scopes and app roles), Expiration
// its exp claim, UserID is UserID(p), and Extra[PrincipalKey] holds p, so
// tool handlers reach it through req.Extra.TokenInfo and
// PrincipalFromTokenInfo.
func TokenInfo(p *jwtverify.Principal) *auth.TokenInfo {
	return &auth.TokenInfo{
		Scopes:     p.Scopes(),
		Expiration: p.ExpiresAt(),
		UserID:     UserID(p),
		Extra:      map[string]any{PrincipalKey: p},
	}
}

// UserID is the owner the SDK's streamable transport binds a session to:
// the issuer's configured name, the client ID and the subject, each but
// the last length-prefixed, so that no two callers share one. A session
// created by one client is refused (403) to every other client, and to the
// same client acting for another subject; a fresh token of the same caller
// keeps using it. Never empty: an empty UserID turns the SDK's check off.
func UserID(p *jwtverify.Principal) string {
	name, client, sub := p.IssuerName(), p.ClientID(), p.Subject()
	var b strings.Builder
	b.Grow(len(name) + len(client) + len(sub) + 8)
	b.WriteString(strconv.Itoa(len(name)))
	b.WriteByte(':')
	b.WriteString(name)
	b.WriteString(strconv.Itoa(len(client)))
	b.WriteByte(':')
	b.WriteString(client)
	b.WriteString(sub)
	return b.String()
}

// PrincipalFromTokenInfo returns the Principal that Handler verified for
// the request a TokenInfo belongs to (in a tool handler:
// req.Extra.TokenInfo). Handler shares one TokenInfo between the requests
// of one token: read it, never modify it.
func PrincipalFromTokenInfo(ti *auth.TokenInfo) (*jwtverify.Principal, bool) {
	if ti == nil {
		return nil, false
	}
	p, ok := ti.Extra[PrincipalKey].(*jwtverify.Principal)
	return p, ok && p != nil
}
