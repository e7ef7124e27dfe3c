package worker

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/startstop"
)

// reporter sends the start and result reports of all of a worker's
// attempts through POST /v1/workers/{id}/reports: one request carries
// whatever piled up while the previous one was in flight. A quiet worker's
// report goes at once, alone; a busy worker's go by the dozen, in one
// request and (on PostgreSQL) one statement. Each caller gets its own
// answer, as from the single-attempt endpoints, and retries as before.
//
// Reports go in the order they were queued, one request at a time, so the
// server sees a run start before it ends. A result that finds its
// attempt's start report still waiting folds it in: the result says the
// run started (ResultReport.Started), the server records both at once, and
// the start's caller gets the result's answer. A run that ends within a
// busy worker's linger thus costs one report, not two.
type reporter struct {
	startstop.Base
	c        reportsClient
	workerID string

	mu      sync.Mutex
	pending []*pendingReport
	wake    chan struct{} // signalled when pending grows
}

type reportsClient interface {
	Reports(ctx context.Context, workerID string, req client.ReportsRequest) (client.ReportsResponse, error)
}

type pendingReport struct {
	start  *client.AttemptRef
	result *client.AttemptResult
	folded *pendingReport    // a start report this result carries
	answer chan reportAnswer // buffered: the sender never waits for the caller
}

type reportAnswer struct {
	out client.ReportOutcome
	err error
}

// maxReportBatch bounds the reports in one request (the server takes 1,000).
const maxReportBatch = 500

func newReporter(c reportsClient, workerID string) *reporter {
	return &reporter{c: c, workerID: workerID, wake: make(chan struct{}, 1)}
}

// lingerFor is how long the reporter waits for more reports after the
// first one: nothing after a request that carried one report, else 2 ms.
func lingerFor(last int) time.Duration {
	if last <= 1 {
		return 0
	}
	return 2 * time.Millisecond
}

// run sends reports until ctx ends.
// Start sends what is queued, one request at a time, until ctx ends or
// Stop.
func (r *reporter) Start(ctx context.Context) error {
	ctx, ok, done := r.StartInit(ctx)
	if !ok {
		return nil
	}
	go func() {
		defer done()
		r.run(ctx)
	}()
	return nil
}

func (r *reporter) run(ctx context.Context) {
	last := 0 // reports in the previous request
	for {
		if r.waiting() == 0 {
			select {
			case <-ctx.Done():
				return
			case <-r.wake:
			}
		}
		// A busy worker (its last request carried several reports) waits a
		// moment for more, so that requests and statements carry dozens of
		// reports rather than a few; a quiet one sends at once.
		if d := lingerFor(last); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		batch := r.take(maxReportBatch)
		if len(batch) == 0 {
			continue
		}
		last = len(batch)
		r.send(ctx, batch)
	}
}

func (r *reporter) waiting() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// take removes and returns up to n reports, oldest first.
func (r *reporter) take(n int) []*pendingReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	n = min(n, len(r.pending))
	batch := slices.Clone(r.pending[:n])
	r.pending = slices.Delete(r.pending, 0, n)
	return batch
}

// queue adds p, folding into a result the start report of its attempt if
// that is still waiting.
func (r *reporter) queue(p *pendingReport) {
	r.mu.Lock()
	if p.result != nil && p.result.Started {
		if i := slices.IndexFunc(r.pending, func(q *pendingReport) bool {
			return q.start != nil && *q.start == p.result.AttemptRef
		}); i >= 0 {
			p.folded = r.pending[i]
			r.pending = slices.Delete(r.pending, i, i+1)
		}
	}
	r.pending = append(r.pending, p)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *reporter) send(ctx context.Context, batch []*pendingReport) {
	var req client.ReportsRequest
	for _, p := range batch {
		if p.start != nil {
			req.Starts = append(req.Starts, *p.start)
		} else {
			req.Results = append(req.Results, *p.result)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	resp, err := r.c.Reports(cctx, r.workerID, req)
	cancel()
	if err == nil && (len(resp.Starts) != len(req.Starts) || len(resp.Results) != len(req.Results)) {
		err = &client.Error{Code: client.CodeInternal, Message: "the server answered a different number of reports"}
	}
	var si, ri int
	for _, p := range batch {
		var a reportAnswer
		switch {
		case err != nil:
			a.err = err
		case p.start != nil:
			a.out = resp.Starts[si]
			si++
		default:
			a.out = resp.Results[ri]
			ri++
		}
		if a.err == nil && a.out.Error != nil {
			a.err = a.out.Error
		}
		p.answer <- a
		if p.folded != nil {
			p.folded.answer <- a
		}
	}
}

// do queues one report and waits for its answer.
func (r *reporter) do(ctx context.Context, p *pendingReport) (client.ReportOutcome, error) {
	p.answer = make(chan reportAnswer, 1)
	r.queue(p)
	return p.wait(ctx)
}

// wait waits for p's answer.
func (p *pendingReport) wait(ctx context.Context) (client.ReportOutcome, error) {
	select {
	case a := <-p.answer:
		return a.out, a.err
	case <-ctx.Done():
		return client.ReportOutcome{}, ctx.Err()
	}
}

// queueStart queues a start report and returns it, for its answer.
func (r *reporter) queueStart(ref client.AttemptRef) *pendingReport {
	p := &pendingReport{start: &ref, answer: make(chan reportAnswer, 1)}
	r.queue(p)
	return p
}

// start reports that an attempt's run has started and waits for the answer.
func (r *reporter) start(ctx context.Context, ref client.AttemptRef) (client.AttemptStatus, error) {
	out, err := r.queueStart(ref).wait(ctx)
	return client.AttemptStatus{Stop: out.Stop}, err
}

// result reports how an attempt ended.
func (r *reporter) result(ctx context.Context, ref client.AttemptRef, res client.ResultReport) error {
	_, err := r.do(ctx, &pendingReport{result: &client.AttemptResult{AttemptRef: ref, ResultReport: res}})
	return err
}
