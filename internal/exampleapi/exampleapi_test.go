package exampleapi

import (
	"io"
	"testing"
)

func TestParseBasicRequiresTheIssuerBinding(t *testing.T) {
	for _, args := range [][]string{
		{"-audience", "a", "-clients", "c"},
		{"-issuer", "https://i", "-clients", "c"},
		{"-issuer", "https://i", "-audience", "a", "-clients", " , "},
	} {
		if _, err := ParseBasic("test", args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	c, err := ParseBasic("test", []string{"-issuer", "https://i", "-audience", "a", "-clients", " x, y ,"}, io.Discard)
	if err != nil || len(c.Clients) != 2 || c.Clients[0] != "x" || c.Clients[1] != "y" || c.Scope != "orders.read" || c.Addr != "127.0.0.1:8080" {
		t.Errorf("ParseBasic = %+v, %v", c, err)
	}
}
