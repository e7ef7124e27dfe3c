package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/workdir"
)

// fakeBlobs serves blobs by hash and counts the fetches, and how many
// were under way at once.
type fakeBlobs struct {
	mu      sync.Mutex
	data    map[string][]byte
	fetches map[string]int
	now     atomic.Int32
	most    atomic.Int32
}

func (f *fakeBlobs) add(s string) string {
	sum := sha256.Sum256([]byte(s))
	h := hex.EncodeToString(sum[:])
	f.data[h] = []byte(s)
	return h
}

func (f *fakeBlobs) OpenBlob(_ context.Context, hash string, off int64) (io.ReadCloser, int64, error) {
	n := f.now.Add(1)
	defer f.now.Add(-1)
	for m := f.most.Load(); n > m && !f.most.CompareAndSwap(m, n); m = f.most.Load() {
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.data[hash]
	if !ok {
		return nil, 0, &client.Error{Code: client.CodeNotFound, Message: "no such blob"}
	}
	f.fetches[hash]++
	return io.NopCloser(bytes.NewReader(d[off:])), int64(len(d)), nil
}

func TestBlobCachePrefetch(t *testing.T) {
	t.Parallel()
	f := &fakeBlobs{data: map[string][]byte{}, fetches: map[string]int{}}
	var m workdir.Manifest
	for i := range 40 {
		h := f.add(string(rune('a'+i%26)) + string(bytes.Repeat([]byte{'x'}, i)))
		m.Entries = append(m.Entries, workdir.Entry{Path: "f" + hex.EncodeToString([]byte{byte(i)}), Kind: workdir.KindFile, Size: int64(len(f.data[h])), SHA256: h})
	}
	// The same content twice is fetched once.
	m.Entries = append(m.Entries, workdir.Entry{Path: "zz", Kind: workdir.KindFile, Size: m.Entries[0].Size, SHA256: m.Entries[0].SHA256})
	m.Sort()
	c := newBlobCache(f, t.TempDir(), 1<<30)
	if err := c.prefetch(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if len(f.fetches) != 40 {
		t.Errorf("fetched %d blobs, want 40", len(f.fetches))
	}
	for h, n := range f.fetches {
		if n != 1 {
			t.Errorf("blob %.8s fetched %d times", h, n)
		}
	}
	if most := f.most.Load(); most > prefetchParallel {
		t.Errorf("%d fetches at once, want at most %d", most, prefetchParallel)
	}
	// Staged from the cache: nothing fetched again.
	if _, err := workdir.Stage(t.Context(), t.TempDir(), m, c.open); err != nil {
		t.Fatal(err)
	}
	if err := c.prefetch(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	for h, n := range f.fetches {
		if n != 1 {
			t.Errorf("after staging: blob %.8s fetched %d times", h, n)
		}
	}
	// A blob the server lacks fails the prefetch.
	m.Entries = append(m.Entries, workdir.Entry{Path: "zzz", Kind: workdir.KindFile, Size: 1, SHA256: hex.EncodeToString(make([]byte, 32))})
	if err := c.prefetch(t.Context(), m); !client.IsCode(err, client.CodeNotFound) {
		t.Errorf("prefetch of a missing blob: %v, want not_found", err)
	}
}

func TestBlobCacheEvicts(t *testing.T) {
	t.Parallel()
	f := &fakeBlobs{data: map[string][]byte{}, fetches: map[string]int{}}
	dir := t.TempDir()
	c := newBlobCache(f, dir, 25) // room for two 10-byte blobs
	var hashes []string
	for _, s := range []string{"aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc", "dddddddddd"} {
		h := f.add(s)
		hashes = append(hashes, h)
		rc, err := c.open(t.Context(), h)
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2 {
		t.Errorf("cache holds %d blobs, want 2 (25 bytes)", len(ents))
	}
	if _, err := os.Stat(c.path(hashes[3])); err != nil {
		t.Errorf("the newest blob was evicted: %v", err)
	}
	if c.total != 20 {
		t.Errorf("counted size %d, want 20", c.total)
	}
}

func TestBlobCacheRefusesBadBytes(t *testing.T) {
	t.Parallel()
	f := &fakeBlobs{data: map[string][]byte{}, fetches: map[string]int{}}
	h := f.add("good")
	f.data[h] = []byte("evil")
	c := newBlobCache(f, t.TempDir(), 1<<20)
	if _, err := c.open(t.Context(), h); !errors.Is(err, workdir.ErrBadBlob) {
		t.Errorf("open of a blob with other bytes: %v, want ErrBadBlob", err)
	}
	if _, err := os.Stat(c.path(h)); err == nil {
		t.Error("a bad blob was kept in the cache")
	}
}

func TestInputsOfTakesTheLeasesEntriesAndValidatesThem(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	lease := &client.Manifest{Entries: []client.FileEntry{
		{Path: "a/run.sh", Kind: "file", Size: 3, Executable: true, SHA256: sum},
		{Path: "b", Kind: "symlink", Target: "a/run.sh"},
		{Path: "out", Kind: "dir"},
	}}
	got, err := inputsOf(lease)
	if err != nil {
		t.Fatal(err)
	}
	want := []workdir.Entry{
		{Path: "a/run.sh", Kind: workdir.KindFile, Size: 3, Executable: true, SHA256: sum},
		{Path: "b", Kind: workdir.KindSymlink, Target: "a/run.sh"},
		{Path: "out", Kind: workdir.KindDir},
	}
	if !slices.Equal(got.Entries, want) {
		t.Fatalf("entries = %+v, want %+v", got.Entries, want)
	}
	if m, err := inputsOf(nil); err != nil || len(m.Entries) != 0 {
		t.Fatalf("no inputs: %+v, %v", m, err)
	}
	for name, bad := range map[string][]client.FileEntry{
		"out of order": {{Path: "b", Kind: "dir"}, {Path: "a", Kind: "dir"}},
		"unknown kind": {{Path: "a", Kind: "fifo"}},
		"escaping":     {{Path: "../a", Kind: "dir"}},
		"link outside": {{Path: "l", Kind: "symlink", Target: "../../etc/passwd"}},
	} {
		if _, err := inputsOf(&client.Manifest{Entries: bad}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A manifest is read and validated once per digest; a bad one, or one
// without a digest, every time.
func TestLeasedInputsReadOncePerDigest(t *testing.T) {
	c := newLeasedInputs()
	m := &client.Manifest{Entries: []client.FileEntry{{Path: "a", Kind: "dir"}}}
	j := client.LeasedJob{Inputs: m, InputsDigest: [32]byte{1}}
	first, key, err := c.of(j)
	if err != nil || len(first.Entries) != 1 || key != first.Key() {
		t.Fatalf("of = %+v, %q, %v", first, key, err)
	}
	// The same digest is the same manifest (the client's promise): what
	// was read is returned, not read again.
	m.Entries[0].Path = "b"
	if again, _, _ := c.of(j); again.Entries[0].Path != "a" {
		t.Errorf("the same digest was read again: %+v", again)
	}
	if other, _, _ := c.of(client.LeasedJob{Inputs: m, InputsDigest: [32]byte{2}}); other.Entries[0].Path != "b" {
		t.Errorf("another digest: %+v", other)
	}
	if plain, _, _ := c.of(client.LeasedJob{Inputs: m}); plain.Entries[0].Path != "b" {
		t.Errorf("no digest: %+v", plain)
	}
	bad := client.LeasedJob{Inputs: &client.Manifest{Entries: []client.FileEntry{{Path: "/abs", Kind: "dir"}}}, InputsDigest: [32]byte{3}}
	for range 2 {
		if _, _, err := c.of(bad); err == nil {
			t.Fatal("an invalid manifest was taken")
		}
	}
	if none, key, err := c.of(client.LeasedJob{}); err != nil || len(none.Entries) != 0 || key != "" {
		t.Errorf("no inputs: %+v, %q, %v", none, key, err)
	}
	for i := range 20 {
		if _, _, err := c.of(client.LeasedJob{Inputs: m, InputsDigest: [32]byte{byte(10 + i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if c.c.Len() != 8 || c.c.Weight() != 8 {
		t.Errorf("cache holds %d manifests, %d entries, want 8", c.c.Len(), c.c.Weight())
	}
}
