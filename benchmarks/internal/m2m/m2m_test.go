package m2m

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/m2mauth/m2mauth/benchmarks/internal/fixture"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// The m2mauth verifiers the benchmarks use accept the fixture tokens and
// refuse tampered ones, cached or not.
func TestVerifiers(t *testing.T) {
	ctx := context.Background()
	for _, alg := range fixture.Algorithms {
		f := fixture.Get(alg)
		i := strings.LastIndexByte(f.Token, '.') + 10
		c := byte('A')
		if f.Token[i] == 'A' {
			c = 'B'
		}
		bad := f.Token[:i] + string(c) + f.Token[i+1:]
		for name, build := range map[string]func(...string) (*jwtverify.Verifier, error){"cold": Cold, "hot": Hot} {
			v, err := build(alg)
			if err != nil {
				t.Fatalf("%s/%s: %v", alg, name, err)
			}
			if _, err := v.Verify(ctx, f.Token); err != nil {
				t.Errorf("%s/%s: fixture refused: %v", alg, name, err)
			}
			if _, err := v.Verify(ctx, bad); !errors.Is(err, jwtverify.ErrBadSignature) {
				t.Errorf("%s/%s: tampered token: got %v, want bad_signature", alg, name, err)
			}
		}
	}
}
