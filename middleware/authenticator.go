package middleware

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/bearer"
	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// Fixed client-facing descriptions of the answers the Authenticator writes
// itself (token problems use jwtverify's Reason.Description).
const (
	descNoCredentials  = "Bearer authentication is required"
	descNoCredentialsD = "Bearer or DPoP authentication is required"
	descInvalidRequest = "The request carries malformed or ambiguous bearer credentials"
	descUnavailable    = "Authentication is temporarily unavailable; retry later"
)

var errNilPrincipal = &extractError{"middleware: the verifier returned neither a Principal nor an error", jwtverify.ErrMalformed}

// Authenticator is the transport-neutral decision shared by the net/http
// middleware and the Echo adapter: it extracts the token, verifies it,
// checks a route's requirement and describes the answer as an Outcome, but
// writes nothing. Adapters copy the Outcome onto their transport, so every
// adapter answers the same inputs the same way. Safe for concurrent use.
//
// Decisions reported to the observers: Authenticate reports each of its
// decisions (skipped, allowed or the refusal); Authorize reports its own
// decision when it authenticated the request itself, and only a refusal when
// it found the Principal that Authenticate stored, so a request that passes
// both is counted once as allowed (a CORS preflight it lets through is not
// reported either).
type Authenticator struct {
	v         *jwtverify.Verifier
	transport string
	cfg       config
	observer  jwtverify.DecisionObserver
	// ctxObserver is observer when it is a ContextDecisionObserver.
	ctxObserver jwtverify.ContextDecisionObserver

	realmParam     string // `Bearer realm="..."`
	suffix         string // `, resource_metadata="..."` or ""
	bare           string // bare challenge
	invalidRequest string // invalid_request challenge
	unavailableRA  int    // Retry-After seconds
	descMissing    string // description of the no-credentials answer

	// The challenge lists built once (shared by every Outcome that
	// carries them): without WithDPoP one Bearer challenge each; with it
	// the challenge of the scheme used, then the other scheme's bare one.
	bareChallenges    []string // no credentials: Bearer and DPoP
	invalidRequestChs []string // malformed Bearer credentials

	// dpop is WithDPoP's state; nil without the option.
	dpop *dpopState

	// certs finds the client certificate of certificate-bound tokens;
	// nil when no issuer binds tokens and WithCertSource was not given
	// (then plain Verify runs, which refuses every bound token).
	certs *binding.CertSource

	meta *metadataDoc
}

// NewAuthenticator builds the shared decision for an adapter. transport
// names the adapter in DecisionEvents ("http", "echo", ...). Most users call
// New (net/http) or echoauth.New instead.
func NewAuthenticator(v *jwtverify.Verifier, transport string, opts ...Option) (*Authenticator, error) {
	if v == nil {
		return nil, errors.New("middleware: nil Verifier")
	}
	if transport == "" {
		return nil, errors.New("middleware: empty transport name")
	}
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	a := &Authenticator{v: v, transport: transport, cfg: cfg, certs: cfg.certs}
	if a.certs == nil && bindsTokens(v) {
		if a.certs, err = binding.NewCertSource(binding.CertSourceConfig{}); err != nil {
			return nil, err
		}
	}
	switch len(cfg.observers) {
	case 0:
	case 1:
		a.observer = cfg.observers[0]
	default:
		a.observer = jwtverify.MultiDecisionObserver(cfg.observers...)
	}
	a.ctxObserver, _ = a.observer.(jwtverify.ContextDecisionObserver)
	if cfg.metadata != nil {
		a.meta, err = buildMetadata(v, cfg)
		if err != nil {
			return nil, err
		}
		a.suffix = ", resource_metadata=" + quote(a.meta.url)
	}
	a.realmParam = "Bearer realm=" + quote(cfg.realm)
	a.bare = a.realmParam + a.suffix
	a.invalidRequest = a.challenge(jwtverify.CodeInvalidRequest, descInvalidRequest, "")
	a.unavailableRA = int((cfg.retryAfter + 999_999_999) / 1_000_000_000)
	a.descMissing = descNoCredentials
	a.bareChallenges = []string{a.bare}
	a.invalidRequestChs = []string{a.invalidRequest}
	if cfg.dpop != nil {
		if err := a.initDPoP(cfg.dpop); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Realm returns the realm of the challenges.
func (a *Authenticator) Realm() string { return a.cfg.realm }

// Transport returns the transport name given to NewAuthenticator.
func (a *Authenticator) Transport() string { return a.transport }

// Authenticate decides whether r proceeds: skipped (exempt path, skipper,
// CORS preflight, the metadata document) with no Principal, allowed with the
// verified Principal, or refused with the answer to send. Its decision
// events name the route r.Pattern (set by a ServeMux, or chi, that routed
// r), else the pattern the ServeMux given by WithServeMux would pick, else
// jwtverify.RouteUnknown.
func (a *Authenticator) Authenticate(r *http.Request) Outcome {
	return a.authenticateAt(r, "")
}

// AuthenticateRoute is Authenticate for an adapter that knows the route r
// matched, such as Echo's c.Path(). route is reported as
// jwtverify.DecisionEvent.Route: it must come from the router's
// configuration (a registered pattern), never from the request; "" means
// jwtverify.RouteUnknown.
func (a *Authenticator) AuthenticateRoute(r *http.Request, route string) Outcome {
	return a.authenticateAt(r, orUnknown(route))
}

func (a *Authenticator) authenticateAt(r *http.Request, route string) Outcome {
	if a.skip(r) {
		o := Outcome{Result: jwtverify.DecisionSkipped}
		a.observe(&o, r, route)
		return o
	}
	o := a.authenticate(r)
	a.observe(&o, r, route)
	return o
}

// Authorize decides whether r meets req. It uses the Principal that
// Authenticate's adapter stored in the request context and, when there is
// none, authenticates r itself (ignoring exempt paths and the skipper: a
// route with a requirement always demands a token; only CORS preflights
// pass when allowed). A verified caller lacking a permission gets 403
// insufficient_scope with scope="<every permission req names>". Its
// decision events name the route r.Pattern (the pattern under which the
// ServeMux, or chi, routed r to the Require wrapper), else
// jwtverify.RouteUnknown.
func (a *Authenticator) Authorize(r *http.Request, req jwtverify.Requirement) Outcome {
	return a.authorizeAt(r, req, orUnknown(r.Pattern))
}

// AuthorizeRoute is Authorize for an adapter that knows the route r
// matched (see AuthenticateRoute; "" means jwtverify.RouteUnknown).
func (a *Authenticator) AuthorizeRoute(r *http.Request, req jwtverify.Requirement, route string) Outcome {
	return a.authorizeAt(r, req, orUnknown(route))
}

func (a *Authenticator) authorizeAt(r *http.Request, req jwtverify.Requirement, route string) Outcome {
	if a.cfg.preflight && isPreflight(r) {
		// Not reported: Authenticate, when in front, already reported it.
		return Outcome{Result: jwtverify.DecisionSkipped}
	}
	p, stored := jwtverify.FromContext(r.Context())
	if stored && !a.v.Issued(p) {
		// Another Verifier's Principal (another API mounted in front, with
		// other audiences or clients) or one put there by other code: it
		// proves nothing about this verifier's policy.
		stored = false
	}
	if !stored {
		o := a.authenticate(r)
		if o.Result != jwtverify.DecisionAllowed {
			a.observe(&o, r, route)
			return o
		}
		p = o.Principal
	}
	if err := req.Check(p); err != nil {
		o := a.forbidden(r, p, err, req)
		a.observe(&o, r, route)
		return o
	}
	o := Outcome{Result: jwtverify.DecisionAllowed, Principal: p}
	if !stored {
		a.observe(&o, r, route)
	}
	return o
}

func orUnknown(route string) string {
	if route == "" {
		return jwtverify.RouteUnknown
	}
	return route
}

// routeOf names the route of a decision Authenticate made: the pattern a
// router set on r, or the one the ServeMux of WithServeMux picks for r.
// Both come from the router's configuration, never from the request.
func (a *Authenticator) routeOf(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	// ServeMux.Handler names the redirect target of a CONNECT request
	// (built from the request path) where other methods get a pattern:
	// never ask it for one.
	if a.cfg.mux != nil && r.Method != http.MethodConnect {
		if _, p := a.cfg.mux.Handler(r); p != "" {
			return p
		}
	}
	return jwtverify.RouteUnknown
}

// ServeError answers a refused request with the configured ErrorHandler,
// or WriteError.
func (a *Authenticator) ServeError(w http.ResponseWriter, r *http.Request, o Outcome) {
	if a.cfg.errorHandler != nil {
		a.cfg.errorHandler.ServeAuthError(w, r, o)
		return
	}
	WriteError(w, o)
}

// HasErrorHandler reports whether WithErrorHandler was given (adapters with
// their own error path, like Echo, use it to choose).
func (a *Authenticator) HasErrorHandler() bool { return a.cfg.errorHandler != nil }

// WithPrincipal returns r carrying o's Principal in its context, or r itself
// when there is none or it is already there.
func WithPrincipal(r *http.Request, o Outcome) *http.Request {
	if o.Principal == nil {
		return r
	}
	if p, ok := jwtverify.FromContext(r.Context()); ok && p == o.Principal {
		return r
	}
	return r.WithContext(jwtverify.NewContext(r.Context(), o.Principal))
}

func (a *Authenticator) skip(r *http.Request) bool {
	if a.cfg.preflight && isPreflight(r) {
		return true
	}
	if a.cfg.exempt != nil && a.exemptPath(r) {
		return true
	}
	if a.meta != nil && r.URL.Path == a.meta.path && r.URL.RawPath == "" &&
		(r.Method == http.MethodGet || r.Method == http.MethodHead) {
		return true
	}
	return a.cfg.skipper != nil && a.cfg.skipper(r)
}

func (a *Authenticator) exemptPath(r *http.Request) bool {
	if _, ok := a.cfg.exempt[r.URL.Path]; !ok {
		return false
	}
	// An escaped form that differs from the decoded path ("/health%2F..")
	// may be routed differently: never exempt it.
	return r.URL.RawPath == "" || r.URL.RawPath == r.URL.Path
}

func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions &&
		len(r.Header["Access-Control-Request-Method"]) > 0 &&
		len(r.Header["Origin"]) > 0
}

func (a *Authenticator) authenticate(r *http.Request) Outcome {
	var (
		tok     string
		checked bool
		err     error
	)
	if a.dpop != nil { // never with a custom extractor (initDPoP)
		if vals := r.Header["Authorization"]; len(vals) == 1 && bearer.IsDPoPScheme(vals[0]) {
			return a.authenticateDPoP(r, vals[0])
		}
	}
	if a.cfg.extractor != nil {
		tok, err = a.cfg.extractor.ExtractToken(r)
		checked = true
		if err == nil && tok == "" {
			err = bearer.ErrNoCredentials
		}
	} else {
		tok, checked, err = a.extract(r)
	}
	if err != nil {
		if errors.Is(err, bearer.ErrNoCredentials) {
			return Outcome{
				Result: jwtverify.DecisionUnauthenticated, Err: err,
				Status: http.StatusUnauthorized, Description: a.descMissing, Challenges: a.bareChallenges,
			}
		}
		return a.invalid(err)
	}
	var p *jwtverify.Principal
	if a.certs != nil {
		p, err = a.v.VerifyBound(r.Context(), tok, a.certs.ProofFromRequest(r))
	} else {
		p, err = a.v.Verify(r.Context(), tok)
	}
	if err == nil {
		if p == nil { // fail closed on a broken verifier contract
			return a.rejected(errNilPrincipal)
		}
		return Outcome{Result: jwtverify.DecisionAllowed, Principal: p}
	}
	if !checked && !bearer.IsB64Token(tok) {
		// The header token was never scanned (see extract): whitespace, a
		// second word or a forbidden byte is a malformed request.
		return a.invalid(errTokenChars)
	}
	return a.rejected(err)
}

// retryAfter is the Retry-After seconds of a 503: the verifier's own
// estimate when it has one (an introspection budget's refill), rounded up,
// else the configured default.
func (a *Authenticator) retryAfter(err error) int {
	var e *jwtverify.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return int((e.RetryAfter + time.Second - 1) / time.Second)
	}
	return a.unavailableRA
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

func (a *Authenticator) invalid(err error) Outcome {
	return Outcome{
		Result: jwtverify.DecisionInvalidRequest, Reason: jwtverify.ReasonMalformed, Err: err,
		Status: http.StatusBadRequest, Code: jwtverify.CodeInvalidRequest,
		Description: descInvalidRequest, Challenges: a.invalidRequestChs,
	}
}

// rejected maps a Verify error. Anything that is not a server condition is
// invalid_token: an unknown reason fails closed as a bad token.
func (a *Authenticator) rejected(err error) Outcome {
	reason := jwtverify.ReasonOf(err)
	if reason.Unavailable() {
		return Outcome{
			Result: jwtverify.DecisionUnavailable, Reason: reason, Err: err,
			Status: http.StatusServiceUnavailable, Description: descUnavailable,
			RetryAfter: a.retryAfter(err),
		}
	}
	if reason.Code() == jwtverify.CodeInsufficientScope {
		return a.forbidden(nil, nil, err, jwtverify.Requirement{})
	}
	desc := reason.Description()
	return Outcome{
		Result: jwtverify.DecisionUnauthenticated, Reason: reason, Err: err,
		Status: http.StatusUnauthorized, Code: jwtverify.CodeInvalidToken, Description: desc,
		Challenges: a.withOther(a.challenge(jwtverify.CodeInvalidToken, desc, "")),
	}
}

// withOther returns the challenge list of a Bearer refusal: ch, then the
// bare DPoP challenge when WithDPoP accepts that scheme too.
func (a *Authenticator) withOther(ch string) []string {
	if a.dpop == nil {
		return []string{ch}
	}
	return []string{ch, a.dpop.bare}
}

func (a *Authenticator) forbidden(r *http.Request, p *jwtverify.Principal, err error, req jwtverify.Requirement) Outcome {
	desc := jwtverify.ReasonInsufficientScope.Description()
	scope := strings.Join(req.Scopes(), " ")
	var ch string
	if a.usedDPoP(r) {
		ch = a.dpop.challenge(jwtverify.CodeInsufficientScope, desc, scope)
	} else {
		ch = a.challenge(jwtverify.CodeInsufficientScope, desc, scope)
	}
	return Outcome{
		Result: jwtverify.DecisionForbidden, Reason: jwtverify.ReasonInsufficientScope,
		Principal: p, Err: err,
		Status: http.StatusForbidden, Code: jwtverify.CodeInsufficientScope, Description: desc,
		Challenges: []string{ch},
	}
}

// challenge builds `Bearer realm="..", error="..", error_description=".."
// [, scope=".."][, resource_metadata=".."]`.
func (a *Authenticator) challenge(code, desc, scope string) string {
	return buildChallenge(a.realmParam, code, desc, scope, a.suffix)
}

// buildChallenge builds `<prefix>, error="<code>"[, error_description=".."]
// [, scope=".."]<suffix>` for either scheme (prefix `Bearer realm=".."` or
// `DPoP algs=".."`; suffix the resource_metadata parameter or "").
func buildChallenge(prefix, code, desc, scope, suffix string) string {
	var b strings.Builder
	b.Grow(len(prefix) + len(code) + len(desc) + len(scope) + len(suffix) + 48)
	b.WriteString(prefix)
	b.WriteString(`, error="`)
	b.WriteString(code)
	b.WriteString(`"`)
	if desc != "" {
		b.WriteString(", error_description=")
		b.WriteString(quote(desc))
	}
	if scope != "" {
		b.WriteString(", scope=")
		b.WriteString(quote(scope))
	}
	b.WriteString(suffix)
	return b.String()
}

// observe reports o, with r's context to a ContextDecisionObserver. route
// is "" when Authenticate made the decision
// without being told the route (it is then looked up, only when someone
// observes).
func (a *Authenticator) observe(o *Outcome, r *http.Request, route string) {
	if a.observer == nil {
		return
	}
	if route == "" {
		route = a.routeOf(r)
	}
	ev := jwtverify.DecisionEvent{Transport: a.transport, Result: o.Result, Reason: o.Reason, Route: route}
	if o.Principal != nil {
		ev.Issuer = o.Principal.IssuerName()
		ev.ClientID = o.Principal.ClientID()
	}
	if o.Err != nil {
		var ve *jwtverify.Error
		if errors.As(o.Err, &ve) {
			if ev.Issuer == "" {
				ev.Issuer = ve.Issuer
			}
			ev.Rule = ve.Rule
			ev.Missing = ve.Missing
		}
	}
	if ev.Issuer == "" {
		ev.Issuer = jwtverify.NoIssuer
	}
	if a.ctxObserver != nil {
		a.ctxObserver.ObserveDecisionContext(r.Context(), ev)
		return
	}
	a.observer.ObserveDecision(ev)
}

// quote returns s as an HTTP quoted-string: quotes and backslashes are
// escaped, control bytes (which never come from configuration that passed
// New) are replaced by "?".
func quote(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' || c < 0x20 || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return `"` + s + `"`
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
