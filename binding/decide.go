package binding

import "crypto/subtle"

// Proof is what one request proved: the thumbprint of the client
// certificate of its TLS connection (or of a trusted proxy's header) and,
// with DPoP, the thumbprint of the key of a verified DPoP proof. The zero
// value proves nothing, so a forgotten proof fails closed.
type Proof struct {
	cert    [32]byte
	certOK  bool
	certWhy Reason
	jkt     [32]byte
	jktOK   bool
}

// CertificateProof is the proof of a request whose connection presented the
// client certificate with this SHA-256 thumbprint.
func CertificateProof(thumbprint [32]byte) Proof {
	return Proof{cert: thumbprint, certOK: true}
}

// NoCertificate is the proof of a request without a usable client
// certificate; why (ReasonNotTLS, ReasonNoClientCertificate or a
// forwarded-header reason) is reported when a certificate-bound token
// needs one. Accepted or an unknown reason count as
// ReasonNoClientCertificate.
func NoCertificate(why Reason) Proof {
	return Proof{certWhy: why}
}

// WithDPoP returns p plus a verified DPoP proof made with the key of this
// RFC 7638 thumbprint. Only a caller that verified the proof completely
// (RFC 9449 section 4.3) may add it.
func (p Proof) WithDPoP(jkt [32]byte) Proof {
	p.jkt, p.jktOK = jkt, true
	return p
}

// Certificate returns the proven client certificate thumbprint, or why there
// is none.
func (p Proof) Certificate() ([32]byte, Reason) {
	if p.certOK {
		return p.cert, Accepted
	}
	return [32]byte{}, p.missingCert()
}

func (p Proof) missingCert() Reason {
	switch p.certWhy {
	case ReasonNotTLS, ReasonNoClientCertificate, ReasonForwardedRepeated,
		ReasonForwardedTooLarge, ReasonForwardedMalformed:
		return p.certWhy
	}
	return ReasonNoClientCertificate
}

// Check decides whether a token with confirmation cnf (the zero
// Confirmation for an unbound token) may be used on a request that proved
// p, under cfg. It returns Accepted or the refusal reason:
//
//   - a verified DPoP proof (which only the DPoP scheme carries) with a
//     token that is not DPoP-bound is refused (ReasonDPoPNotBound): a
//     bearer or certificate-bound token gains nothing from it;
//   - an unbound token is a bearer token: accepted under Off and Optional,
//     refused under Required (ReasonBindingRequired);
//   - a bound token is refused under Off (ReasonBindingOff); under
//     Optional and Required every method its cnf names must be allowed
//     (ReasonMethodNotAllowed) and proven by this request: a cnf with two
//     methods needs both proofs;
//   - certificate binding: the request's client certificate thumbprint must
//     equal cnf "x5t#S256" (compared in constant time), else
//     ReasonThumbprintMismatch, or the reason the request has none
//     (ReasonNotTLS, ReasonNoClientCertificate, a forwarded-header reason);
//   - DPoP binding: a verified proof's key thumbprint must equal cnf "jkt",
//     else ReasonJKTMismatch or ReasonNoDPoPProof.
//
// An invalid cfg (see Config.Validate) refuses every bound token with
// ReasonMethodNotAllowed. Check does not allocate.
func Check(cfg Config, cnf Confirmation, p Proof) Reason {
	if p.jktOK && cnf.methods&DPoP == 0 {
		return ReasonDPoPNotBound
	}
	if !cnf.Bound() {
		if cfg.Policy == Off || cfg.Policy == Optional {
			return Accepted
		}
		return ReasonBindingRequired
	}
	switch cfg.Policy {
	case Optional, Required:
	case Off:
		return ReasonBindingOff
	default:
		return ReasonMethodNotAllowed
	}
	if cnf.methods&^(cfg.Methods&allMethods) != 0 {
		return ReasonMethodNotAllowed
	}
	if cnf.methods&Certificate != 0 {
		if !p.certOK {
			return p.missingCert()
		}
		if subtle.ConstantTimeCompare(p.cert[:], cnf.x5t[:]) != 1 {
			return ReasonThumbprintMismatch
		}
	}
	if cnf.methods&DPoP != 0 {
		if !p.jktOK {
			return ReasonNoDPoPProof
		}
		if subtle.ConstantTimeCompare(p.jkt[:], cnf.jkt[:]) != 1 {
			return ReasonJKTMismatch
		}
	}
	return Accepted
}
