// Package authtest holds the test environment and the SECURITY.md H and I
// rows shared by the net/http and Echo adapter tests, so both adapters are
// held to the same table. Test-only; internal.
package authtest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// Test identities.
const (
	Audience = "https://orders.api.test"
	ClientID = "client-a"
	Realm    = "orders"
)

// Env is an in-process issuer and verifiers trusting it.
type Env struct {
	Issuer *oauthtest.Server
	// Verifier trusts Issuer with the generic claim mapping (scope and scp
	// as scopes; roles, permissions and realm_access.roles as roles).
	Verifier *jwtverify.Verifier
	// Down is a verifier whose key source has no usable key set.
	Down *jwtverify.Verifier

	key jwkscache.Key
}

// GenericPermissions is the generic claim mapping, plus Keycloak's realm
// roles for row I4.
var GenericPermissions = []jwtverify.PermissionClaim{
	{Path: []string{"scope"}, Kind: jwtverify.KindScope},
	{Path: []string{"scp"}, Kind: jwtverify.KindScope},
	{Path: []string{"roles"}, Kind: jwtverify.KindRole},
	{Path: []string{"permissions"}, Kind: jwtverify.KindRole},
	{Path: []string{"realm_access", "roles"}, Kind: jwtverify.KindRole},
}

// NewEnv starts an issuer and builds the verifiers.
func NewEnv(t testing.TB) *Env {
	t.Helper()
	srv := oauthtest.NewT(t)
	kid := srv.SigningKeyID()
	pub, ok := srv.PublicKey(kid)
	if !ok {
		t.Fatalf("oauthtest: no public key for %q", kid)
	}
	key, err := jwkscache.NewKey(kid, "RS256", pub)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jwtverify.New(verifierConfig(srv.Issuer(), jwkscache.NewStatic("test", key)))
	if err != nil {
		t.Fatal(err)
	}
	down, err := jwtverify.New(verifierConfig(srv.Issuer(), downSource{}))
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Issuer: srv, Verifier: v, Down: down, key: key}
}

// NewVerifier builds another verifier trusting Issuer (as Verifier does),
// after edit changed its configuration (an Observer, a Validate rule).
func (e *Env) NewVerifier(t testing.TB, edit func(*jwtverify.Config)) *jwtverify.Verifier {
	t.Helper()
	cfg := verifierConfig(e.Issuer.Issuer(), jwkscache.NewStatic("test", e.key))
	if edit != nil {
		edit(&cfg)
	}
	v, err := jwtverify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func verifierConfig(issuer string, keys jwkscache.KeySource) jwtverify.Config {
	return jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name:        "test",
		Issuer:      issuer,
		Keys:        keys,
		Audiences:   []string{Audience},
		ClientIDs:   []string{ClientID},
		Algorithms:  []string{"RS256"},
		Permissions: GenericPermissions,
	}}}
}

// downSource is an injected fault: a key source that never had a usable
// key set (an issuer down since start-up).
type downSource struct{}

func (downSource) Name() string               { return "down" }
func (downSource) Current() *jwkscache.KeySet { return nil }
func (downSource) Lookup(context.Context, string) ([]jwkscache.Key, error) {
	return nil, jwkscache.ErrKeysUnavailable
}

// Token mints a token for ClientID and Audience; claims are merged over
// those (a nil value deletes a claim).
func (e *Env) Token(t testing.TB, claims map[string]any, opts ...oauthtest.MintOption) string {
	t.Helper()
	c := map[string]any{"aud": Audience, "client_id": ClientID, "sub": ClientID}
	for k, v := range claims {
		c[k] = v
	}
	return e.Issuer.MintT(t, append([]oauthtest.MintOption{oauthtest.WithClaims(c)}, opts...)...)
}

// Routes every adapter under test serves, with WithRealm(Realm) and
// WithExemptPaths("/health") plus the options of the case:
//
//	/health        any method: 200 "ok"
//	/api/whoami    any method, authenticated: 200 "client=<id> body=<n>"
//	               (n = bytes of the body the handler could read); OPTIONS
//	               reaching the handler gets 204
//	/api/orders    GET, requires RequireAll("orders.read")
const (
	PathHealth = "/health"
	PathWhoAmI = "/api/whoami"
	PathOrders = "/api/orders"
)

// OrdersRequirement is the requirement of PathOrders.
func OrdersRequirement() jwtverify.Requirement { return jwtverify.RequireAll("orders.read") }

// WhoAmI writes the answer of PathWhoAmI for p (nil when absent) after
// reading the body.
func WhoAmI(w http.ResponseWriter, r *http.Request, p *jwtverify.Principal) {
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	n, _ := io.Copy(io.Discard, r.Body)
	id := "-"
	if p != nil {
		id = p.ClientID()
	}
	_, _ = io.WriteString(w, "client="+id+" body="+itoa(n))
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// Serve starts the adapter under test on a loopback server for v with the
// harness options plus opts.
type Serve func(t testing.TB, v *jwtverify.Verifier, opts ...middleware.Option) *httptest.Server

// BaseOptions are the harness options every adapter gets first.
func BaseOptions() []middleware.Option {
	return []middleware.Option{middleware.WithRealm(Realm), middleware.WithExemptPaths(PathHealth)}
}

// NewServer starts h on 127.0.0.1 with a 4 MiB header limit (row C4 sends a
// 1 MB token) and closes it with the test.
func NewServer(t testing.TB, h http.Handler) *httptest.Server {
	ts := httptest.NewUnstartedServer(h)
	ts.Config.MaxHeaderBytes = 4 << 20
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

// Case is one row: a request and the answer every adapter must give.
type Case struct {
	Name string
	// Down selects the verifier without usable keys.
	Down   bool
	Opts   []middleware.Option
	Method string // default GET
	// Target is the path and query (default PathWhoAmI).
	Target string
	// Auth are the Authorization header values, one header line each.
	Auth []string
	// Header are extra headers.
	Header      map[string]string
	Body        string
	ContentType string

	Status int
	// Code is the error= of the challenge; "" means a bare challenge on
	// 401 (checked exactly).
	Code string
	// Description is the expected error_description ("" = not checked).
	Description string
	// Scope is the expected scope= of a 403.
	Scope string
	// BodyPrefix, when set, must prefix the body of a 2xx answer.
	BodyPrefix string
	// Secrets must not appear anywhere in the answer (tokens, markers).
	Secrets []string
}

const marker = "zzMARKERzz"

// Cases returns the SECURITY.md H and I rows (and a few neighbours) for
// env. Names start with the row ID.
func Cases(t testing.TB, env *Env) []Case {
	tok := env.Token(t, map[string]any{"scope": "orders.read"})
	noScope := env.Token(t, map[string]any{"scope": "profile"})
	expired := env.Token(t, map[string]any{
		"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix(),
		"nbf": nil, "scope": "orders.read",
	})
	untrusted := env.Token(t, map[string]any{"scope": "orders.read"}, oauthtest.WithUntrustedKey("RS256"))
	okBody := "client=" + ClientID + " body=0"
	form := "a=1&access_token=" + url.QueryEscape(tok)
	cs := []Case{
		{Name: "H1_lowercase_scheme", Auth: []string{"bearer " + tok}, Status: 200, BodyPrefix: okBody},
		{Name: "H1_uppercase_scheme", Auth: []string{"BEARER " + tok}, Status: 200, BodyPrefix: okBody},
		{Name: "H1_canonical_scheme", Auth: []string{"Bearer " + tok}, Status: 200, BodyPrefix: okBody},
		{Name: "H2_several_spaces", Auth: []string{"Bearer     " + tok}, Status: 200, BodyPrefix: okBody},
		{Name: "H3_scheme_without_token", Auth: []string{"Bearer"}, Status: 400, Code: "invalid_request"},
		{Name: "H3_tab_separator", Auth: []string{"Bearer\t" + tok}, Status: 400, Code: "invalid_request"},
		{Name: "H3_trailing_extra_word", Auth: []string{"Bearer " + tok + " " + marker}, Status: 400, Code: "invalid_request"},
		{Name: "H3_C6_whitespace_inside_token", Auth: []string{"Bearer " + tok[:20] + " " + tok[20:]}, Status: 400, Code: "invalid_request"},
		{Name: "H5_two_authorization_headers", Auth: []string{"Bearer " + tok, "Bearer " + tok}, Status: 400, Code: "invalid_request"},
		{Name: "H5_bearer_and_basic_headers", Auth: []string{"Bearer " + tok, "Basic dXNlcjpwYXNz"}, Status: 400, Code: "invalid_request"},
		{Name: "H6_basic_only", Auth: []string{"Basic dXNlcjpwYXNz"}, Status: 401},
		{Name: "H6_no_credentials", Status: 401},
		{Name: "H7_query_token_method_off", Target: PathWhoAmI + "?access_token=" + tok + "&q=" + marker, Status: 401},
		{Name: "H7_query_token_method_on", Opts: []middleware.Option{middleware.AllowQueryToken()},
			Target: PathWhoAmI + "?access_token=" + tok, Status: 200, BodyPrefix: okBody},
		{Name: "H7_two_query_tokens_method_on", Opts: []middleware.Option{middleware.AllowQueryToken()},
			Target: PathWhoAmI + "?access_token=" + tok + "&access_token=" + tok, Status: 400, Code: "invalid_request"},
		{Name: "H8_header_and_query_method_off", Auth: []string{"Bearer " + tok},
			Target: PathWhoAmI + "?access_token=" + marker, Status: 400, Code: "invalid_request"},
		{Name: "H8_header_and_escaped_query_key", Auth: []string{"Bearer " + tok},
			Target: PathWhoAmI + "?access%5Ftoken=" + marker, Status: 400, Code: "invalid_request"},
		{Name: "H8_header_and_query_method_on", Opts: []middleware.Option{middleware.AllowQueryToken()},
			Auth: []string{"Bearer " + tok}, Target: PathWhoAmI + "?access_token=" + tok, Status: 400, Code: "invalid_request"},
		{Name: "H8_form_token_method_off", Method: "POST", Body: form,
			ContentType: "application/x-www-form-urlencoded", Status: 401},
		{Name: "H8_header_and_form_token_method_off_body_untouched", Method: "POST", Auth: []string{"Bearer " + tok}, Body: form,
			ContentType: "application/x-www-form-urlencoded", Status: 200, BodyPrefix: "client=" + ClientID + " body=" + itoa(int64(len(form)))},
		{Name: "H8_form_token_method_on", Opts: []middleware.Option{middleware.AllowFormToken()}, Method: "POST", Body: form,
			ContentType: "application/x-www-form-urlencoded", Status: 200, BodyPrefix: "client=" + ClientID + " body=" + itoa(int64(len(form)))},
		{Name: "H8_form_token_on_a_GET", Opts: []middleware.Option{middleware.AllowFormToken()}, Method: "GET", Body: form,
			ContentType: "application/x-www-form-urlencoded", Status: 401},
		{Name: "H8_header_and_form_token_method_on", Opts: []middleware.Option{middleware.AllowFormToken()}, Method: "POST",
			Auth: []string{"Bearer " + tok}, Body: form, ContentType: "application/x-www-form-urlencoded", Status: 400, Code: "invalid_request"},
		{Name: "H8_query_token_method_off_and_form_token", Opts: []middleware.Option{middleware.AllowFormToken()},
			Method: "POST", Target: PathWhoAmI + "?access_token=" + marker, Body: form,
			ContentType: "application/x-www-form-urlencoded", Status: 400, Code: "invalid_request"},
		{Name: "H8_query_and_form_token_both_on", Opts: []middleware.Option{middleware.AllowFormToken(), middleware.AllowQueryToken()},
			Method: "POST", Target: PathWhoAmI + "?access_token=" + tok, Body: form,
			ContentType: "application/x-www-form-urlencoded", Status: 400, Code: "invalid_request"},
		{Name: "I1_invalid_token_expired", Auth: []string{"Bearer " + expired}, Status: 401, Code: "invalid_token",
			Description: jwtverify.ReasonExpired.Description()},
		{Name: "I1_invalid_token_untrusted_key", Auth: []string{"Bearer " + untrusted}, Status: 401, Code: "invalid_token",
			Description: jwtverify.ReasonBadSignature.Description()},
		{Name: "I1_invalid_token_garbage", Auth: []string{"Bearer " + marker}, Status: 401, Code: "invalid_token"},
		{Name: "I1_C4_1MB_of_dots", Auth: []string{"Bearer " + strings.Repeat(".", 1<<20)}, Status: 401, Code: "invalid_token"},
		{Name: "I3_valid_token_lacking_scope", Target: PathOrders, Auth: []string{"Bearer " + noScope},
			Status: 403, Code: "insufficient_scope", Scope: "orders.read"},
		{Name: "I3_valid_token_with_scope", Target: PathOrders, Auth: []string{"Bearer " + tok}, Status: 200, BodyPrefix: okBody},
		{Name: "I3_route_requirement_without_token", Target: PathOrders, Status: 401},
		{Name: "I5_cors_preflight_allowed", Opts: []middleware.Option{middleware.AllowCORSPreflight()}, Method: "OPTIONS",
			Header: map[string]string{"Origin": "https://app.test", "Access-Control-Request-Method": "GET"}, Status: 204},
		{Name: "I5_cors_preflight_allowed_on_required_route", Opts: []middleware.Option{middleware.AllowCORSPreflight()}, Method: "OPTIONS",
			Target: PathOrders, Header: map[string]string{"Origin": "https://app.test", "Access-Control-Request-Method": "GET"}, Status: 204},
		{Name: "I5_cors_preflight_not_allowed", Method: "OPTIONS",
			Header: map[string]string{"Origin": "https://app.test", "Access-Control-Request-Method": "GET"}, Status: 401},
		{Name: "I5_options_without_preflight_headers", Opts: []middleware.Option{middleware.AllowCORSPreflight()}, Method: "OPTIONS", Status: 401},
		{Name: "I5_health_exempt", Target: PathHealth, Status: 200, BodyPrefix: "ok"},
		{Name: "I5_health_exempt_ignores_bad_token", Target: PathHealth, Auth: []string{"Bearer"}, Status: 200, BodyPrefix: "ok"},
		{Name: "I5_escaped_exempt_path_is_not_exempt", Target: "/h%65alth", Status: 401},
		{Name: "I5_skipper", Opts: []middleware.Option{middleware.WithSkipper(func(r *http.Request) bool { return r.Header.Get("X-Probe") == "1" })},
			Header: map[string]string{"X-Probe": "1"}, Status: 200, BodyPrefix: "client=- body=0"},
		{Name: "B13a_keys_unavailable_503", Down: true, Auth: []string{"Bearer " + tok}, Status: 503},
	}
	cs = append(cs, permissionCases(t, env)...)
	for i := range cs {
		cs[i].Secrets = append(cs[i].Secrets, marker, tok, noScope, expired, untrusted)
	}
	return cs
}

// permissionCases: row I4, the permission claim shapes of the generic
// mapping, each granting orders.read on PathOrders.
func permissionCases(t testing.TB, env *Env) []Case {
	shapes := []struct {
		name   string
		claims map[string]any
	}{
		{"I4_scope_string", map[string]any{"scope": "profile orders.read"}},
		{"I4_scp_array", map[string]any{"scope": nil, "scp": []string{"profile", "orders.read"}}},
		{"I4_scp_string", map[string]any{"scope": nil, "scp": "orders.read"}},
		{"I4_roles_array", map[string]any{"scope": nil, "roles": []string{"orders.read"}}},
		{"I4_permissions_array", map[string]any{"scope": nil, "permissions": []string{"orders.read"}}},
		{"I4_keycloak_realm_roles", map[string]any{"scope": nil, "realm_access": map[string]any{"roles": []string{"orders.read"}}}},
	}
	var cs []Case
	for _, s := range shapes {
		tok := env.Token(t, s.claims)
		cs = append(cs, Case{Name: s.name, Target: PathOrders, Auth: []string{"Bearer " + tok}, Status: 200,
			BodyPrefix: "client=" + ClientID, Secrets: []string{tok}})
	}
	cs = append(cs, Case{Name: "I4_unmapped_claim_ignored", Target: PathOrders,
		Auth:   []string{"Bearer " + env.Token(t, map[string]any{"scope": nil, "groups": []string{"orders.read"}})},
		Status: 403, Code: "insufficient_scope", Scope: "orders.read"})
	return cs
}

// Run runs every case against serve, one subtest per row.
func Run(t *testing.T, env *Env, serve Serve) {
	for _, c := range Cases(t, env) {
		t.Run(c.Name, func(t *testing.T) {
			v := env.Verifier
			if c.Down {
				v = env.Down
			}
			ts := serve(t, v, c.Opts...)
			Do(t, ts, c)
		})
	}
}

var challengeRE = regexp.MustCompile(`^Bearer realm="` + Realm + `"(, [a-z_]+="[^"\\]*")*$`)

// Do sends c to ts and checks the answer.
func Do(t *testing.T, ts *httptest.Server, c Case) {
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
	req, err := http.NewRequest(method, ts.URL+target, body)
	if err != nil {
		t.Fatal(err)
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
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if resp.StatusCode != c.Status {
		t.Fatalf("status = %d, want %d; WWW-Authenticate %q; body %.200q", resp.StatusCode, c.Status, resp.Header.Get("WWW-Authenticate"), got)
	}
	ch := resp.Header.Values("WWW-Authenticate")
	switch c.Status {
	case 401, 403, 400:
		// I1: every 401/403 (and our 400) carries one Bearer challenge with
		// the realm, and parameters are well-formed quoted strings.
		if len(ch) != 1 || !challengeRE.MatchString(ch[0]) {
			t.Fatalf("WWW-Authenticate = %q, want one Bearer challenge with realm %q", ch, Realm)
		}
		switch {
		case c.Code == "":
			if ch[0] != `Bearer realm="`+Realm+`"` {
				t.Fatalf("WWW-Authenticate = %q, want a bare challenge", ch[0])
			}
		default:
			if p := param(ch[0], "error"); p != c.Code {
				t.Fatalf("error = %q, want %q (challenge %q)", p, c.Code, ch[0])
			}
			d := param(ch[0], "error_description")
			if d == "" || (c.Description != "" && d != c.Description) {
				t.Fatalf("error_description = %q, want %q", d, c.Description)
			}
		}
		if p := param(ch[0], "scope"); p != c.Scope {
			t.Fatalf("scope = %q, want %q", p, c.Scope)
		}
		checkErrorBody(t, resp, got, c.Code)
	case 503:
		if len(ch) != 0 {
			t.Fatalf("503 carries WWW-Authenticate %q", ch)
		}
		if ra := resp.Header.Get("Retry-After"); ra == "" || strings.Trim(ra, "0123456789") != "" {
			t.Fatalf("Retry-After = %q", ra)
		}
		checkErrorBody(t, resp, got, "temporarily_unavailable")
	default:
		if len(ch) != 0 {
			t.Fatalf("%d carries WWW-Authenticate %q", resp.StatusCode, ch)
		}
		if !strings.HasPrefix(got, c.BodyPrefix) {
			t.Fatalf("body = %.200q, want prefix %q", got, c.BodyPrefix)
		}
	}
	for _, s := range c.Secrets {
		if s == "" {
			continue
		}
		for k, vs := range resp.Header {
			for _, v := range vs {
				if strings.Contains(v, s) {
					t.Fatalf("header %s reflects client input", k)
				}
			}
		}
		if strings.Contains(got, s) {
			t.Fatalf("body reflects client input")
		}
	}
}

func checkErrorBody(t *testing.T, resp *http.Response, body, code string) {
	t.Helper()
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("Content-Type = %q", resp.Header.Get("Content-Type"))
	}
	want := code
	if want == "" {
		want = "unauthorized"
	}
	if !strings.Contains(body, `"error":"`+want+`"`) {
		t.Fatalf("body = %q, want error %q", body, want)
	}
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

// DownKeys is a key source that never had a usable key set, for
// NewVerifier.
func DownKeys() jwkscache.KeySource { return downSource{} }
