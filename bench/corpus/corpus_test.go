package main

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"strings"
	"testing"
	"time"
)

// TestScriptsPassLocally runs every corpus script with the local python3:
// each must pass its own doctests (the script exits non-zero when one
// fails) and print a result. Without python3 the test skips, unless CI is
// set.
func TestScriptsPassLocally(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	python, _, err := localPython(ctx)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	names, err := fs.Glob(scripts, "scripts/*.py")
	if err != nil || len(names) < 50 {
		t.Fatalf("the corpus has %d scripts (%v), want at least 50", len(names), err)
	}
	for _, name := range names {
		t.Run(path.Base(name), func(t *testing.T) {
			t.Parallel()
			src, err := scripts.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if lines := strings.Count(string(src), "\n"); lines < 15 || lines > 70 {
				t.Errorf("%d lines; a corpus script is short (15 to 70)", lines)
			}
			if !strings.Contains(string(src), ">>> ") || !strings.Contains(string(src), "doctest.testmod()") {
				t.Error("no doctests, or no doctest.testmod() in its main block")
			}
			cmd := exec.CommandContext(ctx, python, "-")
			cmd.Stdin = strings.NewReader(string(src))
			cmd.Dir = t.TempDir()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if len(strings.TrimSpace(string(out))) == 0 {
				t.Error("printed nothing")
			}
		})
	}
}
