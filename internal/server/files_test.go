package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/blob"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/server"
)

type filesBundle struct {
	bundle
	srv   *server.Server
	blobs *blob.Local
	clock *time.Time
}

func setupFiles(t *testing.T) filesBundle {
	t.Helper()
	st, err := database.Open(t.Context(), filepath.Join(t.TempDir(), "rgrid.db"), database.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bs, err := blob.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rt, _ := runtimes.New(nil)
	srv := server.New(st, rt, slog.New(slog.DiscardHandler), server.Options{Blobs: bs, Now: func() time.Time { return now }})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	return filesBundle{bundle: bundle{c: c, url: ts.URL}, srv: srv, blobs: bs, clock: &now}
}

func ref(data []byte) client.BlobRef {
	sum := sha256.Sum256(data)
	return client.BlobRef{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
}

// upload sends what the server lacks of blobs and returns how many it
// lacked.
func (b filesBundle) upload(t *testing.T, blobs ...[]byte) int {
	t.Helper()
	var refs []client.BlobRef
	byHash := map[string][]byte{}
	for _, d := range blobs {
		r := ref(d)
		refs = append(refs, r)
		byHash[r.SHA256] = d
	}
	missing, err := b.c.MissingBlobs(t.Context(), refs)
	if err != nil {
		t.Fatal(err)
	}
	for _, up := range missing {
		if err := b.c.UploadBlob(t.Context(), up, bytes.NewReader(byHash[up.SHA256])); err != nil {
			t.Fatalf("upload %s: %v", up.SHA256, err)
		}
	}
	return len(missing)
}

func (b filesBundle) stats(t *testing.T) server.Stats {
	t.Helper()
	var st server.Stats
	resp, err := httpGetJSON(b.url+"/v1/stats", &st)
	if err != nil || resp != 200 {
		t.Fatalf("stats: %d %v", resp, err)
	}
	return st
}

func TestBlobsUploadOnlyWhatIsMissing(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	one, two := []byte("print('one')\n"), bytes.Repeat([]byte("x"), 1<<20)
	if n := b.upload(t, one, two); n != 2 {
		t.Fatalf("first upload sent %d blobs, want 2", n)
	}
	if n := b.upload(t, one, two); n != 0 {
		t.Fatalf("second upload sent %d blobs, want none", n)
	}
	if st := b.stats(t); st.Blobs.Uploads != 2 || st.Blobs.UploadBytes != int64(len(one)+len(two)) {
		t.Errorf("stats %+v, want 2 uploads of %d bytes", st.Blobs, len(one)+len(two))
	}

	// Bytes that are not the blob are refused and nothing is stored.
	bad := ref([]byte("the real content"))
	missing, err := b.c.MissingBlobs(t.Context(), []client.BlobRef{bad})
	if err != nil || len(missing) != 1 {
		t.Fatalf("missing: %v %v", missing, err)
	}
	err = b.c.UploadBlob(t.Context(), missing[0], strings.NewReader("other content!!!"))
	if !client.IsCode(err, client.CodeBlobMismatch) {
		t.Fatalf("wrong bytes: %v, want %s", err, client.CodeBlobMismatch)
	}
	if _, err := b.blobs.Stat(t.Context(), bad.SHA256); err == nil {
		t.Error("a mismatched upload was stored")
	}

	// Downloads resume from an offset.
	rc, size, err := b.c.OpenBlob(t.Context(), ref(two).SHA256, 1000)
	if err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(rc)
	rc.Close()
	if size != int64(len(two)) || !bytes.Equal(rest, two[1000:]) {
		t.Errorf("resumed download: size %d, %d bytes", size, len(rest))
	}
	if _, _, err := b.c.OpenBlob(t.Context(), strings.Repeat("0", 64), 0); !client.IsCode(err, client.CodeNotFound) {
		t.Errorf("unknown blob: %v", err)
	}
}

// A job's working directory: its blobs must be uploaded first, the script
// must be its file, the worker gets the manifest, and the outputs come
// back with the result.
func TestJobFilesRoundTrip(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	script, data := []byte("print(open('data/in.csv').read())\n"), []byte("a,b\n1,2\n")
	inputs := &client.Manifest{Entries: []client.FileEntry{
		{Path: "data/in.csv", Kind: "file", Size: int64(len(data)), SHA256: ref(data).SHA256},
		{Path: "src/analyze.py", Kind: "file", Size: int64(len(script)), SHA256: ref(script).SHA256},
	}}
	req := client.SubmitRequest{Script: script, FileName: "src/analyze.py", Inputs: inputs}
	_, err := b.c.Submit(t.Context(), req)
	if !client.IsCode(err, client.CodeBlobMissing) {
		t.Fatalf("submit before upload: %v, want %s", err, client.CodeBlobMissing)
	}
	b.upload(t, script, data)

	bad := req
	bad.Script = []byte("print('other')\n")
	if _, err := b.c.Submit(t.Context(), bad); !client.IsCode(err, client.CodeInvalidRequest) {
		t.Errorf("a script not the manifest's: %v", err)
	}
	escape := req
	escape.Inputs = &client.Manifest{Entries: append([]client.FileEntry{{Path: "../etc/x", Kind: "file", Size: 1, SHA256: ref(data).SHA256}}, inputs.Entries...)}
	if _, err := b.c.Submit(t.Context(), escape); !client.IsCode(err, client.CodeInvalidManifest) {
		t.Errorf("a path out of the tree: %v", err)
	}

	job, err := b.c.Submit(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	lj := b.leaseOne(t, "w1")
	if lj.Inputs == nil || len(lj.Inputs.Entries) != 2 || lj.Job.FileName != "src/analyze.py" {
		t.Fatalf("leased inputs %+v, file %q", lj.Inputs, lj.Job.FileName)
	}

	out := []byte(`{"rows": 1}`)
	outputs := &client.Manifest{Entries: []client.FileEntry{{Path: "out/summary.json", Kind: "file", Size: int64(len(out)), SHA256: ref(out).SHA256}}}
	zero := 0
	res := client.ResultReport{State: client.StateSucceeded, ExitCode: &zero, Started: true, Outputs: outputs,
		OutputsSkipped: []client.SkippedOutput{{Path: "fifo", Reason: "a FIFO"}}}
	ar := client.AttemptRef{JobID: job.ID, Attempt: lj.Attempt}
	if _, err := b.c.ReportResult(t.Context(), ar, res); !client.IsCode(err, client.CodeBlobMissing) {
		t.Fatalf("outputs before their upload: %v, want %s", err, client.CodeBlobMissing)
	}
	b.upload(t, out)
	if _, err := b.c.ReportResult(t.Context(), ar, res); err != nil {
		t.Fatal(err)
	}
	got, err := b.c.JobOutputs(t.Context(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Outputs == nil || len(got.Outputs.Entries) != 1 || got.Outputs.Entries[0].Path != "out/summary.json" || len(got.Skipped) != 1 {
		t.Errorf("outputs %+v", got)
	}
	j, err := b.c.Job(t.Context(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if f := j.Files; f == nil || f.Inputs == nil || f.Inputs.Files != 2 || f.Outputs == nil || f.Outputs.Bytes != int64(len(out)) || f.OutputsSkipped != 1 {
		t.Errorf("files summary %+v", j.Files)
	}

	// Retention: past the period, only the blobs no job names go.
	orphan := []byte("uploaded, never used")
	b.upload(t, orphan)
	*b.clock = b.clock.Add(8 * 24 * time.Hour)
	swept, err := b.srv.SweepBlobs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if swept.Deleted != 1 {
		t.Errorf("swept %+v, want the one orphan deleted", swept)
	}
	for _, d := range [][]byte{script, data, out} {
		if _, err := b.blobs.Stat(t.Context(), ref(d).SHA256); err != nil {
			t.Errorf("a referenced blob was swept: %v", err)
		}
	}
	if _, err := b.blobs.Stat(t.Context(), ref(orphan).SHA256); err == nil {
		t.Error("the orphan survived the sweep")
	}
}

// A server without a blob store refuses a job with files, saying how to
// give it one.
func TestNoBlobStoreRefusesFiles(t *testing.T) {
	t.Parallel()
	b := setup(t, server.Options{})
	_, err := b.c.Submit(t.Context(), client.SubmitRequest{Script: []byte("x"), FileName: "x.py",
		Stdin: &client.BlobRef{SHA256: strings.Repeat("a", 64), Size: 1}})
	if !client.IsCode(err, client.CodeInvalidRequest) || !strings.Contains(err.Error(), "keeps no files") {
		t.Fatalf("%v", err)
	}
}

func httpGetJSON(url string, v any) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}
