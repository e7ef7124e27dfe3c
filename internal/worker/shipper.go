package worker

import (
	"bytes"
	"context"
	"fmt"
	"github.com/rgrid/rgrid/internal/bytesize"
	"sync"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/startstop"
)

// shipper collects one attempt's stdout and stderr and uploads them in
// order, in batches, retrying failed uploads with the same sequence numbers
// so the server stores every chunk exactly once.
//
// Output is sent as soon as it is written: while one upload is in flight
// the next batch fills, so a quiet script's line reaches the server at
// once and a chatty one's output travels in few large requests. What waits
// to be sent is bounded (maxPending): a writer blocks until the uploads
// catch up, which holds the script back like a slow terminal would, and
// the worker's memory stays bounded whatever the script prints. Past the
// attempt's log limit output is read and dropped, so the script runs on.
type shipper struct {
	startstop.Base
	up       uploader
	ref      client.AttemptRef
	maxBytes int64
	onStop   func() // called when the server says the attempt must stop

	mu        sync.Mutex
	room      *sync.Cond // signalled when pending shrinks or the shipper stops
	pending   []client.LogChunk
	pendBytes int
	seq       map[client.Stream]int64
	total     int64
	truncated bool
	stopped   bool   // run has returned: nothing more will be sent
	tail      []byte // the last stderrTail bytes of stderr, stored or not
	wake      chan struct{}
	closed    chan struct{}
	err       error // set when the server refused the attempt
}

type uploader interface {
	UploadLogs(ctx context.Context, ref client.AttemptRef, up client.LogUpload) (client.AttemptStatus, error)
}

const (
	// maxChunk bounds one stored chunk; a line without a newline is cut
	// into pieces of this size.
	maxChunk = 64 << 10
	// maxBatch bounds one upload request.
	maxBatch = 4 << 20
	// maxPending bounds the output waiting to be sent.
	maxPending = 8 << 20
	// stderrTail is how much of stderr is kept to summarise a failure.
	stderrTail = 16 << 10
)

func newShipper(up uploader, ref client.AttemptRef, maxBytes int64, onStop func()) *shipper {
	s := &shipper{
		up: up, ref: ref, maxBytes: maxBytes, onStop: onStop,
		seq:    map[client.Stream]int64{},
		wake:   make(chan struct{}, 1),
		closed: make(chan struct{}),
	}
	s.room = sync.NewCond(&s.mu)
	return s
}

// writer returns an io.Writer for one stream.
func (s *shipper) writer(st client.Stream) *streamWriter { return &streamWriter{s: s, stream: st} }

type streamWriter struct {
	s      *shipper
	stream client.Stream
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.s.add(w.stream, p, true)
	return len(p), nil
}

// add appends output, merging into the stream's last pending chunk while it
// is small, and cuts it at the attempt's log limit with one notice. With
// wait, it first waits for room (RGrid's own lines never wait: they are
// few and short, and may be written from where waiting would deadlock).
func (s *shipper) add(st client.Stream, p []byte, wait bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st == client.Stderr {
		s.keepTail(p)
	}
	if s.truncated || s.stopped {
		return
	}
	for wait && s.pendBytes >= maxPending && !s.stopped {
		s.room.Wait()
	}
	if s.maxBytes > 0 && s.total+int64(len(p)) > s.maxBytes {
		keep := s.maxBytes - s.total
		s.appendLocked(st, p[:keep])
		s.truncated = true
		s.appendLocked(client.System, []byte(fmt.Sprintf(
			"rgrid: output truncated after %s (the job's log limit); the job goes on, but no more of its output is stored. Raise the limit with --log-limit, or write large output to files\n",
			bytesize.Format(s.maxBytes))))
		return
	}
	s.appendLocked(st, p)
}

func (s *shipper) keepTail(p []byte) {
	if len(p) >= stderrTail {
		s.tail = append(s.tail[:0], p[len(p)-stderrTail:]...)
		return
	}
	if over := len(s.tail) + len(p) - stderrTail; over > 0 {
		s.tail = append(s.tail[:0], s.tail[over:]...)
	}
	s.tail = append(s.tail, p...)
}

// stderrTail returns the end of what the script wrote to stderr.
func (s *shipper) stderrTail() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.tail)
}

func (s *shipper) appendLocked(st client.Stream, p []byte) {
	s.total += int64(len(p))
	s.pendBytes += len(p)
	for len(p) > 0 {
		if k := len(s.pending); k > 0 {
			last := &s.pending[k-1]
			if last.Stream == st && len(last.Data) < maxChunk {
				m := min(maxChunk-len(last.Data), len(p))
				last.Data = append(last.Data, p[:m]...)
				p = p[m:]
				continue
			}
		}
		m := min(maxChunk, len(p))
		s.seq[st]++
		s.pending = append(s.pending, client.LogChunk{
			Attempt: s.ref.Attempt, Stream: st, Seq: s.seq[st], Time: time.Now().UTC(),
			Data: append(make([]byte, 0, min(maxChunk, max(m, 4<<10))), p[:m]...),
		})
		p = p[m:]
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// system adds a line of RGrid's own to the log.
func (s *shipper) system(line string) { s.add(client.System, []byte(line+"\n"), false) }

// Start uploads until close is called and everything is sent, or the
// server refuses the attempt, or ctx ends, or Stop.
func (s *shipper) Start(ctx context.Context) error {
	ctx, ok, done := s.StartInit(ctx)
	if !ok {
		return nil
	}
	go func() {
		defer done()
		s.run(ctx)
	}()
	return nil
}

func (s *shipper) run(ctx context.Context) {
	defer func() {
		s.mu.Lock()
		s.stopped = true
		s.room.Broadcast()
		s.mu.Unlock()
	}()
	backoff := newBackoff()
	for {
		s.mu.Lock()
		// Sealing a batch: chunks in it are no longer appended to, so a
		// retry resends exactly the same bytes under the same sequence.
		batch, truncated := s.pending, s.truncated
		s.pending, s.pendBytes = nil, 0
		s.room.Broadcast()
		s.mu.Unlock()
		for len(batch) > 0 {
			n := batchLen(batch)
			uctx, cancel := context.WithTimeout(ctx, callTimeout)
			st, err := s.up.UploadLogs(uctx, s.ref, client.LogUpload{Chunks: batch[:n], Truncated: truncated && n == len(batch)})
			cancel()
			if client.IsCode(err, client.CodeStaleAttempt) || client.IsCode(err, client.CodeNotFound) {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
				s.onStop()
				return
			}
			if err != nil {
				if !backoff.wait(ctx) {
					return
				}
				continue
			}
			backoff.reset()
			if st.Stop {
				s.onStop()
			}
			batch = batch[n:]
		}
		select {
		case <-s.closed:
			s.mu.Lock()
			empty := len(s.pending) == 0
			s.mu.Unlock()
			if empty {
				return
			}
		case <-ctx.Done():
			return
		case <-s.wake:
		}
	}
}

// batchLen takes chunks up to about maxBatch bytes per request.
func batchLen(b []client.LogChunk) int {
	size := 0
	for i, c := range b {
		size += len(c.Data)
		if size > maxBatch && i > 0 {
			return i
		}
	}
	return len(b)
}

// close flushes what is pending and waits for the uploads to finish. It
// returns the server's refusal if there was one.
func (s *shipper) close() error {
	close(s.closed)
	if stopped := s.Stopped(); stopped != nil {
		<-stopped
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// resume continues the sequence numbers and byte count of what the server
// already has of this attempt (after a worker restart).
func (s *shipper) resume(offsets map[client.Stream]client.LogOffset) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for st, o := range offsets {
		s.seq[st] = o.LastSeq
		s.total += o.Bytes
	}
}
