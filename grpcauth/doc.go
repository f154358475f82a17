// Package grpcauth protects gRPC servers with OAuth 2.0 access tokens (JWTs)
// verified by jwtverify: unary and stream server interceptors, a policy
// that gives each method the permissions it requires and denies what it
// does not declare, and status codes with an errdetails.ErrorInfo.
//
// # Usage
//
//	auth, err := grpcauth.New(verifier, grpcauth.Policy{
//		Methods: map[string]jwtverify.Requirement{
//			"/orders.v1.Orders/*":      jwtverify.RequireAll("orders.read"),
//			"/orders.v1.Orders/Create": jwtverify.RequireAll("orders.write"),
//		},
//		// Default: grpcauth.DefaultDeny, so anything else is refused.
//	}.ExemptHealth().ExemptReflection(), grpcauth.WithObserver(metrics), grpcauth.WithLogger(logger))
//	if err != nil {
//		return err // a *PolicyError per mistake: syntax, duplicates, conflicts
//	}
//	srv := grpc.NewServer(
//		grpc.Creds(credentials.NewTLS(tlsConfig)),
//		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
//		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
//	)
//
// Handlers get the caller from the context, for streams from
// stream.Context():
//
//	p, ok := jwtverify.FromContext(ctx)
//
// # Credentials
//
// The token comes from the "authorization" metadata, with the RFC 6750
// rules the HTTP adapters use (package bearer): exactly one value, the
// Bearer scheme in any case, spaces, a b64token. gRPC lower-cases metadata
// keys, so a client sending "Authorization" is served too; two values are
// refused whatever they hold. Clients typically send the token with
// google.golang.org/grpc/credentials/oauth.TokenSource fed by
// golang.org/x/oauth2/clientcredentials, which requires TLS.
//
// # Status codes
//
// Following go-grpc-middleware's contract, Unauthenticated means the caller
// could not be authenticated, PermissionDenied that it was but lacks a
// permission:
//
//	no token, another scheme            Unauthenticated   MISSING_TOKEN
//	malformed credentials, two values   Unauthenticated   INVALID_REQUEST
//	token failed verification           Unauthenticated   INVALID_TOKEN
//	token expired                       Unauthenticated   TOKEN_EXPIRED
//	valid token lacking a permission    PermissionDenied  INSUFFICIENT_SCOPE (metadata scope, missing)
//	method denied by the policy         PermissionDenied  INSUFFICIENT_SCOPE
//	no usable key set (issuer down)     Unavailable       KEYS_UNAVAILABLE
//
// The last column is the Reason of the errdetails.ErrorInfo (Domain
// "m2mauth") attached to every rejection. Messages are fixed texts
// (jwtverify.Reason.Description); neither the message nor the detail ever
// holds the token or says which check a bad token failed: that precise
// reason goes to the DecisionObserver and the logger only.
//
// # go-grpc-middleware
//
// Users of go-grpc-middleware v2 can keep its auth interceptors and
// selector: Interceptor.AuthFunc has the shape of auth.AuthFunc. The nested
// module examples/grpcmiddleware shows it, so that the main module does not
// depend on go-grpc-middleware.
package grpcauth
