package workdir

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestScanBuiltins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"run.py": "print(1)", ".git/HEAD": "ref", "lib/.git": "gitdir: x",
		"node_modules/x/i.js": "", "__pycache__/a.pyc": "", "lib/__pycache__/b.pyc": "",
		".venv/lib/x.py": "", "venv/lib/x.py": "", "myenv/pyvenv.cfg": "", "myenv/lib/y.py": "",
		"oldenv/bin/activate": "", "condaenv/conda-meta/history": "", ".DS_Store": "", "lib/.DS_Store": "",
		"keepenv/pyvenv.cfg": "", "lib/m.py": "", ".mypy_cache/x": "",
		".rgridignore": "!keepenv/\n", "rgrid-outputs/bat_1/a.csv/out.txt": "", "lib/rgrid-outputs/kept.txt": "",
	})
	plan, err := Scan(t.Context(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".rgridignore", "keepenv/pyvenv.cfg", "lib/m.py", "lib/rgrid-outputs/kept.txt", "run.py"}
	if got := paths(plan.Manifest); !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
	why := excludedReasons(plan)
	for p, reason := range map[string]string{
		".git": "`.git/` is never sent", "lib/.git": "`.git/` is never sent",
		"node_modules": "`node_modules/`", "__pycache__": "bytecode", "lib/__pycache__": "bytecode",
		".venv": "virtualenv (.venv/)", "venv": "virtualenv (venv/)", "myenv": "virtualenv (pyvenv.cfg)",
		"oldenv": "virtualenv (bin/activate)", "condaenv": "conda environment (conda-meta/)",
		".DS_Store": "Finder", "lib/.DS_Store": "Finder", ".mypy_cache": ".mypy_cache",
		"rgrid-outputs": "batches' outputs",
	} {
		if !strings.Contains(why[p], reason) {
			t.Errorf("%s: reason %q, want one with %q", p, why[p], reason)
		}
	}
	if len(why) != 14 {
		t.Errorf("excluded %d paths, want 14: %v", len(why), why)
	}
}

// A Python environment is left out by its built-in reason whatever
// .gitignore says of it, at any depth, and told by what it holds: a
// directory named bin without an activate in it is sent. The walk lists
// it the same with listers and without.
func TestScanEnvironmentsWhateverGitignoreSays(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		".gitignore": "gitenv/\n!keptbygit/\n*.log\n", "gitenv/pyvenv.cfg": "", "gitenv/lib/a.py": "",
		"keptbygit/conda-meta/history": "", "deep/er/env/bin/activate": "", "deep/er/env/lib/z.py": "",
		"deep/er/bin/tool": "", "plain/x.py": "", "plain/run.log": "", "cfgdir/pyvenv.cfg/inside": "",
	})
	for _, parallel := range []int{1, 4} {
		plan, err := Scan(t.Context(), dir, Options{Parallel: parallel})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{".gitignore", "deep/er/bin/tool", "plain/x.py"}
		if got := paths(plan.Manifest); !slices.Equal(got, want) {
			t.Errorf("parallel %d: sent %q, want %q", parallel, got, want)
		}
		why := excludedReasons(plan)
		for p, reason := range map[string]string{
			"gitenv": "virtualenv (pyvenv.cfg)", "keptbygit": "conda environment (conda-meta/)",
			"deep/er/env": "virtualenv (bin/activate)", "plain/run.log": ".gitignore line 3",
			"cfgdir": "virtualenv (pyvenv.cfg)",
		} {
			if !strings.Contains(why[p], reason) {
				t.Errorf("parallel %d: %s: reason %q, want one with %q", parallel, p, why[p], reason)
			}
		}
		if len(why) != 5 {
			t.Errorf("parallel %d: excluded %d paths, want 5: %v", parallel, len(why), why)
		}
	}
}

func TestScanHashesAndModes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "hello", "sub/b.bin": strings.Repeat("x", 1<<20+7), "out/": "", "data/.gitignore": "*\n", "data/x.csv": "1,2"})
	if err := os.Chmod(filepath.Join(dir, "a.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	var first Manifest
	for _, par := range []int{1, 8} {
		plan, err := Scan(t.Context(), dir, Options{Parallel: par})
		if err != nil {
			t.Fatal(err)
		}
		// data/ holds only ignored files: it is still made, as it is locally.
		if got, want := paths(plan.Manifest), []string{"a.txt", "data/", "out/", "sub/b.bin"}; !slices.Equal(got, want) {
			t.Fatalf("sent %q, want %q", got, want)
		}
		for _, e := range plan.Manifest.Entries {
			if e.Kind != KindFile {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, e.Path))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if e.SHA256 != hex.EncodeToString(sum[:]) || e.Size != int64(len(data)) {
				t.Errorf("%s: sha256 %s size %d, want %x %d", e.Path, e.SHA256, e.Size, sum, len(data))
			}
		}
		if a, _ := plan.Manifest.Lookup("a.txt"); !a.Executable {
			t.Error("a.txt: executable bit lost")
		}
		if b, _ := plan.Manifest.Lookup("sub/b.bin"); b.Executable {
			t.Error("sub/b.bin: executable though 0644")
		}
		if plan.Files != 2 || plan.Bytes != 5+1<<20+7 {
			t.Errorf("totals %d files %d bytes", plan.Files, plan.Bytes)
		}
		if first.Entries == nil {
			first = plan.Manifest
		} else if !slices.Equal(first.Entries, plan.Manifest.Entries) {
			t.Error("manifest differs with the number of hashing workers")
		}
	}
}

func TestScanSymlinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"data/x.csv": "1", "rel@": "data/x.csv", "dirlink@": "data", "sub/up@": "../data/x.csv",
		"abs@": filepath.Join(dir, "data", "x.csv"), "sub/absdir@": filepath.Join(dir, "data"),
		"outin@": filepath.Join("..", filepath.Base(dir), "data"), "dangling@": "nothing/here",
	})
	plan, err := Scan(t.Context(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]string{}
	for _, e := range plan.Manifest.Entries {
		if e.Kind == KindSymlink {
			targets[e.Path] = e.Target
		}
	}
	want := map[string]string{
		"rel": "data/x.csv", "dirlink": "data", "sub/up": "../data/x.csv",
		"abs": "data/x.csv", "sub/absdir": "../data", "outin": "data", "dangling": "nothing/here",
	}
	if !mapsEqual(targets, want) {
		t.Errorf("links %v, want %v", targets, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestScanRefusesOutsideLinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	outside := t.TempDir()
	writeTree(t, dir, map[string]string{
		"run.py": "", "data@": outside, "sub/up@": "../../x", "s@": ".", "esc@": "s/..",
	})
	_, err := Scan(t.Context(), dir, Options{})
	var oe *OutsideLinksError
	if !errors.As(err, &oe) {
		t.Fatalf("Scan = %v, want an *OutsideLinksError", err)
	}
	var got []string
	for _, l := range oe.Links {
		got = append(got, l.Path)
	}
	slices.Sort(got)
	if want := []string{"data", "esc", "sub/up"}; !slices.Equal(got, want) {
		t.Errorf("refused %q, want %q", got, want)
	}
	if msg := oe.Error(); !strings.Contains(msg, "data is a symlink to "+outside) || !strings.Contains(msg, "2 more") {
		t.Errorf("error %q", msg)
	}
	if !strings.Contains(oe.Hint(), "add data to .rgridignore") || !strings.Contains(oe.Hint(), "replace the link") {
		t.Errorf("hint %q", oe.Hint())
	}

	// A dry run lists them instead, with the reason.
	plan, err := Scan(t.Context(), dir, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Refused == nil || excludedReasons(plan)["data"] != reasonOutside {
		t.Errorf("dry run: refused %v, excluded %v", plan.Refused, plan.Excluded)
	}

	// Ignoring them is the fix.
	writeTree(t, dir, map[string]string{".rgridignore": "data\nsub/up\nesc\n"})
	plan, err = Scan(t.Context(), dir, Options{})
	if err != nil {
		t.Fatalf("with the links ignored: %v", err)
	}
	if got := paths(plan.Manifest); !slices.Equal(got, []string{".rgridignore", "run.py", "s@", "sub/"}) {
		t.Errorf("sent %q", got)
	}
}

// TestScanCapBeforeReading: a directory over the cap is refused from the
// listing alone. The 1 TiB file is sparse; hashing it would take hours,
// so the test finishing at all shows it was not read.
func TestScanCapBeforeReading(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"run.py": "x", "src/a.py": "y", "ckpt/c1.pt": strings.Repeat("c", 3<<20)})
	if err := os.MkdirAll(filepath.Join(dir, "data", "raw"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "data", "raw", "huge.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 40); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	f.Close()
	start := time.Now()
	_, err = Scan(t.Context(), dir, Options{})
	var tl *TooLargeError
	if !errors.As(err, &tl) {
		t.Fatalf("Scan = %v, want a *TooLargeError", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refused after %v: the files were read", d)
	}
	if !strings.Contains(tl.Error(), "1024.0 GiB") && !strings.Contains(tl.Error(), "1024 GiB") {
		t.Errorf("error %q does not give the size", tl.Error())
	}
	if h := tl.Hint(); !strings.Contains(h, "add data/raw/ (or what else is not needed) to .rgridignore") ||
		!strings.Contains(h, "--max-upload 1025g") || !strings.Contains(h, "--no-workdir") {
		t.Errorf("hint %q", h)
	}
	listing := tl.Listing()
	for _, want := range []string{"Largest folders:", "1024 GiB  data/raw/", "3 MiB  ckpt/", "Largest files:", "1024 GiB  data/raw/huge.bin", "3 MiB  ckpt/c1.pt"} {
		if !strings.Contains(listing, want) {
			t.Errorf("listing lacks %q:\n%s", want, listing)
		}
	}

	writeTree(t, dir, map[string]string{".rgridignore": "data/\n"})
	plan, err := Scan(t.Context(), dir, Options{})
	if err != nil {
		t.Fatalf("with data/ ignored: %v", err)
	}
	if plan.Files != 4 {
		t.Errorf("sent %d files, want 4", plan.Files)
	}
}

func TestScanFileCap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := map[string]string{"run.py": ""}
	for i := range 30 {
		spec["many/f"+itoa(i)] = ""
	}
	for i := range 5 {
		spec["few/f"+itoa(i)] = ""
	}
	writeTree(t, dir, spec)
	_, err := Scan(t.Context(), dir, Options{MaxFiles: 10})
	var tl *TooLargeError
	if !errors.As(err, &tl) || !tl.OverFiles() {
		t.Fatalf("Scan = %v, want a *TooLargeError over the file count", err)
	}
	if !strings.Contains(tl.Error(), "36 files to send, more than the 10 allowed") {
		t.Errorf("error %q", tl.Error())
	}
	if l := tl.Listing(); !strings.Contains(l, "30 files  many/") || !strings.Contains(l, " 5 files  few/") || strings.Contains(l, "Largest files") {
		t.Errorf("listing:\n%s", l)
	}
	if strings.Contains(tl.Hint(), "--max-upload") {
		t.Errorf("hint %q offers a byte cap for a file count", tl.Hint())
	}
	// A dry run lists what fits, counts the rest and reports the cap.
	plan, err := Scan(t.Context(), dir, Options{MaxFiles: 10, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if plan.TooLarge == nil || plan.Unlisted != 26 || len(plan.Manifest.Entries) != 10 || plan.Files != 36 {
		t.Errorf("dry run: too large %v, unlisted %d, listed %d, files %d", plan.TooLarge, plan.Unlisted, len(plan.Manifest.Entries), plan.Files)
	}
}

func TestLargestDirs(t *testing.T) {
	t.Parallel()
	dirs := map[string]*dirSize{
		".": {bytes: 1000}, "src": {bytes: 960}, "src/data": {bytes: 900}, "src/data/raw": {bytes: 890},
		"src/models": {bytes: 60}, "docs": {bytes: 30}, "docs/img": {bytes: 10}, "a": {bytes: 5}, "b": {bytes: 5},
	}
	got := largestDirs(dirs, func(d *dirSize) int64 { return d.bytes }, 3)
	var names []string
	for _, s := range got {
		names = append(names, s.Path)
	}
	// src descends to src/data/raw (each step holds >= 80%); src itself,
	// an ancestor, is not listed again; docs does not descend (10 < 24).
	if want := []string{"src/data/raw", "src/models", "docs"}; !slices.Equal(names, want) {
		t.Errorf("largest %q, want %q", names, want)
	}
}

func TestScanScript(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{".gitignore": "scratch.py\nwip/\n", "scratch.py": "1", "wip/try.py": "2", "lib.py": "3"})
	plan, err := Scan(t.Context(), dir, Options{Script: "scratch.py"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := plan.Manifest.Lookup("scratch.py"); !ok || plan.ScriptIgnored != "scratch.py: .gitignore line 1: `scratch.py`" {
		t.Errorf("ignored script: sent=%v, note %q", ok, plan.ScriptIgnored)
	}
	plan, err = Scan(t.Context(), dir, Options{Script: "wip/try.py"})
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(plan.Manifest); !slices.Equal(got, []string{".gitignore", "lib.py", "wip/try.py"}) {
		t.Errorf("script under an ignored folder: sent %q", got)
	}
	plan, err = Scan(t.Context(), dir, Options{Script: "lib.py", ScriptOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(plan.Manifest); !slices.Equal(got, []string{"lib.py"}) || len(plan.Excluded) != 0 {
		t.Errorf("script only: sent %q, excluded %v", got, plan.Excluded)
	}
	for _, bad := range []string{"missing.py", "../x.py", "wip"} {
		if _, err := Scan(t.Context(), dir, Options{Script: bad}); err == nil {
			t.Errorf("Script %q: no error", bad)
		}
	}
}

func TestOpenVerifies(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a": "hello", "b": "world"})
	plan, err := Scan(t.Context(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := plan.Manifest.Lookup("a")
	r, err := Open(dir, a)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := io.ReadAll(r); err != nil || string(data) != "hello" {
		t.Errorf("read %q, %v", data, err)
	}
	r.Close()
	b, _ := plan.Manifest.Lookup("b")
	for _, content := range []string{"WORLD", "worl", "world!"} {
		writeTree(t, dir, map[string]string{"b": content})
		r, err := Open(dir, b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(r); !errors.Is(err, ErrChanged) {
			t.Errorf("b changed to %q: read error %v, want ErrChanged", content, err)
		}
		r.Close()
	}
}
