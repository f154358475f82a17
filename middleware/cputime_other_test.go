//go:build !linux

package middleware_test

import "time"

func threadCPU() (time.Duration, bool) { return 0, false }
