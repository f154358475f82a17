package main

import (
	"net/url"
	"os"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// traefikDynamic is the part of Traefik's dynamic configuration (file
// provider) the example uses; decoding is strict, so a misspelt key fails.
type traefikDynamic struct {
	HTTP struct {
		Middlewares map[string]struct {
			Headers *struct {
				CustomRequestHeaders map[string]string `yaml:"customRequestHeaders"`
			} `yaml:"headers"`
			ForwardAuth *struct {
				Address             string   `yaml:"address"`
				TrustForwardHeader  bool     `yaml:"trustForwardHeader"`
				AuthResponseHeaders []string `yaml:"authResponseHeaders"`
			} `yaml:"forwardAuth"`
		} `yaml:"middlewares"`
		Routers map[string]struct {
			Rule        string   `yaml:"rule"`
			Middlewares []string `yaml:"middlewares"`
			Service     string   `yaml:"service"`
		} `yaml:"routers"`
		Services map[string]struct {
			LoadBalancer struct {
				Servers []struct {
					URL string `yaml:"url"`
				} `yaml:"servers"`
			} `yaml:"loadBalancer"`
		} `yaml:"services"`
	} `yaml:"http"`
}

// No Traefik binary runs here (its cold build does not fit CI's budget
// comfortably), so the example is checked for what the trust model needs:
// every router strips client copies of the identity headers before the
// forward-auth middleware, which calls /auth without trusting forwarded
// headers from the client and copies exactly the identity headers back.
// TestForwardAuthDecisions covers the X-Forwarded-* protocol Traefik speaks.
func TestTraefikExampleStripsAndForwards(t *testing.T) {
	f, err := os.Open("examples/traefik-dynamic.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var cfg traefikDynamic
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("traefik-dynamic.yaml: %v", err)
	}
	identity := []string{defaultClientIDHeader, defaultSubjectHeader, defaultIssuerHeader, defaultScopesHeader, defaultRolesHeader}
	if len(cfg.HTTP.Routers) == 0 {
		t.Fatal("no routers")
	}
	for name, r := range cfg.HTTP.Routers {
		strip, auth := -1, -1
		for i, m := range r.Middlewares {
			mw, ok := cfg.HTTP.Middlewares[m]
			if !ok {
				t.Fatalf("router %s names an undefined middleware %q", name, m)
			}
			if mw.Headers != nil && strip < 0 {
				for _, h := range identity {
					if v, ok := mw.Headers.CustomRequestHeaders[h]; !ok || v != "" {
						t.Fatalf("middleware %s does not delete the client's %s", m, h)
					}
				}
				strip = i
			}
			if fa := mw.ForwardAuth; fa != nil {
				auth = i
				u, err := url.Parse(fa.Address)
				if err != nil || u.Path != "/auth" {
					t.Fatalf("forwardAuth address %q does not call /auth", fa.Address)
				}
				if fa.TrustForwardHeader {
					t.Fatal("forwardAuth trusts the client's X-Forwarded-* headers")
				}
				if !slices.Equal(fa.AuthResponseHeaders, identity) {
					t.Fatalf("authResponseHeaders = %v, want %v", fa.AuthResponseHeaders, identity)
				}
			}
		}
		if strip < 0 || auth < 0 || strip > auth {
			t.Fatalf("router %s: identity headers must be stripped before forward auth (strip %d, auth %d)", name, strip, auth)
		}
		if _, ok := cfg.HTTP.Services[r.Service]; !ok {
			t.Fatalf("router %s: undefined service %q", name, r.Service)
		}
	}
}
