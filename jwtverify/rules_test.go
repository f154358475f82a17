package jwtverify

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestValidateRunsOnEveryVerify is the regression test of issue 16 finding
// 1: a user rule that starts refusing (a deny list flipped after the first
// accept) refuses the cached token at its next Verify, exactly as with the
// cache disabled. On the previous main the cached token kept being
// accepted until it expired.
func TestValidateRunsOnEveryVerify(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		name := "cache"
		if disabled {
			name = "no_cache"
		}
		t.Run(name, func(t *testing.T) {
			var denied atomic.Bool
			var calls atomic.Int64
			rec := &recorder{}
			v := newV(t, func(c *Config) {
				c.Cache.Disabled = disabled
				c.Observer = rec
				c.Issuers[0].ValidateCodes = []string{"jti_denied"}
				c.Issuers[0].Validate = func(p *Principal) error {
					calls.Add(1)
					if denied.Load() && p.TokenID() == "jti-1" {
						return RuleError(ErrClient, "jti_denied", "token ID is on the deny list")
					}
					return nil
				}
			})
			ctx := context.Background()
			token := tok("ES256", nil, nil)
			if _, err := v.Verify(ctx, token); err != nil {
				t.Fatalf("first Verify: %v", err)
			}
			denied.Store(true)
			p, err := v.Verify(ctx, token)
			if err == nil || p != nil {
				t.Fatalf("denied token accepted (principal %v)", p)
			}
			var e *Error
			if !errors.As(err, &e) || e.Reason != ReasonClient || e.Rule != "jti_denied" || e.Issuer != "test" || !errors.Is(err, ErrClient) {
				t.Fatalf("refusal %#v", err)
			}
			ev := rec.last()
			if ev.CacheHit == disabled || ev.Reason != ReasonClient || ev.Rule != "jti_denied" || ev.Issuer != "test" {
				t.Fatalf("event %+v", ev)
			}
			denied.Store(false)
			if _, err := v.Verify(ctx, token); err != nil {
				t.Fatalf("after lifting the deny: %v", err)
			}
			if n := calls.Load(); n != 3 {
				t.Fatalf("Validate ran %d times for 3 Verify calls", n)
			}
		})
	}
}

// TestRulesRunOncePerToken: the pure Rules run on a cache miss only, and a
// refusal carries the rule's code and the reason it chose.
func TestRulesRunOncePerToken(t *testing.T) {
	var runs atomic.Int64
	rec := &recorder{}
	v := newV(t, func(c *Config) {
		c.Observer = rec
		c.Issuers[0].Rules = []Rule{
			{Code: "counted", Check: func(*Principal) error { runs.Add(1); return nil }},
			{Code: "no_admin", Check: func(p *Principal) error {
				if p.Has("admin") {
					return errors.New("admin scope refused")
				}
				return nil
			}},
			{Code: "typed", Check: func(p *Principal) error {
				if p.Subject() == "typed" {
					return RuleError(ErrType, "ignored_code", "subject typed")
				}
				return nil
			}},
		}
	})
	ctx := context.Background()
	token := tok("ES256", nil, nil)
	for range 3 {
		if _, err := v.Verify(ctx, token); err != nil {
			t.Fatal(err)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("pure rule ran %d times for one token", n)
	}
	cases := []struct {
		claims map[string]any
		reason Reason
		code   string
	}{
		{map[string]any{"scope": "admin"}, ReasonMissingClaim, "no_admin"},
		{map[string]any{"sub": "typed"}, ReasonType, "typed"},
	}
	for _, c := range cases {
		_, err := v.Verify(ctx, tok("ES256", nil, c.claims))
		var e *Error
		if !errors.As(err, &e) || e.Reason != c.reason || e.Rule != c.code {
			t.Fatalf("%v: %#v", c.claims, err)
		}
		if ev := rec.last(); ev.Rule != c.code || ev.Reason != c.reason {
			t.Fatalf("event %+v", ev)
		}
	}
	if st := v.CacheStats(); st.Entries != 1 {
		t.Fatalf("refused tokens cached: %+v", st)
	}
}

// TestValidateCodes: Validate's sub-reason is its declared code, anything
// else is RuleCustom; the reason comes from the wrapped sentinel.
func TestValidateCodes(t *testing.T) {
	var ret atomic.Pointer[error]
	v := newV(t, func(c *Config) {
		c.Issuers[0].ValidateCodes = []string{"kill_switch"}
		c.Issuers[0].Validate = func(*Principal) error { return *ret.Load() }
	})
	ctx := context.Background()
	cases := []struct {
		name   string
		err    error
		reason Reason
		code   string
	}{
		{"declared", RuleError(ErrAudience, "kill_switch", "off"), ReasonAudience, "kill_switch"},
		{"declared_wrapped", errors.Join(errors.New("ctx"), RuleError(nil, "kill_switch", "off")), ReasonMissingClaim, "kill_switch"},
		{"undeclared", RuleError(ErrType, "other_code", "x"), ReasonType, RuleCustom},
		{"plain", errors.New("no"), ReasonMissingClaim, RuleCustom},
		{"sentinel", ErrClient, ReasonClient, RuleCustom},
	}
	token := tok("RS256", nil, nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ret.Store(&c.err)
			_, err := v.Verify(ctx, token)
			var e *Error
			if !errors.As(err, &e) || e.Reason != c.reason || e.Rule != c.code || !errors.Is(err, c.err) {
				t.Fatalf("%#v", err)
			}
			if strings.Contains(err.Error(), token) {
				t.Fatal("token in the message")
			}
		})
	}
}

func TestRuleCodesAtNew(t *testing.T) {
	ok := func(*Principal) error { return nil }
	cases := []struct {
		name string
		edit func(*IssuerConfig)
		want string
	}{
		{"bad_syntax", func(ic *IssuerConfig) { ic.Rules = []Rule{{Code: "Bad-Code", Check: ok}} }, "Bad-Code"},
		{"empty", func(ic *IssuerConfig) { ic.Rules = []Rule{{Code: "", Check: ok}} }, "[a-z0-9_]"},
		{"too_long", func(ic *IssuerConfig) { ic.Rules = []Rule{{Code: strings.Repeat("a", 33), Check: ok}} }, "[a-z0-9_]"},
		{"reserved", func(ic *IssuerConfig) { ic.Rules = []Rule{{Code: RuleCustom, Check: ok}} }, "reserved"},
		{"nil_check", func(ic *IssuerConfig) { ic.Rules = []Rule{{Code: "a"}} }, "no Check"},
		{"duplicate", func(ic *IssuerConfig) { ic.Rules = []Rule{{Code: "a", Check: ok}, {Code: "a", Check: ok}} }, "twice"},
		{"duplicate_across", func(ic *IssuerConfig) {
			ic.Rules = []Rule{{Code: "a", Check: ok}}
			ic.Validate, ic.ValidateCodes = ok, []string{"a"}
		}, "twice"},
		{"validate_reserved", func(ic *IssuerConfig) { ic.Validate, ic.ValidateCodes = ok, []string{"custom"} }, "reserved"},
		{"codes_without_validate", func(ic *IssuerConfig) { ic.ValidateCodes = []string{"a"} }, "without Validate"},
		{"reserved_issuer_name", func(ic *IssuerConfig) { ic.Name = NoIssuer }, "reserved"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ic := baseIssuer(newSwapSource(fx("RS256").key))
			c.edit(&ic)
			_, err := New(Config{Issuers: []IssuerConfig{ic}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want %q", err, c.want)
			}
		})
	}
	ic := baseIssuer(newSwapSource(fx("RS256").key))
	ic.Rules = []Rule{{Code: "a_1", Check: ok}, {Code: strings.Repeat("z", 32), Check: ok}}
	ic.Validate, ic.ValidateCodes = ok, []string{"b_2"}
	if _, err := New(Config{Issuers: []IssuerConfig{ic}}); err != nil {
		t.Fatal(err)
	}
}

// TestNoIssuerInEvents: a token refused before an issuer was chosen is
// reported under NoIssuer, never "".
func TestNoIssuerInEvents(t *testing.T) {
	rec := &recorder{}
	v := newV(t, func(c *Config) { c.Observer = rec })
	ctx := context.Background()
	for _, token := range []string{"junk", tok("RS256", nil, map[string]any{"iss": "https://other.test"}), strings.Repeat("a", DefaultMaxTokenSize+1)} {
		if _, err := v.Verify(ctx, token); err == nil {
			t.Fatal("accepted")
		}
		if ev := rec.last(); ev.Issuer != NoIssuer || ev.Rule != "" {
			t.Fatalf("event %+v", ev)
		}
	}
}

func TestForget(t *testing.T) {
	rec := &recorder{}
	v := newV(t, func(c *Config) { c.Observer = rec })
	ctx := context.Background()
	a, b := tok("ES256", nil, nil), tok("EdDSA", nil, nil)
	for _, token := range []string{a, b, a, b} {
		if _, err := v.Verify(ctx, token); err != nil {
			t.Fatal(err)
		}
	}
	if !v.Forget(a) || v.Forget(a) || v.Forget("never-seen") {
		t.Fatal("Forget result")
	}
	if st := v.CacheStats(); st.Entries != 1 {
		t.Fatalf("after Forget: %+v", st)
	}
	if _, err := v.Verify(ctx, a); err != nil || rec.last().CacheHit {
		t.Fatalf("forgotten token: hit=%v err=%v", rec.last().CacheHit, err)
	}
	if _, err := v.Verify(ctx, b); err != nil || !rec.last().CacheHit {
		t.Fatal("other token lost")
	}
	v.ForgetAll()
	if st := v.CacheStats(); st.Entries != 0 || st.Bytes != 0 {
		t.Fatalf("after ForgetAll: %+v", st)
	}
	for _, token := range []string{a, b} {
		if _, err := v.Verify(ctx, token); err != nil || rec.last().CacheHit {
			t.Fatal("hit after ForgetAll")
		}
	}
	off := newV(t, func(c *Config) { c.Cache.Disabled = true })
	if off.Forget(a) {
		t.Fatal("Forget without a cache")
	}
	off.ForgetAll()
}

// TestNilPrincipal calls every exported method of *Principal on nil (found
// by reflection, so a new method is covered automatically): none panics,
// each returns zero values (DecodeClaim an error, String a fixed text).
func TestNilPrincipal(t *testing.T) {
	var p *Principal
	rv := reflect.ValueOf(p)
	typ := rv.Type()
	if typ.NumMethod() < 20 {
		t.Fatalf("only %d methods found", typ.NumMethod())
	}
	for i := range typ.NumMethod() {
		m := typ.Method(i)
		t.Run(m.Name, func(t *testing.T) {
			ft := m.Type
			args := []reflect.Value{rv}
			for j := 1; j < ft.NumIn(); j++ {
				in := ft.In(j)
				switch {
				case ft.IsVariadic() && j == ft.NumIn()-1:
					args = append(args, reflect.ValueOf([]string{"orders.read"}))
				case in.Kind() == reflect.String:
					args = append(args, reflect.ValueOf("scope"))
				case in.Kind() == reflect.Interface:
					var target map[string]any
					args = append(args, reflect.ValueOf(&target))
				default:
					args = append(args, reflect.Zero(in))
				}
			}
			var out []reflect.Value
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panics on nil: %v", r)
					}
				}()
				if ft.IsVariadic() {
					out = m.Func.CallSlice(args)
				} else {
					out = m.Func.Call(args)
				}
			}()
			for k, o := range out {
				switch {
				case m.Name == "String":
					if o.String() != "jwtverify.Principal(nil)" {
						t.Fatalf("String %q", o.String())
					}
				case m.Name == "DecodeClaim":
					if o.IsNil() || !errors.Is(o.Interface().(error), ErrMissingClaim) {
						t.Fatalf("DecodeClaim: %v", o)
					}
				case o.Type() == reflect.TypeOf(time.Time{}):
					if !o.Interface().(time.Time).IsZero() {
						t.Fatalf("result %d: %v", k, o)
					}
				case !o.IsZero():
					t.Fatalf("result %d not zero: %#v", k, o.Interface())
				}
			}
		})
	}
}
