package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rgrid/rgrid/internal/executor/docker/jobinit"
)

// The worker's side of our init (package jobinit): the control directory,
// the handshake that starts the job and the tail of its output.

// Bounds of the handshake with a container's init.
const (
	// initWait bounds how long a started container's init may take to
	// open its spec FIFO: it does so within milliseconds of its start.
	initWait = 30 * time.Second
	// tailMin and tailMax bound the pause of a tail that found nothing
	// new: it doubles from tailMin while the job is quiet, so a busy
	// stream is read at once and a quiet one costs 20 reads a second,
	// within the 100 ms a follower may lag. A write to a spool ends the
	// pause at once where inotify watches them (watchWrites).
	tailMin = time.Millisecond
	tailMax = 50 * time.Millisecond
	// sentFile marks a control directory whose spec the worker has begun
	// to write: without it, the job never ran (Adopt).
	sentFile = "sent"
)

// errNoReader: a FIFO no process has opened for reading yet.
var errNoReader = errors.New("no reader on the FIFO")

// makeCtl makes a run's control directory: the worker's, readable by
// the job's user; the spools and FIFOs in it writable by that user until
// the handshake (the init opens them as that user, with no capabilities).
func makeCtl(dir string, stdin, ack bool) (string, error) {
	ctl := filepath.Join(dir, runCtl)
	if err := os.Mkdir(ctl, 0o755); err != nil {
		return "", err
	}
	if err := os.Chmod(ctl, 0o755); err != nil {
		return "", err
	}
	for _, name := range []string{jobinit.StdoutFile, jobinit.StderrFile} {
		f, err := os.OpenFile(filepath.Join(ctl, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
		if err != nil {
			return "", err
		}
		f.Close()
	}
	fifos := []string{jobinit.SpecFIFO, jobinit.ExitFIFO}
	if stdin {
		fifos = append(fifos, jobinit.StdinFIFO)
	}
	if ack {
		fifos = append(fifos, jobinit.AckFIFO)
	}
	for _, name := range fifos {
		if err := mkfifo(filepath.Join(ctl, name)); err != nil {
			return "", fmt.Errorf("make FIFO %s: %w", name, err)
		}
	}
	for _, name := range append(fifos, jobinit.StdoutFile, jobinit.StderrFile) {
		if err := os.Chmod(filepath.Join(ctl, name), 0o666); err != nil {
			return "", err
		}
	}
	return ctl, nil
}

// openFIFO opens a FIFO of the control directory for writing once the
// init has opened it for reading, waiting at most initWait.
func openFIFO(ctx context.Context, path string) (*os.File, error) {
	deadline := time.Now().Add(initWait)
	pause := 100 * time.Microsecond
	for {
		f, err := openFIFOWriter(path)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, errNoReader) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the container's init did not open %s within %v (see docker logs of the container)", filepath.Base(path), initWait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Millisecond)
	}
}

// handshake tells a started container's init to run spec: once the init
// holds the spools open (it opens them before its spec FIFO), they are
// made read-only to everyone, so that the job cannot write them past
// their bound; then the spec is written. With stdin, it is fed to the
// job's stdin FIFO in the background and closed (EOF); feeding ends
// at the latest when the container exits.
func handshake(ctx context.Context, ctl string, spec jobinit.Spec, stdin io.Reader) (*sync.WaitGroup, error) {
	f, err := openFIFO(ctx, filepath.Join(ctl, jobinit.SpecFIFO))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ack *os.File
	if spec.WorkDev != 0 {
		// Open before the spec is written, read and write so that the
		// read waits for the init's answer instead of seeing no writer.
		if ack, err = os.OpenFile(filepath.Join(ctl, jobinit.AckFIFO), os.O_RDWR|oNoFollow, 0); err != nil {
			return nil, err
		}
		defer ack.Close()
	}
	for _, name := range []string{jobinit.StdoutFile, jobinit.StderrFile} {
		if err := os.Chmod(filepath.Join(ctl, name), 0o644); err != nil {
			return nil, err
		}
	}
	// The init holds its end of the exit FIFO: nobody else may open it.
	if err := os.Chmod(filepath.Join(ctl, jobinit.ExitFIFO), 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(ctl, sentFile), nil, 0o644); err != nil {
		return nil, err
	}
	if _, err := f.Write(b); err != nil {
		return nil, fmt.Errorf("write the job's spec: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write the job's spec: %w", err)
	}
	if ack != nil {
		if err := awaitAck(ctx, ack); err != nil {
			return nil, err
		}
	}
	feeding := new(sync.WaitGroup)
	if spec.Stdin {
		feeding.Go(func() {
			in, err := openFIFO(context.WithoutCancel(ctx), filepath.Join(ctl, jobinit.StdinFIFO))
			if err != nil {
				return
			}
			_, _ = io.Copy(in, stdin)
			in.Close()
		})
	}
	return feeding, nil
}

// errRefused is the init's refusal of a spec with WorkDev: the job did
// not start.
var errRefused = errors.New("the init refused the job")

// awaitAck reads the init's answer to a spec with WorkDev, waiting at most
// initWait: nil for ok, errRefused with the init's reason, or why there was
// no answer.
func awaitAck(ctx context.Context, ack *os.File) error {
	if err := ack.SetReadDeadline(time.Now().Add(initWait)); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = ack.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 512) // one write of the init's, under PIPE_BUF
	n, err := ack.Read(buf)
	switch answer := string(buf[:n]); {
	case answer == jobinit.AckOK:
		return nil
	case strings.HasPrefix(answer, jobinit.AckRefused):
		return fmt.Errorf("%w: %s", errRefused, strings.TrimSpace(strings.TrimPrefix(answer, jobinit.AckRefused)))
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return fmt.Errorf("the container's init did not answer the job's spec within %v: %w", initWait, err)
	default:
		return fmt.Errorf("the container's init answered the job's spec with %q", answer)
	}
}

// openExitReport opens the exit FIFO of the control directory ctl for
// reading (and writing, so that a read waits for the init's report
// instead of seeing no writer), before the container starts: the init
// reports the job's end on it only if it finds a reader then.
func openExitReport(ctl string) (*os.File, error) {
	return os.OpenFile(filepath.Join(ctl, jobinit.ExitFIFO), os.O_RDWR|oNoFollow, 0)
}

// exitReports delivers the exit status the init reports on f, once; it
// never delivers if the init does not report (killed, or the worker
// restarted), and stops when f is closed.
func exitReports(f *os.File) <-chan int {
	if f == nil {
		return nil
	}
	c := make(chan int, 1)
	go func() {
		buf := make([]byte, 32)
		n, err := f.Read(buf)
		if err != nil {
			return
		}
		if code, err := strconv.Atoi(strings.TrimSpace(string(buf[:n]))); err == nil {
			c <- code
		}
	}()
	return c
}

// spoolSource is the output of a container with our init: its two spool
// files, tailed until the container has exited and both are read to the
// end.
type spoolSource struct {
	log     *slog.Logger
	id      string // the container's
	ctl     string
	limit   int64
	feeding *sync.WaitGroup // the copy to stdin, if any
	stop    chan struct{}   // closed by close: abandon the tail
	once    sync.Once
	err     error
}

func newSpoolSource(ctl string, limit int64, feeding *sync.WaitGroup, log *slog.Logger, id string) *spoolSource {
	if feeding == nil {
		feeding = new(sync.WaitGroup)
	}
	return &spoolSource{log: log, id: id, ctl: ctl, limit: limit, feeding: feeding, stop: make(chan struct{})}
}

// copy delivers both spools from the writers' offsets on (Adopt's skips:
// what the server already has is never read again) until exited is
// closed and both are read to their end; it returns false if it stopped
// before that.
func (s *spoolSource) copy(out, errw *streamWriter, exited <-chan struct{}) bool {
	tails := make([]*tail, 0, 2)
	for _, t := range []struct {
		name string
		w    *streamWriter
	}{{jobinit.StdoutFile, out}, {jobinit.StderrFile, errw}} {
		f, err := os.OpenFile(filepath.Join(s.ctl, t.name), os.O_RDONLY|oNoFollow, 0)
		if err == nil {
			_, err = f.Seek(t.w.from, io.SeekStart)
		}
		if err != nil {
			s.err = fmt.Errorf("open the job's %s: %w", t.name, err)
			for _, t := range tails {
				t.f.Close()
			}
			return false
		}
		t.w.pos = t.w.from
		tails = append(tails, &tail{f: f, w: t.w})
	}
	defer func() {
		for _, t := range tails {
			t.f.Close()
		}
	}()
	written, unwatch := watchWrites(filepath.Join(s.ctl, jobinit.StdoutFile), filepath.Join(s.ctl, jobinit.StderrFile))
	defer unwatch()
	buf := make([]byte, 1<<20)
	pause := tailMin
	for {
		// Whether it had exited before this pass: then the pass has read
		// everything it ever wrote.
		var final bool
		select {
		case <-exited:
			final = true
		default:
		}
		got := false
		for _, t := range tails {
			n, err := t.drain(buf)
			got = got || n > 0
			if err != nil {
				s.err = err
				return false
			}
		}
		if final {
			if cut := s.cut(); len(cut) > 0 {
				s.log.Warn("the job's output went past the spool's bound; the rest was dropped",
					"container", s.id, "streams", cut, "bound_bytes", s.limit)
			}
			return true
		}
		if got {
			pause = tailMin
			continue
		}
		timer := time.NewTimer(pause)
		select {
		case <-s.stop:
			timer.Stop()
			return false
		case <-exited:
		case <-written:
		case <-timer.C:
		}
		timer.Stop()
		pause = min(2*pause, tailMax)
	}
}

// cut says which spools reached their bound: the output past it was
// dropped by the init.
func (s *spoolSource) cut() []string {
	var cut []string
	if s.limit <= 0 {
		return nil
	}
	for _, name := range []string{jobinit.StdoutFile, jobinit.StderrFile} {
		if st, err := os.Lstat(filepath.Join(s.ctl, name)); err == nil && st.Size() >= s.limit {
			cut = append(cut, name)
		}
	}
	return cut
}

func (s *spoolSource) close() {
	s.once.Do(func() { close(s.stop) })
	s.feeding.Wait()
}

// tail is one spool file being read.
type tail struct {
	f *os.File
	w *streamWriter
}

// drain reads f to its current end into w.
func (t *tail) drain(buf []byte) (int64, error) {
	var total int64
	for {
		n, err := t.f.Read(buf)
		if n > 0 {
			total += int64(n)
			_, _ = t.w.Write(buf[:n]) // the sinks swallow their failures
		}
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("read the job's output: %w", err)
		}
	}
}
