package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
)

// writeRecorder keeps every Write it is given, in order, across the
// writers that share it.
type writeRecorder struct {
	mu     sync.Mutex
	writes []string
	wrote  chan struct{} // signalled after each write
}

func newWriteRecorder() *writeRecorder { return &writeRecorder{wrote: make(chan struct{}, 1)} }

type recorded struct {
	r      *writeRecorder
	prefix string
}

func (w recorded) Write(p []byte) (int, error) {
	w.r.mu.Lock()
	w.r.writes = append(w.r.writes, w.prefix+string(p))
	w.r.mu.Unlock()
	select {
	case w.r.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (r *writeRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.writes...)
}

func sseChunk(t *testing.T, id int64, stream client.Stream, data string) string {
	t.Helper()
	b, err := json.Marshal(client.LogChunk{ID: id, Stream: stream, Seq: id, Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("id: %d\nevent: chunk\ndata: %s\n\n", id, b)
}

func sseEnd(t *testing.T, next int64) string {
	t.Helper()
	b, err := json.Marshal(client.LogEnd{State: client.StateSucceeded, Next: next})
	if err != nil {
		t.Fatal(err)
	}
	return "event: end\ndata: " + string(b) + "\n\n"
}

// Chunks that arrive together reach a stdout that is not a terminal in
// one write, and stderr never overtakes stdout written before it.
func TestFollowBuffersStdoutAndKeepsStreamOrder(t *testing.T) {
	t.Parallel()
	var body strings.Builder
	var want []string
	id := int64(0)
	for range 50 {
		id++
		body.WriteString(sseChunk(t, id, client.Stdout, fmt.Sprintf("line %d\n", id)))
	}
	id++
	body.WriteString(sseChunk(t, id, client.Stderr, "warning\n"))
	id++
	body.WriteString(sseChunk(t, id, client.Stdout, "after\n"))
	body.WriteString(sseEnd(t, id))
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte(body.String())) // one write: the chunks arrive together
	}))
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	rec := newWriteRecorder()
	if err := follow(t.Context(), c, "job_1", nil, recorded{rec, "out:"}, recorded{rec, "err:"}); err != nil {
		t.Fatal(err)
	}
	var first strings.Builder
	first.WriteString("out:")
	for i := 1; i <= 50; i++ {
		fmt.Fprintf(&first, "line %d\n", i)
	}
	want = []string{first.String(), "err:warning\n", "out:after\n"}
	got := rec.all()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("writes =\n%q\nwant\n%q", got, want)
	}
}

// A chunk is written out as soon as nothing more is pending, so
// following a slow job to a file or a pipe stays live: the server here
// sends the end only after the first chunk has reached stdout.
func TestFollowFlushesStdoutWhenTheStreamWaits(t *testing.T) {
	t.Parallel()
	rec := newWriteRecorder()
	delivered := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte(sseChunk(t, 1, client.Stdout, "first\n")))
		w.(http.Flusher).Flush()
		select {
		case <-delivered:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write([]byte(sseChunk(t, 2, client.Stdout, "second\n") + sseEnd(t, 2)))
	}))
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- follow(t.Context(), c, "job_1", nil, recorded{rec, ""}, recorded{rec, "err:"}) }()
	deadline := time.After(30 * time.Second)
	for len(rec.all()) == 0 {
		select {
		case <-rec.wrote:
		case err := <-done:
			t.Fatalf("follow ended (%v) before the server sent the end", err)
		case <-deadline:
			t.Fatal("the first chunk never reached stdout while the stream waited")
		}
	}
	if got := rec.all(); len(got) != 1 || got[0] != "first\n" {
		t.Fatalf("writes while waiting = %q, want [\"first\\n\"]", got)
	}
	close(delivered)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rec.all(), ""); got != "first\nsecond\n" {
		t.Errorf("stdout = %q, want first and second", got)
	}
}
