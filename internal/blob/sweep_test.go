package blob_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rgrid/rgrid/internal/blob"
	"github.com/rgrid/rgrid/internal/blob/blobtest"
)

// put stores data and backdates it by age (the local store's ModTime is
// the file's mtime).
func put(t *testing.T, s *blob.Local, data []byte, age time.Duration) string {
	t.Helper()
	h := blobtest.Hash(data)
	if err := s.Put(t.Context(), h, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if age > 0 {
		when := time.Now().Add(-age)
		if err := os.Chtimes(filepath.Join(s.Root(), h[:2], h), when, when); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func present(t *testing.T, s blob.Store, h string) bool {
	t.Helper()
	_, err := s.Stat(t.Context(), h)
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func keep(hashes ...string) blob.InUse {
	return func(_ context.Context, asked []string) (map[string]bool, error) {
		m := map[string]bool{}
		for _, h := range hashes {
			m[h] = true
		}
		return m, nil
	}
}

func TestSweeperRetention(t *testing.T) {
	t.Parallel()
	s := openLocal(t)
	day := 24 * time.Hour
	oldUsed := put(t, s, []byte("old, used by a job"), 10*day)
	oldUnused := put(t, s, []byte("old, used by nobody"), 10*day)
	recentUnused := put(t, s, []byte("a day old, used by nobody"), day)
	justNow := put(t, s, []byte("uploaded moments ago for a job not yet submitted"), 0)

	now := time.Now()
	sw := &blob.Sweeper{Store: s, InUse: keep(oldUsed), Retention: 7 * day, Now: func() time.Time { return now }}
	res, err := sw.SweepOnce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Candidates != 2 || res.Deleted != 1 {
		t.Errorf("sweep: %+v; want 2 candidates (the old ones), 1 deleted", res)
	}
	for h, want := range map[string]bool{oldUsed: true, oldUnused: false, recentUnused: true, justNow: true} {
		if got := present(t, s, h); got != want {
			t.Errorf("blob %s… present %v, want %v", h[:8], got, want)
		}
	}

	// Eight days on (the injected clock), the two unused ones have aged
	// past the retention; the used one stays.
	now = now.Add(8 * day)
	if _, err := sw.SweepOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]bool{oldUsed: true, recentUnused: false, justNow: false} {
		if got := present(t, s, h); got != want {
			t.Errorf("eight days on: blob %s… present %v, want %v", h[:8], got, want)
		}
	}
}

func TestSweepDefaultRetentionIsSevenDays(t *testing.T) {
	t.Parallel()
	s := openLocal(t)
	sixDays := put(t, s, []byte("six days"), 6*24*time.Hour)
	eightDays := put(t, s, []byte("eight days"), 8*24*time.Hour)
	sw := &blob.Sweeper{Store: s, InUse: keep()}
	if _, err := sw.SweepOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !present(t, s, sixDays) || present(t, s, eightDays) {
		t.Errorf("default retention: six days kept %v, eight days kept %v; want true, false",
			present(t, s, sixDays), present(t, s, eightDays))
	}
}

func TestSweepInUseFailureDeletesNothing(t *testing.T) {
	t.Parallel()
	s := openLocal(t)
	h := put(t, s, []byte("old"), 30*24*time.Hour)
	boom := errors.New("database down")
	_, err := blob.Sweep(t.Context(), s, time.Now(), func(context.Context, []string) (map[string]bool, error) {
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want the InUse error", err)
	}
	if !present(t, s, h) {
		t.Error("a blob was deleted though nobody could say whether it is in use")
	}
}

func TestSweepAsksInBatches(t *testing.T) {
	t.Parallel()
	s := openLocal(t)
	var want int
	for i := range 1200 {
		put(t, s, []byte{byte(i), byte(i >> 8)}, 10*24*time.Hour)
		want++
	}
	var calls, asked int
	res, err := blob.Sweep(t.Context(), s, time.Now(), func(_ context.Context, hs []string) (map[string]bool, error) {
		calls++
		asked += len(hs)
		if len(hs) > 500 {
			t.Errorf("asked about %d hashes at once", len(hs))
		}
		return nil, nil
	})
	if err != nil || res.Deleted != want || asked != want || calls != 3 {
		t.Errorf("sweep: %+v, %v; asked %d in %d calls; want %d deleted, in 3 calls", res, err, asked, calls, want)
	}
}

func TestSweeperLoopStartStop(t *testing.T) {
	t.Parallel()
	s := openLocal(t)
	h := put(t, s, []byte("old"), 30*24*time.Hour)
	asked := make(chan struct{}, 100)
	sw := &blob.Sweeper{Store: s, Interval: 10 * time.Millisecond,
		InUse: func(context.Context, []string) (map[string]bool, error) {
			asked <- struct{}{}
			return nil, nil
		}}
	if err := sw.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-asked // the first sweep found the blob and is deleting it
	put(t, s, []byte("old too"), 30*24*time.Hour)
	<-asked // a later sweep: the first has finished
	if present(t, s, h) {
		t.Error("the sweeper loop did not delete the old unused blob")
	}
	sw.Stop()
	select {
	case <-sw.Stopped():
	default:
		t.Error("Stop returned before the loop stopped")
	}
	if err := (&blob.Sweeper{}).Start(t.Context()); err == nil {
		t.Error("a Sweeper without Store and InUse started")
	}
}
