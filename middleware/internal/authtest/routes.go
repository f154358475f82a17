package authtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/m2mauth/m2mauth/jwtverify"
)

// Route is one protected route of the requirement tests. Pattern uses
// "{id}" for the path parameter (Echo adapters translate it to ":id").
type Route struct {
	Method  string
	Pattern string
	Req     jwtverify.Requirement
}

// Routes covers all-of and any-of over the merged set, delegated scopes
// only, roles only, and their compositions.
func Routes() []Route {
	return []Route{
		{"GET", "/orders/{id}", jwtverify.RequireAll("orders.read")},
		{"POST", "/orders", jwtverify.RequireAll("orders.read", "orders.write")},
		{"DELETE", "/orders/{id}", jwtverify.RequireAny("orders.admin", "admin")},
		{"GET", "/reports", jwtverify.RequireAllScopes("reports.read")},
		{"GET", "/reports/any", jwtverify.RequireAnyScopes("reports.read", "reports.all")},
		{"POST", "/jobs", jwtverify.RequireAllRoles("Jobs.Run")},
		{"GET", "/jobs", jwtverify.RequireAnyRoles("Jobs.Read", "Jobs.Run")},
		{"GET", "/mixed", jwtverify.Or(jwtverify.RequireAllScopes("mixed.read"), jwtverify.RequireAllRoles("Mixed.Read"))},
		{"GET", "/both", jwtverify.And(jwtverify.RequireAnyScopes("a.read", "b.read"), jwtverify.RequireAllRoles("Svc"))},
		{"GET", "/authenticated", jwtverify.Authenticated()},
	}
}

// RouteHandler answers a protected route: "client=<id> id=<param>".
func RouteHandler(w http.ResponseWriter, p *jwtverify.Principal, id string) {
	if p == nil {
		http.Error(w, "no principal", http.StatusInternalServerError)
		return
	}
	_, _ = io.WriteString(w, "client="+p.ClientID()+" id="+id)
}

// RouteCase is one request to Routes.
type RouteCase struct {
	Name   string
	Method string
	Path   string
	Token  string
	Status int
	Scope  string // scope= of a 403
	Body   string // body of a 200
}

// RouteCases mints tokens with the generic claim mapping and states what
// each route must answer.
func RouteCases(t testing.TB, env *Env) []RouteCase {
	scopes := func(s string) string { return env.Token(t, map[string]any{"scope": s}) }
	roles := func(r ...string) string { return env.Token(t, map[string]any{"scope": nil, "roles": r}) }
	both := func(s string, r ...string) string { return env.Token(t, map[string]any{"scope": s, "roles": r}) }
	read, readWrite := scopes("orders.read"), scopes("orders.read orders.write")
	ok := func(id string) string { return "client=" + ClientID + " id=" + id }
	return []RouteCase{
		{"all_of_one_present", "GET", "/orders/42", read, 200, "", ok("42")},
		{"all_of_one_from_roles", "GET", "/orders/7", roles("orders.read"), 200, "", ok("7")},
		{"all_of_missing", "GET", "/orders/42", scopes("profile"), 403, "orders.read", ""},
		{"all_of_two_present", "POST", "/orders", readWrite, 200, "", ok("")},
		{"all_of_two_split_scope_and_role", "POST", "/orders", both("orders.read", "orders.write"), 200, "", ok("")},
		{"all_of_two_one_missing", "POST", "/orders", read, 403, "orders.read orders.write", ""},
		{"any_of_first", "DELETE", "/orders/1", scopes("orders.admin"), 200, "", ok("1")},
		{"any_of_second_as_role", "DELETE", "/orders/1", roles("admin"), 200, "", ok("1")},
		{"any_of_none", "DELETE", "/orders/1", readWrite, 403, "orders.admin admin", ""},
		{"scopes_only_scope", "GET", "/reports", scopes("reports.read"), 200, "", ok("")},
		{"scopes_only_role_refused", "GET", "/reports", roles("reports.read"), 403, "reports.read", ""},
		{"any_scopes_second", "GET", "/reports/any", scopes("reports.all"), 200, "", ok("")},
		{"any_scopes_role_refused", "GET", "/reports/any", roles("reports.all"), 403, "reports.read reports.all", ""},
		{"roles_only_role", "POST", "/jobs", roles("Jobs.Run"), 200, "", ok("")},
		{"roles_only_scope_refused", "POST", "/jobs", scopes("Jobs.Run"), 403, "Jobs.Run", ""},
		{"any_roles_second", "GET", "/jobs", roles("Jobs.Run"), 200, "", ok("")},
		{"any_roles_none", "GET", "/jobs", roles("Other"), 403, "Jobs.Read Jobs.Run", ""},
		{"or_scope_branch", "GET", "/mixed", scopes("mixed.read"), 200, "", ok("")},
		{"or_role_branch", "GET", "/mixed", roles("Mixed.Read"), 200, "", ok("")},
		{"or_wrong_kinds", "GET", "/mixed", both("Mixed.Read", "mixed.read"), 403, "mixed.read Mixed.Read", ""},
		{"and_both", "GET", "/both", both("b.read", "Svc"), 200, "", ok("")},
		{"and_role_missing", "GET", "/both", scopes("a.read b.read"), 403, "a.read b.read Svc", ""},
		{"authenticated_only", "GET", "/authenticated", roles(), 200, "", ok("")},
		{"no_token", "GET", "/orders/42", "", 401, "", ""},
	}
}

// RunRoutes sends every RouteCase to ts (serving Routes under prefix).
func RunRoutes(t *testing.T, env *Env, ts *httptest.Server, prefix string) {
	for _, c := range RouteCases(t, env) {
		t.Run(c.Name, func(t *testing.T) {
			req, err := http.NewRequest(c.Method, ts.URL+prefix+c.Path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.Token != "" {
				req.Header.Set("Authorization", "Bearer "+c.Token)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.Status {
				t.Fatalf("%s %s = %d %q, want %d", c.Method, c.Path, resp.StatusCode, b, c.Status)
			}
			ch := resp.Header.Get("WWW-Authenticate")
			switch c.Status {
			case 200:
				if string(b) != c.Body {
					t.Fatalf("body = %q, want %q", b, c.Body)
				}
			case 403:
				if param(ch, "error") != "insufficient_scope" || param(ch, "scope") != c.Scope {
					t.Fatalf("WWW-Authenticate = %q, want insufficient_scope with scope %q", ch, c.Scope)
				}
			case 401:
				if !strings.HasPrefix(ch, `Bearer realm="`) {
					t.Fatalf("WWW-Authenticate = %q", ch)
				}
			}
		})
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
