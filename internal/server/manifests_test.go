package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/workdir"
)

// stored is m encoded as the server stores a manifest: ParseManifest's
// result, encoded canonically.
func stored(t *testing.T, m *client.Manifest) []byte {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	wm, err := workdir.ParseManifest(raw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(wm)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func manifestOf(n int, name string) *client.Manifest {
	m := &client.Manifest{Entries: make([]client.FileEntry, n)}
	for i := range m.Entries {
		m.Entries[i] = client.FileEntry{Path: fmt.Sprintf("%s/%06d.txt", name, i), Kind: "file", Size: int64(i),
			SHA256: fmt.Sprintf("%064x", i)}
	}
	return m
}

func TestManifestCacheDecodes(t *testing.T) {
	t.Parallel()
	c := newManifestCache()
	if m, err := c.decode(nil); m != nil || err != nil {
		t.Errorf("decode(nil) = %v, %v; want none", m, err)
	}
	want := manifestOf(3, "d")
	b := stored(t, want)
	got, err := c.decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
	again, err := c.decode(bytes.Clone(b)) // the same bytes, another slice
	if err != nil {
		t.Fatal(err)
	}
	if again != got {
		t.Error("the same stored bytes decoded twice: not taken from the cache")
	}
	if _, err := c.decode([]byte(`{"entries": [`)); err == nil {
		t.Error("a torn manifest decoded without an error")
	}
	if n := c.len(); n != 1 {
		t.Errorf("%d manifests kept, want 1 (a failed decode is not kept)", n)
	}
}

// The cache keeps at most maxCachedManifests manifests and
// maxCachedManifestEntries entries, and drops the least recently used.
func TestManifestCacheBounds(t *testing.T) {
	t.Parallel()
	c := newManifestCache()
	blobs := make([][]byte, maxCachedManifests+1)
	for i := range blobs {
		blobs[i] = stored(t, manifestOf(1, fmt.Sprint("m", i)))
	}
	first := make([]*client.Manifest, len(blobs))
	for i, b := range blobs[:maxCachedManifests] {
		var err error
		if first[i], err = c.decode(b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.decode(blobs[0]); err != nil { // now the most recently used
		t.Fatal(err)
	}
	if _, err := c.decode(blobs[maxCachedManifests]); err != nil {
		t.Fatal(err)
	}
	if n := c.len(); n != maxCachedManifests {
		t.Errorf("%d manifests kept, want %d", n, maxCachedManifests)
	}
	if c.get(sha256.Sum256(blobs[0])) != first[0] {
		t.Error("the most recently used manifest was dropped")
	}
	if c.get(sha256.Sum256(blobs[1])) != nil {
		t.Error("the least recently used manifest was kept past the bound")
	}

	// Entries: two manifests that together pass the budget do not stay
	// together; one alone over it is not kept at all.
	e := newManifestCache()
	half := maxCachedManifestEntries/2 + 1
	a, b := manifestOf(half, "a"), manifestOf(half, "b")
	ka, kb := [sha256.Size]byte{1}, [sha256.Size]byte{2}
	e.add(ka, a)
	e.add(kb, b)
	if e.get(ka) != nil || e.get(kb) != b || e.c.Weight() != half {
		t.Errorf("over the entry budget: a kept %v, b kept %v, %d entries; want b alone", e.get(ka) != nil, e.get(kb) != nil, e.c.Weight())
	}
	e.add([sha256.Size]byte{3}, manifestOf(maxCachedManifestEntries+1, "c"))
	if e.get([sha256.Size]byte{3}) != nil || e.get(kb) != b {
		t.Error("a manifest over the whole budget was kept, or pushed the others out")
	}
}

// Run with -race: decodes of the same and of other manifests at once.
func TestManifestCacheConcurrent(t *testing.T) {
	t.Parallel()
	c := newManifestCache()
	blobs := make([][]byte, 8)
	for i := range blobs {
		blobs[i] = stored(t, manifestOf(10, fmt.Sprint("m", i)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16*len(blobs))
	for g := range 16 {
		wg.Go(func() {
			for i := range blobs {
				b := blobs[(g+i)%len(blobs)]
				m, err := c.decode(b)
				if err == nil && len(m.Entries) != 10 {
					err = fmt.Errorf("%d entries, want 10", len(m.Entries))
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := c.len(); n != len(blobs) {
		t.Errorf("%d manifests kept, want %d", n, len(blobs))
	}
}

// A lease sends a job's stored manifest as it is: the bytes a worker gets
// are those client.LeasedJob would encode from the decoded manifest.
func TestLeaseJobWireBytes(t *testing.T) {
	t.Parallel()
	lt, ct := reflect.TypeFor[leaseJob](), reflect.TypeFor[client.LeasedJob]()
	var wire []reflect.StructField // client.LeasedJob's fields on the wire
	for i := range ct.NumField() {
		if f := ct.Field(i); f.Tag.Get("json") != "-" {
			wire = append(wire, f)
		}
	}
	if lt.NumField() != len(wire) {
		t.Fatalf("leaseJob has %d fields, client.LeasedJob %d on the wire", lt.NumField(), len(wire))
	}
	for i := range lt.NumField() {
		lf, cf := lt.Field(i), wire[i]
		if lf.Name != cf.Name || lf.Tag != cf.Tag || (lf.Type != cf.Type && lf.Name != "Inputs") {
			t.Errorf("field %d: leaseJob has %s %s %q, client.LeasedJob %s %s %q", i, lf.Name, lf.Type, lf.Tag, cf.Name, cf.Type, cf.Tag)
		}
	}

	m := &client.Manifest{Entries: []client.FileEntry{
		{Path: "a<b>&c.py", Kind: "file", Size: 3, Executable: true, SHA256: fmt.Sprintf("%064x", 1)},
		{Path: "data", Kind: "dir"},
		{Path: "data/ünïcode \"quoted\"\t.csv", Kind: "file", SHA256: fmt.Sprintf("%064x", 2)},
		{Path: "link", Kind: "symlink", Target: "data"},
	}}
	b := stored(t, m)
	var decoded client.Manifest
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	base := client.LeasedJob{Job: client.Job{ID: "j1", FileName: "a<b>&c.py", Env: map[string]string{"RGRID_ATTEMPT": "1"}},
		Attempt: 1, Script: []byte("print(1)\n"), RuntimeImage: "python:3.11", RuntimeCommand: []string{"python", "-u"},
		Stdin: &client.BlobRef{SHA256: fmt.Sprintf("%064x", 3), Size: 9}}
	for _, tc := range []struct {
		name   string
		inputs *client.Manifest
		raw    json.RawMessage
	}{
		{"with inputs", &decoded, b},
		{"without", nil, nil},
	} {
		want := base
		want.Inputs = tc.inputs
		got := leaseJob{Job: base.Job, Attempt: base.Attempt, Script: base.Script, RuntimeImage: base.RuntimeImage,
			RuntimeCommand: base.RuntimeCommand, Inputs: tc.raw, Stdin: base.Stdin}
		var wb, gb bytes.Buffer
		if err := json.NewEncoder(&wb).Encode(client.LeaseResponse{Jobs: []client.LeasedJob{want}}); err != nil {
			t.Fatal(err)
		}
		if err := json.NewEncoder(&gb).Encode(leaseResponse{Jobs: []leaseJob{got}}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gb.Bytes(), wb.Bytes()) {
			t.Errorf("%s: the lease encodes to\n%s\nwant\n%s", tc.name, gb.Bytes(), wb.Bytes())
		}
	}
}

// A factSet holds what it learned, up to its bound, past which it starts
// over rather than grow.
func TestFactSetBound(t *testing.T) {
	t.Parallel()
	f := &factSet{max: 3}
	for _, k := range []string{"a", "b", "c"} {
		f.add(k)
	}
	if !f.has("a") || !f.has("c") || f.has("d") {
		t.Fatal("a fact learned is not held, or one never learned is")
	}
	f.add("d")
	if f.has("a") || !f.has("d") || len(f.m) != 1 {
		t.Errorf("past the bound: %v, want only d", f.m)
	}
}
