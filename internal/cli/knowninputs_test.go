package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/blob"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/server"
)

// The re-run of an unchanged project names its inputs by their
// manifest's hash alone: no manifest is sent and no blob asked about. A
// changed project is not known: its manifest goes in full, and only the
// changed file is uploaded.
func TestRerunSendsOnlyTheManifestHash(t *testing.T) {
	t.Setenv("RGRID_CACHE_DIR", t.TempDir())
	dir := t.TempDir()
	st, err := database.Open(t.Context(), filepath.Join(dir, "grid.db"), database.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bs, err := blob.OpenLocal(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := runtimes.New(nil)
	h := server.New(st, rt, slog.New(slog.DiscardHandler), server.Options{Blobs: bs}).Handler()
	type call struct {
		method, path string
		inputs, hash bool // the body had "inputs", "inputs_sha256"
		status       int
	}
	var (
		mu    sync.Mutex
		calls []call
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := call{method: r.Method, path: r.URL.Path}
		if r.Method == http.MethodPost && r.URL.Path == "/v1/jobs" {
			body, _ := io.ReadAll(r.Body)
			var fields map[string]json.RawMessage
			_ = json.Unmarshal(body, &fields)
			_, c.inputs = fields["inputs"]
			_, c.hash = fields["inputs_sha256"]
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		c.status = rec.status
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
	}))
	t.Cleanup(ts.Close)
	taken := func() []call {
		mu.Lock()
		defer mu.Unlock()
		out := calls
		calls = nil
		return out
	}

	proj := filepath.Join(dir, "proj")
	for name, text := range map[string]string{"main.py": "print(open('data/a.txt').read())\n", "data/a.txt": "one\n", "data/b.txt": "two\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(proj, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proj, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	empty := filepath.Join(dir, "empty.toml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	runDetached := func(what string) (string, []call) {
		t.Helper()
		out := rgrid(t, nil, "--config", empty, "--server", ts.URL, "run", "--detach", "--workdir", proj,
			filepath.Join(proj, "main.py")).ok(t, what)
		return strings.TrimSpace(out), taken()
	}
	count := func(cs []call, method, path string) int {
		n := 0
		for _, c := range cs {
			if c.method == method && (c.path == path || strings.HasPrefix(c.path, path+"/")) {
				n++
			}
		}
		return n
	}
	submits := func(cs []call) []call {
		var out []call
		for _, c := range cs {
			if c.method == http.MethodPost && c.path == "/v1/jobs" {
				out = append(out, c)
			}
		}
		return out
	}

	// First run: the hash is not known; the manifest and every blob go.
	first, cs := runDetached("first run")
	sub := submits(cs)
	if len(sub) != 2 || !sub[0].hash || sub[0].inputs || sub[0].status != http.StatusBadRequest ||
		!sub[1].inputs || sub[1].status != http.StatusCreated {
		t.Fatalf("first run's submissions %+v: want the hash refused, then the inputs accepted", sub)
	}
	if n := count(cs, http.MethodPut, "/v1/blobs"); n != 3 {
		t.Errorf("first run uploaded %d blobs, want 3", n)
	}

	// Unchanged: one submission by hash, nothing else about files.
	second, cs := runDetached("unchanged re-run")
	sub = submits(cs)
	if len(sub) != 1 || !sub[0].hash || sub[0].inputs || sub[0].status != http.StatusCreated {
		t.Fatalf("unchanged re-run's submissions %+v: want one, by hash alone", sub)
	}
	if n := count(cs, http.MethodPost, "/v1/blobs/missing") + count(cs, http.MethodPut, "/v1/blobs"); n != 0 {
		t.Errorf("the unchanged re-run asked about or sent blobs: %+v", cs)
	}
	if second == first {
		t.Fatal("the re-run made no new job")
	}
	c, err := client.New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	in1, err := c.JobInputs(t.Context(), first)
	if err != nil {
		t.Fatal(err)
	}
	in2, err := c.JobInputs(t.Context(), second)
	if err != nil {
		t.Fatal(err)
	}
	if in2 == nil || len(in2.Entries) != len(in1.Entries) || len(in2.Entries) != 3 {
		t.Fatalf("the re-run's inputs %+v, want the first run's %+v", in2, in1)
	}

	// A changed file: a new manifest, sent in full, and only that file.
	if err := os.WriteFile(filepath.Join(proj, "data", "b.txt"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, cs = runDetached("changed run")
	sub = submits(cs)
	if len(sub) != 2 || sub[0].status != http.StatusBadRequest || !sub[1].inputs || sub[1].status != http.StatusCreated {
		t.Fatalf("changed run's submissions %+v", sub)
	}
	if n := count(cs, http.MethodPut, "/v1/blobs"); n != 1 {
		t.Errorf("changed run uploaded %d blobs, want 1", n)
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
