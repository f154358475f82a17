package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/profiles"
	"go.yaml.in/yaml/v3"
)

// maxPolicyBytes bounds the policy file read at start and on reload.
const maxPolicyBytes = 1 << 20

// PolicyError is one problem of a policy file: where it is and what is wrong.
type PolicyError struct {
	File  string // the file as given
	Line  int    // 1-based; 0 when unknown
	Field string // the field path, e.g. "routes[2].require.all_scopes"
	Msg   string
}

func (e *PolicyError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// The YAML shape of a policy file (documented in policy.schema.json and
// the README).

type policyFile struct {
	Version int          `yaml:"version"`
	Realm   string       `yaml:"realm"`
	Headers headerNames  `yaml:"headers"`
	Issuers []issuerYAML `yaml:"issuers"`
	Routes  []routeYAML  `yaml:"routes"`
}

// headerNames are the identity headers set on an allowed request for the
// upstream. An empty name keeps the default; "-" turns that header off.
type headerNames struct {
	ClientID string `yaml:"client_id"`
	Subject  string `yaml:"subject"`
	Issuer   string `yaml:"issuer"`
	Scopes   string `yaml:"scopes"`
	Roles    string `yaml:"roles"`
}

type issuerYAML struct {
	Name    string    `yaml:"name"`
	Profile string    `yaml:"profile"`
	Options yaml.Node `yaml:"options"`
	Keys    keysYAML  `yaml:"keys"`
	// Introspection accepts the issuer's opaque tokens (introspection.go).
	Introspection *introspectionYAML `yaml:"introspection"`
}

// keysYAML is the key cache configuration of one issuer (jwkscache.Config).
type keysYAML struct {
	FetchTimeout       duration `yaml:"fetch_timeout"`
	MinRefreshInterval duration `yaml:"min_refresh_interval"`
	MaxRefreshInterval duration `yaml:"max_refresh_interval"`
	UnknownKIDCooldown duration `yaml:"unknown_kid_cooldown"`
	MaxStaleness       duration `yaml:"max_staleness"`
	AllowedJWKSHosts   []string `yaml:"allowed_jwks_hosts"`
	InsecureAllowHTTP  bool     `yaml:"insecure_allow_http"`
}

type routeYAML struct {
	Host    string          `yaml:"host"`
	Methods []string        `yaml:"methods"`
	Path    string          `yaml:"path"`
	Require requirementYAML `yaml:"require"`
}

// requirementYAML: every key given must hold (and).
type requirementYAML struct {
	Authenticated bool              `yaml:"authenticated"`
	All           []string          `yaml:"all"`
	Any           []string          `yaml:"any"`
	AllScopes     []string          `yaml:"all_scopes"`
	AnyScopes     []string          `yaml:"any_scopes"`
	AllRoles      []string          `yaml:"all_roles"`
	AnyRoles      []string          `yaml:"any_roles"`
	And           []requirementYAML `yaml:"and"`
	Or            []requirementYAML `yaml:"or"`
}

// duration is a Go duration string in YAML ("5s", "1h").
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration such as \"5s\" or \"1h\"", n.Line, s)
	}
	*d = duration(v)
	return nil
}

// Profile options in YAML. Field names equal those of the profiles
// package's option structs: copyFields moves them across.

type rfc9068YAML struct {
	Issuer         string   `yaml:"issuer"`
	JWKSURL        string   `yaml:"jwks_url"`
	Audience       string   `yaml:"audience"`
	ExtraAudiences []string `yaml:"extra_audiences"`
	ClientIDs      []string `yaml:"client_ids"`
	AllowAnyClient bool     `yaml:"allow_any_client"`
	Algorithms     []string `yaml:"algorithms"`
	Leeway         duration `yaml:"leeway"`
}

type hydraYAML struct {
	Issuer         string   `yaml:"issuer"`
	Audience       string   `yaml:"audience"`
	ExtraAudiences []string `yaml:"extra_audiences"`
	ClientIDs      []string `yaml:"client_ids"`
	AllowAnyClient bool     `yaml:"allow_any_client"`
	Algorithms     []string `yaml:"algorithms"`
	Leeway         duration `yaml:"leeway"`
}

type auth0YAML struct {
	Domain         string   `yaml:"domain"`
	Issuer         string   `yaml:"issuer"`
	Audience       string   `yaml:"audience"`
	ExtraAudiences []string `yaml:"extra_audiences"`
	ClientIDs      []string `yaml:"client_ids"`
	AllowAnyClient bool     `yaml:"allow_any_client"`
	Algorithms     []string `yaml:"algorithms"`
	Leeway         duration `yaml:"leeway"`
}

type oktaYAML = hydraYAML

type keycloakYAML struct {
	URL              string   `yaml:"url"`
	Realm            string   `yaml:"realm"`
	Issuer           string   `yaml:"issuer"`
	Audience         string   `yaml:"audience"`
	ExtraAudiences   []string `yaml:"extra_audiences"`
	RoleClients      []string `yaml:"role_clients"`
	IgnoreRealmRoles bool     `yaml:"ignore_realm_roles"`
	ClientIDs        []string `yaml:"client_ids"`
	AllowAnyClient   bool     `yaml:"allow_any_client"`
	Algorithms       []string `yaml:"algorithms"`
	Leeway           duration `yaml:"leeway"`
}

type cognitoYAML struct {
	UserPoolID string   `yaml:"user_pool_id"`
	Region     string   `yaml:"region"`
	Issuer     string   `yaml:"issuer"`
	ClientIDs  []string `yaml:"client_ids"`
	Algorithms []string `yaml:"algorithms"`
	Leeway     duration `yaml:"leeway"`
}

type entraYAML struct {
	TenantID             string   `yaml:"tenant_id"`
	AllowedTenants       []string `yaml:"allowed_tenants"`
	InsecureAnyTenant    bool     `yaml:"insecure_any_tenant"`
	ClientID             string   `yaml:"client_id"`
	AppIDURI             string   `yaml:"app_id_uri"`
	ExtraAudiences       []string `yaml:"extra_audiences"`
	Versions             []string `yaml:"versions"` // "v1", "v2"; empty: both
	ClientIDs            []string `yaml:"client_ids"`
	AllowAnyClient       bool     `yaml:"allow_any_client"`
	AllowDelegated       bool     `yaml:"allow_delegated"`
	AuthorizeByClientIDs bool     `yaml:"authorize_by_client_ids"`
	Instance             string   `yaml:"instance"`
	V1Instance           string   `yaml:"v1_instance"`
	AppSigningKeys       bool     `yaml:"app_signing_keys"`
	Algorithms           []string `yaml:"algorithms"`
	Leeway               duration `yaml:"leeway"`
}

type b2cYAML struct {
	TenantName     string   `yaml:"tenant_name"`
	TenantID       string   `yaml:"tenant_id"`
	Policy         string   `yaml:"policy"`
	ClientID       string   `yaml:"client_id"`
	ExtraAudiences []string `yaml:"extra_audiences"`
	TFPIssuer      bool     `yaml:"tfp_issuer"`
	Instance       string   `yaml:"instance"`
	Issuer         string   `yaml:"issuer"`
	ClientIDs      []string `yaml:"client_ids"`
	AllowAnyClient bool     `yaml:"allow_any_client"`
	Algorithms     []string `yaml:"algorithms"`
	Leeway         duration `yaml:"leeway"`
}

// profileKinds lists the accepted profile names with their YAML option
// types and constructors.
var profileKinds = map[string]struct {
	yamlType reflect.Type
	build    func(opts any, name string) ([]profiles.Profile, error)
}{
	"rfc9068":   {reflect.TypeFor[rfc9068YAML](), single(profiles.RFC9068)},
	"hydra":     {reflect.TypeFor[hydraYAML](), single(profiles.Hydra)},
	"auth0":     {reflect.TypeFor[auth0YAML](), single(profiles.Auth0)},
	"okta":      {reflect.TypeFor[oktaYAML](), single(profiles.Okta)},
	"keycloak":  {reflect.TypeFor[keycloakYAML](), single(profiles.Keycloak)},
	"cognito":   {reflect.TypeFor[cognitoYAML](), single(profiles.Cognito)},
	"azure-b2c": {reflect.TypeFor[b2cYAML](), single(profiles.AzureB2C)},
	"entra": {reflect.TypeFor[entraYAML](), func(o any, name string) ([]profiles.Profile, error) {
		var po profiles.EntraOptions
		copyFields(&po, o)
		po.Name = name
		for _, v := range o.(*entraYAML).Versions {
			switch v {
			case "v1":
				po.Versions |= profiles.EntraV1
			case "v2":
				po.Versions |= profiles.EntraV2
			default:
				return nil, &profiles.ConfigError{Provider: "entra", Field: "Versions", Problem: "each version must be \"v1\" or \"v2\""}
			}
		}
		return profiles.EntraID(po)
	}},
}

// single builds a one-profile constructor from a profiles constructor:
// the YAML options are copied into O by field name, then Name is set.
func single[O any](build func(O) (profiles.Profile, error)) func(any, string) ([]profiles.Profile, error) {
	return func(o any, name string) ([]profiles.Profile, error) {
		var po O
		copyFields(&po, o)
		reflect.ValueOf(&po).Elem().FieldByName("Name").SetString(name)
		p, err := build(po)
		return []profiles.Profile{p}, err
	}
}

// copyFields copies every field of *src into the same-named field of *dst
// when the types convert (duration -> time.Duration included).
func copyFields(dst, src any) {
	dv := reflect.ValueOf(dst).Elem()
	sv := reflect.ValueOf(src).Elem()
	for i := 0; i < sv.NumField(); i++ {
		f := sv.Type().Field(i)
		df := dv.FieldByName(f.Name)
		if !df.IsValid() || !df.CanSet() || !f.Type.ConvertibleTo(df.Type()) {
			continue
		}
		df.Set(sv.Field(i).Convert(df.Type()))
	}
}

// IssuerSpec is one built issuer of a policy, before its keys are attached.
type issuerSpec struct {
	profile profiles.Profile
	keys    jwkscache.Config
	// fingerprint identifies the key cache: an issuer whose fingerprint is
	// unchanged across a reload keeps its running cache.
	fingerprint string
	// intro, when set, is the issuer's introspection (mode introspect or
	// jwt-or-introspect); profile is then completed for it and base is the
	// profile before, from which the engine starts a Source.
	intro *introSpec
	base  profiles.Profile
}

// needsKeys reports whether the issuer verifies JWTs with keys (every mode
// but introspect, where even a JWS is introspected).
func (is *issuerSpec) needsKeys() bool {
	return is.intro == nil || is.intro.mode != jwtverify.ModeIntrospect
}

// routeSpec is one route of a policy.
type routeSpec struct {
	patterns []string // the ServeMux patterns registered for it
	label    string   // the route name in decisions and logs
	req      jwtverify.Requirement
}

// parsedPolicy is a validated policy file, not yet holding any running part.
type parsedPolicy struct {
	realm   string
	headers headerNames
	issuers []issuerSpec
	routes  []*routeSpec
	mux     *http.ServeMux
	raw     []byte
}

// loadPolicyFile reads and validates file.
func loadPolicyFile(file string) (*parsedPolicy, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, &PolicyError{File: file, Msg: err.Error()}
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, maxPolicyBytes+1)); err != nil {
		return nil, &PolicyError{File: file, Msg: err.Error()}
	}
	if buf.Len() > maxPolicyBytes {
		return nil, &PolicyError{File: file, Msg: fmt.Sprintf("larger than %d bytes", maxPolicyBytes)}
	}
	return parsePolicy(file, buf.Bytes())
}

// parsePolicy validates a policy document; file names it in errors.
func parsePolicy(file string, data []byte) (*parsedPolicy, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(file, "", err)
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		return nil, &PolicyError{File: file, Msg: "empty document"}
	}
	doc := root.Content[0]
	var errs []error
	checkKnown(file, doc, reflect.TypeFor[policyFile](), "", &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var pf policyFile
	if err := doc.Decode(&pf); err != nil {
		return nil, yamlError(file, "", err)
	}
	p := &parsedPolicy{realm: pf.Realm, headers: pf.Headers, raw: data}
	at := func(field string) int { return lineOf(doc, field) }
	if pf.Version != 1 {
		errs = append(errs, &PolicyError{File: file, Line: at("version"), Field: "version", Msg: "must be 1"})
	}
	if p.realm == "" {
		p.realm = "api"
	} else if !printable(p.realm) {
		errs = append(errs, &PolicyError{File: file, Line: at("realm"), Field: "realm", Msg: "must be printable ASCII without quotes or backslashes"})
	}
	errs = append(errs, checkHeaderNames(file, doc, &p.headers)...)
	if len(pf.Issuers) == 0 {
		errs = append(errs, &PolicyError{File: file, Line: at("issuers"), Field: "issuers", Msg: "at least one issuer is required"})
	}
	names := map[string]bool{}
	for i := range pf.Issuers {
		specs, ierrs := buildIssuer(file, nodeAt(doc, "issuers", i), fmt.Sprintf("issuers[%d]", i), &pf.Issuers[i])
		errs = append(errs, ierrs...)
		for _, s := range specs {
			if names[s.profile.Name] {
				errs = append(errs, &PolicyError{File: file, Line: nodeAt(doc, "issuers", i).Line, Field: fmt.Sprintf("issuers[%d].name", i), Msg: fmt.Sprintf("issuer name %q is used twice", s.profile.Name)})
			}
			names[s.profile.Name] = true
			p.issuers = append(p.issuers, s)
		}
	}
	errs = append(errs, checkOpaqueRoutes(file, p.issuers)...)
	if len(pf.Routes) == 0 {
		errs = append(errs, &PolicyError{File: file, Line: at("routes"), Field: "routes", Msg: "at least one route is required (everything else is denied)"})
	}
	p.mux = http.NewServeMux()
	for i := range pf.Routes {
		rs, rerrs := buildRoute(file, nodeAt(doc, "routes", i), fmt.Sprintf("routes[%d]", i), &pf.Routes[i], p.mux)
		errs = append(errs, rerrs...)
		if rs != nil {
			p.routes = append(p.routes, rs)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func buildIssuer(file string, n *yaml.Node, field string, iy *issuerYAML) ([]issuerSpec, []error) {
	perr := func(sub string, msg string) error {
		line := n.Line
		if l := lineOf(n, sub); l > 0 {
			line = l
		}
		return &PolicyError{File: file, Line: line, Field: field + "." + sub, Msg: msg}
	}
	if iy.Name == "" || !printable(iy.Name) || len(iy.Name) > 64 {
		return nil, []error{perr("name", "required: 1 to 64 printable characters naming the issuer in metrics and logs")}
	}
	kind, ok := profileKinds[iy.Profile]
	if !ok {
		known := make([]string, 0, len(profileKinds))
		for k := range profileKinds {
			known = append(known, k)
		}
		sort.Strings(known)
		return nil, []error{perr("profile", "must be one of "+strings.Join(known, ", "))}
	}
	opts := reflect.New(kind.yamlType).Interface()
	if iy.Options.Kind == 0 {
		return nil, []error{perr("options", "required: the profile's options")}
	}
	var errs []error
	checkKnown(file, &iy.Options, kind.yamlType, field+".options", &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	if err := iy.Options.Decode(opts); err != nil {
		return nil, []error{yamlError(file, field+".options", err)}
	}
	ps, err := kind.build(opts, iy.Name)
	if err != nil {
		var ce *profiles.ConfigError
		if errors.As(err, &ce) {
			sub := yamlName(kind.yamlType, ce.Field)
			line := lineOf(&iy.Options, sub)
			if line == 0 {
				line = iy.Options.Line
			}
			return nil, []error{&PolicyError{File: file, Line: line, Field: field + ".options." + sub, Msg: ce.Problem}}
		}
		return nil, []error{perr("options", err.Error())}
	}
	var specs []issuerSpec
	for _, p := range ps {
		var intro *introSpec
		base := p
		if iy.Introspection == nil && valueOf(n, "introspection") != nil {
			return nil, []error{perr("introspection", "must be a mapping with at least a mode (or be left out)")}
		}
		if iy.Introspection != nil {
			var ierrs []error
			p, intro, ierrs = buildIntrospection(file, field+".introspection", valueOf(n, "introspection"), iy.Introspection, p)
			if len(ierrs) > 0 {
				return nil, ierrs
			}
		}
		keys := jwkscache.Config{
			FetchTimeout:       time.Duration(iy.Keys.FetchTimeout),
			MinRefreshInterval: time.Duration(iy.Keys.MinRefreshInterval),
			MaxRefreshInterval: time.Duration(iy.Keys.MaxRefreshInterval),
			UnknownKIDCooldown: time.Duration(iy.Keys.UnknownKIDCooldown),
			MaxStaleness:       time.Duration(iy.Keys.MaxStaleness),
			AllowedJWKSHosts:   iy.Keys.AllowedJWKSHosts,
			InsecureAllowHTTP:  iy.Keys.InsecureAllowHTTP,
		}
		cc := p.CacheConfig(keys)
		fp := fmt.Sprintf("%s|%s|%s|%v|%v|%v|%v|%v|%q|%v", cc.Name, cc.JWKSURL, cc.Issuer, cc.FetchTimeout,
			cc.MinRefreshInterval, cc.MaxRefreshInterval, cc.UnknownKIDCooldown, cc.MaxStaleness, cc.AllowedJWKSHosts, cc.InsecureAllowHTTP)
		specs = append(specs, issuerSpec{profile: p, keys: cc, fingerprint: fp, intro: intro, base: base})
	}
	return specs, nil
}

// buildRoute validates one route and registers its patterns on mux; the
// ServeMux decides precedence, and a conflict between two patterns (which
// ServeMux reports by panicking) is a validation error.
func buildRoute(file string, n *yaml.Node, field string, ry *routeYAML, mux *http.ServeMux) (rs *routeSpec, errs []error) {
	perr := func(sub, msg string) error {
		line := n.Line
		if l := lineOf(n, sub); l > 0 {
			line = l
		}
		return &PolicyError{File: file, Line: line, Field: field + "." + sub, Msg: msg}
	}
	if !strings.HasPrefix(ry.Path, "/") {
		return nil, []error{perr("path", "required: a ServeMux path pattern starting with \"/\"")}
	}
	if strings.ContainsAny(ry.Host, "/ \t") || strings.ContainsAny(ry.Path, " \t") {
		return nil, []error{perr("path", "host and path must not contain spaces (and host no \"/\")")}
	}
	for _, m := range ry.Methods {
		if m == "" || strings.ToUpper(m) != m || strings.ContainsAny(m, " \t/") {
			return nil, []error{perr("methods", fmt.Sprintf("%q is not an upper-case HTTP method", m))}
		}
	}
	reqNode := valueOf(n, "require")
	if reqNode == nil {
		return nil, []error{perr("require", "required (use authenticated: true for any valid token)")}
	}
	req, rerrs := buildRequirement(file, reqNode, field+".require", &ry.Require)
	if len(rerrs) > 0 {
		return nil, rerrs
	}
	rs = &routeSpec{req: req, label: ry.Host + ry.Path}
	methods := ry.Methods
	if len(methods) == 0 {
		methods = []string{""}
	} else {
		rs.label = strings.Join(methods, ",") + " " + rs.label
	}
	for _, m := range methods {
		pat := ry.Host + ry.Path
		if m != "" {
			pat = m + " " + pat
		}
		if err := register(mux, pat, rs); err != nil {
			return nil, []error{perr("path", err.Error())}
		}
		rs.patterns = append(rs.patterns, pat)
	}
	return rs, nil
}

// register adds pattern to mux, turning ServeMux's panics (invalid pattern,
// conflict) into errors.
func register(mux *http.ServeMux, pattern string, rs *routeSpec) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	mux.Handle(pattern, routeHandler{rs})
	return nil
}

// routeHandler marks a pattern as one of the policy's routes; it is never
// served, only found by ServeMux.Handler.
type routeHandler struct{ rs *routeSpec }

func (routeHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "not served", http.StatusInternalServerError)
}

func buildRequirement(file string, n *yaml.Node, field string, ry *requirementYAML) (jwtverify.Requirement, []error) {
	var errs []error
	perr := func(sub, msg string) {
		line := n.Line
		if l := lineOf(n, sub); l > 0 {
			line = l
		}
		errs = append(errs, &PolicyError{File: file, Line: line, Field: field + "." + sub, Msg: msg})
	}
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		errs = append(errs, &PolicyError{File: file, Line: n.Line, Field: field, Msg: "must name at least one of authenticated, all, any, all_scopes, any_scopes, all_roles, any_roles, and, or"})
		return jwtverify.Requirement{}, errs
	}
	var parts []jwtverify.Requirement
	leaf := func(sub string, perms []string, set bool, mk func(...string) jwtverify.Requirement) {
		if !set {
			return
		}
		if len(perms) == 0 {
			perr(sub, "must list at least one permission")
			return
		}
		for _, p := range perms {
			if p == "" || !printable(p) || strings.ContainsAny(p, " ") {
				perr(sub, fmt.Sprintf("%q is not a valid permission (no spaces, quotes or backslashes)", p))
				return
			}
		}
		parts = append(parts, mk(perms...))
	}
	has := func(k string) bool { return valueOf(n, k) != nil }
	if has("authenticated") {
		if !ry.Authenticated {
			perr("authenticated", "only true is meaningful (leave it out otherwise)")
		}
		parts = append(parts, jwtverify.Authenticated())
	}
	leaf("all", ry.All, has("all"), jwtverify.RequireAll)
	leaf("any", ry.Any, has("any"), jwtverify.RequireAny)
	leaf("all_scopes", ry.AllScopes, has("all_scopes"), jwtverify.RequireAllScopes)
	leaf("any_scopes", ry.AnyScopes, has("any_scopes"), jwtverify.RequireAnyScopes)
	leaf("all_roles", ry.AllRoles, has("all_roles"), jwtverify.RequireAllRoles)
	leaf("any_roles", ry.AnyRoles, has("any_roles"), jwtverify.RequireAnyRoles)
	for _, comb := range []struct {
		key  string
		subs []requirementYAML
		mk   func(...jwtverify.Requirement) jwtverify.Requirement
	}{{"and", ry.And, jwtverify.And}, {"or", ry.Or, jwtverify.Or}} {
		if !has(comb.key) {
			continue
		}
		if len(comb.subs) == 0 {
			perr(comb.key, "must list at least one requirement")
			continue
		}
		seq := valueOf(n, comb.key)
		var subs []jwtverify.Requirement
		for i := range comb.subs {
			r, serrs := buildRequirement(file, seq.Content[i], fmt.Sprintf("%s.%s[%d]", field, comb.key, i), &comb.subs[i])
			errs = append(errs, serrs...)
			subs = append(subs, r)
		}
		parts = append(parts, comb.mk(subs...))
	}
	if len(errs) > 0 {
		return jwtverify.Requirement{}, errs
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return jwtverify.And(parts...), nil
}

// Default identity header names.
const (
	defaultClientIDHeader = "X-Auth-Client-Id"
	defaultSubjectHeader  = "X-Auth-Subject"
	defaultIssuerHeader   = "X-Auth-Issuer"
	defaultScopesHeader   = "X-Auth-Scopes"
	defaultRolesHeader    = "X-Auth-Roles"
)

func checkHeaderNames(file string, doc *yaml.Node, h *headerNames) []error {
	var errs []error
	hn := valueOf(doc, "headers")
	for _, f := range []struct {
		key string
		v   *string
		def string
	}{
		{"client_id", &h.ClientID, defaultClientIDHeader},
		{"subject", &h.Subject, defaultSubjectHeader},
		{"issuer", &h.Issuer, defaultIssuerHeader},
		{"scopes", &h.Scopes, defaultScopesHeader},
		{"roles", &h.Roles, defaultRolesHeader},
	} {
		switch {
		case *f.v == "":
			*f.v = f.def
		case *f.v == "-":
			*f.v = ""
		case !validHeaderName(*f.v):
			line := 0
			if hn != nil {
				line = lineOf(hn, f.key)
			}
			errs = append(errs, &PolicyError{File: file, Line: line, Field: "headers." + f.key, Msg: fmt.Sprintf("%q is not a valid header name", *f.v)})
		default:
			*f.v = http.CanonicalHeaderKey(*f.v)
		}
	}
	return errs
}

func validHeaderName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	switch http.CanonicalHeaderKey(s) {
	case "Authorization", "Host", "Content-Length", "Transfer-Encoding", "Connection", "Cookie", "Set-Cookie", "Www-Authenticate":
		return false
	}
	return true
}

// printable reports whether s is printable ASCII without quotes or
// backslashes (safe in a challenge and a metric label).
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 && s[i] != ' ' || s[i] > 0x7e || s[i] == '"' || s[i] == '\\' {
			return false
		}
	}
	return true
}

// checkKnown reports every mapping key of n that t (a struct type, or
// slices of them) does not declare, with its line.
func checkKnown(file string, n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch {
	case t == reflect.TypeFor[yaml.Node]():
		return
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag != "" && tag != "-" {
				fields[tag] = t.Field(i).Type
				names = append(names, tag)
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			sub := k
			if path != "" {
				sub = path + "." + k
			}
			ft, ok := fields[k]
			if msg, inline := inlineSecretKeys[k]; !ok && inline && (t == reflect.TypeFor[clientAuthYAML]() || t == reflect.TypeFor[introspectionYAML]()) {
				*errs = append(*errs, &PolicyError{File: file, Line: n.Content[i].Line, Field: sub, Msg: msg})
				continue
			}
			if !ok {
				*errs = append(*errs, &PolicyError{File: file, Line: n.Content[i].Line, Field: sub, Msg: "unknown field (known: " + strings.Join(names, ", ") + ")"})
				continue
			}
			checkKnown(file, n.Content[i+1], ft, sub, errs)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			checkKnown(file, c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	}
}

// yamlError turns a yaml error into PolicyErrors (one per line it names).
func yamlError(file, field string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var errs []error
		for _, m := range te.Errors {
			errs = append(errs, lineError(file, field, m))
		}
		return errors.Join(errs...)
	}
	return lineError(file, field, strings.TrimPrefix(err.Error(), "yaml: "))
}

func lineError(file, field, msg string) error {
	var line int
	if _, err := fmt.Sscanf(msg, "line %d:", &line); err == nil {
		if i := strings.Index(msg, ":"); i >= 0 {
			msg = strings.TrimSpace(msg[i+1:])
		}
	}
	return &PolicyError{File: file, Line: line, Field: field, Msg: msg}
}

// valueOf returns the value node of key in mapping n, or nil.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// lineOf returns the line of key in mapping n, or 0.
func lineOf(n *yaml.Node, key string) int {
	if n == nil || n.Kind != yaml.MappingNode {
		return 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return 0
}

// nodeAt returns item i of the sequence under key in n.
func nodeAt(n *yaml.Node, key string, i int) *yaml.Node {
	s := valueOf(n, key)
	if s == nil || s.Kind != yaml.SequenceNode || i >= len(s.Content) {
		return n
	}
	return s.Content[i]
}

// yamlName returns the YAML key of Go field name in t.
func yamlName(t reflect.Type, goName string) string {
	if f, ok := t.FieldByName(goName); ok {
		if tag := strings.Split(f.Tag.Get("yaml"), ",")[0]; tag != "" {
			return tag
		}
	}
	return strings.ToLower(goName)
}
