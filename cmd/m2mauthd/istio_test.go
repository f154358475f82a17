package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"testing"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	securityv1 "istio.io/api/security/v1"
)

// yamlDocs decodes every document of a YAML stream.
func yamlDocs(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
}

// intoProto unmarshals v (decoded YAML) into m strictly: an unknown or
// misspelt field fails.
func intoProto(t *testing.T, v any, m proto.Message) {
	t.Helper()
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(js, m); err != nil {
		t.Fatalf("not a %T: %v", m, err)
	}
}

// The Istio example: its mesh config names m2mauthd as a gRPC ext_authz
// provider failing closed, and its AuthorizationPolicy sends the app's
// requests to that provider (CUSTOM), both as istio.io/api reads them.
func TestIstioExample(t *testing.T) {
	b, err := os.ReadFile("examples/istio.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := yamlDocs(t, b)
	if len(docs) != 2 {
		t.Fatalf("%d documents, want the ConfigMap and the AuthorizationPolicy", len(docs))
	}

	cm := docs[0]
	if cm["apiVersion"] != "v1" || cm["kind"] != "ConfigMap" {
		t.Fatalf("first document: %v %v, want a v1 ConfigMap", cm["apiVersion"], cm["kind"])
	}
	data, _ := cm["data"].(map[string]any)
	mesh, _ := data["mesh"].(string)
	var meshDoc any
	if err := yaml.Unmarshal([]byte(mesh), &meshDoc); err != nil {
		t.Fatalf("data.mesh: %v", err)
	}
	var mc meshv1alpha1.MeshConfig
	intoProto(t, meshDoc, &mc)
	var provider *meshv1alpha1.MeshConfig_ExtensionProvider
	for _, p := range mc.GetExtensionProviders() {
		if p.GetName() == "m2mauthd" {
			provider = p
		}
	}
	g := provider.GetEnvoyExtAuthzGrpc()
	if g == nil || g.GetPort() != 9192 || g.GetFailOpen() || g.GetStatusOnError() != "503" || g.GetTimeout().AsDuration() <= 0 {
		t.Fatalf("provider m2mauthd must be gRPC ext_authz on port 9192, failing closed with 503: %v", provider)
	}

	ap := docs[1]
	if ap["apiVersion"] != "security.istio.io/v1" || ap["kind"] != "AuthorizationPolicy" {
		t.Fatalf("second document: %v %v, want a security.istio.io/v1 AuthorizationPolicy", ap["apiVersion"], ap["kind"])
	}
	var pol securityv1.AuthorizationPolicy
	intoProto(t, ap["spec"], &pol)
	if pol.GetAction() != securityv1.AuthorizationPolicy_CUSTOM || pol.GetProvider().GetName() != "m2mauthd" {
		t.Fatalf("the policy must send requests to the m2mauthd CUSTOM provider: %v", &pol)
	}
	if len(pol.GetRules()) == 0 || len(pol.GetSelector().GetMatchLabels()) == 0 {
		t.Fatalf("the policy must select workloads and have a rule: %v", &pol)
	}
}
