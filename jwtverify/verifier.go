package jwtverify

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

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
	cache       *tokenCache // nil when disabled
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
// the bare compact JWS (the adapters strip "Bearer "). ctx bounds only a
// key refresh the source may do for an unknown kid.
//
// A token seen before and still valid is answered from the verified-token
// cache without any parsing or crypto, after re-checking exp/nbf against
// the clock and that its signing key is still published.
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	if v.obs == nil {
		p, _, _, err := v.verify(ctx, token)
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
	ev := VerifyEvent{CacheHit: hit, Duration: time.Since(start)}
	if is != nil {
		ev.Issuer = is.name
	}
	if err != nil {
		ev.Reason, ev.Err = err.Reason, err
		v.obs.ObserveVerify(ev)
		return nil, err
	}
	ev.ClientID = p.clientID
	v.obs.ObserveVerify(ev)
	return p, nil
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
		return p, false, is, err
	}
	h := c.hash(token)
	if e, slot := c.get(h, token); e != nil {
		p, err, ok := c.check(e, slot, now.UnixMicro())
		if ok {
			return p, true, e.is, err
		}
		// The signing key is gone: verify from scratch.
	}
	c.misses.Add(1)
	p, is, e, err := v.verifySlow(ctx, token, now)
	if err == nil {
		e.token, e.hash = token, h
		c.put(e, now.UnixMicro())
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
			if c.tid.kind != kindString {
				return &Error{Reason: ReasonIssuer, Issuer: is.name, Detail: "no tid claim for the issuer template"}
			}
			tid := stringOf(doc, c.tid)
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

// verifySlow runs the whole pipeline for a token the cache does not know.
// On success it returns a cache entry describing the Principal.
func (v *Verifier) verifySlow(ctx context.Context, token string, now time.Time) (*Principal, *issuer, *cacheEntry, *Error) {
	hs, ps, ss, ok := splitCompact(token)
	if !ok {
		return nil, nil, nil, malformed("not a compact JWS with three non-empty segments")
	}
	// Header.
	hl := b64Len(len(hs))
	if hl < 0 || hl > maxHeaderSize {
		return nil, nil, nil, malformed("header segment length")
	}
	var hbuf [512]byte
	var hdr []byte
	if hl <= len(hbuf) {
		hdr = hbuf[:hl]
	} else {
		hdr = make([]byte, hl)
	}
	if !b64Decode(hdr, hs) {
		return nil, nil, nil, malformed("header is not canonical base64url")
	}
	h, herr := parseHeader(hdr)
	if herr != nil {
		return nil, nil, nil, herr
	}
	// Signature (decoded before the payload: cheap shape check).
	sl := b64Len(len(ss))
	var sbuf [1024]byte
	if sl < 0 || sl > len(sbuf) {
		return nil, nil, nil, malformed("signature segment length")
	}
	sig := sbuf[:sl]
	if !b64Decode(sig, ss) {
		return nil, nil, nil, malformed("signature is not canonical base64url")
	}
	// Claims.
	pl := b64Len(len(ps))
	if pl < 0 {
		return nil, nil, nil, malformed("payload segment length")
	}
	raw := make([]byte, pl)
	if !b64Decode(raw, ps) {
		return nil, nil, nil, malformed("payload is not canonical base64url")
	}
	var c claims
	if err := parseClaims(raw, v.interestTab, &c); err != nil {
		return nil, nil, nil, err
	}
	doc := bytesString(raw) // raw is never modified from here on
	if c.iss.kind == 0 {
		return nil, nil, nil, newErr(ReasonIssuer, "no iss claim")
	}
	issVal := stringOf(doc, c.iss)
	is, tenant, ierr := v.pickIssuer(issVal, doc, &c)
	if ierr != nil {
		return nil, nil, nil, ierr
	}
	fail := func(r Reason, detail string, cause error) (*Principal, *issuer, *cacheEntry, *Error) {
		return nil, is, nil, &Error{Reason: r, Issuer: is.name, Detail: detail, Err: cause}
	}
	if !is.algs[h.alg] {
		return fail(ReasonUnsupportedAlg, "alg "+h.alg.String()+" is not allowed for this issuer", nil)
	}
	if !typOK(hdr, h.typ, is.typ) {
		if h.typ.kind == 0 {
			return fail(ReasonType, "no typ header (RFC 9068 strict mode)", nil)
		}
		return fail(ReasonType, "typ "+quoteBytes(hdr[h.typ.start:h.typ.end])+" is not an access token type", nil)
	}
	// Keys: only from this issuer's source.
	kid := ""
	if h.kid.kind != 0 {
		if h.kid.esc {
			kid = string(unescape(hdr[h.kid.start:h.kid.end]))
		} else {
			kid = string(hdr[h.kid.start:h.kid.end])
		}
	}
	keys, kerr := is.keys.Lookup(ctx, kid)
	if kerr != nil {
		if errors.Is(kerr, jwkscache.ErrKeysUnavailable) {
			return fail(ReasonKeysUnavailable, "no usable key set", kerr)
		}
		return fail(ReasonUnknownKey, "kid "+quote(kid), kerr)
	}
	input := stringBytes(token[:len(hs)+1+len(ps)])
	var used *jwkscache.Key
	fits, tried := 0, 0
	for i := range keys {
		k := &keys[i]
		if !keyFits(k, h.alg) {
			continue
		}
		fits++
		if !keyIssuerOK(k, issVal, tenant) {
			continue
		}
		if tried == maxKeyTries {
			break
		}
		tried++
		if verifySig(h.alg, k, input, sig) {
			used = k
			break
		}
	}
	if used == nil {
		switch {
		case fits == 0:
			return fail(ReasonUnsupportedAlg, "no key with kid "+quote(kid)+" fits alg "+h.alg.String(), nil)
		case tried == 0:
			return fail(ReasonUnknownKey, "the key with kid "+quote(kid)+" belongs to another issuer", nil)
		}
		return fail(ReasonBadSignature, "signature does not verify", nil)
	}
	// Claims checks.
	nowUs := now.UnixMicro()
	lw := is.leeway
	if !c.hasExp {
		return fail(ReasonMissingClaim, "no exp claim", nil)
	}
	if nowUs >= c.exp+lw {
		return fail(ReasonExpired, "token expired at "+time.UnixMicro(c.exp).UTC().Format(time.RFC3339), nil)
	}
	if c.hasNbf && c.nbf > nowUs+lw {
		return fail(ReasonNotYetValid, "nbf is in the future", nil)
	}
	if c.hasIat && c.iat > nowUs+lw {
		return fail(ReasonNotYetValid, "iat is in the future", nil)
	}
	if c.typ.kind == kindString && badPayloadTyp(stringOf(doc, c.typ)) {
		return fail(ReasonType, "claims typ "+quote(stringOf(doc, c.typ))+" is not an access token", nil)
	}
	if c.tokenUse.kind != 0 && (c.tokenUse.kind != kindString || stringOf(doc, c.tokenUse) != "access") {
		return fail(ReasonType, "token_use is not access", nil)
	}
	if c.hasCnf && !is.ignoreCnf {
		// A DPoP- or certificate-bound token (RFC 9449, RFC 8705) presented
		// as a bearer token: its binding cannot be checked here, and RFC
		// 9449 section 7.2 forbids accepting it under the Bearer scheme.
		return fail(ReasonType, "token is sender-constrained (cnf)", nil)
	}
	p := &Principal{raw: doc, issuerName: is.name, iss: issVal, exp: c.exp, iat: c.iat, hasIat: c.hasIat, leeway: is.leeway, verifier: v}
	if c.sub.kind != 0 {
		p.sub = stringOf(doc, c.sub)
	}
	if c.jti.kind != 0 {
		p.jti = stringOf(doc, c.jti)
	}
	if c.tid.kind == kindString {
		p.tid = stringOf(doc, c.tid)
	}
	// Audience.
	switch c.aud.kind {
	case kindString:
		p.aud1[0] = stringOf(doc, c.aud)
		p.aud = p.aud1[:]
	case kindArray:
		arrayElems(raw, c.aud, func(e jval) bool {
			p.aud = append(p.aud, stringOf(doc, e))
			return true
		})
	}
	if !is.skipAud {
		if c.aud.kind == 0 {
			return fail(ReasonAudience, "no aud claim", nil)
		}
		if len(p.aud) == 0 {
			return fail(ReasonAudience, "empty aud", nil)
		}
		if !audOK(p.aud, is.audiences) {
			return fail(ReasonAudience, "aud "+quote(strings.Join(p.aud, " "))+" is not accepted", nil)
		}
	}
	// Client.
	for _, idx := range is.clientIdx {
		cv := c.extra[idx]
		if cv.kind == 0 || cv.kind == kindNull {
			continue
		}
		if cv.kind != kindString {
			return fail(ReasonMalformed, "client claim "+quote(v.interest[idx])+" is not a string", nil)
		}
		p.clientID = stringOf(doc, cv)
		break
	}
	if !is.anyClient {
		if p.clientID == "" {
			return fail(ReasonClient, "no client ID claim", nil)
		}
		if _, ok := is.clientIDs[p.clientID]; !ok {
			return fail(ReasonClient, "client "+quote(p.clientID)+" is not allowed", nil)
		}
	}
	// Required claims.
	for i, idx := range is.required {
		if k := c.extra[idx].kind; k == 0 || k == kindNull {
			return fail(ReasonMissingClaim, "required claim "+quote(is.reqNames[i])+" is missing", nil)
		}
	}
	// Permissions.
	hasDelegatedClaim, perr := mapPermissions(raw, doc, &c, is, p)
	if perr != nil {
		return fail(ReasonMalformed, perr.Error(), nil)
	}
	if is.appOnly != nil {
		p.appOnly = is.appOnly(p)
	} else {
		p.appOnly = defaultAppOnly(doc, &c, p, hasDelegatedClaim)
	}
	if is.validate != nil {
		if err := is.validate(p); err != nil {
			r := ReasonMissingClaim
			var ve *Error
			if errors.As(err, &ve) && ve.Reason != "" {
				r = ve.Reason
			}
			return fail(r, "issuer rule", err)
		}
	}
	if v.cache == nil {
		return p, is, nil, nil
	}
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
	return p, is, e, nil
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
	case c.idtyp.kind == kindString && stringOf(doc, c.idtyp) == "app":
		return true
	case c.gty.kind == kindString && stringOf(doc, c.gty) == "client-credentials":
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
		if len(ps.rest) > 0 && v.kind != 0 {
			var ok bool
			if v, ok = lookupPath(raw, v, ps.rest); !ok {
				continue
			}
		}
		role := ps.kind == KindRole
		switch v.kind {
		case 0, kindNull:
			continue
		case kindString:
			s := stringOf(doc, v)
			for s != "" {
				var f string
				f, s, _ = strings.Cut(s, " ")
				if f != "" {
					items = append(items, permItem{f, role})
				}
			}
		case kindArray:
			bad := false
			arrayElems(raw, v, func(e jval) bool {
				if e.kind != kindString {
					bad = true
					return false
				}
				if s := stringOf(doc, e); s != "" {
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
