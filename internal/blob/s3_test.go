package blob_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/rgrid/rgrid/internal/blob"
	"github.com/rgrid/rgrid/internal/blob/blobtest"
)

// rawClient reaches the test bucket around the store, to do what the
// store never would.
func rawClient(t *testing.T, cfg blob.S3Config) *minio.Client {
	t.Helper()
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:           credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:          cfg.Secure,
		Region:          cfg.Region,
		TrailingHeaders: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestS3OpenErrorsHintAndHideTheSecret(t *testing.T) {
	t.Parallel()
	cfg := blobtest.S3Config(t)

	wrong := cfg
	wrong.SecretKey = "not-the-secret-" + strings.Repeat("x", 20)
	_, err := blob.OpenS3(t.Context(), wrong)
	if err == nil {
		t.Fatal("OpenS3 with a wrong secret succeeded")
	}
	if !strings.Contains(err.Error(), "check the access key and secret") {
		t.Errorf("wrong secret: %q gives no hint", err)
	}
	for _, s := range []string{wrong.SecretKey, cfg.SecretKey} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("the error shows a secret: %q", err)
		}
	}

	absent := cfg
	absent.Bucket = "rgrid-no-such-bucket"
	if _, err := blob.OpenS3(t.Context(), absent); err == nil || !strings.Contains(err.Error(), "does not exist; create it first") {
		t.Errorf("absent bucket: got %v, want a hint to create it", err)
	}

	down := cfg
	down.Endpoint = "127.0.0.1:1"
	if _, err := blob.OpenS3(t.Context(), down); err == nil || !strings.Contains(err.Error(), "is the S3 server at 127.0.0.1:1 up?") {
		t.Errorf("no server: got %v, want a hint that it is down", err)
	}
}

// The S3 server itself checks the SHA-256 a single PUT carries: what the
// store relies on for presigned uploads, shown here without the store's
// own client-side check.
func TestS3ServerRefusesAWrongChecksum(t *testing.T) {
	t.Parallel()
	cfg := blobtest.S3Config(t)
	c := rawClient(t, cfg)
	data := []byte("what is sent")
	claimed := blobtest.Hash([]byte("what is claimed"))
	key := cfg.Prefix + claimed[:2] + "/" + claimed
	_, err := c.PutObject(t.Context(), cfg.Bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		UserMetadata: map[string]string{"x-amz-checksum-sha256": checksumOf(t, claimed)},
	})
	if code := minio.ToErrorResponse(err).Code; code != "BadDigest" && code != "XAmzContentChecksumMismatch" {
		t.Errorf("PUT with a wrong x-amz-checksum-sha256: got %v (code %q), want BadDigest", err, code)
	}
	s, err := blob.OpenS3(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(t.Context(), claimed); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("after the refused PUT: Stat got %v, want ErrNotFound", err)
	}
}

// An object whose recorded SHA-256 is not its name (written around the
// store) is corrupt: Stat says so and Missing asks for it again.
func TestS3StatFindsCorruptObjects(t *testing.T) {
	t.Parallel()
	cfg := blobtest.S3Config(t)
	c := rawClient(t, cfg)
	data := []byte("the bytes stored")
	name := blobtest.Hash([]byte("the bytes the name is of"))
	key := cfg.Prefix + name[:2] + "/" + name
	if _, err := c.PutObject(t.Context(), cfg.Bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		Checksum: minio.ChecksumSHA256, // the server records the bytes' true SHA-256
	}); err != nil {
		t.Fatal(err)
	}
	s, err := blob.OpenS3(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(t.Context(), name); !errors.Is(err, blob.ErrCorrupt) {
		t.Errorf("Stat: got %v, want ErrCorrupt", err)
	}
	if m, err := s.Missing(t.Context(), []string{name}); err != nil || len(m) != 1 {
		t.Errorf("Missing: got %v, %v; want the corrupt blob missing", m, err)
	}
	// Sent again through the store, it is right.
	right := []byte("the bytes the name is of")
	if err := s.Put(t.Context(), name, int64(len(right)), bytes.NewReader(right)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(t.Context(), name); err != nil {
		t.Errorf("Stat after a good Put: %v", err)
	}
}

func TestS3WalkAbortsAbandonedUploads(t *testing.T) {
	t.Parallel()
	cfg := blobtest.S3Config(t)
	core := minio.Core{Client: rawClient(t, cfg)}
	h := blobtest.Hash([]byte("never finished"))
	key := cfg.Prefix + h[:2] + "/" + h
	if _, err := core.NewMultipartUpload(t.Context(), cfg.Bucket, key, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	uploads := func() int {
		res, err := core.ListMultipartUploads(t.Context(), cfg.Bucket, cfg.Prefix, "", "", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Uploads)
	}
	if n := uploads(); n != 1 {
		t.Fatalf("%d unfinished uploads, want the one started", n)
	}
	s, err := blob.OpenS3(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	walk := func(before time.Time) {
		if err := s.Walk(t.Context(), before, func(string, blob.Info) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	walk(time.Now().Add(-time.Hour))
	if n := uploads(); n != 1 {
		t.Errorf("a Walk with a cutoff before the upload began left %d uploads, want it kept", n)
	}
	walk(time.Now().Add(time.Hour))
	if n := uploads(); n != 0 {
		t.Errorf("a Walk with a cutoff after the upload began left %d uploads, want it aborted", n)
	}
}

// checksumOf is the x-amz-checksum-sha256 value for a blob name.
func checksumOf(t *testing.T, hash string) string {
	t.Helper()
	b, err := hex.DecodeString(hash)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}
