//go:build !linux

package process_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/process"
)

func TestNewSaysLinuxOnly(t *testing.T) {
	t.Parallel()
	ex, err := process.New(process.Options{})
	if ex != nil || !errors.Is(err, executor.ErrUnavailable) {
		t.Fatalf("New = %v, %v; want nil and ErrUnavailable", ex, err)
	}
	for _, want := range []string{"Linux only", "--executor docker"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
