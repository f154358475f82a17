package grpcauth_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestDPoPSchemeRefused: over a real gRPC connection the DPoP scheme (RFC
// 9449) is refused with Unauthenticated DPOP_UNSUPPORTED and a decision
// naming reason dpop_proof, rule dpop_unsupported; the logs and the status
// never carry the token.
func TestDPoPSchemeRefused(t *testing.T) {
	e := newEnv(t, envConfig{})
	tok := e.iss.MintT(t, oauthtest.WithClient(readerID))
	e.obs.take()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "DPoP "+tok, "dpop", "eyJ.proof.sig")
	err := e.conn.Invoke(ctx, "/test.v1.Echo/Whoami", wrapperspb.String(""), new(wrapperspb.StringValue))
	ei := wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoDPoPUnsupported)
	if ei.GetMetadata()[grpcauth.MetadataError] != jwtverify.CodeInvalidRequest || strings.Contains(err.Error(), tok) {
		t.Errorf("status %v, metadata %v", err, ei.GetMetadata())
	}
	evs := e.obs.take()
	if len(evs) != 1 || evs[0].Result != jwtverify.DecisionUnauthenticated || evs[0].Reason != jwtverify.ReasonDPoPProof ||
		evs[0].Rule != grpcauth.RuleDPoPUnsupported {
		t.Errorf("events %+v", evs)
	}
	if strings.Contains(e.logs.String(), tok) || !strings.Contains(e.logs.String(), grpcauth.RuleDPoPUnsupported) {
		t.Errorf("logs %s", e.logs.String())
	}
	// The same token as a bearer token is served.
	if err := whoamiCall(e.conn, tok); err != nil {
		t.Fatalf("bearer: %v", err)
	}
}
