//go:build !linux

package jwkscache

import "time"

func threadCPU() (time.Duration, bool) { return 0, false }
