package jwtverify

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/internal/strictjson"
	"github.com/m2mauth/m2mauth/jwkscache"
)

// Defaults and bounds of Config.
const (
	// DefaultMaxTokenSize is the default Config.MaxTokenSize.
	DefaultMaxTokenSize = 16384
	// MaxMaxTokenSize is the largest accepted Config.MaxTokenSize (64 KiB,
	// the bound of the gRPC adapter's credentials): it caps the work a
	// forged token can cost before its signature is checked (SECURITY.md).
	MaxMaxTokenSize = 64 << 10
	// DefaultLeeway is the clock-skew allowance when IssuerConfig.Leeway is 0.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway is the largest accepted IssuerConfig.Leeway.
	MaxLeeway = 5 * time.Minute
	// DefaultCacheEntries is the default CacheConfig.MaxEntries.
	DefaultCacheEntries = 10000
	// DefaultCacheBytes is the default CacheConfig.MaxBytes.
	DefaultCacheBytes = 32 << 20
	// maxKeyTries bounds the keys tried for one token (no kid, or a kid
	// shared by several keys).
	maxKeyTries = 3
	// tenantPlaceholder is the issuer template placeholder.
	tenantPlaceholder = "{tenantid}"
)

// DefaultClientIDClaims are the claims holding the client ID, in order.
func DefaultClientIDClaims() []string { return []string{"azp", "client_id", "appid", "cid"} }

// DefaultPermissions are the permission claims read when
// IssuerConfig.Permissions is nil.
func DefaultPermissions() []PermissionClaim {
	return []PermissionClaim{
		{Path: []string{"scope"}, Kind: KindScope},
		{Path: []string{"scp"}, Kind: KindScope},
		{Path: []string{"roles"}, Kind: KindRole},
		{Path: []string{"permissions"}, Kind: KindRole},
	}
}

// permSpec is a compiled PermissionClaim.
type permSpec struct {
	idx  int      // interest index of Path[0]
	rest []string // Path[1:]
	name string   // joined path, for messages
	kind PermissionKind
}

// issuer is a compiled IssuerConfig.
type issuer struct {
	name       string
	iss        string
	template   bool
	prefix     string // template: before {tenantid}
	suffix     string // template: after {tenantid}
	tenants    map[string]struct{}
	anyTenant  bool
	keys       jwkscache.KeySource
	audiences  []string
	skipAud    bool
	clientIDs  map[string]struct{}
	anyClient  bool
	clientIdx  []int
	algs       [algCount]bool
	leeway     int64 // microseconds
	typ        TypePolicy
	required   []int
	reqNames   []string
	perms      []permSpec
	appOnly    func(*Principal) bool
	rules      []Rule
	validate   func(*Principal) error
	valCodes   []string // declared codes of validate
	ignoreCnf  bool
	binding    binding.Config
	publicInfo IssuerInfo

	mode         Mode
	intro        Introspector // nil under ModeJWT
	opaquePrefix string
}

// compiler collects the claim names of interest across issuers.
type compiler struct {
	interest []string
}

func (c *compiler) index(name string) int {
	for i, n := range c.interest {
		if n == name {
			return i
		}
	}
	c.interest = append(c.interest, name)
	return len(c.interest) - 1
}

// isGUID reports whether s has the 8-4-4-4-12 hex form.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if strictjson.HexVal(c) < 0 {
			return false
		}
	}
	return true
}

func compileIssuer(ic *IssuerConfig, c *compiler) (*issuer, error) {
	is := &issuer{name: ic.Name, iss: ic.Issuer, keys: ic.Keys, typ: ic.TokenType}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("jwtverify: issuer %q: "+format, append([]any{ic.Name}, a...)...)
	}
	if ic.Issuer == "" {
		return nil, fail("Issuer is required")
	}
	switch n := strings.Count(ic.Issuer, tenantPlaceholder); n {
	case 0:
		if len(ic.AllowedTenants) > 0 || ic.InsecureAllowAnyTenant {
			return nil, fail("AllowedTenants and InsecureAllowAnyTenant need a %s issuer template", tenantPlaceholder)
		}
	case 1:
		is.template = true
		i := strings.Index(ic.Issuer, tenantPlaceholder)
		is.prefix, is.suffix = ic.Issuer[:i], ic.Issuer[i+len(tenantPlaceholder):]
		if is.prefix == "" {
			return nil, fail("issuer template must not start with %s", tenantPlaceholder)
		}
		if ic.InsecureAllowAnyTenant {
			if len(ic.AllowedTenants) > 0 {
				return nil, fail("set AllowedTenants or InsecureAllowAnyTenant, not both")
			}
			is.anyTenant = true
		} else {
			if len(ic.AllowedTenants) == 0 {
				return nil, fail("issuer template needs AllowedTenants (or InsecureAllowAnyTenant)")
			}
			is.tenants = make(map[string]struct{}, len(ic.AllowedTenants))
			for _, t := range ic.AllowedTenants {
				if !isGUID(t) {
					return nil, fail("allowed tenant %q is not a GUID", t)
				}
				is.tenants[strings.ToLower(t)] = struct{}{}
			}
		}
	default:
		return nil, fail("issuer template holds %s more than once", tenantPlaceholder)
	}
	if err := compileRouting(ic, is); err != nil {
		return nil, fail("%v", err)
	}
	if ic.Keys == nil && ic.Mode != ModeIntrospect {
		return nil, fail("Keys is required")
	}
	switch {
	case ic.InsecureSkipAudienceCheck && len(ic.Audiences) > 0:
		return nil, fail("set Audiences or InsecureSkipAudienceCheck, not both")
	case ic.InsecureSkipAudienceCheck:
		is.skipAud = true
	case len(ic.Audiences) == 0:
		return nil, fail("Audiences is required (or set InsecureSkipAudienceCheck)")
	}
	for _, a := range ic.Audiences {
		if a == "" {
			return nil, fail("empty audience")
		}
	}
	is.audiences = append([]string(nil), ic.Audiences...)
	switch {
	case ic.AllowAnyClient && len(ic.ClientIDs) > 0:
		return nil, fail("set ClientIDs or AllowAnyClient, not both")
	case ic.AllowAnyClient:
		is.anyClient = true
	case len(ic.ClientIDs) == 0:
		return nil, fail("ClientIDs is required (or set AllowAnyClient): an empty list never means any client")
	}
	is.clientIDs = make(map[string]struct{}, len(ic.ClientIDs))
	for _, id := range ic.ClientIDs {
		if id == "" {
			return nil, fail("empty client ID")
		}
		is.clientIDs[id] = struct{}{}
	}
	cc := ic.ClientIDClaims
	if len(cc) == 0 {
		cc = DefaultClientIDClaims()
	}
	for _, n := range cc {
		if n == "" {
			return nil, fail("empty client ID claim name")
		}
		is.clientIdx = append(is.clientIdx, c.index(n))
	}
	if len(ic.Algorithms) == 0 && ic.Mode != ModeIntrospect {
		return nil, fail("Algorithms is required")
	}
	for _, a := range ic.Algorithms {
		id := parseAlg(a)
		if id == algUnknown {
			if strings.EqualFold(a, "none") || strings.HasPrefix(strings.ToUpper(a), "HS") {
				return nil, fail("algorithm %q is refused (never none or HMAC with issuer keys)", a)
			}
			return nil, fail("unsupported algorithm %q (exact names: RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA)", a)
		}
		is.algs[id] = true
	}
	switch {
	case ic.Leeway == 0:
		is.leeway = DefaultLeeway.Microseconds()
	case ic.Leeway == NoLeeway:
		is.leeway = 0
	case ic.Leeway < 0:
		return nil, fail("negative Leeway (use NoLeeway)")
	case ic.Leeway > MaxLeeway:
		return nil, fail("Leeway %v exceeds the cap of %v", ic.Leeway, MaxLeeway)
	default:
		is.leeway = ic.Leeway.Microseconds()
	}
	if ic.TokenType != TypeDefault && ic.TokenType != TypeStrictRFC9068 {
		return nil, fail("unknown TokenType %d", ic.TokenType)
	}
	for _, n := range ic.RequiredClaims {
		if n == "" {
			return nil, fail("empty required claim name")
		}
		is.required = append(is.required, c.index(n))
		is.reqNames = append(is.reqNames, n)
	}
	perms := ic.Permissions
	if perms == nil {
		perms = DefaultPermissions()
	}
	for _, pc := range perms {
		if len(pc.Path) == 0 || len(pc.Path) >= strictjson.MaxDepth {
			return nil, fail("permission claim path must have 1 to %d elements", strictjson.MaxDepth-1)
		}
		for _, e := range pc.Path {
			if e == "" {
				return nil, fail("empty permission claim path element")
			}
		}
		if pc.Kind != KindScope && pc.Kind != KindRole {
			return nil, fail("permission claim %q has no Kind", strings.Join(pc.Path, "."))
		}
		is.perms = append(is.perms, permSpec{
			idx:  c.index(pc.Path[0]),
			rest: append([]string(nil), pc.Path[1:]...),
			name: strings.Join(pc.Path, "."),
			kind: pc.Kind,
		})
	}
	is.appOnly, is.validate = ic.AppOnly, ic.Validate
	if err := compileRules(ic, is); err != nil {
		return nil, fail("%v", err)
	}
	is.ignoreCnf = ic.InsecureIgnoreConfirmation
	if err := ic.Binding.Validate(); err != nil {
		return nil, fail("Binding: %v", err)
	}
	if ic.InsecureIgnoreConfirmation && ic.Binding.Policy != binding.Off {
		return nil, fail("InsecureIgnoreConfirmation cannot be combined with the binding policy %s", ic.Binding.Policy)
	}
	is.binding = ic.Binding
	is.publicInfo = IssuerInfo{Name: ic.Name, Issuer: ic.Issuer, Audiences: append([]string(nil), ic.Audiences...), Binding: ic.Binding}
	return is, nil
}

// compile validates cfg and builds the Verifier's tables.
func compile(cfg *Config) (*Verifier, error) {
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("jwtverify: at least one issuer is required")
	}
	v := &Verifier{exact: make(map[string]*issuer), now: cfg.Now, obs: cfg.Observer, maxSize: cfg.MaxTokenSize}
	v.cobs, _ = v.obs.(ContextObserver)
	if v.now == nil {
		v.now = time.Now
		v.realClock = true
	}
	switch {
	case v.maxSize == 0:
		v.maxSize = DefaultMaxTokenSize
	case v.maxSize < 0 || v.maxSize > MaxMaxTokenSize:
		return nil, fmt.Errorf("jwtverify: MaxTokenSize %d out of range (1..%d)", v.maxSize, MaxMaxTokenSize)
	}
	var c compiler
	names := make(map[string]bool)
	for i := range cfg.Issuers {
		ic := &cfg.Issuers[i]
		if ic.Name == "" {
			return nil, fmt.Errorf("jwtverify: issuer %d: Name is required", i)
		}
		if ic.Name == NoIssuer {
			return nil, fmt.Errorf("jwtverify: issuer %d: the name %q is reserved (NoIssuer: no issuer chosen)", i, NoIssuer)
		}
		if names[ic.Name] {
			return nil, fmt.Errorf("jwtverify: duplicate issuer name %q", ic.Name)
		}
		names[ic.Name] = true
		is, err := compileIssuer(ic, &c)
		if err != nil {
			return nil, err
		}
		if is.template {
			for _, o := range v.templates {
				if o.iss == is.iss {
					return nil, fmt.Errorf("jwtverify: issuers %q and %q share the issuer %q", o.name, is.name, is.iss)
				}
			}
			v.templates = append(v.templates, is)
		} else {
			if o, dup := v.exact[is.iss]; dup {
				return nil, fmt.Errorf("jwtverify: issuers %q and %q share the issuer %q", o.name, is.name, is.iss)
			}
			v.exact[is.iss] = is
		}
		v.issuers = append(v.issuers, is)
	}
	if err := compileOpaqueRoutes(v); err != nil {
		return nil, err
	}
	if len(c.interest) > maxInterest {
		return nil, fmt.Errorf("jwtverify: more than %d distinct client, permission and required claim names", maxInterest)
	}
	v.interest = c.interest
	it, err := newInterestTable(c.interest)
	if err != nil {
		return nil, err
	}
	v.interestTab = it
	cc := cfg.Cache
	if !cc.Disabled {
		if cc.MaxEntries < 0 || cc.MaxBytes < 0 {
			return nil, errors.New("jwtverify: negative cache bound")
		}
		if cc.MaxEntries == 0 {
			cc.MaxEntries = DefaultCacheEntries
		}
		if cc.MaxBytes == 0 {
			cc.MaxBytes = DefaultCacheBytes
		}
		v.cache = newTokenCache(cc.MaxEntries, cc.MaxBytes)
	}
	return v, nil
}

// maxRuleCode is the longest rule code.
const maxRuleCode = 32

// validRuleCode reports whether code is 1 to 32 bytes of [a-z0-9_].
func validRuleCode(code string) bool {
	if code == "" || len(code) > maxRuleCode {
		return false
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// compileRules checks the codes of Rules and ValidateCodes (syntax, unique
// within the issuer, RuleCustom reserved) and copies them into is.
func compileRules(ic *IssuerConfig, is *issuer) error {
	seen := make(map[string]bool, len(ic.Rules)+len(ic.ValidateCodes))
	check := func(what, code string) error {
		switch {
		case code == RuleCustom:
			return fmt.Errorf("%s code %q is reserved", what, code)
		case !validRuleCode(code):
			return fmt.Errorf("%s code %q must be 1 to %d bytes of [a-z0-9_]", what, code, maxRuleCode)
		case seen[code]:
			return fmt.Errorf("%s code %q is declared twice", what, code)
		}
		seen[code] = true
		return nil
	}
	for _, r := range ic.Rules {
		if err := check("rule", r.Code); err != nil {
			return err
		}
		if r.Check == nil {
			return fmt.Errorf("rule %q has no Check", r.Code)
		}
	}
	for _, code := range ic.ValidateCodes {
		if err := check("ValidateCodes", code); err != nil {
			return err
		}
	}
	if len(ic.ValidateCodes) > 0 && ic.Validate == nil {
		return errors.New("ValidateCodes without Validate")
	}
	is.rules = append([]Rule(nil), ic.Rules...)
	is.valCodes = append([]string(nil), ic.ValidateCodes...)
	return nil
}
