package middleware

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/m2mauth/m2mauth/bearer"
)

// extractError is a fixed refinement of a bearer sentinel (no allocation,
// nothing the client sent in the text).
type extractError struct {
	msg string
	err error
}

func (e *extractError) Error() string { return e.msg }
func (e *extractError) Unwrap() error { return e.err }

var (
	errHeaderAndQuery = &extractError{"middleware: token in the Authorization header and in the access_token query parameter", bearer.ErrInvalidRequest}
	errManyQuery      = &extractError{"middleware: more than one access_token query parameter", bearer.ErrInvalidRequest}
	errQueryToken     = &extractError{"middleware: malformed access_token query parameter", bearer.ErrInvalidRequest}
	errFormAndOther   = &extractError{"middleware: token in the form body and in another place", bearer.ErrInvalidRequest}
	errManyForm       = &extractError{"middleware: more than one access_token form parameter", bearer.ErrInvalidRequest}
	errFormToken      = &extractError{"middleware: malformed access_token form parameter", bearer.ErrInvalidRequest}
	errFormRead       = &extractError{"middleware: reading the form body failed", bearer.ErrInvalidRequest}
	errTokenChars     = &extractError{"middleware: the token is not a b64token", bearer.ErrInvalidRequest}
)

const accessTokenKey = "access_token"

// ExtractToken applies the default extraction rules to r and returns a
// token checked against RFC 6750's b64token syntax. It is what the
// Authenticator uses when no TokenExtractor is configured, exported so a
// custom extractor can fall back to it.
//
// Rules: exactly one Authorization header using the Bearer scheme (RFC 6750
// section 2.1; two headers are invalid_request whatever they hold, another
// scheme counts as no credentials); a token in the header together with an
// access_token query parameter is invalid_request whether or not the query
// method is on; the query (section 2.3) and form body (section 2.2) methods
// are only used when allowed, and then a request using more than one method
// is invalid_request (a form token next to an access_token query parameter
// too, whether or not the query method is on).
func (a *Authenticator) ExtractToken(r *http.Request) (string, error) {
	tok, checked, err := a.extract(r)
	if err != nil {
		return "", err
	}
	if !checked && !bearer.IsB64Token(tok) {
		return "", errTokenChars
	}
	return tok, nil
}

// extract is ExtractToken without the final character check of a header
// token (checked == false): that scan costs about a microsecond per
// kilobyte, so the hot path lets the verifier refuse such a token first and
// only then tells a malformed request from a bad token.
func (a *Authenticator) extract(r *http.Request) (tok string, checked bool, err error) {
	hdr, inQuery := false, false
	// Direct map access: "Authorization" is already canonical.
	if vals := r.Header["Authorization"]; len(vals) > 0 {
		t, err := bearer.CutValues(vals)
		if errors.Is(err, bearer.ErrInvalidRequest) {
			return "", false, err
		}
		if err == nil {
			tok, hdr = t, true
		}
	}
	if raw := r.URL.RawQuery; raw != "" {
		n, v := scanAccessToken(raw)
		if n > 0 {
			inQuery = true
			if hdr {
				// RFC 6750 section 2: one method per request. Cheap to see,
				// so refused even when the query method is off.
				return "", false, errHeaderAndQuery
			}
			if a.cfg.queryToken {
				if n > 1 {
					return "", false, errManyQuery
				}
				t, err := url.QueryUnescape(v)
				if err != nil || !bearer.IsB64Token(t) {
					return "", false, errQueryToken
				}
				tok, checked = t, true
			}
		}
	}
	if a.cfg.formToken && r.Method == http.MethodPost && isFormContent(r.Header["Content-Type"]) {
		t, n, err := a.formToken(r)
		if err != nil {
			return "", false, err
		}
		if n > 0 {
			if hdr || inQuery {
				// Also when the query method is off: one place per token.
				return "", false, errFormAndOther
			}
			if n > 1 {
				return "", false, errManyForm
			}
			tok, checked = t, true
		}
	}
	if tok == "" {
		return "", false, bearer.ErrNoCredentials
	}
	return tok, checked, nil
}

// scanAccessToken counts the access_token parameters of a raw query (or
// form body) and returns the raw (escaped) value of the last one, without
// allocating unless a key is percent-encoded.
func scanAccessToken(raw string) (n int, val string) {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if isAccessTokenKey(k) {
			n++
			val = v
		}
	}
	return n, val
}

func isAccessTokenKey(k string) bool {
	if k == accessTokenKey {
		return true
	}
	// "access%5Ftoken" decodes to the same name; a key longer than three
	// bytes per character cannot.
	if len(k) > 3*len(accessTokenKey) || strings.IndexByte(k, '%') < 0 {
		return false
	}
	// Decode and compare in place, with url.QueryUnescape's rules ('+' is
	// a space, a bad escape fails): QueryUnescape would allocate for every
	// such key, and a hostile 1 MB query holds a quarter million of them.
	j := 0
	for i := 0; i < len(k); j++ {
		if j == len(accessTokenKey) {
			return false
		}
		c := k[i]
		switch c {
		case '%':
			if i+2 >= len(k) {
				return false
			}
			hi, lo := unhex(k[i+1]), unhex(k[i+2])
			if hi < 0 || lo < 0 {
				return false
			}
			c = byte(hi<<4 | lo)
			i += 3
		case '+':
			c = ' '
			i++
		default:
			i++
		}
		if c != accessTokenKey[j] {
			return false
		}
	}
	return j == len(accessTokenKey)
}

// unhex returns the value of the hex digit c, or -1.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

func isFormContent(vals []string) bool {
	if len(vals) != 1 {
		return false
	}
	ct, _, _ := strings.Cut(vals[0], ";")
	return strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded")
}

// formToken reads at most maxFormBytes of the body, gives the body back
// intact to later handlers and looks for access_token parameters in it.
func (a *Authenticator) formToken(r *http.Request) (string, int, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return "", 0, nil
	}
	limit := a.cfg.maxFormBytes
	if r.ContentLength > limit {
		return "", 0, nil // too large to search; left untouched
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		// The body is gone: the next handler could not read it either.
		r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), errReader{err}), r.Body}
		return "", 0, errFormRead
	}
	if int64(len(buf)) > limit {
		r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		return "", 0, nil // too large to search
	}
	r.Body = readCloser{bytes.NewReader(buf), r.Body}
	n, v := scanAccessToken(string(buf))
	if n != 1 {
		return "", n, nil
	}
	t, err := url.QueryUnescape(v)
	if err != nil || !bearer.IsB64Token(t) {
		return "", n, errFormToken
	}
	return t, 1, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
