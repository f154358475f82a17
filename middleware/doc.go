// Package middleware protects net/http services with OAuth 2.0 bearer
// access tokens (RFC 6750) verified by a jwtverify.Verifier: one line to
// authenticate every request, one line per route to demand scopes or app
// roles. It works with the standard ServeMux (Go 1.22 patterns), chi,
// gorilla/mux and anything else built on http.Handler. The Echo adapter is
// the separate package middleware/echoauth, so net/http users never compile
// Echo.
//
//	v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(p)}) // p: your provider's profile
//	mw, err := middleware.New(v, middleware.WithRealm("invoices"), middleware.WithExemptPaths("/healthz"))
//
//	mux := http.NewServeMux()
//	mux.Handle("GET /invoices/{id}", mw.Require(jwtverify.RequireAll("invoices.read"))(getInvoice))
//	mux.Handle("POST /invoices", mw.Require(jwtverify.RequireAll("invoices.write"))(createInvoice))
//	log.Fatal(http.ListenAndServe(addr, mw.Handler(mux)))
//
// With chi, mw.Handler is a router middleware (r.Use(mw.Handler)) and
// mw.Require a route's (r.With(mw.Require(jwtverify.RequireAny("invoices.admin",
// "admin"))).Delete("/invoices/{id}", deleteInvoice)).
//
// Handlers read the verified caller with jwtverify.FromContext, the one
// accessor every adapter uses:
//
//	p, _ := jwtverify.FromContext(r.Context())
//	log.Printf("call from %s", p.ClientID())
//
// # Extraction (RFC 6750 section 2)
//
// The token is read from exactly one Authorization header using the Bearer
// scheme (case-insensitive, one or more spaces, a b64token). Two
// Authorization headers, or a header token together with an access_token
// query parameter, are invalid_request. The query (section 2.3) and form
// body (section 2.2) methods are off unless AllowQueryToken or
// AllowFormToken is given; a request body is only ever read when the form
// method is on. WithTokenExtractor replaces all of this.
//
// # Answers
//
//	no credentials (or another scheme)  401  WWW-Authenticate: Bearer realm="api"
//	malformed or ambiguous credentials  400  Bearer realm="api", error="invalid_request", error_description="..."
//	token refused by the verifier       401  Bearer realm="api", error="invalid_token", error_description="..."
//	valid token lacking a permission    403  Bearer realm="api", error="insufficient_scope", error_description="...", scope="a b"
//	no usable key set at all            503  Retry-After: 30 (no challenge: a server condition)
//	introspection cannot decide now     503  Retry-After: 30, or when the issuer's call budget refills
//	DPoP proof refused (WithDPoP)       401  DPoP algs="...", error="invalid_dpop_proof", error_description="..." (then Bearer realm="api")
//
// Descriptions are fixed texts (jwtverify.Reason.Description: only an
// expired token is told apart); nothing the client sent is ever reflected
// in headers, bodies or logs. Bodies are a small JSON object
// {"error":"...","error_description":"..."} with Cache-Control: no-store.
// WithErrorHandler replaces them. With WithResourceMetadata every challenge
// also carries resource_metadata="..." (RFC 9728) and MetadataHandler serves
// the document.
//
// # Cost
//
// A repeated token costs one verified-token cache lookup and two
// allocations (the request copy and the context value that carry the
// Principal). The header token's bytes are not scanned on that path: the
// verifier only ever accepts tokens made of base64url characters and dots,
// so the b64token check runs only when the verifier refuses a token, to tell
// a malformed request (400) from a bad token (401).
//
// # Metrics and logs
//
// Every decision (allowed, refused, skipped) is a jwtverify.DecisionEvent
// sent to the observers given with WithObserver; they add up. Metrics and
// logs are two observers, wired the same way on every adapter:
//
//	lg := authlog.New(logger, authlog.Options{}) // one record per refusal, rate limited
//	defer lg.Close()
//	mw, err := middleware.New(v, middleware.WithObserver(m), middleware.WithObserver(lg))
//
// An event names the route without trusting the caller: the pattern under
// which the ServeMux (or chi) routed the request to a Require wrapper; for
// Handler's decisions, made before routing, the pattern the ServeMux given
// by WithServeMux picks, else jwtverify.RouteUnknown. Never the raw path or
// query.
//
// # Certificate-bound tokens
//
// When an issuer's jwtverify.IssuerConfig.Binding policy is not
// binding.Off, every adapter checks certificate-bound tokens (RFC 8705):
// the SHA-256 thumbprint of the client certificate of the request's TLS
// connection must equal the token's cnf "x5t#S256" (Verifier.VerifyBound).
// The server must ask for client certificates: tls.Config.ClientAuth
// tls.RequestClientCert or stronger. No CA verification is needed for
// binding (the token's issuer vouched for the certificate when it bound the
// token to it); VerifyClientCertIfGiven adds your own. A refused binding is
// 401 invalid_token with one fixed description; the precise cause (not_tls,
// no_client_certificate, thumbprint_mismatch, binding_required, ...) is the
// event's Rule, for logs and metrics only. RFC 9728 metadata then
// advertises tls_client_certificate_bound_access_tokens.
//
// Behind a TLS-terminating proxy, WithForwardedClientCert reads the
// certificate from exactly one header in one format (binding.Forwarding).
// It is opt-in; the proxy MUST strip client-supplied copies of that header
// and the API MUST be reachable only through the proxy. Without it, such
// headers are ignored. Connect interceptors cannot see TLS state: run this
// middleware in front of a Connect handler to check the binding.
//
// # DPoP-bound tokens
//
// WithDPoP(checker) accepts the DPoP scheme (RFC 9449) beside Bearer, for
// issuers whose Binding allows binding.DPoP: the proof in the request's
// DPoP header is checked by the dpop.Checker (every section 4.3 check),
// then the token must be bound (cnf.jkt) to the proof's key, then the
// proof is recorded against replay. A DPoP-bound token with Bearer, and an
// unbound token with DPoP, are refused; an unbound token with Bearer stays
// a bearer token and its DPoP header is never read. DPoP refusals answer
// the DPoP challenge first (DPoP algs="...", error="invalid_dpop_proof",
// "invalid_token" or "use_dpop_nonce" with a DPoP-Nonce header) and the
// bare Bearer challenge second; a 401 without credentials names both
// (Outcome.Challenges, one WWW-Authenticate line each). A replay store
// that cannot record answers 503 (reason replay_unavailable). With server
// nonces, allowed DPoP requests get a fresh DPoP-Nonce
// (Outcome.SetProceedHeaders, called by every adapter). Handler and
// Require on one request check the proof once.
//
// # Adapters
//
// Authenticator holds the whole decision and describes it as an Outcome
// without writing anything; Middleware and echoauth.Auth only copy the
// Outcome onto their transport. A new adapter needs NewAuthenticator,
// Authenticate, Authorize and WithPrincipal.
package middleware
