package blob

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/rgrid/rgrid/internal/startstop"
)

// DefaultRetention is how long an unreferenced blob is kept (--retention).
const DefaultRetention = 7 * 24 * time.Hour

// InUse reports which of hashes must be kept. The server answers from its
// store: hashes a job references, and hashes it recently told a client
// were present (see Sweep).
type InUse func(ctx context.Context, hashes []string) (map[string]bool, error)

// SweepResult counts what a sweep did.
type SweepResult struct {
	Candidates int   // blobs older than the cutoff
	Deleted    int   // of them, not in use and deleted
	Bytes      int64 // the size of those deleted
}

// sweepBatch is how many candidates one InUse call is asked about.
const sweepBatch = 500

// Sweep deletes the blobs last written before cutoff that inUse does not
// keep. The age bound is what keeps a blob uploaded moments ago for a job
// not yet submitted: only blobs older than cutoff are candidates, so the
// caller passes now minus the retention period.
//
// A blob older than the cutoff that a client is told is present (Missing)
// and then names in a job is at risk between the two; inUse must count it
// as in use, for example by the server remembering, for the retention
// period, the hashes it answered about. Blobs are rewritten (and so made
// young) by a new Put, never by reading them.
func Sweep(ctx context.Context, store Store, cutoff time.Time, inUse InUse) (SweepResult, error) {
	var res SweepResult
	batch := make(map[string]int64, sweepBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		hashes := make([]string, 0, len(batch))
		for h := range batch {
			hashes = append(hashes, h)
		}
		keep, err := inUse(ctx, hashes)
		if err != nil {
			return fmt.Errorf("sweep blobs: which are in use: %w", err)
		}
		for _, h := range hashes {
			if keep[h] {
				continue
			}
			if err := store.Delete(ctx, h); err != nil {
				return fmt.Errorf("sweep blobs: %w", err)
			}
			res.Deleted++
			res.Bytes += batch[h]
		}
		clear(batch)
		return nil
	}
	err := store.Walk(ctx, cutoff, func(hash string, info Info) error {
		res.Candidates++
		batch[hash] = info.Size
		if len(batch) >= sweepBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return res, err
}

// Sweeper runs Sweep every Interval as a startstop.Service: the server
// runs one (a singleton loop, under its leader lease) with --retention.
type Sweeper struct {
	startstop.Base

	Store Store
	InUse InUse
	// Retention is the age a blob must reach before it may be deleted;
	// DefaultRetention if zero.
	Retention time.Duration
	// Interval between sweeps, the first at Start; an hour if zero.
	Interval time.Duration
	// Now is the clock (time.Now if nil), injected by tests.
	Now    func() time.Time
	Logger *slog.Logger
}

// Start begins sweeping under ctx.
func (s *Sweeper) Start(ctx context.Context) error {
	if s.Store == nil || s.InUse == nil {
		return fmt.Errorf("blob sweeper: Store and InUse must be set")
	}
	ctx, ok, done := s.StartInit(ctx)
	if !ok {
		return nil
	}
	go func() {
		defer done()
		s.loop(ctx)
	}()
	return nil
}

func (s *Sweeper) loop(ctx context.Context) {
	interval := s.Interval
	if interval <= 0 {
		interval = time.Hour
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		_, _ = s.SweepOnce(ctx) // logged; the next sweep tries again
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SweepOnce runs one sweep now, logging what it did.
func (s *Sweeper) SweepOnce(ctx context.Context) (SweepResult, error) {
	now, retention, log := time.Now, s.Retention, s.Logger
	if s.Now != nil {
		now = s.Now
	}
	if retention <= 0 {
		retention = DefaultRetention
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res, err := Sweep(ctx, s.Store, now().Add(-retention), s.InUse)
	if err != nil && ctx.Err() == nil {
		log.WarnContext(ctx, "blob sweep failed", "err", err, "deleted", res.Deleted)
	} else if res.Deleted > 0 {
		log.InfoContext(ctx, "blob sweep", "deleted", res.Deleted, "bytes", res.Bytes, "candidates", res.Candidates)
	}
	return res, err
}
