package jwtverify

import (
	"fmt"
	"math"
	"strconv"

	"github.com/m2mauth/m2mauth/internal/strictjson"
)

// maxNumericDate is 9999-12-31T23:59:59Z in seconds since the epoch.
const maxNumericDate = 253402300799

// claims is the result of the strict claims pass: spans into the claims
// document and the decoded NumericDates (in microseconds since the epoch).
type claims struct {
	iss, sub, jti, aud, tid, idtyp, gty, typ, tokenUse strictjson.Value
	exp, nbf, iat                                      int64
	hasExp, hasNbf, hasIat                             bool
	hasCnf                                             bool             // a confirmation claim (RFC 7800): sender-constrained
	cnf                                                strictjson.Value // its value, parsed only under a binding policy
	// extra holds the values of the verifier's claims of interest
	// (client, permission and required claims), by index.
	extra [maxInterest]strictjson.Value
}

// maxInterest bounds the distinct client, permission and required claim
// names across all issuers of a Verifier.
const maxInterest = 32

// parseClaims reads the claims object strictly: UTF-8 JSON object, no
// duplicate names, bounded depth, nothing after it, and registered claims
// with their registered JSON types.
// interestTable indexes the claim names of interest by length.
type interestTable struct {
	names []string
	byLen [64][]uint8 // indices into names, by name length (1..63)
}

func newInterestTable(names []string) (*interestTable, error) {
	it := &interestTable{names: names}
	for i, n := range names {
		if len(n) == 0 || len(n) >= len(it.byLen) {
			return nil, fmt.Errorf("jwtverify: claim name %q must have 1 to %d bytes", n, len(it.byLen)-1)
		}
		it.byLen[len(n)] = append(it.byLen[len(n)], uint8(i))
	}
	return it, nil
}

func parseClaims(doc []byte, it *interestTable, c *claims) *Error {
	s := strictjson.NewScanner(doc)
	if err := s.OpenObject(); err != nil {
		return &Error{Reason: ReasonMalformed, Detail: "claims", Err: err}
	}
	var names strictjson.NameSet
	for n := 0; ; n++ {
		name, ok, err := s.Member(n)
		if err != nil {
			return &Error{Reason: ReasonMalformed, Detail: "claims", Err: err}
		}
		if !ok {
			break
		}
		if !names.Add(doc, name) {
			return &Error{Reason: ReasonMalformed, Detail: "claims", Err: strictjson.ErrDuplicate}
		}
		v, err := s.Value(2)
		if err != nil {
			return &Error{Reason: ReasonMalformed, Detail: "claims", Err: err}
		}
		nm := doc[name.Start:name.End]
		if name.Esc {
			nm = strictjson.Unescape(nm)
		}
		switch string(nm) {
		case "iss":
			if v.Kind != strictjson.String {
				return newErr(ReasonMalformed, "claim iss is not a string")
			}
			c.iss = v
		case "sub":
			if v.Kind != strictjson.String {
				return newErr(ReasonMalformed, "claim sub is not a string")
			}
			c.sub = v
		case "jti":
			if v.Kind != strictjson.String {
				return newErr(ReasonMalformed, "claim jti is not a string")
			}
			c.jti = v
		case "aud":
			if e := checkAud(doc, v); e != nil {
				return e
			}
			c.aud = v
		case "exp":
			t, e := numericDate(doc, v, "exp")
			if e != nil {
				return e
			}
			c.exp, c.hasExp = t, true
		case "nbf":
			t, e := numericDate(doc, v, "nbf")
			if e != nil {
				return e
			}
			c.nbf, c.hasNbf = t, true
		case "iat":
			t, e := numericDate(doc, v, "iat")
			if e != nil {
				return e
			}
			c.iat, c.hasIat = t, true
		case "tid":
			c.tid = v
		case "idtyp":
			c.idtyp = v
		case "gty":
			c.gty = v
		case "typ":
			c.typ = v
		case "token_use":
			c.tokenUse = v
		case "cnf":
			c.hasCnf, c.cnf = true, v
		}
		if len(nm) < len(it.byLen) {
			for _, i := range it.byLen[len(nm)] {
				if want := it.names[i]; want[0] == nm[0] && want == string(nm) {
					c.extra[i] = v
					break
				}
			}
		}
	}
	if err := s.End(); err != nil {
		return &Error{Reason: ReasonMalformed, Detail: "claims", Err: err}
	}
	return nil
}

// checkAud requires a string or an array of strings.
func checkAud(doc []byte, v strictjson.Value) *Error {
	switch v.Kind {
	case strictjson.String:
		return nil
	case strictjson.Array:
		bad := false
		strictjson.ArrayElems(doc, v, func(e strictjson.Value) bool {
			bad = e.Kind != strictjson.String
			return !bad
		})
		if bad {
			return newErr(ReasonMalformed, "claim aud holds a non-string")
		}
		return nil
	}
	return newErr(ReasonMalformed, "claim aud is neither a string nor an array")
}

// numericDate converts a NumericDate (a JSON number of seconds in
// [0, end of year 9999], fractions allowed) to microseconds.
func numericDate(doc []byte, v strictjson.Value, name string) (int64, *Error) {
	if v.Kind != strictjson.Number {
		return 0, newErr(ReasonMalformed, "claim "+name+" is not a number")
	}
	b := doc[v.Start:v.End]
	// Fast path: digits with an optional fraction, no sign, no exponent.
	var sec, frac int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if i >= 12 {
			return 0, newErr(ReasonMalformed, "claim "+name+" out of range")
		}
		sec = sec*10 + int64(b[i]-'0')
	}
	simple := i > 0
	if simple && i < len(b) && b[i] == '.' {
		i++
		scale := int64(100000)
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			frac += int64(b[i]-'0') * scale
			scale /= 10
		}
	}
	if simple && i == len(b) {
		if sec > maxNumericDate {
			return 0, newErr(ReasonMalformed, "claim "+name+" out of range")
		}
		return sec*1e6 + frac, nil
	}
	// Signs and exponents: rare, let strconv do it.
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return 0, newErr(ReasonMalformed, "claim "+name+" out of range")
	}
	return int64(f * 1e6), nil
}
