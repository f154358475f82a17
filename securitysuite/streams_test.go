package securitysuite

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestGRPCStreams: the stream interceptor answers like the unary one (the
// rows run over unary calls; here a sample of them over a server stream).
func TestGRPCStreams(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	desc := &grpc.StreamDesc{StreamName: "Watch", ServerStreams: true}
	call := func(t *testing.T, method string, md metadata.MD) answer {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if md != nil {
			ctx = metadata.NewOutgoingContext(ctx, md)
		}
		s, err := f.conn.NewStream(ctx, desc, method)
		if err == nil {
			err = s.SendMsg(wrapperspb.String("x"))
		}
		if err == nil {
			err = s.CloseSend()
		}
		var got []string
		for err == nil {
			m := new(wrapperspb.StringValue)
			if err = s.RecvMsg(m); err == nil {
				got = append(got, m.GetValue())
			}
		}
		if errors.Is(err, io.EOF) {
			if len(got) != 2 {
				t.Fatalf("stream answered %q", got)
			}
			return answer{body: got[0]}
		}
		st := status.Convert(err)
		return answer{code: st.Code(), msg: st.Message(), info: infoOf(st)}
	}
	tok := f.mint(t)
	auth := func(v ...string) metadata.MD { return metadata.MD{"authorization": v} }
	cases := []struct {
		name   string
		method string
		md     metadata.MD
		want   outcome
	}{
		{"valid", grpcWatch, auth("Bearer " + tok), accept},
		{"H6_no_credentials", grpcWatch, nil, bare401},
		{"H5_two_values", grpcWatch, auth("Bearer "+tok, "Bearer "+tok), invalidR},
		{"H3_trailing_word", grpcWatch, auth("Bearer " + tok + " x"), invalidR},
		{"A1_alg_none", grpcWatch, auth("Bearer " + enc([]byte(`{"alg":"none"}`)) + "." + enc(f.claimsJSON(nil)) + "."), invalidT},
		{"E7_expired", grpcWatch, auth("Bearer " + f.mint(t, oauthtest.WithLifetime(-time.Hour))), expiredT},
		{"I3_insufficient_scope", grpcAdminWatch, auth("Bearer " + tok), scope403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			scope := ""
			if c.want == scope403 {
				scope = adminScope
			}
			expect(t, trGRPC, call(t, c.method, c.md), c.want, scope)
		})
	}
}
