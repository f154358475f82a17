package jwtverify

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/internal/jose"
	"github.com/m2mauth/m2mauth/internal/strictjson"
	"github.com/m2mauth/m2mauth/jwkscache"
)

// Verifier verifies access tokens. It is safe for concurrent use; its
// configuration is fixed by New.
type Verifier struct {
	issuers     []*issuer
	exact       map[string]*issuer
	templates   []*issuer
	interest    []string
	interestTab *interestTable
	maxSize     int
	now         func() time.Time
	realClock   bool // now is time.Now: an observed Verify reuses its start reading
	obs         Observer
	cobs        ContextObserver // obs when it is one, else nil
	cache       *tokenCache     // nil when disabled

	opaqueDefault  *issuer   // the introspecting issuer without OpaquePrefix
	opaquePrefixed []*issuer // the introspecting issuers with one
}

// New validates cfg and builds a Verifier. Misconfiguration fails here,
// never per request: a missing issuer, key source, audience (without
// InsecureSkipAudienceCheck), client list (without AllowAnyClient) or
// algorithm list; "none" or HMAC algorithms; a leeway above MaxLeeway; an
// issuer template without AllowedTenants.
func New(cfg Config) (*Verifier, error) {
	return compile(&cfg)
}

// IssuerInfo is the public description of a trusted issuer (for RFC 9728
// metadata).
type IssuerInfo struct {
	// Name is the configured name.
	Name string
	// Issuer is the configured issuer (possibly a {tenantid} template).
	Issuer string
	// Audiences are the accepted audiences.
	Audiences []string
	// Binding is the issuer's binding configuration (RFC 9728 metadata
	// advertises tls_client_certificate_bound_access_tokens when an
	// issuer accepts certificate-bound tokens).
	Binding binding.Config
}

// Issuers describes the configured issuers (a copy).
func (v *Verifier) Issuers() []IssuerInfo {
	out := make([]IssuerInfo, len(v.issuers))
	for i, is := range v.issuers {
		out[i] = is.publicInfo
		out[i].Audiences = slices.Clone(is.publicInfo.Audiences)
	}
	return out
}

// Verify checks token and returns its Principal, or a *Error. The token is
// the bare compact JWS, or an opaque token for an issuer that introspects
// (see "Opaque tokens" in the package documentation; the adapters strip
// "Bearer "). ctx bounds only a key refresh the source may do for an
// unknown kid, or the wait for an introspection call.
//
// A token seen before and still valid is answered from the verified-token
// cache without any parsing or crypto, after re-checking exp/nbf against
// the clock and that its signing key is still published. The issuer's
// Validate hook (the user's rule) runs on every call, cache hit or not;
// its pure Rules ran when the token was first verified.
//
// Verify sees no request, so it can check no binding: it refuses every
// sender-constrained token (a cnf claim, ReasonType) whatever the issuer's
// Binding policy, and under binding.Required every unbound token too
// (ReasonBinding, Rule "binding_required"). Code that calls Verify directly
// can therefore never accept a stolen bound token as a bearer token.
// Adapters that see the request call VerifyBound.
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	return v.verifyObserved(ctx, token, false, binding.Proof{})
}

// VerifyBound is Verify for a request that proved what proof says (the
// client certificate of its TLS connection, see binding.CertSource): after
// the token verified, from the cache or not, binding.Check decides under
// the issuer's Binding policy. A refusal is a *Error with ReasonBinding and
// the binding.Reason as Rule ("thumbprint_mismatch",
// "no_client_certificate", "not_tls", "binding_required", ...); under
// binding.Off a bound token is refused with ReasonType, as by Verify. One
// VerifyEvent reports the whole call. The zero Proof proves nothing.
func (v *Verifier) VerifyBound(ctx context.Context, token string, proof binding.Proof) (*Principal, error) {
	return v.verifyObserved(ctx, token, true, proof)
}

// verifyObserved is Verify (bound false) and VerifyBound.
func (v *Verifier) verifyObserved(ctx context.Context, token string, bound bool, proof binding.Proof) (*Principal, error) {
	if v.obs == nil {
		p, _, is, err := v.verify(ctx, token)
		if err == nil {
			err = checkBinding(is, p, bound, proof)
		}
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	// One clock reading serves as the start of the measurement and, with
	// the default clock, as "now" for the token checks: time.Now costs
	// tens of nanoseconds, a third of a cache hit.
	start := time.Now()
	now := start
	if !v.realClock {
		now = v.now()
	}
	p, hit, is, err := v.verifyAt(ctx, token, now)
	if err == nil {
		err = checkBinding(is, p, bound, proof)
	}
	ev := VerifyEvent{Issuer: NoIssuer, CacheHit: hit, Duration: time.Since(start)}
	if is != nil {
		ev.Issuer = is.name
	}
	if err != nil {
		ev.Reason, ev.Rule, ev.Err = err.Reason, err.Rule, err
		v.report(ctx, ev)
		return nil, err
	}
	ev.ClientID = p.clientID
	v.report(ctx, ev)
	return p, nil
}

// report delivers ev to the observer, with ctx when it takes one.
func (v *Verifier) report(ctx context.Context, ev VerifyEvent) {
	if v.cobs != nil {
		v.cobs.ObserveVerifyContext(ctx, ev)
		return
	}
	v.obs.ObserveVerify(ev)
}

// RuleBindingRequired is the Rule of Verify's refusal of an unbound token
// under binding.Required (the same code binding.Check reports).
const RuleBindingRequired = string(binding.ReasonBindingRequired)

// checkBinding is the binding decision on a verified Principal of issuer
// is, on every call (hit or miss): bound says whether the caller gave a
// proof (VerifyBound) at all.
func checkBinding(is *issuer, p *Principal, bound bool, proof binding.Proof) *Error {
	if !bound {
		if is.binding.Policy == binding.Off {
			return nil // a bound token never verifies under Off
		}
		if p.cnf.Bound() {
			return &Error{Reason: ReasonType, Issuer: is.name, Detail: "token is sender-constrained (cnf): Verify cannot check its binding"}
		}
		if is.binding.Policy == binding.Required {
			return &Error{Reason: ReasonBinding, Issuer: is.name, Rule: RuleBindingRequired, Detail: "binding " + RuleBindingRequired}
		}
		return nil
	}
	why := binding.Check(is.binding, p.cnf, proof)
	if why == binding.Accepted {
		return nil
	}
	return &Error{Reason: ReasonBinding, Issuer: is.name, Rule: string(why), Detail: "binding " + string(why)}
}

// verify returns the Principal, whether the cache answered, the chosen
// issuer (when known) and the rejection.
func (v *Verifier) verify(ctx context.Context, token string) (*Principal, bool, *issuer, *Error) {
	return v.verifyAt(ctx, token, v.now())
}

// verifyAt is verify at the clock reading now.
func (v *Verifier) verifyAt(ctx context.Context, token string, now time.Time) (*Principal, bool, *issuer, *Error) {
	if len(token) > v.maxSize {
		return nil, false, nil, newErr(ReasonMalformed, "token larger than MaxTokenSize")
	}
	c := v.cache
	if c == nil {
		p, is, _, err := v.verifySlow(ctx, token, now)
		if err == nil && is.validate != nil {
			if err = userRule(is, p); err != nil {
				p = nil
			}
		}
		return p, false, is, err
	}
	h := c.hash(token)
	if e, slot := c.get(h, token); e != nil {
		p, err, ok := c.check(e, slot, now.UnixMicro())
		if ok {
			if err == nil && e.is.validate != nil {
				if err = userRule(e.is, p); err != nil {
					p = nil
				}
			}
			return p, true, e.is, err
		}
		// The signing key is gone: verify from scratch.
	}
	c.misses.Add(1)
	p, is, e, err := v.verifySlow(ctx, token, now)
	if err == nil {
		// The entry records the verdict of everything that cannot change
		// for this token; the user's rule runs on every call, hit or miss.
		e.token, e.hash = token, h
		c.put(e, now.UnixMicro())
		if is.validate != nil {
			if err = userRule(is, p); err != nil {
				p = nil
			}
		}
	}
	return p, false, is, err
}

// pickIssuer chooses the trusted issuer by the unverified iss. For a
// {tenantid} template, tid must be a GUID equal to the template's slot and
// allowed.
func (v *Verifier) pickIssuer(iss string, doc string, c *claims) (*issuer, string, *Error) {
	if is := v.exact[iss]; is != nil {
		return is, "", nil
	}
	var firstErr *Error
	for _, is := range v.templates {
		if len(iss) <= len(is.prefix)+len(is.suffix) || !strings.HasPrefix(iss, is.prefix) || !strings.HasSuffix(iss, is.suffix) {
			continue
		}
		tenant := iss[len(is.prefix) : len(iss)-len(is.suffix)]
		err := func() *Error {
			if c.tid.Kind != strictjson.String {
				return &Error{Reason: ReasonIssuer, Issuer: is.name, Detail: "no tid claim for the issuer template"}
			}
			tid := strictjson.StringOf(doc, c.tid)
			if !isGUID(tid) {
				return &Error{Reason: ReasonIssuer, Issuer: is.name, Detail: "tid " + quote(tid) + " is not a GUID"}
			}
			if tid != tenant {
				return &Error{Reason: ReasonIssuer, Issuer: is.name, Detail: "iss tenant differs from tid " + quote(tid)}
			}
			if !is.anyTenant {
				if _, ok := is.tenants[strings.ToLower(tid)]; !ok {
					return &Error{Reason: ReasonIssuer, Issuer: is.name, Detail: "tenant " + quote(tid) + " is not allowed"}
				}
			}
			return nil
		}()
		if err == nil {
			return is, tenant, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, "", firstErr
	}
	return nil, "", newErr(ReasonIssuer, "untrusted issuer "+quote(iss))
}

// keyIssuerOK checks the JWK issuer member (Entra) against iss.
func keyIssuerOK(k *jwkscache.Key, iss, tenant string) bool {
	if k.Issuer == "" || k.Issuer == iss {
		return true
	}
	if tenant != "" && strings.Contains(k.Issuer, tenantPlaceholder) {
		return strings.Replace(k.Issuer, tenantPlaceholder, tenant, 1) == iss
	}
	return false
}

func malformed(detail string) *Error { return newErr(ReasonMalformed, detail) }

// parsed is the state verifySlow's phases share: the decoded token and the
// index of its claims. It lives on verifySlow's stack (the phases take a
// pointer and keep none); small headers and signatures decode into buffers
// on that stack too, so they cost no allocation.
type parsed struct {
	token string
	hs    string // header segment (base64url)
	ps    string // payload segment (base64url)
	h     header // spans into the decoded header (kept apart: see decode)
	raw   []byte // decoded claims (heap: the Principal keeps it)
	doc   string // raw as a string; raw is never modified once parsed
	c     claims
	iss   string // the iss claim
}

// verifySlow runs the whole pipeline for a token the cache does not know,
// one named phase after another. On success it returns a cache entry
// describing the Principal (nil when the cache is off).
func (v *Verifier) verifySlow(ctx context.Context, token string, now time.Time) (*Principal, *issuer, *cacheEntry, *Error) {
	if _, _, _, jws := splitCompact(token); !jws {
		// Opaque: it names no issuer; at most one introspecting issuer
		// takes it (see "Opaque tokens" in the package documentation).
		if is := v.opaqueIssuer(token); is != nil {
			return v.introspectToken(ctx, is, token, now)
		}
	}
	var t parsed
	var hbuf [512]byte
	var sbuf [1024]byte
	hdr, sig, err := v.decode(&t, token, hbuf[:], sbuf[:])
	if err != nil {
		return nil, nil, nil, err
	}
	is, tenant, err := v.pickIssuer(t.iss, t.doc, &t.c)
	if err != nil {
		return nil, nil, nil, err
	}
	if is.mode == ModeIntrospect {
		// Every token of this issuer is introspected: the endpoint, not
		// the unverified JWS, decides (Keycloak lightweight tokens).
		return v.introspectToken(ctx, is, token, now)
	}
	used, err := checkSignature(ctx, is, &t, hdr, sig, tenant)
	if err == nil {
		err = checkTimeAndType(is, &t.c, t.doc, now.UnixMicro())
	}
	var cnf binding.Confirmation
	if err == nil {
		cnf, err = parseCnf(is, &t)
	}
	var p *Principal
	if err == nil {
		p = v.newPrincipal(is, &t)
		p.cnf = cnf
		err = v.checkAudienceAndClient(is, &t, p)
	}
	if err == nil {
		err = mapAndRule(is, &t, p)
	}
	if err != nil {
		err.Issuer = is.name
		return nil, is, nil, err
	}
	if v.cache == nil {
		return p, is, nil, nil
	}
	return p, is, newEntry(is, p, used, &t.c), nil
}

// decode is the first phase: the compact form, the header, the signature
// bytes and the claims, all strictly, and the unverified iss. It returns
// the decoded header and signature, in hbuf and sbuf when they fit (they
// are returned rather than stored in t, whose contents partly outlive the
// call, so that the buffers stay on the caller's stack).
func (v *Verifier) decode(t *parsed, token string, hbuf, sbuf []byte) (hdr, sig []byte, err *Error) {
	hs, ps, ss, ok := splitCompact(token)
	if !ok {
		return nil, nil, malformed("not a compact JWS with three non-empty segments")
	}
	t.token, t.hs, t.ps = token, hs, ps
	hl := jose.Base64URLLen(len(hs))
	if hl < 0 || hl > maxHeaderSize {
		return nil, nil, malformed("header segment length")
	}
	if hl <= len(hbuf) {
		hdr = hbuf[:hl]
	} else {
		hdr = make([]byte, hl)
	}
	if !jose.DecodeBase64URL(hdr, hs) {
		return nil, nil, malformed("header is not canonical base64url")
	}
	if t.h, err = parseHeader(hdr); err != nil {
		return nil, nil, err
	}
	// Signature (decoded before the payload: cheap shape check).
	sl := jose.Base64URLLen(len(ss))
	if sl < 0 || sl > len(sbuf) {
		return nil, nil, malformed("signature segment length")
	}
	sig = sbuf[:sl]
	if !jose.DecodeBase64URL(sig, ss) {
		return nil, nil, malformed("signature is not canonical base64url")
	}
	pl := jose.Base64URLLen(len(ps))
	if pl < 0 {
		return nil, nil, malformed("payload segment length")
	}
	t.raw = make([]byte, pl)
	if !jose.DecodeBase64URL(t.raw, ps) {
		return nil, nil, malformed("payload is not canonical base64url")
	}
	if err := parseClaims(t.raw, v.interestTab, &t.c); err != nil {
		return nil, nil, err
	}
	t.doc = bytesString(t.raw)
	if t.c.iss.Kind == 0 {
		return nil, nil, newErr(ReasonIssuer, "no iss claim")
	}
	t.iss = strictjson.StringOf(t.doc, t.c.iss)
	return hdr, sig, nil
}

// checkSignature is the key phase: the header's alg and typ against the
// chosen issuer's policy, the keys its source alone supplies for the kid,
// and the signature (hdr and sig are the decoded header and signature). It
// returns the key that verified.
func checkSignature(ctx context.Context, is *issuer, t *parsed, hdr, sig []byte, tenant string) (*jwkscache.Key, *Error) {
	h := &t.h
	if !is.algs[h.alg] {
		return nil, newErr(ReasonUnsupportedAlg, "alg "+h.alg.String()+" is not allowed for this issuer")
	}
	if !typOK(hdr, h.typ, is.typ) {
		if h.typ.Kind == 0 {
			return nil, newErr(ReasonType, "no typ header (RFC 9068 strict mode)")
		}
		return nil, newErr(ReasonType, "typ "+quoteBytes(hdr[h.typ.Start:h.typ.End])+" is not an access token type")
	}
	kid := ""
	if h.kid.Kind != 0 {
		if h.kid.Esc {
			kid = string(strictjson.Unescape(hdr[h.kid.Start:h.kid.End]))
		} else {
			kid = string(hdr[h.kid.Start:h.kid.End])
		}
	}
	keys, kerr := is.keys.Lookup(ctx, kid)
	if kerr != nil {
		if errors.Is(kerr, jwkscache.ErrKeysUnavailable) {
			return nil, &Error{Reason: ReasonKeysUnavailable, Detail: "no usable key set", Err: kerr}
		}
		return nil, &Error{Reason: ReasonUnknownKey, Detail: "kid " + quote(kid), Err: kerr}
	}
	input := stringBytes(t.token[:len(t.hs)+1+len(t.ps)])
	fits, tried := 0, 0
	for i := range keys {
		k := &keys[i]
		if !keyFits(k, h.alg) {
			continue
		}
		fits++
		if !keyIssuerOK(k, t.iss, tenant) {
			continue
		}
		if tried == maxKeyTries {
			break
		}
		tried++
		if verifySig(h.alg, k, input, sig) {
			return k, nil
		}
	}
	switch {
	case fits == 0:
		return nil, newErr(ReasonUnsupportedAlg, "no key with kid "+quote(kid)+" fits alg "+h.alg.String())
	case tried == 0:
		return nil, newErr(ReasonUnknownKey, "the key with kid "+quote(kid)+" belongs to another issuer")
	}
	return nil, newErr(ReasonBadSignature, "signature does not verify")
}

// checkTimeAndType is the validity phase: exp (required), nbf and iat with
// the issuer's leeway at now (microseconds), and the claims that say the
// token is not a bearer access token (typ, token_use, cnf).
func checkTimeAndType(is *issuer, c *claims, doc string, now int64) *Error {
	lw := is.leeway
	if !c.hasExp {
		return newErr(ReasonMissingClaim, "no exp claim")
	}
	if now >= c.exp+lw {
		return newErr(ReasonExpired, "token expired at "+time.UnixMicro(c.exp).UTC().Format(time.RFC3339))
	}
	if c.hasNbf && c.nbf > now+lw {
		return newErr(ReasonNotYetValid, "nbf is in the future")
	}
	if c.hasIat && c.iat > now+lw {
		return newErr(ReasonNotYetValid, "iat is in the future")
	}
	if c.typ.Kind == strictjson.String && badPayloadTyp(strictjson.StringOf(doc, c.typ)) {
		return newErr(ReasonType, "claims typ "+quote(strictjson.StringOf(doc, c.typ))+" is not an access token")
	}
	if c.tokenUse.Kind != 0 && (c.tokenUse.Kind != strictjson.String || strictjson.StringOf(doc, c.tokenUse) != "access") {
		return newErr(ReasonType, "token_use is not access")
	}
	if c.hasCnf && !is.ignoreCnf && is.binding.Policy == binding.Off {
		// A DPoP- or certificate-bound token (RFC 9449, RFC 8705) presented
		// as a bearer token: its binding cannot be checked here, and RFC
		// 9449 section 7.2 forbids accepting it under the Bearer scheme.
		return newErr(ReasonType, "token is sender-constrained (cnf)")
	}
	return nil
}

// RuleMalformedConfirmation is the Rule of the refusal of a token whose
// cnf claim is malformed (the same code as binding's reason).
const RuleMalformedConfirmation = string(binding.ReasonMalformedConfirmation)

// parseCnf is the confirmation phase: under a binding policy, the cnf
// claim parsed strictly (binding.ParseConfirmation). Under binding.Off a
// cnf claim was refused already, or InsecureIgnoreConfirmation ignores it.
func parseCnf(is *issuer, t *parsed) (binding.Confirmation, *Error) {
	if !t.c.hasCnf || is.binding.Policy == binding.Off {
		return binding.Confirmation{}, nil
	}
	v := t.c.cnf
	if v.Kind != strictjson.Object {
		return binding.Confirmation{}, &Error{Reason: ReasonBinding, Rule: RuleMalformedConfirmation, Detail: "cnf claim is not an object"}
	}
	cnf, err := binding.ParseConfirmation(t.raw[v.Start:v.End])
	if err != nil {
		return binding.Confirmation{}, &Error{Reason: ReasonBinding, Rule: RuleMalformedConfirmation, Detail: "cnf claim is malformed", Err: err}
	}
	return cnf, nil
}

// newPrincipal starts the Principal of a verified token: the identity
// claims, sharing the claims document's memory.
func (v *Verifier) newPrincipal(is *issuer, t *parsed) *Principal {
	c, doc := &t.c, t.doc
	p := &Principal{raw: doc, issuerName: is.name, iss: t.iss, exp: c.exp, iat: c.iat, hasIat: c.hasIat, leeway: is.leeway, verifier: v}
	if c.sub.Kind != 0 {
		p.sub = strictjson.StringOf(doc, c.sub)
	}
	if c.jti.Kind != 0 {
		p.jti = strictjson.StringOf(doc, c.jti)
	}
	if c.tid.Kind == strictjson.String {
		p.tid = strictjson.StringOf(doc, c.tid)
	}
	return p
}

// checkAudienceAndClient is the binding phase: the audience against the
// issuer's list, the client ID against its allow list and the required
// claims. It fills p's audiences and client ID.
func (v *Verifier) checkAudienceAndClient(is *issuer, t *parsed, p *Principal) *Error {
	c, doc := &t.c, t.doc
	switch c.aud.Kind {
	case strictjson.String:
		p.aud1[0] = strictjson.StringOf(doc, c.aud)
		p.aud = p.aud1[:]
	case strictjson.Array:
		strictjson.ArrayElems(t.raw, c.aud, func(e strictjson.Value) bool {
			p.aud = append(p.aud, strictjson.StringOf(doc, e))
			return true
		})
	}
	if !is.skipAud {
		if c.aud.Kind == 0 {
			return newErr(ReasonAudience, "no aud claim")
		}
		if len(p.aud) == 0 {
			return newErr(ReasonAudience, "empty aud")
		}
		if !audOK(p.aud, is.audiences) {
			return newErr(ReasonAudience, "aud "+quote(strings.Join(p.aud, " "))+" is not accepted")
		}
	}
	for _, idx := range is.clientIdx {
		cv := c.extra[idx]
		if cv.Kind == 0 || cv.Kind == strictjson.Null {
			continue
		}
		if cv.Kind != strictjson.String {
			return newErr(ReasonMalformed, "client claim "+quote(v.interest[idx])+" is not a string")
		}
		p.clientID = strictjson.StringOf(doc, cv)
		break
	}
	if !is.anyClient {
		if p.clientID == "" {
			return newErr(ReasonClient, "no client ID claim")
		}
		if _, ok := is.clientIDs[p.clientID]; !ok {
			return newErr(ReasonClient, "client "+quote(p.clientID)+" is not allowed")
		}
	}
	for i, idx := range is.required {
		if k := c.extra[idx].Kind; k == 0 || k == strictjson.Null {
			return newErr(ReasonMissingClaim, "required claim "+quote(is.reqNames[i])+" is missing")
		}
	}
	return nil
}

// mapAndRule is the permissions phase: the permission claims mapped into
// p, the app-only classification, then the issuer's pure Rules (whose
// verdict the cache keeps with the token).
func mapAndRule(is *issuer, t *parsed, p *Principal) *Error {
	hasDelegatedClaim, perr := mapPermissions(t.raw, t.doc, &t.c, is, p)
	if perr != nil {
		return newErr(ReasonMalformed, perr.Error())
	}
	if is.appOnly != nil {
		p.appOnly = is.appOnly(p)
	} else {
		p.appOnly = defaultAppOnly(t.doc, &t.c, p, hasDelegatedClaim)
	}
	for i := range is.rules {
		r := &is.rules[i]
		if err := r.Check(p); err != nil {
			return ruleRefusal(is, r.Code, err)
		}
	}
	return nil
}

// newEntry is the cache phase: the entry that lets later hits of the token
// skip every phase above, valid until exp plus leeway and while the source
// publishes the key that verified.
func newEntry(is *issuer, p *Principal, used *jwkscache.Key, c *claims) *cacheEntry {
	lw := is.leeway
	e := &cacheEntry{
		p:        p,
		is:       is,
		src:      is.keys,
		kid:      used.KID,
		thumb:    used.Thumbprint,
		expLimit: satAdd(c.exp, lw),
		nbfLimit: math.MinInt64,
	}
	e.gen.Store(used.Generation)
	nb := int64(math.MinInt64)
	if c.hasNbf {
		nb = c.nbf
	}
	if c.hasIat && c.iat > nb {
		nb = c.iat
	}
	if nb != math.MinInt64 {
		e.nbfLimit = nb - lw
	}
	return e
}

// userRule runs the issuer's Validate on p (every Verify, cache hit or
// not): nil, or the refusal with its declared code or RuleCustom.
func userRule(is *issuer, p *Principal) *Error {
	err := is.validate(p)
	if err == nil {
		return nil
	}
	return ruleRefusal(is, validateCode(is, err), err)
}

func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func audOK(aud, accepted []string) bool {
	for _, a := range aud {
		for _, w := range accepted {
			if a == w {
				return true
			}
		}
	}
	return false
}

// badPayloadTyp recognises the claims-level typ of tokens that are not
// access tokens (Keycloak marks ID tokens "ID", refresh tokens "Refresh").
func badPayloadTyp(t string) bool {
	for _, bad := range [...]string{"ID", "Refresh", "Offline", "Logout"} {
		if strings.EqualFold(t, bad) {
			return true
		}
	}
	return false
}

// defaultAppOnly: idtyp == "app", or gty == "client-credentials", or sub
// equals the client ID, or no delegated scope claim.
func defaultAppOnly(doc string, c *claims, p *Principal, hasDelegatedClaim bool) bool {
	switch {
	case c.idtyp.Kind == strictjson.String && strictjson.StringOf(doc, c.idtyp) == "app":
		return true
	case c.gty.Kind == strictjson.String && strictjson.StringOf(doc, c.gty) == "client-credentials":
		return true
	case p.sub != "" && p.sub == p.clientID:
		return true
	}
	return !hasDelegatedClaim
}

// permItem is one permission found in the claims.
type permItem struct {
	s    string
	role bool
}

// mapPermissions fills the delegated scopes, roles and merged set with one
// allocation: all three slices share a backing array.
func mapPermissions(raw []byte, doc string, c *claims, is *issuer, p *Principal) (hasDelegatedClaim bool, err error) {
	var stack [32]permItem
	items := stack[:0]
	for _, ps := range is.perms {
		v := c.extra[ps.idx]
		if len(ps.rest) > 0 && v.Kind != 0 {
			var ok bool
			if v, ok = strictjson.LookupPath(raw, v, ps.rest); !ok {
				continue
			}
		}
		role := ps.kind == KindRole
		switch v.Kind {
		case 0, strictjson.Null:
			continue
		case strictjson.String:
			s := strictjson.StringOf(doc, v)
			for s != "" {
				var f string
				f, s, _ = strings.Cut(s, " ")
				if f != "" {
					items = append(items, permItem{f, role})
				}
			}
		case strictjson.Array:
			bad := false
			strictjson.ArrayElems(raw, v, func(e strictjson.Value) bool {
				if e.Kind != strictjson.String {
					bad = true
					return false
				}
				if s := strictjson.StringOf(doc, e); s != "" {
					items = append(items, permItem{s, role})
				}
				return true
			})
			if bad {
				return false, errors.New("permission claim " + quote(ps.name) + " holds a non-string")
			}
		default:
			return false, errors.New("permission claim " + quote(ps.name) + " is neither a string nor an array")
		}
		if !role {
			hasDelegatedClaim = true
		}
	}
	if len(items) == 0 {
		return hasDelegatedClaim, nil
	}
	nr := 0
	for _, it := range items {
		if it.role {
			nr++
		}
	}
	nd := len(items) - nr
	all := make([]string, 2*len(items))
	d, r, m := all[:0:nd], all[nd:nd:len(items)], all[len(items):len(items)]
	for _, it := range items {
		if it.role {
			r = append(r, it.s)
		} else {
			d = append(d, it.s)
		}
		m = append(m, it.s)
	}
	slices.Sort(d)
	slices.Sort(r)
	slices.Sort(m)
	p.delegated, p.roles, p.scopes = slices.Compact(d), slices.Compact(r), slices.Compact(m)
	return hasDelegatedClaim, nil
}

// Issued reports whether p was built by v. An adapter that finds a
// Principal in a request context uses it to trust only its own verifier's
// work: a Principal of another Verifier (another API in the same server,
// with other audiences or clients) or one built by other code must not
// satisfy v's requirements.
func (v *Verifier) Issued(p *Principal) bool { return p != nil && v != nil && p.verifier == v }

// CacheStats returns the verified-token cache counters (zero when off).
func (v *Verifier) CacheStats() CacheStats {
	if v.cache == nil {
		return CacheStats{}
	}
	return v.cache.stats()
}

// Forget drops token from the verified-token cache, so that its next Verify
// runs every check again (the signature, the claims and the issuer's
// Rules). It reports whether the token was cached. The user's rule
// (IssuerConfig.Validate) needs no Forget: it runs on every Verify. Use
// Forget when the answer of a check the cache skips may have changed for
// this token, for instance after learning its signing key leaked before the
// key source stopped publishing it. A Verify of the same token running
// concurrently may cache it again once it has verified it.
//
// For an opaque token, Forget also drops the answer cached by every
// issuer's Introspector that has a Forget(token string) bool method
// (*introspect.Source does), so that the next Verify asks the endpoint:
// after learning that a token was revoked, this ends its revocation
// delay at once.
func (v *Verifier) Forget(token string) bool {
	forgot := false
	for _, is := range v.issuers {
		if f, ok := is.intro.(interface{ Forget(string) bool }); ok && f.Forget(token) {
			forgot = true
		}
	}
	if v.cache == nil {
		return forgot
	}
	return v.cache.forget(token) || forgot
}

// ForgetAll empties the verified-token cache: every token is verified from
// scratch at its next Verify. Verify calls running concurrently may cache
// the tokens they verify.
func (v *Verifier) ForgetAll() {
	if v.cache != nil {
		v.cache.forgetAll()
	}
}
