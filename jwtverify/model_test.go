package jwtverify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
)

func verified(t *testing.T, edit func(*Config), cl map[string]any) *Principal {
	t.Helper()
	p, err := newV(t, edit).Verify(context.Background(), tok("EdDSA", nil, cl))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrincipalGetters(t *testing.T) {
	p := verified(t, nil, map[string]any{
		"scope": "b a  a", "roles": []string{"R2", "R1", "a"}, "tid": "t-1", "nbf": testNow.Unix() - 5,
		"custom": map[string]any{"k": []int{1, 2}}, "esc": "caf\u00e9 \"q\"",
	})
	if p.Issuer() != testIss || p.IssuerName() != "test" || p.Subject() != testClient || p.ClientID() != testClient ||
		p.TenantID() != "t-1" || p.TokenID() != "jti-1" {
		t.Fatalf("strings: %v", p)
	}
	if got := p.Audiences(); !reflect.DeepEqual(got, []string{testAud}) {
		t.Fatalf("aud %v", got)
	}
	if got := p.DelegatedScopes(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("delegated %v", got)
	}
	if got := p.Roles(); !reflect.DeepEqual(got, []string{"R1", "R2", "a"}) {
		t.Fatalf("roles %v", got)
	}
	if got := p.Scopes(); !reflect.DeepEqual(got, []string{"R1", "R2", "a", "b"}) {
		t.Fatalf("merged %v", got)
	}
	if !p.Has("a") || !p.Has("R1") || p.Has("c") || !p.HasAll("a", "R2") || p.HasAll("a", "c") || !p.HasAny("c", "b") || p.HasAny("c") {
		t.Fatal("Has*")
	}
	if !p.HasScope("b") || p.HasScope("R1") || !p.HasRole("R1") || p.HasRole("b") {
		t.Fatal("HasScope/HasRole")
	}
	if !p.ExpiresAt().Equal(testNow.Add(time.Hour)) || !p.IssuedAt().Equal(testNow.Add(-time.Minute)) {
		t.Fatalf("times %v %v", p.ExpiresAt(), p.IssuedAt())
	}
	if !p.AppOnly() {
		t.Fatal("sub == client_id is app-only")
	}
	raw, ok := p.Claim("custom")
	if !ok || string(raw) != `{"k":[1,2]}` {
		t.Fatalf("Claim %s", raw)
	}
	raw[0] = 'X' // a copy
	if raw2, _ := p.Claim("custom"); raw2[0] != '{' {
		t.Fatal("Claim is not a copy")
	}
	if s, ok := p.StringClaim("esc"); !ok || s != "caf\u00e9 \"q\"" {
		t.Fatalf("StringClaim %q", s)
	}
	if _, ok := p.StringClaim("custom"); ok {
		t.Fatal("StringClaim of an object")
	}
	var custom struct{ K []int }
	if err := p.DecodeClaim("custom", &custom); err != nil || len(custom.K) != 2 {
		t.Fatalf("DecodeClaim %v %v", custom, err)
	}
	if err := p.DecodeClaim("nope", &custom); !errors.Is(err, ErrMissingClaim) {
		t.Fatalf("DecodeClaim missing: %v", err)
	}
	rc := p.RawClaims()
	var m map[string]any
	if err := json.Unmarshal(rc, &m); err != nil || m["iss"] != testIss {
		t.Fatal("RawClaims")
	}
	rc[0] = 'X'
	if p.RawClaims()[0] != '{' {
		t.Fatal("RawClaims is not a copy")
	}
	sc := p.Scopes()
	sc[0] = "zzz"
	if p.Scopes()[0] != "R1" {
		t.Fatal("Scopes is not a copy")
	}
	s := p.String()
	if !strings.Contains(s, `client="worker"`) || strings.Contains(s, "ey") {
		t.Fatalf("String %s", s)
	}
}

func TestPermissionMapping(t *testing.T) {
	kc := func(c *Config) {
		c.Issuers[0].Permissions = []PermissionClaim{
			{Path: []string{"realm_access", "roles"}, Kind: KindRole},
			{Path: []string{"resource_access", "orders-api", "roles"}, Kind: KindRole},
			{Path: []string{"scope"}, Kind: KindScope},
		}
	}
	p := verified(t, kc, map[string]any{
		"realm_access":    map[string]any{"roles": []string{"default-roles"}},
		"resource_access": map[string]any{"orders-api": map[string]any{"roles": []string{"orders:read"}}, "account": map[string]any{"roles": []string{"view"}}},
		"scope":           "profile email",
		"roles":           []string{"ignored"},
	})
	if got := p.Roles(); !reflect.DeepEqual(got, []string{"default-roles", "orders:read"}) {
		t.Fatalf("roles %v", got)
	}
	if got := p.DelegatedScopes(); !reflect.DeepEqual(got, []string{"email", "profile"}) {
		t.Fatalf("scopes %v", got)
	}
	// Nested path through a non-object: absent, not an error.
	p = verified(t, kc, map[string]any{"realm_access": "x", "scope": nil})
	if len(p.Scopes()) != 0 {
		t.Fatalf("scopes %v", p.Scopes())
	}
	// Okta scp array and Entra roles.
	p = verified(t, nil, map[string]any{"scope": nil, "scp": []string{"s1", "s2"}, "roles": []string{"Orders.Read.All"}, "permissions": []string{"p"}})
	if !reflect.DeepEqual(p.Scopes(), []string{"Orders.Read.All", "p", "s1", "s2"}) {
		t.Fatalf("merged %v", p.Scopes())
	}
}

func TestAppOnlyHeuristic(t *testing.T) {
	cases := []struct {
		name string
		cl   map[string]any
		want bool
	}{
		{"entra_idtyp_app", map[string]any{"sub": "u", "idtyp": "app"}, true},
		{"auth0_gty", map[string]any{"sub": "u", "gty": "client-credentials"}, true},
		{"sub_equals_client", map[string]any{}, true},
		{"no_delegated_claim", map[string]any{"sub": "u", "scope": nil, "roles": []string{"r"}}, true},
		{"user_token", map[string]any{"sub": "user-1", "scope": "read"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := verified(t, nil, tc.cl).AppOnly(); got != tc.want {
				t.Fatalf("AppOnly %v", got)
			}
		})
	}
	p := verified(t, func(c *Config) { c.Issuers[0].AppOnly = func(*Principal) bool { return false } }, nil)
	if p.AppOnly() {
		t.Fatal("custom AppOnly ignored")
	}
}

func TestRequirements(t *testing.T) {
	p := verified(t, nil, map[string]any{"scope": "read write", "roles": []string{"Admin", "read2"}})
	cases := []struct {
		req     Requirement
		ok      bool
		missing []string
		scopes  []string
		str     string
	}{
		{Authenticated(), true, nil, nil, "authenticated"},
		{Requirement{}, true, nil, nil, "authenticated"},
		{RequireAll("read", "Admin"), true, nil, []string{"read", "Admin"}, "all(read Admin)"},
		{RequireAll("read", "delete"), false, []string{"delete"}, []string{"read", "delete"}, "all(read delete)"},
		{RequireAll(), true, nil, nil, "all()"},
		{RequireAny("x", "write"), true, nil, []string{"x", "write"}, "any(x write)"},
		{RequireAny("x", "y"), false, []string{"x", "y"}, []string{"x", "y"}, "any(x y)"},
		{RequireAny(), false, nil, nil, "any()"},
		{RequireAllScopes("read"), true, nil, []string{"read"}, "allScopes(read)"},
		{RequireAllScopes("Admin"), false, []string{"Admin"}, []string{"Admin"}, "allScopes(Admin)"},
		{RequireAnyScopes("Admin", "write"), true, nil, []string{"Admin", "write"}, "anyScopes(Admin write)"},
		{RequireAllRoles("Admin"), true, nil, []string{"Admin"}, "allRoles(Admin)"},
		{RequireAllRoles("read"), false, []string{"read"}, []string{"read"}, "allRoles(read)"},
		{RequireAnyRoles("read", "write"), false, []string{"read", "write"}, []string{"read", "write"}, "anyRoles(read write)"},
		{And(RequireAll("read"), RequireAnyRoles("Admin")), true, nil, []string{"read", "Admin"}, "and(all(read), anyRoles(Admin))"},
		{And(RequireAll("read", "x"), RequireAll("y", "read")), false, []string{"x", "y"}, []string{"read", "x", "y"}, "and(all(read x), all(y read))"},
		{And(), true, nil, nil, "and()"},
		{Or(RequireAll("x"), RequireAllScopes("write")), true, nil, []string{"x", "write"}, "or(all(x), allScopes(write))"},
		{Or(RequireAll("x"), RequireAllRoles("y")), false, []string{"x", "y"}, []string{"x", "y"}, "or(all(x), allRoles(y))"},
		{Or(), false, nil, nil, "or()"},
		{Or(And(RequireAll("x")), Authenticated()), true, nil, []string{"x"}, "or(and(all(x)), authenticated)"},
	}
	for _, tc := range cases {
		t.Run(tc.str, func(t *testing.T) {
			if got := tc.req.String(); got != tc.str {
				t.Fatalf("String %q", got)
			}
			if got := tc.req.Scopes(); !reflect.DeepEqual(got, tc.scopes) && len(got)+len(tc.scopes) > 0 {
				t.Fatalf("Scopes %v", got)
			}
			err := tc.req.Check(p)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInsufficientScope) || e.Reason.Code() != CodeInsufficientScope {
				t.Fatalf("err %v", err)
			}
			if !reflect.DeepEqual(e.Missing, tc.missing) && len(e.Missing)+len(tc.missing) > 0 {
				t.Fatalf("Missing %v", e.Missing)
			}
			if !reflect.DeepEqual(e.Required, tc.req.Scopes()) {
				t.Fatalf("Required %v", e.Required)
			}
		})
	}
	if err := RequireAll("x").Check(nil); err == nil {
		t.Fatal("nil principal passed")
	}
	for _, bad := range []string{"", "a b", "a\"b"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("RequireAll(%q) did not panic", bad)
				}
			}()
			RequireAll(bad)
		}()
	}
	// Immutability: changing the caller's slice does not change the requirement.
	perms := []string{"read"}
	r := RequireAll(perms...)
	perms[0] = "nothing"
	if r.Check(p) != nil {
		t.Fatal("requirement aliased the caller's slice")
	}
}

func TestErrors(t *testing.T) {
	if len(Reasons()) != 19 {
		t.Fatal("Reasons")
	}
	for _, r := range Reasons() {
		e := &Error{Reason: r, Detail: "d", Err: errors.New("cause")}
		if !errors.Is(e, &Error{Reason: r}) || ReasonOf(fmt.Errorf("wrapped: %w", e)) != r {
			t.Fatalf("%s: Is/ReasonOf", r)
		}
		if errors.Is(e, ErrMalformed) != (r == ReasonMalformed) {
			t.Fatalf("%s matched malformed", r)
		}
		if !strings.HasPrefix(e.Error(), "jwtverify: "+string(r)) || !strings.HasSuffix(e.Error(), ": d: cause") {
			t.Fatalf("message %q", e.Error())
		}
		desc := r.Description()
		switch r {
		case ReasonExpired:
			if desc != "The access token expired" || r.Code() != CodeInvalidToken {
				t.Fatal(r)
			}
		case ReasonInsufficientScope:
			if r.Code() != CodeInsufficientScope {
				t.Fatal(r)
			}
		case ReasonKeysUnavailable, ReasonIntrospectionUnavailable, ReasonReplayUnavailable:
			if r.Code() != "" || !r.Unavailable() || desc != ReasonKeysUnavailable.Description() {
				t.Fatal(r)
			}
		case ReasonDPoPProof:
			if r.Code() != CodeInvalidDPoPProof || desc == ReasonMalformed.Description() || desc == "" {
				t.Fatal(r)
			}
		case ReasonDPoPNonce:
			if r.Code() != CodeUseDPoPNonce || desc == ReasonDPoPProof.Description() || desc == "" {
				t.Fatal(r)
			}
		case ReasonBinding:
			if r.Code() != CodeInvalidToken || desc == ReasonMalformed.Description() || desc == "" {
				t.Fatal(r)
			}
		default:
			if r.Code() != CodeInvalidToken || desc != ReasonMalformed.Description() {
				t.Fatalf("%s: %q %q", r, r.Code(), desc)
			}
		}
		if r.Unavailable() != (r.Code() == "") {
			t.Fatalf("%s: Unavailable %v with code %q", r, r.Unavailable(), r.Code())
		}
	}
	if ReasonOf(nil) != "" || ReasonOf(errors.New("x")) != ReasonMalformed {
		t.Fatal("ReasonOf")
	}
	if q := quote(strings.Repeat("é", 100)); len(q) > maxQuoted+8 {
		t.Fatalf("quote %d", len(q))
	}
}

func TestConfigValidation(t *testing.T) {
	src := jwkscache.NewStatic("s", fx("EdDSA").key)
	ok := func() Config {
		return Config{Issuers: []IssuerConfig{baseIssuer(src)}}
	}
	cases := []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"no_issuers", func(c *Config) { c.Issuers = nil }, "at least one issuer"},
		{"no_name", func(c *Config) { c.Issuers[0].Name = "" }, "Name is required"},
		{"duplicate_name", func(c *Config) { c.Issuers = append(c.Issuers, c.Issuers[0]) }, "duplicate issuer name"},
		{"duplicate_issuer", func(c *Config) { i := c.Issuers[0]; i.Name = "b"; c.Issuers = append(c.Issuers, i) }, "share the issuer"},
		{"no_issuer", func(c *Config) { c.Issuers[0].Issuer = "" }, "Issuer is required"},
		{"no_keys", func(c *Config) { c.Issuers[0].Keys = nil }, "Keys is required"},
		{"no_audience", func(c *Config) { c.Issuers[0].Audiences = nil }, "Audiences is required"},
		{"audience_and_skip", func(c *Config) { c.Issuers[0].InsecureSkipAudienceCheck = true }, "not both"},
		{"empty_audience", func(c *Config) { c.Issuers[0].Audiences = []string{""} }, "empty audience"},
		{"no_clients", func(c *Config) { c.Issuers[0].ClientIDs = nil }, "an empty list never means any client"},
		{"clients_and_any", func(c *Config) { c.Issuers[0].AllowAnyClient = true }, "not both"},
		{"no_algs", func(c *Config) { c.Issuers[0].Algorithms = nil }, "Algorithms is required"},
		{"alg_none", func(c *Config) { c.Issuers[0].Algorithms = []string{"none"} }, "refused"},
		{"alg_HS256", func(c *Config) { c.Issuers[0].Algorithms = []string{"RS256", "HS256"} }, "refused"},
		{"alg_case", func(c *Config) { c.Issuers[0].Algorithms = []string{"rs256"} }, "unsupported algorithm"},
		{"leeway_over_cap", func(c *Config) { c.Issuers[0].Leeway = 6 * time.Minute }, "exceeds the cap"},
		{"leeway_negative", func(c *Config) { c.Issuers[0].Leeway = -2 }, "negative Leeway"},
		{"bad_type_policy", func(c *Config) { c.Issuers[0].TokenType = 7 }, "TokenType"},
		{"tenants_without_template", func(c *Config) { c.Issuers[0].AllowedTenants = []string{"x"} }, "template"},
		{"template_without_tenants", func(c *Config) { c.Issuers[0].Issuer = "https://l/{tenantid}/v2.0" }, "AllowedTenants"},
		{"template_tenant_not_guid", func(c *Config) {
			c.Issuers[0].Issuer = "https://l/{tenantid}/v2.0"
			c.Issuers[0].AllowedTenants = []string{"common"}
		}, "not a GUID"},
		{"template_twice", func(c *Config) { c.Issuers[0].Issuer = "https://l/{tenantid}/{tenantid}" }, "more than once"},
		{"permission_no_kind", func(c *Config) { c.Issuers[0].Permissions = []PermissionClaim{{Path: []string{"scp"}}} }, "no Kind"},
		{"permission_empty_path", func(c *Config) { c.Issuers[0].Permissions = []PermissionClaim{{Kind: KindRole}} }, "path"},
		{"required_empty", func(c *Config) { c.Issuers[0].RequiredClaims = []string{""} }, "empty required claim"},
		{"max_size_negative", func(c *Config) { c.MaxTokenSize = -1 }, "MaxTokenSize"},
		{"max_size_over_64KiB", func(c *Config) { c.MaxTokenSize = 64<<10 + 1 }, "MaxTokenSize"},
		{"cache_negative", func(c *Config) { c.Cache.MaxEntries = -1 }, "negative cache bound"},
		{"too_many_claims", func(c *Config) {
			for i := 0; i < 40; i++ {
				c.Issuers[0].RequiredClaims = append(c.Issuers[0].RequiredClaims, fmt.Sprint("c", i))
			}
		}, "distinct"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.edit(&c)
			_, err := New(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "jwtverify: ") {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
	// The Config is copied: later edits do not affect the Verifier.
	c := ok()
	v, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Issuers[0].Audiences[0] = "changed"
	if v.Issuers()[0].Audiences[0] != testAud {
		t.Fatal("Config not copied")
	}
	info := v.Issuers()
	info[0].Audiences[0] = "x"
	if v.Issuers()[0].Audiences[0] != testAud || v.Issuers()[0].Name != "test" || v.Issuers()[0].Issuer != testIss {
		t.Fatal("Issuers not a copy")
	}
}

func TestContext(t *testing.T) {
	p := verified(t, nil, nil)
	ctx := NewContext(context.Background(), p)
	if got, ok := FromContext(ctx); !ok || got != p {
		t.Fatal("FromContext")
	}
	if _, ok := FromContext(context.Background()); ok {
		t.Fatal("empty context")
	}
	if _, ok := FromContext(NewContext(context.Background(), nil)); ok {
		t.Fatal("nil principal")
	}
}

func TestObserverOnRejection(t *testing.T) {
	rec := &recorder{}
	v := newV(t, func(c *Config) { c.Observer = rec })
	_, err := v.Verify(context.Background(), tok("EdDSA", nil, map[string]any{"aud": "x"}))
	ev := rec.last()
	if ev.Reason != ReasonAudience || ev.Issuer != "test" || ev.Err != err || ev.ClientID != "" || ev.CacheHit {
		t.Fatalf("event %+v", ev)
	}
	_, _ = v.Verify(context.Background(), "x")
	if ev := rec.last(); ev.Reason != ReasonMalformed || ev.Issuer != NoIssuer {
		t.Fatalf("event %+v", ev)
	}
}

type decisionCounter struct{ n int }

func (d *decisionCounter) ObserveDecision(DecisionEvent) { d.n++ }

func TestMultiObserver(t *testing.T) {
	if MultiObserver() != nil || MultiObserver(nil, nil) != nil || MultiDecisionObserver(nil) != nil {
		t.Fatal("empty multi observer is not nil")
	}
	a, b := &recorder{}, &recorder{}
	if MultiObserver(nil, a) != Observer(a) {
		t.Fatal("single observer not returned as is")
	}
	v := newV(t, func(c *Config) { c.Observer = MultiObserver(a, nil, b) })
	_, _ = v.Verify(context.Background(), tok("EdDSA", nil, nil))
	if len(a.evs) != 1 || len(b.evs) != 1 || a.evs[0].ClientID != testClient {
		t.Fatalf("events %v %v", a.evs, b.evs)
	}
	d1, d2 := &decisionCounter{}, &decisionCounter{}
	MultiDecisionObserver(d1, d2).ObserveDecision(DecisionEvent{Result: DecisionAllowed})
	if d1.n != 1 || d2.n != 1 {
		t.Fatal("decision events")
	}
}
