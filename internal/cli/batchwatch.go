package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/jobhint"
)

// Watching a batch: one progress line (redrawn in place on a terminal,
// a plain line now and then when piped), every item's output when asked,
// then each item's outputs in its own folder, a table of the failed
// items and the exit code.

// Exit codes of a batch (rgrid run --batch, rgrid batch watch): 0 only
// when every item succeeded.
const (
	exitBatchFailed = 1 // an item failed, timed out or ran out of memory
	// exitPlatform (125): an item ended error or lost; exitCanceled (130):
	// items were canceled and none failed.
)

// batchWatch watches one batch to its end.
type batchWatch struct {
	s                 *session
	id                string
	outputs           string // "": leave them on the server
	followAll         bool
	cancelOnInterrupt bool
	stdout, stderr    io.Writer
	// poll is how often the counts are read; 0 is a second.
	poll time.Duration
}

// maxUnreachable is how long the watch waits out a server it cannot
// reach before it gives up.
const maxUnreachable = time.Minute

// isAPIError: the server answered, with an error of its own.
func isAPIError(err error) bool {
	var e *client.Error
	return errors.As(err, &e)
}

// pipedEvery is how often a piped progress line is written, when the
// counts changed.
const pipedEvery = 5 * time.Second

func (w batchWatch) run(ctx context.Context) error {
	c := w.s.c
	poll := w.poll
	if poll == 0 {
		poll = time.Second
	}
	out, flushOut := terminalOutput(w.stdout)
	errw, flushErr := terminalOutput(w.stderr)
	con := &console{w: w.stderr, live: isTerminal(w.stderr)}
	var followers sync.WaitGroup
	fctx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	b, err := c.Batch(ctx, w.id)
	if err != nil {
		if ctx.Err() != nil { // Ctrl-C before the first poll came back
			return w.interrupted(ctx)
		}
		return err
	}
	if w.followAll {
		followers.Go(func() { followItems(fctx, c, b, con, out, errw) })
	}
	rate := newRateMeter(b.Counts.Done(), time.Now())
	var lastLine string
	var lastPrinted time.Time
	failing := time.Duration(0) // polls in a row that did not reach the server
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for !b.Finished {
		select {
		case <-ctx.Done():
		case <-tick.C:
			nb, err := c.Batch(ctx, w.id)
			switch {
			case err == nil:
				b, failing = nb, 0
			case ctx.Err() != nil:
			case isAPIError(err) || failing*poll >= maxUnreachable:
				con.clear()
				return err
			default:
				failing++ // the server restarting, the network cut: the batch goes on meanwhile
			}
		}
		if ctx.Err() != nil {
			con.clear()
			return w.interrupted(ctx)
		}
		now := time.Now()
		line := formatProgress(b, rate.observe(b.Counts.Done(), now))
		if con.live {
			con.progress(line)
		} else if line != lastLine && now.Sub(lastPrinted) >= pipedEvery {
			fmt.Fprintln(w.stderr, line)
			lastLine, lastPrinted = line, now
		}
	}
	followers.Wait()
	flushOut()
	flushErr()
	con.clear()
	if final := formatProgress(b, 0); con.live || final != lastLine {
		fmt.Fprintln(w.stderr, final)
	}
	items, err := allItems(ctx, c, w.id)
	if err != nil {
		return err
	}
	if w.outputs != "" {
		writeBatchOutputs(ctx, c, w.id, items, w.outputs, w.stderr)
	}
	return batchOutcome(b, items, w.stderr)
}

// interrupted handles Ctrl-C: detach, saying how to come back, unless
// the grid lives in this process (it ends with it) or the user asked
// Ctrl-C to cancel.
func (w batchWatch) interrupted(ctx context.Context) error {
	if !w.cancelOnInterrupt && w.s.local == nil {
		fmt.Fprintf(w.stderr, "\nrgrid: detached; batch %s keeps running.\n", w.id)
		fmt.Fprintf(w.stderr, "  watch it again: rgrid batch watch %s\n  cancel it:      rgrid batch cancel %s\n", w.id, w.id)
		return exitCode(exitCanceled)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := w.s.c.CancelBatch(cctx, w.id); err == nil {
		fmt.Fprintf(w.stderr, "\nrgrid: canceled batch %s\n", w.id)
		// Wait briefly for the items to stop, so that none outlives this
		// command in embedded mode.
		for cctx.Err() == nil {
			b, err := w.s.c.Batch(cctx, w.id)
			if err != nil || b.Finished || !sleepCtx(cctx, 100*time.Millisecond) {
				break
			}
		}
	}
	return exitCode(exitCanceled)
}

// console is the terminal's last line, the progress, which item output
// written above it must not garble.
type console struct {
	mu   sync.Mutex
	w    io.Writer
	live bool   // a terminal: the line is redrawn in place
	line string // shown now
}

const clearLine = "\r\x1b[K"

func (c *console) progress(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.line = line
	fmt.Fprint(c.w, clearLine+line)
}

func (c *console) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live && c.line != "" {
		fmt.Fprint(c.w, clearLine)
	}
	c.line = ""
}

// write writes p (whole lines) to w above the progress line.
func (c *console) write(w io.Writer, p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live && c.line != "" {
		fmt.Fprint(c.w, clearLine)
	}
	_, _ = w.Write(p)
	if c.live && c.line != "" {
		fmt.Fprint(c.w, c.line)
	}
}

// rateMeter is the items ended per second since watching began.
type rateMeter struct {
	done0 int
	t0    time.Time
}

func newRateMeter(done int, now time.Time) *rateMeter { return &rateMeter{done0: done, t0: now} }

// observe is the rate at now, 0 until an item has ended.
func (r *rateMeter) observe(done int, now time.Time) float64 {
	el := now.Sub(r.t0).Seconds()
	if done <= r.done0 || el <= 0 {
		return 0
	}
	return float64(done-r.done0) / el
}

// formatProgress is the progress line: what has ended and how, what
// runs and waits, and, once items end, the rate and the time left.
func formatProgress(b client.Batch, rate float64) string {
	c := b.Counts
	var sb strings.Builder
	fmt.Fprintf(&sb, "batch %s: %d/%d done", b.ID, c.Done(), b.Size)
	parts := []string{fmt.Sprintf("%d succeeded", c.Succeeded)}
	for _, p := range []struct {
		n    int
		name string
	}{{c.Failed, "failed"}, {c.Error, "error"}, {c.Canceled, "canceled"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.name))
		}
	}
	fmt.Fprintf(&sb, " (%s), %d running, %d queued", strings.Join(parts, ", "), c.Running, c.Queued)
	if b.Cost != nil {
		sb.WriteString(", " + costText(b))
	}
	if b.Finished {
		return sb.String()
	}
	if rate > 0 {
		if rate >= 1 {
			fmt.Fprintf(&sb, ", %.1f/s", rate)
		} else {
			fmt.Fprintf(&sb, ", %.1f/min", rate*60)
		}
		left := time.Duration(float64(b.Size-c.Done()) / rate * float64(time.Second))
		fmt.Fprintf(&sb, ", ETA %s", formatETA(left))
	}
	if b.Canceled {
		sb.WriteString(", canceling")
	}
	return sb.String()
}

func formatETA(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// allItems lists a batch's items in index order.
func allItems(ctx context.Context, c *client.Client, id string) ([]client.Job, error) {
	var out []client.Job
	for after := ""; ; {
		page, err := c.BatchJobs(ctx, id, client.BatchJobsOptions{After: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		out = append(out, page.Jobs...)
		if page.Next == "" {
			return out, nil
		}
		after = page.Next
	}
}

// itemName is how an item is shown: its input (the file's path, or the
// array index), as text that cannot take the terminal over.
func itemName(j client.Job) string {
	if j.BatchInput != "" {
		return quoteName(j.BatchInput)
	}
	return fmt.Sprint(j.BatchIndex)
}

// followItems prints every item's output, each line prefixed with its
// item, following a few items at once in index order (about as the
// server starts them).
func followItems(ctx context.Context, c *client.Client, b client.Batch, con *console, stdout, stderr io.Writer) {
	items, err := allItems(ctx, c, b.ID)
	if err != nil {
		return
	}
	n := min(64, max(4, 2*b.Parallelism))
	work := make(chan client.Job)
	var wg sync.WaitGroup
	for range min(n, len(items)) {
		wg.Go(func() {
			for j := range work {
				prefix := "[" + itemName(j) + "] "
				o := &prefixWriter{con: con, w: stdout, prefix: prefix}
				e := &prefixWriter{con: con, w: stderr, prefix: prefix}
				_ = follow(ctx, c, j.ID, nil, o, e)
				o.flush()
				e.flush()
			}
		})
	}
	for _, j := range items {
		select {
		case work <- j:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
}

// prefixWriter writes whole lines, each with a prefix, through the
// console; a partial last line waits for its end or for flush.
type prefixWriter struct {
	con    *console
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	var out []byte
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		out = append(append(out, p.prefix...), p.buf[:i+1]...)
		p.buf = p.buf[i+1:]
	}
	if len(out) > 0 {
		p.con.write(p.w, out)
	}
	return len(b), nil
}

func (p *prefixWriter) flush() {
	if len(p.buf) > 0 {
		p.con.write(p.w, append(append([]byte(p.prefix), p.buf...), '\n'))
		p.buf = nil
	}
}

// failedStates are an item's failures: the script's and the platform's.
var failedStates = map[client.JobState]bool{
	client.StateFailed: true, client.StateTimedOut: true, client.StateOOMKilled: true,
	client.StateError: true, client.StateLost: true,
}

// maxFailedShown bounds the table of failed items; the rest are counted.
const maxFailedShown = 50

// batchOutcome prints the failed items and the counts, and turns them
// into the exit code: 0 only if every item succeeded, 125 if one ended
// error or lost (the platform's failure), else 1 if one failed, timed out
// or ran out of memory, else 130 (canceled).
func batchOutcome(b client.Batch, items []client.Job, stderr io.Writer) error {
	var failed []client.Job
	for _, j := range items {
		if failedStates[j.State] {
			failed = append(failed, j)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(stderr, "\n%d failed %s:\n", len(failed), plural(len(failed), "item", "items"))
		tw := tabwriter.NewWriter(stderr, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  INPUT\tSTATE\tEXIT\tERROR")
		hints := map[string][]string{}
		var order []string
		for i, j := range failed {
			if i == maxFailedShown {
				fmt.Fprintf(tw, "  … %d more\t\t\t\n", len(failed)-maxFailedShown)
				break
			}
			exit := "-"
			if j.ExitCode != nil {
				exit = fmt.Sprint(*j.ExitCode)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", itemName(j), j.State, exit, failureLine(j))
			if h := jobhint.For(j); h != "" {
				if hints[h] == nil {
					order = append(order, h)
				}
				hints[h] = append(hints[h], itemName(j))
			}
		}
		tw.Flush()
		for _, h := range order {
			names := hints[h]
			if len(names) > 3 {
				names = append(names[:3:3], "…")
			}
			fmt.Fprintf(stderr, "Hint (%s): %s\n", strings.Join(names, ", "), h)
		}
	}
	c := b.Counts
	switch {
	case c.Succeeded == b.Size:
		fmt.Fprintf(stderr, "rgrid: batch %s: all %d items succeeded\n", b.ID, b.Size)
		return nil
	case c.Failed+c.Error > 0:
		fmt.Fprintf(stderr, "rgrid: batch %s: %d of %d items succeeded; run the failed ones again: rgrid batch retry %s --failed\n",
			b.ID, c.Succeeded, b.Size, b.ID)
		if c.Error > 0 {
			return exitCode(exitPlatform)
		}
		return exitCode(exitBatchFailed)
	}
	fmt.Fprintf(stderr, "rgrid: batch %s was canceled: %d of %d items succeeded\n", b.ID, c.Succeeded, b.Size)
	return exitCode(exitCanceled)
}

// failureLine is a failed item's one-line explanation, as rgrid run
// gives it for a single job.
func failureLine(j client.Job) string {
	var s string
	switch {
	case j.Reason == "disk_full":
		s = "filled its working directory: " + j.Message
	case j.State == client.StateFailed && j.Failure != nil:
		s = j.Failure.Summary()
	case j.State == client.StateFailed:
		s = j.Message
		if s == "" && j.ExitCode != nil {
			s = fmt.Sprintf("exit code %d", *j.ExitCode)
		}
	case j.State == client.StateTimedOut:
		s = "timed out: " + j.Message
	case j.State == client.StateOOMKilled:
		s = "ran out of memory: " + j.Message
	default:
		s = string(j.State) + ": " + j.Message
	}
	s = oneLine(s)
	if r := []rune(s); len(r) > 200 {
		s = string(r[:199]) + "…"
	}
	return quoteName(s) // a script's text must not take the terminal over
}
