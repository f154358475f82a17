//go:build race

package securitysuite

// raceEnabled: the race detector slows signing and verification tenfold;
// the largest floods run without it.
const raceEnabled = true
