package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
)

// envoyExample reads an Envoy example as a validated Bootstrap and returns
// the HTTP filters of its first listener's connection manager.
func envoyExample(t *testing.T, path string) (*bootstrapv3.Bootstrap, []*hcmv3.HttpFilter) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var bs bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(js, &bs); err != nil {
		t.Fatalf("not a Bootstrap: %v", err)
	}
	if err := bs.ValidateAll(); err != nil {
		t.Fatalf("invalid Bootstrap: %v", err)
	}
	var hcm hcmv3.HttpConnectionManager
	if err := bs.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	filters := hcm.GetHttpFilters()
	if len(filters) == 0 || filters[len(filters)-1].GetName() != "envoy.filters.http.router" {
		t.Fatalf("the last HTTP filter must be the router: %v", filters)
	}
	return &bs, filters
}

// The Envoy example is a valid Bootstrap whose ext_authz filter calls the
// m2mauthd cluster over gRPC and fails closed.
func TestEnvoyExampleIsAValidBootstrap(t *testing.T) {
	_, filters := envoyExample(t, "examples/envoy.yaml")
	var ea extauthzv3.ExtAuthz
	if err := filters[0].GetTypedConfig().UnmarshalTo(&ea); err != nil {
		t.Fatalf("first HTTP filter is not ext_authz: %v", err)
	}
	if ea.GetFailureModeAllow() || ea.GetGrpcService().GetEnvoyGrpc().GetClusterName() != "m2mauthd" || ea.GetStatusOnError().GetCode() != 503 {
		t.Fatalf("ext_authz must call m2mauthd over gRPC and fail closed with 503: %v", &ea)
	}
}

// exactNames returns the lower-cased exact patterns of m.
func exactNames(m *matcherv3.ListStringMatcher) map[string]bool {
	out := map[string]bool{}
	for _, p := range m.GetPatterns() {
		if e := p.GetExact(); e != "" {
			out[strings.ToLower(e)] = true
		}
	}
	return out
}

// The Envoy HTTP-mode example is a valid Bootstrap: client copies of every
// identity header are removed before ext_authz, which calls m2mauthd's HTTP
// port under EnvoyHTTPPrefix, fails closed with 503, copies every identity
// header to the upstream and the challenge headers to the client.
func TestEnvoyHTTPExampleIsAValidBootstrap(t *testing.T) {
	bs, filters := envoyExample(t, "examples/envoy-http.yaml")
	if len(filters) != 3 {
		t.Fatalf("want header_mutation, ext_authz, router: %v", filters)
	}
	identity := []string{defaultClientIDHeader, defaultSubjectHeader, defaultIssuerHeader, defaultScopesHeader, defaultRolesHeader}

	var hm headermutationv3.HeaderMutation
	if err := filters[0].GetTypedConfig().UnmarshalTo(&hm); err != nil {
		t.Fatalf("first HTTP filter is not header_mutation: %v", err)
	}
	removed := map[string]bool{}
	for _, m := range hm.GetMutations().GetRequestMutations() {
		removed[strings.ToLower(m.GetRemove())] = true
	}
	for _, h := range identity {
		if !removed[strings.ToLower(h)] {
			t.Errorf("a client's %s is not removed before ext_authz", h)
		}
	}

	var ea extauthzv3.ExtAuthz
	if err := filters[1].GetTypedConfig().UnmarshalTo(&ea); err != nil {
		t.Fatalf("second HTTP filter is not ext_authz: %v", err)
	}
	hs := ea.GetHttpService()
	if ea.GetFailureModeAllow() || ea.GetStatusOnError().GetCode() != 503 || hs.GetServerUri().GetCluster() != "m2mauthd" || hs.GetPathPrefix() != EnvoyHTTPPrefix {
		t.Fatalf("ext_authz must call m2mauthd over HTTP under %s and fail closed with 503: %v", EnvoyHTTPPrefix, &ea)
	}
	up := exactNames(hs.GetAuthorizationResponse().GetAllowedUpstreamHeaders())
	for _, h := range identity {
		if !up[strings.ToLower(h)] {
			t.Errorf("%s does not reach the upstream", h)
		}
	}
	client := exactNames(hs.GetAuthorizationResponse().GetAllowedClientHeaders())
	for _, h := range []string{"www-authenticate", "retry-after"} {
		if !client[h] {
			t.Errorf("%s does not reach the client", h)
		}
	}
	found := false
	for _, c := range bs.GetStaticResources().GetClusters() {
		found = found || c.GetName() == "m2mauthd"
	}
	if !found {
		t.Fatal("no m2mauthd cluster")
	}
}
