package introspect

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// maxURLLength bounds URLs from configuration or metadata.
const maxURLLength = 2048

// urlPolicy is the project's one rule set for fetched URLs, applied here to
// the issuer, its metadata and the introspection endpoint (the same rules as
// jwkscache, which exports none of them):
//
//   - https always; http only when the issuer is http, and then only to a
//     loopback host unless InsecureAllowHTTP; once the issuer is https
//     nothing goes over http (no downgrade);
//   - a discovered endpoint is on the metadata document's host and port, or
//     on a host of AllowedEndpointHosts;
//   - no redirects at all (the request is a POST carrying a bearer token).
type urlPolicy struct {
	httpsOnly    bool
	insecureHTTP bool
	allowed      []hostPort
}

type hostPort struct{ host, port string }

func newURLPolicy(issuer *url.URL, cfg *Config) (urlPolicy, error) {
	p := urlPolicy{httpsOnly: issuer.Scheme == "https", insecureHTTP: cfg.InsecureAllowHTTP}
	for i, raw := range cfg.AllowedEndpointHosts {
		if raw == "" || len(raw) > 255 || strings.ContainsAny(raw, "/?#@ \t") {
			return p, fmt.Errorf("AllowedEndpointHosts[%d]: want host or host:port", i)
		}
		u, err := url.Parse("https://" + raw)
		if err != nil || u.Host != raw || u.Hostname() == "" {
			return p, fmt.Errorf("AllowedEndpointHosts[%d]: want host or host:port", i)
		}
		p.allowed = append(p.allowed, hostPort{strings.ToLower(u.Hostname()), u.Port()})
	}
	return p, p.checkScheme(issuer)
}

// parseURL parses an absolute http(s) URL without user info or fragment;
// allowQuery says whether a query is allowed.
func parseURL(raw string, allowQuery bool) (*url.URL, error) {
	if len(raw) > maxURLLength {
		return nil, fmt.Errorf("URL longer than %d bytes", maxURLLength)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, errors.New("not a URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, errors.New("URL scheme must be https (or http on loopback)")
	case u.Host == "" || u.Opaque != "":
		return nil, errors.New("URL must be absolute with a host")
	case u.User != nil:
		return nil, errors.New("URL must not carry user info")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, errors.New("URL must not have a fragment")
	case !allowQuery && (u.RawQuery != "" || u.ForceQuery):
		return nil, errors.New("URL must not have a query")
	}
	return u, nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func (p urlPolicy) checkScheme(u *url.URL) error {
	switch {
	case u.Scheme == "https":
		return nil
	case p.httpsOnly:
		return fmt.Errorf("%s: http refused: the issuer uses https (no downgrade)", redactURL(u))
	case p.insecureHTTP || isLoopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%s: http is refused for a non-loopback host (use https, or set InsecureAllowHTTP)", redactURL(u))
}

// checkDiscovered applies the host rule to an endpoint found in the
// metadata document at meta.
func (p urlPolicy) checkDiscovered(meta, u *url.URL) error {
	if strings.EqualFold(authority(meta), authority(u)) {
		return nil
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	for _, a := range p.allowed {
		if a.host == host && (a.port == port || a.port == "" && (port == "" || port == defaultPort(u.Scheme))) {
			return nil
		}
	}
	return fmt.Errorf("introspection_endpoint host %s is not the metadata host %s (list it in AllowedEndpointHosts)", truncate(u.Host, 128), meta.Host)
}

func authority(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

func redactURL(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}
