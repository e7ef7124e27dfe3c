package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/rgrid/rgrid/internal/blob"
	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/docker"
	"github.com/rgrid/rgrid/internal/worker"
)

// openBlobs opens the blob store spec names: an s3:// URL (credentials in
// it or in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the AWS
// chain), or a directory; "" is dir. It returns the store and how to name
// it in a log line (never with a credential).
func openBlobs(ctx context.Context, spec, dir string) (blob.Store, string, error) {
	if strings.HasPrefix(spec, "s3://") {
		cfg, err := blob.ParseS3URL(spec, os.Getenv)
		if err != nil {
			return nil, "", usageErr("write --blobs s3://BUCKET/PREFIX?endpoint=http://HOST:PORT&region=REGION", "%v", err)
		}
		st, err := blob.OpenS3(ctx, cfg)
		if err != nil {
			return nil, "", platformErr("check the bucket, the endpoint and the credentials of --blobs", "%v", err)
		}
		return st, cfg.String(), nil
	}
	if spec == "" {
		spec = dir
	}
	st, err := blob.OpenLocal(spec)
	if err != nil {
		return nil, "", usageErr("pass --blobs a writable directory, or an s3:// URL", "%v", err)
	}
	return st, spec, nil
}

// defaultBlobDir is where a server keeps blobs when not told: beside a
// SQLite database, else in the data directory.
func defaultBlobDir(db, dataDir string) string {
	if !strings.Contains(db, "://") || strings.HasPrefix(db, "sqlite://") {
		return filepath.Join(filepath.Dir(strings.TrimPrefix(db, "sqlite://")), "blobs")
	}
	return filepath.Join(dataDir, "blobs")
}

// fileOptions fill what a worker needs for files: where it caches input
// blobs (in the data directory, per worker id), and where its jobs see
// their working directory.
func fileOptions(o *worker.Options, dataDir string, ex executor.Executor) {
	if dataDir != "" {
		o.BlobCacheDir = filepath.Join(dataDir, "blob-cache")
	}
	if strings.Contains(ex.Name(), "docker") {
		o.JobMountPoint = docker.WorkDir
	}
}
