package workdir

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// bufPool holds the copy buffers: memory stays at one buffer per file
// being read, whatever the size of the files.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// openRegular opens rel under root for reading and checks that what was
// opened is a regular file, so that nothing else (a FIFO, a device) that
// took its place since it was listed is ever read.
func openRegular(root *os.Root, rel string) (*os.File, os.FileInfo, error) {
	f, err := root.OpenFile(filepath.FromSlash(rel), openFlags, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: no longer a regular file (%s)", rel, fi.Mode().Type())
	}
	return f, fi, nil
}

// closeRoot closes a root on the way out: only reads and writes were
// done through it, and their errors were returned already.
func closeRoot(r *os.Root) { _ = r.Close() }

// hashFile reads rel once and returns its SHA-256 and the bytes read.
func hashFile(ctx context.Context, root *os.Root, rel string) (string, int64, error) {
	sum, n, _, err := hashStamped(ctx, root, rel)
	return sum, n, err
}

// hashStamped is hashFile that also returns the file's stamp when it was
// the same before and after the read, nil when the file changed while it
// was read (the hash is then of no one version to remember).
func hashStamped(ctx context.Context, root *os.Root, rel string) (string, int64, *Stamp, error) {
	f, before, err := openRegular(root, rel)
	if err != nil {
		return "", 0, nil, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := copyCtx(ctx, h, f)
	if err != nil {
		return "", 0, nil, fmt.Errorf("read %s: %w", rel, err)
	}
	var st *Stamp
	if after, err := f.Stat(); err == nil {
		if a, b := stampOf(after), stampOf(before); a == b && a.Size == n {
			st = &a
		}
	}
	return hex.EncodeToString(h.Sum(nil)), n, st, nil
}

// copyCtx copies with a pooled buffer, checking ctx between reads so that
// hashing a large file stops soon after a cancel.
func copyCtx(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		r, rerr := src.Read(buf)
		if r > 0 {
			w, werr := dst.Write(buf[:r])
			n += int64(w)
			if werr != nil {
				return n, werr
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// ErrChanged is returned by a reader from Open when the file no longer
// holds what its entry says: it changed after it was hashed.
var ErrChanged = errors.New("file changed since it was hashed")

// Open opens the file of entry e under dir for upload. The file is read a
// second time here (the first read made the hash, which names the blob
// before it is sent), and the reader checks it again: at the end it
// returns an error wrapping ErrChanged instead of io.EOF if the size or
// hash differ, so that a blob is never stored under a name its bytes do
// not have. Reading past the entry's size fails the same way.
func Open(dir string, e Entry) (io.ReadCloser, error) {
	if e.Kind != KindFile {
		return nil, fmt.Errorf("open %s: a %s has no content", e.Path, e.Kind)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer closeRoot(root) // an open file outlives its root
	f, _, err := openRegular(root, e.Path)
	if err != nil {
		return nil, err
	}
	return &verifyReader{f: f, e: e, h: sha256.New()}, nil
}

type verifyReader struct {
	f *os.File
	e Entry
	h hash.Hash
	n int64
}

func (r *verifyReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	if r.n > r.e.Size {
		return n, fmt.Errorf("%s: %w (larger than %d bytes)", r.e.Path, ErrChanged, r.e.Size)
	}
	if err == io.EOF {
		if got := hex.EncodeToString(r.h.Sum(nil)); r.n != r.e.Size || got != r.e.SHA256 {
			return n, fmt.Errorf("%s: %w", r.e.Path, ErrChanged)
		}
	}
	return n, err
}

func (r *verifyReader) Close() error { return r.f.Close() }
