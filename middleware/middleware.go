package middleware

import (
	"net/http"

	"github.com/m2mauth/m2mauth/jwtverify"
)

// Middleware is the net/http adapter. Safe for concurrent use.
type Middleware struct {
	a *Authenticator
}

// New builds the net/http middleware. Misconfiguration (a bad realm, an
// invalid resource identifier, a nil option) fails here, never per request.
//
//	mw, err := middleware.New(v, middleware.WithRealm("orders"))
//	handler := mw.Handler(mux)
func New(v *jwtverify.Verifier, opts ...Option) (*Middleware, error) {
	a, err := NewAuthenticator(v, "http", opts...)
	if err != nil {
		return nil, err
	}
	return &Middleware{a: a}, nil
}

// Handler authenticates every request before next: a request with a valid
// token reaches next with its Principal in the context
// (jwtverify.FromContext); a skipped one reaches it without; every other one
// is answered (400, 401 or 503) and next is not called. The method value
// mw.Handler is a func(http.Handler) http.Handler, so it plugs into chi's
// Use, alice and similar chains.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	if next == nil {
		panic("middleware: Handler(nil)")
	}
	a := m.a
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := a.Authenticate(r)
		if !o.Proceed() {
			a.ServeError(w, r, o)
			return
		}
		o.SetProceedHeaders(w.Header())
		next.ServeHTTP(w, WithPrincipal(r, o))
	})
}

// Require returns a per-route wrapper demanding req: a verified caller
// lacking a permission gets 403 insufficient_scope naming the route's
// permissions. It uses the Principal Handler stored and, when the route is
// not behind Handler (or Handler skipped the request), authenticates the
// request itself, so it also works alone. Build the wrapper once, at route
// registration.
//
//	mux.Handle("GET /orders", mw.Require(jwtverify.RequireAll("orders.read"))(listOrders))
func (m *Middleware) Require(req jwtverify.Requirement) func(http.Handler) http.Handler {
	a := m.a
	return func(next http.Handler) http.Handler {
		if next == nil {
			panic("middleware: Require(...)(nil)")
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			o := a.Authorize(r, req)
			if !o.Proceed() {
				a.ServeError(w, r, o)
				return
			}
			o.SetProceedHeaders(w.Header())
			next.ServeHTTP(w, WithPrincipal(r, o))
		})
	}
}

// RequireFunc is Require for a handler function.
func (m *Middleware) RequireFunc(req jwtverify.Requirement, next http.HandlerFunc) http.Handler {
	return m.Require(req)(next)
}

// Authenticator returns the shared decision behind the middleware (for
// MetadataHandler and MetadataPath, or for a custom adapter).
func (m *Middleware) Authenticator() *Authenticator { return m.a }

// MetadataHandler serves the RFC 9728 document configured with
// WithResourceMetadata; mount it at MetadataPath.
//
//	mux.Handle("GET "+mw.MetadataPath(), mw.MetadataHandler())
func (m *Middleware) MetadataHandler() http.Handler { return m.a.MetadataHandler() }

// MetadataPath is Authenticator.MetadataPath.
func (m *Middleware) MetadataPath() string { return m.a.MetadataPath() }
