package grpcauth

import (
	"errors"
	"slices"
	"strings"

	"google.golang.org/grpc"

	"github.com/m2mauth/m2mauth/internal/rpcpolicy"
)

// ServiceInfoProvider lists the services a server registers. *grpc.Server
// implements it.
type ServiceInfoProvider interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}

// ErrUnknownMethod: a pattern of the policy names a method, or a service
// wildcard a service, that the server does not register (a typo such as
// "/orders.v1.Orders/Lsit"). Reported by Policy.Check as a *PolicyError.
var ErrUnknownMethod = errors.New("grpcauth: policy names a method the server does not register")

// ErrNilServer is returned by Policy.Check and CheckServer for a nil
// server.
var ErrNilServer = errors.New("grpcauth: nil server")

// Check compares p with the services registered on srv (call it after
// registering every service, before Serve). It returns an error naming
// every pattern that matches nothing registered, as *PolicyError values
// wrapping ErrUnknownMethod joined with errors.Join (and the errors New
// would report for an invalid policy), and defaulted: the registered
// methods no pattern matches, which Policy.Default decides (under
// DefaultDeny nobody can call them), sorted. Both name only the server's
// and the policy's own strings.
//
// The standard patterns ExemptHealth and ExemptReflection add (HealthPattern,
// ReflectionV1Pattern, ReflectionV1AlphaPattern) are not errors when their
// service is absent: the helpers add them whether or not the server runs
// the service.
func (p Policy) Check(srv ServiceInfoProvider) (defaulted []string, err error) {
	c, err := compilePolicy(p)
	if err != nil {
		return nil, err
	}
	reg, err := registered(srv)
	if err != nil {
		return nil, err
	}
	return checkRegistered(c, reg)
}

// CheckServer is Policy.Check for the interceptor's policy, and it tells
// the interceptor which methods srv registers, so that decision events
// name the method as their Route (jwtverify.DecisionEvent) from then on.
// Call it once, after registering every service and before Serve; until
// then, and for a method not registered when it ran, the Route is
// jwtverify.RouteUnknown. The interceptor never takes the method's name
// from the call alone: behind a grpc.UnknownServiceHandler the caller
// chooses it, and an unbounded set of names would reach logs and metrics.
// The methods are recorded even when the check fails.
func (i *Interceptor) CheckServer(srv ServiceInfoProvider) (defaulted []string, err error) {
	reg, err := registered(srv)
	if err != nil {
		return nil, err
	}
	i.routes.Store(&reg)
	return checkRegistered(i.policy, reg)
}

// registered returns the full method names srv registers, each mapped to
// itself.
func registered(srv ServiceInfoProvider) (map[string]string, error) {
	if srv == nil {
		return nil, ErrNilServer
	}
	if s, ok := srv.(*grpc.Server); ok && s == nil {
		return nil, ErrNilServer
	}
	reg := map[string]string{}
	for svc, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			reg[full] = full
		}
	}
	return reg, nil
}

// checkRegistered returns the registered methods left to the default and an error
// per pattern matching nothing registered.
func checkRegistered(c *compiled, reg map[string]string) ([]string, error) {
	services := map[string]bool{} // "/pkg.Service/"
	var defaulted []string
	for full := range reg {
		services[full[:strings.LastIndexByte(full, '/')+1]] = true
		if c.Match(full) == c.Default {
			defaulted = append(defaulted, full)
		}
	}
	slices.Sort(defaulted)

	var errs []error
	for pattern, r := range c.Exact {
		if _, ok := reg[pattern]; !ok {
			errs = append(errs, &PolicyError{Pattern: pattern, Field: r.Field, Err: ErrUnknownMethod, Detail: "no such method is registered"})
		}
	}
	for svc, r := range c.Services {
		pattern := svc + "*"
		if services[svc] || rpcpolicy.IsStandard(pattern) {
			continue
		}
		errs = append(errs, &PolicyError{Pattern: pattern, Field: r.Field, Err: ErrUnknownMethod, Detail: "no such service is registered"})
	}
	// Map order is random: sort so that errors come out deterministically.
	slices.SortFunc(errs, func(a, b error) int {
		return strings.Compare(a.(*PolicyError).Pattern, b.(*PolicyError).Pattern)
	})
	return defaulted, errors.Join(errs...)
}
