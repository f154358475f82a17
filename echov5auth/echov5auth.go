package echov5auth

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v5"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
)

// Transport is the DecisionEvent.Transport of this adapter: the name the
// Echo v4 adapter uses, so that metrics continue across the migration.
const Transport = "echo"

// Auth is the Echo v5 adapter. Safe for concurrent use.
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

// Authenticate authenticates every request of the Echo instance or group it
// is used on: e.Use(auth.Authenticate). A request with a valid token reaches
// next with its Principal in the request context (Principal(c)); a skipped
// one reaches it without; every other one fails with an *Error (400, 401 or
// 503) whose headers are already set on the response.
func (x *Auth) Authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	a := x.a
	return func(c *echo.Context) error {
		r := c.Request()
		o := a.Authenticate(r)
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
		return func(c *echo.Context) error {
			r := c.Request()
			o := a.Authorize(r, req)
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

// fail sets the refusal's headers and returns it as an *Error, or lets the
// configured middleware.ErrorHandler answer.
func (x *Auth) fail(c *echo.Context, o middleware.Outcome) error {
	if x.a.HasErrorHandler() {
		x.a.ServeError(c.Response(), c.Request(), o)
		return nil
	}
	o.SetHeaders(c.Response().Header())
	return &Error{o: o}
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
	return func(c *echo.Context) error {
		h.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}

// Principal returns the verified caller of the request, stored by
// Authenticate or Require. It reads the request context (the one accessor,
// jwtverify.FromContext), so handlers may equally use
// jwtverify.FromContext(c.Request().Context()).
func Principal(c *echo.Context) (*jwtverify.Principal, bool) {
	return jwtverify.FromContext(c.Request().Context())
}

// Error is the error of a refused request. Its text, status and body are
// fixed per answer and never hold anything the client sent; it wraps
// nothing (see the package documentation).
type Error struct {
	o middleware.Outcome
}

// Error returns "echov5auth: <status> <error code>", for example
// "echov5auth: 403 insufficient_scope".
func (e *Error) Error() string {
	return "echov5auth: " + strconv.Itoa(e.o.Status) + " " + e.o.Body().Error
}

// StatusCode returns the HTTP status (400, 401, 403 or 503); it makes
// *Error an echo.HTTPStatusCoder.
func (e *Error) StatusCode() int { return e.o.Status }

// MarshalJSON returns the body of the answer,
// {"error":"...","error_description":"..."} (middleware.ErrorBody). Echo's
// default error handler writes it as the JSON body.
func (e *Error) MarshalJSON() ([]byte, error) { return json.Marshal(e.o.Body()) }

// ProblemError returns the answer as an RFC 9457 problem for
// echo.ProblemDetailsHTTPErrorHandler: Title the status text, Detail the
// fixed description.
func (e *Error) ProblemError() *echo.ProblemError {
	return &echo.ProblemError{Status: e.o.Status, Title: http.StatusText(e.o.Status), Detail: e.o.Description}
}

// Outcome returns the decision, for custom error handlers and logs. Its
// Err is the cause (a *jwtverify.Error or a bearer error): it may quote
// caller input, so it is for logs only, never for clients.
func (e *Error) Outcome() middleware.Outcome { return e.o }

var (
	_ echo.MiddlewareFunc  = (*Auth)(nil).Authenticate
	_ echo.HTTPStatusCoder = (*Error)(nil)
	_ json.Marshaler       = (*Error)(nil)
	_ echo.ProblemErrorer  = (*Error)(nil)
)
