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
				if _, err := c.Submit(ctx, req(int(i))); err != nil {
					errs[g] = fmt.Errorf("submit job %d: %w", i+1, err)
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
