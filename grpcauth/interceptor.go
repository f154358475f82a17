package grpcauth

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	gcreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/bearer"
	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// Transport is the DecisionEvent.Transport of this package.
const Transport = "grpc"

// MaxCredentialsLength bounds the authorization metadata value. A longer
// value is rejected as an invalid token without being scanned (gRPC
// servers accept header lists up to 16 MiB by default). It is well above
// jwtverify's default token size cap.
const MaxCredentialsLength = 64 << 10

// authorizationKey is the metadata key of the credentials. gRPC lower-cases
// metadata keys, so a client sending "Authorization" arrives here too.
const authorizationKey = "authorization"

// ErrNilVerifier is returned by New when the verifier is nil.
var ErrNilVerifier = errors.New("grpcauth: nil verifier")

// Interceptor authenticates gRPC calls with a jwtverify.Verifier and
// authorizes them with a Policy. Its configuration is fixed by New; it is
// safe for concurrent use. CheckServer, called once before serving, tells
// it which methods the server registers (DecisionEvent.Route).
type Interceptor struct {
	v      *jwtverify.Verifier
	policy *compiled
	obs    jwtverify.DecisionObserver
	// ctxObs is obs when it is a ContextDecisionObserver.
	ctxObs jwtverify.ContextDecisionObserver
	st     statuses
	// observers collects WithObserver's arguments; New combines them
	// into obs.
	observers []jwtverify.DecisionObserver
	// outlive: InsecureStreamsOutliveTokens.
	outlive bool
	// certs finds the client certificate of certificate-bound tokens (nil:
	// no issuer binds tokens and WithCertSource was not given); fwdKey is
	// the metadata key of its forwarded header, "" without forwarding.
	certs  *binding.CertSource
	fwdKey string
	// optErr is the first error of an option, reported by New.
	optErr error
	// routes holds the full methods registered on the server (key and
	// value equal: events carry the server's string, not the caller's),
	// set by CheckServer; nil until then.
	routes atomic.Pointer[map[string]string]
}

// Option configures an Interceptor.
type Option func(*Interceptor)

// WithObserver adds o to the observers of the decisions: each gets one
// jwtverify.DecisionEvent (Transport "grpc") per call, in the order the
// options are given. Observers add up, as on every adapter, so metrics and
// logs are two options:
//
//	grpcauth.WithObserver(m),  // *metrics.Metrics
//	grpcauth.WithObserver(lg), // *authlog.Logger: the one logging wiring
//
// A jwtverify.ContextDecisionObserver (otelauth's) gets the call's context
// with each event. Nil adds none.
func WithObserver(o jwtverify.DecisionObserver) Option {
	return func(i *Interceptor) {
		if o != nil {
			i.observers = append(i.observers, o)
		}
	}
}

// WithLogger logs the decisions to l through an authlog.Logger with
// default options; nil adds nothing.
//
// Deprecated: WithLogger(l) is exactly
// WithObserver(authlog.New(l, authlog.Options{})), kept for existing
// callers. Build the authlog.Logger yourself and pass it with
// WithObserver, the one logging wiring every adapter shares (the same
// message and attributes on every transport); you can then Close it at
// shutdown to write the counts of refusals it still suppresses, which the
// Logger WithLogger builds never writes.
func WithLogger(l *slog.Logger) Option {
	if l == nil {
		return func(*Interceptor) {}
	}
	return WithObserver(authlog.New(l, authlog.Options{}))
}

// InsecureStreamsOutliveTokens keeps a stream serving after its token
// expired, as before m2mauth ended streams at expiry (SECURITY.md M3): the
// stream is authorized once when it opens and its context carries no
// deadline of ours. A caller whose token was revoked by expiry, and any
// holder of a stolen token, keeps a stream opened in time for as long as
// the connection lasts (the review that found this kept one serving for two
// days). You MUST NOT use it unless every streaming handler ends its stream
// by itself, no later than jwtverify's (*Principal).ValidUntil.
func InsecureStreamsOutliveTokens() Option {
	return func(i *Interceptor) { i.outlive = true }
}

// WithCertSource sets where the client certificate of certificate-bound
// tokens (RFC 8705; jwtverify.IssuerConfig's Binding) comes from: by
// default, built when an issuer's binding policy is not binding.Off, the
// TLS connection of the call (peer.FromContext, credentials.TLSInfo); the
// server's credentials must ask for client certificates
// (tls.RequestClientCert or stronger; no CA verification is needed for
// binding: the token's issuer vouched for the certificate). A CertSource
// with binding.Forwarding reads instead the metadata of the configured
// header (its lower-case name) set by a TLS-terminating proxy, which MUST
// strip client-supplied copies of it. Nil is an error at New.
func WithCertSource(src *binding.CertSource) Option {
	return func(i *Interceptor) {
		if src == nil {
			if i.optErr == nil {
				i.optErr = errors.New("grpcauth: WithCertSource: nil CertSource")
			}
			return
		}
		i.certs = src
	}
}

// New validates policy and returns an Interceptor verifying tokens with v.
// Every problem of the policy is reported at once, as *PolicyError values
// joined with errors.Join.
func New(v *jwtverify.Verifier, policy Policy, opts ...Option) (*Interceptor, error) {
	if v == nil {
		return nil, ErrNilVerifier
	}
	c, err := compilePolicy(policy)
	if err != nil {
		return nil, err
	}
	i := &Interceptor{v: v, policy: c}
	for _, o := range opts {
		if o != nil {
			o(i)
		}
	}
	if i.optErr != nil {
		return nil, i.optErr
	}
	if i.certs == nil && bindsTokens(v) {
		if i.certs, err = binding.NewCertSource(binding.CertSourceConfig{}); err != nil {
			return nil, err
		}
	}
	if i.certs != nil {
		if f := i.certs.Forwarding(); f != nil {
			i.fwdKey = strings.ToLower(f.Header)
		}
	}
	i.obs = jwtverify.MultiDecisionObserver(i.observers...)
	i.ctxObs, _ = i.obs.(jwtverify.ContextDecisionObserver)
	i.observers = nil
	i.st = newStatuses()
	return i, nil
}

// UnaryServerInterceptor returns the interceptor for unary methods. Use it
// with grpc.UnaryInterceptor or grpc.ChainUnaryInterceptor.
func (i *Interceptor) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, _, err := i.authorize(ctx, info.FullMethod, true)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor returns the interceptor for streaming methods.
// The handler gets a stream whose Context carries the Principal. Use it
// with grpc.StreamInterceptor or grpc.ChainStreamInterceptor.
//
// # Streams end when the token expires
//
// Authorization lasts no longer than the token (SECURITY.md M3). The
// handler's context (stream.Context()) has a deadline at the token's
// jwtverify (*Principal).ValidUntil, exp plus the issuer's leeway, computed
// from the Verifier's clock (jwtverify.Config.Now) and timed on the real
// clock; its context.Cause is then a status error (Unauthenticated,
// TOKEN_EXPIRED). From that instant:
//
//   - SendMsg and RecvMsg of the stream return that status without
//     sending or receiving; a RecvMsg waiting for the client returns it at
//     the deadline (a message arriving later is dropped, and the message
//     passed to that RecvMsg must not be used). A SendMsg already blocked
//     by flow control returns when gRPC lets it; the next one fails.
//   - The stream's final status is Unauthenticated (TOKEN_EXPIRED)
//     whatever the handler returns once the deadline has passed, nil or
//     another error included: the client must not read OK for a stream
//     that went on after its token expired, and a handler's
//     context.DeadlineExceeded or Canceled from the deadline is this same
//     expiry. The client fetches a new token and opens a new stream.
//   - A handler that ignores its context and does not touch the stream
//     keeps running, and gRPC keeps the stream open, until it returns:
//     gRPC offers interceptors no way to end a stream under a running
//     handler. Anything it sends or receives fails as above, and its
//     status is Unauthenticated. Long-running work in a handler should
//     select on ctx.Done() or pass ctx down.
//
// An open stream is not verified again: a key the issuer withdraws, or a
// Validate rule that starts refusing the token, does not end it; the
// deadline does. New calls and streams with a token signed by a withdrawn
// key are refused once the key source's next refresh no longer publishes
// the key (the verified-token cache re-checks that on every hit).
//
// The wait in RecvMsg runs on a short-lived goroutine so that the deadline
// can end it: about 2 to 3 microseconds more per received message on a
// busy two-core machine (BenchmarkStreamRoundTrip), nothing on SendMsg.
//
// Public methods get no deadline (there is no token). The go-grpc-middleware
// path (AuthFunc) cannot end streams. InsecureStreamsOutliveTokens turns
// this off.
func (i *Interceptor) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		orig := ss.Context()
		ctx, p, err := i.authorize(orig, info.FullMethod, true)
		if err != nil {
			return err
		}
		if p == nil { // a public method
			return handler(srv, ss)
		}
		if i.outlive {
			return handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
		}
		ctx, cancel := context.WithTimeoutCause(ctx, p.ValidUntil().Sub(i.v.Now()), errTokenExpired)
		defer cancel()
		es := &expiringStream{ServerStream: ss, ctx: ctx}
		err = handler(srv, es)
		if es.over() {
			return errTokenExpired
		}
		return err
	}
}

// AuthFunc returns a function of the shape of go-grpc-middleware v2's
// auth.AuthFunc, for users who keep that package's interceptors and
// selector:
//
//	authFn := i.AuthFunc()
//	grpc.NewServer(
//		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor(authFn)),
//		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor(authFn)),
//	)
//
// An AuthFunc only gets a context, so the method comes from grpc.Method:
// the function works in a server handler's context, where go-grpc-middleware
// calls it. Elsewhere it fails closed with codes.Internal. The policy
// applies as with the interceptors of this package, Public patterns
// included.
//
// An AuthFunc verifies with plain jwtverify.Verifier.Verify: it checks no
// certificate binding, so it refuses every certificate-bound token (and,
// under binding.Required, every token). Serve bound tokens through
// UnaryServerInterceptor and StreamServerInterceptor, which check the
// binding against the call's TLS connection.
//
// Streams opened through an AuthFunc do not end when their token expires:
// an AuthFunc returns only a context, so it cannot wrap SendMsg and
// RecvMsg or set the stream's final status (and a deadline in that context
// would have no one to cancel its timer). Use StreamServerInterceptor for
// streaming methods (the selector can apply it to them alone), or end each
// stream in its handler at the Principal's ValidUntil.
func (i *Interceptor) AuthFunc() func(ctx context.Context) (context.Context, error) {
	return func(ctx context.Context) (context.Context, error) {
		method, ok := grpc.Method(ctx)
		if !ok {
			return nil, errNoMethod
		}
		ctx, _, err := i.authorize(ctx, method, false)
		return ctx, err
	}
}

var errNoMethod = status.Error(codes.Internal, "grpcauth: no gRPC method in the context")

// Authorize decides a call to fullMethod ("/pkg.Service/Method") whose
// incoming context is ctx: it applies the policy, reads and verifies the
// bearer token and checks the method's requirement. It returns ctx with
// the Principal (jwtverify.NewContext), ctx itself for a public method, or
// a gRPC status error (read it with status.FromError) carrying an
// errdetails.ErrorInfo:
//
//   - Unauthenticated: no token (InfoMissingToken), malformed credentials
//     or several authorization values (InfoInvalidRequest), a token that
//     failed verification (InfoInvalidToken, InfoTokenExpired), a
//     certificate-bound token whose certificate the call's TLS connection
//     does not present (InfoInvalidToken, with the fixed message of
//     jwtverify.ReasonBinding; the precise cause is the event's Rule);
//   - PermissionDenied: a valid token lacking a required permission, or a
//     method the policy denies (InfoInsufficientScope);
//   - Unavailable: no usable key set (InfoKeysUnavailable), or an opaque
//     token's introspection cannot decide now (InfoIntrospectionUnavailable).
//
// A method the policy denies is refused after authentication, so an
// anonymous caller cannot tell declared from undeclared methods.
//
// Authorize checks certificate binding (when configured) against the TLS
// connection in ctx's peer.Peer: pass the context gRPC gave the handler.
func (i *Interceptor) Authorize(ctx context.Context, fullMethod string) (context.Context, error) {
	ctx, _, err := i.authorize(ctx, fullMethod, true)
	return ctx, err
}

// authorize is Authorize, also returning the Principal (nil for a public
// method); bound false verifies with plain Verify (AuthFunc).
func (i *Interceptor) authorize(ctx context.Context, fullMethod string, bound bool) (context.Context, *jwtverify.Principal, error) {
	r := i.policy.Match(fullMethod)
	if r.Action == actionPublic {
		i.decide(ctx, fullMethod, jwtverify.DecisionEvent{Result: jwtverify.DecisionSkipped})
		return ctx, nil, nil
	}

	tok, st, ev := credentials(ctx, &i.st)
	if st != nil {
		i.decide(ctx, fullMethod, ev)
		return nil, nil, st.Err()
	}

	var p *jwtverify.Principal
	var err error
	if bound && i.certs != nil {
		p, err = i.v.VerifyBound(ctx, tok, i.proof(ctx))
	} else {
		p, err = i.v.Verify(ctx, tok)
	}
	if err == nil && p == nil {
		err = jwtverify.ErrMalformed // fail closed; the verifier never does this
	}
	if err != nil {
		if !bearer.IsB64Token(tok) {
			// Whitespace, a second word or a forbidden character after
			// the scheme: a malformed request (SECURITY.md C6, H3).
			i.decide(ctx, fullMethod, jwtverify.DecisionEvent{Result: jwtverify.DecisionInvalidRequest, Reason: jwtverify.ReasonMalformed})
			return nil, nil, i.st.invalidRequest.Err()
		}
		reason := jwtverify.ReasonOf(err)
		ev := jwtverify.DecisionEvent{Result: jwtverify.DecisionUnauthenticated, Reason: reason}
		var je *jwtverify.Error
		if errors.As(err, &je) {
			ev.Issuer, ev.Rule = je.Issuer, je.Rule
		}
		var st *status.Status
		switch {
		case reason == jwtverify.ReasonIntrospectionUnavailable:
			ev.Result, st = jwtverify.DecisionUnavailable, i.st.introspection
		case reason.Unavailable():
			ev.Result, st = jwtverify.DecisionUnavailable, i.st.unavailable
		case reason == jwtverify.ReasonExpired:
			st = i.st.expired
		case reason == jwtverify.ReasonBinding:
			st = i.st.binding
		default:
			st = i.st.invalidToken
		}
		i.decide(ctx, fullMethod, ev)
		return nil, nil, st.Err()
	}

	switch r.Action {
	case actionRequire:
		if err := r.Req.Check(p); err != nil {
			var required, missing []string
			var je *jwtverify.Error
			if errors.As(err, &je) {
				required, missing = je.Required, je.Missing
			} else {
				required = r.Req.Scopes()
			}
			i.decide(ctx, fullMethod, jwtverify.DecisionEvent{
				Result: jwtverify.DecisionForbidden, Reason: jwtverify.ReasonInsufficientScope,
				Issuer: p.IssuerName(), ClientID: p.ClientID(), Missing: missing,
			})
			return nil, nil, i.st.forbidden(required, missing).Err()
		}
	default: // actionDeny
		i.decide(ctx, fullMethod, jwtverify.DecisionEvent{
			Result: jwtverify.DecisionForbidden, Reason: jwtverify.ReasonInsufficientScope,
			Issuer: p.IssuerName(), ClientID: p.ClientID(),
		})
		return nil, nil, i.st.denied.Err()
	}

	if i.obs != nil {
		i.decide(ctx, fullMethod, jwtverify.DecisionEvent{
			Result: jwtverify.DecisionAllowed, Issuer: p.IssuerName(), ClientID: p.ClientID(),
		})
	}
	return jwtverify.NewContext(ctx, p), p, nil
}

// proof is what the call proves: the client certificate of its TLS
// connection or, with forwarding, of the configured metadata header.
func (i *Interceptor) proof(ctx context.Context) binding.Proof {
	if i.fwdKey != "" {
		return i.certs.Proof(nil, metadata.ValueFromIncomingContext(ctx, i.fwdKey))
	}
	var cs *tls.ConnectionState
	if pr, ok := peer.FromContext(ctx); ok {
		switch ti := pr.AuthInfo.(type) {
		case gcreds.TLSInfo:
			cs = &ti.State
		case *gcreds.TLSInfo:
			if ti != nil {
				cs = &ti.State
			}
		}
	}
	return i.certs.ProofFromTLS(cs)
}

// bindsTokens reports whether an issuer of v has a binding policy other
// than binding.Off.
func bindsTokens(v *jwtverify.Verifier) bool {
	for _, is := range v.Issuers() {
		if is.Binding.Policy != binding.Off {
			return true
		}
	}
	return false
}

// credentials extracts the bearer token from the incoming metadata with
// bearer.CutValues: exactly one value, Bearer scheme, spaces. The token's
// characters are not scanned here (that would cost more than a cached
// verification); Authorize runs bearer.IsB64Token when the verifier
// refuses the token, to answer a malformed request as HTTP does. On
// failure credentials returns the status to answer and the decision to
// report.
func credentials(ctx context.Context, s *statuses) (string, *status.Status, jwtverify.DecisionEvent) {
	vals := metadata.ValueFromIncomingContext(ctx, authorizationKey)
	if len(vals) == 1 && len(vals[0]) > MaxCredentialsLength {
		return "", s.invalidToken, jwtverify.DecisionEvent{Result: jwtverify.DecisionUnauthenticated, Reason: jwtverify.ReasonMalformed}
	}
	// Several values (SECURITY.md H5, H10): which one would be the
	// credentials is ambiguous; CutValues refuses them all.
	tok, err := bearer.CutValues(vals)
	switch {
	case err == nil:
		return tok, nil, jwtverify.DecisionEvent{}
	case errors.Is(err, bearer.ErrNoCredentials):
		if len(vals) == 1 && bearer.IsDPoPScheme(vals[0]) {
			// RFC 9449 over gRPC: refused by choice (InfoDPoPUnsupported),
			// never mistaken for a call without credentials.
			return "", s.dpop, jwtverify.DecisionEvent{Result: jwtverify.DecisionUnauthenticated, Reason: jwtverify.ReasonDPoPProof, Rule: RuleDPoPUnsupported}
		}
		return "", s.missing, jwtverify.DecisionEvent{Result: jwtverify.DecisionUnauthenticated}
	default:
		return "", s.invalidRequest, jwtverify.DecisionEvent{Result: jwtverify.DecisionInvalidRequest, Reason: jwtverify.ReasonMalformed}
	}
}

// decide reports a decision to the observers, with the call's ctx to a
// ContextDecisionObserver. The route is the full
// method only when CheckServer saw it registered on the server: behind an
// unknown-service handler the caller chooses the name.
func (i *Interceptor) decide(ctx context.Context, fullMethod string, ev jwtverify.DecisionEvent) {
	if i.obs == nil {
		return
	}
	ev.Transport = Transport
	ev.Route = i.route(fullMethod)
	if ev.Issuer == "" {
		ev.Issuer = jwtverify.NoIssuer
	}
	if i.ctxObs != nil {
		i.ctxObs.ObserveDecisionContext(ctx, ev)
		return
	}
	i.obs.ObserveDecision(ev)
}

// route returns the registered method named fullMethod, or
// jwtverify.RouteUnknown.
func (i *Interceptor) route(fullMethod string) string {
	if m := i.routes.Load(); m != nil {
		if r, ok := (*m)[fullMethod]; ok {
			return r
		}
	}
	return jwtverify.RouteUnknown
}

// serverStream hands the handler the context carrying the Principal
// (InsecureStreamsOutliveTokens).
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the authorized context.
func (s *serverStream) Context() context.Context { return s.ctx }

// errTokenExpired is the context.Cause of a stream whose token expired,
// and what its SendMsg, RecvMsg and final status return: Unauthenticated,
// TOKEN_EXPIRED, as a call with an expired token gets.
var errTokenExpired = newStatuses().expired.Err()

// expiringStream is the handler's stream until the token expires: its
// context ends then (cause errTokenExpired), and so do SendMsg and
// RecvMsg. It has no mutable state, so the handler may call SendMsg and
// RecvMsg from two goroutines as gRPC allows.
type expiringStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the authorized context, which ends when the token
// expires.
func (s *expiringStream) Context() context.Context { return s.ctx }

// over reports whether the token has expired. Reading a closed channel
// costs no lock while the stream lives.
func (s *expiringStream) over() bool {
	select {
	case <-s.ctx.Done():
		return context.Cause(s.ctx) == errTokenExpired
	default:
		return false
	}
}

// SendMsg sends m unless the token has expired.
func (s *expiringStream) SendMsg(m any) error {
	if s.over() {
		return errTokenExpired
	}
	return s.ServerStream.SendMsg(m)
}

// RecvMsg receives into m unless the token has expired, and stops waiting
// when it does. The receive runs on a goroutine of its own so that the
// wait can end at the deadline; a receive abandoned then returns when
// gRPC ends the stream, which it does as soon as the handler returns (the
// status cancels the stream), and no RecvMsg is started after it (the
// token stays expired), so gRPC never sees two at once.
func (s *expiringStream) RecvMsg(m any) error {
	if s.over() {
		return errTokenExpired
	}
	done := make(chan error, 1)
	go func() { done <- s.ServerStream.RecvMsg(m) }()
	select {
	case err := <-done:
		if s.over() {
			return errTokenExpired
		}
		return err
	case <-s.ctx.Done():
		if context.Cause(s.ctx) == errTokenExpired {
			return errTokenExpired
		}
		// The call ended (cancelled by the client, or its own deadline):
		// gRPC's receive returns on its own, with the answer it always
		// gave.
		return <-done
	}
}
