package middleware

import (
	"errors"
	"net/http"
	"strings"

	"github.com/m2mauth/m2mauth/bearer"
	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// Fixed client-facing descriptions of the DPoP scheme's own answers.
const descDPoPInvalidRequest = "The request carries malformed or ambiguous DPoP credentials"

// dpopScheme is the RFC 9449 section 7.1 authorization scheme, lower-case.
const dpopScheme = "dpop"

var (
	errDPoPSep     = &extractError{"middleware: malformed DPoP credentials: the separator after the scheme must be spaces", bearer.ErrInvalidRequest}
	errDPoPNoToken = &extractError{"middleware: malformed DPoP credentials: scheme without a token", bearer.ErrInvalidRequest}
	errDPoPChars   = &extractError{"middleware: malformed DPoP credentials: the token is not a b64token", bearer.ErrInvalidRequest}
	// errDPoPTokenTooLarge is Verify's own refusal of an oversized token.
	errDPoPTokenTooLarge = &jwtverify.Error{Reason: jwtverify.ReasonMalformed, Detail: "token larger than MaxTokenSize"}
)

// dpopState is what WithDPoP adds to an Authenticator, built once.
type dpopState struct {
	c *dpop.Checker
	// prefix is `DPoP algs="..."`, bare the bare challenge (prefix plus
	// the resource_metadata suffix).
	prefix, bare, suffix string

	proofChs          []string // invalid_dpop_proof, then the bare Bearer challenge
	nonceChs          []string // use_dpop_nonce, then the bare Bearer challenge
	invalidRequestChs []string // invalid_request in the DPoP scheme, then bare Bearer
}

// initDPoP builds the DPoP answers. It refuses a verifier none of whose
// issuers accepts DPoP-bound tokens: every DPoP request would be refused.
func (a *Authenticator) initDPoP(c *dpop.Checker) error {
	accepts := false
	for _, is := range a.v.Issuers() {
		if is.Binding.Policy != binding.Off && is.Binding.Methods.Has(binding.DPoP) {
			accepts = true
		}
	}
	if a.cfg.extractor != nil {
		return errors.New("middleware: WithDPoP cannot be combined with WithTokenExtractor (the extractor only finds bearer tokens)")
	}
	if !accepts {
		return errors.New("middleware: WithDPoP: no issuer of the verifier accepts DPoP-bound tokens (IssuerConfig.Binding with binding.DPoP in Methods and a policy other than binding.Off)")
	}
	d := &dpopState{c: c, suffix: a.suffix}
	d.prefix = "DPoP algs=" + quote(strings.Join(c.Algorithms(), " "))
	d.bare = d.prefix + a.suffix
	d.proofChs = []string{d.challenge(jwtverify.CodeInvalidDPoPProof, jwtverify.ReasonDPoPProof.Description(), ""), a.bare}
	d.nonceChs = []string{d.challenge(jwtverify.CodeUseDPoPNonce, jwtverify.ReasonDPoPNonce.Description(), ""), a.bare}
	d.invalidRequestChs = []string{d.challenge(jwtverify.CodeInvalidRequest, descDPoPInvalidRequest, ""), a.bare}
	a.dpop = d
	a.descMissing = descNoCredentialsD
	a.bareChallenges = []string{a.bare, d.bare}
	a.invalidRequestChs = []string{a.invalidRequest, d.bare}
	return nil
}

// challenge builds `DPoP algs="..", error="..", error_description=".."
// [, scope=".."][, resource_metadata=".."]`.
func (d *dpopState) challenge(code, desc, scope string) string {
	return buildChallenge(d.prefix, code, desc, scope, d.suffix)
}

// cutDPoP returns the token of a DPoP-scheme value, with the rules of
// bearer.Cut (spaces after the scheme, something after them): as for
// Bearer, the token's characters are checked only when the request is
// refused (see authenticateDPoP), so an accepted request never scans them.
func cutDPoP(v string) (string, error) {
	rest := v[len(dpopScheme):]
	if rest == "" {
		return "", errDPoPNoToken
	}
	if rest[0] != ' ' {
		return "", errDPoPSep
	}
	rest = strings.TrimLeft(rest, " ")
	if rest == "" {
		return "", errDPoPNoToken
	}
	return rest, nil
}

// usedDPoP reports whether r authenticates with the DPoP scheme (for the
// scheme of a 403's challenge).
func (a *Authenticator) usedDPoP(r *http.Request) bool {
	if a.dpop == nil || r == nil {
		return false
	}
	vals := r.Header["Authorization"]
	return len(vals) == 1 && bearer.IsDPoPScheme(vals[0])
}

// authenticateDPoP decides a request using the DPoP scheme: the proof's
// checks (dpop.Checker.Check: everything of RFC 9449 section 4.3 but
// replay), then the token bound to the proof's key (VerifyBound: an
// unbound token refuses, dpop_token_not_bound, as does one bound to
// another key), then the replay record (Commit), only for a request that
// passed everything else, so junk never fills the store.
func (a *Authenticator) authenticateDPoP(r *http.Request, authz string) Outcome {
	tok, err := cutDPoP(authz)
	if err != nil {
		return a.invalidDPoP(err)
	}
	if err := a.oneMethod(r); err != nil {
		return a.invalidDPoP(err)
	}
	if len(tok) > a.v.MaxTokenSize() {
		// Refused as Verify would, before the proof's ath hashes it.
		return a.rejectedDPoP(errDPoPTokenTooLarge)
	}
	d := a.dpop
	vp, err := d.c.Check(r, tok)
	if err != nil {
		if !bearer.IsB64Token(tok) {
			return a.invalidDPoP(errDPoPChars)
		}
		return a.dpopRefused(err)
	}
	var proof binding.Proof
	if a.certs != nil {
		proof = a.certs.ProofFromRequest(r)
	}
	p, err := a.v.VerifyBound(r.Context(), tok, proof.WithDPoP(vp.Thumbprint()))
	if err != nil {
		if !bearer.IsB64Token(tok) {
			return a.invalidDPoP(errDPoPChars)
		}
		return a.rejectedDPoP(err)
	}
	if p == nil {
		return a.rejectedDPoP(errNilPrincipal)
	}
	if err := d.c.Commit(r.Context(), vp); err != nil {
		return a.dpopRefused(err)
	}
	// Section 8.2: a fresh nonce with the answer ("" without nonces).
	return Outcome{Result: jwtverify.DecisionAllowed, Principal: p, DPoPNonce: d.c.Nonce()}
}

// oneMethod refuses a DPoP-scheme request that also carries a token in the
// query or (when the form method is on) the form body: one method, one
// token, as for Bearer.
func (a *Authenticator) oneMethod(r *http.Request) error {
	if raw := r.URL.RawQuery; raw != "" {
		if n, _ := scanAccessToken(raw); n > 0 {
			return errHeaderAndQuery
		}
	}
	if a.cfg.formToken && r.Method == http.MethodPost && isFormContent(r.Header["Content-Type"]) {
		_, n, err := a.formToken(r)
		if err != nil {
			return err
		}
		if n > 0 {
			return errFormAndOther
		}
	}
	return nil
}

func (a *Authenticator) invalidDPoP(err error) Outcome {
	return Outcome{
		Result: jwtverify.DecisionInvalidRequest, Reason: jwtverify.ReasonMalformed, Err: err,
		Status: http.StatusBadRequest, Code: jwtverify.CodeInvalidRequest,
		Description: descDPoPInvalidRequest, Challenges: a.dpop.invalidRequestChs,
	}
}

// dpopRefused maps an error of the dpop Checker (Check or Commit): the
// nonce reasons to use_dpop_nonce with a fresh nonce, a store that cannot
// record to 503, everything else (replay included) to invalid_dpop_proof.
// The dpop reason becomes the decision's Rule; the proof never reaches an
// answer, a log or a label.
func (a *Authenticator) dpopRefused(err error) Outcome {
	var de *dpop.Error
	rule := "malformed"
	if errors.As(err, &de) {
		rule = string(de.Reason)
	}
	reason := jwtverify.ReasonDPoPProof
	switch {
	case de != nil && de.Reason == dpop.ReasonNonce:
		reason = jwtverify.ReasonDPoPNonce
	case de != nil && de.Reason == dpop.ReasonStoreUnavailable:
		reason = jwtverify.ReasonReplayUnavailable
	}
	ve := &jwtverify.Error{Reason: reason, Rule: rule, Detail: "dpop " + rule, Err: err}
	switch reason {
	case jwtverify.ReasonReplayUnavailable:
		return Outcome{
			Result: jwtverify.DecisionUnavailable, Reason: reason, Err: ve,
			Status: http.StatusServiceUnavailable, Description: descUnavailable,
			RetryAfter: a.unavailableRA,
		}
	case jwtverify.ReasonDPoPNonce:
		return Outcome{
			Result: jwtverify.DecisionUnauthenticated, Reason: reason, Err: ve,
			Status: http.StatusUnauthorized, Code: jwtverify.CodeUseDPoPNonce,
			Description: reason.Description(), Challenges: a.dpop.nonceChs,
			DPoPNonce: a.dpop.c.Nonce(),
		}
	}
	return Outcome{
		Result: jwtverify.DecisionUnauthenticated, Reason: reason, Err: ve,
		Status: http.StatusUnauthorized, Code: jwtverify.CodeInvalidDPoPProof,
		Description: reason.Description(), Challenges: a.dpop.proofChs,
	}
}

// rejectedDPoP is rejected for a token presented with the DPoP scheme: the
// same statuses, with the DPoP challenge first.
func (a *Authenticator) rejectedDPoP(err error) Outcome {
	reason := jwtverify.ReasonOf(err)
	if reason.Unavailable() || reason.Code() == jwtverify.CodeInsufficientScope {
		return a.rejected(err)
	}
	desc := reason.Description()
	return Outcome{
		Result: jwtverify.DecisionUnauthenticated, Reason: reason, Err: err,
		Status: http.StatusUnauthorized, Code: jwtverify.CodeInvalidToken, Description: desc,
		Challenges: []string{a.dpop.challenge(jwtverify.CodeInvalidToken, desc, ""), a.bare},
	}
}
