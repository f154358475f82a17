package adaptertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
)

// HTTPRoute is one route the adapter under test must serve.
type HTTPRoute struct {
	// Method is the HTTP method of the route; "" means any method.
	Method string
	// Path is a static path ("/api/orders"): no parameters, no wildcard.
	Path string
	// Require says whether the route is wrapped in the adapter's
	// per-route requirement (middleware.Middleware.Require and its
	// equivalents) for Requirement. Without it, the route only has what
	// HTTPSetup.Authenticate puts in front of every route.
	Require     bool
	Requirement jwtverify.Requirement
}

// HTTPSetup is what the kit asks an HTTP adapter to serve. An adapter
// built on middleware.Authenticator passes Options() to its constructor;
// another adapter maps the fields onto its own configuration, and calls
// t.Skip from its constructor for a field it does not support (the case
// is then reported as skipped, not passed).
type HTTPSetup struct {
	// Verifier verifies the tokens (the working one or the one without
	// usable keys).
	Verifier *jwtverify.Verifier
	// Observer must receive the adapter's decision events.
	Observer jwtverify.DecisionObserver
	// Realm is the realm of every challenge.
	Realm string
	// Authenticate: the adapter's authenticating middleware runs in front
	// of every route (Use, Handler). When false only the routes with
	// Require are protected, by their requirement alone.
	Authenticate bool
	// ExemptPaths are let through without authentication.
	ExemptPaths []string
	// AllowCORSPreflight, AllowQueryToken and AllowFormToken turn on the
	// options of the same names of package middleware.
	AllowCORSPreflight, AllowQueryToken, AllowFormToken bool
	// Skipper, when not nil, lets the requests it returns true for
	// through without authentication.
	Skipper func(r *http.Request) bool
	// Routes are the routes to serve. Each runs Respond with the
	// Principal the adapter's own accessor returns.
	Routes []HTTPRoute
	// DPoP, when not nil, turns on the DPoP scheme (RFC 9449) beside
	// Bearer with this proof checker (middleware.WithDPoP); Verifier then
	// accepts DPoP-bound tokens. An adapter without DPoP calls t.Skip.
	DPoP *dpop.Checker
}

// Options returns the package middleware options that express s: realm,
// exempt paths, skipper, CORS preflight, query and form token methods, and
// the observer.
func (s HTTPSetup) Options() []middleware.Option {
	opts := []middleware.Option{middleware.WithRealm(s.Realm), middleware.WithObserver(s.Observer)}
	if len(s.ExemptPaths) > 0 {
		opts = append(opts, middleware.WithExemptPaths(s.ExemptPaths...))
	}
	if s.Skipper != nil {
		opts = append(opts, middleware.WithSkipper(s.Skipper))
	}
	if s.AllowCORSPreflight {
		opts = append(opts, middleware.AllowCORSPreflight())
	}
	if s.AllowQueryToken {
		opts = append(opts, middleware.AllowQueryToken())
	}
	if s.AllowFormToken {
		opts = append(opts, middleware.AllowFormToken())
	}
	if s.DPoP != nil {
		opts = append(opts, middleware.WithDPoP(s.DPoP))
	}
	return opts
}

// Respond is the handler of every route: it must be called with the
// Principal the adapter's accessor returns (nil when it has none). It
// reads the body and answers 200 "client=<client ID or -> body=<bytes
// read>", or 204 to an OPTIONS request. It answers 500 when p is not the
// Principal of the request context (jwtverify.FromContext), so the kit
// proves that both ways reach the same caller.
func Respond(w http.ResponseWriter, r *http.Request, p *jwtverify.Principal) {
	if q, ok := jwtverify.FromContext(r.Context()); ok != (p != nil) || q != p {
		http.Error(w, "adaptertest: the adapter's Principal differs from the request context's", http.StatusInternalServerError)
		return
	}
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	n, _ := io.Copy(io.Discard, r.Body)
	id := "-"
	if p != nil {
		id = p.ClientID()
	}
	_, _ = io.WriteString(w, "client="+id+" body="+strconv.FormatInt(n, 10))
}

// HTTPAdapter describes the adapter under test. Set Handler or Server.
type HTTPAdapter struct {
	// Transport is the DecisionEvent.Transport the adapter reports ("" =
	// not checked).
	Transport string
	// Handler builds the adapter's server for s: the framework's router
	// with s.Routes, each calling Respond, behind the adapter. The kit
	// serves it on 127.0.0.1 with a 4 MiB header limit.
	Handler func(t testing.TB, s HTTPSetup) http.Handler
	// Server, instead of Handler, starts the server itself on loopback,
	// accepting request headers of at least 2 MiB (row C4 sends a 1 MB
	// token), stops it with t.Cleanup and returns its base URL.
	Server func(t testing.TB, s HTTPSetup) string
}

// The paths of the catalogue server (RunHTTP's HTTPSetup.Routes).
const (
	// PathHealth is exempt (HTTPSetup.ExemptPaths), any method.
	PathHealth = "/health"
	// PathWhoAmI has no requirement of its own, any method.
	PathWhoAmI = "/api/whoami"
	// PathOrders requires OrdersScope, any method.
	PathOrders = "/api/orders"
	// OrdersScope is the permission PathOrders requires.
	OrdersScope = "orders.read"
)

// catalogueRoutes are the routes of the catalogue server.
func catalogueRoutes() []HTTPRoute {
	return []HTTPRoute{
		{Path: PathHealth},
		{Path: PathWhoAmI},
		{Path: PathOrders, Require: true, Requirement: jwtverify.RequireAll(OrdersScope)},
	}
}

// RunHTTP runs the whole conformance suite against a:
//
//   - "catalogue/<row>": every H and I row of SECURITY.md's hostile-input
//     catalogue (and B13a, the 503), with the authenticating middleware in
//     front of the routes PathHealth, PathWhoAmI and PathOrders; exempt
//     paths, the skipper and CORS preflights; the query and form methods;
//   - "routes/authenticate" and "routes/require_only": requirements
//     (all-of, any-of, scopes only, roles only, and, or) per route and
//     method, with and without the authenticating middleware in front.
//
// For every request it checks the status, the WWW-Authenticate challenge
// (realm, error, error_description, scope), the JSON error body and its
// headers, Retry-After on 503, that nothing the client sent is reflected,
// that the handler's Principal is the request context's, and the decision
// events: one per decision, with the expected result and reason.
func RunHTTP(t *testing.T, a HTTPAdapter) {
	if (a.Handler == nil) == (a.Server == nil) {
		t.Fatal("adaptertest: set exactly one of HTTPAdapter.Handler and HTTPAdapter.Server")
	}
	env := NewEnv(t)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	t.Run("catalogue", func(t *testing.T) {
		for _, c := range append(httpCases(t, env), dpopCases(t, env)...) {
			t.Run(c.Name, func(t *testing.T) {
				rec := &Recorder{}
				s := c.setup(env, rec)
				base := a.start(t, s, c.DPoP)
				if err := doHTTP(t, client, base, c, rec, a.Transport, true); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
	for _, mode := range []struct {
		name string
		auth bool
	}{{"authenticate", true}, {"require_only", false}} {
		t.Run("routes/"+mode.name, func(t *testing.T) {
			rec := &Recorder{}
			base := a.start(t, HTTPSetup{
				Verifier: env.Verifier, Observer: rec, Realm: Realm,
				Authenticate: mode.auth, Routes: requirementRoutes(),
			}, false)
			for _, c := range requirementCases(t, env) {
				t.Run(c.Name, func(t *testing.T) {
					if err := doHTTP(t, client, base, c, rec, a.Transport, mode.auth); err != nil {
						t.Fatal(err)
					}
				})
			}
		})
	}
}

// start serves s. With withDPoP the kit first listens on loopback, so the
// DPoP Checker's public origin (the htu of every proof) is the server's
// URL; only Handler adapters can run those cases.
func (a HTTPAdapter) start(t testing.TB, s HTTPSetup, withDPoP bool) string {
	if withDPoP {
		if a.Handler == nil {
			t.Skip("adaptertest: the DPoP rows need HTTPAdapter.Handler (the kit must know the origin before the server starts)")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.DPoP = newChecker(t, "http://"+l.Addr().String())
		ts := httptest.NewUnstartedServer(a.Handler(t, s))
		ts.Listener.Close()
		ts.Listener = l
		ts.Config.MaxHeaderBytes = 4 << 20
		ts.Start()
		t.Cleanup(ts.Close)
		return ts.URL
	}
	if a.Server != nil {
		return a.Server(t, s)
	}
	ts := httptest.NewUnstartedServer(a.Handler(t, s))
	ts.Config.MaxHeaderBytes = 4 << 20
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.URL
}

// httpCase is one request and the answer every adapter must give.
type httpCase struct {
	// Name starts with the catalogue row.
	Name string
	// Down selects Env.Down, the verifier without usable keys.
	Down bool
	// Setup amends the catalogue setup (options of the case).
	Setup func(*HTTPSetup)

	Method string // default GET
	// Target is the path and query (default PathWhoAmI).
	Target string
	// Auth are Authorization header values, one header line each.
	Auth []string
	// Header are extra headers.
	Header      map[string]string
	Body        string
	ContentType string

	// Status is the expected status.
	Status int
	// Code is the error= of the challenge; "" means a bare challenge on
	// 401.
	Code string
	// Description is the expected error_description ("" = any fixed text).
	Description string
	// Scope is the expected scope= of a 403.
	Scope string
	// BodyPrefix must prefix the body of a 2xx answer.
	BodyPrefix string

	// Result is the expected DecisionEvent.Result of the request's
	// decision, Reason its Reason ("" = not checked, except that allowed
	// and skipped decisions never have one).
	Result string
	Reason jwtverify.Reason
	// Required says the target route has a requirement: a refusal by it
	// behind the authenticating middleware follows that middleware's
	// "allowed" event.
	Required bool

	// Secrets must appear nowhere in the answer or the events.
	Secrets []string

	// DPoP turns the DPoP scheme on (HTTPSetup.DPoP, Env.Bound): every 400
	// and 401 then carries both challenges.
	DPoP bool
	// Proof, when not nil, makes the DPoP header of the request for its
	// method and URL (the server's URL is known only once it runs).
	Proof func(method, url string) string
	// Scheme is the scheme of the answer's first challenge: SchemeBearer
	// ("") or SchemeDPoP.
	Scheme string
}

func (c httpCase) setup(env *Env, rec *Recorder) HTTPSetup {
	s := HTTPSetup{
		Verifier: env.Verifier, Observer: rec, Realm: Realm, Authenticate: true,
		ExemptPaths: []string{PathHealth}, Routes: catalogueRoutes(),
	}
	if c.Down {
		s.Verifier = env.Down
	}
	if c.DPoP {
		s.Verifier = env.Bound
	}
	if c.Setup != nil {
		c.Setup(&s)
	}
	return s
}

var (
	challengeRE = regexp.MustCompile(`^Bearer realm="` + Realm + `"(, [a-z_]+="[^"\\]*")*$`)
	// dpopRE is an RFC 9449 section 7.1 challenge: algs first.
	dpopRE     = regexp.MustCompile(`^DPoP algs="[A-Za-z0-9 ]+"(, [a-z_]+="[^"\\]*")*$`)
	dpopBareRE = regexp.MustCompile(`^DPoP algs="[A-Za-z0-9 ]+"$`)
)

// The schemes of HTTP challenges.
const (
	SchemeBearer = "Bearer"
	SchemeDPoP   = "DPoP"
)

func bareChallenge(scheme string) string {
	if scheme == SchemeDPoP {
		return "" // checked with dpopBareRE: the algs are the Checker's
	}
	return `Bearer realm="` + Realm + `"`
}

// checkChallenges checks the WWW-Authenticate lines of a refusal and
// returns the first one: one challenge of the scheme the request used,
// and, with DPoP on (case DPoP), the other scheme's bare challenge second
// on 400 and 401.
func checkChallenges(c httpCase, ch []string) (string, error) {
	want := 1
	if c.DPoP && c.Status != 403 {
		want = 2
	}
	if len(ch) != want {
		return "", fmt.Errorf("WWW-Authenticate = %q, want %d challenge(s)", ch, want)
	}
	first := ch[0]
	if c.Scheme == SchemeDPoP {
		if !dpopRE.MatchString(first) {
			return "", fmt.Errorf("WWW-Authenticate = %q, want a DPoP challenge first", ch)
		}
	} else if !challengeRE.MatchString(first) {
		return "", fmt.Errorf("WWW-Authenticate = %q, want one Bearer challenge with realm %q", ch, Realm)
	}
	if want == 2 {
		if c.Scheme == SchemeDPoP {
			if ch[1] != bareChallenge(SchemeBearer) {
				return "", fmt.Errorf("WWW-Authenticate = %q, want the bare Bearer challenge second", ch)
			}
		} else if !dpopBareRE.MatchString(ch[1]) {
			return "", fmt.Errorf("WWW-Authenticate = %q, want the bare DPoP challenge second", ch)
		}
	}
	return first, nil
}

// doHTTP sends c to the server at base and checks the answer and the events
// rec recorded for it (authenticated: the authenticating middleware is in
// front of the routes). A non-nil error says what is wrong.
func doHTTP(t testing.TB, client *http.Client, base string, c httpCase, rec *Recorder, transport string, authenticated bool) error {
	t.Helper()
	method := c.Method
	if method == "" {
		method = http.MethodGet
	}
	target := c.Target
	if target == "" {
		target = PathWhoAmI
	}
	var body io.Reader
	if c.Body != "" {
		body = strings.NewReader(c.Body)
	}
	req, err := http.NewRequest(method, base+target, body)
	if err != nil {
		return err
	}
	for _, a := range c.Auth {
		req.Header.Add("Authorization", a)
	}
	for k, v := range c.Header {
		req.Header.Set(k, v)
	}
	if c.ContentType != "" {
		req.Header.Set("Content-Type", c.ContentType)
	}
	if c.Proof != nil {
		req.Header.Set("DPoP", c.Proof(method, base+target))
	}
	rec.Take() // forget anything before this request
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if err := checkHTTPAnswer(c, resp, string(b)); err != nil {
		return err
	}
	return checkEvents(rec.Take(), wantEvents(c.Result, c.Reason, c.Required && authenticated), transport, c.Secrets)
}

// checkHTTPAnswer checks the answer to c: status, challenge, body and
// headers, nothing reflected.
func checkHTTPAnswer(c httpCase, resp *http.Response, body string) error {
	if resp.StatusCode != c.Status {
		return fmt.Errorf("status = %d, want %d; WWW-Authenticate %q; body %.200q", resp.StatusCode, c.Status, resp.Header.Get("WWW-Authenticate"), body)
	}
	ch := resp.Header.Values("WWW-Authenticate")
	switch c.Status {
	case 400, 401, 403:
		// I1: every 401/403 (and 400) carries the challenge of the scheme
		// the request used (Bearer unless it used DPoP) with the realm or
		// the algs, and well-formed quoted parameters; K1: with DPoP on, a
		// 400 or 401 names the other scheme second, bare.
		first, err := checkChallenges(c, ch)
		if err != nil {
			return err
		}
		if c.Code == "" {
			if first != bareChallenge(c.Scheme) && !(c.Scheme == SchemeDPoP && dpopBareRE.MatchString(first)) {
				return fmt.Errorf("WWW-Authenticate = %q, want a bare challenge", first)
			}
		} else {
			if p := param(first, "error"); p != c.Code {
				return fmt.Errorf("error = %q, want %q (challenge %q)", p, c.Code, first)
			}
			d := param(first, "error_description")
			if d == "" || (c.Description != "" && d != c.Description) {
				return fmt.Errorf("error_description = %q, want %q", d, c.Description)
			}
		}
		if p := param(first, "scope"); p != c.Scope {
			return fmt.Errorf("scope = %q, want %q", p, c.Scope)
		}
		if err := checkErrorBody(resp, body, c.Code, param(first, "error_description")); err != nil {
			return err
		}
		if c.Code == jwtverify.CodeUseDPoPNonce && resp.Header.Get("DPoP-Nonce") == "" {
			return errors.New("use_dpop_nonce without a DPoP-Nonce header")
		}
	case 503:
		if len(ch) != 0 {
			return fmt.Errorf("503 carries WWW-Authenticate %q", ch)
		}
		if ra := resp.Header.Get("Retry-After"); ra == "" || strings.Trim(ra, "0123456789") != "" {
			return fmt.Errorf("Retry-After = %q, want seconds", ra)
		}
		if err := checkErrorBody(resp, body, "temporarily_unavailable", ""); err != nil {
			return err
		}
	default:
		if len(ch) != 0 {
			return fmt.Errorf("%d carries WWW-Authenticate %q", resp.StatusCode, ch)
		}
		if !strings.HasPrefix(body, c.BodyPrefix) {
			return fmt.Errorf("body = %.200q, want prefix %q", body, c.BodyPrefix)
		}
	}
	for _, s := range c.Secrets {
		if s == "" {
			continue
		}
		for k, vs := range resp.Header {
			for _, v := range vs {
				if strings.Contains(v, s) {
					return fmt.Errorf("header %s reflects client input", k)
				}
			}
		}
		if strings.Contains(body, s) {
			return errors.New("body reflects client input")
		}
	}
	return nil
}

// checkErrorBody checks the JSON error body: {"error":code} (code
// "unauthorized" for a bare challenge), and an error_description equal to
// the challenge's when it has one.
func checkErrorBody(resp *http.Response, body, code, desc string) error {
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		return fmt.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("Content-Type = %q, want application/json", ct)
	}
	want := code
	if want == "" {
		want = "unauthorized"
	}
	var b struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil || b.Error != want {
		return fmt.Errorf("body = %q, want a JSON object with error %q", body, want)
	}
	if desc != "" && b.Description != desc {
		return fmt.Errorf("body error_description = %q, want the challenge's %q", b.Description, desc)
	}
	return nil
}

// param returns the value of a quoted parameter of a challenge.
func param(ch, name string) string {
	re := regexp.MustCompile(`[ ,]` + regexp.QuoteMeta(name) + `="((?:[^"\\]|\\.)*)"`)
	m := re.FindStringSubmatch(ch)
	if m == nil {
		return ""
	}
	return m[1]
}

// wantEvents returns the decision results one request must report: one
// decision, except a route requirement's refusal behind the
// authenticating middleware, which follows that middleware's "allowed"
// (two decisions: authentication, then authorization).
func wantEvents(result string, reason jwtverify.Reason, afterAuthentication bool) []jwtverify.DecisionEvent {
	ev := jwtverify.DecisionEvent{Result: result, Reason: reason}
	if afterAuthentication && result == jwtverify.DecisionForbidden {
		return []jwtverify.DecisionEvent{{Result: jwtverify.DecisionAllowed}, ev}
	}
	return []jwtverify.DecisionEvent{ev}
}

// checkEvents compares the events a request produced with want (Result;
// Reason when want has one; Transport when transport is not ""), and
// checks that allowed and forbidden decisions name ClientID, that allowed
// and skipped ones carry no reason, and that no secret appears in any field.
func checkEvents(got, want []jwtverify.DecisionEvent, transport string, secrets []string) error {
	if len(got) != len(want) {
		return fmt.Errorf("decision events = %+v, want %d with results %v", got, len(want), results(want))
	}
	for i, ev := range got {
		w := want[i]
		if ev.Result != w.Result || (w.Reason != "" && ev.Reason != w.Reason) {
			return fmt.Errorf("event %d = %+v, want result %q reason %q", i, ev, w.Result, w.Reason)
		}
		if transport != "" && ev.Transport != transport {
			return fmt.Errorf("event %d transport = %q, want %q", i, ev.Transport, transport)
		}
		switch ev.Result {
		case jwtverify.DecisionAllowed, jwtverify.DecisionSkipped:
			if ev.Reason != "" {
				return fmt.Errorf("event %d: %s with reason %q", i, ev.Result, ev.Reason)
			}
		}
		switch ev.Result {
		case jwtverify.DecisionAllowed, jwtverify.DecisionForbidden:
			if ev.ClientID != ClientID {
				return fmt.Errorf("event %d client = %q, want %q", i, ev.ClientID, ClientID)
			}
		}
		fields := append([]string{ev.Transport, ev.Result, string(ev.Reason), ev.Rule, ev.Route, ev.Issuer, ev.ClientID}, ev.Missing...)
		for _, s := range secrets {
			for _, f := range fields {
				if s != "" && strings.Contains(f, s) {
					return fmt.Errorf("event %d reflects client input", i)
				}
			}
		}
	}
	return nil
}

func results(evs []jwtverify.DecisionEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Result
	}
	return out
}
