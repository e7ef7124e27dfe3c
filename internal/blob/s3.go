package blob

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"golang.org/x/sync/errgroup"
)

// S3 is a Store in an S3 bucket (AWS, or any S3-compatible server): the
// blob ab12… is the object prefix/ab/ab12…. It is also a Presigner.
//
// Integrity: a Put hashes the bytes on their way out and fails the
// upload before it completes when they are wrong, so nothing lands under
// the hash (a single PUT is cut short; a multipart upload is aborted
// before CompleteMultipartUpload). A single PUT, and every presigned PUT,
// also carries x-amz-checksum-sha256, which the S3 server checks against
// what it received. Stat compares the SHA-256 the server recorded, when it
// has one for the whole object, with the name (ErrCorrupt otherwise).
type S3 struct {
	c   *minio.Client
	cfg S3Config
}

var (
	_ Store     = (*S3)(nil)
	_ Presigner = (*S3)(nil)
)

// ErrCorrupt: the S3 server recorded a SHA-256 for the object that is not
// its name. Missing counts such a blob as missing, so it is sent again.
var ErrCorrupt = errors.New("stored blob does not match its sha256")

// missingParallel bounds the HEAD requests Missing has in flight: 16, as
// many as minio-go keeps idle connections per host. Measured on SeaweedFS
// on loopback: 2,000 hashes in 0.73 s. Listing the prefix instead costs
// time in the size of the store (90 ms per 1,000 objects there), not of
// the question, so it loses once the store is bigger than the question.
const missingParallel = 16

// OpenS3 connects to the bucket and checks that it exists and that the
// credentials are accepted.
func OpenS3(ctx context.Context, cfg S3Config) (*S3, error) {
	var creds *credentials.Credentials
	if cfg.AccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.FileAWSCredentials{},
			&credentials.IAM{},
		})
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	c, err := minio.New(endpoint, &minio.Options{
		Creds:        creds,
		Secure:       cfg.Secure,
		Region:       cfg.Region,
		BucketLookup: lookup,
		// Lets a PUT carry x-amz-checksum-* (minio-go refuses it
		// otherwise) and gives multipart parts CRC32C checksums.
		TrailingHeaders: true,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 blob store %s: %w", cfg, err)
	}
	s := &S3{c: c, cfg: cfg}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("S3 blob store %s: %w", cfg, s.hint(err))
	}
	if !ok {
		return nil, fmt.Errorf("S3 blob store %s: bucket %q does not exist; create it first (aws s3 mb s3://%s)", cfg, cfg.Bucket, cfg.Bucket)
	}
	return s, nil
}

// Config is the store's settings (print it, not its fields: String masks
// the secret).
func (s *S3) Config() S3Config { return s.cfg }

// hint adds the likely fix to an error of the first request.
func (s *S3) hint(err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied":
		return fmt.Errorf("%w (check the access key and secret, from %s, and the region %s)", err, s.cfg.CredentialsFrom, s.cfg.Region)
	case "":
		if s.cfg.Endpoint != "" {
			return fmt.Errorf("%w (is the S3 server at %s up?)", err, s.cfg.Endpoint)
		}
	}
	return err
}

func (s *S3) key(hash string) string { return s.cfg.Prefix + hash[:2] + "/" + hash }

// isNotFound classifies by the S3 error code, not its message.
func isNotFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == minio.NoSuchKey || r.StatusCode == http.StatusNotFound
}

// checksumHeader is the x-amz-checksum-sha256 value of a blob: its hash,
// base64 instead of hex.
func checksumHeader(hash string) string {
	b, _ := hex.DecodeString(hash)
	return base64.StdEncoding.EncodeToString(b)
}

func (s *S3) Stat(ctx context.Context, hash string) (Info, error) {
	if err := checkHash(hash); err != nil {
		return Info{}, err
	}
	oi, err := s.c.StatObject(ctx, s.cfg.Bucket, s.key(hash), minio.StatObjectOptions{Checksum: true})
	if isNotFound(err) {
		return Info{}, fmt.Errorf("blob %s: %w", hash, ErrNotFound)
	}
	if err != nil {
		return Info{}, fmt.Errorf("stat blob %s: %w", hash, err)
	}
	// A multipart upload's checksum is of its parts' checksums ("…-N"):
	// only a whole-object one can be compared with the name.
	if sum := oi.ChecksumSHA256; sum != "" && !strings.Contains(sum, "-") && sum != checksumHeader(hash) {
		return Info{}, fmt.Errorf("blob %s: %w", hash, ErrCorrupt)
	}
	return Info{Size: oi.Size, ModTime: oi.LastModified}, nil
}

func (s *S3) Missing(ctx context.Context, hashes []string) ([]string, error) {
	for _, h := range hashes {
		if err := checkHash(h); err != nil {
			return nil, err
		}
	}
	lacks := make([]bool, len(hashes))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(missingParallel)
	for i, h := range hashes {
		g.Go(func() error {
			_, err := s.Stat(gctx, h)
			switch {
			case errors.Is(err, ErrNotFound), errors.Is(err, ErrCorrupt):
				lacks[i] = true
			case err != nil:
				return err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var missing []string
	for i, h := range hashes {
		if lacks[i] {
			missing = append(missing, h)
		}
	}
	return missing, nil
}

func (s *S3) Put(ctx context.Context, hash string, size int64, r io.Reader) error {
	if err := checkPut(hash, size); err != nil {
		return err
	}
	v := newVerifier(r, hash, size)
	body := io.Reader(v)
	if size == 0 {
		// minio-go reads nothing of an empty body: settle it here.
		if _, err := v.Read(nil); !v.ok() {
			return fmt.Errorf("put blob %s: %w", hash, err)
		}
		body = bytes.NewReader(nil)
	}
	opts := minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		PartSize:    uint64(s.cfg.PartSize),
	}
	if size <= s.cfg.PartSize {
		// A single PUT: let the server check the whole object too. (A
		// multipart upload cannot carry a whole-object SHA-256.)
		opts.UserMetadata = map[string]string{"x-amz-checksum-sha256": checksumHeader(hash)}
	}
	_, err := s.c.PutObject(ctx, s.cfg.Bucket, s.key(hash), body, size, opts)
	if verr := v.failure(); verr != nil {
		// The upload failed because the bytes were wrong; minio-go has
		// aborted it (multipart) or the server got a short body.
		if err == nil {
			// It completed all the same (a writer that ignored the
			// error): take the object back.
			_ = s.c.RemoveObject(context.WithoutCancel(ctx), s.cfg.Bucket, s.key(hash), minio.RemoveObjectOptions{})
		}
		return fmt.Errorf("put blob %s: %w", hash, verr)
	}
	if err != nil {
		if code := minio.ToErrorResponse(err).Code; code == "BadDigest" || code == "XAmzContentSHA256Mismatch" {
			return fmt.Errorf("put blob %s: %w", hash, ErrHashMismatch)
		}
		return fmt.Errorf("put blob %s: %w", hash, err)
	}
	if !v.ok() {
		// Uploaded without reading all the bytes: should not happen, and
		// what is stored is unverified. Take it back.
		_ = s.c.RemoveObject(context.WithoutCancel(ctx), s.cfg.Bucket, s.key(hash), minio.RemoveObjectOptions{})
		return fmt.Errorf("put blob %s: the S3 client did not send the whole blob", hash)
	}
	return nil
}

func (s *S3) Get(ctx context.Context, hash string, off int64) (io.ReadCloser, Info, error) {
	if err := checkHash(hash); err != nil {
		return nil, Info{}, err
	}
	core := minio.Core{Client: s.c}
	if off == 0 {
		rc, oi, _, err := core.GetObject(ctx, s.cfg.Bucket, s.key(hash), minio.GetObjectOptions{})
		if isNotFound(err) {
			return nil, Info{}, fmt.Errorf("blob %s: %w", hash, ErrNotFound)
		}
		if err != nil {
			return nil, Info{}, fmt.Errorf("get blob %s: %w", hash, err)
		}
		return rc, Info{Size: oi.Size, ModTime: oi.LastModified}, nil
	}
	// A resume: the whole blob's size first, to check off and because a
	// ranged response gives only the range's.
	info, err := s.Stat(ctx, hash)
	if err != nil {
		return nil, Info{}, err
	}
	if off < 0 || off > info.Size {
		return nil, Info{}, fmt.Errorf("get blob %s from byte %d of %d: %w", hash, off, info.Size, ErrOffset)
	}
	if off == info.Size {
		return io.NopCloser(bytes.NewReader(nil)), info, nil
	}
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(off, 0); err != nil {
		return nil, Info{}, fmt.Errorf("get blob %s: %w", hash, err)
	}
	rc, _, _, err := core.GetObject(ctx, s.cfg.Bucket, s.key(hash), opts)
	if isNotFound(err) {
		return nil, Info{}, fmt.Errorf("blob %s: %w", hash, ErrNotFound)
	}
	if err != nil {
		return nil, Info{}, fmt.Errorf("get blob %s: %w", hash, err)
	}
	return rc, info, nil
}

func (s *S3) Delete(ctx context.Context, hash string) error {
	if err := checkHash(hash); err != nil {
		return err
	}
	err := s.c.RemoveObject(ctx, s.cfg.Bucket, s.key(hash), minio.RemoveObjectOptions{})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete blob %s: %w", hash, err)
	}
	return nil
}

// Walk also aborts multipart uploads under the prefix started before
// before: an upload unfinished after the retention period was interrupted
// and only holds space (a bucket lifecycle rule can do the same).
func (s *S3) Walk(ctx context.Context, before time.Time, fn func(hash string, info Info) error) error {
	ctx, cancel := context.WithCancel(ctx) // stops minio-go's listing goroutine on an early return
	defer cancel()
	for obj := range s.c.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.cfg.Prefix, Recursive: true}) {
		if obj.Err != nil {
			return fmt.Errorf("walk blobs: %w", obj.Err)
		}
		rest := strings.TrimPrefix(obj.Key, s.cfg.Prefix)
		dir, name, ok := strings.Cut(rest, "/")
		if !ok || !ValidHash(name) || dir != name[:2] || !obj.LastModified.Before(before) {
			continue
		}
		if err := fn(name, Info{Size: obj.Size, ModTime: obj.LastModified}); err != nil {
			return err
		}
	}
	for up := range s.c.ListIncompleteUploads(ctx, s.cfg.Bucket, s.cfg.Prefix, true) {
		if up.Err != nil {
			if minio.ToErrorResponse(up.Err).Code == "NotImplemented" {
				break
			}
			return fmt.Errorf("walk blobs: list unfinished uploads: %w", up.Err)
		}
		if up.Initiated.Before(before) {
			if err := s.c.RemoveIncompleteUpload(ctx, s.cfg.Bucket, up.Key); err != nil && !isNotFound(err) {
				return fmt.Errorf("walk blobs: abort unfinished upload: %w", err)
			}
		}
	}
	return ctx.Err()
}

func (s *S3) PresignPut(ctx context.Context, hash string, size int64, ttl time.Duration) (Request, error) {
	if err := checkPut(hash, size); err != nil {
		return Request{}, err
	}
	if err := checkTTL(ttl); err != nil {
		return Request{}, err
	}
	// Signed, so the client must send it, and the S3 server refuses a
	// body that does not hash to it: the URL can store only this blob.
	h := http.Header{"X-Amz-Checksum-Sha256": {checksumHeader(hash)}}
	now := time.Now()
	u, err := s.c.PresignHeader(ctx, http.MethodPut, s.cfg.Bucket, s.key(hash), ttl, nil, h)
	if err != nil {
		return Request{}, fmt.Errorf("presign upload of blob %s: %w", hash, err)
	}
	return Request{Method: http.MethodPut, URL: u.String(), Header: h, Expires: now.Add(ttl)}, nil
}

func (s *S3) PresignGet(ctx context.Context, hash string, ttl time.Duration) (Request, error) {
	if err := checkHash(hash); err != nil {
		return Request{}, err
	}
	if err := checkTTL(ttl); err != nil {
		return Request{}, err
	}
	now := time.Now()
	u, err := s.c.PresignHeader(ctx, http.MethodGet, s.cfg.Bucket, s.key(hash), ttl, nil, nil)
	if err != nil {
		return Request{}, fmt.Errorf("presign download of blob %s: %w", hash, err)
	}
	return Request{Method: http.MethodGet, URL: u.String(), Header: http.Header{}, Expires: now.Add(ttl)}, nil
}
