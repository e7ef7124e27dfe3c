package cli

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/workdir"
)

// rgrid run --batch and --array: one script over many inputs, submitted
// as one batch (POST /v1/batches), watched until every item has ended.

// batchFlags are rgrid run's batch flags.
type batchFlags struct {
	glob      string // --batch
	array     string // --array
	parallel  int    // --parallel; 0: the grid's free slots decide
	followAll bool   // --follow-all
}

func (b *batchFlags) add(f *pflag.FlagSet) {
	f.StringVar(&b.glob, "batch", "", "run the script once per file matching this glob (relative to the working directory; ** matches any folders), the file as its first argument")
	f.StringVar(&b.array, "array", "", "run the script once per index, in RGRID_ARRAY_INDEX: 0-99, 1-200:2 or 3,5,7")
	f.IntVar(&b.parallel, "parallel", 0, "with --batch or --array: run at most N items at once across the grid (default: as many as the grid has free slots)")
	f.BoolVar(&b.followAll, "follow-all", false, "with --batch or --array: print every item's output, each line prefixed with its item")
}

// leading takes the batch flags written right after the script, as in
// "rgrid run process.py --batch 'data/*.csv' --parallel 8": the arguments
// after the script are the script's from the first other one on ("--"
// ends them: "rgrid run s.py -- --batch x" passes "--batch x" to s.py).
func (b *batchFlags) leading(f *pflag.FlagSet, args []string) ([]string, error) {
	for len(args) > 0 {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(args[0], "--"), "=")
		if !strings.HasPrefix(args[0], "--") {
			return args, nil
		}
		if name == "" && !hasValue {
			return args[1:], nil // "--"
		}
		fl := f.Lookup(name)
		if fl == nil || (name != "batch" && name != "array" && name != "parallel" && name != "follow-all") {
			return args, nil
		}
		n := 1
		if !hasValue && name != "follow-all" {
			if len(args) < 2 {
				return nil, userErr(fmt.Sprintf("write --%s VALUE", name), "--%s needs a value", name)
			}
			value, n = args[1], 2
		} else if !hasValue {
			value = "true"
		}
		if err := f.Set(name, value); err != nil {
			return nil, userErr("write e.g. --parallel 8 or --batch 'data/*.csv'", "--%s %q: %v", name, value, err)
		}
		args = args[n:]
	}
	return args, nil
}

// defaultOutputsDir holds a batch's outputs, one folder per batch, when
// --outputs does not say where; a scan leaves it out.
const defaultOutputsDir = workdir.OutputsDir

func (o *runOptions) isBatch() bool { return o.batch.glob != "" || o.batch.array != "" }

// checkBatchFlags refuses batch flags without a batch, both kinds at
// once, and single-job flags that mean nothing for a batch.
func (o *runOptions) checkBatchFlags() error {
	b := o.batch
	if !o.isBatch() {
		switch {
		case b.parallel != 0:
			return userErr("add --batch 'GLOB' or --array SPEC, or drop --parallel", "--parallel caps the items of a batch; this run is a single job")
		case b.followAll:
			return userErr("add --batch 'GLOB' or --array SPEC, or drop --follow-all", "--follow-all prints the items of a batch; a single job's output is printed anyway")
		}
		return nil
	}
	switch {
	case b.glob != "" && b.array != "":
		return userErr("pass one of them: --batch for one item per file, --array for one per index", "--batch and --array exclude each other")
	case b.parallel < 0:
		return userErr("pass --parallel 0 (no cap) or more, e.g. --parallel 8", "--parallel %d is negative", b.parallel)
	case b.glob != "" && o.files.none:
		return userErr("drop --no-workdir: the items' files are sent beside the working directory", "--batch needs the working directory, and --no-workdir sends the script alone")
	case b.followAll && o.detach:
		return userErr("pass one of them; rgrid logs -f ITEM follows an item later", "--follow-all and --detach exclude each other")
	}
	if b.array != "" {
		_, err := parseArraySpec(b.array)
		return err
	}
	return nil
}

// runBatch submits the batch of p and watches it.
func (o *runOptions) runBatch(ctx context.Context, e *env, p *prepared) error {
	req := client.BatchRequest{Job: p.req, Parallelism: o.batch.parallel, IdempotencyKey: newIdempotencyKey()}
	if o.batch.array != "" {
		req.Array, _ = parseArraySpec(o.batch.array) // checked by checkBatchFlags
	} else if err := addBatchFiles(&req, p, o.batch.glob); err != nil {
		return err
	}
	s, err := e.connect(ctx, !o.detach, p.exec)
	if err != nil {
		return err
	}
	defer s.close()
	b, err := submitBatch(ctx, uploader{c: s.c, stderr: e.stderr}, req, p.refs, p.open)
	if err != nil {
		return err
	}
	if o.detach {
		fmt.Fprintln(e.stdout, b.ID)
		return nil
	}
	fmt.Fprintf(e.stderr, "rgrid: batch %s: %d items\n", b.ID, b.Size)
	w := watchFlags{outputs: o.outputs, noOutputs: o.noOutputs, followAll: o.batch.followAll, cancelOnInterrupt: o.cancelOnInterrupt}
	return w.watch(ctx, e, s, b.ID)
}

// addBatchFiles makes one item per file of the working directory that
// glob matches: each is taken out of the shared inputs and sent as its
// item's own file (a file the ignore rules leave out is still an item:
// the user named it).
func addBatchFiles(req *client.BatchRequest, p *prepared, glob string) error {
	if p.files == nil {
		return userErr("drop --no-workdir", "--batch needs the working directory")
	}
	root := p.files.plan.Root
	matches, err := expandBatchGlob(root, glob)
	if err != nil {
		return err
	}
	items := make(map[string]bool, len(matches))
	for _, m := range matches {
		if m == p.files.script {
			return userErr("narrow the pattern so that it leaves out the script, e.g. 'data/*.csv'",
				"--batch %q matches the script %s itself", glob, m)
		}
		items[m] = true
	}
	shared := &client.Manifest{}
	byPath := map[string]client.FileEntry{}
	for _, fe := range p.req.Inputs.Entries {
		if items[fe.Path] && fe.Kind == string(workdir.KindFile) {
			byPath[fe.Path] = fe
			continue
		}
		shared.Entries = append(shared.Entries, fe)
	}
	req.Job.Inputs = shared
	extra := map[string]workdir.Entry{}
	for _, m := range matches {
		fe, ok := byPath[m]
		if !ok {
			we, err := hashEntry(root, m)
			if err != nil {
				return userErr("check the file's permissions", "--batch: read %s: %v", m, err)
			}
			extra[we.SHA256] = we
			p.refs = append(p.refs, client.BlobRef{SHA256: we.SHA256, Size: we.Size})
			fe = client.FileEntry{Path: we.Path, Kind: string(we.Kind), Size: we.Size, SHA256: we.SHA256, Executable: we.Executable}
		}
		req.Files = append(req.Files, fe)
	}
	if len(extra) > 0 {
		open := p.open
		p.open = func(hash string) (io.ReadCloser, error) {
			if we, ok := extra[hash]; ok {
				return workdir.Open(root, we)
			}
			return open(hash)
		}
	}
	return nil
}

// hashEntry is the manifest entry of the regular file rel under root.
func hashEntry(root, rel string) (workdir.Entry, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return workdir.Entry{}, err
	}
	defer r.Close() //nolint:errcheck // only read
	f, err := r.Open(filepath.FromSlash(rel))
	if err != nil {
		return workdir.Entry{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return workdir.Entry{}, err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return workdir.Entry{}, err
	}
	return workdir.Entry{Path: path.Clean(rel), Kind: workdir.KindFile, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)),
		Executable: fi.Mode()&0o111 != 0}, nil
}

// newIdempotencyKey names one invocation's submission: a retried POST
// with it creates the batch once.
func newIdempotencyKey() string {
	return "cli-" + rand.Text()
}

// submitBatch uploads what the server lacks and submits req, trying the
// POST again with the same idempotency key after a network failure (the
// batch may have been created: the key makes the retry find it), and
// sending blobs again, once, when the server swept one meanwhile.
func submitBatch(ctx context.Context, up uploader, req client.BatchRequest, refs []client.BlobRef, open func(string) (io.ReadCloser, error)) (client.Batch, error) {
	if _, err := up.send(ctx, refs, open); err != nil {
		return client.Batch{}, err
	}
	resent := false
	for try := 0; ; try++ {
		if try > 0 && !sleepCtx(ctx, backoffFor(try)) {
			return client.Batch{}, ctx.Err()
		}
		b, _, err := up.c.SubmitBatchRun(ctx, req)
		var apiErr *client.Error
		switch {
		case err == nil:
			return b, nil
		case client.IsCode(err, client.CodeBlobMissing) && !resent:
			resent = true
			if _, err := up.send(ctx, refs, open); err != nil {
				return client.Batch{}, err
			}
			continue
		case errors.As(err, &apiErr) && apiErr.Status/100 == 4, ctx.Err() != nil, try >= 4:
			return client.Batch{}, err
		}
	}
}
