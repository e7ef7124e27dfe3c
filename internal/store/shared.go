package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// What both implementations do alike, whatever their SQL.

// WithDefaults fills what the caller left unset: a lost attempt always has
// a reason.
func (p LoseParams) WithDefaults() LoseParams {
	if p.Reason == "" {
		p.Reason = "worker_lost"
	}
	return p
}

// OverdueMessage is the message of a job the server ended past its time
// limit, so both databases give the same words.
func OverdueMessage(elapsed time.Duration, timeoutSeconds int64, grace time.Duration) string {
	return fmt.Sprintf("ended by the server: still running %d s after it started, "+
		"past its %d s time limit plus %s s grace (its worker stopped reporting)",
		int64(elapsed/time.Second), timeoutSeconds,
		strconv.FormatFloat(grace.Seconds(), 'f', -1, 64))
}

// EncodeRequirements is how requirements are stored: a JSON array, []
// for none.
func EncodeRequirements(reqs []string) []byte {
	if reqs == nil {
		reqs = []string{}
	}
	b, _ := json.Marshal(reqs) // a []string always encodes
	return b
}

// DecodeRequirements reads the stored array into j; none comes back as nil.
func DecodeRequirements(b []byte, j *Job) error {
	if err := json.Unmarshal(b, &j.Requirements); err != nil {
		return fmt.Errorf("decode requirements: %w", err)
	}
	if len(j.Requirements) == 0 {
		j.Requirements = nil
	}
	return nil
}

// DefaultLogLimit is the output stored for each attempt of a job that
// sets no limit: 10 MiB.
const DefaultLogLimit = 10 << 20

// LogLimitOr is limit, or DefaultLogLimit when it is not positive.
func LogLimitOr(limit int64) int64 {
	if limit <= 0 {
		return DefaultLogLimit
	}
	return limit
}

// Each answers a batch (StartAttempts, FinishAttempts) one item at a time
// with one, the single-item method, skipping those done[i] marks as
// answered already: the general path that a store's faster batch
// statement falls back to.
func Each[P any](ctx context.Context, ps []P, one func(context.Context, P) (Job, error), jobs []Job, errs []error, done []bool) error {
	for i, p := range ps {
		if done != nil && done[i] {
			continue
		}
		jobs[i], errs[i] = one(ctx, p)
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
	}
	return nil
}
