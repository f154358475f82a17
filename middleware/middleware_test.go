package middleware_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.uber.org/goleak"

	"github.com/m2mauth/m2mauth/bearer"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/internal/authtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRoutesServeMux(t *testing.T) {
	env := authtest.NewEnv(t)
	mw, err := middleware.New(env.Verifier, middleware.WithRealm(authtest.Realm))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, rt := range authtest.Routes() {
		// Go 1.22 patterns: method and wildcard.
		mux.Handle(rt.Method+" /api"+rt.Pattern, mw.Require(rt.Req)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := jwtverify.FromContext(r.Context())
			authtest.RouteHandler(w, p, r.PathValue("id"))
		})))
	}
	ts := authtest.NewServer(t, mw.Handler(mux))
	authtest.RunRoutes(t, env, ts, "/api")
}

func TestRoutesChi(t *testing.T) {
	env := authtest.NewEnv(t)
	mw, err := middleware.New(env.Verifier, middleware.WithRealm(authtest.Realm))
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	r.Get("/public", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "public") })
	r.Route("/api", func(r chi.Router) {
		r.Use(mw.Handler)
		for _, rt := range authtest.Routes() {
			r.With(mw.Require(rt.Req)).MethodFunc(rt.Method, rt.Pattern, func(w http.ResponseWriter, r *http.Request) {
				p, _ := jwtverify.FromContext(r.Context())
				authtest.RouteHandler(w, p, chi.URLParam(r, "id"))
			})
		}
	})
	ts := authtest.NewServer(t, r)
	authtest.RunRoutes(t, env, ts, "/api")
	// Routes outside the authenticated group stay public.
	resp, err := ts.Client().Get(ts.URL + "/public")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("public route: %d", resp.StatusCode)
	}
}

// TestRequireStandalone: Require without Handler authenticates by itself.
func TestRequireStandalone(t *testing.T) {
	env := authtest.NewEnv(t)
	mw, err := middleware.New(env.Verifier, middleware.WithRealm(authtest.Realm))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, rt := range authtest.Routes() {
		mux.Handle(rt.Method+" /api"+rt.Pattern, mw.RequireFunc(rt.Req, func(w http.ResponseWriter, r *http.Request) {
			p, _ := jwtverify.FromContext(r.Context())
			authtest.RouteHandler(w, p, r.PathValue("id"))
		}))
	}
	authtest.RunRoutes(t, env, authtest.NewServer(t, mux), "/api")
}

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestBodyNeverReadWhenFormMethodOff: row H8's second half. The handler
// does not read the body; nothing else may either.
func TestBodyNeverReadWhenFormMethodOff(t *testing.T) {
	env := authtest.NewEnv(t)
	tok := env.Token(t, map[string]any{"scope": "orders.read"})
	for _, tc := range []struct {
		name string
		opts []middleware.Option
		auth string
		want int
	}{
		{"with_header_token", nil, "Bearer " + tok, 200},
		{"without_credentials", nil, "", 401},
		{"form_on_but_header_on_a_PUT", []middleware.Option{middleware.AllowFormToken()}, "Bearer " + tok, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mw, err := middleware.New(env.Verifier, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			var read atomic.Int64
			inner := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			ts := authtest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.Body = countingBody{r.Body, &read}
				inner.ServeHTTP(w, r)
			}))
			method := "POST"
			if len(tc.opts) > 0 {
				method = "PUT"
			}
			req, _ := http.NewRequest(method, ts.URL+"/x", strings.NewReader("access_token="+tok))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if n := read.Load(); n != 0 {
				t.Fatalf("middleware read %d body bytes", n)
			}
		})
	}
}

// TestFormBodyBounded: with the form method on, a body above the limit is
// not searched for a token and reaches the handler intact.
func TestFormBodyBounded(t *testing.T) {
	env := authtest.NewEnv(t)
	tok := env.Token(t, map[string]any{"scope": "orders.read"})
	mw, err := middleware.New(env.Verifier, middleware.AllowFormToken(), middleware.WithMaxFormBytes(256))
	if err != nil {
		t.Fatal(err)
	}
	ts := authtest.NewServer(t, mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "len="+strconv.Itoa(len(b)))
	})))
	big := "access_token=" + tok + "&pad=" + strings.Repeat("x", 2000)
	for _, tc := range []struct {
		name    string
		auth    bool
		chunked bool // unknown length: the middleware reads limit+1 bytes
		want    int
	}{
		{"oversize_not_searched", false, false, 401},
		{"oversize_chunked_not_searched", false, true, 401},
		{"oversize_intact_for_handler", true, false, 200},
		{"oversize_chunked_intact_for_handler", true, true, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(big)
			if tc.chunked {
				body = io.MultiReader(body)
			}
			req, _ := http.NewRequest("POST", ts.URL+"/x", body)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.auth {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 200 && string(b) != "len="+strconv.Itoa(len(big)) {
				t.Fatalf("handler got %q, want len=%d", b, len(big))
			}
		})
	}
}

// recorder is a DecisionObserver keeping every event.
type recorder struct {
	mu  sync.Mutex
	evs []jwtverify.DecisionEvent
}

func (r *recorder) ObserveDecision(ev jwtverify.DecisionEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
}

func (r *recorder) take() []jwtverify.DecisionEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := r.evs
	r.evs = nil
	return evs
}

func TestObserver(t *testing.T) {
	env := authtest.NewEnv(t)
	read := env.Token(t, map[string]any{"scope": "orders.read"})
	none := env.Token(t, map[string]any{"scope": "profile"})
	rec := &recorder{}
	mw, err := middleware.New(env.Verifier, middleware.WithObserver(rec), middleware.WithExemptPaths("/health"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/orders", mw.Require(jwtverify.RequireAll("orders.read"))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	mux.Handle("/", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	ts := authtest.NewServer(t, mw.Handler(mux))
	type want struct {
		result string
		reason jwtverify.Reason
		client string
	}
	for _, tc := range []struct {
		name, path, auth string
		want             []want
	}{
		{"allowed_counted_once", "/orders", "Bearer " + read, []want{{jwtverify.DecisionAllowed, "", authtest.ClientID}}},
		{"forbidden_after_allowed", "/orders", "Bearer " + none, []want{
			{jwtverify.DecisionAllowed, "", authtest.ClientID},
			{jwtverify.DecisionForbidden, jwtverify.ReasonInsufficientScope, authtest.ClientID}}},
		{"skipped", "/health", "", []want{{jwtverify.DecisionSkipped, "", ""}}},
		{"no_credentials", "/x", "", []want{{jwtverify.DecisionUnauthenticated, "", ""}}},
		{"invalid_request", "/x", "Bearer", []want{{jwtverify.DecisionInvalidRequest, jwtverify.ReasonMalformed, ""}}},
		{"invalid_token", "/x", "Bearer abc", []want{{jwtverify.DecisionUnauthenticated, jwtverify.ReasonMalformed, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.URL+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			evs := rec.take()
			if len(evs) != len(tc.want) {
				t.Fatalf("events %+v, want %+v", evs, tc.want)
			}
			for i, ev := range evs {
				w := tc.want[i]
				if ev.Transport != "http" || ev.Result != w.result || ev.Reason != w.reason || ev.ClientID != w.client {
					t.Fatalf("event %d = %+v, want %+v", i, ev, w)
				}
				if ev.Result == jwtverify.DecisionForbidden && (len(ev.Missing) != 1 || ev.Missing[0] != "orders.read" || ev.Issuer != authtest.IssuerName) {
					t.Fatalf("forbidden event %+v lacks missing/issuer", ev)
				}
			}
		})
	}
	t.Run("unavailable", func(t *testing.T) {
		rec := &recorder{}
		mw, err := middleware.New(env.Down, middleware.WithObserver(rec))
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+read)
		mw.Handler(http.NotFoundHandler()).ServeHTTP(w, r)
		evs := rec.take()
		if w.Code != 503 || len(evs) != 1 || evs[0].Result != jwtverify.DecisionUnavailable || evs[0].Reason != jwtverify.ReasonKeysUnavailable {
			t.Fatalf("code %d events %+v", w.Code, evs)
		}
	})
}

// TestLoggerNeverLogsTokenOrQuery: row H7 "never logged", and nothing else
// the client sent.
func TestLoggerNeverLogsTokenOrQuery(t *testing.T) {
	env := authtest.NewEnv(t)
	read := env.Token(t, map[string]any{"scope": "orders.read"})
	none := env.Token(t, map[string]any{"scope": "profile"})
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(lockedWriter{&buf, &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mw, err := middleware.New(env.Verifier, middleware.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	h := mw.Handler(mw.Require(jwtverify.RequireAll("orders.read"))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	const marker = "SECRETQUERYVALUE"
	for _, tc := range []struct{ target, auth string }{
		{"/x?access_token=" + read + "&q=" + marker, ""},
		{"/x?access_token=" + marker, "Bearer " + read},
		{"/x?q=" + marker, "Bearer " + none},
		{"/x?q=" + marker, "Bearer " + read + " " + marker},
		{"/x?q=" + marker, "Bearer " + marker},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", tc.target, nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		h.ServeHTTP(w, r)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "insufficient_scope") || !strings.Contains(out, "invalid_request") {
		t.Fatalf("logger not wired: %q", out)
	}
	for _, s := range []string{read, none, marker, "access_token"} {
		if strings.Contains(out, s) {
			t.Fatalf("log contains client input %.20q: %s", s, out)
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestErrorHandlerAndExtractor(t *testing.T) {
	env := authtest.NewEnv(t)
	read := env.Token(t, map[string]any{"scope": "orders.read"})
	errCustom := errors.New("custom extractor failure")
	mw, err := middleware.New(env.Verifier,
		middleware.WithTokenExtractor(middleware.TokenExtractorFunc(func(r *http.Request) (string, error) {
			switch v := r.Header.Get("X-Api-Token"); v {
			case "":
				return "", bearer.ErrNoCredentials
			case "bad":
				return "", errCustom
			default:
				return v, nil
			}
		})),
		middleware.WithErrorHandler(middleware.ErrorHandlerFunc(func(w http.ResponseWriter, r *http.Request, o middleware.Outcome) {
			for _, c := range o.Challenges {
				w.Header().Add("WWW-Authenticate", c)
			}
			w.Header().Set("X-Result", o.Result)
			w.WriteHeader(o.Status)
			_, _ = io.WriteString(w, "custom "+o.Code)
		})),
	)
	if err != nil {
		t.Fatal(err)
	}
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := jwtverify.FromContext(r.Context())
		_, _ = io.WriteString(w, p.ClientID())
	}))
	for _, tc := range []struct {
		name, token, auth string
		status            int
		body, result      string
	}{
		{"custom_header_ok", read, "", 200, authtest.ClientID, ""},
		{"authorization_header_ignored", "", "Bearer " + read, 401, "custom ", jwtverify.DecisionUnauthenticated},
		{"extractor_error_is_invalid_request", "bad", "", 400, "custom invalid_request", jwtverify.DecisionInvalidRequest},
		{"bad_token", "abc", "", 401, "custom invalid_token", jwtverify.DecisionUnauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/", nil)
			if tc.token != "" {
				r.Header.Set("X-Api-Token", tc.token)
			}
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			h.ServeHTTP(w, r)
			if w.Code != tc.status || w.Body.String() != tc.body || w.Header().Get("X-Result") != tc.result {
				t.Fatalf("got %d %q %q", w.Code, w.Body.String(), w.Header().Get("X-Result"))
			}
		})
	}
}

func TestResourceMetadata(t *testing.T) {
	env := authtest.NewEnv(t)
	mw, err := middleware.New(env.Verifier, middleware.AllowQueryToken(), middleware.WithResourceMetadata(middleware.ResourceMetadata{
		Resource:        "https://orders.api.test/v1",
		ScopesSupported: []string{"orders.read", "orders.write"},
		ResourceName:    "Orders",
	}))
	if err != nil {
		t.Fatal(err)
	}
	const wantPath = "/.well-known/oauth-protected-resource/v1"
	if mw.MetadataPath() != wantPath || mw.Authenticator().MetadataURL() != "https://orders.api.test"+wantPath {
		t.Fatalf("path %q url %q", mw.MetadataPath(), mw.Authenticator().MetadataURL())
	}
	mux := http.NewServeMux()
	mux.Handle(mw.MetadataPath(), mw.MetadataHandler())
	mux.Handle("/", http.NotFoundHandler())
	ts := authtest.NewServer(t, mw.Handler(mux))

	// The document is reachable without a token, through the middleware.
	resp, err := ts.Client().Get(ts.URL + wantPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("metadata: %d %v", resp.StatusCode, err)
	}
	b, _ := json.Marshal(doc)
	want := `{"authorization_servers":["` + env.Issuer.Issuer() + `"],"bearer_methods_supported":["header","query"],` +
		`"resource":"https://orders.api.test/v1","resource_name":"Orders","scopes_supported":["orders.read","orders.write"]}`
	if string(b) != want {
		t.Fatalf("metadata = %s\nwant       %s", b, want)
	}
	// Other methods are not exempt: the middleware answers first.
	resp, err = ts.Client().Post(ts.URL+wantPath, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("POST metadata: %d", resp.StatusCode)
	}
	// Every challenge names the document.
	ch := resp.Header.Get("WWW-Authenticate")
	if ch != `Bearer realm="api", resource_metadata="https://orders.api.test`+wantPath+`"` {
		t.Fatalf("challenge %q", ch)
	}
	w := httptest.NewRecorder()
	mw.MetadataHandler().ServeHTTP(w, httptest.NewRequest("DELETE", wantPath, nil))
	if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("DELETE: %d", w.Code)
	}
}

// TestMetadataLocation: RFC 9728 section 3.1.
func TestMetadataLocation(t *testing.T) {
	env := authtest.NewEnv(t)
	for resource, want := range map[string]string{
		"https://api.test":          "https://api.test/.well-known/oauth-protected-resource",
		"https://api.test/":         "https://api.test/.well-known/oauth-protected-resource",
		"https://api.test:8443/v1":  "https://api.test:8443/.well-known/oauth-protected-resource/v1",
		"https://api.test/v1/":      "https://api.test/.well-known/oauth-protected-resource/v1/",
		"http://127.0.0.1:8080/a/b": "http://127.0.0.1:8080/.well-known/oauth-protected-resource/a/b",
		"https://api.test/a%20b":    "https://api.test/.well-known/oauth-protected-resource/a%20b",
	} {
		a, err := middleware.NewAuthenticator(env.Verifier, "http", middleware.WithResourceMetadata(middleware.ResourceMetadata{Resource: resource}))
		if err != nil {
			t.Fatalf("%s: %v", resource, err)
		}
		if a.MetadataURL() != want {
			t.Errorf("%s: metadata URL %s, want %s", resource, a.MetadataURL(), want)
		}
	}
}

func TestNewRejectsMisconfiguration(t *testing.T) {
	env := authtest.NewEnv(t)
	for _, tc := range []struct {
		name string
		v    *jwtverify.Verifier
		opts []middleware.Option
	}{
		{"nil_verifier", nil, nil},
		{"nil_option", env.Verifier, []middleware.Option{nil}},
		{"empty_realm", env.Verifier, []middleware.Option{middleware.WithRealm("")}},
		{"realm_with_newline", env.Verifier, []middleware.Option{middleware.WithRealm("a\r\nX-Evil: 1")}},
		{"realm_non_ascii", env.Verifier, []middleware.Option{middleware.WithRealm("caf\u00e9")}},
		{"relative_exempt_path", env.Verifier, []middleware.Option{middleware.WithExemptPaths("health")}},
		{"nil_skipper", env.Verifier, []middleware.Option{middleware.WithSkipper(nil)}},
		{"nil_error_handler", env.Verifier, []middleware.Option{middleware.WithErrorHandler(nil)}},
		{"nil_extractor", env.Verifier, []middleware.Option{middleware.WithTokenExtractor(nil)}},
		{"nil_observer", env.Verifier, []middleware.Option{middleware.WithObserver(nil)}},
		{"nil_logger", env.Verifier, []middleware.Option{middleware.WithLogger(nil)}},
		{"zero_form_limit", env.Verifier, []middleware.Option{middleware.WithMaxFormBytes(0)}},
		{"zero_retry_after", env.Verifier, []middleware.Option{middleware.WithRetryAfter(0)}},
		{"resource_http_not_loopback", env.Verifier, []middleware.Option{middleware.WithResourceMetadata(middleware.ResourceMetadata{Resource: "http://api.test"})}},
		{"resource_relative", env.Verifier, []middleware.Option{middleware.WithResourceMetadata(middleware.ResourceMetadata{Resource: "/v1"})}},
		{"resource_with_query", env.Verifier, []middleware.Option{middleware.WithResourceMetadata(middleware.ResourceMetadata{Resource: "https://api.test/?a=b"})}},
		{"resource_with_fragment", env.Verifier, []middleware.Option{middleware.WithResourceMetadata(middleware.ResourceMetadata{Resource: "https://api.test/#x"})}},
		{"resource_bad_scope", env.Verifier, []middleware.Option{middleware.WithResourceMetadata(middleware.ResourceMetadata{Resource: "https://api.test", ScopesSupported: []string{`a"b`}})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mw, err := middleware.New(tc.v, tc.opts...)
			if err == nil || mw != nil {
				t.Fatalf("New = %v, %v; want an error", mw, err)
			}
			if !strings.HasPrefix(err.Error(), "middleware: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestChallengeEscaping(t *testing.T) {
	env := authtest.NewEnv(t)
	mw, err := middleware.New(env.Verifier, middleware.WithRealm(`say "hi" \o/`), middleware.WithRetryAfter(1500e6))
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	mw.Handler(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="say \"hi\" \\o/"` {
		t.Fatalf("challenge %q", got)
	}
	down, err := middleware.New(env.Down, middleware.WithRetryAfter(1500e6))
	if err != nil {
		t.Fatal(err)
	}
	w = httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+env.Token(t, nil))
	down.Handler(http.NotFoundHandler()).ServeHTTP(w, r)
	if w.Code != 503 || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("503: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
}

// TestConcurrentRequests: one middleware, many goroutines, one token; run
// with -race.
func TestConcurrentRequests(t *testing.T) {
	env := authtest.NewEnv(t)
	tok := env.Token(t, map[string]any{"scope": "orders.read"})
	mw, err := middleware.New(env.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	var ok atomic.Int64
	h := mw.Handler(mw.Require(jwtverify.RequireAll("orders.read"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, found := jwtverify.FromContext(r.Context()); found && p.ClientID() == authtest.ClientID {
			ok.Add(1)
		}
	})))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				w := httptest.NewRecorder()
				r := httptest.NewRequest("GET", "/", nil)
				r.Header.Set("Authorization", "Bearer "+tok)
				h.ServeHTTP(w, r)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1600 {
		t.Fatalf("%d of 1600 requests reached the handler with a Principal", ok.Load())
	}
}

// TestAuthenticatorOutcome: the transport-neutral decision a custom adapter
// builds on.
func TestAuthenticatorOutcome(t *testing.T) {
	env := authtest.NewEnv(t)
	rec := &recorder{}
	a, err := middleware.NewAuthenticator(env.Verifier, "custom", middleware.WithObserver(rec))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := middleware.NewAuthenticator(env.Verifier, ""); err == nil {
		t.Fatal("empty transport accepted")
	}
	read := env.Token(t, map[string]any{"scope": "orders.read"})
	req := func(auth string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		return r
	}
	o := a.Authenticate(req("Bearer " + read))
	if !o.Proceed() || o.Principal == nil || o.Principal.ClientID() != authtest.ClientID || o.Status != 0 || o.Challenges != nil {
		t.Fatalf("allowed outcome %+v", o)
	}
	o = a.Authorize(middleware.WithPrincipal(req(""), o), jwtverify.RequireAll("orders.write"))
	if o.Proceed() || o.Status != 403 || o.Code != "insufficient_scope" || o.Reason != jwtverify.ReasonInsufficientScope ||
		o.Principal == nil || !errors.Is(o.Err, jwtverify.ErrInsufficientScope) ||
		len(o.Challenges) != 1 || o.Challenges[0] != `Bearer realm="api", error="insufficient_scope", error_description="`+o.Description+`", scope="orders.write"` {
		t.Fatalf("forbidden outcome %+v", o)
	}
	o = a.Authenticate(req("Bearer a b"))
	if o.Status != 400 || o.Code != "invalid_request" || !errors.Is(o.Err, bearer.ErrInvalidRequest) || o.Result != jwtverify.DecisionInvalidRequest {
		t.Fatalf("invalid request outcome %+v", o)
	}
	o = a.Authenticate(req(""))
	if o.Status != 401 || o.Code != "" || len(o.Challenges) != 1 || o.Challenges[0] != `Bearer realm="api"` || !errors.Is(o.Err, bearer.ErrNoCredentials) {
		t.Fatalf("no credentials outcome %+v", o)
	}
	if b := o.Body(); b.Error != "unauthorized" || b.Description == "" {
		t.Fatalf("body %+v", b)
	}
	if tok, err := a.ExtractToken(req("Bearer  " + read)); tok != read || err != nil {
		t.Fatalf("ExtractToken = %.10q, %v", tok, err)
	}
	if _, err := a.ExtractToken(req("Bearer " + read + " x")); !errors.Is(err, bearer.ErrInvalidRequest) {
		t.Fatalf("ExtractToken accepted a second word: %v", err)
	}
	for _, ev := range rec.take() {
		if ev.Transport != "custom" {
			t.Fatalf("event transport %q", ev.Transport)
		}
	}
}
