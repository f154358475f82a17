// Package grpcmiddleware shows grpcauth behind go-grpc-middleware v2's auth
// and selector interceptors, for services that already use them:
// (*grpcauth.Interceptor).AuthFunc has the shape of auth.AuthFunc, and the
// policy still applies per method because the AuthFunc finds the method
// with grpc.Method.
//
//	authFn := ic.AuthFunc()
//	notHealth := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
//		return c.Service != healthpb.Health_ServiceDesc.ServiceName
//	})
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(authFn), notHealth)),
//		grpc.ChainStreamInterceptor(selector.StreamServerInterceptor(auth.StreamServerInterceptor(authFn), notHealth)),
//	)
//
// # Streams do not end with their token on this path
//
// grpcauth's own StreamServerInterceptor ends a stream when its token
// expires (SECURITY.md M3). An AuthFunc cannot: it returns only a context,
// so it can neither wrap SendMsg and RecvMsg nor set the stream's final
// status, and a stream authorized through auth.StreamServerInterceptor
// keeps serving after exp. For streaming methods, chain grpcauth's
// interceptor instead (the selector still applies):
//
//	grpc.ChainStreamInterceptor(selector.StreamServerInterceptor(ic.StreamServerInterceptor(), notHealth)),
//
// or end each stream in its handler at the Principal's ValidUntil.
//
// It is a module of its own (with a replace of m2mauth to the directory
// above), so that go-grpc-middleware never enters m2mauth's go.mod.
package grpcmiddleware
