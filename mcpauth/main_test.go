package mcpauth_test

import (
	"testing"

	"go.uber.org/goleak"
)

// No goroutine outlives the tests: the SDK's sessions and streams end when
// the clients close and the servers shut down, and the token deadlines'
// timers are stopped.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
