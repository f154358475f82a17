package dpop

import (
	"unicode/utf8"
)

// A minimal strict JSON reader over the decoded header and payload of a
// proof. It reads one object whose member names are plain strings (no
// escapes: no client writes one, and refusing them makes duplicate
// detection exact), refuses duplicate members in the objects whose members
// it interprets (the header, the jwk and the claims), skips other values
// within depth and count bounds, and refuses bytes after the object.
// String values may hold escapes (some encoders write "\/"), decoded
// exactly; invalid UTF-8 and control characters are refused.

const (
	maxDepth   = 16 // nesting of skipped values
	maxMembers = 64 // members of an object the parser interprets
)

type jsonReader struct {
	b []byte
	i int
}

func (p *jsonReader) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonReader) eat(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *jsonReader) peek() byte {
	p.ws()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// members calls f for each member of the object at the reader's position
// with the member's name (a plain string without escapes), f reading the
// value. Duplicate names and more than maxMembers members refuse. It
// returns false on any syntax error or when f returns false.
func (p *jsonReader) members(f func(name []byte) bool) bool {
	if !p.eat('{') {
		return false
	}
	if p.eat('}') {
		return true
	}
	var seen [maxMembers][2]int // name offsets in p.b
	n := 0
	for {
		p.ws()
		start, end, ok := p.plainName()
		if !ok || n == maxMembers {
			return false
		}
		name := p.b[start:end]
		for _, s := range seen[:n] {
			if string(p.b[s[0]:s[1]]) == string(name) {
				return false
			}
		}
		seen[n] = [2]int{start, end}
		n++
		if !p.eat(':') {
			return false
		}
		p.ws()
		if !f(name) {
			return false
		}
		if p.eat(',') {
			continue
		}
		return p.eat('}')
	}
}

// plainName reads a string without escapes and returns its content's
// offsets.
func (p *jsonReader) plainName() (int, int, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return 0, 0, false
	}
	start := p.i + 1
	for j := start; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			if !utf8.Valid(p.b[start:j]) {
				return 0, 0, false
			}
			p.i = j + 1
			return start, j, true
		case c == '\\' || c < 0x20:
			return 0, 0, false
		}
	}
	return 0, 0, false
}

// str reads a string value, decoding escapes (allocating only then).
func (p *jsonReader) str() ([]byte, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false
	}
	start := p.i + 1
	j := start
	for ; j < len(p.b); j++ {
		c := p.b[j]
		if c == '"' {
			if !utf8.Valid(p.b[start:j]) {
				return nil, false
			}
			p.i = j + 1
			return p.b[start:j], true
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return nil, false
		}
	}
	// Escapes: decode into a new buffer.
	out := make([]byte, 0, j-start+16)
	out = append(out, p.b[start:j]...)
	for j < len(p.b) {
		c := p.b[j]
		switch {
		case c == '"':
			if !utf8.Valid(out) {
				return nil, false
			}
			p.i = j + 1
			return out, true
		case c < 0x20:
			return nil, false
		case c != '\\':
			out = append(out, c)
			j++
			continue
		}
		if j+1 >= len(p.b) {
			return nil, false
		}
		j++
		switch p.b[j] {
		case '"', '\\', '/':
			out = append(out, p.b[j])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(p.b, j+1)
			if !ok {
				return nil, false
			}
			j += 4
			if r >= 0xD800 && r < 0xDC00 { // high surrogate: a low one must follow
				if j+6 >= len(p.b) || p.b[j+1] != '\\' || p.b[j+2] != 'u' {
					return nil, false
				}
				lo, ok := hex4(p.b, j+3)
				if !ok || lo < 0xDC00 || lo >= 0xE000 {
					return nil, false
				}
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				j += 6
			} else if r >= 0xDC00 && r < 0xE000 {
				return nil, false
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, false
		}
		j++
	}
	return nil, false
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// number reads a JSON number and returns its text.
func (p *jsonReader) number() ([]byte, bool) {
	start := p.i
	b := p.b
	i := p.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	p.i = i
	return b[start:i], true
}

// skip reads any JSON value within the depth bound. Duplicate names in
// skipped objects are not looked for: their content is never interpreted.
func (p *jsonReader) skip(depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch p.peek() {
	case '"':
		_, ok := p.str()
		return ok
	case '{':
		p.i++
		if p.eat('}') {
			return true
		}
		for {
			p.ws()
			if _, ok := p.str(); !ok || !p.eat(':') {
				return false
			}
			if !p.skip(depth + 1) {
				return false
			}
			if p.eat(',') {
				continue
			}
			return p.eat('}')
		}
	case '[':
		p.i++
		if p.eat(']') {
			return true
		}
		for {
			if !p.skip(depth + 1) {
				return false
			}
			if p.eat(',') {
				continue
			}
			return p.eat(']')
		}
	case 't':
		return p.lit("true")
	case 'f':
		return p.lit("false")
	case 'n':
		return p.lit("null")
	default:
		_, ok := p.number()
		return ok
	}
}

func (p *jsonReader) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// end reports whether only white space follows.
func (p *jsonReader) end() bool {
	p.ws()
	return p.i == len(p.b)
}
