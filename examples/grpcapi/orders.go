package main

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/jwtverify"
)

// The service, orders.v1.Orders (orders.proto), is written by hand over
// protobuf well-known types so the example needs no code generator:
//
//	service Orders {
//	  rpc List(google.protobuf.StringValue) returns (google.protobuf.StringValue);
//	  rpc Cancel(google.protobuf.StringValue) returns (google.protobuf.StringValue);
//	}
//
// The policy names List only: Cancel is left to its default (denied), and
// the program says so at start-up.
const (
	serviceName  = "orders.v1.Orders"
	listMethod   = "/" + serviceName + "/List"
	cancelMethod = "/" + serviceName + "/Cancel"
)

// The file descriptor of orders.proto, registered so that server reflection
// (grpcurl without -proto) can describe the service.
func init() {
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("orders/v1/orders.proto"),
		Package:    proto.String("orders.v1"),
		Dependency: []string{"google/protobuf/wrappers.proto"},
		Syntax:     proto.String("proto3"),
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("Orders"),
			Method: []*descriptorpb.MethodDescriptorProto{{
				Name:       proto.String("List"),
				InputType:  proto.String(".google.protobuf.StringValue"),
				OutputType: proto.String(".google.protobuf.StringValue"),
			}, {
				Name:       proto.String("Cancel"),
				InputType:  proto.String(".google.protobuf.StringValue"),
				OutputType: proto.String(".google.protobuf.StringValue"),
			}},
		}},
	}
	_ = wrapperspb.String // wrappers.proto is registered by that package
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err == nil {
		err = protoregistry.GlobalFiles.RegisterFile(fd)
	}
	if err != nil {
		panic(err)
	}
}

// ordersDesc is the grpc.ServiceDesc of orders.v1.Orders.
var ordersDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{unary("List", listMethod, list), unary("Cancel", cancelMethod, cancelOrder)},
	Metadata:    "orders/v1/orders.proto",
}

// unary is the MethodDesc of a StringValue -> StringValue method.
func unary(name, full string, fn func(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error)) grpc.MethodDesc {
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			if ic == nil {
				return fn(ctx, in)
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full},
				func(ctx context.Context, req any) (any, error) { return fn(ctx, req.(*wrapperspb.StringValue)) })
		},
	}
}

// list answers the verified caller.
func list(ctx context.Context, _ *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	p, _ := jwtverify.FromContext(ctx)
	return wrapperspb.String(fmt.Sprintf("0 orders, for %s", p.ClientID())), nil
}

// cancelOrder is never reached: the policy denies Cancel.
func cancelOrder(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	p, _ := jwtverify.FromContext(ctx)
	return wrapperspb.String(fmt.Sprintf("order %q cancelled, for %s", in.GetValue(), p.ClientID())), nil
}
