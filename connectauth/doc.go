// Package connectauth protects Connect (connectrpc.com/connect) services
// with OAuth 2.0 access tokens (JWTs) verified by jwtverify: a
// connect.Interceptor for unary and streaming handlers with a
// per-procedure Policy like grpcauth's (deny by default, validated at
// construction, checked against the registered procedures).
//
//	ic, err := connectauth.New(v, connectauth.Policy{
//		Procedures: map[string]jwtverify.Requirement{
//			ordersv1connect.OrdersListProcedure:   jwtverify.RequireAll("orders.read"),
//			ordersv1connect.OrdersCreateProcedure: jwtverify.RequireAll("orders.write"),
//		},
//	}.ExemptHealth(), connectauth.WithObserver(m))
//	if err != nil {
//		return err // a *PolicyError per mistake
//	}
//	if err := ic.CheckProcedures(registered...); err != nil {
//		return err // a pattern that names no procedure (a typo)
//	}
//	path, h := ordersv1connect.NewOrdersHandler(srv, connect.WithInterceptors(ic))
//
// Handlers get the caller from the context: jwtverify.FromContext(ctx).
//
// # Answers
//
// The token comes from the Authorization header with the RFC 6750 rules of
// every adapter (package middleware's Authenticator does the extraction and
// the decision, so the answers are the same). A refusal is a *connect.Error
// whose code, ErrorInfo detail and message are grpcauth's:
//
//	no token, another scheme            unauthenticated     MISSING_TOKEN
//	malformed credentials, two values   unauthenticated     INVALID_REQUEST
//	token failed verification           unauthenticated     INVALID_TOKEN
//	token expired                       unauthenticated     TOKEN_EXPIRED
//	valid token lacking a permission    permission_denied   INSUFFICIENT_SCOPE (metadata scope, missing)
//	procedure denied by the policy      permission_denied   INSUFFICIENT_SCOPE
//	no usable key set (issuer down)     unavailable         KEYS_UNAVAILABLE
//	the DPoP scheme (RFC 9449)          unauthenticated     DPOP_UNSUPPORTED
//
// and whose metadata carries the RFC 6750 WWW-Authenticate challenge (and
// Retry-After on unavailable), so Connect-protocol clients see it as an
// HTTP response header. Connect answers unauthenticated with HTTP 401, so
// a malformed request is 401 with the invalid_request challenge, where the
// HTTP adapters answer 400. Messages are fixed texts, never the token or
// which check a bad token failed: that goes to the observer and the logger.
//
// # Streams
//
// A stream lives no longer than its token: at Principal.ValidUntil (exp
// plus the issuer's leeway) the handler's context is cancelled, Send and
// Receive fail, and the call ends unauthenticated with TOKEN_EXPIRED.
//
// # TLS and the query string
//
// Connect interceptors see neither the TLS connection nor the URL, so
// certificate binding (RFC 8705) runs in the HTTP middleware in front of
// the Connect handler (package middleware: the Principal it stores is
// reused when it comes from the same Verifier), and the RFC 6750 query
// and form token methods do not apply.
//
// This package is a separate module (github.com/m2mauth/m2mauth/connectauth):
// users of the main module never compile Connect.
package connectauth
