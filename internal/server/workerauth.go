package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/store"
)

// Workers act only for themselves. A worker registers with its worker
// token, and the registration keeps the token's id: the calls on a worker
// id (heartbeat, lease, release, reports) must come with that token and
// from the process (instance) that holds the id, and every report on an
// attempt must come from the worker holding it. A report that fails the
// check is refused (403) and changes nothing. Callers with the shared
// token or on an open server are not told apart this way: they are
// trusted as before users existed.

// checkWorker checks that the caller may act as worker id.
func (s *Server) checkWorker(r *http.Request, id string) error {
	p := caller(r)
	if p.kind != asWorker {
		return nil
	}
	w, err := s.store.GetWorker(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return s.workerNotFound(id)
	}
	if err != nil {
		return err
	}
	if w.TokenID != p.token.ID {
		return errorf(client.CodeForbidden, "give each worker its own --worker-id",
			"worker %s is registered with another worker token", id).with("worker_id", id)
	}
	instance, err := workerInstance(r)
	if err != nil {
		return err
	}
	if w.Instance != "" && instance != w.Instance {
		return s.workerInUse(r, &store.WorkerInUseError{Holder: w})
	}
	return nil
}

// holders checks refs against the worker calling: for each, nil when the
// caller is the worker holding the attempt (or is not a worker token,
// whose reports are fenced by the attempt alone), else the refusal. The
// holder is the worker of the job's current attempt; a ref that is not
// current is left to the store, which refuses it as stale.
func (s *Server) holders(r *http.Request, workerID string, refs []store.AttemptRef) ([]*apiError, error) {
	out := make([]*apiError, len(refs))
	p := caller(r)
	if p.kind != asWorker || len(refs) == 0 {
		return out, nil
	}
	hs, err := s.store.AttemptHolders(r.Context(), refs)
	if err != nil {
		return nil, err
	}
	ok := map[string]bool{}
	for i, h := range hs {
		if h == "" {
			continue
		}
		if workerID != "" {
			if h != workerID {
				out[i] = notYours(refs[i])
			}
			continue
		}
		mine, seen := ok[h]
		if !seen {
			mine = s.checkWorker(r, h) == nil
			ok[h] = mine
		}
		if !mine {
			out[i] = notYours(refs[i])
		}
	}
	return out, nil
}

func notYours(ref store.AttemptRef) *apiError {
	return errorf(client.CodeForbidden, "report only on the attempts this worker leased",
		"attempt %d of job %s is held by another worker", ref.Attempt, ref.JobID).
		with("job_id", ref.JobID).with("attempt", ref.Attempt)
}

// holdsAttempt checks one attempt report of the caller.
func (s *Server) holdsAttempt(r *http.Request, ref store.AttemptRef) error {
	errs, err := s.holders(r, "", []store.AttemptRef{ref})
	if err != nil {
		return err
	}
	if errs[0] != nil {
		return errs[0]
	}
	return nil
}

// takeOver settles a registration of worker id by another token than the
// one it was registered with: refused while that worker is alive; a dead
// one's attempts are ended lost first, so the new holder can neither keep
// nor report on them.
func (s *Server) takeOver(r *http.Request, id, tokenID string) error {
	w, err := s.store.GetWorker(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || err == nil && w.TokenID == tokenID {
		return nil
	}
	if err != nil {
		return err
	}
	now := s.opts.Now().UTC()
	if w.State != "dead" && !w.LastHeartbeat.Before(now.Add(-s.opts.DeadAfter)) {
		return errorf(client.CodeWorkerIDInUse, "give each worker its own --worker-id",
			"worker id %s is registered with another worker token, and that worker is alive", id).with("worker_id", id)
	}
	jobs, err := s.store.LoseAttempts(r.Context(), store.LoseParams{WorkerID: id, Reason: "worker_lost",
		Message: fmt.Sprintf("worker id %s was registered again with another token", id), Now: now})
	s.metrics.AttemptsLost("worker_lost", jobs)
	return err
}
