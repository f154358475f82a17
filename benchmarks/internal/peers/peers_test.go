package peers

import (
	"context"
	"strings"
	"testing"

	"github.com/m2mauth/m2mauth/benchmarks/internal/fixture"
)

// Every peer accepts the fixture token and refuses a tampered one, so the
// benchmarks measure real verification.
func TestPeersVerify(t *testing.T) {
	ctx := context.Background()
	for _, alg := range fixture.Algorithms {
		f := fixture.Get(alg)
		// Flip one character in the middle of the signature.
		i := strings.LastIndexByte(f.Token, '.') + 10
		c := byte('A')
		if f.Token[i] == 'A' {
			c = 'B'
		}
		bad := f.Token[:i] + string(c) + f.Token[i+1:]
		for _, lib := range All {
			v := lib.New(f)
			if err := v(ctx, f.Token); err != nil {
				t.Errorf("%s/%s: valid token refused: %v", alg, lib.Name, err)
			}
			if err := v(ctx, bad); err == nil {
				t.Errorf("%s/%s: tampered token accepted", alg, lib.Name)
			}
		}
	}
}
