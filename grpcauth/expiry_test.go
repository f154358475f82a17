package grpcauth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// ---- test.v1.Long: streams that stay open until the server ends them.

// longReport is what a handler of test.v1.Long saw.
type longReport struct {
	method   string
	deadline time.Time // of the handler's context; zero when none
	cause    error     // context.Cause once the context ended
	err      error     // the SendMsg or RecvMsg error that ended the loop
}

type longServer struct{ seen chan longReport }

func (l *longServer) report(r longReport) {
	select {
	case l.seen <- r:
	default: // nobody reads: a test that does not look
	}
}

// next returns the next report, failing after a generous bound.
func (l *longServer) next(t *testing.T) longReport {
	t.Helper()
	select {
	case r := <-l.seen:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no report from the handler")
		return longReport{}
	}
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

var longDesc = grpc.ServiceDesc{
	ServiceName: "test.v1.Long",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{
		{
			// Server streaming: answers "first", reports its deadline,
			// and for "wait" waits for its context to end, tries one more
			// message and returns nil: the final status must say expired
			// all the same.
			StreamName: "Tick", ServerStreams: true,
			Handler: func(srv any, s grpc.ServerStream) error {
				l := srv.(*longServer)
				in, err := recvString(s)
				if err != nil {
					return err
				}
				if err := s.SendMsg(wrapperspb.String("first")); err != nil {
					return err
				}
				ctx := s.Context()
				if in != "wait" {
					l.report(longReport{method: "Tick", deadline: deadlineOf(ctx)})
					return nil
				}
				<-ctx.Done()
				l.report(longReport{method: "Tick", deadline: deadlineOf(ctx), cause: context.Cause(ctx), err: s.SendMsg(wrapperspb.String("late"))})
				return nil
			},
		},
		{
			// Client streaming: receives until an error, then returns an
			// error of its own (not a status).
			StreamName: "Upload", ClientStreams: true,
			Handler: func(srv any, s grpc.ServerStream) error {
				for {
					if _, err := recvString(s); err != nil {
						ctx := s.Context()
						srv.(*longServer).report(longReport{method: "Upload", deadline: deadlineOf(ctx), cause: context.Cause(ctx), err: err})
						return errors.New("upload: the handler's own error")
					}
				}
			},
		},
		{
			// Bidirectional: echoes until an error, which it returns.
			StreamName: "Chat", ServerStreams: true, ClientStreams: true,
			Handler: func(srv any, s grpc.ServerStream) error {
				for {
					in, err := recvString(s)
					if err == nil {
						err = s.SendMsg(wrapperspb.String("echo " + in))
					}
					if err != nil {
						ctx := s.Context()
						srv.(*longServer).report(longReport{method: "Chat", deadline: deadlineOf(ctx), cause: context.Cause(ctx), err: err})
						return err
					}
				}
			},
		},
	},
}

// wantExpired checks that err is the expiry status: Unauthenticated with
// ErrorInfo TOKEN_EXPIRED.
func wantExpired(t *testing.T, what string, err error) {
	t.Helper()
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("%s: %v, want Unauthenticated", what, err)
	}
	wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoTokenExpired)
}

// The three long methods, driven by a client that waits for the server to
// end the stream: each returns the client's final error.
var longCalls = map[string]func(ctx context.Context, e *env) error{
	"server streaming": func(ctx context.Context, e *env) error {
		s, err := e.conn.NewStream(ctx, &longDesc.Streams[0], "/test.v1.Long/Tick")
		if err != nil {
			return err
		}
		if err := s.SendMsg(wrapperspb.String("wait")); err != nil {
			return err
		}
		if err := s.CloseSend(); err != nil {
			return err
		}
		m := new(wrapperspb.StringValue)
		if err := s.RecvMsg(m); err != nil || m.GetValue() != "first" {
			return fmt.Errorf("first message: %q %w", m.GetValue(), err)
		}
		if err := s.RecvMsg(m); err != nil {
			return err
		}
		return fmt.Errorf("a message after the deadline: %q", m.GetValue())
	},
	"client streaming": func(ctx context.Context, e *env) error {
		s, err := e.conn.NewStream(ctx, &longDesc.Streams[1], "/test.v1.Long/Upload")
		if err != nil {
			return err
		}
		if err := s.SendMsg(wrapperspb.String("a")); err != nil {
			return err
		}
		// No CloseSend: the handler waits for more until the deadline.
		return s.RecvMsg(new(wrapperspb.StringValue))
	},
	"bidi streaming": func(ctx context.Context, e *env) error {
		s, err := e.conn.NewStream(ctx, &longDesc.Streams[2], "/test.v1.Long/Chat")
		if err != nil {
			return err
		}
		if err := s.SendMsg(wrapperspb.String("x")); err != nil {
			return err
		}
		m := new(wrapperspb.StringValue)
		if err := s.RecvMsg(m); err != nil || m.GetValue() != "echo x" {
			return fmt.Errorf("echo: %q %w", m.GetValue(), err)
		}
		// The handler waits in RecvMsg until the deadline.
		return s.RecvMsg(m)
	},
}

// TestStreamsEndWhenTheTokenExpires (SECURITY.md M3): the Verifier's clock
// is injected and says the token has 300 ms left, with NoLeeway; each kind
// of stream ends with Unauthenticated TOKEN_EXPIRED once they are up,
// while the handler's context carries that deadline and its expiry as
// cause, and SendMsg/RecvMsg fail with the status. Regression test: on the
// previous main the streams stayed open (the client's 10 s bound ended
// them with DeadlineExceeded), as for the token's real hour.
func TestStreamsEndWhenTheTokenExpires(t *testing.T) {
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	const left = 300 * time.Millisecond
	fakeNow := exp.Add(-left)
	e := newEnv(t, envConfig{now: func() time.Time { return fakeNow }, leeway: jwtverify.NoLeeway})
	tok := e.iss.MintT(t, oauthtest.WithClient(readerID), oauthtest.WithClaims(map[string]any{"exp": exp.Unix()}))

	for _, name := range []string{"server streaming", "client streaming", "bidi streaming"} {
		t.Run(name, func(t *testing.T) {
			opened := time.Now()
			err := longCalls[name](withToken(callCtx(t), tok), e)
			wantExpired(t, "the client's final status", err)
			r := e.long.next(t)
			// The deadline is the injected clock's remaining time (no
			// leeway) measured on the real clock from the stream's start.
			if r.deadline.Before(opened.Add(left)) || r.deadline.After(time.Now()) {
				t.Errorf("handler deadline %v after the start, want %v", r.deadline.Sub(opened), left)
			}
			wantExpired(t, "context.Cause", r.cause)
			wantExpired(t, r.method+"'s SendMsg/RecvMsg", r.err)
			if evs := e.obs.take(); len(evs) != 1 || evs[0].Result != jwtverify.DecisionAllowed {
				t.Errorf("events %+v: the stream opened allowed, once", evs)
			}
		})
	}
}

// TestStreamsOutliveTokensOption: InsecureStreamsOutliveTokens keeps the
// previous behaviour: no deadline of ours (the handler sees only the
// client's 10 s), the stream ends as the handler decides.
func TestStreamsOutliveTokensOption(t *testing.T) {
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	fakeNow := exp.Add(-300 * time.Millisecond)
	e := newEnv(t, envConfig{now: func() time.Time { return fakeNow }, leeway: jwtverify.NoLeeway,
		icOpts: []grpcauth.Option{grpcauth.InsecureStreamsOutliveTokens()}})
	tok := e.iss.MintT(t, oauthtest.WithClient(readerID), oauthtest.WithClaims(map[string]any{"exp": exp.Unix()}))

	s, err := e.conn.NewStream(withToken(callCtx(t), tok), &longDesc.Streams[0], "/test.v1.Long/Tick")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendMsg(wrapperspb.String("now")); err != nil {
		t.Fatal(err)
	}
	_ = s.CloseSend()
	for err == nil {
		err = s.RecvMsg(new(wrapperspb.StringValue))
	}
	if !errors.Is(err, io.EOF) {
		t.Fatalf("stream: %v", err)
	}
	r := e.long.next(t)
	if left := time.Until(r.deadline); left < 5*time.Second {
		t.Errorf("handler deadline in %v: the option must leave only the client's 10 s", left)
	}
}

// TestStreamsEndOnTheRealClock: a token that expires within seconds, on
// the real clock with a 1 s leeway: the bidirectional stream ends with
// TOKEN_EXPIRED, not before the token's ValidUntil.
func TestStreamsEndOnTheRealClock(t *testing.T) {
	e := newEnv(t, envConfig{leeway: time.Second})
	tok := e.iss.MintT(t, oauthtest.WithClient(readerID), oauthtest.WithLifetime(2*time.Second))
	p, err := e.verifier.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = longCalls["bidi streaming"](withToken(ctx, tok), e)
	ended := time.Now()
	wantExpired(t, "the client's final status", err)
	if ended.Before(p.ValidUntil()) {
		t.Errorf("stream ended %v before the token's ValidUntil", p.ValidUntil().Sub(ended))
	}
	r := e.long.next(t)
	wantExpired(t, "RecvMsg", r.err)
	if d := r.deadline.Sub(p.ValidUntil()); d < -time.Second || d > time.Second {
		t.Errorf("handler deadline %v from the token's ValidUntil", d)
	}
}
