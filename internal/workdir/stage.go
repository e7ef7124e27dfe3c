package workdir

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"
)

// OpenBlob returns the content of the blob named by its SHA-256 (hex).
type OpenBlob func(ctx context.Context, sha256 string) (io.ReadCloser, error)

// ErrBadBlob is returned by Stage when a blob's bytes do not hash to its
// name or are not as long as the manifest says.
var ErrBadBlob = errors.New("blob does not match its hash")

// Staged is what Stage wrote: the stamp of every file, by path, as it was
// left. Collect reads a file whose stamp is still the same as unchanged,
// without hashing it.
type Staged map[string]Stamp

// Verified wraps a file known to hold the bytes of the blob it is opened
// as (a cache that checked the hash when it wrote it). Stage copies it
// without hashing it again (checking its size only), in the kernel where
// the system can: staging a large project again from a worker's cache
// then costs the copy, not a SHA-256 of every byte.
func Verified(f *os.File) io.ReadCloser { return verifiedFile{f} }

type verifiedFile struct{ *os.File }

// Stage writes the files of m into dir, which should be empty: parents
// made as needed, files written 0644 or 0755 whatever the umask, symlinks
// made as links, empty directories made. It validates m first, writes
// through an os.Root (so no path or symlink can reach outside dir), never
// overwrites (a path that exists already is an error, so nothing is
// written through a link planted there), makes symlinks only after every
// file, and checks each file's hash and size as it writes it, removing a
// file whose blob does not match (ErrBadBlob).
//
// Files get a modification time a second before staging began, so that
// any write by the job, however soon, leaves a different one (file times
// are coarser than a job is quick); Staged records them.
func Stage(ctx context.Context, dir string, m Manifest, open OpenBlob) (Staged, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer closeRoot(root)
	staged := Staged{}
	mtime := time.Now().Add(-time.Second)
	for _, e := range m.Entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch e.Kind {
		case KindDir:
			if err := root.MkdirAll(filepath.FromSlash(e.Path), 0o755); err != nil {
				return nil, fmt.Errorf("stage %s: %w", e.Path, err)
			}
		case KindFile:
			st, err := stageFile(ctx, root, e, open, mtime)
			if err != nil {
				return nil, fmt.Errorf("stage %s: %w", e.Path, err)
			}
			staged[e.Path] = st
		}
	}
	for _, e := range m.Entries {
		if e.Kind != KindSymlink {
			continue
		}
		if err := mkParent(root, e.Path); err != nil {
			return nil, fmt.Errorf("stage %s: %w", e.Path, err)
		}
		if err := root.Symlink(filepath.FromSlash(e.Target), filepath.FromSlash(e.Path)); err != nil {
			return nil, fmt.Errorf("stage %s: %w", e.Path, err)
		}
	}
	return staged, nil
}

func mkParent(root *os.Root, p string) error {
	if d := path.Dir(p); d != "." {
		return root.MkdirAll(filepath.FromSlash(d), 0o755)
	}
	return nil
}

func stageFile(ctx context.Context, root *os.Root, e Entry, open OpenBlob, mtime time.Time) (Stamp, error) {
	if err := mkParent(root, e.Path); err != nil {
		return Stamp{}, err
	}
	perm := fs.FileMode(0o644)
	if e.Executable {
		perm = 0o755
	}
	name := filepath.FromSlash(e.Path)
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return Stamp{}, err
	}
	err = writeBlob(ctx, f, e, open)
	if err == nil {
		err = f.Chmod(perm) // the umask may have cleared bits of perm
	}
	var fi os.FileInfo
	if err == nil {
		// The name is the worker's alone until the job runs, and the root
		// keeps it inside dir.
		if err = root.Chtimes(name, mtime, mtime); err == nil {
			fi, err = f.Stat()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = root.Remove(name) // best effort: err says what failed
		return Stamp{}, err
	}
	return stampOf(fi), nil
}

func writeBlob(ctx context.Context, f *os.File, e Entry, open OpenBlob) error {
	rc, err := open(ctx, e.SHA256)
	if err != nil {
		return err
	}
	defer rc.Close()
	if v, ok := rc.(verifiedFile); ok {
		fi, err := v.Stat()
		if err != nil {
			return err
		}
		if fi.Size() != e.Size {
			return fmt.Errorf("%w: blob %s is %d bytes, not %d", ErrBadBlob, e.SHA256, fi.Size(), e.Size)
		}
		n, err := f.ReadFrom(io.LimitReader(v.File, e.Size))
		if err == nil && n != e.Size {
			err = fmt.Errorf("%w: blob %s ended after %d bytes", ErrBadBlob, e.SHA256, n)
		}
		return err
	}
	h := sha256.New()
	// One byte past the size is read, so that a longer blob is caught
	// without writing more than that.
	n, err := copyCtx(ctx, io.MultiWriter(f, h), io.LimitReader(rc, e.Size+1))
	if err != nil {
		return err
	}
	if n != e.Size || hex.EncodeToString(h.Sum(nil)) != e.SHA256 {
		return fmt.Errorf("%w: blob %s", ErrBadBlob, e.SHA256)
	}
	return nil
}
