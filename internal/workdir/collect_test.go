package workdir

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestCollect(t *testing.T) {
	t.Parallel()
	b := blobs{}
	in := manifest(
		Entry{Path: "data/in.csv", Kind: KindFile, Size: 3, SHA256: b.add("1,2")},
		Entry{Path: "edit.txt", Kind: KindFile, Size: 3, SHA256: b.add("old")},
		Entry{Path: "gone.txt", Kind: KindFile, Size: 1, SHA256: b.add("g")},
		link("latest", "data/in.csv"),
		Entry{Path: "run.py", Kind: KindFile, Size: 5, SHA256: b.add("print")},
		Entry{Path: "tool.sh", Kind: KindFile, Size: 2, SHA256: b.add("sh")},
		Entry{Path: "was-file", Kind: KindFile, Size: 1, SHA256: b.add("w")},
	)
	dir := t.TempDir()
	if _, err := Stage(t.Context(), dir, in, b.open); err != nil {
		t.Fatal(err)
	}
	// What the job does.
	os.Remove(filepath.Join(dir, "gone.txt"))
	os.Remove(filepath.Join(dir, "was-file"))
	writeTree(t, dir, map[string]string{
		"edit.txt": "new", "out/model.pt": "weights", "out/deep/log.txt": "ok",
		"passwd@": "/etc/passwd", "out/top@": "/work", "was-file@": "run.py", "abs@": "/work/out/model.pt", "out/up@": "/work/data",
		"escape@": "../../etc", "empty/": "",
	})
	if runtime.GOOS != "windows" {
		if err := os.Chmod(filepath.Join(dir, "tool.sh"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Collect(t.Context(), dir, in, Limits{MountPoint: "/work"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"abs@", "edit.txt", "out/deep/log.txt", "out/model.pt", "out/top@", "out/up@", "tool.sh", "was-file@"}
	if runtime.GOOS == "windows" {
		want = slices.DeleteFunc(want, func(s string) bool { return s == "tool.sh" })
	}
	if p := paths(got.Outputs); !slices.Equal(p, want) {
		t.Errorf("outputs %q, want %q", p, want)
	}
	if e, _ := got.Outputs.Lookup("abs"); e.Target != "out/model.pt" {
		t.Errorf("abs -> %q, want out/model.pt", e.Target)
	}
	if e, _ := got.Outputs.Lookup("out/top"); e.Target != ".." {
		t.Errorf("out/top -> %q, want ..", e.Target)
	}
	if e, _ := got.Outputs.Lookup("out/up"); e.Target != "../data" {
		t.Errorf("out/up -> %q, want ../data", e.Target)
	}
	if e, _ := got.Outputs.Lookup("out/model.pt"); e.SHA256 != b.add("weights") || e.Size != 7 {
		t.Errorf("out/model.pt: %+v", e)
	}
	if got.Bytes != int64(len("new")+len("weights")+len("ok")+len("sh")) && runtime.GOOS != "windows" {
		t.Errorf("bytes %d", got.Bytes)
	}
	skipped := map[string]string{}
	for _, s := range got.Skipped {
		skipped[s.Path] = s.Reason
	}
	for _, p := range []string{"passwd", "escape"} {
		if !strings.Contains(skipped[p], "outside the working directory: not collected (its target was not read)") {
			t.Errorf("%s: skip reason %q", p, skipped[p])
		}
	}
	if len(skipped) != 2 {
		t.Errorf("skipped %v", skipped)
	}
}

func TestCollectCaps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a": "1", "b": "22", "d": "4444", "e": "55555"})
	// A 1 TiB sparse file: skipped by its size, never read (reading it
	// would take hours), and smaller files after it are still taken.
	f, err := os.Create(filepath.Join(dir, "c-huge"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 40); err != nil {
		t.Skipf("no sparse files: %v", err)
	}
	f.Close()
	got, err := Collect(t.Context(), dir, Manifest{}, Limits{MaxBytes: 8, MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	if p := paths(got.Outputs); !slices.Equal(p, []string{"a", "b", "d"}) {
		t.Errorf("outputs %q", p)
	}
	want := []Skip{
		{"c-huge", "1024 GiB would pass the 8 bytes output cap"},
		{"e", "over the 3-file output cap"},
	}
	if !slices.Equal(got.Skipped, want) {
		t.Errorf("skipped %q, want %q", got.Skipped, want)
	}

	// Too many entries to walk: the walk stops and says so; the skip list
	// is bounded and counts the rest.
	dir = t.TempDir()
	spec := map[string]string{}
	for i := range 40 {
		spec["f"+itoa(100+i)] = ""
	}
	writeTree(t, dir, spec)
	got, err = Collect(t.Context(), dir, Manifest{}, Limits{MaxFiles: 1, MaxVisited: 30, MaxSkips: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Outputs.Entries) != 1 || len(got.Skipped) != 6 || got.Unlisted != 30-1-5 {
		t.Errorf("outputs %d, skipped %d, unlisted %d", len(got.Outputs.Entries), len(got.Skipped), got.Unlisted)
	}
	if last := got.Skipped[len(got.Skipped)-1]; !strings.Contains(last.Reason, "collection stopped after 30 entries") {
		t.Errorf("last skip %+v, want the walk's stop", last)
	}
}
