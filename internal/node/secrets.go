package node

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/rgrid/rgrid/internal/secrets"
)

// secretKeyName is the key file a server on SQLite makes beside its
// database when it has none and first needs one.
const secretKeyName = "secret.key"

// secretSource is where a server's key for jobs' secret environment
// values comes from: keyFile, read now; else, on SQLite (one machine), a
// key file beside the database, made on first need; else none (PostgreSQL
// replicas must share one key, which rgrid cannot make for them).
func secretSource(keyFile, db, dialect string, log *slog.Logger) (*secrets.Source, error) {
	if keyFile != "" {
		k, err := secrets.LoadKeyFile(keyFile)
		if err != nil {
			return nil, keyFileErr(err)
		}
		log.Info("secret key loaded: jobs' secret environment values are stored encrypted", "file", keyFile, "key_id", k.ID())
		return secrets.Fixed(k), nil
	}
	if dialect != "sqlite" {
		log.Info("no --secret-key-file: submissions with secret environment variables are refused")
		return nil, nil
	}
	return besideDB(filepath.Join(filepath.Dir(strings.TrimPrefix(db, "sqlite://")), secretKeyName), log), nil
}

// besideDB is the key in path, made there on first need.
func besideDB(path string, log *slog.Logger) *secrets.Source {
	return secrets.Lazy(func() (*secrets.Key, error) {
		k, created, err := secrets.EnsureKeyFile(path)
		if err != nil {
			return nil, err
		}
		if created {
			log.Warn("created a secret key file for jobs' secret environment values; keep it with the database (without it their jobs cannot run)",
				"file", path, "key_id", k.ID())
		}
		return k, nil
	})
}

func keyFileErr(err error) error {
	var kfe *secrets.KeyFileError
	if errors.As(err, &kfe) {
		return usageErr(kfe.Hint, "%v", err)
	}
	return platformErr("check --secret-key-file", "%v", err)
}
