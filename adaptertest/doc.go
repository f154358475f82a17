// Package adaptertest is the conformance kit of m2mauth adapters: a test
// package that any adapter, ours or a third party's, runs against its own
// server to prove that it answers every input exactly as the others do.
//
// The kit starts an in-process issuer (package oauthtest) and two
// verifiers, one that works and one without usable keys (for the 503 /
// Unavailable answer), and asks the adapter's test for a server: the test
// supplies a constructor that builds it from a verifier, the requirement of
// each route (or gRPC method) and an observer. The kit then sends every H
// and I row of SECURITY.md's hostile-input catalogue, plus exempt paths,
// CORS preflights, public methods and the 503 row, and checks:
//
//   - HTTP: the status (200, 204, 400, 401, 403, 503), one Bearer
//     WWW-Authenticate challenge with the realm, the RFC 6750 error,
//     error_description and scope parameters, the JSON error body with
//     Cache-Control: no-store, Retry-After on 503; with DPoP on (the K
//     rows, HTTPSetup.DPoP, RFC 9449), the challenge of the scheme the
//     request used first and the other scheme's bare challenge second on
//     every 400 and 401, DPoP-bound tokens with right and wrong proofs;
//   - gRPC: the status code (Unauthenticated, PermissionDenied,
//     Unavailable), one errdetails.ErrorInfo with grpcauth's Domain,
//     reasons and metadata, the fixed message;
//   - that nothing the client sent (tokens, attacker text) comes back in
//     an answer or an observer event;
//   - that the handler reaches the verified Principal through the
//     adapter's accessor and through jwtverify.FromContext, and that both
//     are the same;
//   - that the observer gets one event per decision with the expected
//     result and reason (and the adapter's transport name).
//
// # HTTP adapters
//
// The constructor gets an HTTPSetup and returns an http.Handler (or starts
// a server and returns its URL). Adapters built on middleware.Authenticator
// pass HTTPSetup.Options to their constructor; every route calls Respond
// with the Principal the adapter's accessor returns:
//
//	func TestConformance(t *testing.T) { // middleware/echoauth's, for Echo v4
//		adaptertest.RunHTTP(t, adaptertest.HTTPAdapter{
//			Transport: "echo",
//			Handler: func(t testing.TB, s adaptertest.HTTPSetup) http.Handler {
//				auth, err := echoauth.New(s.Verifier, s.Options()...)
//				if err != nil {
//					t.Fatal(err)
//				}
//				e := newEcho() // echo.New() without the start-up banner
//				if s.Authenticate {
//					e.Use(auth.Authenticate)
//				}
//				for _, rt := range s.Routes {
//					h := func(c echo.Context) error {
//						p, _ := echoauth.Principal(c)
//						adaptertest.Respond(c.Response(), c.Request(), p)
//						return nil
//					}
//					var mw []echo.MiddlewareFunc
//					if rt.Require {
//						mw = append(mw, auth.Require(rt.Requirement))
//					}
//					if rt.Method == "" {
//						e.Any(rt.Path, h, mw...) // "" method: any
//					} else {
//						e.Add(rt.Method, rt.Path, h, mw...)
//					}
//				}
//				return e
//			},
//		})
//	}
//
// An adapter that lacks an option HTTPSetup asks for (the query token
// method, say) calls t.Skip in its constructor: the rows that need it are
// then reported as skipped.
//
// # gRPC adapters
//
// The constructor gets a GRPCSetup (a policy: requirement per full method,
// public methods, everything else denied) and returns a client connection
// to a grpc-go server it started with its interceptors and the kit's
// services (GRPCSetup.Register). A server that is not grpc-go (Connect)
// sets GRPCAdapter.Client instead: it serves the kit's methods with
// Whoami and returns a CallFunc over its own client, which reports
// refusals as gRPC status errors. See RunGRPC.
//
// Every adapter of this repository runs the kit: middleware (net/http),
// middleware/echoauth (Echo v4), grpcauth, and the nested modules
// echov5auth (Echo v5), ginauth (Gin) and connectauth (Connect, over the
// Connect protocol on HTTP/1.1 and HTTP/2 and the gRPC protocol).
//
// Overhead is the matching benchmark helper: what an adapter adds to the
// same framework route, measured in interleaved blocks.
package adaptertest
