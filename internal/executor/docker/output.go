package docker

import (
	"context"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/executor"
)

// follow opens the container's log stream and starts run on it. The
// engine replays the log from the container's start and then follows it
// until the container exits, so whenever it is opened (just after start,
// or by a worker adopting the run) nothing is lost; the skips drop what
// the caller already has. ctx only bounds opening the stream.
//
// The follow stream alone may miss the very end; run completes it with
// catchUp.
func (h *handle) follow(ctx context.Context, stdout, stderr io.Writer, skipOut, skipErr int64) error {
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	logs, err := h.e.cli.ContainerLogs(lctx, h.id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: true,
	})
	if err != nil {
		cancel()
		return err
	}
	h.stop = cancel
	go h.run(lctx, &logStream{rc: logs}, stdout, stderr, skipOut, skipErr)
	return nil
}

// output is where run reads a container's output from.
type output interface {
	// copy delivers the output until the source ends or close is called;
	// exited is closed once the container has exited. It returns whether
	// what it delivered is complete.
	copy(out, errw *streamWriter, exited <-chan struct{}) bool
	// catchUp delivers, once the container has exited, what an
	// incomplete copy missed.
	catchUp(ctx context.Context, h *handle, out, errw *streamWriter)
	close()
}

// logStream is the engine's attach (live) or log stream of a container
// with the engine's init.
type logStream struct {
	rc   io.ReadCloser
	live bool
}

// copy reads the stream to its end: an attach stream that ends cleanly
// is complete; a follow stream of the log may miss the very end.
func (l *logStream) copy(out, errw *streamWriter, _ <-chan struct{}) bool {
	// The writers swallow their own failures, so the stream is always
	// read to the end.
	_, err := stdcopy.StdCopy(out, errw, l.rc)
	return l.live && err == nil
}

func (l *logStream) catchUp(ctx context.Context, h *handle, out, errw *streamWriter) {
	h.catchUp(ctx, out, errw)
}

func (l *logStream) close() { _ = l.rc.Close() }

func (s *spoolSource) catchUp(_ context.Context, h *handle, _, _ *streamWriter) {
	if s.err != nil {
		h.e.log.Warn("read the container's output", "container", h.id, "err", s.err)
	}
}

// attach connects to a created container's output before it starts, the
// way "docker run" does; start the container after it, then call
// attached. The attach stream carries the bytes as the script writes
// them, about five times as fast as the engine re-reads its log file for a
// follow stream, and with no delay. It also holds the script back when
// the worker reads slowly, instead of letting output pile up anywhere:
// the worker's memory stays bounded by the shipper's. The engine still
// keeps the log on its disk, which is where a restarted worker reads it.
func (h *handle) attach(ctx context.Context, stdin bool) (*hijacked, error) {
	res, err := h.e.cli.ContainerAttach(ctx, h.id, client.ContainerAttachOptions{
		Stream: true, Stdin: stdin, Stdout: true, Stderr: true,
	})
	if err != nil {
		return nil, err
	}
	return &hijacked{res: res}, nil
}

// feed copies r to the container's stdin and then closes it (EOF), in
// the background; the copy ends at the latest when the stream closes.
func (c *hijacked) feed(r io.Reader) {
	c.feeding.Go(func() {
		_, _ = io.Copy(c.res.Conn, r)
		_ = c.res.CloseWrite()
	})
}

// attached starts run on an attach stream of a started container.
func (h *handle) attached(ctx context.Context, stream io.ReadCloser, stdout, stderr io.Writer) {
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.stop = cancel
	go h.run(lctx, &logStream{rc: stream, live: true}, stdout, stderr, 0, 0)
}

// hijacked is an attach connection as a ReadCloser.
type hijacked struct {
	res     client.ContainerAttachResult
	feeding sync.WaitGroup // the copy to stdin
}

func (c *hijacked) Read(p []byte) (int, error) { return c.res.Reader.Read(p) }

// Close closes the connection and waits for the copy to stdin to end.
func (c *hijacked) Close() error {
	c.res.Close()
	c.feeding.Wait()
	return nil
}

// sink wraps a destination of the job's output so that its failure is
// logged once and the rest of the output discarded.
func (h *handle) sink(stream string, w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return &stickyWriter{w: w, fail: func(err error) {
		h.e.log.Warn("forward container output", "container", h.id, "stream", stream, "err", err)
	}}
}

type stickyWriter struct {
	w      io.Writer
	failed bool
	fail   func(error)
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if !s.failed {
		if _, err := s.w.Write(p); err != nil {
			s.failed = true
			s.fail(err)
		}
	}
	return len(p), nil
}

// seconds formats d for people: "300", "1.5", never "5m0s".
func seconds(d time.Duration) string { return executor.Seconds(d) }

// mebibytes formats a memory limit as users set it: "512 MiB", "1.5 GiB".
func mebibytes(n int64) string {
	const mib, gib = 1 << 20, 1 << 30
	switch {
	case n >= gib && n%(gib/2) == 0:
		return strconv.FormatFloat(float64(n)/gib, 'f', -1, 64) + " GiB"
	case n%mib == 0:
		return strconv.FormatInt(n/mib, 10) + " MiB"
	default:
		return strconv.FormatFloat(float64(n)/mib, 'f', 1, 64) + " MiB"
	}
}

// streamWriter passes on one stream of the output from byte from on:
// the first bytes are what a worker delivered before it restarted. The
// stream may be read again from its start (rewind, then write it all
// again): bytes already passed on are then skipped, not repeated.
type streamWriter struct {
	w         io.Writer
	from, pos int64 // pos is the stream offset of the next byte written
}

func (s *streamWriter) Write(p []byte) (int, error) {
	n, start := len(p), s.pos
	s.pos += int64(n)
	if s.pos <= s.from {
		return n, nil
	}
	skip := max(s.from-start, 0)
	s.from = s.pos
	m, err := s.w.Write(p[skip:])
	return int(skip) + m, err
}

// rewind prepares for reading the stream again from its start.
func (s *streamWriter) rewind() { s.pos = 0 }

// catchUp reads the whole log of the exited container once more and
// passes on what the follow stream missed. The engine's follow stream
// can end before the container's last write (Docker 20.10 loses an
// unterminated last line most of the time); once the container has
// stopped, a plain read of its log is complete.
func (h *handle) catchUp(ctx context.Context, out, errw *streamWriter) {
	out.rewind()
	errw.rewind()
	logs, err := h.e.cli.ContainerLogs(ctx, h.id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err == nil {
		_, err = stdcopy.StdCopy(out, errw, logs)
		logs.Close()
	}
	if err != nil {
		h.e.log.Warn("read the end of the container's output", "container", h.id, "err", err)
	}
}
