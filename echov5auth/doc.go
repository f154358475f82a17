// Package echov5auth is the Echo v5 (github.com/labstack/echo/v5) adapter
// of package middleware: the extraction rules, answers and options of the
// net/http middleware and of the Echo v4 adapter (middleware/echoauth),
// with the same API shape.
//
//	auth, err := echov5auth.New(v, middleware.WithRealm("invoices"))
//	api := e.Group("/api", auth.Authenticate)
//	api.GET("/invoices/:id", getInvoice, auth.Require(jwtverify.RequireAll("invoices.read")))
//	api.POST("/invoices", createInvoice, auth.Require(jwtverify.RequireAll("invoices.write")))
//
//	func getInvoice(c *echo.Context) error {
//		p, _ := echov5auth.Principal(c) // or jwtverify.FromContext(c.Request().Context())
//		return c.String(http.StatusOK, "invoice "+c.Param("id")+" for "+p.ClientID())
//	}
//
// # Errors
//
// A refused request fails with an *Error. Echo v5's HTTPError carries only
// a string message and keeps its wrapped error unexported, so this package
// has its own error type: it reports its status through StatusCode (Echo's
// HTTPStatusCoder), writes the body {"error":"...","error_description":"..."}
// through MarshalJSON (Echo's default error handler uses it as the body,
// whether or not it exposes errors), and turns into an RFC 9457 problem
// with the same fixed texts for echo.ProblemDetailsHTTPErrorHandler. The
// WWW-Authenticate, Retry-After and Cache-Control headers are already set on
// the response when the error is returned.
//
// The error's text is fixed ("echov5auth: 401 invalid_token") and it wraps
// nothing: the verification error can quote caller input (an unknown kid,
// an untrusted issuer), so it must not reach an error handler or a request
// logger that prints errors. Logs get it from Error.Outcome, on purpose;
// observers (middleware.WithObserver) and middleware.WithLogger get the
// precise reason without it.
//
// With middleware.WithErrorHandler the handler writes the answer itself and
// the middleware returns nil.
//
// # Which Echo package
//
// Echo v4 gets bug fixes until 2026-12-31 and security fixes until
// 2027-12-31. New services and services moving to v5 use this package;
// services staying on v4 use middleware/echoauth, which stays. Both answer
// every input alike (package adaptertest proves it) and report decisions
// with the transport name "echo", so dashboards survive the move.
//
// This package is a separate module (github.com/m2mauth/m2mauth/echov5auth):
// users of the main module never compile Echo v5.
package echov5auth
