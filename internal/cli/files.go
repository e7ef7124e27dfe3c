package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/bytesize"
	"github.com/rgrid/rgrid/internal/config"
	"github.com/rgrid/rgrid/internal/workdir"
)

// What rgrid run sends besides the script: the directory it is run from
// (the job's working directory), and what is piped to it (the script's
// stdin).

// workdirFlags say what of the working directory is sent.
type workdirFlags struct {
	dir       string // --workdir; "" is the current directory
	none      bool   // --no-workdir: the script alone
	maxUpload int64
	dryRun    bool
}

func (w *workdirFlags) add(f *pflag.FlagSet) {
	f.StringVar(&w.dir, "workdir", "", "send this directory as the job's working directory (default: the current one)")
	f.BoolVar(&w.none, "no-workdir", false, "send the script alone, not the directory it is run from")
	sizeVar(f, &w.maxUpload, "max-upload", workdir.DefaultMaxBytes, "refuse, before sending anything, a working directory larger than this")
	f.BoolVar(&w.dryRun, "dry-run", false, "list what would be sent, and why each left-out path is left out, then stop")
}

// sent is what of the working directory goes with a job.
type sent struct {
	plan   *workdir.Plan
	script string // the script's slash path in it
}

// scan decides what is sent with the script at scriptPath: nothing with
// --no-workdir. A script outside the current directory (and no --workdir)
// takes its own directory along instead (--dry-run shows which).
func (w *workdirFlags) scan(ctx context.Context, scriptPath string) (*sent, error) {
	if w.none {
		if w.dir != "" {
			return nil, userErr("pass one of them", "--workdir and --no-workdir exclude each other")
		}
		return nil, nil
	}
	root := w.dir
	if root == "" {
		root = "."
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, userErr("pass --workdir an existing directory", "%v", err)
	}
	if fi, err := os.Stat(absRoot); err != nil || !fi.IsDir() {
		return nil, userErr("pass --workdir an existing directory", "--workdir %s is not a directory", root)
	}
	absScript, err := filepath.Abs(scriptPath)
	if err != nil {
		return nil, userErr("check the script's path", "%v", err)
	}
	rel, err := filepath.Rel(absRoot, absScript)
	if (err != nil || !filepath.IsLocal(rel)) && w.dir == "" {
		absRoot = filepath.Dir(absScript)
		rel = filepath.Base(absScript)
		err = nil
	}
	if err != nil || !filepath.IsLocal(rel) {
		return nil, userErr(fmt.Sprintf("run rgrid from a directory that contains the script, or pass --workdir %s (or --no-workdir to send the script alone)", filepath.Dir(absScript)),
			"%s is outside the working directory %s, which is what the job sees as its current directory", scriptPath, absRoot)
	}
	opts := workdir.Options{MaxBytes: w.maxUpload, Script: filepath.ToSlash(rel), DryRun: w.dryRun}
	// Hashes of files unchanged since the last run come from the cache:
	// an unchanged project is not read again. Without a cache directory
	// every file is read, which is slower, not wrong.
	if dir, err := config.CacheDir(); err == nil && !w.dryRun {
		opts.Cache = workdir.OpenHashCache(filepath.Join(dir, "hashes"), absRoot)
	}
	plan, err := workdir.Scan(ctx, absRoot, opts)
	if err == nil && opts.Cache != nil {
		_ = opts.Cache.Save(absRoot) // a cache that cannot be written only costs the next run a read
	}
	var tooLarge *workdir.TooLargeError
	var outside *workdir.OutsideLinksError
	switch {
	case errors.As(err, &tooLarge):
		return nil, &Error{Message: tooLarge.Error() + "\n" + tooLarge.Listing(), Hint: tooLarge.Hint(), Code: exitUsage}
	case errors.As(err, &outside):
		return nil, &Error{Message: outside.Error(), Hint: outside.Hint(), Code: exitUsage}
	case err != nil:
		return nil, userErr("check the directory's permissions, or pass --no-workdir", "read the working directory %s: %v", absRoot, err)
	}
	return &sent{plan: plan, script: filepath.ToSlash(rel)}, nil
}

// toClientManifest is m on the wire.
func toClientManifest(m workdir.Manifest) *client.Manifest {
	out := &client.Manifest{Entries: make([]client.FileEntry, 0, len(m.Entries))}
	for _, e := range m.Entries {
		out.Entries = append(out.Entries, client.FileEntry{Path: e.Path, Kind: string(e.Kind), Size: e.Size,
			Executable: e.Executable, SHA256: e.SHA256, Target: e.Target})
	}
	return out
}

// announceUpload is the upload large enough to say that it is under way:
// it takes a moment; a small one is not worth a line.
const announceUpload = 10 << 20

// uploader sends blobs the server lacks, a few at a time.
type uploader struct {
	c      *client.Client
	stderr io.Writer
}

// send uploads, of refs, what the server lacks, each read through open;
// it says on stderr what it sends when that is anything. It returns the
// bytes sent.
func (u uploader) send(ctx context.Context, refs []client.BlobRef, open func(hash string) (io.ReadCloser, error)) (int64, error) {
	if len(refs) == 0 {
		return 0, nil
	}
	missing, err := u.c.MissingBlobs(ctx, refs)
	if err != nil || len(missing) == 0 {
		return 0, err
	}
	var total int64
	for _, m := range missing {
		total += m.Size
	}
	if total >= announceUpload {
		fmt.Fprintf(u.stderr, "rgrid: sending %d of %d files, %s\n", len(missing), len(refs), bytesize.Format(total))
	}
	work := make(chan client.BlobUpload)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(8, len(missing)) {
		wg.Go(func() {
			for up := range work {
				err := u.one(ctx, up, open)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, up := range missing {
		if ctx.Err() != nil {
			break
		}
		work <- up
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return total, nil
}

// one uploads a blob, trying again (from the start: a blob is small
// enough, and content-addressed, so a rerun sends only what is missing)
// after a failure that is not the request's fault.
func (u uploader) one(ctx context.Context, up client.BlobUpload, open func(hash string) (io.ReadCloser, error)) error {
	var err error
	for try := range 4 {
		if try > 0 && !sleepCtx(ctx, backoffFor(try)) {
			return ctx.Err()
		}
		var f io.ReadCloser
		if f, err = open(up.SHA256); err == nil {
			err = u.c.UploadBlob(ctx, up, f)
			f.Close()
		}
		if errors.Is(err, workdir.ErrChanged) {
			return userErr("run it again once the file stops changing", "a file changed while it was being sent: %v", err)
		}
		var apiErr *client.Error
		if err == nil || ctx.Err() != nil || errors.As(err, &apiErr) && apiErr.Status/100 == 4 {
			return err
		}
	}
	return err
}

// sleepCtx waits d, or until ctx ends (false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoffFor is the wait before try number try (1, 2, …).
func backoffFor(try int) time.Duration { return time.Duration(try*try) * 250 * time.Millisecond }

// inputRefs are the blobs of a plan's files, each once, and how to open
// each from the directory.
func inputRefs(plan *workdir.Plan) ([]client.BlobRef, func(hash string) (io.ReadCloser, error)) {
	byHash := map[string]workdir.Entry{}
	var refs []client.BlobRef
	for _, e := range plan.Manifest.Entries {
		if e.Kind != workdir.KindFile {
			continue
		}
		if _, dup := byHash[e.SHA256]; !dup {
			refs = append(refs, client.BlobRef{SHA256: e.SHA256, Size: e.Size})
		}
		byHash[e.SHA256] = e
	}
	return refs, func(hash string) (io.ReadCloser, error) { return workdir.Open(plan.Root, byHash[hash]) }
}

// maxStdin bounds what is read of a piped stdin: the script's stdin is
// sent whole before it starts.
const maxStdin = 1 << 30

// stdinBlob reads a piped or redirected stdin (to its end, up to
// maxStdin) into a temporary file and returns its blob and the file;
// nothing for a terminal (then it says once that the script's stdin is
// empty) or for a device such as /dev/null. The caller removes the file.
func stdinBlob(f *os.File, stderr io.Writer) (*client.BlobRef, string, error) {
	if f == nil {
		return nil, "", nil
	}
	if term.IsTerminal(int(f.Fd())) {
		fmt.Fprintln(stderr, "rgrid: the script's stdin is empty: typed input is not passed to it; pipe or redirect data in instead (cmd | rgrid run …)")
		return nil, "", nil
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, "", nil
	}
	if m := fi.Mode(); m&(os.ModeNamedPipe|os.ModeSocket) == 0 && !m.IsRegular() {
		return nil, "", nil // /dev/null and other devices: nothing to send
	}
	tmp, err := os.CreateTemp("", "rgrid-stdin-*")
	if err != nil {
		return nil, "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(f, maxStdin+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > maxStdin {
		err = userErr("write the data to a file in the working directory and open it from the script instead",
			"stdin is over %s, the most rgrid run sends", bytesize.Format(maxStdin))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return nil, "", err
	}
	return &client.BlobRef{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, tmp.Name(), nil
}
