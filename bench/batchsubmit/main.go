// Command batchsubmit measures how long a batch of N items takes to be
// accepted through the API (POST /v1/batches, one request): an rgrid
// server in this process, listening on a loopback port, over PostgreSQL
// (a fresh database on the cluster of RGRID_TEST_POSTGRES_URL) and over
// SQLite (a file in a temporary directory), with a local blob store.
// Two kinds of batch, each timed from the request sent to the answer
// received:
//
//   - array: N array indexes of a no-op script (`--array 0-9999`);
//   - files: N input files of their own (`--batch 'data/*.csv'`) beside a
//     shared working directory of the script; the N blobs are uploaded
//     before the clock starts, as `rgrid run` uploads before it submits.
//
// No worker runs: what is measured is the submission, the server's checks
// (one question to the blob store for all the items) and the store's
// insert of N jobs in one transaction.
//
//	go run ./bench/batchsubmit -n 10000 -runs 3   # PostgreSQL needs RGRID_TEST_POSTGRES_URL
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rgrid/rgrid/bench/internal/benchkit"
	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/blob"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/server"
)

func figure(kind, dialect string) benchkit.Figure {
	return benchkit.Figure{Name: "batch.submit." + kind + "." + dialect, Unit: "s", Target: "<=5",
		Desc: fmt.Sprintf("POST /v1/batches of 10,000 %s items accepted, server on %s", kind, dialect)}
}

type options struct {
	n, runs int
	dbs     string
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 10_000, "items per batch")
	flag.IntVar(&o.runs, "runs", benchkit.Runs(3), "runs of each kind")
	flag.StringVar(&o.dbs, "db", "postgres,sqlite", "databases to measure, comma-separated")
	flag.Parse()
	benchkit.Main("batchsubmit", 10*time.Minute, func(ctx context.Context) error { return run(ctx, o) })
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "rgrid-bench-batchsubmit-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, db := range strings.Split(o.dbs, ",") {
		var url string
		switch db {
		case "sqlite":
			url = "sqlite://" + filepath.Join(dir, "rgrid.db")
		case "postgres":
			admin, err := benchkit.AdminURL()
			if err != nil {
				figure("array", db).NotMeasured(err.Error())
				figure("files", db).NotMeasured(err.Error())
				continue
			}
			u, drop, err := benchkit.CreateDB(ctx, admin, "rgrid_bench_batch")
			if err != nil {
				return err
			}
			defer drop()
			url = u
		default:
			return fmt.Errorf("unknown database %q: postgres or sqlite", db)
		}
		if err := measure(ctx, o, db, url, filepath.Join(dir, "blobs-"+db)); err != nil {
			return fmt.Errorf("%s: %w", db, err)
		}
	}
	return nil
}

func measure(ctx context.Context, o options, dialect, url, blobDir string) error {
	st, err := database.Open(ctx, url, database.Options{Migrate: true})
	if err != nil {
		return err
	}
	defer st.Close()
	bs, err := blob.OpenLocal(blobDir)
	if err != nil {
		return err
	}
	rt, err := runtimes.New(nil)
	if err != nil {
		return err
	}
	srv := server.New(st, rt, slog.New(slog.DiscardHandler), server.Options{Blobs: bs})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close() //nolint:errcheck // the listener goes with the program
	c, err := client.New("http://"+ln.Addr().String(), "")
	if err != nil {
		return err
	}

	script := []byte("pass\n")
	shared := &client.Manifest{Entries: []client.FileEntry{entry("noop.py", script)}}
	files := make([]client.FileEntry, o.n)
	blobs := map[string][]byte{ref(script).SHA256: script}
	for i := range files {
		data := fmt.Appendf(nil, "input %d\n", i)
		files[i] = entry(fmt.Sprintf("data/%05d.csv", i), data)
		blobs[files[i].SHA256] = data
	}
	start := time.Now()
	if err := upload(ctx, c, blobs); err != nil {
		return err
	}
	fmt.Printf("%s: %d blobs uploaded in %.2f s (not timed)\n", dialect, len(blobs), time.Since(start).Seconds())

	job := client.SubmitRequest{Script: script, FileName: "noop.py"}
	array := make([]int, o.n)
	for i := range array {
		array[i] = i
	}
	kinds := []struct {
		name string
		req  client.BatchRequest
	}{
		{"array", client.BatchRequest{Job: job, Array: array}},
		{"files", client.BatchRequest{Job: withInputs(job, shared), Files: files}},
	}
	for run := range o.runs {
		for _, k := range kinds {
			start := time.Now()
			b, created, err := c.SubmitBatchRun(ctx, k.req)
			took := time.Since(start)
			if err != nil {
				return fmt.Errorf("submit a %s batch: %w", k.name, err)
			}
			if !created || b.Size != o.n || b.Counts.Queued != o.n {
				return fmt.Errorf("submit a %s batch: %+v (created %v)", k.name, b, created)
			}
			fmt.Printf("%s run %d: %d %s items accepted in %.3f s\n", dialect, run+1, o.n, k.name, took.Seconds())
			figure(k.name, dialect).Report(took.Seconds())
			// Keep the queue as it was for the next run.
			if _, err := c.CancelBatch(ctx, b.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

func withInputs(j client.SubmitRequest, m *client.Manifest) client.SubmitRequest {
	j.Inputs = m
	return j
}

func ref(data []byte) client.BlobRef {
	sum := sha256.Sum256(data)
	return client.BlobRef{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
}

func entry(p string, data []byte) client.FileEntry {
	r := ref(data)
	return client.FileEntry{Path: p, Kind: "file", Size: r.Size, SHA256: r.SHA256}
}

// upload sends the blobs the server lacks, asking about at most 10,000 at
// a time.
func upload(ctx context.Context, c *client.Client, blobs map[string][]byte) error {
	var refs []client.BlobRef
	for _, d := range blobs {
		refs = append(refs, ref(d))
	}
	for len(refs) > 0 {
		n := min(len(refs), 10_000)
		missing, err := c.MissingBlobs(ctx, refs[:n])
		if err != nil {
			return err
		}
		for _, up := range missing {
			d, ok := blobs[up.SHA256]
			if !ok {
				return errors.New("the server asks for a blob not sent")
			}
			if err := c.UploadBlob(ctx, up, strings.NewReader(string(d))); err != nil {
				return err
			}
		}
		refs = refs[n:]
	}
	return nil
}
