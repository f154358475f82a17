package main

import (
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// The published schema names exactly the fields the loader accepts.
func TestSchemaMatchesPolicyTypes(t *testing.T) {
	b, err := os.ReadFile("policy.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
		Defs       map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(s.Properties["headers"], &hdr); err != nil {
		t.Fatal(err)
	}
	compare := func(name string, props map[string]json.RawMessage, typ reflect.Type) {
		var got, want []string
		for k := range props {
			got = append(got, k)
		}
		for i := 0; i < typ.NumField(); i++ {
			want = append(want, strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0])
		}
		sort.Strings(got)
		sort.Strings(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: schema has %v, loader accepts %v", name, got, want)
		}
	}
	compare("policy", s.Properties, reflect.TypeFor[policyFile]())
	compare("headers", hdr.Properties, reflect.TypeFor[headerNames]())
	compare("issuer", s.Defs["issuer"].Properties, reflect.TypeFor[issuerYAML]())
	compare("keys", s.Defs["keys"].Properties, reflect.TypeFor[keysYAML]())
	compare("introspection", s.Defs["introspection"].Properties, reflect.TypeFor[introspectionYAML]())
	compare("client_auth", s.Defs["client_auth"].Properties, reflect.TypeFor[clientAuthYAML]())
	compare("route", s.Defs["route"].Properties, reflect.TypeFor[routeYAML]())
	compare("requirement", s.Defs["requirement"].Properties, reflect.TypeFor[requirementYAML]())
	for name, k := range profileKinds {
		compare(name, s.Defs[name].Properties, k.yamlType)
	}
}
