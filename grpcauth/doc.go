// Package grpcauth protects gRPC servers with OAuth 2.0 access tokens (JWTs)
// verified by jwtverify: unary and stream server interceptors, a policy
// that gives each method the permissions it requires and denies what it
// does not declare, and status codes with an errdetails.ErrorInfo.
//
// # Usage
//
//	lg := authlog.New(logger, authlog.Options{})
//	defer lg.Close()
//	auth, err := grpcauth.New(verifier, grpcauth.Policy{
//		Methods: map[string]jwtverify.Requirement{
//			"/orders.v1.Orders/*":      jwtverify.RequireAll("orders.read"),
//			"/orders.v1.Orders/Create": jwtverify.RequireAll("orders.write"),
//		},
//		// Default: grpcauth.DefaultDeny, so anything else is refused.
//	}.ExemptHealth().ExemptReflection(), grpcauth.WithObserver(m), grpcauth.WithObserver(lg))
//	if err != nil {
//		return err // a *PolicyError per mistake: syntax, duplicates, conflicts
//	}
//	srv := grpc.NewServer(
//		grpc.Creds(credentials.NewTLS(tlsConfig)),
//		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
//		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
//	)
//	ordersv1.RegisterOrdersServer(srv, orders) // generated from your .proto; and every other service
//	defaulted, err := auth.CheckServer(srv)
//	if err != nil {
//		return err // a policy pattern names no registered method: a typo
//	}
//	logger.Info("methods left to the policy's default", "methods", defaulted)
//
// Handlers get the caller from the context, for streams from
// stream.Context():
//
//	p, ok := jwtverify.FromContext(ctx)
//
// # Checking the policy against the server
//
// Policy.Check (and CheckServer, for an Interceptor's policy) compares the
// policy with the services registered on a *grpc.Server: a pattern that
// matches nothing registered is an error (ErrUnknownMethod), and the
// registered methods no pattern matches are listed, since the Default
// decides them. CheckServer also tells the interceptor which methods the
// server registers: decision events carry such a method as their Route
// (jwtverify.DecisionEvent), any other name as jwtverify.RouteUnknown,
// because behind a grpc.UnknownServiceHandler the caller chooses it.
//
// # Observers and logs
//
// Every call gives one jwtverify.DecisionEvent to each observer given with
// WithObserver; observers add up. Logs have one wiring on every adapter:
// an authlog.Logger given with WithObserver, next to the metrics, which
// writes the same records for every transport. WithLogger is a deprecated
// shorthand for it.
//
// # Streams end with their token
//
// A stream opened with a token ends when the token expires (exp plus
// leeway): its context's deadline, then SendMsg, RecvMsg and its status
// answer Unauthenticated (TOKEN_EXPIRED). StreamServerInterceptor says
// what happens to a handler that ignores its context, and why an open
// stream does not notice a withdrawn key; InsecureStreamsOutliveTokens
// turns it off.
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
// DPoP (RFC 9449) is out of scope by choice: gRPC runs over HTTP/2
// requests, but no gRPC client stack makes DPoP proofs. A call using the
// DPoP scheme is refused with Unauthenticated and DPOP_UNSUPPORTED (its
// decision: reason dpop_proof, rule dpop_unsupported), not taken for
// a call without credentials; gRPC APIs bind tokens to the client
// certificate instead (RFC 8705).
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
//	the DPoP scheme (RFC 9449)          Unauthenticated   DPOP_UNSUPPORTED
//
// The last column is the Reason of the errdetails.ErrorInfo (Domain
// "m2mauth") attached to every rejection. Messages are fixed texts
// (jwtverify.Reason.Description); neither the message nor the detail ever
// holds the token or says which check a bad token failed: that precise
// reason goes to the observers only.
//
// # go-grpc-middleware
//
// Users of go-grpc-middleware v2 can keep its auth interceptors and
// selector: Interceptor.AuthFunc has the shape of auth.AuthFunc. The nested
// module examples/grpcmiddleware shows it, so that the main module does not
// depend on go-grpc-middleware. That path cannot end streams when their
// token expires (an AuthFunc returns only a context): use
// StreamServerInterceptor for streaming methods. An AuthFunc also verifies
// with plain Verify, which refuses every certificate-bound token.
//
// # Certificate-bound tokens
//
// When an issuer's jwtverify.IssuerConfig.Binding policy is not
// binding.Off, the interceptors check certificate-bound tokens (RFC 8705):
// the client certificate of the call's TLS connection (peer.FromContext,
// credentials.TLSInfo) must be the one the token's cnf "x5t#S256" names.
// The server's credentials must ask for client certificates:
//
//	grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: ..., ClientAuth: tls.RequestClientCert}))
//
// No CA verification is needed for binding: the token's issuer vouched for
// the certificate. A binding that is not proven is Unauthenticated
// (InfoInvalidToken) with a fixed message; the precise cause is the
// decision event's Rule. Behind a TLS-terminating proxy, WithCertSource
// with a binding.Forwarding reads one metadata header instead (the proxy
// MUST strip client-supplied copies). DPoP is not offered for gRPC.
package grpcauth
