package cli

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// Whatever a command starts (an embedded grid, a follower) is stopped by
// the time it returns.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The CLI reads settings, talks to servers through the public client, and
// starts roles through internal/node; it never reaches into the store, the
// server, the scheduler, the worker or an executor itself. (The migrate
// commands use internal/database's migrator, which is the schema, not the
// store.)
func TestImportsStayBehindNode(t *testing.T) {
	t.Parallel()
	forbidden := []string{"/internal/store", "/internal/server", "/internal/scheduler", "/internal/worker", "/internal/executor"}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if strings.Contains(path, "github.com/rgrid/rgrid"+bad) {
					t.Errorf("%s imports %s: go through internal/node", e.Name(), path)
				}
			}
			if strings.HasSuffix(path, "/internal/database") && e.Name() != "migrate.go" {
				t.Errorf("%s imports %s: only the migrate commands use the database directly", e.Name(), path)
			}
		}
	}
}
