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
)

// OpenBlob returns the content of the blob named by its SHA-256 (hex).
type OpenBlob func(ctx context.Context, sha256 string) (io.ReadCloser, error)

// ErrBadBlob is returned by Stage when a blob's bytes do not hash to its
// name or are not as long as the manifest says.
var ErrBadBlob = errors.New("blob does not match its hash")

// Stage writes the files of m into dir, which should be empty: parents
// made as needed, files written 0644 or 0755 whatever the umask, symlinks
// made as links, empty directories made. It validates m first, writes
// through an os.Root (so no path or symlink can reach outside dir), never
// overwrites (a path that exists already is an error, so nothing is
// written through a link planted there), makes symlinks only after every
// file, and checks each file's hash and size as it writes it, removing a
// file whose blob does not match (ErrBadBlob).
func Stage(ctx context.Context, dir string, m Manifest, open OpenBlob) error {
	if err := m.Validate(); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer closeRoot(root)
	for _, e := range m.Entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch e.Kind {
		case KindDir:
			if err := root.MkdirAll(filepath.FromSlash(e.Path), 0o755); err != nil {
				return fmt.Errorf("stage %s: %w", e.Path, err)
			}
		case KindFile:
			if err := stageFile(ctx, root, e, open); err != nil {
				return fmt.Errorf("stage %s: %w", e.Path, err)
			}
		}
	}
	for _, e := range m.Entries {
		if e.Kind != KindSymlink {
			continue
		}
		if err := mkParent(root, e.Path); err != nil {
			return fmt.Errorf("stage %s: %w", e.Path, err)
		}
		if err := root.Symlink(filepath.FromSlash(e.Target), filepath.FromSlash(e.Path)); err != nil {
			return fmt.Errorf("stage %s: %w", e.Path, err)
		}
	}
	return nil
}

func mkParent(root *os.Root, p string) error {
	if d := path.Dir(p); d != "." {
		return root.MkdirAll(filepath.FromSlash(d), 0o755)
	}
	return nil
}

func stageFile(ctx context.Context, root *os.Root, e Entry, open OpenBlob) error {
	if err := mkParent(root, e.Path); err != nil {
		return err
	}
	perm := fs.FileMode(0o644)
	if e.Executable {
		perm = 0o755
	}
	name := filepath.FromSlash(e.Path)
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	err = writeBlob(ctx, f, e, open)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Chmod(name, perm) // the umask may have cleared bits of perm
	}
	if err != nil {
		_ = root.Remove(name) // best effort: err says what failed
	}
	return err
}

func writeBlob(ctx context.Context, f *os.File, e Entry, open OpenBlob) error {
	rc, err := open(ctx, e.SHA256)
	if err != nil {
		return err
	}
	defer rc.Close()
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
