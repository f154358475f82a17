package jwkscache

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// SkipReason says why a JWK of a set was not made usable. The set of values
// is fixed (the constants below), so it is safe as a metric label.
type SkipReason string

// The reasons a JWK is skipped.
const (
	// SkipMalformed: not a JSON object, duplicate or mistyped members, or
	// jwx could not parse or export it.
	SkipMalformed SkipReason = "malformed"
	// SkipUnsupportedKty: kty is not RSA, EC or OKP ("oct" included:
	// symmetric keys never verify issuer tokens).
	SkipUnsupportedKty SkipReason = "unsupported_kty"
	// SkipUnsupportedCrv: an EC curve other than P-256/P-384/P-521, or an
	// OKP curve other than Ed25519.
	SkipUnsupportedCrv SkipReason = "unsupported_crv"
	// SkipNotForSignature: "use" is present and not "sig".
	SkipNotForSignature SkipReason = "use_not_sig"
	// SkipKeyOpsNoVerify: "key_ops" is present and lacks "verify".
	SkipKeyOpsNoVerify SkipReason = "key_ops_no_verify"
	// SkipPrivateKey: the JWK carries private key material ("d", "p",
	// "q", "dp", "dq", "qi", "oth" or "k"). Such a key is skipped, never
	// stripped: a published private key lets anyone mint tokens with it.
	SkipPrivateKey SkipReason = "private_key"
	// SkipRSAKeySize: RSA modulus under MinRSABits or over MaxRSABits.
	SkipRSAKeySize SkipReason = "rsa_key_size"
	// SkipRSAExponent: RSA exponent even, under 3 or over 2^31-1.
	SkipRSAExponent SkipReason = "rsa_exponent"
	// SkipUnsupportedAlg: "alg" names no signature algorithm m2mauth
	// verifies (HS256, RSA-OAEP, none, ES256K...).
	SkipUnsupportedAlg SkipReason = "unsupported_alg"
	// SkipAlgMismatch: "alg" does not fit kty/crv (ES384 on a P-256 key,
	// RS256 on an EC key...).
	SkipAlgMismatch SkipReason = "alg_mismatch"
	// SkipKIDTooLong: "kid" is longer than MaxKIDLength; no lookup could
	// ever find it.
	SkipKIDTooLong SkipReason = "kid_too_long"
	// SkipTooManyKeys: the set holds more than MaxKeys entries; the entries
	// from index MaxKeys on are ignored (reported once).
	SkipTooManyKeys SkipReason = "too_many_keys"
)

// Skipped describes one JWK of a set that was not made usable.
type Skipped struct {
	// Index is the position of the JWK in the document's "keys" array.
	Index int
	// KID is the JWK's kid when it could be read (issuer-controlled: fine
	// for logs, never use it as a metric label).
	KID string
	// Reason is why the key was skipped (bounded set).
	Reason SkipReason
	// Err holds detail for logs when there is any, else nil.
	Err error
}

// MaxKeys is the largest number of JWKs ParseJWKS looks at in one document.
// Real issuers publish a handful; the bound keeps the work per fetch small.
const MaxKeys = 100

// MaxRSABits is the largest RSA modulus accepted (bigger keys only cost
// verification time).
const MaxRSABits = 8192

var (
	// ErrMalformedJWKS means the document is not a JWK Set: not a single
	// JSON object with a "keys" array (duplicate members and trailing data
	// are refused too).
	ErrMalformedJWKS = errors.New("jwkscache: malformed JWK set")
	// ErrNoUsableKeys means the document parsed but no key survived the
	// filters. A cache treats it as a failed fetch and keeps its old keys.
	ErrNoUsableKeys = errors.New("jwkscache: no usable key in JWK set")
)

// privateMembers are the JWK members that carry private or secret key
// material (RFC 7518 section 6).
var privateMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// ParseJWKS parses a JWK Set document (RFC 7517 section 5) into usable
// verification keys, without any I/O. source names the source each key is
// bound to (Key.Source).
//
// The document is split into its members by our own strict JSON reader,
// then each JWK is checked and parsed on its own with jwx, so one bad key
// never hides the good ones. Keys that are unusable are returned in skipped
// with a reason; see SkipReason for the rules. Keys without "alg" are kept
// (the verifier infers the family from Kty/Crv), and duplicate kids are
// all kept as candidates, in document order.
//
// err wraps ErrMalformedJWKS when the document itself is unusable, and
// ErrNoUsableKeys (with skipped still filled in) when no key survived.
// The caller bounds the document size (a Cache applies MaxResponseBytes).
func ParseJWKS(doc []byte, source string) (keys []Key, skipped []Skipped, err error) {
	top, err := members(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMalformedJWKS, err)
	}
	rawKeys, ok := top["keys"]
	if !ok {
		return nil, nil, fmt.Errorf(`%w: no "keys" member`, ErrMalformedJWKS)
	}
	if len(rawKeys) == 0 || rawKeys[0] != '[' {
		return nil, nil, fmt.Errorf(`%w: "keys" is not an array`, ErrMalformedJWKS)
	}
	// Read the entries one by one and stop after MaxKeys: the document's
	// syntax was already checked as a whole by members.
	dec := json.NewDecoder(bytes.NewReader(rawKeys))
	if _, err := dec.Token(); err != nil { // '['
		return nil, nil, fmt.Errorf(`%w: "keys": %w`, ErrMalformedJWKS, err)
	}
	entries := 0
	for i := 0; dec.More(); i++ {
		if i == MaxKeys {
			skipped = append(skipped, Skipped{Index: i, Reason: SkipTooManyKeys,
				Err: fmt.Errorf("jwkscache: more than %d keys in set, only the first %d are used", MaxKeys, MaxKeys)})
			break
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf(`%w: "keys": %w`, ErrMalformedJWKS, err)
		}
		entries++
		k, kid, reason, kerr := parseOneJWK(raw)
		if reason != "" {
			skipped = append(skipped, Skipped{Index: i, KID: kid, Reason: reason, Err: kerr})
			continue
		}
		k.Source = source
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, skipped, fmt.Errorf("%w (%d entries read, %d skipped)", ErrNoUsableKeys, entries, len(skipped))
	}
	return keys, skipped, nil
}

// parseOneJWK checks one JWK and turns it into a Key. A non-empty reason
// means the key is skipped; kid is returned for the report when readable.
func parseOneJWK(raw []byte) (k Key, kid string, reason SkipReason, err error) {
	m, err := members(raw)
	if err != nil {
		return Key{}, "", SkipMalformed, fmt.Errorf("jwkscache: JWK: %w", err)
	}
	kid, _, err = stringMember(m, "kid")
	if err != nil {
		return Key{}, "", SkipMalformed, fmt.Errorf("jwkscache: JWK: %w", err)
	}
	if len(kid) > MaxKIDLength {
		return Key{}, truncate(kid, 32), SkipKIDTooLong, nil
	}
	kty, _, err := stringMember(m, "kty")
	if err != nil {
		return Key{}, kid, SkipMalformed, fmt.Errorf("jwkscache: JWK: %w", err)
	}
	switch kty {
	case "RSA", "EC", "OKP":
	default:
		return Key{}, kid, SkipUnsupportedKty, fmt.Errorf("jwkscache: JWK kty %q", truncate(kty, 16))
	}
	for _, name := range privateMembers {
		if _, ok := m[name]; ok {
			return Key{}, kid, SkipPrivateKey, nil
		}
	}
	crv, _, err := stringMember(m, "crv")
	if err != nil {
		return Key{}, kid, SkipMalformed, fmt.Errorf("jwkscache: JWK: %w", err)
	}
	switch {
	case kty == "RSA":
		if _, ok := m["crv"]; ok {
			return Key{}, kid, SkipMalformed, errors.New(`jwkscache: JWK: RSA key with "crv"`)
		}
	case kty == "EC" && (crv == "P-256" || crv == "P-384" || crv == "P-521"):
	case kty == "OKP" && crv == "Ed25519":
	default:
		return Key{}, kid, SkipUnsupportedCrv, fmt.Errorf("jwkscache: JWK %s crv %q", kty, truncate(crv, 16))
	}
	use, hasUse, err := stringMember(m, "use")
	if err != nil {
		return Key{}, kid, SkipMalformed, fmt.Errorf("jwkscache: JWK: %w", err)
	}
	if hasUse && use != "sig" {
		return Key{}, kid, SkipNotForSignature, nil
	}
	if rawOps, ok := m["key_ops"]; ok {
		var ops []string
		if len(rawOps) == 0 || rawOps[0] != '[' {
			return Key{}, kid, SkipMalformed, errors.New(`jwkscache: JWK: "key_ops" is not an array`)
		}
		if err := json.Unmarshal(rawOps, &ops); err != nil {
			return Key{}, kid, SkipMalformed, fmt.Errorf(`jwkscache: JWK: "key_ops": %w`, err)
		}
		verify := false
		for _, op := range ops {
			verify = verify || op == "verify"
		}
		if !verify {
			return Key{}, kid, SkipKeyOpsNoVerify, nil
		}
	}
	alg, _, err := stringMember(m, "alg")
	if err != nil {
		return Key{}, kid, SkipMalformed, fmt.Errorf("jwkscache: JWK: %w", err)
	}
	if alg != "" {
		if r := checkAlg(alg, kty, crv); r != "" {
			return Key{}, kid, r, fmt.Errorf("jwkscache: JWK alg %q with kty %s crv %q", truncate(alg, 16), kty, crv)
		}
	}
	issuer, _, err := stringMember(m, "issuer")
	if err != nil {
		return Key{}, kid, SkipMalformed, fmt.Errorf("jwkscache: JWK: %w", err)
	}

	if kty == "RSA" {
		if r, err := checkRSAMembers(m); r != "" {
			return Key{}, kid, r, err
		}
	}

	jk, err := jwk.ParseKey(raw)
	if err != nil {
		return Key{}, kid, SkipMalformed, fmt.Errorf("jwkscache: JWK parse: %w", err)
	}
	if jk.KeyType().String() != kty {
		return Key{}, kid, SkipMalformed, errors.New("jwkscache: JWK kty changed in parsing")
	}
	if priv, err := jwk.IsPrivateKey(jk); err != nil || priv {
		return Key{}, kid, SkipPrivateKey, nil
	}
	var pub any
	if err := jwk.Export(jk, &pub); err != nil {
		return Key{}, kid, SkipMalformed, fmt.Errorf("jwkscache: JWK export: %w", err)
	}
	k, reason, err = buildKey(kid, alg, pub)
	if reason != "" {
		return Key{}, kid, reason, err
	}
	if k.Kty != kty || k.Crv != crv {
		return Key{}, kid, SkipMalformed, errors.New("jwkscache: JWK kty/crv do not match the exported key")
	}
	k.Issuer = issuer
	return k, kid, "", nil
}

// checkAlg returns "" when alg is a signature algorithm m2mauth supports
// and fits kty/crv, else the skip reason.
func checkAlg(alg, kty, crv string) SkipReason {
	var wantKty, wantCrv string
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		wantKty = "RSA"
	case "ES256":
		wantKty, wantCrv = "EC", "P-256"
	case "ES384":
		wantKty, wantCrv = "EC", "P-384"
	case "ES512":
		wantKty, wantCrv = "EC", "P-521"
	case "EdDSA", "Ed25519":
		wantKty, wantCrv = "OKP", "Ed25519"
	default:
		return SkipUnsupportedAlg
	}
	if kty != wantKty || crv != wantCrv {
		return SkipAlgMismatch
	}
	return ""
}

// checkRSAMembers applies the RSA size and exponent rules to the raw "n"
// and "e" members, so the reason is ours whatever jwx would say.
func checkRSAMembers(m map[string]json.RawMessage) (SkipReason, error) {
	n, err := b64Member(m, "n")
	if err != nil {
		return SkipMalformed, err
	}
	e, err := b64Member(m, "e")
	if err != nil {
		return SkipMalformed, err
	}
	if bits := new(big.Int).SetBytes(n).BitLen(); bits < MinRSABits || bits > MaxRSABits {
		return SkipRSAKeySize, fmt.Errorf("jwkscache: RSA modulus of %d bits outside [%d, %d]", bits, MinRSABits, MaxRSABits)
	}
	ev := new(big.Int).SetBytes(e)
	if !ev.IsInt64() || ev.Int64() < 3 || ev.Int64() > 1<<31-1 || ev.Bit(0) == 0 {
		return SkipRSAExponent, errors.New("jwkscache: RSA key with unusable exponent")
	}
	return "", nil
}

// b64Member decodes a required base64url (unpadded) string member.
func b64Member(m map[string]json.RawMessage, name string) ([]byte, error) {
	s, ok, err := stringMember(m, name)
	if err != nil {
		return nil, fmt.Errorf("jwkscache: JWK: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("jwkscache: JWK: no %q", name)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("jwkscache: JWK: %q is not base64url", name)
	}
	return b, nil
}
