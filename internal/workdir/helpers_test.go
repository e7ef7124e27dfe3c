package workdir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree makes a tree under dir from a spec: "a/b.txt" is a file with
// the value as content, "out/" an empty folder, "l@" a symlink to the value.
func writeTree(t *testing.T, dir string, spec map[string]string) {
	t.Helper()
	for p, v := range spec {
		full := filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(strings.TrimSuffix(p, "/"), "@")))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(p, "/"):
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(p, "@"):
			if err := os.Symlink(v, full); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(full, []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// paths lists the paths of a manifest, "/" after a folder and "@" after
// a symlink, the way writeTree reads them.
func paths(m Manifest) []string {
	var out []string
	for _, e := range m.Entries {
		switch e.Kind {
		case KindDir:
			out = append(out, e.Path+"/")
		case KindSymlink:
			out = append(out, e.Path+"@")
		default:
			out = append(out, e.Path)
		}
	}
	return out
}

func excludedReasons(p *Plan) map[string]string {
	m := map[string]string{}
	for _, x := range p.Excluded {
		m[x.Path] = x.Reason
	}
	return m
}
