package grpcauth

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/m2mauth/m2mauth/bearer"
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
// authorizes them with a Policy. It is immutable and safe for concurrent
// use; build it with New.
type Interceptor struct {
	v      *jwtverify.Verifier
	policy *compiled
	obs    jwtverify.DecisionObserver
	log    *slog.Logger
	st     statuses
}

// Option configures an Interceptor.
type Option func(*Interceptor)

// WithObserver sends one jwtverify.DecisionEvent (Transport "grpc") per
// call to o, for metrics. Nil means none.
func WithObserver(o jwtverify.DecisionObserver) Option {
	return func(i *Interceptor) { i.obs = o }
}

// WithLogger logs every decision to l: rejections at Info (Unavailable at
// Warn) with the precise reason, allowed calls at Debug. Records carry the
// matched policy pattern, never the token or anything else the caller
// chose. Nil (the default) logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(i *Interceptor) { i.log = l }
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
	i.st = newStatuses()
	return i, nil
}

// UnaryServerInterceptor returns the interceptor for unary methods. Use it
// with grpc.UnaryInterceptor or grpc.ChainUnaryInterceptor.
func (i *Interceptor) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := i.Authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor returns the interceptor for streaming methods.
// The handler gets a stream whose Context carries the Principal. Use it
// with grpc.StreamInterceptor or grpc.ChainStreamInterceptor.
func (i *Interceptor) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		orig := ss.Context()
		ctx, err := i.Authorize(orig, info.FullMethod)
		if err != nil {
			return err
		}
		if ctx != orig {
			ss = &serverStream{ServerStream: ss, ctx: ctx}
		}
		return handler(srv, ss)
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
func (i *Interceptor) AuthFunc() func(ctx context.Context) (context.Context, error) {
	return func(ctx context.Context) (context.Context, error) {
		method, ok := grpc.Method(ctx)
		if !ok {
			return nil, errNoMethod
		}
		return i.Authorize(ctx, method)
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
//     failed verification (InfoInvalidToken, InfoTokenExpired);
//   - PermissionDenied: a valid token lacking a required permission, or a
//     method the policy denies (InfoInsufficientScope);
//   - Unavailable: no usable key set (InfoKeysUnavailable).
//
// A method the policy denies is refused after authentication, so an
// anonymous caller cannot tell declared from undeclared methods.
func (i *Interceptor) Authorize(ctx context.Context, fullMethod string) (context.Context, error) {
	r := i.policy.match(fullMethod)
	if r.action == actionPublic {
		i.decide(ctx, r, jwtverify.DecisionEvent{Result: jwtverify.DecisionSkipped}, nil)
		return ctx, nil
	}

	tok, st, ev := credentials(ctx, &i.st)
	if st != nil {
		i.decide(ctx, r, ev, nil)
		return nil, st.Err()
	}

	p, err := i.v.Verify(ctx, tok)
	if err == nil && p == nil {
		err = jwtverify.ErrMalformed // fail closed; the verifier never does this
	}
	if err != nil {
		if !bearer.IsB64Token(tok) {
			// Whitespace, a second word or a forbidden character after
			// the scheme: a malformed request (SECURITY.md C6, H3).
			i.decide(ctx, r, jwtverify.DecisionEvent{Result: jwtverify.DecisionInvalidRequest, Reason: jwtverify.ReasonMalformed}, err)
			return nil, i.st.invalidRequest.Err()
		}
		reason := jwtverify.ReasonOf(err)
		ev := jwtverify.DecisionEvent{Result: jwtverify.DecisionUnauthenticated, Reason: reason}
		var je *jwtverify.Error
		if errors.As(err, &je) {
			ev.Issuer = je.Issuer
		}
		var st *status.Status
		switch reason {
		case jwtverify.ReasonKeysUnavailable:
			ev.Result, st = jwtverify.DecisionUnavailable, i.st.unavailable
		case jwtverify.ReasonExpired:
			st = i.st.expired
		default:
			st = i.st.invalidToken
		}
		i.decide(ctx, r, ev, err)
		return nil, st.Err()
	}

	switch r.action {
	case actionRequire:
		if err := r.req.Check(p); err != nil {
			var required, missing []string
			var je *jwtverify.Error
			if errors.As(err, &je) {
				required, missing = je.Required, je.Missing
			} else {
				required = r.req.Scopes()
			}
			i.decide(ctx, r, jwtverify.DecisionEvent{
				Result: jwtverify.DecisionForbidden, Reason: jwtverify.ReasonInsufficientScope,
				Issuer: p.IssuerName(), ClientID: p.ClientID(), Missing: missing,
			}, err)
			return nil, i.st.forbidden(required, missing).Err()
		}
	default: // actionDeny
		i.decide(ctx, r, jwtverify.DecisionEvent{
			Result: jwtverify.DecisionForbidden, Reason: jwtverify.ReasonInsufficientScope,
			Issuer: p.IssuerName(), ClientID: p.ClientID(),
		}, errDeniedByPolicy)
		return nil, i.st.denied.Err()
	}

	if i.obs != nil || i.log != nil {
		i.decide(ctx, r, jwtverify.DecisionEvent{
			Result: jwtverify.DecisionAllowed, Issuer: p.IssuerName(), ClientID: p.ClientID(),
		}, nil)
	}
	return jwtverify.NewContext(ctx, p), nil
}

var errDeniedByPolicy = errors.New("grpcauth: method denied by policy")

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
		return "", s.missing, jwtverify.DecisionEvent{Result: jwtverify.DecisionUnauthenticated}
	default:
		return "", s.invalidRequest, jwtverify.DecisionEvent{Result: jwtverify.DecisionInvalidRequest, Reason: jwtverify.ReasonMalformed}
	}
}

// decide reports a decision to the observer and the logger.
func (i *Interceptor) decide(ctx context.Context, r *rule, ev jwtverify.DecisionEvent, cause error) {
	ev.Transport = Transport
	if i.obs != nil {
		i.obs.ObserveDecision(ev)
	}
	if i.log == nil {
		return
	}
	level := slog.LevelInfo
	switch ev.Result {
	case jwtverify.DecisionAllowed, jwtverify.DecisionSkipped:
		level = slog.LevelDebug
	case jwtverify.DecisionUnavailable:
		level = slog.LevelWarn
	}
	if !i.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs,
		slog.String("transport", Transport),
		slog.String("rule", r.pattern),
		slog.String("result", ev.Result),
	)
	if ev.Reason != "" {
		attrs = append(attrs, slog.String("reason", string(ev.Reason)))
	}
	if ev.Issuer != "" {
		attrs = append(attrs, slog.String("issuer", ev.Issuer))
	}
	if ev.ClientID != "" {
		attrs = append(attrs, slog.String("client_id", ev.ClientID))
	}
	if len(ev.Missing) > 0 {
		attrs = append(attrs, slog.Any("missing", ev.Missing))
	}
	var verr *jwtverify.Error
	if cause != nil && !errors.As(cause, &verr) {
		// Our own fixed texts (policy denial, malformed credentials). A
		// *jwtverify.Error is summed up by reason and issuer above: its
		// message may quote values the caller chose (kid, iss, aud, typ),
		// and nothing attacker-controlled goes to the logs.
		attrs = append(attrs, slog.String("error", cause.Error()))
	}
	i.log.LogAttrs(ctx, level, "grpcauth: "+ev.Result, attrs...)
}

// serverStream hands the handler the context carrying the Principal.
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the authorized context.
func (s *serverStream) Context() context.Context { return s.ctx }
