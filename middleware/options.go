package middleware

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// Option configures New (and NewAuthenticator, and the Echo adapter, which
// take the same options). Options are applied in order; a later option of
// the same kind replaces an earlier one, except WithObserver (and the
// deprecated WithLogger) and WithExemptPaths, which add up.
type Option func(*config)

// Defaults.
const (
	// DefaultRealm is the realm of the challenges when WithRealm is not
	// given.
	DefaultRealm = "api"
	// DefaultMaxFormBytes bounds the request body read when the form-body
	// token method is on.
	DefaultMaxFormBytes = 64 << 10
	// DefaultRetryAfter is the Retry-After of a 503 answer.
	DefaultRetryAfter = 30 * time.Second
	// maxRealmLen bounds the realm.
	maxRealmLen = 256
)

type config struct {
	realm        string
	skipper      func(*http.Request) bool
	exempt       map[string]struct{}
	preflight    bool
	queryToken   bool
	formToken    bool
	maxFormBytes int64
	errorHandler ErrorHandler
	extractor    TokenExtractor
	observers    []jwtverify.DecisionObserver
	mux          *http.ServeMux
	metadata     *ResourceMetadata
	retryAfter   time.Duration
	certs        *binding.CertSource
	dpop         *dpop.Checker
	errs         []error
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("middleware: "+format, args...))
}

// WithRealm sets the realm of every challenge (default DefaultRealm). It
// must be printable ASCII, at most 256 bytes; quotes and backslashes are
// escaped in the header.
func WithRealm(realm string) Option {
	return func(c *config) {
		if realm == "" || len(realm) > maxRealmLen {
			c.fail("realm must be 1 to %d bytes", maxRealmLen)
			return
		}
		for i := 0; i < len(realm); i++ {
			if realm[i] < 0x20 || realm[i] > 0x7e {
				c.fail("realm must be printable ASCII")
				return
			}
		}
		c.realm = realm
	}
}

// WithSkipper lets requests for which skip returns true through without
// authentication and without a Principal (health checks, public pages).
// skip runs before anything else on every request and must be fast and safe
// for concurrent use. Require does not consult it: a route that states a
// requirement always demands a token.
func WithSkipper(skip func(r *http.Request) bool) Option {
	return func(c *config) {
		if skip == nil {
			c.fail("WithSkipper: nil function")
			return
		}
		c.skipper = skip
	}
}

// WithExemptPaths lets requests whose path is exactly one of paths through
// without authentication (like WithSkipper). The match is exact and
// case-sensitive on the decoded path, and a request whose escaped path
// differs from the decoded one (for example "/health%2F..") is never
// exempt, so a router that routes on the escaped path cannot be steered to
// another handler. Each path must start with "/".
func WithExemptPaths(paths ...string) Option {
	return func(c *config) {
		for _, p := range paths {
			if !strings.HasPrefix(p, "/") {
				c.fail("exempt path %q must start with /", p)
				continue
			}
			if c.exempt == nil {
				c.exempt = make(map[string]struct{}, len(paths))
			}
			c.exempt[p] = struct{}{}
		}
	}
}

// AllowCORSPreflight lets CORS preflight requests through without
// authentication: OPTIONS requests that carry both Origin and
// Access-Control-Request-Method (browsers never send credentials on a
// preflight, so requiring a token would break CORS). Put a CORS handler
// after the middleware to answer them. Require lets them through too.
func AllowCORSPreflight() Option {
	return func(c *config) { c.preflight = true }
}

// AllowQueryToken turns on the URI query parameter method of RFC 6750
// section 2.3 ("?access_token="). Off by default: URLs end up in logs,
// browser history and Referer headers. Even when off, a request carrying a
// token in the Authorization header and an access_token query parameter is
// refused as invalid_request; a query token alone is then ignored (401 with a
// bare challenge). The middleware never logs the query.
func AllowQueryToken() Option {
	return func(c *config) { c.queryToken = true }
}

// AllowFormToken turns on the form-encoded body parameter method of RFC
// 6750 section 2.2. Off by default; when off, request bodies are never read.
// When on, the body is read only for POST requests with Content-Type
// application/x-www-form-urlencoded, at most WithMaxFormBytes bytes (default
// DefaultMaxFormBytes), and given back intact to the next handler. A larger
// body is not searched for a token.
func AllowFormToken() Option {
	return func(c *config) { c.formToken = true }
}

// WithMaxFormBytes bounds the body read by AllowFormToken (default
// DefaultMaxFormBytes).
func WithMaxFormBytes(n int64) Option {
	return func(c *config) {
		if n <= 0 {
			c.fail("WithMaxFormBytes: %d must be positive", n)
			return
		}
		c.maxFormBytes = n
	}
}

// WithErrorHandler replaces the default answer (WriteError) of every
// refused request. The handler receives the complete Outcome, including the
// WWW-Authenticate value it should send.
func WithErrorHandler(h ErrorHandler) Option {
	return func(c *config) {
		if h == nil {
			c.fail("WithErrorHandler: nil handler")
			return
		}
		c.errorHandler = h
	}
}

// WithTokenExtractor replaces the default token extraction (Authorization
// header, plus the query and form methods when allowed) by e.
func WithTokenExtractor(e TokenExtractor) Option {
	return func(c *config) {
		if e == nil {
			c.fail("WithTokenExtractor: nil extractor")
			return
		}
		c.extractor = e
	}
}

// WithObserver sends one jwtverify.DecisionEvent per decision to o (see
// Authenticator for which decisions are reported). Several observers add
// up, in order: metrics and logs are two observers of the same decisions.
// A jwtverify.ContextDecisionObserver (otelauth's) gets the request's
// context, r.Context(), with each event.
//
//	lg := authlog.New(logger, authlog.Options{})
//	mw, err := middleware.New(v, middleware.WithObserver(m), middleware.WithObserver(lg))
func WithObserver(o jwtverify.DecisionObserver) Option {
	return func(c *config) {
		if o == nil {
			c.fail("WithObserver: nil observer")
			return
		}
		c.observers = append(c.observers, o)
	}
}

// WithLogger logs refused requests to l through authlog.
//
// Deprecated: use WithObserver(authlog.New(l, authlog.Options{})), the one
// logging wiring of every adapter (it can then be closed, which writes the
// counts of suppressed records). WithLogger is exactly that, with a Logger
// nobody closes.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l == nil {
			c.fail("WithLogger: nil logger")
			return
		}
		c.observers = append(c.observers, authlog.New(l, authlog.Options{}))
	}
}

// WithServeMux names the route of the decisions Handler makes in front of
// mux: the pattern mux itself picks for the request (mux.Handler), which
// comes from mux's configuration, never from the request. Without it,
// those decisions name the route jwtverify.RouteUnknown (Request.Pattern is
// only set once a ServeMux routed the request). mux must be the ServeMux
// Handler wraps. Each decision Handler reports to an observer then costs
// one more route lookup (BenchmarkObservedRoute: about 0.9 µs and one
// allocation for a wildcard pattern on a 2-core machine); decisions made by
// Require wrappers need no option (the ServeMux set Request.Pattern before
// calling them).
//
//	mw, err := middleware.New(v, middleware.WithObserver(lg), middleware.WithServeMux(mux))
//	http.ListenAndServe(addr, mw.Handler(mux))
func WithServeMux(mux *http.ServeMux) Option {
	return func(c *config) {
		if mux == nil {
			c.fail("WithServeMux: nil ServeMux")
			return
		}
		c.mux = mux
	}
}

// WithResourceMetadata publishes RFC 9728 protected resource metadata:
// Authenticator.MetadataHandler serves the document, requests for
// MetadataPath are let through without a token, and every challenge carries
// resource_metadata="<its URL>".
func WithResourceMetadata(md ResourceMetadata) Option {
	return func(c *config) {
		md.AuthorizationServers = append([]string(nil), md.AuthorizationServers...)
		md.ScopesSupported = append([]string(nil), md.ScopesSupported...)
		c.metadata = &md
	}
}

// WithRetryAfter sets the Retry-After of the 503 answer sent when no
// usable key set exists, or an introspection endpoint cannot answer
// (default DefaultRetryAfter, rounded up to seconds). A spent
// introspection budget answers with its own estimate instead
// (jwtverify.Error.RetryAfter).
func WithRetryAfter(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.fail("WithRetryAfter: %v must be positive", d)
			return
		}
		c.retryAfter = d
	}
}

// WithCertSource sets where the client certificate of a request comes
// from, for certificate-bound tokens (RFC 8705; jwtverify.IssuerConfig's
// Binding): the TLS connection (the default, built when an issuer's binding
// policy is not binding.Off) or, with a binding.CertSource configured with
// binding.Forwarding, one header set by a TLS-terminating proxy. See
// WithForwardedClientCert and the package documentation.
func WithCertSource(src *binding.CertSource) Option {
	return func(c *config) {
		if src == nil {
			c.fail("WithCertSource: nil CertSource")
			return
		}
		c.certs = src
	}
}

// WithForwardedClientCert reads the client certificate of certificate-bound
// tokens from the one header a TLS-terminating proxy in front of the API
// sets (binding.Forwarding: format, header, size bound), instead of from the
// connection.
//
// SECURITY: the proxy MUST remove every copy of that header a client sends
// and set it only from the certificate of the TLS connection it
// terminated, and the API MUST be reachable only through the proxy;
// otherwise any client can claim any certificate. Without this option the
// header is ignored, never trusted.
func WithForwardedClientCert(f binding.Forwarding) Option {
	return func(c *config) {
		src, err := binding.NewCertSource(binding.CertSourceConfig{Forwarding: &f})
		if err != nil {
			c.fail("WithForwardedClientCert: %v", err)
			return
		}
		c.certs = src
	}
}

// WithDPoP accepts DPoP-bound access tokens (RFC 9449) with the DPoP
// authorization scheme beside Bearer, their proofs checked by c (build it
// with dpop.New: algorithms, public origins, replay store, optional
// server nonces). Each issuer's Binding policy decides what it accepts:
//
//   - a DPoP-bound token (cnf.jkt) with the Bearer scheme is refused
//     (section 7.2);
//   - an unbound token with the Bearer scheme is a bearer token (under
//     binding.Optional); a DPoP header beside it is not even parsed;
//   - an unbound token with the DPoP scheme is refused (invalid_token):
//     nothing ties it to the proof;
//   - with the DPoP scheme the proof is checked (c.Check), then the token,
//     bound to the proof's key (Verifier.VerifyBound), then the proof's
//     jti is recorded (c.Commit): a replay is refused, a store that
//     cannot record answers 503 with Retry-After.
//
// A refusal of a DPoP request answers `WWW-Authenticate: DPoP algs="...",
// error="invalid_dpop_proof"` (or invalid_token, or use_dpop_nonce with a
// DPoP-Nonce header) with a fixed description; a 401 without credentials
// names both schemes. With server nonces an allowed DPoP request's answer
// carries a fresh DPoP-Nonce (section 8.2). New fails when no issuer of
// the verifier accepts DPoP-bound tokens, and when WithTokenExtractor is
// given too (a custom extractor only finds bearer tokens).
func WithDPoP(c *dpop.Checker) Option {
	return func(cfg *config) {
		if c == nil {
			cfg.fail("WithDPoP: nil Checker")
			return
		}
		cfg.dpop = c
	}
}

func buildConfig(opts []Option) (config, error) {
	c := config{
		realm:        DefaultRealm,
		maxFormBytes: DefaultMaxFormBytes,
		retryAfter:   DefaultRetryAfter,
	}
	for _, o := range opts {
		if o == nil {
			c.fail("nil Option")
			continue
		}
		o(&c)
	}
	return c, errors.Join(c.errs...)
}
