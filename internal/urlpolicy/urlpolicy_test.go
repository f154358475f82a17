package urlpolicy

import (
	"net/url"
	"testing"
)

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := Parse(raw, true)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	return u
}

func TestParse(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://idp.example/keys?appid=1": true,
		"http://127.0.0.1:8080/jwks":       true,
		"ftp://idp.example/keys":           false,
		"https:///keys":                    false,
		"https://user@idp.example/keys":    false,
		"https://idp.example/keys#frag":    false,
		"https://idp.example/keys#":        false,
		"/relative":                        false,
	} {
		if _, err := Parse(raw, true); (err == nil) != ok {
			t.Errorf("Parse(%q) = %v, want ok %v", raw, err, ok)
		}
	}
	if _, err := Parse("https://idp.example/?q", false); err == nil {
		t.Error("a query was accepted where none is allowed")
	}
	long := "https://idp.example/" + string(make([]byte, MaxURLLength))
	if _, err := Parse(long, true); err == nil {
		t.Error("an over-long URL was accepted")
	}
}

func TestCheckScheme(t *testing.T) {
	for _, tc := range []struct {
		configured, target string
		insecure, ok       bool
	}{
		{"https://idp.example", "https://idp.example/k", false, true},
		{"https://idp.example", "http://idp.example/k", true, false}, // no downgrade, even Insecure
		{"https://127.0.0.1", "http://127.0.0.1/k", false, false},
		{"http://127.0.0.1:8080", "http://localhost:9/k", false, true},
		{"http://127.0.0.1:8080", "http://[::1]:9/k", false, true},
		{"http://127.0.0.1:8080", "http://10.0.0.1/k", false, false},
		{"http://127.0.0.1:8080", "http://10.0.0.1/k", true, true},
	} {
		p, err := New(mustParse(t, tc.configured), tc.insecure, nil, "Hosts")
		if err != nil {
			t.Fatal(err)
		}
		if err := p.CheckScheme(mustParse(t, tc.target)); (err == nil) != tc.ok {
			t.Errorf("%s -> %s (insecure %v): %v, want ok %v", tc.configured, tc.target, tc.insecure, err, tc.ok)
		}
	}
}

func TestDiscovered(t *testing.T) {
	meta := mustParse(t, "https://idp.example/.well-known/openid-configuration")
	p, err := New(meta, false, []string{"keys.example", "alt.example:8443"}, "Hosts")
	if err != nil {
		t.Fatal(err)
	}
	for raw, ok := range map[string]bool{
		"https://IDP.example:443/jwks":      true,
		"https://idp.example:8443/jwks":     false, // another port of the same host
		"https://keys.example/jwks":         true,
		"https://keys.example:443/jwks":     true,
		"https://keys.example:8443/jwks":    false,
		"https://alt.example:8443/jwks":     true,
		"https://alt.example/jwks":          false,
		"https://169.254.169.254/latest":    false,
		"https://idp.example.evil.com/jwks": false,
	} {
		if got := p.Discovered(meta, mustParse(t, raw)); got != ok {
			t.Errorf("Discovered(%q) = %v, want %v", raw, got, ok)
		}
	}
	for _, bad := range []string{"", "https://keys.example", "keys.example/jwks", "u@keys.example", "a b"} {
		if _, err := New(meta, false, []string{bad}, "Hosts"); err == nil {
			t.Errorf("allowed host %q accepted", bad)
		}
	}
}

func TestRedact(t *testing.T) {
	if got := Redact(mustParse(t, "https://idp.example/keys?appid=secret")); got != "https://idp.example/keys" {
		t.Fatalf("Redact = %q", got)
	}
}
