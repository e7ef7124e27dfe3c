package runtimes

import (
	"errors"
	"slices"
	"testing"
)

func TestForFile(t *testing.T) {
	t.Parallel()
	tab, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		explicit, file, wantName, wantImage string
	}{
		{"", "hello.py", "python3.11", "python:3.11-slim"},
		{"", "HELLO.PY", "python3.11", "python:3.11-slim"},
		{"", "app.js", "node20", "node:20-slim"},
		{"", "app.mjs", "node20", "node:20-slim"},
		{"", "run.sh", "bash", "bash:5.2"},
		{"", "noext", "python3.11", "python:3.11-slim"},
		{"python", "x.sh", "python", "python:3.11-slim"},
		{"node", "x.py", "node", "node:20-slim"},
		{"python3.13", "x.py", "python3.13", "python:3.13-slim"},
	} {
		got, err := tab.ForFile(tc.explicit, tc.file)
		if err != nil {
			t.Fatalf("ForFile(%q, %q): %v", tc.explicit, tc.file, err)
		}
		if got.Name != tc.wantName || got.Image != tc.wantImage || len(got.Command) == 0 {
			t.Errorf("ForFile(%q, %q) = %+v, want %s on %s", tc.explicit, tc.file, got, tc.wantName, tc.wantImage)
		}
	}
}

func TestUnknownListsAvailable(t *testing.T) {
	t.Parallel()
	tab, _ := New(nil)
	_, err := tab.Resolve("cobol")
	var ue *UnknownError
	if !errors.As(err, &ue) || ue.Name != "cobol" || !slices.Contains(ue.Available, "python3.11") || !slices.Contains(ue.Available, "bash") {
		t.Fatalf("err = %v", err)
	}
}

func TestOverrides(t *testing.T) {
	t.Parallel()
	tab, err := New([]Runtime{
		{Name: "python3.11", Image: "local/python:test"},
		{Name: "ruby", Image: "ruby:3", Command: []string{"ruby"}, Extensions: []string{".rb"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := tab.Resolve("python")
	if r.Image != "local/python:test" || r.Command[0] != "python3.11" {
		t.Errorf("alias follows the override: got %+v", r)
	}
	if r, _ := tab.ForFile("", "x.rb"); r.Name != "ruby" {
		t.Errorf("new runtime by extension: got %+v", r)
	}
	for _, bad := range [][]Runtime{
		{{Image: "x"}},
		{{Name: "new", Image: "x"}},
		{{Name: "py", AliasOf: "nothing"}},
	} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v) accepted a broken table", bad)
		}
	}
}
