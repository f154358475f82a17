package binding

import "errors"

// Reason is why a binding check refused a request, from a closed set: safe
// as a metric label and in logs. The empty Reason (Accepted) means the check
// passed.
type Reason string

// The reasons.
const (
	// Accepted is the empty Reason: the check passed.
	Accepted Reason = ""

	// ReasonBindingOff: a bound token, and the issuer's policy is Off.
	ReasonBindingOff Reason = "binding_off"
	// ReasonBindingRequired: an unbound token, and the issuer's policy is
	// Required.
	ReasonBindingRequired Reason = "binding_required"
	// ReasonMethodNotAllowed: the token's cnf names a confirmation method
	// the issuer's configuration does not allow.
	ReasonMethodNotAllowed Reason = "method_not_allowed"
	// ReasonMalformedConfirmation: the cnf claim is not a well-formed
	// confirmation (an object of known, well-formed members).
	ReasonMalformedConfirmation Reason = "malformed_cnf"

	// ReasonNotTLS: a certificate-bound token on a request that did not
	// come over TLS (and forwarding is not configured).
	ReasonNotTLS Reason = "not_tls"
	// ReasonNoClientCertificate: a certificate-bound token, and the
	// connection (or the trusted proxy's header) shows no client
	// certificate.
	ReasonNoClientCertificate Reason = "no_client_certificate"
	// ReasonThumbprintMismatch: the client certificate is not the one the
	// token is bound to.
	ReasonThumbprintMismatch Reason = "thumbprint_mismatch"
	// ReasonForwardedRepeated: the configured forwarded-certificate header
	// appears more than once.
	ReasonForwardedRepeated Reason = "forwarded_cert_repeated"
	// ReasonForwardedTooLarge: the forwarded-certificate header is longer
	// than Forwarding.MaxBytes.
	ReasonForwardedTooLarge Reason = "forwarded_cert_too_large"
	// ReasonForwardedMalformed: the forwarded-certificate header does not
	// parse in the configured format, or holds no valid certificate.
	ReasonForwardedMalformed Reason = "forwarded_cert_malformed"

	// ReasonNoDPoPProof: a DPoP-bound token without a verified DPoP
	// proof on this request.
	ReasonNoDPoPProof Reason = "no_dpop_proof"
	// ReasonJKTMismatch: the DPoP proof's key is not the one the token is
	// bound to.
	ReasonJKTMismatch Reason = "jkt_mismatch"
	// ReasonDPoPNotBound: a verified DPoP proof (the DPoP scheme) with a
	// token that is not DPoP-bound: nothing ties the token to the proof's
	// key (RFC 9449 section 7.1).
	ReasonDPoPNotBound Reason = "dpop_token_not_bound"
)

// Reasons lists every refusal reason (not Accepted), for pre-creating
// metric series.
func Reasons() []Reason {
	return []Reason{ReasonBindingOff, ReasonBindingRequired, ReasonMethodNotAllowed,
		ReasonMalformedConfirmation, ReasonNotTLS, ReasonNoClientCertificate,
		ReasonThumbprintMismatch, ReasonForwardedRepeated, ReasonForwardedTooLarge,
		ReasonForwardedMalformed, ReasonNoDPoPProof, ReasonJKTMismatch, ReasonDPoPNotBound}
}

// Error is a refusal of this package. Its message is the reason and a
// fixed detail: it never contains token or header text.
type Error struct {
	// Reason is the machine-readable cause.
	Reason Reason
	// Detail is a fixed, safe-to-log explanation.
	Detail string
}

// Error returns "binding: <reason>[: detail]".
func (e *Error) Error() string {
	if e.Detail == "" {
		return "binding: " + string(e.Reason)
	}
	return "binding: " + string(e.Reason) + ": " + e.Detail
}

// Is reports whether target is an *Error with the same Reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && t.Reason == e.Reason
}

// ReasonOf returns the Reason of an *Error (Accepted for nil, and
// ReasonMalformedConfirmation for any other error: fail closed).
func ReasonOf(err error) Reason {
	if err == nil {
		return Accepted
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonMalformedConfirmation
}
