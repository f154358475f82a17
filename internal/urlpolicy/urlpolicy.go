// Package urlpolicy is the project's one rule set for the URLs the library
// fetches (SECURITY.md: "every URL the library fetches obeys one rule set,
// however it was learned"), shared by jwkscache (issuer metadata, JWKS) and
// introspect (metadata, introspection endpoint):
//
//   - a URL is absolute http(s), with a host, without user info or
//     fragment, and bounded in length;
//   - https always; http only when the configured URL itself is http, and
//     then only to a loopback host unless the user set InsecureAllowHTTP;
//     once the configured URL is https nothing is fetched over http (no
//     downgrade), whatever InsecureAllowHTTP says;
//   - a URL learned from a metadata document is on that document's own
//     host and port, or on a host the user allow-listed.
//
// Error texts carry no package prefix and never a query: callers wrap them.
package urlpolicy

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// MaxURLLength bounds URLs from configuration or metadata.
const MaxURLLength = 2048

// Parse parses an absolute http(s) URL without user info or fragment;
// allowQuery says whether a query is allowed.
func Parse(raw string, allowQuery bool) (*url.URL, error) {
	if len(raw) > MaxURLLength {
		return nil, fmt.Errorf("URL longer than %d bytes", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	switch {
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

// IsLoopbackHost reports whether host (no port) is localhost or a loopback
// IP address (127.0.0.0/8, ::1).
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// Policy applies the rules for one configured URL.
type Policy struct {
	httpsOnly    bool
	insecureHTTP bool
	allowed      []host
}

// host is an allow-listed host: lower-case name or IP, and a port ("" for
// the scheme's default port).
type host struct{ name, port string }

// New builds the policy for the configured URL. allowedHosts are "host" or
// "host:port" entries ("[::1]:8443" for IPv6); field names them in errors
// (for example "AllowedJWKSHosts").
func New(configured *url.URL, insecureHTTP bool, allowedHosts []string, field string) (Policy, error) {
	p := Policy{httpsOnly: configured.Scheme == "https", insecureHTTP: insecureHTTP}
	for i, raw := range allowedHosts {
		if raw == "" || len(raw) > 255 || strings.ContainsAny(raw, "/?#@ \t") {
			return p, fmt.Errorf("%s[%d]: want a host name or host:port, without scheme or path", field, i)
		}
		u, err := url.Parse("https://" + raw)
		if err != nil || u.Host != raw || u.Hostname() == "" {
			return p, fmt.Errorf("%s[%d]: want a host name or host:port, without scheme or path", field, i)
		}
		p.allowed = append(p.allowed, host{name: strings.ToLower(u.Hostname()), port: u.Port()})
	}
	return p, nil
}

// CheckScheme applies the scheme rules to u.
func (p Policy) CheckScheme(u *url.URL) error {
	switch {
	case u.Scheme == "https":
		return nil
	case p.httpsOnly:
		return fmt.Errorf("%s: http refused: the configured URL uses https (no downgrade)", Redact(u))
	case p.insecureHTTP || IsLoopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%s: http is refused for a non-loopback host (use https, or set InsecureAllowHTTP)", Redact(u))
}

// Discovered reports whether u, learned from the metadata document at
// meta, is on meta's host and port or on an allow-listed host.
func (p Policy) Discovered(meta, u *url.URL) bool {
	if strings.EqualFold(authority(meta), authority(u)) {
		return true
	}
	name, port := strings.ToLower(u.Hostname()), u.Port()
	for _, a := range p.allowed {
		if a.name == name && (a.port == port || a.port == "" && (port == "" || port == DefaultPort(u.Scheme))) {
			return true
		}
	}
	return false
}

// authority is u's lower-case host and its port (the scheme's default when
// absent).
func authority(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = DefaultPort(u.Scheme)
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}

// DefaultPort is the port of scheme ("443" for https, "80" otherwise).
func DefaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// Redact returns u's scheme, host and path: no user info, query or
// fragment.
func Redact(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}
