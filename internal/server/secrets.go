package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/secrets"
	"github.com/rgrid/rgrid/internal/store"
)

// Secret environment variables (rgrid run --secret-env): a submission's
// SecretEnv is sealed with the server's key (Options.Secrets) for the
// job's id before it is stored, its names shown by the job's views, its
// values opened only into the environment of a leased job. A job whose
// values do not open (the server's key changed) ends in error at its
// lease, its values never logged.

// ReasonSecretKey is the reason of a job ended because its secret values
// do not open with the server's key.
const ReasonSecretKey = "secret_key_mismatch"

// checkSecretEnv checks the names and values of req.SecretEnv as Env's
// are checked, and that no name is in both.
func checkSecretEnv(req client.SubmitRequest) error {
	bad := func(hint, format string, args ...any) error {
		return errorf(client.CodeInvalidRequest, hint, format, args...)
	}
	for k, v := range req.SecretEnv {
		switch {
		case !envName.MatchString(k):
			return bad("names are letters, digits and _, not starting with a digit",
				"secret environment variable name %q is not valid", k)
		case strings.HasPrefix(k, "RGRID_"):
			return bad("choose another name; RGRID_* is reserved", "secret environment variable %s is reserved", k)
		case strings.ContainsRune(v, 0):
			return bad("remove the NUL byte", "secret environment variable %s contains a NUL byte", k)
		}
		if _, both := req.Env[k]; both {
			return bad("pass it once: as --env or as --secret-env", "%s is both a plain and a secret environment variable", k)
		}
	}
	return nil
}

// sealSecretEnv seals env for the job id; nil for none. A server without
// a key refuses.
func (s *Server) sealSecretEnv(id string, env map[string]string) ([]byte, error) {
	if len(env) == 0 {
		return nil, nil
	}
	k, err := s.secretKey()
	if err != nil {
		return nil, err
	}
	b, err := k.Seal(id, env)
	if err != nil {
		return nil, fmt.Errorf("seal the secret environment of job %s: %w", id, err)
	}
	return b, nil
}

// sealBatchSecrets seals the batch's secret environment for each of its
// items' ids, so that an item's values open for it alone.
func (s *Server) sealBatchSecrets(nb *store.NewBatch, env map[string]string) error {
	nb.Item.SecretEnv = nil
	for i := range nb.Items {
		b, err := s.sealSecretEnv(nb.Items[i].ID, env)
		if err != nil {
			return err
		}
		nb.Items[i].SecretEnv = b
	}
	return nil
}

// secretKey is the server's key, loaded or made on first need, or the
// refusal of a server that has none.
func (s *Server) secretKey() (*secrets.Key, error) {
	k, err := s.opts.Secrets.Key()
	if err != nil {
		var kfe *secrets.KeyFileError
		if errors.As(err, &kfe) {
			s.log.Error("secret key unusable", "file", kfe.Path, "problem", kfe.Problem)
		} else {
			s.log.Error("secret key unusable", "err", err)
		}
		return nil, errorf(client.CodeNoSecretKey,
			"the server's operator must fix its --secret-key-file (its log says what is wrong)",
			"the server cannot use its secret key, so it cannot store secret environment variables")
	}
	if k == nil {
		return nil, errorf(client.CodeNoSecretKey,
			"start the server with --secret-key-file FILE (32 random bytes, hex or base64, mode 0600; every replica the same), or pass the values with --env",
			"this server has no secret key, so it cannot store secret environment variables")
	}
	return k, nil
}

// secretOpenError is a leased job whose secret values could not be opened:
// the job must end in error, with Message.
type secretOpenError struct {
	Message string
	err     error
}

func (e *secretOpenError) Error() string { return e.Message }
func (e *secretOpenError) Unwrap() error { return e.err }

// openSecretEnv opens a claimed job's secret values into env.
func (s *Server) openSecretEnv(j store.Job, env map[string]string) error {
	if len(j.SecretEnv) == 0 {
		return nil
	}
	k, err := s.secretKey()
	if err != nil {
		return &secretOpenError{err: err, Message: "the job has secret environment variables but the server has no usable secret key: " +
			"restart it with the --secret-key-file that was in use when the job was submitted"}
	}
	vals, err := k.Open(j.ID, j.SecretEnv)
	if err != nil {
		msg := "the job's secret environment variables could not be opened: " + err.Error()
		if errors.Is(err, secrets.ErrKeyMismatch) {
			msg = "the job's secret environment variables do not open with the server's secret key (" + err.Error() +
				"): restart the server with the --secret-key-file that was in use when the job was submitted (every replica needs the same one), or submit the job again"
		}
		return &secretOpenError{err: err, Message: msg}
	}
	maps.Copy(env, vals)
	clear(vals)
	return nil
}

// endUnopened ends a claimed job whose secret values could not be opened,
// in error with the reason why, instead of handing it to the worker.
func (s *Server) endUnopened(ctx context.Context, j store.Job, soe *secretOpenError) {
	s.log.Warn("job's secret environment does not open; ended in error", "job", j.ID, "attempt", j.Attempt, "problem", soe.Message)
	p := store.FinishParams{JobID: j.ID, Attempt: j.Attempt, State: store.StateError,
		Reason: ReasonSecretKey, Message: soe.Message, Now: s.opts.Now().UTC()}
	done, err := s.store.FinishAttempt(ctx, p)
	if err != nil {
		// The worker does not run it: the lease is taken back when the
		// worker's heartbeat does not list it, and the next lease tries
		// again.
		s.log.Error("could not end a job whose secrets do not open", "job", j.ID, "err", err)
		return
	}
	s.resultRecorded(done, p, false)
}
