package blob_test

import (
	"testing"

	"github.com/rgrid/rgrid/internal/blob"
	"github.com/rgrid/rgrid/internal/blob/blobtest"
)

func TestLocalConformance(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := blob.OpenLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, blobtest.Options{LargeSize: 11 << 20})
}

func TestS3Conformance(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, func(t *testing.T) blob.Store {
		cfg := blobtest.S3Config(t)
		// The smallest parts S3 allows, so an 11 MiB blob is a multipart
		// upload of three.
		cfg.PartSize = blob.MinPartSize
		s, err := blob.OpenS3(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, blobtest.Options{LargeSize: 11 << 20, PartSize: blob.MinPartSize})
}
