package workdir

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var sha = strings.Repeat("ab", 32)

func file(p string) Entry           { return Entry{Path: p, Kind: KindFile, Size: 3, SHA256: sha} }
func link(p, target string) Entry   { return Entry{Path: p, Kind: KindSymlink, Target: target} }
func dirEntry(p string) Entry       { return Entry{Path: p, Kind: KindDir} }
func manifest(es ...Entry) Manifest { return Manifest{Entries: es} }

func TestValidate(t *testing.T) {
	t.Parallel()
	good := []Manifest{
		manifest(),
		manifest(file("a.txt"), file("a/b"), dirEntry("out")),
		manifest(file("data/x"), link("l", "data/x"), link("m", "l"), link("sub/up", "../data")),
		manifest(link("dangling", "nowhere/at/all")),
		manifest(link("loop1", "loop2"), link("loop2", "loop1")), // ELOOP on the worker, but inside
		manifest(dirEntry("d"), file("d/x")),                     // a redundant folder is harmless
		manifest(Entry{Path: "empty", Kind: KindFile, SHA256: sha}),
		manifest(Entry{Path: "run 12:30.log", Kind: KindFile, SHA256: sha, Executable: true}),
	}
	for _, m := range good {
		if err := m.Validate(); err != nil {
			t.Errorf("Validate(%v) = %v, want nil", paths(m), err)
		}
	}
	for _, tc := range []struct {
		m    Manifest
		want string
	}{
		{manifest(file("")), "empty path"},
		{manifest(file("/etc/passwd")), "absolute"},
		{manifest(file("../x")), "leaves the tree"},
		{manifest(file("a/../../x")), "not clean"},
		{manifest(file("a/./b")), "not clean"},
		{manifest(file("a//b")), "not clean"},
		{manifest(file("a/")), "not clean"},
		{manifest(file(".")), "not clean"},
		{manifest(file("..")), "leaves the tree"},
		{manifest(file("a\x00b")), "NUL"},
		{manifest(file(`a\..\..\x`)), "backslash"},
		{manifest(file("\xff")), "UTF-8"},
		{manifest(file(strings.Repeat("n", 256))), "name longer"},
		{manifest(file(strings.Repeat("a/", 2100) + "x")), "longer than 4096"},
		{manifest(file("b"), file("a")), "out of order"},
		{manifest(file("a"), file("a")), "listed twice"},
		{manifest(file("a"), file("a/b")), `under "a", which is a file`},
		{manifest(link("a", "x"), file("a/b/c")), `under "a", which is a symlink`},
		{manifest(file("a"), dirEntry("a/d")), `under "a"`},
		{manifest(Entry{Path: "a", Kind: "fifo"}), "kind"},
		{manifest(Entry{Path: "a", Kind: KindFile, SHA256: "ABAB"}), "sha256"},
		{manifest(Entry{Path: "a", Kind: KindFile, SHA256: strings.Repeat("AB", 32)}), "sha256"},
		{manifest(Entry{Path: "a", Kind: KindFile, SHA256: sha, Size: -1}), "negative"},
		{manifest(Entry{Path: "a", Kind: KindFile, SHA256: sha, Target: "x"}), "no target"},
		{manifest(Entry{Path: "a", Kind: KindDir, Size: 1}), "only a path"},
		{manifest(Entry{Path: "a", Kind: KindSymlink, Target: "b", SHA256: sha}), "only a target"},
		{manifest(link("a", "")), "empty target"},
		{manifest(link("a", "/etc/passwd")), "absolute"},
		{manifest(link("a", "..")), "leaves the tree"},
		{manifest(link("a", "../x")), "leaves the tree"},
		{manifest(link("d/a", "../../x")), "leaves the tree"},
		{manifest(link("a", "b/../../x")), "leaves the tree"},
		{manifest(link("a", `..\..\x`)), "backslash"},
		// Lexically inside, but s is "." so s/.. is the tree's parent.
		{manifest(link("esc", "s/.."), link("s", ".")), "leaves the tree"},
		{manifest(link("d/s", ".."), link("esc", "d/s/../..")), "leaves the tree"},
		{manifest(link("a", "b/x"), link("b", "c/.."), link("c", "..")), "leaves the tree"},
		{manifest(file("a"), Entry{Path: "b", Kind: KindFile, SHA256: sha, Size: 1 << 50}), "add up"},
	} {
		err := tc.m.Validate()
		var ie *InvalidError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%v) = %v, want an *InvalidError with %q", paths(tc.m), err, tc.want)
		}
	}
}

func TestValidateBounds(t *testing.T) {
	t.Parallel()
	var m Manifest
	for i := range MaxLinks + 1 {
		m.Entries = append(m.Entries, link(strings.Repeat("0", 8-len(itoa(i)))+itoa(i), "x"))
	}
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "symlinks") {
		t.Errorf("%d symlinks: Validate = %v", MaxLinks+1, err)
	}
	// Long targets each through the one before, up to the kernel's 40
	// hops: hundreds of millions of steps, which the budget refuses
	// rather than spend.
	m = Manifest{}
	name := func(i int) string { return strings.Repeat("0", 8-len(itoa(i))) + itoa(i) }
	for i := range MaxLinks {
		m.Entries = append(m.Entries, link(name(i), strings.Repeat("./", 1000)+name(max(i-1, 0))))
	}
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "tangled") {
		t.Errorf("costly links: Validate = %v, want the budget to refuse them", err)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestManifestJSON(t *testing.T) {
	t.Parallel()
	m := manifest(Entry{Path: "a.py", Kind: KindFile, Size: 3, SHA256: sha, Executable: true}, link("l", "a.py"), dirEntry("out"))
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"entries":[{"path":"a.py","kind":"file","size":3,"executable":true,"sha256":"` + sha + `"},{"path":"l","kind":"symlink","target":"a.py"},{"path":"out","kind":"dir"}]}`
	if string(data) != want {
		t.Errorf("json:\n got %s\nwant %s", data, want)
	}
	back, err := ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := json.Marshal(back); string(again) != want {
		t.Errorf("round trip changed the encoding: %s", again)
	}
	if data, _ := json.Marshal(Manifest{}); string(data) != `{"entries":[]}` {
		t.Errorf("empty manifest = %s", data)
	}
	for _, bad := range []string{
		`{"entries":[{"path":"a","kind":"file","sha256":"` + sha + `","mode":"4755"}]}`,
		`{"entries":[]} {}`,
		`{"entries":[{"path":"../a","kind":"file","sha256":"` + sha + `"}]}`,
		`[]`,
	} {
		if _, err := ParseManifest([]byte(bad)); err == nil {
			t.Errorf("ParseManifest(%s) accepted it", bad)
		}
	}
}

func TestChanged(t *testing.T) {
	t.Parallel()
	other := strings.Repeat("cd", 32)
	in := manifest(file("same"), file("edited"), file("chmod"), link("l", "same"), link("relinked", "same"), file("gone"))
	in.Sort()
	cur := manifest(
		file("chmod"), file("new"), file("same"), link("l", "same"), link("relinked", "edited"), dirEntry("out"),
		Entry{Path: "edited", Kind: KindFile, Size: 3, SHA256: other},
	)
	cur.Entries[0].Executable = true
	cur.Sort()
	var got []string
	for _, e := range Changed(in, cur) {
		got = append(got, e.Path)
	}
	if want := "chmod edited new relinked"; strings.Join(got, " ") != want {
		t.Errorf("Changed = %v, want %s", got, want)
	}
}

// FuzzValidate: whatever Validate accepts re-encodes to the same manifest
// and holds only paths that stay inside the tree, however they are read.
func FuzzValidate(f *testing.F) {
	f.Add(`{"entries":[{"path":"a","kind":"file","sha256":"` + sha + `"},{"path":"l","kind":"symlink","target":"a"}]}`)
	f.Add(`{"entries":[{"path":"s","kind":"symlink","target":"."},{"path":"t","kind":"symlink","target":"s/.."}]}`)
	f.Add(`{"entries":[{"path":"d","kind":"dir"},{"path":"d/x","kind":"symlink","target":"../d/../y"}]}`)
	f.Fuzz(func(t *testing.T, data string) {
		m, err := ParseManifest([]byte(data))
		if err != nil {
			return
		}
		enc, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseManifest(enc)
		if err != nil {
			t.Fatalf("re-encoded manifest refused: %v", err)
		}
		if enc2, _ := json.Marshal(m2); string(enc2) != string(enc) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
		}
		for _, e := range m.Entries {
			for _, name := range strings.Split(e.Path, "/") {
				if name == "" || name == "." || name == ".." {
					t.Fatalf("accepted path %q", e.Path)
				}
			}
			if strings.HasPrefix(e.Target, "/") || strings.ContainsAny(e.Path+e.Target, "\\\x00") {
				t.Fatalf("accepted %q -> %q", e.Path, e.Target)
			}
		}
	})
}

// SHA256 and Key hash json.Marshal's bytes, which the server stores and
// a worker's layers are named by, also for paths json escapes.
func TestHashesAreOfTheJSONEncoding(t *testing.T) {
	for _, m := range []Manifest{{}, manifest(file("a<b&c>.txt"), link("l", "a<b&c>.txt"), dirEntry("out\u2028x"))} {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got, err := m.SHA256(); err != nil || got != hex.EncodeToString(sum[:]) {
			t.Errorf("SHA256 of %s = %s, %v; want %x", b, got, err, sum)
		}
		key := sha256.Sum256(append([]byte("rgrid-inputs-v1\n"), b...))
		if got := m.Key(); got != hex.EncodeToString(key[:]) {
			t.Errorf("Key of %s = %s, want %x", b, got, key)
		}
	}
}

// encodingJSON is what encoding/json writes for m as a plain struct: the
// bytes MarshalJSON must reproduce (they are what stored manifests were
// hashed by).
func encodingJSON(t testing.TB, m Manifest) string {
	type plain Manifest
	if m.Entries == nil {
		m.Entries = []Entry{}
	}
	b, err := json.Marshal(plain(m))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMarshalJSONIsEncodingJSONs(t *testing.T) {
	exe := file("bin/run.sh")
	exe.Executable = true
	for _, m := range []Manifest{
		{},
		{Entries: []Entry{}},
		manifest(file("a"), exe, link("l", "a"), dirEntry("out")),
		manifest(file("a<b&c>.txt"), link("q\"uote\\d", "t\tab"), dirEntry("out\u2028x\u2029"), file("caf\u00e9 \x7f"),
			Entry{Path: "bad\xff", Kind: KindFile, Size: -1, SHA256: sha}, Entry{Path: "ctl\x01\x1f", Kind: "odd"}),
	} {
		got, err := m.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if want := encodingJSON(t, m); string(got) != want {
			t.Errorf("MarshalJSON =\n%s\nencoding/json:\n%s", got, want)
		}
		if b, err := json.Marshal(m); err != nil || string(b) != string(got) {
			t.Errorf("json.Marshal(m) = %s, %v; want MarshalJSON's %s", b, err, got)
		}
	}
}

// FuzzMarshalJSON: whatever the strings and numbers, MarshalJSON writes
// encoding/json's bytes.
func FuzzMarshalJSON(f *testing.F) {
	f.Add("a/b.py", "file", int64(12), true, sha, "")
	f.Add("l<&>", "symlink", int64(0), false, "", "t\u2028\xff\"\\")
	f.Fuzz(func(t *testing.T, p, kind string, size int64, exe bool, sum, target string) {
		m := manifest(Entry{Path: p, Kind: Kind(kind), Size: size, Executable: exe, SHA256: sum, Target: target}, file("z"))
		got, err := m.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if want := encodingJSON(t, m); string(got) != want {
			t.Fatalf("MarshalJSON =\n%s\nencoding/json:\n%s", got, want)
		}
	})
}
