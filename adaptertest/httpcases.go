package adaptertest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// marker stands for attacker-chosen text that must never come back.
const marker = "zzMARKERzz"

const (
	allowed   = jwtverify.DecisionAllowed
	skipped   = jwtverify.DecisionSkipped
	unauth    = jwtverify.DecisionUnauthenticated
	invalid   = jwtverify.DecisionInvalidRequest
	forbidden = jwtverify.DecisionForbidden
	down      = jwtverify.DecisionUnavailable
)

// tokens are the tokens the catalogues share.
type tokens struct {
	read, noScope, expired, untrusted string
}

func newTokens(t testing.TB, env *Env) tokens {
	return tokens{
		read:    env.Token(t, map[string]any{"scope": OrdersScope}),
		noScope: env.Token(t, map[string]any{"scope": "profile"}),
		expired: env.Token(t, map[string]any{
			"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix(),
			"nbf": nil, "scope": OrdersScope,
		}),
		untrusted: env.Token(t, map[string]any{"scope": OrdersScope}, oauthtest.WithUntrustedKey("RS256")),
	}
}

func (k tokens) secrets() []string {
	return []string{marker, k.read, k.noScope, k.expired, k.untrusted}
}

func withQuery(s *HTTPSetup)     { s.AllowQueryToken = true }
func withForm(s *HTTPSetup)      { s.AllowFormToken = true }
func withPreflight(s *HTTPSetup) { s.AllowCORSPreflight = true }

// httpCases returns the SECURITY.md H and I rows (and B13a) for the
// catalogue server. Names start with the row ID.
func httpCases(t testing.TB, env *Env) []httpCase {
	k := newTokens(t, env)
	tok := k.read
	ok := "client=" + ClientID + " body=0"
	form := "a=1&access_token=" + url.QueryEscape(tok)
	formOK := "client=" + ClientID + " body=" + strconv.Itoa(len(form))
	const formType = "application/x-www-form-urlencoded"
	preflight := map[string]string{"Origin": "https://app.test", "Access-Control-Request-Method": "GET"}
	malformed := jwtverify.ReasonMalformed
	cs := []httpCase{
		{Name: "H1_lowercase_scheme", Auth: []string{"bearer " + tok}, Status: 200, BodyPrefix: ok, Result: allowed},
		{Name: "H1_uppercase_scheme", Auth: []string{"BEARER " + tok}, Status: 200, BodyPrefix: ok, Result: allowed},
		{Name: "H1_canonical_scheme", Auth: []string{"Bearer " + tok}, Status: 200, BodyPrefix: ok, Result: allowed},
		{Name: "H2_several_spaces", Auth: []string{"Bearer     " + tok}, Status: 200, BodyPrefix: ok, Result: allowed},
		{Name: "H3_scheme_without_token", Auth: []string{"Bearer"}, Status: 400, Code: jwtverify.CodeInvalidRequest, Result: invalid, Reason: malformed},
		{Name: "H3_tab_separator", Auth: []string{"Bearer\t" + tok}, Status: 400, Code: jwtverify.CodeInvalidRequest, Result: invalid, Reason: malformed},
		{Name: "H3_trailing_extra_word", Auth: []string{"Bearer " + tok + " " + marker}, Status: 400, Code: jwtverify.CodeInvalidRequest, Result: invalid, Reason: malformed},
		{Name: "H3_C6_whitespace_inside_token", Auth: []string{"Bearer " + tok[:20] + " " + tok[20:]}, Status: 400, Code: jwtverify.CodeInvalidRequest, Result: invalid, Reason: malformed},
		{Name: "H5_two_authorization_headers", Auth: []string{"Bearer " + tok, "Bearer " + tok}, Status: 400, Code: jwtverify.CodeInvalidRequest, Result: invalid, Reason: malformed},
		{Name: "H5_bearer_and_basic_headers", Auth: []string{"Bearer " + tok, "Basic dXNlcjpwYXNz"}, Status: 400, Code: jwtverify.CodeInvalidRequest, Result: invalid, Reason: malformed},
		{Name: "H6_basic_only", Auth: []string{"Basic dXNlcjpwYXNz"}, Status: 401, Result: unauth},
		{Name: "H6_no_credentials", Status: 401, Result: unauth},
		{Name: "H7_query_token_method_off", Target: PathWhoAmI + "?access_token=" + tok + "&q=" + marker, Status: 401, Result: unauth},
		{Name: "H7_query_token_method_on", Setup: withQuery, Target: PathWhoAmI + "?access_token=" + tok, Status: 200, BodyPrefix: ok, Result: allowed},
		{Name: "H7_two_query_tokens_method_on", Setup: withQuery, Target: PathWhoAmI + "?access_token=" + tok + "&access_token=" + tok,
			Status: 400, Code: jwtverify.CodeInvalidRequest, Result: invalid, Reason: malformed},
		{Name: "H8_header_and_query_method_off", Auth: []string{"Bearer " + tok}, Target: PathWhoAmI + "?access_token=" + marker,
			Status: 400, Code: jwtverify.CodeInvalidRequest, Result: invalid, Reason: malformed},
		{Name: "H8_header_and_escaped_query_key", Auth: []string{"Bearer " + tok}, Target: PathWhoAmI + "?access%5Ftoken=" + marker,
			Status: 400, Code: jwtverify.CodeInvalidRequest, Result: invalid, Reason: malformed},
		{Name: "H8_header_and_query_method_on", Setup: withQuery, Auth: []string{"Bearer " + tok}, Target: PathWhoAmI + "?access_token=" + tok,
			Status: 400, Code: jwtverify.CodeInvalidRequest, Result: invalid, Reason: malformed},
		{Name: "H8_form_token_method_off", Method: "POST", Body: form, ContentType: formType, Status: 401, Result: unauth},
		{Name: "H8_header_and_form_token_method_off_body_untouched", Method: "POST", Auth: []string{"Bearer " + tok}, Body: form,
			ContentType: formType, Status: 200, BodyPrefix: formOK, Result: allowed},
		{Name: "H8_form_token_method_on", Setup: withForm, Method: "POST", Body: form, ContentType: formType,
			Status: 200, BodyPrefix: formOK, Result: allowed},
		{Name: "H8_form_token_on_a_GET", Setup: withForm, Method: "GET", Body: form, ContentType: formType, Status: 401, Result: unauth},
		{Name: "H8_header_and_form_token_method_on", Setup: withForm, Method: "POST", Auth: []string{"Bearer " + tok}, Body: form,
			ContentType: formType, Status: 400, Code: jwtverify.CodeInvalidRequest, Result: invalid, Reason: malformed},
		{Name: "H8_query_token_method_off_and_form_token", Setup: withForm, Method: "POST", Target: PathWhoAmI + "?access_token=" + marker,
			Body: form, ContentType: formType, Status: 400, Code: jwtverify.CodeInvalidRequest, Result: invalid, Reason: malformed},
		{Name: "H8_query_and_form_token_both_on", Setup: func(s *HTTPSetup) { withForm(s); withQuery(s) }, Method: "POST",
			Target: PathWhoAmI + "?access_token=" + tok, Body: form, ContentType: formType,
			Status: 400, Code: jwtverify.CodeInvalidRequest, Result: invalid, Reason: malformed},
		{Name: "I1_invalid_token_expired", Auth: []string{"Bearer " + k.expired}, Status: 401, Code: jwtverify.CodeInvalidToken,
			Description: jwtverify.ReasonExpired.Description(), Result: unauth, Reason: jwtverify.ReasonExpired},
		{Name: "I1_invalid_token_untrusted_key", Auth: []string{"Bearer " + k.untrusted}, Status: 401, Code: jwtverify.CodeInvalidToken,
			Description: jwtverify.ReasonBadSignature.Description(), Result: unauth},
		{Name: "I1_invalid_token_garbage", Auth: []string{"Bearer " + marker}, Status: 401, Code: jwtverify.CodeInvalidToken, Result: unauth},
		{Name: "I1_C4_1MB_of_dots", Auth: []string{"Bearer " + strings.Repeat(".", 1<<20)}, Status: 401, Code: jwtverify.CodeInvalidToken, Result: unauth},
		{Name: "I3_valid_token_lacking_scope", Target: PathOrders, Auth: []string{"Bearer " + k.noScope}, Status: 403,
			Code: jwtverify.CodeInsufficientScope, Scope: OrdersScope, Result: forbidden, Reason: jwtverify.ReasonInsufficientScope, Required: true},
		{Name: "I3_valid_token_with_scope", Target: PathOrders, Auth: []string{"Bearer " + tok}, Status: 200, BodyPrefix: ok, Result: allowed},
		{Name: "I3_route_requirement_without_token", Target: PathOrders, Status: 401, Result: unauth},
		{Name: "I5_cors_preflight_allowed", Setup: withPreflight, Method: "OPTIONS", Header: preflight, Status: 204, Result: skipped},
		{Name: "I5_cors_preflight_allowed_on_required_route", Setup: withPreflight, Method: "OPTIONS", Target: PathOrders, Header: preflight,
			Status: 204, Result: skipped},
		{Name: "I5_cors_preflight_not_allowed", Method: "OPTIONS", Header: preflight, Status: 401, Result: unauth},
		{Name: "I5_options_without_preflight_headers", Setup: withPreflight, Method: "OPTIONS", Status: 401, Result: unauth},
		{Name: "I5_health_exempt", Target: PathHealth, Status: 200, BodyPrefix: "client=- body=0", Result: skipped},
		{Name: "I5_health_exempt_ignores_bad_token", Target: PathHealth, Auth: []string{"Bearer"}, Status: 200, BodyPrefix: "client=- body=0", Result: skipped},
		{Name: "I5_escaped_exempt_path_is_not_exempt", Target: "/h%65alth", Status: 401, Result: unauth},
		{Name: "I5_skipper", Setup: func(s *HTTPSetup) {
			s.Skipper = func(r *http.Request) bool { return r.Header.Get("X-Probe") == "1" }
		}, Header: map[string]string{"X-Probe": "1"}, Status: 200, BodyPrefix: "client=- body=0", Result: skipped},
		{Name: "B13a_keys_unavailable_503", Down: true, Auth: []string{"Bearer " + tok}, Status: 503,
			Result: down, Reason: jwtverify.ReasonKeysUnavailable},
	}
	for _, s := range permissionShapes() {
		pt := env.Token(t, s.claims)
		cs = append(cs, httpCase{Name: s.name, Target: PathOrders, Auth: []string{"Bearer " + pt}, Status: 200,
			BodyPrefix: "client=" + ClientID, Result: allowed, Secrets: []string{pt}})
	}
	cs = append(cs, httpCase{Name: "I4_unmapped_claim_ignored", Target: PathOrders,
		Auth:   []string{"Bearer " + env.Token(t, map[string]any{"scope": nil, "groups": []string{OrdersScope}})},
		Status: 403, Code: jwtverify.CodeInsufficientScope, Scope: OrdersScope,
		Result: forbidden, Reason: jwtverify.ReasonInsufficientScope, Required: true})
	for i := range cs {
		cs[i].Secrets = append(cs[i].Secrets, k.secrets()...)
	}
	return cs
}

// permissionShapes: row I4, the permission claim shapes of the generic
// mapping, each granting OrdersScope.
func permissionShapes() []struct {
	name   string
	claims map[string]any
} {
	return []struct {
		name   string
		claims map[string]any
	}{
		{"I4_scope_string", map[string]any{"scope": "profile " + OrdersScope}},
		{"I4_scp_array", map[string]any{"scope": nil, "scp": []string{"profile", OrdersScope}}},
		{"I4_scp_string", map[string]any{"scope": nil, "scp": OrdersScope}},
		{"I4_roles_array", map[string]any{"scope": nil, "roles": []string{OrdersScope}}},
		{"I4_permissions_array", map[string]any{"scope": nil, "permissions": []string{OrdersScope}}},
		{"I4_keycloak_realm_roles", map[string]any{"scope": nil, "realm_access": map[string]any{"roles": []string{OrdersScope}}}},
	}
}

// requirementRoutes cover all-of and any-of over the merged set, delegated
// scopes only, roles only, their compositions, and several methods on one
// path with different requirements.
func requirementRoutes() []HTTPRoute {
	r := func(method, path string, req jwtverify.Requirement) HTTPRoute {
		return HTTPRoute{Method: method, Path: path, Require: true, Requirement: req}
	}
	return []HTTPRoute{
		r("GET", "/r/orders", jwtverify.RequireAll("orders.read")),
		r("POST", "/r/orders", jwtverify.RequireAll("orders.read", "orders.write")),
		r("DELETE", "/r/orders", jwtverify.RequireAny("orders.admin", "admin")),
		r("GET", "/r/reports", jwtverify.RequireAllScopes("reports.read")),
		r("GET", "/r/reports/any", jwtverify.RequireAnyScopes("reports.read", "reports.all")),
		r("POST", "/r/jobs", jwtverify.RequireAllRoles("Jobs.Run")),
		r("GET", "/r/jobs", jwtverify.RequireAnyRoles("Jobs.Read", "Jobs.Run")),
		r("GET", "/r/mixed", jwtverify.Or(jwtverify.RequireAllScopes("mixed.read"), jwtverify.RequireAllRoles("Mixed.Read"))),
		r("GET", "/r/both", jwtverify.And(jwtverify.RequireAnyScopes("a.read", "b.read"), jwtverify.RequireAllRoles("Svc"))),
		r("GET", "/r/authenticated", jwtverify.Authenticated()),
	}
}

// requirementCases state what each requirement route answers.
func requirementCases(t testing.TB, env *Env) []httpCase {
	scopes := func(s string) string { return env.Token(t, map[string]any{"scope": s}) }
	roles := func(r ...string) string { return env.Token(t, map[string]any{"scope": nil, "roles": r}) }
	both := func(s string, r ...string) string { return env.Token(t, map[string]any{"scope": s, "roles": r}) }
	read, readWrite := scopes("orders.read"), scopes("orders.read orders.write")
	type rc struct {
		name, method, path, token string
		status                    int
		scope                     string
	}
	var cs []httpCase
	for _, c := range []rc{
		{"all_of_one_present", "GET", "/r/orders", read, 200, ""},
		{"all_of_one_from_roles", "GET", "/r/orders", roles("orders.read"), 200, ""},
		{"all_of_missing", "GET", "/r/orders", scopes("profile"), 403, "orders.read"},
		{"all_of_two_present", "POST", "/r/orders", readWrite, 200, ""},
		{"all_of_two_split_scope_and_role", "POST", "/r/orders", both("orders.read", "orders.write"), 200, ""},
		{"all_of_two_one_missing", "POST", "/r/orders", read, 403, "orders.read orders.write"},
		{"any_of_first", "DELETE", "/r/orders", scopes("orders.admin"), 200, ""},
		{"any_of_second_as_role", "DELETE", "/r/orders", roles("admin"), 200, ""},
		{"any_of_none", "DELETE", "/r/orders", readWrite, 403, "orders.admin admin"},
		{"scopes_only_scope", "GET", "/r/reports", scopes("reports.read"), 200, ""},
		{"scopes_only_role_refused", "GET", "/r/reports", roles("reports.read"), 403, "reports.read"},
		{"any_scopes_second", "GET", "/r/reports/any", scopes("reports.all"), 200, ""},
		{"any_scopes_role_refused", "GET", "/r/reports/any", roles("reports.all"), 403, "reports.read reports.all"},
		{"roles_only_role", "POST", "/r/jobs", roles("Jobs.Run"), 200, ""},
		{"roles_only_scope_refused", "POST", "/r/jobs", scopes("Jobs.Run"), 403, "Jobs.Run"},
		{"any_roles_second", "GET", "/r/jobs", roles("Jobs.Run"), 200, ""},
		{"any_roles_none", "GET", "/r/jobs", roles("Other"), 403, "Jobs.Read Jobs.Run"},
		{"or_scope_branch", "GET", "/r/mixed", scopes("mixed.read"), 200, ""},
		{"or_role_branch", "GET", "/r/mixed", roles("Mixed.Read"), 200, ""},
		{"or_wrong_kinds", "GET", "/r/mixed", both("Mixed.Read", "mixed.read"), 403, "mixed.read Mixed.Read"},
		{"and_both", "GET", "/r/both", both("b.read", "Svc"), 200, ""},
		{"and_role_missing", "GET", "/r/both", scopes("a.read b.read"), 403, "a.read b.read Svc"},
		{"authenticated_only", "GET", "/r/authenticated", roles(), 200, ""},
		{"no_token", "GET", "/r/orders", "", 401, ""},
		{"I1_expired_on_a_route", "GET", "/r/orders", env.Token(t, map[string]any{
			"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix(), "nbf": nil, "scope": "orders.read",
		}), 401, ""},
	} {
		hc := httpCase{Name: c.name, Method: c.method, Target: c.path, Status: c.status, Scope: c.scope, Required: true}
		if c.token != "" {
			hc.Auth = []string{"Bearer " + c.token}
			hc.Secrets = []string{c.token}
		}
		switch c.status {
		case 200:
			hc.BodyPrefix, hc.Result = "client="+ClientID+" body=0", allowed
		case 403:
			hc.Code, hc.Result, hc.Reason = jwtverify.CodeInsufficientScope, forbidden, jwtverify.ReasonInsufficientScope
		case 401:
			hc.Result = unauth
			if c.token != "" {
				hc.Code, hc.Reason, hc.Description = jwtverify.CodeInvalidToken, jwtverify.ReasonExpired, jwtverify.ReasonExpired.Description()
			}
		}
		cs = append(cs, hc)
	}
	return cs
}
