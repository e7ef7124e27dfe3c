package worker

import (
	"testing"

	"go.uber.org/goleak"
)

// Every loop this package starts is stopped and waited for by the time its
// tests end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
