package worker

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
)

// flakyServer stores chunks like the server does (deduplicated by stream
// and seq) and fails every other upload.
type flakyServer struct {
	mu     sync.Mutex
	calls  int
	seen   map[client.Stream]map[int64]bool
	stored []client.LogChunk
	stale  bool
}

func (f *flakyServer) UploadLogs(ctx context.Context, ref client.AttemptRef, chunks []client.LogChunk) (client.AttemptStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.stale {
		return client.AttemptStatus{}, &client.Error{Status: 409, Code: client.CodeStaleAttempt}
	}
	fail := f.calls%2 == 1
	for _, c := range chunks {
		if f.seen[c.Stream][c.Seq] {
			continue
		}
		if f.seen[c.Stream] == nil {
			f.seen[c.Stream] = map[int64]bool{}
		}
		f.seen[c.Stream][c.Seq] = true
		f.stored = append(f.stored, c)
	}
	if fail { // stored, but the answer is lost: the retry must not double it
		return client.AttemptStatus{}, errors.New("connection reset")
	}
	return client.AttemptStatus{}, nil
}

func (f *flakyServer) text(st client.Stream) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b bytes.Buffer
	for _, c := range f.stored {
		if c.Stream == st {
			b.Write(c.Data)
		}
	}
	return b.String()
}

func TestShipperRetriesWithoutLossOrDoubles(t *testing.T) {
	t.Parallel()
	up := &flakyServer{seen: map[client.Stream]map[int64]bool{}}
	s := newShipper(up, client.AttemptRef{JobID: "j", Attempt: 1}, 0, time.Millisecond, func() {})
	go s.run(t.Context())
	var wantOut, wantErr strings.Builder
	out, errw := s.writer(client.Stdout), s.writer(client.Stderr)
	for i := range 2000 {
		line := strings.Repeat("x", i%200) + "\n"
		out.Write([]byte(line))
		wantOut.WriteString(line)
		if i%3 == 0 {
			errw.Write([]byte("e" + line))
			wantErr.WriteString("e" + line)
		}
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if got := up.text(client.Stdout); got != wantOut.String() {
		t.Errorf("stdout: got %d bytes, want %d", len(got), wantOut.Len())
	}
	if got := up.text(client.Stderr); got != wantErr.String() {
		t.Errorf("stderr: got %d bytes, want %d", len(got), wantErr.Len())
	}
}

func TestShipperTruncatesAtLimit(t *testing.T) {
	t.Parallel()
	up := &flakyServer{seen: map[client.Stream]map[int64]bool{}}
	s := newShipper(up, client.AttemptRef{JobID: "j", Attempt: 1}, 100, time.Millisecond, func() {})
	go s.run(t.Context())
	w := s.writer(client.Stdout)
	for range 50 {
		w.Write([]byte("0123456789"))
	}
	_ = s.close()
	if got := up.text(client.Stdout); len(got) != 100 {
		t.Errorf("kept %d bytes, want 100", len(got))
	}
	if sys := up.text(client.System); !strings.Contains(sys, "truncated after 100 bytes") {
		t.Errorf("system stream = %q, want a truncation notice", sys)
	}
}

func TestShipperStopsOnStaleAttempt(t *testing.T) {
	t.Parallel()
	up := &flakyServer{seen: map[client.Stream]map[int64]bool{}, stale: true}
	stopped := make(chan struct{})
	s := newShipper(up, client.AttemptRef{JobID: "j", Attempt: 1}, 0, time.Millisecond, func() { close(stopped) })
	go s.run(t.Context())
	s.writer(client.Stdout).Write([]byte("late output\n"))
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("a refused upload did not stop the attempt")
	}
	if err := s.close(); !client.IsCode(err, client.CodeStaleAttempt) {
		t.Errorf("close = %v, want the refusal", err)
	}
}
