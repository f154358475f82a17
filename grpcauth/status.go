package grpcauth

import (
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/m2mauth/m2mauth/jwtverify"
)

// Domain is the errdetails.ErrorInfo domain of every status this package
// returns.
const Domain = "m2mauth"

// ErrorInfo reasons: every rejection carries an errdetails.ErrorInfo with
// Domain and one of these as Reason (UPPER_SNAKE_CASE, as the ErrorInfo
// message requires). They follow the RFC 6750 error codes the HTTP
// adapters send, not jwtverify's precise reasons: telling the holder of a
// stolen token which check failed helps the attacker, so the precise
// reason goes to the logger and the observer only. Expiry is the one
// exception, because a legitimate client acts on it.
const (
	// InfoMissingToken: no bearer credentials (no authorization metadata,
	// or another scheme such as Basic). Code Unauthenticated.
	InfoMissingToken = "MISSING_TOKEN"
	// InfoInvalidRequest: malformed credentials, or more than one
	// authorization value (SECURITY.md H3, H5, H10). Code Unauthenticated.
	InfoInvalidRequest = "INVALID_REQUEST"
	// InfoInvalidToken: the token failed verification. Code
	// Unauthenticated.
	InfoInvalidToken = "INVALID_TOKEN"
	// InfoTokenExpired: the token expired; fetch a new one. Code
	// Unauthenticated.
	InfoTokenExpired = "TOKEN_EXPIRED"
	// InfoInsufficientScope: the token is valid but lacks a permission the
	// method requires, or the policy denies the method. Code
	// PermissionDenied.
	InfoInsufficientScope = "INSUFFICIENT_SCOPE"
	// InfoKeysUnavailable: the server has no usable key set to verify with
	// (its issuer was never reachable or the keys are too stale). Code
	// Unavailable, which clients may retry.
	InfoKeysUnavailable = "KEYS_UNAVAILABLE"
	// InfoIntrospectionUnavailable: an opaque token's issuer introspects
	// and its introspection endpoint cannot decide now (down, 5xx, an
	// unparsable answer) or the issuer's call budget is spent. Code
	// Unavailable, which clients may retry.
	InfoIntrospectionUnavailable = "INTROSPECTION_UNAVAILABLE"
	// InfoDPoPUnsupported: the call uses the DPoP authorization scheme
	// (RFC 9449), which this interceptor does not accept: no gRPC client
	// stack makes DPoP proofs, and gRPC APIs bind tokens to the client
	// certificate instead (RFC 8705, jwtverify.IssuerConfig.Binding). Code
	// Unauthenticated, MetadataError invalid_request.
	InfoDPoPUnsupported = "DPOP_UNSUPPORTED"
)

// RuleDPoPUnsupported is the DecisionEvent.Rule (Reason
// jwtverify.ReasonDPoPProof) of a call refused with InfoDPoPUnsupported.
const RuleDPoPUnsupported = "dpop_unsupported"

// ErrorInfo metadata keys.
const (
	// MetadataError holds the RFC 6750 error code (invalid_request,
	// invalid_token, insufficient_scope) when there is one.
	MetadataError = "error"
	// MetadataScope holds the permissions the method requires, space
	// separated (like the scope attribute of an HTTP 403 challenge), on
	// InfoInsufficientScope when the method names any.
	MetadataScope = "scope"
	// MetadataMissing holds the required permissions the token lacks,
	// space separated, on InfoInsufficientScope.
	MetadataMissing = "missing"
)

// Fixed messages of this package (the texts of the HTTP adapters); the
// others come from
// jwtverify.Reason.Description.
const (
	msgMissingToken   = "Bearer authentication is required"
	msgInvalidRequest = "The request carries malformed or ambiguous bearer credentials"
	msgDPoP           = "The DPoP scheme is not accepted over gRPC; use a certificate-bound or bearer token"
)

// statuses are the fixed answers, built once: rejecting a flood of bad
// requests costs no protobuf marshalling.
type statuses struct {
	missing, invalidRequest, invalidToken, expired, unavailable, introspection, denied, binding, dpop *status.Status
}

func newStatuses() statuses {
	return statuses{
		missing:        withInfo(codes.Unauthenticated, msgMissingToken, InfoMissingToken, nil),
		invalidRequest: withInfo(codes.Unauthenticated, msgInvalidRequest, InfoInvalidRequest, map[string]string{MetadataError: jwtverify.CodeInvalidRequest}),
		invalidToken:   withInfo(codes.Unauthenticated, jwtverify.ReasonBadSignature.Description(), InfoInvalidToken, map[string]string{MetadataError: jwtverify.CodeInvalidToken}),
		expired:        withInfo(codes.Unauthenticated, jwtverify.ReasonExpired.Description(), InfoTokenExpired, map[string]string{MetadataError: jwtverify.CodeInvalidToken}),
		unavailable:    withInfo(codes.Unavailable, jwtverify.ReasonKeysUnavailable.Description(), InfoKeysUnavailable, nil),
		introspection:  withInfo(codes.Unavailable, jwtverify.ReasonIntrospectionUnavailable.Description(), InfoIntrospectionUnavailable, nil),
		binding:        withInfo(codes.Unauthenticated, jwtverify.ReasonBinding.Description(), InfoInvalidToken, map[string]string{MetadataError: jwtverify.CodeInvalidToken}),
		dpop:           withInfo(codes.Unauthenticated, msgDPoP, InfoDPoPUnsupported, map[string]string{MetadataError: jwtverify.CodeInvalidRequest}),
		denied:         withInfo(codes.PermissionDenied, jwtverify.ReasonInsufficientScope.Description(), InfoInsufficientScope, map[string]string{MetadataError: jwtverify.CodeInsufficientScope}),
	}
}

// forbidden builds the PermissionDenied status naming the required and
// missing permissions. Both lists come from the server's configuration
// (the Requirement), never from the token.
func (s *statuses) forbidden(required, missing []string) *status.Status {
	if len(required) == 0 && len(missing) == 0 {
		return s.denied
	}
	msg := jwtverify.ReasonInsufficientScope.Description()
	md := map[string]string{MetadataError: jwtverify.CodeInsufficientScope}
	if len(required) > 0 {
		md[MetadataScope] = strings.Join(required, " ")
	}
	if len(missing) > 0 {
		m := strings.Join(missing, " ")
		md[MetadataMissing] = m
		msg += " (missing: " + m + ")"
	}
	return withInfo(codes.PermissionDenied, msg, InfoInsufficientScope, md)
}

func withInfo(c codes.Code, msg, reason string, md map[string]string) *status.Status {
	st := status.New(c, msg)
	ds, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: Domain, Metadata: md})
	if err != nil {
		// Only possible for codes.OK or a detail that cannot marshal:
		// neither happens here. The code and message still stand.
		return st
	}
	return ds
}
