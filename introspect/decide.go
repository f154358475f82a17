package introspect

import (
	"slices"
	"strings"
	"time"
)

// decide applies the decision rules to a parsed answer. Each rule has its
// own Reason and its own test.
func (s *Source) decide(a *answer, raw []byte, now time.Time) (*Result, *Error) {
	c := &s.cfg
	if !a.active {
		return nil, s.refuse(ReasonInactive, "active is false")
	}
	if a.hasCnf && !c.AcceptConfirmation {
		return nil, s.refuse(ReasonBound, "cnf in the answer: sender-constrained tokens need AcceptConfirmation and a binding check")
	}
	if a.hasTokenType && !strings.EqualFold(a.tokenType, "Bearer") &&
		!(a.hasCnf && c.AcceptConfirmation && strings.EqualFold(a.tokenType, "DPoP")) {
		// RFC 6749 section 7.1 token type; DPoP (RFC 9449 section 6.2)
		// only for a bound answer the caller checks.
		return nil, s.refuse(ReasonType, "token_type %s is not Bearer", truncate(a.tokenType, 32))
	}
	if r := s.checkKind(a); r != nil {
		return nil, r
	}
	if a.hasIss && a.iss != c.Issuer {
		return nil, s.refuse(ReasonIssuer, "iss %s is not the configured issuer", truncate(a.iss, 64))
	}
	sec := now.Unix()
	lee := int64(c.Leeway / time.Second)
	switch {
	case !a.hasExp && !c.InsecureAllowNoExpiry:
		return nil, s.refuse(ReasonMissingClaim, "no exp")
	case a.hasExp && sec >= a.exp+lee:
		return nil, s.refuse(ReasonExpired, "exp is past")
	case a.hasNbf && a.nbf > sec+lee:
		return nil, s.refuse(ReasonNotYetValid, "nbf is in the future")
	case a.hasIat && a.iat > sec+lee:
		return nil, s.refuse(ReasonNotYetValid, "iat is in the future")
	}
	if err := s.checkAudience(a.aud); err != nil {
		return nil, err
	}
	if !c.AnyClient {
		if !a.hasClient {
			return nil, s.refuse(ReasonMissingClaim, "no client_id")
		}
		if !slices.Contains(c.ClientIDs, a.clientID) {
			return nil, s.refuse(ReasonClient, "client_id %s is not allowed", truncate(a.clientID, 64))
		}
	}
	res := &Result{
		name: c.Name, issuer: c.Issuer, subject: a.sub, clientID: a.clientID,
		scopes: splitScopes(a.scope), aud: a.aud, raw: string(raw), bound: a.hasCnf,
	}
	if a.hasExp {
		res.exp = a.exp
	}
	if a.hasIat {
		res.iat = a.iat
	}
	return res, nil
}

// checkKind is the provider's access-versus-refresh rule.
func (s *Source) checkKind(a *answer) *Error {
	switch s.cfg.Provider {
	case ProviderHydra:
		if !a.hasTokenUse {
			return s.refuse(ReasonMissingClaim, "no token_use")
		}
		if a.tokenUse != "access_token" {
			return s.refuse(ReasonType, "token_use %s is not access_token", truncate(a.tokenUse, 32))
		}
	case ProviderKeycloak:
		if a.hasTyp && a.typ != "Bearer" {
			return s.refuse(ReasonType, "typ %s is not Bearer", truncate(a.typ, 32))
		}
	}
	return nil
}

func (s *Source) checkAudience(aud []string) *Error {
	c := &s.cfg
	if len(aud) == 0 {
		if c.AllowMissingAudience || c.InsecureSkipAudienceCheck {
			return nil
		}
		return s.refuse(ReasonMissingClaim, "no aud")
	}
	if c.InsecureSkipAudienceCheck {
		return nil
	}
	for _, a := range aud {
		if slices.Contains(c.Audiences, a) {
			return nil
		}
	}
	return s.refuse(ReasonAudience, "aud names none of the configured audiences")
}
