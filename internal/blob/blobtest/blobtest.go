// Package blobtest is the conformance suite for blob.Store: what the server
// and the worker rely on, checked the same way against every
// implementation (the local directory, S3 on a real S3 server). A new
// store is done when Run passes on it.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rgrid/rgrid/internal/blob"
)

// Options adapt the suite to a store.
type Options struct {
	// LargeSize is the size of the suite's large blobs: over the store's
	// multipart threshold where it has one, so that path is proved too.
	LargeSize int64
	// PartSize is the store's multipart part size, if it has one. The
	// suite then also puts wrong blobs of exactly two parts, where the
	// writer reads exactly to the end and never past it.
	PartSize int64
}

// Run runs the suite. newStore is called once per subtest and must give
// an empty store of the subtest's own.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store, opts Options) {
	if opts.LargeSize <= 0 {
		opts.LargeSize = 11 << 20
	}
	setup := func(t *testing.T) blob.Store {
		t.Helper()
		t.Parallel()
		return newStore(t)
	}

	t.Run("RoundTrip", func(t *testing.T) {
		s := setup(t)
		for _, size := range []int64{0, 1, 1000, 256 << 10, opts.LargeSize} {
			data := Random(size)
			h := Hash(data)
			mustPut(t, s, h, data)
			info, err := s.Stat(t.Context(), h)
			if err != nil {
				t.Fatalf("size %d: Stat: %v", size, err)
			}
			if info.Size != size {
				t.Errorf("size %d: Stat says %d bytes", size, info.Size)
			}
			if d := time.Since(info.ModTime); d < -time.Minute || d > time.Hour {
				t.Errorf("size %d: ModTime %s is not about now", size, info.ModTime)
			}
			got, ginfo := mustGet(t, s, h, 0)
			if !bytes.Equal(got, data) {
				t.Errorf("size %d: Get gave %d bytes, not the %d put", size, len(got), len(data))
			}
			if ginfo.Size != size {
				t.Errorf("size %d: Get's Info says %d bytes", size, ginfo.Size)
			}
		}
	})

	t.Run("HashMismatchRefusedNothingStored", func(t *testing.T) {
		s := setup(t)
		sizes := []int64{1, 1000, opts.LargeSize}
		if opts.PartSize > 0 {
			sizes = append(sizes, 2*opts.PartSize)
		}
		for _, size := range sizes {
			data := Random(size)
			h := Hash(data)
			wrong := bytes.Clone(data)
			wrong[len(wrong)-1] ^= 0xff // the last byte: caught only at the very end
			err := s.Put(t.Context(), h, size, bytes.NewReader(wrong))
			if !errors.Is(err, blob.ErrHashMismatch) {
				t.Fatalf("size %d: Put of wrong bytes: got %v, want ErrHashMismatch", size, err)
			}
			wantAbsent(t, s, h)
		}
		// The empty blob's name with one byte: wrong size and hash.
		err := s.Put(t.Context(), Hash(nil), 0, bytes.NewReader([]byte{1}))
		if !errors.Is(err, blob.ErrSizeMismatch) {
			t.Errorf("Put of 1 byte as the empty blob: got %v, want ErrSizeMismatch", err)
		}
		wantAbsent(t, s, Hash(nil))
	})

	t.Run("SizeMismatchRefusedNothingStored", func(t *testing.T) {
		s := setup(t)
		sizes := []int64{1000, opts.LargeSize}
		if opts.PartSize > 0 {
			sizes = append(sizes, 2*opts.PartSize)
		}
		for _, size := range sizes {
			data := Random(size)
			h := Hash(data)
			if err := s.Put(t.Context(), h, size, bytes.NewReader(data[:size-1])); !errors.Is(err, blob.ErrSizeMismatch) {
				t.Errorf("size %d: Put of one byte short: got %v, want ErrSizeMismatch", size, err)
			}
			wantAbsent(t, s, h)
			longer := append(bytes.Clone(data), 0)
			if err := s.Put(t.Context(), h, size, bytes.NewReader(longer)); !errors.Is(err, blob.ErrSizeMismatch) {
				t.Errorf("size %d: Put of one byte long: got %v, want ErrSizeMismatch", size, err)
			}
			wantAbsent(t, s, h)
			// Right bytes, wrong declared size.
			if err := s.Put(t.Context(), h, size+1, bytes.NewReader(data)); !errors.Is(err, blob.ErrSizeMismatch) {
				t.Errorf("size %d: Put declared one byte longer: got %v, want ErrSizeMismatch", size, err)
			}
			wantAbsent(t, s, h)
		}
		if err := s.Put(t.Context(), Hash(nil), blob.MaxSize+1, bytes.NewReader(nil)); !errors.Is(err, blob.ErrTooLarge) {
			t.Errorf("Put over MaxSize: got %v, want ErrTooLarge", err)
		}
	})

	t.Run("WrongBytesLeaveTheBlobThere", func(t *testing.T) {
		s := setup(t)
		data := Random(5000)
		h := Hash(data)
		mustPut(t, s, h, data)
		if err := s.Put(t.Context(), h, 5000, bytes.NewReader(Random(5000))); !errors.Is(err, blob.ErrHashMismatch) {
			t.Fatalf("Put of other bytes over a stored blob: got %v, want ErrHashMismatch", err)
		}
		if got, _ := mustGet(t, s, h, 0); !bytes.Equal(got, data) {
			t.Error("the stored blob changed")
		}
	})

	t.Run("ConcurrentPutsOfOneHash", func(t *testing.T) {
		s := setup(t)
		data := Random(3 << 20)
		h := Hash(data)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 6 {
			wg.Go(func() {
				errs <- s.Put(t.Context(), h, int64(len(data)), bytes.NewReader(data))
			})
		}
		// Readers meanwhile see the whole blob or none.
		stop := make(chan struct{})
		var readers sync.WaitGroup
		for range 2 {
			readers.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					rc, _, err := s.Get(t.Context(), h, 0)
					if errors.Is(err, blob.ErrNotFound) {
						continue
					}
					if err != nil {
						errs <- fmt.Errorf("a Get during the Puts: %w", err)
						return
					}
					got, err := io.ReadAll(rc)
					rc.Close()
					if err != nil || !bytes.Equal(got, data) {
						errs <- fmt.Errorf("a Get during the Puts gave %d bytes (err %v), not the whole blob", len(got), err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(stop)
		readers.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if got, _ := mustGet(t, s, h, 0); !bytes.Equal(got, data) {
			t.Error("after concurrent Puts the blob is not the content")
		}
	})

	t.Run("GetFromOffset", func(t *testing.T) {
		s := setup(t)
		data := Random(300 << 10)
		h := Hash(data)
		mustPut(t, s, h, data)
		size := int64(len(data))
		for _, off := range []int64{0, 1, 100_000, size - 1, size} {
			got, info := mustGet(t, s, h, off)
			if !bytes.Equal(got, data[off:]) {
				t.Errorf("from %d: got %d bytes, want the last %d", off, len(got), size-off)
			}
			if info.Size != size {
				t.Errorf("from %d: Info.Size %d, want the whole blob's %d", off, info.Size, size)
			}
		}
		if _, _, err := s.Get(t.Context(), h, size+1); !errors.Is(err, blob.ErrOffset) {
			t.Errorf("from past the end: got %v, want ErrOffset", err)
		}
		if _, _, err := s.Get(t.Context(), Hash([]byte("absent")), 0); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("absent blob: got %v, want ErrNotFound", err)
		}
		if _, _, err := s.Get(t.Context(), Hash([]byte("absent")), 10); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("absent blob from 10: got %v, want ErrNotFound", err)
		}
	})

	t.Run("MissingOverAMix", func(t *testing.T) {
		s := setup(t)
		var all, want []string
		for i := range 40 {
			data := []byte(fmt.Sprintf("blob %d", i))
			h := Hash(data)
			all = append(all, h)
			if i%3 == 0 {
				mustPut(t, s, h, data)
			} else {
				want = append(want, h)
			}
		}
		got, err := s.Missing(t.Context(), all)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Missing: got %d hashes, want the %d absent ones in order", len(got), len(want))
		}
		if got, err := s.Missing(t.Context(), nil); err != nil || len(got) != 0 {
			t.Errorf("Missing of none: got %v, %v", got, err)
		}
		if _, err := s.Missing(t.Context(), []string{all[0], "not-a-hash"}); !errors.Is(err, blob.ErrInvalidHash) {
			t.Errorf("Missing with a bad name: got %v, want ErrInvalidHash", err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := setup(t)
		data := Random(1234)
		h := Hash(data)
		mustPut(t, s, h, data)
		if err := s.Delete(t.Context(), h); err != nil {
			t.Fatal(err)
		}
		wantAbsent(t, s, h)
		if err := s.Delete(t.Context(), h); err != nil {
			t.Errorf("Delete of an absent blob: %v", err)
		}
	})

	t.Run("InvalidNames", func(t *testing.T) {
		s := setup(t)
		good := Hash([]byte("x"))
		for _, name := range []string{"", "abc", good[:63], good + "0", "G" + good[1:], "A" + good[1:], "../" + good[3:]} {
			if _, err := s.Stat(t.Context(), name); !errors.Is(err, blob.ErrInvalidHash) {
				t.Errorf("Stat(%q): got %v, want ErrInvalidHash", name, err)
			}
			if err := s.Put(t.Context(), name, 1, bytes.NewReader([]byte("x"))); !errors.Is(err, blob.ErrInvalidHash) {
				t.Errorf("Put(%q): got %v, want ErrInvalidHash", name, err)
			}
			if _, _, err := s.Get(t.Context(), name, 0); !errors.Is(err, blob.ErrInvalidHash) {
				t.Errorf("Get(%q): got %v, want ErrInvalidHash", name, err)
			}
			if err := s.Delete(t.Context(), name); !errors.Is(err, blob.ErrInvalidHash) {
				t.Errorf("Delete(%q): got %v, want ErrInvalidHash", name, err)
			}
		}
	})

	t.Run("CanceledPutStoresNothing", func(t *testing.T) {
		s := setup(t)
		data := Random(opts.LargeSize)
		h := Hash(data)
		ctx, cancel := context.WithCancel(t.Context())
		r := &cancelAfter{r: bytes.NewReader(data), n: opts.LargeSize / 2, cancel: cancel}
		if err := s.Put(ctx, h, opts.LargeSize, r); err == nil {
			t.Fatal("Put whose context ended halfway succeeded")
		}
		wantAbsent(t, s, h)
	})

	t.Run("WalkByAge", func(t *testing.T) {
		s := setup(t)
		a, b := Random(100), Random(200)
		mustPut(t, s, Hash(a), a)
		mustPut(t, s, Hash(b), b)
		// An hour either way: the S3 server's clock is not this process's.
		if got := walk(t, s, time.Now().Add(-time.Hour)); len(got) != 0 {
			t.Errorf("Walk before an hour ago: got %v, want nothing (both are new)", got)
		}
		got := walk(t, s, time.Now().Add(time.Hour))
		want := map[string]int64{Hash(a): 100, Hash(b): 200}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Walk before an hour from now: got %v, want %v", got, want)
		}
		stop := errors.New("stop")
		n := 0
		err := s.Walk(t.Context(), time.Now().Add(time.Hour), func(string, blob.Info) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("Walk whose fn fails: got %v after %d calls, want that error after 1", err, n)
		}
	})

	t.Run("SweepDeletesOnlyOldUnused", func(t *testing.T) {
		s := setup(t)
		used, unused := Random(10), Random(20)
		mustPut(t, s, Hash(used), used)
		mustPut(t, s, Hash(unused), unused)
		inUse := func(_ context.Context, hashes []string) (map[string]bool, error) {
			return map[string]bool{Hash(used): true}, nil
		}
		// Both are younger than the cutoff: kept, in use or not.
		res, err := blob.Sweep(t.Context(), s, time.Now().Add(-time.Hour), inUse)
		if err != nil || res.Deleted != 0 {
			t.Fatalf("sweep of new blobs: %+v, %v; want nothing deleted", res, err)
		}
		wantPresent(t, s, Hash(unused))
		res, err = blob.Sweep(t.Context(), s, time.Now().Add(time.Hour), inUse)
		if err != nil || res.Deleted != 1 || res.Bytes != 20 {
			t.Fatalf("sweep after the cutoff: %+v, %v; want the unused one (20 bytes) deleted", res, err)
		}
		wantAbsent(t, s, Hash(unused))
		wantPresent(t, s, Hash(used))
	})

	t.Run("Presigned", func(t *testing.T) {
		s := setup(t)
		p, ok := s.(blob.Presigner)
		if !ok {
			t.Skip("the store does not presign")
		}
		testPresigned(t, s, p, opts)
	})
}

// Random returns n bytes of pseudo-random content (distinct per call).
func Random(n int64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(rand.Uint32())})
	_, _ = r.Read(b)
	return b
}

// Hash is a blob's name.
func Hash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func checksumB64(b []byte) string {
	s := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

func mustPut(t *testing.T, s blob.Store, h string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), h, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatalf("Put %d bytes: %v", len(data), err)
	}
}

func mustGet(t *testing.T, s blob.Store, h string, off int64) ([]byte, blob.Info) {
	t.Helper()
	rc, info, err := s.Get(t.Context(), h, off)
	if err != nil {
		t.Fatalf("Get from %d: %v", off, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get from %d: read: %v", off, err)
	}
	return b, info
}

func wantAbsent(t *testing.T, s blob.Store, h string) {
	t.Helper()
	if _, err := s.Stat(t.Context(), h); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat of %s…: got %v, want ErrNotFound", h[:8], err)
	}
	if m, err := s.Missing(t.Context(), []string{h}); err != nil || len(m) != 1 {
		t.Errorf("Missing of %s…: got %v, %v; want it missing", h[:8], m, err)
	}
	if _, listed := walk(t, s, time.Now().Add(time.Hour))[h]; listed {
		t.Errorf("Walk lists %s…, which should not be stored", h[:8])
	}
}

func wantPresent(t *testing.T, s blob.Store, h string) {
	t.Helper()
	if _, err := s.Stat(t.Context(), h); err != nil {
		t.Errorf("Stat of %s…: %v, want it present", h[:8], err)
	}
}

func walk(t *testing.T, s blob.Store, before time.Time) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	if err := s.Walk(t.Context(), before, func(h string, info blob.Info) error {
		got[h] = info.Size
		return nil
	}); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return got
}

// cancelAfter cancels a context once n bytes have been read through it.
type cancelAfter struct {
	r      io.Reader
	n      int64
	read   int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.read >= c.n {
		c.cancel()
	}
	n, err := c.r.Read(p)
	c.read += int64(n)
	return n, err
}
