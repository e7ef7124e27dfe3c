package worker

import (
	"context"
	"time"

	"github.com/rgrid/rgrid/client"
)

// reporter sends the start and result reports of all of a worker's
// attempts through POST /v1/workers/{id}/reports: one request carries
// whatever piled up while the previous one was in flight. A quiet worker's
// report goes at once, alone; a busy worker's go by the dozen, in one
// request and (on PostgreSQL) one statement. Each caller gets its own
// answer, as from the single-attempt endpoints, and retries as before.
type reporter struct {
	c        reportsClient
	workerID string
	queue    chan *pendingReport
}

type reportsClient interface {
	Reports(ctx context.Context, workerID string, req client.ReportsRequest) (client.ReportsResponse, error)
}

type pendingReport struct {
	start  *client.AttemptRef
	result *client.AttemptResult
	answer chan reportAnswer // buffered: the sender never waits for the caller
}

type reportAnswer struct {
	out client.ReportOutcome
	err error
}

// maxReportBatch bounds the reports in one request (the server takes 1,000).
const maxReportBatch = 500

func newReporter(c reportsClient, workerID string) *reporter {
	return &reporter{c: c, workerID: workerID, queue: make(chan *pendingReport, maxReportBatch)}
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
func (r *reporter) run(ctx context.Context) {
	last := 0 // reports in the previous request
	for {
		var batch []*pendingReport
		select {
		case <-ctx.Done():
			return
		case p := <-r.queue:
			batch = append(batch, p)
		}
		// A busy worker (its last request carried several reports) waits a
		// moment for more, so that requests and statements carry dozens of
		// reports rather than a few; a quiet one sends at once.
		linger := time.NewTimer(lingerFor(last))
	more:
		for len(batch) < maxReportBatch {
			select {
			case p := <-r.queue:
				batch = append(batch, p)
			case <-linger.C:
				break more
			}
		}
		linger.Stop()
		last = len(batch)
		r.send(ctx, batch)
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
	}
}

// do queues one report and waits for its answer.
func (r *reporter) do(ctx context.Context, p *pendingReport) (client.ReportOutcome, error) {
	p.answer = make(chan reportAnswer, 1)
	select {
	case r.queue <- p:
	case <-ctx.Done():
		return client.ReportOutcome{}, ctx.Err()
	}
	select {
	case a := <-p.answer:
		return a.out, a.err
	case <-ctx.Done():
		return client.ReportOutcome{}, ctx.Err()
	}
}

// start reports that an attempt's run has started.
func (r *reporter) start(ctx context.Context, ref client.AttemptRef) (client.AttemptStatus, error) {
	out, err := r.do(ctx, &pendingReport{start: &ref})
	return client.AttemptStatus{Stop: out.Stop}, err
}

// result reports how an attempt ended.
func (r *reporter) result(ctx context.Context, ref client.AttemptRef, res client.ResultReport) error {
	_, err := r.do(ctx, &pendingReport{result: &client.AttemptResult{AttemptRef: ref, ResultReport: res}})
	return err
}
