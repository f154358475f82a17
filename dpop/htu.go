package dpop

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// origin is a normalised public origin with its optional path prefix:
// "https://api.example.com" or "https://example.com/orders".
type origin struct {
	base string
}

// parseOrigin validates and normalises one Config.PublicOrigins entry.
func parseOrigin(s string) (origin, error) {
	bad := func(why string) (origin, error) {
		return origin{}, fmt.Errorf("dpop: public origin %q: %s", s, why)
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return bad("scheme must be https or http")
	}
	if u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(s, "?#") {
		return bad("only scheme, host, port and path prefix are allowed")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return bad("host is missing")
	}
	authority := host
	if strings.Contains(host, ":") {
		authority = "[" + host + "]"
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("invalid port")
		}
		if !(scheme == "https" && n == 443 || scheme == "http" && n == 80) {
			authority = net.JoinHostPort(host, strconv.Itoa(n))
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("empty port")
	}
	prefix := strings.TrimRight(u.EscapedPath(), "/")
	if prefix != "" {
		np, ok := normPath(prefix)
		if !ok {
			return bad("invalid percent-encoding in the path prefix")
		}
		prefix = np
	}
	return origin{base: scheme + "://" + authority + prefix}, nil
}

// String returns the normalised origin.
func (o origin) String() string { return o.base }

// requestPath returns the request's escaped path, normalised as htu is.
func requestPath(escaped string) (string, bool) {
	if escaped == "" {
		return "/", true
	}
	if escaped[0] != '/' {
		return "", false // "*" (OPTIONS) or garbage: no URI to match
	}
	return normPath(escaped)
}

// matchHTU reports whether htu, without its query and fragment, equals one
// origin followed by path (the request's normalised escaped path).
func matchHTU(origins []origin, htu []byte, path string) bool {
	if i := indexAny(htu, '?', '#'); i >= 0 {
		htu = htu[:i]
	}
	// Fast path: the client wrote the normalised form.
	for _, o := range origins {
		if len(htu) == len(o.base)+len(path) && string(htu[:len(o.base)]) == o.base && string(htu[len(o.base):]) == path {
			return true
		}
	}
	n, ok := normHTU(htu)
	if !ok {
		return false
	}
	for _, o := range origins {
		if len(n) == len(o.base)+len(path) && string(n[:len(o.base)]) == o.base && string(n[len(o.base):]) == path {
			return true
		}
	}
	return false
}

func indexAny(b []byte, c1, c2 byte) int {
	for i, c := range b {
		if c == c1 || c == c2 {
			return i
		}
	}
	return -1
}

// normHTU applies RFC 3986 sections 6.2.2 and 6.2.3 to an absolute http(s)
// URI without query and fragment: scheme and host in lower case, the
// default port (or an empty one) dropped, an empty path as "/", percent-
// encodings in upper case and unreserved characters decoded. Dot segments
// are not removed: the proof and the request must agree on them. User
// info refuses.
func normHTU(u []byte) ([]byte, bool) {
	i := strings.Index(string(u), "://")
	if i <= 0 {
		return nil, false
	}
	scheme := strings.ToLower(string(u[:i]))
	if scheme != "https" && scheme != "http" {
		return nil, false
	}
	rest := u[i+3:]
	j := indexAny(rest, '/', '/') // the authority ends at the path
	if j < 0 {
		j = len(rest)
	}
	auth, path := rest[:j], rest[j:]
	if len(auth) == 0 || indexAny(auth, '@', '%') >= 0 {
		return nil, false
	}
	host, port := string(auth), ""
	if k := strings.LastIndexByte(host, ':'); k >= 0 && !strings.HasSuffix(host, "]") {
		host, port = host[:k], host[k+1:]
	}
	host = strings.ToLower(host)
	if host == "" {
		return nil, false
	}
	if port == "443" && scheme == "https" || port == "80" && scheme == "http" {
		port = ""
	}
	if len(path) == 0 {
		path = []byte{'/'}
	}
	np, ok := normPath(string(path))
	if !ok {
		return nil, false
	}
	out := make([]byte, 0, len(u)+1)
	out = append(out, scheme...)
	out = append(out, "://"...)
	out = append(out, host...)
	if port != "" {
		out = append(out, ':')
		out = append(out, port...)
	}
	return append(out, np...), true
}

// normPath normalises percent-encodings (RFC 3986 section 6.2.2.1 and
// 6.2.2.2): hex digits in upper case, unreserved characters decoded. It
// returns p itself when there is nothing to change.
func normPath(p string) (string, bool) {
	k := strings.IndexByte(p, '%')
	if k < 0 {
		return p, true
	}
	out := make([]byte, 0, len(p))
	out = append(out, p[:k]...)
	for i := k; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			out = append(out, c)
			continue
		}
		if i+2 >= len(p) {
			return "", false
		}
		hi, ok1 := unhex(p[i+1])
		lo, ok2 := unhex(p[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		v := hi<<4 | lo
		if unreserved(v) {
			out = append(out, v)
		} else {
			out = append(out, '%', upperHex[hi], upperHex[lo])
		}
		i += 2
	}
	return string(out), true
}

const upperHex = "0123456789ABCDEF"

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
