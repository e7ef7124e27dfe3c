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
	// truncated: an upload said the output reached the limit.
	truncated bool
}

func (f *flakyServer) UploadLogs(ctx context.Context, ref client.AttemptRef, up client.LogUpload) (client.AttemptStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	chunks := up.Chunks
	f.calls++
	f.truncated = f.truncated || up.Truncated
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
	s := newShipper(up, client.AttemptRef{JobID: "j", Attempt: 1}, 0, func() {})
	_ = s.Start(t.Context())
	t.Cleanup(s.Stop)
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
	s := newShipper(up, client.AttemptRef{JobID: "j", Attempt: 1}, 100, func() {})
	_ = s.Start(t.Context())
	t.Cleanup(s.Stop)
	w := s.writer(client.Stdout)
	for range 50 {
		w.Write([]byte("0123456789"))
	}
	_ = s.close()
	if got := up.text(client.Stdout); len(got) != 100 {
		t.Errorf("kept %d bytes, want 100", len(got))
	}
	if sys := up.text(client.System); !strings.Contains(sys, "truncated after 100 bytes (the job's log limit)") {
		t.Errorf("system stream = %q, want a truncation notice", sys)
	}
	if !up.truncated {
		t.Error("no upload told the server the output was truncated")
	}
}

func TestShipperStopsOnStaleAttempt(t *testing.T) {
	t.Parallel()
	up := &flakyServer{seen: map[client.Stream]map[int64]bool{}, stale: true}
	stopped := make(chan struct{})
	s := newShipper(up, client.AttemptRef{JobID: "j", Attempt: 1}, 0, func() { close(stopped) })
	_ = s.Start(t.Context())
	t.Cleanup(s.Stop)
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

// gatedServer holds every upload until the gate opens.
type gatedServer struct {
	gate chan struct{}
	mu   sync.Mutex
	got  int
}

func (g *gatedServer) UploadLogs(ctx context.Context, ref client.AttemptRef, up client.LogUpload) (client.AttemptStatus, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return client.AttemptStatus{}, ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range up.Chunks {
		g.got += len(c.Data)
	}
	return client.AttemptStatus{}, nil
}

// TestShipperBoundsMemory: a script printing faster than the server takes
// its output is held back; what waits stays bounded, and nothing is lost.
func TestShipperBoundsMemory(t *testing.T) {
	t.Parallel()
	up := &gatedServer{gate: make(chan struct{})}
	s := newShipper(up, client.AttemptRef{JobID: "j", Attempt: 1}, 0, func() {})
	_ = s.Start(t.Context())
	t.Cleanup(s.Stop)
	const write, total = 32 << 10, 64 << 20
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		w := s.writer(client.Stdout)
		buf := bytes.Repeat([]byte("y\n"), write/2)
		for range total / write {
			w.Write(buf)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case <-wrote:
		t.Fatal("64 MiB were accepted while the server took nothing")
	default:
	}
	s.mu.Lock()
	held := s.pendBytes
	s.mu.Unlock()
	if held > maxPending+write {
		t.Fatalf("%d bytes pending, over the bound of %d", held, maxPending+write)
	}
	close(up.gate)
	<-wrote
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if up.got != total {
		t.Errorf("server got %d bytes, want %d", up.got, total)
	}
}

// TestShipperWritersNotStuck: once the shipper has stopped (the attempt's
// context ended), a writer waiting for room returns.
func TestShipperWritersNotStuck(t *testing.T) {
	t.Parallel()
	up := &gatedServer{gate: make(chan struct{})}
	s := newShipper(up, client.AttemptRef{JobID: "j", Attempt: 1}, 0, func() {})
	ctx, cancel := context.WithCancel(t.Context())
	_ = s.Start(ctx)
	t.Cleanup(s.Stop)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w := s.writer(client.Stderr)
		for range 1000 {
			w.Write(make([]byte, 64<<10))
		}
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a writer stayed blocked after the shipper stopped")
	}
	if got := len(s.stderrTail()); got != stderrTail {
		t.Errorf("stderr tail is %d bytes, want %d", got, stderrTail)
	}
}
