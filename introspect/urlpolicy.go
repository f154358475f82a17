package introspect

import (
	"fmt"
	"net/url"

	"github.com/m2mauth/m2mauth/internal/urlpolicy"
)

// urlPolicy is the project's one rule set for fetched URLs
// (internal/urlpolicy, shared with jwkscache), applied here to the issuer,
// its metadata and the introspection endpoint:
//
//   - https always; http only when the issuer is http, and then only to a
//     loopback host unless InsecureAllowHTTP; once the issuer is https
//     nothing goes over http (no downgrade);
//   - a discovered endpoint is on the metadata document's host and port, or
//     on a host of AllowedEndpointHosts;
//   - no redirects at all (the request is a POST carrying a bearer token).
type urlPolicy struct{ p urlpolicy.Policy }

func newURLPolicy(issuer *url.URL, cfg *Config) (urlPolicy, error) {
	p, err := urlpolicy.New(issuer, cfg.InsecureAllowHTTP, cfg.AllowedEndpointHosts, "AllowedEndpointHosts")
	if err != nil {
		return urlPolicy{p}, err
	}
	return urlPolicy{p}, p.CheckScheme(issuer)
}

// parseURL parses an absolute http(s) URL without user info or fragment;
// allowQuery says whether a query is allowed.
func parseURL(raw string, allowQuery bool) (*url.URL, error) {
	return urlpolicy.Parse(raw, allowQuery)
}

func (p urlPolicy) checkScheme(u *url.URL) error { return p.p.CheckScheme(u) }

// checkDiscovered applies the host rule to an endpoint found in the
// metadata document at meta.
func (p urlPolicy) checkDiscovered(meta, u *url.URL) error {
	if p.p.Discovered(meta, u) {
		return nil
	}
	return fmt.Errorf("introspection_endpoint host %s is not the metadata host %s (list it in AllowedEndpointHosts)", truncate(u.Host, 128), meta.Host)
}

func redactURL(u *url.URL) string { return urlpolicy.Redact(u) }
