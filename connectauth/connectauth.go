package connectauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/bearer"
	"github.com/m2mauth/m2mauth/internal/rpcpolicy"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
)

// Transport is the DecisionEvent.Transport of this adapter.
const Transport = "connect"

// Domain is the errdetails.ErrorInfo domain of every refusal, the one
// grpcauth uses.
const Domain = "m2mauth"

// ErrorInfo reasons, the same as grpcauth's: every refusal carries one
// errdetails.ErrorInfo with Domain and one of these.
const (
	// InfoMissingToken: no bearer credentials. Code unauthenticated.
	InfoMissingToken = "MISSING_TOKEN"
	// InfoInvalidRequest: malformed or several Authorization values. Code
	// unauthenticated.
	InfoInvalidRequest = "INVALID_REQUEST"
	// InfoInvalidToken: the token failed verification. Code
	// unauthenticated.
	InfoInvalidToken = "INVALID_TOKEN"
	// InfoTokenExpired: the token expired (also when it expires during a
	// stream). Code unauthenticated.
	InfoTokenExpired = "TOKEN_EXPIRED"
	// InfoInsufficientScope: a valid token lacking a permission, or a
	// procedure the policy denies. Code permission_denied.
	InfoInsufficientScope = "INSUFFICIENT_SCOPE"
	// InfoKeysUnavailable: no usable key set. Code unavailable.
	InfoKeysUnavailable = "KEYS_UNAVAILABLE"
	// InfoIntrospectionUnavailable: an opaque token's introspection cannot
	// decide now (endpoint down, budget spent). Code unavailable.
	InfoIntrospectionUnavailable = "INTROSPECTION_UNAVAILABLE"
	// InfoDPoPUnsupported: the call uses the DPoP authorization scheme
	// (RFC 9449), which Connect procedures do not accept (as grpcauth):
	// use a bearer or certificate-bound token. Code unauthenticated; the
	// decision's reason is dpop_proof, its rule RuleDPoPUnsupported.
	InfoDPoPUnsupported = "DPOP_UNSUPPORTED"
)

// RuleDPoPUnsupported is the DecisionEvent.Rule of a call refused with
// InfoDPoPUnsupported (grpcauth's value).
const RuleDPoPUnsupported = "dpop_unsupported"

const msgDPoP = "The DPoP scheme is not accepted by this procedure; use a certificate-bound or bearer token"

// ErrorInfo metadata keys, as in grpcauth.
const (
	// MetadataError holds the RFC 6750 error code when there is one.
	MetadataError = "error"
	// MetadataScope holds the permissions the procedure requires, space
	// separated, on InfoInsufficientScope.
	MetadataScope = "scope"
	// MetadataMissing holds the required permissions the token lacks.
	MetadataMissing = "missing"
)

// ErrNilVerifier is returned by New when the verifier is nil.
var ErrNilVerifier = errors.New("connectauth: nil verifier")

// Interceptor is a connect.Interceptor (unary and streaming handlers) that
// authenticates calls with a jwtverify.Verifier and authorizes them with a
// Policy. Immutable and safe for concurrent use; build it with New.
type Interceptor struct {
	a      *middleware.Authenticator
	policy *compiled
	obs    jwtverify.DecisionObserver
	deny   jwtverify.Requirement
}

// Option configures an Interceptor.
type Option func(*options)

type options struct {
	realm string
	obs   []jwtverify.DecisionObserver
}

// WithRealm sets the realm of the WWW-Authenticate challenges (default
// middleware.DefaultRealm).
func WithRealm(realm string) Option { return func(o *options) { o.realm = realm } }

// WithObserver sends one jwtverify.DecisionEvent (Transport "connect") per
// call to obs. Several add up.
func WithObserver(obs jwtverify.DecisionObserver) Option {
	return func(o *options) { o.obs = append(o.obs, obs) }
}

// WithLogger logs refusals with their precise reason.
//
// Deprecated: use WithObserver(authlog.New(l, authlog.Options{})), the one
// logging wiring of every adapter; WithLogger is exactly that.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.obs = append(o.obs, authlog.New(l, authlog.Options{}))
		}
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
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	var mopts []middleware.Option
	if o.realm != "" {
		mopts = append(mopts, middleware.WithRealm(o.realm))
	}
	for _, obs := range o.obs {
		mopts = append(mopts, middleware.WithObserver(obs))
	}
	a, err := middleware.NewAuthenticator(v, Transport, mopts...)
	if err != nil {
		return nil, err
	}
	i := &Interceptor{a: a, policy: c, deny: jwtverify.RequireAny()}
	switch len(o.obs) {
	case 0:
	case 1:
		i.obs = o.obs[0]
	default:
		i.obs = jwtverify.MultiDecisionObserver(o.obs...)
	}
	return i, nil
}

// CheckProcedures reports the policy patterns that match none of
// procedures (the procedures the server registers, such as the generated
// FooServiceBarProcedure constants): a typo in a pattern would otherwise
// leave the procedure it meant to the default rule. The standard health
// and reflection patterns are not reported. Call it at start-up.
func (i *Interceptor) CheckProcedures(procedures ...string) error {
	var errs []error
	for _, r := range i.policy.Rules {
		p := r.Pattern
		if rpcpolicy.IsStandard(p) {
			continue
		}
		svc, wildcard := strings.CutSuffix(p, "*")
		if !slices.ContainsFunc(procedures, func(proc string) bool {
			return proc == p || (wildcard && strings.HasPrefix(proc, svc) && !strings.Contains(proc[len(svc):], "/"))
		}) {
			errs = append(errs, &PolicyError{Pattern: p, Field: r.Field, Detail: "matches no registered procedure", Err: ErrUnknownProcedure})
		}
	}
	return errors.Join(errs...)
}

// ErrUnknownProcedure: a policy pattern matches no registered procedure
// (CheckProcedures).
var ErrUnknownProcedure = errors.New("connectauth: pattern matches no procedure")

// WrapUnary implements connect.Interceptor for unary handlers. Clients
// pass through.
func (i *Interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		spec := req.Spec()
		if spec.IsClient {
			return next(ctx, req)
		}
		ctx, _, err := i.authorize(ctx, spec.Procedure, req.HTTPMethod(), req.Header())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements connect.Interceptor: clients pass through.
func (i *Interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements connect.Interceptor for streaming
// handlers. An authorized stream ends when its token expires
// (Principal.ValidUntil): the handler's context is cancelled then, Send and
// Receive fail, and the call ends unauthenticated with InfoTokenExpired.
func (i *Interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, p, err := i.authorize(ctx, conn.Spec().Procedure, http.MethodPost, conn.RequestHeader())
		if err != nil {
			return err
		}
		if p == nil { // public
			return next(ctx, conn)
		}
		until := p.ValidUntil()
		ctx, cancel := context.WithDeadline(ctx, until)
		defer cancel()
		err = next(ctx, &expiringConn{StreamingHandlerConn: conn, until: until, expired: i.expired})
		if !time.Now().Before(until) {
			return i.expired()
		}
		return err
	}
}

// expiringConn refuses to carry messages once the token expired.
type expiringConn struct {
	connect.StreamingHandlerConn
	until   time.Time
	expired func() *connect.Error
}

func (c *expiringConn) Receive(m any) error {
	if !time.Now().Before(c.until) {
		return c.expired()
	}
	return c.StreamingHandlerConn.Receive(m)
}

func (c *expiringConn) Send(m any) error {
	if !time.Now().Before(c.until) {
		return c.expired()
	}
	return c.StreamingHandlerConn.Send(m)
}

func (i *Interceptor) expired() *connect.Error {
	return newError(connect.CodeUnauthenticated, jwtverify.ReasonExpired.Description(), InfoTokenExpired,
		map[string]string{MetadataError: jwtverify.CodeInvalidToken})
}

// authorize applies the policy to a call of procedure: ctx itself for a
// public procedure, ctx with the Principal for an authorized call, or the
// *connect.Error to return.
func (i *Interceptor) authorize(ctx context.Context, procedure, method string, header http.Header) (context.Context, *jwtverify.Principal, error) {
	r := i.policy.Match(procedure)
	if r.Action == actionPublic {
		if i.obs != nil {
			jwtverify.ObserveDecisionContext(ctx, i.obs, jwtverify.DecisionEvent{Transport: Transport, Result: jwtverify.DecisionSkipped, Route: r.Pattern})
		}
		return ctx, nil, nil
	}
	req := r.Req
	if r.Action == actionDeny {
		req = i.deny // never satisfied: refused after authentication
	}
	// A DPoP credential is refused as such, not taken for a call without
	// credentials (there is no proof checker here).
	if vals := header.Values("Authorization"); len(vals) == 1 && bearer.IsDPoPScheme(vals[0]) {
		if i.obs != nil {
			jwtverify.ObserveDecisionContext(ctx, i.obs, jwtverify.DecisionEvent{Transport: Transport, Result: jwtverify.DecisionUnauthenticated,
				Reason: jwtverify.ReasonDPoPProof, Rule: RuleDPoPUnsupported, Route: r.Pattern, Issuer: jwtverify.NoIssuer})
		}
		return nil, nil, newError(connect.CodeUnauthenticated, msgDPoP, InfoDPoPUnsupported, map[string]string{MetadataError: jwtverify.CodeInvalidRequest})
	}
	// The Authenticator reads the Authorization header values with the
	// RFC 6750 rules of the HTTP adapters; Connect exposes no URL query,
	// so the query and form methods do not apply.
	hr := (&http.Request{Method: method, URL: &url.URL{Path: procedure}, Header: header}).WithContext(ctx)
	o := i.a.Authorize(hr, req)
	if !o.Proceed() {
		return nil, nil, toError(o)
	}
	if o.Principal == nil { // cannot happen: Authorize allows with a Principal
		return nil, nil, newError(connect.CodeUnauthenticated, "Bearer authentication is required", InfoMissingToken, nil)
	}
	if p, ok := jwtverify.FromContext(ctx); ok && p == o.Principal {
		return ctx, p, nil
	}
	return jwtverify.NewContext(ctx, o.Principal), o.Principal, nil
}

// toError maps a refusal onto Connect: the code, the fixed description as
// the message, an ErrorInfo like grpcauth's, and the WWW-Authenticate
// challenge (and Retry-After) as response headers.
func toError(o middleware.Outcome) *connect.Error {
	var (
		code = connect.CodeUnauthenticated
		info string
		md   map[string]string
	)
	if o.Code != "" {
		md = map[string]string{MetadataError: o.Code}
	}
	switch {
	case o.Status == http.StatusServiceUnavailable:
		code, info = connect.CodeUnavailable, InfoKeysUnavailable
		if o.Reason == jwtverify.ReasonIntrospectionUnavailable {
			info = InfoIntrospectionUnavailable
		}
	case o.Status == http.StatusForbidden:
		code, info = connect.CodePermissionDenied, InfoInsufficientScope
		var je *jwtverify.Error
		if errors.As(o.Err, &je) {
			if len(je.Required) > 0 {
				md[MetadataScope] = strings.Join(je.Required, " ")
			}
			if len(je.Missing) > 0 {
				md[MetadataMissing] = strings.Join(je.Missing, " ")
			}
		}
	case o.Status == http.StatusBadRequest:
		info = InfoInvalidRequest
	case o.Code == "":
		info = InfoMissingToken
	case o.Reason == jwtverify.ReasonExpired:
		info = InfoTokenExpired
	default:
		info = InfoInvalidToken
	}
	e := newError(code, o.Description, info, md)
	o.SetHeaders(e.Meta())
	return e
}

func newError(code connect.Code, msg, info string, md map[string]string) *connect.Error {
	e := connect.NewError(code, errors.New(msg))
	if d, err := connect.NewErrorDetail(&errdetails.ErrorInfo{Reason: info, Domain: Domain, Metadata: md}); err == nil {
		e.AddDetail(d)
	}
	return e
}

var _ connect.Interceptor = (*Interceptor)(nil)
