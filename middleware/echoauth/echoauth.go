package echoauth

import (
	"github.com/labstack/echo/v4"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
)

// Auth is the Echo adapter. Safe for concurrent use.
type Auth struct {
	a *middleware.Authenticator
}

// New builds the Echo adapter with the options of the net/http middleware
// (middleware.WithRealm, middleware.WithExemptPaths, ...). Decision events
// name the transport "echo" and the route Echo matched (c.Path(), a
// registered route path such as "/orders/:id"; jwtverify.RouteUnknown when
// none matched, as in middleware added with e.Pre). Misconfiguration fails
// here.
func New(v *jwtverify.Verifier, opts ...middleware.Option) (*Auth, error) {
	a, err := middleware.NewAuthenticator(v, "echo", opts...)
	if err != nil {
		return nil, err
	}
	return &Auth{a: a}, nil
}

// Authenticate authenticates every request of the Echo instance or group it
// is used on: e.Use(auth.Authenticate). A request with a valid token reaches
// next with its Principal in the request context (Principal(c)); a skipped
// one reaches it without; every other one fails with an *echo.HTTPError
// (400, 401 or 503) whose WWW-Authenticate and Cache-Control headers are
// already set on the response.
func (x *Auth) Authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	a := x.a
	return func(c echo.Context) error {
		r := c.Request()
		o := a.AuthenticateRoute(r, c.Path())
		if !o.Proceed() {
			return x.fail(c, o)
		}
		o.SetProceedHeaders(c.Response().Header())
		if o.Principal != nil {
			c.SetRequest(middleware.WithPrincipal(r, o))
		}
		return next(c)
	}
}

// Require returns a route or group middleware demanding req: a verified
// caller lacking a permission fails with 403 insufficient_scope naming the
// permissions. It uses the Principal Authenticate stored and otherwise
// authenticates the request itself, so it also works alone:
//
//	e.GET("/orders", listOrders, auth.Require(jwtverify.RequireAll("orders.read")))
func (x *Auth) Require(req jwtverify.Requirement) echo.MiddlewareFunc {
	a := x.a
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			o := a.AuthorizeRoute(r, req, c.Path())
			if !o.Proceed() {
				return x.fail(c, o)
			}
			o.SetProceedHeaders(c.Response().Header())
			if rr := middleware.WithPrincipal(r, o); rr != r {
				c.SetRequest(rr)
			}
			return next(c)
		}
	}
}

// fail returns the refusal as an *echo.HTTPError carrying the fixed
// ErrorBody as its message (Echo's error handler writes it as JSON, even in
// debug mode it adds nothing) and the cause as Internal (for logs only: it
// may hold details a client must not see). With middleware.WithErrorHandler
// the handler writes the answer and fail returns nil.
func (x *Auth) fail(c echo.Context, o middleware.Outcome) error {
	if x.a.HasErrorHandler() {
		x.a.ServeError(c.Response(), c.Request(), o)
		return nil
	}
	o.SetHeaders(c.Response().Header())
	return &echo.HTTPError{Code: o.Status, Message: o.Body(), Internal: o.Err}
}

// Authenticator returns the shared decision behind the adapter.
func (x *Auth) Authenticator() *middleware.Authenticator { return x.a }

// MetadataPath is where to mount MetadataHandler ("" without
// middleware.WithResourceMetadata).
func (x *Auth) MetadataPath() string { return x.a.MetadataPath() }

// MetadataHandler serves the RFC 9728 protected resource metadata:
//
//	e.GET(auth.MetadataPath(), auth.MetadataHandler())
func (x *Auth) MetadataHandler() echo.HandlerFunc {
	h := x.a.MetadataHandler()
	return func(c echo.Context) error {
		h.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}

// Principal returns the verified caller of the request, stored by
// Authenticate or Require. It reads the request context (the one accessor,
// jwtverify.FromContext), so handlers may equally use
// jwtverify.FromContext(c.Request().Context()).
func Principal(c echo.Context) (*jwtverify.Principal, bool) {
	return jwtverify.FromContext(c.Request().Context())
}

var _ echo.MiddlewareFunc = (*Auth)(nil).Authenticate
