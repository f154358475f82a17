//go:build !race

package securitysuite

const raceEnabled = false
