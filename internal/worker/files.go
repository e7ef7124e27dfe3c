package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/digestcache"
	"github.com/rgrid/rgrid/internal/workdir"
)

// A job's files on the worker: its inputs are staged from blobs into its
// working directory before it starts, through a cache of the blobs this
// worker has fetched (a batch's items share one project: it is fetched
// once); its outputs are collected from there after it stops and uploaded
// before the result is reported.

// blobCache keeps fetched blobs by hash in a directory, up to a size.
// Every file in it was verified against its hash when it was written.
type blobCache struct {
	c        blobClient
	dir      string
	maxBytes int64

	mu    sync.Mutex
	fetch map[string]*fetching // downloads under way, shared by their waiters
	// total is the cache's size, counted once from the directory and then
	// kept with each download, so that a download lists the directory only
	// when the cache is over its size (listing it after each made staging a
	// project of 4,000 files quadratic: 18 ms a blob); -1 until counted.
	total int64
}

type fetching struct {
	done chan struct{}
	err  error
}

type blobClient interface {
	OpenBlob(ctx context.Context, hash string, off int64) (io.ReadCloser, int64, error)
}

func newBlobCache(c blobClient, dir string, maxBytes int64) *blobCache {
	return &blobCache{c: c, dir: dir, maxBytes: maxBytes, fetch: map[string]*fetching{}, total: -1}
}

func (b *blobCache) path(hash string) string { return filepath.Join(b.dir, hash) }

// open returns the blob, fetching it into the cache first if it is not
// there. Concurrent opens of one blob fetch it once.
func (b *blobCache) open(ctx context.Context, hash string) (io.ReadCloser, error) {
	if len(hash) != 64 || filepath.Base(hash) != hash {
		return nil, fmt.Errorf("blob name %q is not a sha256", hash)
	}
	for {
		f, err := os.Open(b.path(hash))
		if err == nil {
			now := time.Now()
			_ = os.Chtimes(b.path(hash), now, now) // recently used: kept longest
			return workdir.Verified(f), nil        // checked when it was fetched
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		b.mu.Lock()
		fe, busy := b.fetch[hash]
		if !busy {
			fe = &fetching{done: make(chan struct{})}
			b.fetch[hash] = fe
			go func() {
				fe.err = b.download(context.WithoutCancel(ctx), hash)
				b.mu.Lock()
				delete(b.fetch, hash)
				b.mu.Unlock()
				close(fe.done)
			}()
		}
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-fe.done:
		}
		if fe.err != nil {
			return nil, fe.err
		}
	}
}

// download fetches hash into the cache, resuming a cut transfer, and
// keeps it only if its bytes hash to its name.
func (b *blobCache) download(ctx context.Context, hash string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(b.dir, "."+hash+".part-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	var got, size int64 = 0, -1
	backoff := newBackoff()
	for size < 0 || got < size {
		rc, n, err := b.c.OpenBlob(ctx, hash, got)
		if err == nil {
			size = n
			var w int64
			w, err = io.Copy(io.MultiWriter(tmp, h), rc)
			got += w
			rc.Close()
			if err == nil && got < size {
				err = io.ErrUnexpectedEOF
			}
		}
		if err == nil {
			break
		}
		if client.IsCode(err, client.CodeNotFound) || !backoff.wait(ctx) {
			return fmt.Errorf("fetch blob %.12s…: %w", hash, err)
		}
	}
	if hex.EncodeToString(h.Sum(nil)) != hash || got != size {
		return fmt.Errorf("fetch blob %.12s…: %w", hash, workdir.ErrBadBlob)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), b.path(hash)); err != nil {
		return err
	}
	b.mu.Lock()
	over := b.total < 0
	if !over {
		b.total += got
		over = b.total > b.maxBytes
	}
	b.mu.Unlock()
	if over {
		b.evict(hash)
	}
	return nil
}

// prefetchParallel is how many blobs prefetch fetches at once.
const prefetchParallel = 8

// prefetch fetches into the cache, a few at a time, the blobs of m's files
// it lacks, so that staging (one file after another) then reads only the
// disk.
func (b *blobCache) prefetch(ctx context.Context, m workdir.Manifest) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(prefetchParallel)
	seen := map[string]bool{}
	for _, e := range m.Entries {
		if e.Kind != workdir.KindFile || seen[e.SHA256] {
			continue
		}
		seen[e.SHA256] = true
		if _, err := os.Stat(b.path(e.SHA256)); err == nil {
			continue
		}
		g.Go(func() error {
			rc, err := b.open(ctx, e.SHA256)
			if err != nil {
				return err
			}
			return rc.Close()
		})
	}
	return g.Wait()
}

// evict removes the least recently used blobs while the cache is over its
// size, never keep (just fetched, about to be used).
func (b *blobCache) evict(keep string) {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return
	}
	type cached struct {
		name string
		size int64
		used time.Time
	}
	var all []cached
	var total int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || len(e.Name()) != 64 {
			continue
		}
		all = append(all, cached{e.Name(), info.Size(), info.ModTime()})
		total += info.Size()
	}
	slices.SortFunc(all, func(a, b cached) int { return a.used.Compare(b.used) })
	defer func() {
		b.mu.Lock()
		b.total = total
		b.mu.Unlock()
	}()
	for _, c := range all {
		if total <= b.maxBytes {
			return
		}
		if c.name == keep {
			continue
		}
		if os.Remove(b.path(c.name)) == nil {
			total -= c.size
		}
	}
}

// jobOutputs is what collection found of one attempt, for its result.
type jobOutputs struct {
	outputs *client.Manifest
	skipped []client.SkippedOutput
	err     error // collecting or uploading failed: the job ends error
}

// collect gathers the outputs of a run that has ended from its working
// directory dir (with upper, the overlay's upper directory over its
// inputs: only what the job changed) and uploads their blobs: every new or
// changed file read once to hash it (Collect; an input still as staged is
// not read) and once to send it, checked against that hash (Open).
func (w *Worker) collect(ctx context.Context, dir string, inputs workdir.Manifest, staged workdir.Staged, upper bool) jobOutputs {
	lim := workdir.Limits{
		MaxFiles: w.opts.MaxOutputFiles, MaxBytes: w.opts.MaxOutputBytes, MountPoint: w.opts.JobMountPoint,
		Staged: staged, Upper: upper,
	}
	if upper {
		lim.Staged = nil // stamps of the layer's files, which are not there
	}
	got, err := workdir.Collect(ctx, dir, inputs, lim)
	if err != nil {
		return jobOutputs{err: fmt.Errorf("collect the outputs: %w", err)}
	}
	out := jobOutputs{outputs: &client.Manifest{Entries: []client.FileEntry{}}}
	for _, s := range got.Skipped {
		out.skipped = append(out.skipped, client.SkippedOutput{Path: s.Path, Reason: s.Reason})
	}
	if got.Unlisted > 0 {
		out.skipped = append(out.skipped, client.SkippedOutput{Reason: fmt.Sprintf("and %d more left out", got.Unlisted)})
	}
	var refs []client.BlobRef
	byHash := map[string]workdir.Entry{}
	for _, e := range got.Outputs.Entries {
		out.outputs.Entries = append(out.outputs.Entries, toClientEntry(e))
		if e.Kind == workdir.KindFile {
			if _, dup := byHash[e.SHA256]; !dup {
				refs = append(refs, client.BlobRef{SHA256: e.SHA256, Size: e.Size})
			}
			byHash[e.SHA256] = e
		}
	}
	if err := w.uploadBlobs(ctx, refs, func(hash string) (io.ReadCloser, error) { return workdir.Open(dir, byHash[hash]) }); err != nil {
		return jobOutputs{err: fmt.Errorf("upload the outputs: %w", err)}
	}
	return out
}

// uploadBlobs sends the blobs of refs the server lacks, a few at a time,
// each read through open; a failed upload is tried again.
func (w *Worker) uploadBlobs(ctx context.Context, refs []client.BlobRef, open func(hash string) (io.ReadCloser, error)) error {
	if len(refs) == 0 {
		return nil
	}
	var missing []client.BlobUpload
	err := retry(ctx, func(ctx context.Context) (err error) {
		missing, err = w.c.MissingBlobs(ctx, refs)
		return err
	})
	if err != nil {
		return err
	}
	work := make(chan client.BlobUpload)
	errs := make(chan error, len(missing))
	var wg sync.WaitGroup
	for range min(4, len(missing)) {
		wg.Go(func() {
			for up := range work {
				errs <- retry(ctx, func(ctx context.Context) error {
					f, err := open(up.SHA256)
					if err != nil {
						return permanent{err}
					}
					defer f.Close()
					return w.c.UploadBlob(ctx, up, f)
				})
			}
		})
	}
	for _, up := range missing {
		work <- up
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// permanent is an error retry does not try again.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// retry calls fn until it succeeds, fails for good (a 4xx, or permanent)
// or ctx ends, backing off between tries; at most 8 tries.
func retry(ctx context.Context, fn func(ctx context.Context) error) error {
	b := newBackoff()
	for try := 1; ; try++ {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		err := fn(cctx)
		cancel()
		var apiErr *client.Error
		var perm permanent
		switch {
		case err == nil:
			return nil
		case errors.As(err, &perm), errors.As(err, &apiErr) && apiErr.Status/100 == 4, try == 8:
			return err
		}
		if !b.wait(ctx) {
			return err
		}
	}
}

func toClientEntry(e workdir.Entry) client.FileEntry {
	return client.FileEntry{Path: e.Path, Kind: string(e.Kind), Size: e.Size, Executable: e.Executable, SHA256: e.SHA256, Target: e.Target}
}

// inputsOf reads a leased job's inputs manifest (checked by the server
// and again here: it is data from the network). The entries are taken
// over as they are and validated, as ParseManifest does after decoding:
// encoding the lease's manifest again to parse it cost a 4,000-file
// project's re-run two passes over it.
func inputsOf(m *client.Manifest) (workdir.Manifest, error) {
	if m == nil {
		return workdir.Manifest{}, nil
	}
	out := workdir.Manifest{Entries: make([]workdir.Entry, len(m.Entries))}
	for i, e := range m.Entries {
		out.Entries[i] = workdir.Entry{Path: e.Path, Kind: workdir.Kind(e.Kind), Size: e.Size,
			Executable: e.Executable, SHA256: e.SHA256, Target: e.Target}
	}
	if err := out.Validate(); err != nil {
		return workdir.Manifest{}, err
	}
	return out, nil
}

// leasedInputs keeps the inputs of recent jobs as inputsOf read them and
// their layer key, by the digest of the manifest as the server sent it
// (client.LeasedJob.InputsDigest): a project run again and again is
// validated once per distinct manifest, not once a job. Bounded as the
// client's cache of decoded manifests is (8 manifests, 250,000 entries).
type leasedInputs struct {
	c digestcache.Cache[readInputs]
}

func newLeasedInputs() *leasedInputs {
	return &leasedInputs{c: digestcache.Cache[readInputs]{MaxLen: 8, MaxWeight: 250_000}}
}

type readInputs struct {
	m   workdir.Manifest
	key string
}

// of returns j's inputs, read-only, and their key ("" without inputs).
func (c *leasedInputs) of(j client.LeasedJob) (workdir.Manifest, string, error) {
	if j.Inputs == nil {
		return workdir.Manifest{}, "", nil
	}
	cached := j.InputsDigest != [32]byte{}
	if cached {
		if r, ok := c.c.Get(j.InputsDigest); ok {
			return r.m, r.key, nil
		}
	}
	m, err := inputsOf(j.Inputs)
	if err != nil {
		return workdir.Manifest{}, "", err
	}
	r := readInputs{m, m.Key()}
	if cached {
		r = c.c.Add(j.InputsDigest, r, len(m.Entries))
	}
	return r.m, r.key, nil
}
