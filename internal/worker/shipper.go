package worker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rgrid/rgrid/client"
)

// shipper collects one attempt's stdout and stderr and uploads them in
// order, in batches, retrying failed uploads with the same sequence numbers
// so the server stores every chunk exactly once.
type shipper struct {
	up       uploader
	ref      client.AttemptRef
	maxBytes int64
	interval time.Duration
	onStop   func() // called when the server says the attempt must stop

	mu        sync.Mutex
	pending   []client.LogChunk
	seq       map[client.Stream]int64
	total     int64
	truncated bool
	wake      chan struct{}
	closed    chan struct{}
	done      chan struct{}
	err       error // set when the server refused the attempt
}

type uploader interface {
	UploadLogs(ctx context.Context, ref client.AttemptRef, chunks []client.LogChunk) (client.AttemptStatus, error)
}

const maxChunk = 64 << 10

func newShipper(up uploader, ref client.AttemptRef, maxBytes int64, interval time.Duration, onStop func()) *shipper {
	return &shipper{
		up: up, ref: ref, maxBytes: maxBytes, interval: interval, onStop: onStop,
		seq:    map[client.Stream]int64{},
		wake:   make(chan struct{}, 1),
		closed: make(chan struct{}),
		done:   make(chan struct{}),
	}
}

// writer returns an io.Writer for one stream.
func (s *shipper) writer(st client.Stream) *streamWriter { return &streamWriter{s: s, stream: st} }

type streamWriter struct {
	s      *shipper
	stream client.Stream
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.s.add(w.stream, p)
	return len(p), nil
}

// add appends output, merging into the stream's last pending chunk while it
// is small, and cuts it at the attempt's log limit with one notice.
func (s *shipper) add(st client.Stream, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	if s.truncated {
		return
	}
	if s.maxBytes > 0 && s.total+int64(n) > s.maxBytes {
		keep := s.maxBytes - s.total
		s.appendLocked(st, p[:keep])
		s.truncated = true
		s.appendLocked(client.System, []byte(fmt.Sprintf(
			"rgrid: output truncated after %d bytes (the job's log limit); write large output to files instead\n", s.maxBytes)))
		return
	}
	s.appendLocked(st, p)
}

func (s *shipper) appendLocked(st client.Stream, p []byte) {
	s.total += int64(len(p))
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
			Data: append([]byte(nil), p[:m]...),
		})
		p = p[m:]
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// system adds a line of RGrid's own to the log.
func (s *shipper) system(line string) { s.add(client.System, []byte(line+"\n")) }

// run uploads until close is called and everything is sent, or the server
// refuses the attempt, or ctx ends.
func (s *shipper) run(ctx context.Context) {
	defer close(s.done)
	backoff := newBackoff()
	for {
		s.mu.Lock()
		// Sealing a batch: chunks in it are no longer appended to, so a
		// retry resends exactly the same bytes under the same sequence.
		batch := s.pending
		s.pending = nil
		s.mu.Unlock()
		for len(batch) > 0 {
			n := batchLen(batch)
			uctx, cancel := context.WithTimeout(ctx, callTimeout)
			st, err := s.up.UploadLogs(uctx, s.ref, batch[:n])
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
			// Let output accumulate a little, so a chatty script is sent in
			// a few large batches rather than many tiny ones.
			t := time.NewTimer(s.interval)
			select {
			case <-t.C:
			case <-s.closed:
				t.Stop()
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
}

// batchLen takes chunks up to about 4 MiB per request.
func batchLen(b []client.LogChunk) int {
	size := 0
	for i, c := range b {
		size += len(c.Data)
		if size > 4<<20 && i > 0 {
			return i
		}
	}
	return len(b)
}

// close flushes what is pending and waits for the uploads to finish. It
// returns the server's refusal if there was one.
func (s *shipper) close() error {
	close(s.closed)
	<-s.done
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
