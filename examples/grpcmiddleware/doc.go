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
// It is a module of its own (with a replace of m2mauth to the directory
// above), so that go-grpc-middleware never enters m2mauth's go.mod.
package grpcmiddleware
