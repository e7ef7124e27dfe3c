package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Local is a Store in a directory of this machine: the blob ab12… is the
// file root/ab/ab12…, mode 0600 (the server serves the bytes; nobody else
// needs to read them). A Put writes a temporary file in the blob's own
// directory, syncs it and renames it into place, so readers see the whole
// blob or none, and a crash leaves at most a temporary file, which Walk
// removes once it is older than its cutoff.
type Local struct {
	root string
}

var _ Store = (*Local)(nil)

// tempPrefix starts the names of Put's temporary files; no hash starts
// with a dot, so they never pass for a blob.
const tempPrefix = ".put-"

// OpenLocal opens (creating it if needed) the store in directory root.
func OpenLocal(root string) (*Local, error) {
	if root == "" {
		return nil, errors.New("local blob store: no directory given")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("local blob store %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("local blob store: create %s: %w", abs, err)
	}
	// Fail now, not at the first upload, if the directory is unusable.
	probe, err := os.CreateTemp(abs, tempPrefix+"probe-")
	if err != nil {
		return nil, fmt.Errorf("local blob store: %s is not writable: %w", abs, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return &Local{root: abs}, nil
}

// Root is the store's directory.
func (l *Local) Root() string { return l.root }

func (l *Local) path(hash string) string { return filepath.Join(l.root, hash[:2], hash) }

func (l *Local) Stat(ctx context.Context, hash string) (Info, error) {
	if err := checkHash(hash); err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(l.path(hash))
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("blob %s: %w", hash, ErrNotFound)
	}
	if err != nil {
		return Info{}, fmt.Errorf("stat blob %s: %w", hash, err)
	}
	return Info{Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

func (l *Local) Missing(ctx context.Context, hashes []string) ([]string, error) {
	var missing []string
	for _, h := range hashes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		_, err := l.Stat(ctx, h)
		if errors.Is(err, ErrNotFound) {
			missing = append(missing, h)
		} else if err != nil {
			return nil, err
		}
	}
	return missing, nil
}

func (l *Local) Put(ctx context.Context, hash string, size int64, r io.Reader) (err error) {
	if err := checkPut(hash, size); err != nil {
		return err
	}
	dst := l.path(hash)
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("put blob %s: %w", hash, err)
	}
	f, err := os.CreateTemp(dir, tempPrefix+hash[:8]+"-")
	if err != nil {
		return fmt.Errorf("put blob %s: %w", hash, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	v := newVerifier(r, hash, size)
	if err := copyCtx(ctx, f, v); err != nil {
		return fmt.Errorf("put blob %s: %w", hash, err)
	}
	if !v.ok() {
		return fmt.Errorf("put blob %s: %w", hash, ErrSizeMismatch)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("put blob %s: %w", hash, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("put blob %s: %w", hash, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		// Windows refuses to replace a file someone has open. What is
		// there has this hash, so it is this very content.
		if fi, serr := os.Stat(dst); serr == nil && fi.Size() == size {
			os.Remove(tmp)
			return nil
		}
		return fmt.Errorf("put blob %s: %w", hash, err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable. Best effort: not every platform
// can sync a directory, and the blob is already whole either way.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func (l *Local) Get(ctx context.Context, hash string, off int64) (io.ReadCloser, Info, error) {
	if err := checkHash(hash); err != nil {
		return nil, Info{}, err
	}
	f, err := os.Open(l.path(hash))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Info{}, fmt.Errorf("blob %s: %w", hash, ErrNotFound)
	}
	if err != nil {
		return nil, Info{}, fmt.Errorf("get blob %s: %w", hash, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Info{}, fmt.Errorf("get blob %s: %w", hash, err)
	}
	info := Info{Size: fi.Size(), ModTime: fi.ModTime()}
	if off < 0 || off > info.Size {
		f.Close()
		return nil, Info{}, fmt.Errorf("get blob %s from byte %d of %d: %w", hash, off, info.Size, ErrOffset)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, Info{}, fmt.Errorf("get blob %s: %w", hash, err)
	}
	return f, info, nil
}

func (l *Local) Delete(ctx context.Context, hash string) error {
	if err := checkHash(hash); err != nil {
		return err
	}
	if err := os.Remove(l.path(hash)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", hash, err)
	}
	return nil
}

// Walk also removes temporary files of Puts older than before: a Put
// that has not finished within the retention period was interrupted.
func (l *Local) Walk(ctx context.Context, before time.Time, fn func(hash string, info Info) error) error {
	dirs, err := os.ReadDir(l.root)
	if err != nil {
		return fmt.Errorf("walk blobs: %w", err)
	}
	for _, d := range dirs {
		if !d.IsDir() || len(d.Name()) != 2 {
			continue
		}
		dir := filepath.Join(l.root, d.Name())
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("walk blobs: %w", err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			name := e.Name()
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted or renamed since the listing
			}
			if err != nil {
				return fmt.Errorf("walk blobs: %w", err)
			}
			if !fi.Mode().IsRegular() || !fi.ModTime().Before(before) {
				continue
			}
			if strings.HasPrefix(name, tempPrefix) {
				os.Remove(filepath.Join(dir, name))
				continue
			}
			if !ValidHash(name) || name[:2] != d.Name() {
				continue
			}
			if err := fn(name, Info{Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyCtx copies until src ends or ctx does: a client that stops sending
// mid-upload must not keep a Put (and its temporary file) alive.
func copyCtx(ctx context.Context, dst io.Writer, src io.Reader) error {
	buf := make([]byte, 256<<10)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
