package blobtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/rgrid/rgrid/internal/blob"
)

// S3URLEnv names the variable holding the test S3 server's setting, in
// the form blob.ParseS3URL reads; scripts/s3.sh starts a SeaweedFS server
// and sets it.
const S3URLEnv = "RGRID_TEST_S3_URL"

// S3Config returns the test S3 server's settings with a key prefix of the
// test's own (so tests share the bucket without seeing each other), and
// empties that prefix when the test ends. The bucket is created if it is
// not there. Without the variable it skips the test, or fails it when
// CI=true: the S3 store must be proved against a real server in CI.
func S3Config(t testing.TB) blob.S3Config {
	t.Helper()
	raw := os.Getenv(S3URLEnv)
	if raw == "" {
		msg := S3URLEnv + " is not set: run scripts/test.sh, or source scripts/s3.sh and run s3_start"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cfg, err := blob.ParseS3URL(raw, os.Getenv)
	if err != nil {
		t.Fatalf("%s: %v", S3URLEnv, err)
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	cfg.Prefix += "test-" + hex.EncodeToString(id[:]) + "/"
	ensureBucket(t, cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := blob.OpenS3(ctx, cfg)
		if err != nil {
			t.Logf("empty the test prefix: %v", err)
			return
		}
		_ = s.Walk(ctx, time.Now().Add(24*time.Hour), func(h string, _ blob.Info) error {
			return s.Delete(ctx, h)
		})
	})
	return cfg
}

func ensureBucket(t testing.TB, cfg blob.S3Config) {
	t.Helper()
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	c, err := minio.New(endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken),
		Secure: cfg.Secure,
		Region: cfg.Region,
	})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := c.BucketExists(t.Context(), cfg.Bucket)
	if err != nil {
		t.Fatalf("the test S3 server at %s: %v", cfg.Endpoint, err)
	}
	if !ok {
		err := c.MakeBucket(t.Context(), cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region})
		if err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
			t.Fatalf("create the test bucket %s: %v", cfg.Bucket, err)
		}
	}
}
