package store

import (
	"context"
	"errors"
	"time"
)

// ErrBatchKeyReused: a batch was submitted with the idempotency key of a
// stored batch that is not the same submission (another size or name).
var ErrBatchKeyReused = errors.New("idempotency key belongs to another batch")

// Kinds of batch: one item per input file, or one per array index.
const (
	BatchFiles = "files"
	BatchArray = "array"
)

// BatchCounts are a batch's items per state: Running counts leased and
// running items, Failed the script's failures (failed, timed_out,
// oom_killed), Error the infrastructure's (error, lost).
type BatchCounts struct {
	Queued    int
	Running   int
	Succeeded int
	Failed    int
	Error     int
	Canceled  int
}

// Total is the number of items counted.
func (c BatchCounts) Total() int {
	return c.Queued + c.Running + c.Succeeded + c.Failed + c.Error + c.Canceled
}

// Done is the number of items that ended, whatever their outcome.
func (c BatchCounts) Done() int { return c.Succeeded + c.Failed + c.Error + c.Canceled }

// Plus is c with d added, field by field.
func (c BatchCounts) Plus(d BatchCounts) BatchCounts {
	return BatchCounts{Queued: c.Queued + d.Queued, Running: c.Running + d.Running,
		Succeeded: c.Succeeded + d.Succeeded, Failed: c.Failed + d.Failed,
		Error: c.Error + d.Error, Canceled: c.Canceled + d.Canceled}
}

// counter is the field of c that counts items in state s.
func (c *BatchCounts) counter(s State) *int {
	switch {
	case s == StateQueued:
		return &c.Queued
	case s.Active():
		return &c.Running
	case s == StateSucceeded:
		return &c.Succeeded
	case s.ScriptFailure():
		return &c.Failed
	case s == StateCanceled:
		return &c.Canceled
	}
	return &c.Error // error, lost
}

// Add counts n more items in state s (n may be negative).
func (c *BatchCounts) Add(s State, n int) { *c.counter(s) += n }

// Batch is a stored batch with its items' counts.
type Batch struct {
	ID    string
	Owner string
	Seq   int64 // insertion order; newest-first listing and paging use it
	Name  string
	Kind  string // BatchFiles or BatchArray
	Size  int
	// Parallelism caps how many of the batch's items are leased or running
	// at once across the grid; 0 leaves it to the grid's free slots.
	Parallelism    int
	IdempotencyKey string
	Canceled       bool
	CanceledAt     *time.Time
	Counts         BatchCounts
	CreatedAt      time.Time
}

// BatchShared is what every item of a batch shares, stored once: the
// script and the manifest of the shared working directory (JSON, see
// internal/workdir; nil for none), to which an item's own inputs are
// added, with the batch's kind and size (fixed when it is created).
type BatchShared struct {
	Kind   string
	Size   int
	Script []byte
	Inputs []byte
}

// NewBatch is what CreateBatch stores: the batch and its items. Item is
// every item's job but for what each has of its own (ID, Args, Inputs,
// Blobs and the batch fields, from Items); its Script and Inputs are
// stored once, on the batch, and its Blobs referenced by the batch.
type NewBatch struct {
	ID             string
	Owner          string // the submitting user's id ("" on an open grid)
	Name           string
	Kind           string
	Parallelism    int
	IdempotencyKey string // "" for none
	Item           NewJob
	Items          []NewBatchItem
	CreatedAt      time.Time
}

// NewBatchItem is what an item of a batch has of its own.
type NewBatchItem struct {
	ID string
	// Input is the item's input file's path (a files batch) or its array
	// index in decimal (an array batch).
	Input string
	Args  []string // the whole argument list the script gets
	// Inputs is the manifest of the item's own files (JSON), nil for none;
	// Blobs the blobs it names.
	Inputs []byte
	Blobs  []string
	// SecretEnv is the item's secret environment, sealed for the item's
	// own id (NewJob.SecretEnv); the batch's Item.SecretEnv is not used.
	SecretEnv []byte
}

// ListBatchesParams selects a page of batches, newest first.
type ListBatchesParams struct {
	// BeforeSeq, when non-zero, returns only batches older than that Seq.
	BeforeSeq int64
	// Owner, when OwnerSet, limits the list to that owner's batches.
	Owner    string
	OwnerSet bool
	Limit    int
}

// ListBatchItemsParams selects a page of a batch's items in their order.
type ListBatchItemsParams struct {
	BatchID string
	States  []State // empty: all
	// FromIndex returns items whose Index is at least it.
	FromIndex int
	Limit     int
}

// BatchStore is the part of Store that keeps batches.
type BatchStore interface {
	// CreateBatch stores the batch and its items, queued, in one
	// transaction. A batch whose IdempotencyKey is already stored is not
	// stored again: the stored one comes back with created false, or
	// ErrBatchKeyReused if it has another size or name.
	CreateBatch(ctx context.Context, b NewBatch) (batch Batch, created bool, err error)
	// GetBatch returns a batch with its counts, or ErrNotFound.
	GetBatch(ctx context.Context, id string) (Batch, error)
	// BatchShared returns what a batch's items share, or ErrNotFound.
	BatchShared(ctx context.Context, id string) (BatchShared, error)
	// ListBatches returns batches newest first.
	ListBatches(ctx context.Context, p ListBatchesParams) ([]Batch, error)
	// ListBatchItems returns a batch's items in index order (ErrNotFound
	// for an unknown batch).
	ListBatchItems(ctx context.Context, p ListBatchItemsParams) ([]Job, error)
	// SetBatchParallelism changes the batch's cap (0: none); the next
	// claims follow it, and no running item is stopped.
	SetBatchParallelism(ctx context.Context, id string, n int) (Batch, error)
	// CancelBatch marks the batch canceled and cancels its items as
	// RequestCancel does: queued ones at once, leased and running ones
	// flagged for their workers to stop (returned, so their workers can
	// be told). A batch already canceled is canceled again: items queued
	// since (by a retry) are canceled too.
	CancelBatch(ctx context.Context, id string, now time.Time) (Batch, []Job, error)
	// RetryBatch queues again, as new attempts of the same jobs (DecideRetry),
	// the items that ended failed, timed_out, oom_killed, error or lost,
	// and clears the batch's canceled mark if it queued any. Succeeded and
	// canceled items are left alone. It returns how many it queued.
	RetryBatch(ctx context.Context, id string) (Batch, int, error)
}
