package benchkit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/rgrid/rgrid/client"
)

// Submit submits n jobs through c with the given number of concurrent
// submitters; job i (0…n-1) is req(i). It stops at the first error.
func Submit(ctx context.Context, c *client.Client, n, concurrency int, req func(i int) client.SubmitRequest) error {
	return each(ctx, n, concurrency, func(ctx context.Context, i int) error {
		if _, err := c.Submit(ctx, req(i)); err != nil {
			return fmt.Errorf("submit job %d: %w", i+1, err)
		}
		return nil
	})
}

// SubmitBatches submits n jobs in batches of size through POST
// /v1/jobs/batch, with concurrency batches in flight.
func SubmitBatches(ctx context.Context, c *client.Client, n, size, concurrency int, req func(i int) client.SubmitRequest) error {
	batches := (n + size - 1) / size
	return each(ctx, batches, concurrency, func(ctx context.Context, b int) error {
		var reqs []client.SubmitRequest
		for i := b * size; i < min(n, (b+1)*size); i++ {
			reqs = append(reqs, req(i))
		}
		if _, err := c.SubmitBatch(ctx, reqs); err != nil {
			return fmt.Errorf("submit batch %d: %w", b+1, err)
		}
		return nil
	})
}

// each calls f for 0…n-1 from concurrency goroutines, stopping at the
// first error.
func each(ctx context.Context, n, concurrency int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make([]error, max(concurrency, 1))
	)
	for g := range errs {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				if err := f(ctx, int(i)); err != nil {
					errs[g] = err
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
