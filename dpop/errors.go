package dpop

import "errors"

// Reason is why a DPoP proof was refused, from a closed set: safe as a
// metric label and in logs. The empty Reason (Accepted) means the proof
// passed.
type Reason string

// The reasons. Every one but ReasonNonce and ReasonStoreUnavailable is
// answered with 401 and error="invalid_dpop_proof" (RFC 9449 section 7.1).
const (
	// Accepted is the empty Reason: the proof passed.
	Accepted Reason = ""

	// ReasonMissing: the request has no DPoP header.
	ReasonMissing Reason = "missing"
	// ReasonMultiple: the request has more than one DPoP header value
	// (section 4.3 check 1).
	ReasonMultiple Reason = "multiple"
	// ReasonTooLarge: the DPoP header value is longer than
	// Config.MaxProofSize.
	ReasonTooLarge Reason = "too_large"
	// ReasonMalformed: not a compact JWS of three canonical base64url
	// segments, or a header or payload that is not one strict JSON object
	// (duplicate members, escapes in member names, bad nesting, bytes after
	// it), or a claim of the wrong JSON type.
	ReasonMalformed Reason = "malformed"
	// ReasonType: the header's typ is not exactly "dpop+jwt".
	ReasonType Reason = "typ"
	// ReasonAlg: the header's alg is missing, not on Config.Algorithms, or
	// does not fit the jwk's key type or curve.
	ReasonAlg Reason = "alg"
	// ReasonHeader: the header names a member m2mauth refuses: crit (no
	// extension is understood), or a key reference (jku, x5u, x5c, x5t,
	// x5t#S256): the key is the jwk member and nothing is ever looked up.
	ReasonHeader Reason = "header"
	// ReasonJWK: the jwk member is missing, not an object, of an
	// unsupported kty or crv, of a refused size (RSA below 2048 or above
	// 8192 bits), or not a valid public key (a point off the curve).
	ReasonJWK Reason = "jwk"
	// ReasonJWKPrivate: the jwk carries a private key member (d, p, q, dp,
	// dq, qi, oth or k).
	ReasonJWKPrivate Reason = "jwk_private"
	// ReasonSignature: the signature does not verify with the jwk.
	ReasonSignature Reason = "signature"
	// ReasonHTM: htm is missing or not the request's method.
	ReasonHTM Reason = "htm"
	// ReasonHTU: htu is missing or is not one of Config.PublicOrigins plus
	// the request's escaped path, after normalisation.
	ReasonHTU Reason = "htu"
	// ReasonIAT: iat is missing or farther from now than Config.IATWindow.
	ReasonIAT Reason = "iat"
	// ReasonJTI: jti is missing, empty or longer than MaxJTILength.
	ReasonJTI Reason = "jti"
	// ReasonATH: ath is missing or is not the hash of the access token
	// (Check), or present on a token request (CheckTokenRequest).
	ReasonATH Reason = "ath"
	// ReasonNonce: Config.Nonces is set and the proof lacks a nonce or
	// carries one that is not current (section 9). Answered with 401
	// error="use_dpop_nonce" and a fresh DPoP-Nonce header.
	ReasonNonce Reason = "nonce"
	// ReasonReplay: Commit found the proof already recorded (section 11.1).
	ReasonReplay Reason = "replay"
	// ReasonStoreUnavailable: Commit could not record the proof (the
	// memory store is full, a shared store fails). A server condition: 503,
	// never an acceptance.
	ReasonStoreUnavailable Reason = "store_unavailable"
)

// Reasons lists every refusal reason (not Accepted), for pre-creating
// metric series.
func Reasons() []Reason {
	return []Reason{ReasonMissing, ReasonMultiple, ReasonTooLarge, ReasonMalformed,
		ReasonType, ReasonAlg, ReasonHeader, ReasonJWK, ReasonJWKPrivate, ReasonSignature,
		ReasonHTM, ReasonHTU, ReasonIAT, ReasonJTI, ReasonATH, ReasonNonce, ReasonReplay,
		ReasonStoreUnavailable}
}

// Nonce reports whether r asks the client to retry with the server's nonce
// (401 error="use_dpop_nonce" plus a DPoP-Nonce header).
func (r Reason) Nonce() bool { return r == ReasonNonce }

// Unavailable reports whether r is a server condition (503), not a fault of
// the proof.
func (r Reason) Unavailable() bool { return r == ReasonStoreUnavailable }

// Error is every refusal of this package. Its message is the reason and a
// fixed detail: it never contains the proof, the access token or any other
// request text.
type Error struct {
	// Reason is the machine-readable cause.
	Reason Reason
	// Detail is a fixed, safe-to-log explanation.
	Detail string
	// Err is the cause (a replay store's error), if any.
	Err error
}

// Error returns "dpop: <reason>[: detail][: cause]".
func (e *Error) Error() string {
	s := "dpop: " + string(e.Reason)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Reason, so that
// errors.Is(err, ErrReplay) matches every replay.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && t.Reason == e.Reason
}

// ErrReplay is the error a ReplayStore returns for a key it already holds,
// and errors.Is(err, ErrReplay) matches Commit's replay refusals.
var ErrReplay = &Error{Reason: ReasonReplay}

// ErrStoreFull is MemoryStore's error when it holds its maximum number of
// unexpired entries: it cannot record, so Commit refuses (fail safe).
var ErrStoreFull = errors.New("dpop: replay store full")

// ReasonOf returns the Reason of an error of this package, or
// ReasonMalformed for any other non-nil error, Accepted for nil.
func ReasonOf(err error) Reason {
	if err == nil {
		return Accepted
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonMalformed
}

func refuse(r Reason, detail string) *Error { return &Error{Reason: r, Detail: detail} }
