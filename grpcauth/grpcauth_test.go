package grpcauth_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

func callCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// withToken sends "Bearer tok" in the authorization metadata.
func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

func (e *env) unary(ctx context.Context, method string, opts ...grpc.CallOption) (string, error) {
	out := new(wrapperspb.StringValue)
	err := e.conn.Invoke(ctx, method, wrapperspb.String("hello"), out, opts...)
	return out.GetValue(), err
}

// watch calls the server-streaming method.
func (e *env) watch(ctx context.Context, opts ...grpc.CallOption) ([]string, error) {
	s, err := e.conn.NewStream(ctx, &echoDesc.Streams[0], "/test.v1.Echo/Watch", opts...)
	if err != nil {
		return nil, err
	}
	// io.EOF from SendMsg means the server ended the stream: RecvMsg
	// returns the status.
	if err := s.SendMsg(wrapperspb.String("w")); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if err := s.CloseSend(); err != nil {
		return nil, err
	}
	var out []string
	for {
		m := new(wrapperspb.StringValue)
		if err := s.RecvMsg(m); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return out, err
		}
		out = append(out, m.GetValue())
	}
}

// collect calls the client-streaming method.
func (e *env) collect(ctx context.Context, opts ...grpc.CallOption) (string, error) {
	s, err := e.conn.NewStream(ctx, &echoDesc.Streams[1], "/test.v1.Echo/Collect", opts...)
	if err != nil {
		return "", err
	}
	for _, v := range []string{"a", "b", "c"} {
		if err := s.SendMsg(wrapperspb.String(v)); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", err
		}
	}
	if err := s.CloseSend(); err != nil {
		return "", err
	}
	m := new(wrapperspb.StringValue)
	if err := s.RecvMsg(m); err != nil {
		return "", err
	}
	return m.GetValue(), nil
}

// chat calls the bidirectional method: two round trips.
func (e *env) chat(ctx context.Context, opts ...grpc.CallOption) ([]string, error) {
	s, err := e.conn.NewStream(ctx, &echoDesc.Streams[2], "/test.v1.Echo/Chat", opts...)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range []string{"x", "y"} {
		if err := s.SendMsg(wrapperspb.String(v)); err != nil && !errors.Is(err, io.EOF) {
			return out, err
		}
		m := new(wrapperspb.StringValue)
		if err := s.RecvMsg(m); err != nil {
			return out, err
		}
		out = append(out, m.GetValue())
	}
	if err := s.CloseSend(); err != nil {
		return out, err
	}
	if err := s.RecvMsg(new(wrapperspb.StringValue)); !errors.Is(err, io.EOF) {
		return out, err
	}
	return out, nil
}

// lastEvent returns the one decision recorded since the previous call.
func (e *env) lastEvent(t *testing.T) jwtverify.DecisionEvent {
	t.Helper()
	evs := e.obs.take()
	if len(evs) != 1 {
		t.Fatalf("%d decision events, want 1: %+v", len(evs), evs)
	}
	if evs[0].Transport != grpcauth.Transport {
		t.Errorf("event transport %q, want %q", evs[0].Transport, grpcauth.Transport)
	}
	return evs[0]
}

// TestGRPC runs every outcome over a real gRPC server and client on
// 127.0.0.1 with TLS; callers get their tokens from the in-process issuer
// with the client credentials grant (oauth2/clientcredentials) and send
// them with grpc/credentials/oauth.
func TestGRPC(t *testing.T) {
	e := newEnv(t, envConfig{tls: true})
	// As documented: the policy checked against the server, which tells
	// the interceptor the registered methods (event and log routes).
	if _, err := e.ic.CheckServer(e.srv); err != nil {
		t.Fatal(err)
	}
	reader := grpc.PerRPCCredentials(e.oauthCreds(readerID, readerSecret))
	writer := grpc.PerRPCCredentials(e.oauthCreds(writerID, writerSecret))
	var tokens []string // every token sent: none may show up in answers or logs
	mint := func(opts ...oauthtest.MintOption) string {
		tok := e.iss.MintT(t, opts...)
		tokens = append(tokens, tok)
		return tok
	}
	const whoamiM, writeM, resetM = "/test.v1.Echo/Whoami", "/test.v1.Echo/Write", "/test.v1.Admin/Reset"

	t.Run("unary allowed", func(t *testing.T) {
		got, err := e.unary(callCtx(t), whoamiM, reader)
		if err != nil {
			t.Fatal(err)
		}
		if got != "reader echo.read" {
			t.Errorf("handler saw %q, want the reader's principal", got)
		}
		ev := e.lastEvent(t)
		if ev.Result != jwtverify.DecisionAllowed || ev.ClientID != readerID || ev.Issuer != "oauthtest" || ev.Reason != "" {
			t.Errorf("event %+v", ev)
		}
	})

	t.Run("unary allowed with the method's scope", func(t *testing.T) {
		got, err := e.unary(callCtx(t), writeM, writer)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got, "writer ") {
			t.Errorf("handler saw %q", got)
		}
		e.obs.take()
	})

	t.Run("unary denied names the missing scope", func(t *testing.T) {
		_, err := e.unary(callCtx(t), writeM, reader)
		ei := wantStatus(t, err, codes.PermissionDenied, grpcauth.InfoInsufficientScope)
		md := ei.GetMetadata()
		if md[grpcauth.MetadataMissing] != "echo.write" || md[grpcauth.MetadataScope] != "echo.write" || md[grpcauth.MetadataError] != jwtverify.CodeInsufficientScope {
			t.Errorf("ErrorInfo metadata %v", md)
		}
		if msg := status.Convert(err).Message(); !strings.Contains(msg, "echo.write") {
			t.Errorf("message %q does not name the missing scope", msg)
		}
		ev := e.lastEvent(t)
		if ev.Result != jwtverify.DecisionForbidden || ev.Reason != jwtverify.ReasonInsufficientScope || !slices.Equal(ev.Missing, []string{"echo.write"}) || ev.ClientID != readerID {
			t.Errorf("event %+v", ev)
		}
	})

	t.Run("unauthenticated without a token", func(t *testing.T) {
		_, err := e.unary(callCtx(t), whoamiM)
		wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoMissingToken)
		if ev := e.lastEvent(t); ev.Result != jwtverify.DecisionUnauthenticated {
			t.Errorf("event %+v", ev)
		}
	})

	t.Run("unauthenticated with another scheme", func(t *testing.T) {
		ctx := metadata.AppendToOutgoingContext(callCtx(t), "authorization", "Basic cmVhZGVyOnJlYWRlci1zZWNyZXQ=")
		_, err := e.unary(ctx, whoamiM)
		wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoMissingToken)
		e.obs.take()
	})

	t.Run("unauthenticated with a token signed by an unknown key", func(t *testing.T) {
		tok := mint(oauthtest.WithClient(readerID), oauthtest.WithUntrustedKey("RS256"))
		_, err := e.unary(withToken(callCtx(t), tok), whoamiM)
		ei := wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoInvalidToken)
		if ei.GetMetadata()[grpcauth.MetadataError] != jwtverify.CodeInvalidToken {
			t.Errorf("metadata %v", ei.GetMetadata())
		}
		if msg := status.Convert(err).Message(); msg != jwtverify.ReasonBadSignature.Description() {
			t.Errorf("message %q, want the fixed invalid_token description", msg)
		}
		ev := e.lastEvent(t)
		if ev.Result != jwtverify.DecisionUnauthenticated || ev.Reason == "" {
			t.Errorf("event %+v: the precise reason must reach the observer", ev)
		}
	})

	t.Run("unauthenticated with an expired token says so", func(t *testing.T) {
		tok := mint(oauthtest.WithClient(readerID), oauthtest.WithLifetime(-time.Hour))
		_, err := e.unary(withToken(callCtx(t), tok), whoamiM)
		wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoTokenExpired)
		if msg := status.Convert(err).Message(); !strings.Contains(msg, "expired") {
			t.Errorf("message %q does not say expired", msg)
		}
		if ev := e.lastEvent(t); ev.Reason != jwtverify.ReasonExpired {
			t.Errorf("event %+v", ev)
		}
	})

	t.Run("unauthenticated with a token for another audience", func(t *testing.T) {
		tok := mint(oauthtest.WithClient(readerID), oauthtest.WithClaims(map[string]any{"aud": "api://other"}))
		_, err := e.unary(withToken(callCtx(t), tok), whoamiM)
		wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoInvalidToken)
		if ev := e.lastEvent(t); ev.Reason != jwtverify.ReasonAudience {
			t.Errorf("event %+v", ev)
		}
	})

	t.Run("invalid request with whitespace in the token", func(t *testing.T) {
		tok := mint(oauthtest.WithClient(readerID))
		ctx := metadata.AppendToOutgoingContext(callCtx(t), "authorization", "Bearer "+tok[:20]+" "+tok[20:])
		_, err := e.unary(ctx, whoamiM)
		wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoInvalidRequest)
		if ev := e.lastEvent(t); ev.Result != jwtverify.DecisionInvalidRequest {
			t.Errorf("event %+v", ev)
		}
	})

	// SECURITY.md H5 and H10: two authorization values are refused, even
	// when both hold the same valid token.
	t.Run("H5 two authorization metadata values", func(t *testing.T) {
		tok := mint(oauthtest.WithClient(readerID))
		for name, ctx := range map[string]context.Context{
			"same token":      metadata.AppendToOutgoingContext(callCtx(t), "authorization", "Bearer "+tok, "authorization", "Bearer "+tok),
			"different cases": metadata.AppendToOutgoingContext(callCtx(t), "authorization", "Bearer "+tok, "Authorization", "Bearer "+tok),
			"token and junk":  metadata.AppendToOutgoingContext(callCtx(t), "authorization", "Bearer "+tok, "authorization", "Basic eDp5"),
		} {
			t.Run(name, func(t *testing.T) {
				_, err := e.unary(ctx, whoamiM)
				ei := wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoInvalidRequest)
				if ei.GetMetadata()[grpcauth.MetadataError] != jwtverify.CodeInvalidRequest {
					t.Errorf("metadata %v", ei.GetMetadata())
				}
				if ev := e.lastEvent(t); ev.Result != jwtverify.DecisionInvalidRequest {
					t.Errorf("event %+v", ev)
				}
			})
		}
	})

	t.Run("H10 Authorization capitalised is accepted", func(t *testing.T) {
		tok := mint(oauthtest.WithClient(readerID))
		// gRPC lower-cases keys before they reach the wire (HTTP/2 header
		// names are lower case; a hand-built MD with a capital is refused
		// by the client itself), so the server sees "authorization".
		// TestAuthorize covers a capitalised key in a hand-built incoming
		// MD.
		ctx := metadata.NewOutgoingContext(callCtx(t), metadata.Pairs("Authorization", "Bearer "+tok))
		got, err := e.unary(ctx, whoamiM)
		if err != nil {
			t.Fatal(err)
		}
		if got != "reader echo.read" {
			t.Errorf("handler saw %q", got)
		}
		ctx = metadata.AppendToOutgoingContext(callCtx(t), "AUTHORIZATION", "BEARER "+tok)
		if _, err := e.unary(ctx, whoamiM); err != nil {
			t.Fatalf("upper-case key and scheme: %v", err)
		}
		if evs := e.obs.take(); len(evs) != 2 || evs[0].Result != jwtverify.DecisionAllowed || evs[1].Result != jwtverify.DecisionAllowed {
			t.Errorf("events %+v", evs)
		}
	})

	t.Run("undeclared method denied after authentication", func(t *testing.T) {
		_, err := e.unary(callCtx(t), resetM)
		wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoMissingToken)
		_, err = e.unary(callCtx(t), resetM, writer)
		ei := wantStatus(t, err, codes.PermissionDenied, grpcauth.InfoInsufficientScope)
		if _, ok := ei.GetMetadata()[grpcauth.MetadataMissing]; ok {
			t.Errorf("a policy denial names no missing scope: %v", ei.GetMetadata())
		}
		evs := e.obs.take()
		if len(evs) != 2 || evs[1].Result != jwtverify.DecisionForbidden || evs[1].ClientID != writerID {
			t.Errorf("events %+v", evs)
		}
	})

	t.Run("exempt health check", func(t *testing.T) {
		hc := healthpb.NewHealthClient(e.conn)
		res, err := hc.Check(callCtx(t), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("status %v", res.GetStatus())
		}
		// Streaming health (Watch) is exempt too, and a garbage token is
		// not even looked at.
		ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(callCtx(t), "authorization", "Bearer !!!"))
		defer cancel()
		w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := w.Recv(); err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("watch: %v %v", res, err)
		}
		cancel()
		evs := e.obs.take()
		if len(evs) != 2 || evs[0].Result != jwtverify.DecisionSkipped || evs[1].Result != jwtverify.DecisionSkipped {
			t.Errorf("events %+v", evs)
		}
	})

	t.Run("exempt server reflection v1 and v1alpha", func(t *testing.T) {
		v1, err := reflectionv1.NewServerReflectionClient(e.conn).ServerReflectionInfo(callCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := v1.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}}); err != nil {
			t.Fatal(err)
		}
		res, err := v1.Recv()
		if err != nil || len(res.GetListServicesResponse().GetService()) == 0 {
			t.Fatalf("v1: %v %v", res, err)
		}
		_ = v1.CloseSend()
		v1a, err := reflectionv1alpha.NewServerReflectionClient(e.conn).ServerReflectionInfo(callCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		// v1alpha is deprecated, but grpcurl and older tools still call it.
		//lint:ignore SA1019 the exemption of v1alpha is what is tested
		if err := v1a.Send(&reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_ListServices{}}); err != nil {
			t.Fatal(err)
		}
		resA, err := v1a.Recv()
		//lint:ignore SA1019 the exemption of v1alpha is what is tested
		if err != nil || len(resA.GetListServicesResponse().GetService()) == 0 {
			t.Fatalf("v1alpha: %v %v", resA, err)
		}
		_ = v1a.CloseSend()
		evs := e.obs.take()
		if len(evs) != 2 || evs[0].Result != jwtverify.DecisionSkipped || evs[1].Result != jwtverify.DecisionSkipped {
			t.Errorf("events %+v", evs)
		}
	})

	t.Run("server streaming allowed", func(t *testing.T) {
		got, err := e.watch(callCtx(t), reader)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"reader echo.read w #0", "reader echo.read w #1", "reader echo.read w #2"}
		if !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
		e.lastEvent(t)
	})

	t.Run("server streaming unauthenticated", func(t *testing.T) {
		got, err := e.watch(callCtx(t))
		wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoMissingToken)
		if len(got) != 0 {
			t.Errorf("received %q before the rejection", got)
		}
		e.lastEvent(t)
	})

	t.Run("client streaming allowed", func(t *testing.T) {
		got, err := e.collect(callCtx(t), reader)
		if err != nil {
			t.Fatal(err)
		}
		if got != "reader echo.read a+b+c" {
			t.Errorf("got %q", got)
		}
		e.lastEvent(t)
	})

	t.Run("client streaming with an invalid token", func(t *testing.T) {
		tok := mint(oauthtest.WithClient(readerID), oauthtest.WithUntrustedKey("RS256"))
		_, err := e.collect(withToken(callCtx(t), tok))
		wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoInvalidToken)
		e.lastEvent(t)
	})

	t.Run("bidi streaming allowed", func(t *testing.T) {
		got, err := e.chat(callCtx(t), writer)
		if err != nil {
			t.Fatal(err)
		}
		who := "writer echo.chat,echo.read,echo.write"
		if want := []string{who + ": x", who + ": y"}; !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
		e.lastEvent(t)
	})

	t.Run("bidi streaming denied", func(t *testing.T) {
		_, err := e.chat(callCtx(t), reader)
		ei := wantStatus(t, err, codes.PermissionDenied, grpcauth.InfoInsufficientScope)
		if md := ei.GetMetadata(); md[grpcauth.MetadataMissing] != "echo.chat" || md[grpcauth.MetadataScope] != "echo.read echo.chat" {
			t.Errorf("metadata %v", md)
		}
		e.lastEvent(t)
	})

	t.Run("chained interceptor sees the principal", func(t *testing.T) {
		// Every call above that passed our interceptor reached the probe
		// chained after it, with a Principal unless the method is public.
		probed, with := e.probed.Load(), e.withPrincipal.Load()
		// Allowed: whoami, write, H10 x2, watch, collect, chat = 7 with a
		// principal; health Check and Watch, reflection v1 and v1alpha = 4
		// without; no rejected call.
		if with != 7 || probed != 11 {
			t.Errorf("probe saw %d calls, %d with a principal; want 11 and 7", probed, with)
		}
	})

	t.Run("tokens are fetched once per client", func(t *testing.T) {
		if n := e.iss.Requests(oauthtest.EndpointToken); n != 2 {
			t.Errorf("%d token requests, want 2 (one per client, then reused)", n)
		}
	})

	t.Run("no token in the logs", func(t *testing.T) {
		logs := e.logs.String()
		for _, tok := range tokens {
			if strings.Contains(logs, tok) || strings.Contains(logs, tok[strings.LastIndexByte(tok, '.')+1:]) {
				t.Fatal("a token (or its signature) was logged")
			}
		}
		want := []string{`"reason":"insufficient_scope"`, `"result":"forbidden"`, `"transport":"grpc"`}
		if strings.Contains(logs, `"route":`) {
			// authlog since wave 2 logs refused tokens from the
			// decisions too (before, only as the verifier's observer).
			want = append(want, `"reason":"expired"`, `"reason":"audience"`, `"route":"/test.v1.Echo/Write"`)
		}
		for _, want := range want {
			if !strings.Contains(logs, want) {
				t.Errorf("logs lack %s", want)
			}
		}
	})
}

// TestUnavailable: when the issuer's JWKS was never reachable there is no
// key set to verify with; calls fail with Unavailable (retryable), the
// exempt health check still answers, and calls succeed once the keys
// arrive.
func TestUnavailable(t *testing.T) {
	e := newEnv(t, envConfig{tls: true, jwksDown: true})
	reader := grpc.PerRPCCredentials(e.oauthCreds(readerID, readerSecret))

	_, err := e.unary(callCtx(t), "/test.v1.Echo/Whoami", reader)
	wantStatus(t, err, codes.Unavailable, grpcauth.InfoKeysUnavailable)
	if msg := status.Convert(err).Message(); msg != jwtverify.ReasonKeysUnavailable.Description() {
		t.Errorf("message %q", msg)
	}
	if ev := e.lastEvent(t); ev.Result != jwtverify.DecisionUnavailable || ev.Reason != jwtverify.ReasonKeysUnavailable {
		t.Errorf("event %+v", ev)
	}

	_, err = e.chat(callCtx(t), reader)
	wantStatus(t, err, codes.Unavailable, grpcauth.InfoKeysUnavailable)
	e.lastEvent(t)

	// No token is still Unauthenticated: the caller's fault comes first.
	_, err = e.unary(callCtx(t), "/test.v1.Echo/Whoami")
	wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoMissingToken)
	e.lastEvent(t)

	res, err := healthpb.NewHealthClient(e.conn).Check(callCtx(t), &healthpb.HealthCheckRequest{})
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health during the outage: %v %v", res, err)
	}
	if !strings.Contains(e.logs.String(), `"reason":"keys_unavailable"`) {
		t.Error("Unavailable is not logged")
	}

	// The issuer comes back: once the keys are fetched, calls succeed.
	e.iss.ClearFault(oauthtest.EndpointJWKS)
	if err := e.keys.Refresh(callCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got, err := e.unary(callCtx(t), "/test.v1.Echo/Whoami", reader); err != nil || got != "reader echo.read" {
		t.Fatalf("after recovery: %q %v", got, err)
	}
}

// authUnary and authStream behave like go-grpc-middleware v2's
// auth.UnaryServerInterceptor and auth.StreamServerInterceptor: call the
// AuthFunc, then the handler with the context it returned (for streams,
// through a wrapped ServerStream). The nested module
// examples/grpcmiddleware runs the real ones.
func authUnary(fn func(context.Context) (context.Context, error)) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ctx, err := fn(ctx)
		if err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s ctxStream) Context() context.Context { return s.ctx }

func authStream(fn func(context.Context) (context.Context, error)) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		ctx, err := fn(ss.Context())
		if err != nil {
			return err
		}
		return h(srv, ctxStream{ss, ctx})
	}
}

// TestAuthFunc runs the go-grpc-middleware adapter over a real server: the
// policy applies by method although an AuthFunc only gets a context.
func TestAuthFunc(t *testing.T) {
	// go-grpc-middleware's type: type AuthFunc func(ctx context.Context) (context.Context, error)
	type goGRPCMiddlewareAuthFunc func(ctx context.Context) (context.Context, error)

	e := newEnv(t, envConfig{tls: true, serverOpts: func(e *env) []grpc.ServerOption {
		var fn goGRPCMiddlewareAuthFunc = e.ic.AuthFunc()
		return []grpc.ServerOption{
			grpc.ChainUnaryInterceptor(authUnary(fn)),
			grpc.ChainStreamInterceptor(authStream(fn)),
		}
	}})
	reader := grpc.PerRPCCredentials(e.oauthCreds(readerID, readerSecret))

	if got, err := e.unary(callCtx(t), "/test.v1.Echo/Whoami", reader); err != nil || got != "reader echo.read" {
		t.Fatalf("whoami: %q %v", got, err)
	}
	_, err := e.unary(callCtx(t), "/test.v1.Echo/Write", reader)
	wantStatus(t, err, codes.PermissionDenied, grpcauth.InfoInsufficientScope)
	if got, err := e.watch(callCtx(t), reader); err != nil || len(got) != 3 {
		t.Fatalf("watch: %q %v", got, err)
	}
	_, err = e.chat(callCtx(t), reader)
	wantStatus(t, err, codes.PermissionDenied, grpcauth.InfoInsufficientScope)
	if _, err := healthpb.NewHealthClient(e.conn).Check(callCtx(t), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health: %v", err)
	}

	// Outside a server handler there is no method: fail closed.
	if _, err := e.ic.AuthFunc()(context.Background()); status.Code(err) != codes.Internal {
		t.Errorf("AuthFunc without a method: %v, want Internal", err)
	}
}
