// Package ginauth is the Gin (github.com/gin-gonic/gin) adapter of package
// middleware: the extraction rules, answers and options of the net/http
// middleware, as gin.HandlerFunc values.
//
//	auth, err := ginauth.New(v, middleware.WithRealm("invoices"))
//	r := gin.New()
//	api := r.Group("/api", auth.Authenticate)
//	api.GET("/invoices/:id", auth.Require(jwtverify.RequireAll("invoices.read")), getInvoice)
//	api.POST("/invoices", auth.Require(jwtverify.RequireAll("invoices.write")), createInvoice)
//
//	func getInvoice(c *gin.Context) {
//		p, _ := ginauth.Principal(c) // or jwtverify.FromContext(c.Request.Context())
//		c.String(http.StatusOK, "invoice "+c.Param("id")+" for "+p.ClientID())
//	}
//
// A refused request is aborted (c.Abort) with the RFC 6750 answer already
// written: the status (400, 401, 403 or 503), the WWW-Authenticate
// challenge, Retry-After on 503, Cache-Control: no-store and the JSON body
// {"error":"...","error_description":"..."} (middleware.WriteError, or the
// handler of middleware.WithErrorHandler). Nothing is added to c.Errors:
// the verification error can quote caller input, and Gin's logger prints
// c.Errors; observers (middleware.WithObserver) and middleware.WithLogger
// get the precise reason without it.
//
// The Principal is stored in the request context, the one accessor every
// adapter shares; Principal reads it from a *gin.Context. With the engine's
// ContextWithFallback on, jwtverify.FromContext(c) works on the
// *gin.Context itself too.
//
// This package is a separate module (github.com/m2mauth/m2mauth/ginauth):
// users of the main module never compile Gin.
package ginauth
