package ginauth

import (
	"github.com/gin-gonic/gin"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
)

// Transport is the DecisionEvent.Transport of this adapter.
const Transport = "gin"

// Auth is the Gin adapter. Safe for concurrent use.
type Auth struct {
	a *middleware.Authenticator
}

// New builds the adapter with the options of the net/http middleware
// (middleware.WithRealm, middleware.WithExemptPaths, ...). Misconfiguration
// fails here.
func New(v *jwtverify.Verifier, opts ...middleware.Option) (*Auth, error) {
	a, err := middleware.NewAuthenticator(v, Transport, opts...)
	if err != nil {
		return nil, err
	}
	return &Auth{a: a}, nil
}

// Authenticate is a gin.HandlerFunc authenticating every request of the
// engine or group it is used on: r.Use(auth.Authenticate). A request with a
// valid token goes on with its Principal in the request context
// (Principal(c)); a skipped one goes on without; every other one is aborted
// with the answer written (400, 401 or 503).
func (x *Auth) Authenticate(c *gin.Context) {
	r := c.Request
	o := x.a.Authenticate(r)
	if !o.Proceed() {
		x.abort(c, o)
		return
	}
	o.SetProceedHeaders(c.Writer.Header())
	if o.Principal != nil {
		c.Request = middleware.WithPrincipal(r, o)
	}
}

// Require returns a gin.HandlerFunc demanding req, to put before a route's
// handler: a verified caller lacking a permission is aborted with 403
// insufficient_scope naming the permissions. It uses the Principal
// Authenticate stored and otherwise authenticates the request itself, so it
// also works alone:
//
//	r.GET("/orders", auth.Require(jwtverify.RequireAll("orders.read")), listOrders)
func (x *Auth) Require(req jwtverify.Requirement) gin.HandlerFunc {
	a := x.a
	return func(c *gin.Context) {
		r := c.Request
		o := a.Authorize(r, req)
		if !o.Proceed() {
			x.abort(c, o)
			return
		}
		o.SetProceedHeaders(c.Writer.Header())
		if rr := middleware.WithPrincipal(r, o); rr != r {
			c.Request = rr
		}
	}
}

// abort writes the refusal and stops the handler chain.
func (x *Auth) abort(c *gin.Context, o middleware.Outcome) {
	x.a.ServeError(c.Writer, c.Request, o)
	c.Abort()
}

// Authenticator returns the shared decision behind the adapter.
func (x *Auth) Authenticator() *middleware.Authenticator { return x.a }

// MetadataPath is where to mount MetadataHandler ("" without
// middleware.WithResourceMetadata).
func (x *Auth) MetadataPath() string { return x.a.MetadataPath() }

// MetadataHandler serves the RFC 9728 protected resource metadata:
//
//	r.GET(auth.MetadataPath(), auth.MetadataHandler())
func (x *Auth) MetadataHandler() gin.HandlerFunc {
	h := x.a.MetadataHandler()
	return func(c *gin.Context) { h.ServeHTTP(c.Writer, c.Request) }
}

// Principal returns the verified caller of the request, stored by
// Authenticate or Require in the request context (the one accessor,
// jwtverify.FromContext), so handlers may equally use
// jwtverify.FromContext(c.Request.Context()).
func Principal(c *gin.Context) (*jwtverify.Principal, bool) {
	if c == nil || c.Request == nil {
		return nil, false
	}
	return jwtverify.FromContext(c.Request.Context())
}

var _ gin.HandlerFunc = (*Auth)(nil).Authenticate
