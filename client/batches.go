package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Batches: one script over many inputs (POST /v1/batches). A batch's items
// are ordinary jobs (GET /v1/jobs/{id} works for each); the batch adds a
// parallelism cap the server enforces when it leases, counts per state,
// and cancel and retry for all its items at once.

// Kinds of batch.
const (
	BatchKindFiles = "files" // one item per input file
	BatchKindArray = "array" // one item per array index
)

// BatchRequest is the body of POST /v1/batches: the whole batch in one
// request. Exactly one of Files and Array is set.
type BatchRequest struct {
	// Job is what every item runs, as a single job would be submitted:
	// its script and FileName, the arguments that follow the item's input
	// (Args), runtime, environment, limits, retries, requirements, log
	// limit and stdin. Job.Inputs is the working directory the items share,
	// sent once; a files batch needs it (the script is one of its files).
	Job SubmitRequest `json:"job"`
	// Name is shown in listings; default Job.FileName.
	Name string `json:"name,omitempty"`
	// Parallelism caps how many items are leased or running at once across
	// the grid; 0 leaves it to the grid's free slots.
	Parallelism int `json:"parallelism,omitempty"`
	// IdempotencyKey makes the submission safe to repeat: a request with
	// the key of a stored batch creates nothing and answers 200 with that
	// batch (an item that succeeded is never run again). The same key with
	// another size or name is refused (idempotency_key_reused).
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Files makes one item per entry: the item's own input file (a file
	// entry whose blob is on the server), added to the shared working
	// directory at its Path, which the script gets as its first argument
	// and in RGRID_BATCH_INPUT. Paths are unique and not in Job.Inputs.
	Files []FileEntry `json:"files,omitempty"`
	// Array makes one item per index, given in RGRID_ARRAY_INDEX (Slurm's
	// --array, AWS Batch array jobs); the arguments are Job.Args.
	Array []int `json:"array,omitempty"`
}

// BatchCounts are a batch's items per state, kept by the server as the
// items change (not counted on each read). Running counts leased and
// running items; Failed the script's failures (failed, timed_out,
// oom_killed); Error the infrastructure's (error, lost).
type BatchCounts struct {
	Queued    int `json:"queued"`
	Running   int `json:"running"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	Error     int `json:"error"`
	Canceled  int `json:"canceled"`
}

// Done is the number of items that ended, whatever their outcome.
func (c BatchCounts) Done() int { return c.Succeeded + c.Failed + c.Error + c.Canceled }

// Batch is a submitted batch and its items' counts.
type Batch struct {
	ID             string      `json:"id"`
	Name           string      `json:"name"`
	Kind           string      `json:"kind"` // BatchKindFiles or BatchKindArray
	Size           int         `json:"size"`
	Parallelism    int         `json:"parallelism"`
	IdempotencyKey string      `json:"idempotency_key,omitempty"`
	Canceled       bool        `json:"canceled,omitempty"`
	CanceledAt     *time.Time  `json:"canceled_at,omitempty"`
	Counts         BatchCounts `json:"counts"`
	CreatedAt      time.Time   `json:"created_at"`
	// Finished: every item has ended (Counts.Done() == Size).
	Finished bool `json:"finished"`
	// Cost is what the items' attempts cost so far, and Projected what
	// the whole batch will at the finished items' average (both only
	// from GET /v1/batches/{id}, on priced workers; Projected once an
	// item has finished).
	Cost      *Money `json:"cost,omitempty"`
	Projected *Money `json:"projected,omitempty"`
}

// BatchList is one page of GET /v1/batches, newest first.
type BatchList struct {
	Batches []Batch `json:"batches"`
	// Next is the cursor for the following (older) page; empty on the last.
	Next string `json:"next,omitempty"`
}

// BatchJobList is one page of GET /v1/batches/{id}/jobs: items in index
// order.
type BatchJobList struct {
	Jobs []Job `json:"jobs"`
	// Next is the "after" of the following page; empty on the last.
	Next string `json:"next,omitempty"`
}

// BatchUpdate is the body of PATCH /v1/batches/{id}.
type BatchUpdate struct {
	// Parallelism, when set, is the new cap (0: none); the next leases
	// follow it, and no running item is stopped.
	Parallelism *int `json:"parallelism,omitempty"`
}

// BatchCancelResponse answers POST /v1/batches/{id}/cancel.
type BatchCancelResponse struct {
	Batch Batch `json:"batch"`
	// Stopping is how many leased or running items were asked to stop;
	// they end canceled when their workers have stopped them.
	Stopping int `json:"stopping"`
}

// BatchRetryResponse answers POST /v1/batches/{id}/retry.
type BatchRetryResponse struct {
	Batch Batch `json:"batch"`
	// Requeued is how many failed items (failed, timed_out, oom_killed,
	// error, lost) were queued again as new attempts; 0 when none had.
	Requeued int `json:"requeued"`
}

// SubmitBatchRun queues a batch in one request. created is false when the
// server already had the batch of req.IdempotencyKey.
func (c *Client) SubmitBatchRun(ctx context.Context, req BatchRequest) (b Batch, created bool, err error) {
	status, err := c.doStatus(ctx, http.MethodPost, "/v1/batches", nil, req, &b)
	return b, status == http.StatusCreated, err
}

// Batch returns a batch with its counts.
func (c *Client) Batch(ctx context.Context, id string) (Batch, error) {
	var b Batch
	err := c.do(ctx, http.MethodGet, "/v1/batches/"+url.PathEscape(id), nil, &b)
	return b, err
}

// Batches lists batches newest first (Limit and Cursor of o; States is
// ignored).
func (c *Client) Batches(ctx context.Context, o ListOptions) (BatchList, error) {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	var l BatchList
	err := c.do(ctx, http.MethodGet, "/v1/batches?"+q.Encode(), nil, &l)
	return l, err
}

// BatchJobsOptions filter and page GET /v1/batches/{id}/jobs.
type BatchJobsOptions struct {
	States []JobState // empty: all
	After  string     // the Next of the previous page
	Limit  int        // 1 to 1000; 0: the server's default (100)
}

// BatchJobs lists a batch's items in index order.
func (c *Client) BatchJobs(ctx context.Context, id string, o BatchJobsOptions) (BatchJobList, error) {
	q := url.Values{}
	for _, s := range o.States {
		q.Add("state", string(s))
	}
	if o.After != "" {
		q.Set("after", o.After)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	var l BatchJobList
	err := c.do(ctx, http.MethodGet, "/v1/batches/"+url.PathEscape(id)+"/jobs?"+q.Encode(), nil, &l)
	return l, err
}

// SetBatchParallelism changes a batch's cap while it runs (0: none).
func (c *Client) SetBatchParallelism(ctx context.Context, id string, n int) (Batch, error) {
	var b Batch
	err := c.do(ctx, http.MethodPatch, "/v1/batches/"+url.PathEscape(id), BatchUpdate{Parallelism: &n}, &b)
	return b, err
}

// CancelBatch cancels a batch's queued items and asks its running ones to
// stop.
func (c *Client) CancelBatch(ctx context.Context, id string) (BatchCancelResponse, error) {
	var out BatchCancelResponse
	err := c.do(ctx, http.MethodPost, "/v1/batches/"+url.PathEscape(id)+"/cancel", nil, &out)
	return out, err
}

// RetryBatch queues a batch's failed items again, keeping its successes.
func (c *Client) RetryBatch(ctx context.Context, id string) (BatchRetryResponse, error) {
	var out BatchRetryResponse
	err := c.do(ctx, http.MethodPost, "/v1/batches/"+url.PathEscape(id)+"/retry", nil, &out)
	return out, err
}
