package introspect

import "strings"

// precheck refuses, without a call, tokens that cannot be access tokens of
// the provider: oversize, outside the RFC 6750 b64token syntax, or (Hydra)
// not in the documented format.
func (s *Source) precheck(token string) *Error {
	if token == "" || len(token) > s.cfg.MaxTokenBytes {
		return s.refuse(ReasonMalformed, "token empty or longer than %d bytes", s.cfg.MaxTokenBytes)
	}
	if !isB64Token(token) {
		return s.refuse(ReasonMalformed, "token is not a b64token")
	}
	if s.cfg.Provider == ProviderHydra {
		if strings.HasPrefix(token, "ory_rt_") {
			return s.refuse(ReasonType, "a Hydra refresh token (ory_rt_)")
		}
		if !isHydraAccessToken(token) {
			return s.refuse(ReasonMalformed, "not a Hydra access token (ory_at_ + 43 + . + 43 base64url)")
		}
	}
	return nil
}

// isB64Token checks RFC 6750 section 2.1: 1*( ALPHA / DIGIT / "-" / "." /
// "_" / "~" / "+" / "/" ) *"=".
func isB64Token(t string) bool {
	i := 0
	for ; i < len(t); i++ {
		c := t[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(t); i++ {
		if t[i] != '=' {
			return false
		}
	}
	return true
}

func isB64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// isHydraAccessToken checks Hydra's format: "ory_at_", 43 base64url
// characters, ".", 43 base64url characters (the HMAC strategy's key and
// signature, each 32 bytes unpadded).
func isHydraAccessToken(t string) bool {
	const prefix = "ory_at_"
	if len(t) != len(prefix)+43+1+43 || !strings.HasPrefix(t, prefix) {
		return false
	}
	body := t[len(prefix):]
	return body[43] == '.' && isB64URL(body[:43]) && isB64URL(body[44:])
}
