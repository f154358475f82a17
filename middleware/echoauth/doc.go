// Package echoauth is the Echo (github.com/labstack/echo/v4) adapter of
// package middleware: the same extraction rules, answers and options, with
// failures returned as *echo.HTTPError.
//
//	auth, err := echoauth.New(v, middleware.WithRealm("invoices"))
//	api := e.Group("/api", auth.Authenticate)
//	api.GET("/invoices/:id", getInvoice, auth.Require(jwtverify.RequireAll("invoices.read")))
//	api.POST("/invoices", createInvoice, auth.Require(jwtverify.RequireAll("invoices.write")))
//
//	func getInvoice(c echo.Context) error {
//		p, _ := echoauth.Principal(c) // or jwtverify.FromContext(c.Request().Context())
//		return c.String(http.StatusOK, "invoice "+c.Param("id")+" for "+p.ClientID())
//	}
//
// A refused request fails with an *echo.HTTPError whose Message is a
// middleware.ErrorBody (written as {"error":"...","error_description":"..."}
// by Echo's error handler, also in debug mode) and whose Internal is the
// cause (a *jwtverify.Error or a bearer error: for logs, never for clients);
// the WWW-Authenticate, Retry-After and Cache-Control headers are already set
// on the response. With middleware.WithErrorHandler the handler writes the
// answer itself and the middleware returns nil.
//
// The token is only read from the Authorization header (plus the query and
// form methods when allowed, as in package middleware): Echo's key-auth
// extractor is not used, because it tries several header values.
package echoauth
