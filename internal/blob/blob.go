// Package blob stores the bytes of job inputs and outputs, addressed by
// their SHA-256. The server and the worker own the Store interface; it has
// two implementations, a local directory (embedded mode, rgrid dev, a
// single machine) and S3, and one conformance suite (blobtest) run on both.
//
// A blob is immutable and named by the lowercase hex SHA-256 of its
// content, so a store never holds wrong bytes under a name: Put checks the
// hash and size while writing and stores nothing on a mismatch, and a
// reader never sees a partial blob. Blobs no job references are deleted
// by Sweep once they are older than the retention period.
//
// With S3, bytes need not pass through the server: the store is also a
// Presigner, and a client or worker PUTs and GETs through short-lived
// signed URLs. A presigned PUT is bound to the blob's hash (the S3 server
// verifies it), so a signed URL cannot be used to store other bytes.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// MaxSize is the largest blob a store accepts: 5 GiB, the most S3 takes in
// one PUT, so that a presigned PUT (a single request) can carry any blob.
// Job inputs and outputs are capped well below it by the server.
const MaxSize int64 = 5 << 30

// HashLen is the length of a blob's name: a SHA-256 in lowercase hex.
const HashLen = 64

var (
	// ErrNotFound: the store has no blob of that hash.
	ErrNotFound = errors.New("blob not found")
	// ErrHashMismatch: the bytes given to Put do not hash to the name.
	ErrHashMismatch = errors.New("blob content does not match its sha256")
	// ErrSizeMismatch: the bytes given to Put are not as long as declared.
	ErrSizeMismatch = errors.New("blob content does not match its declared size")
	// ErrTooLarge: the declared size is over MaxSize.
	ErrTooLarge = fmt.Errorf("blob is larger than the maximum of %d bytes", MaxSize)
	// ErrInvalidHash: the name is not 64 lowercase hex digits.
	ErrInvalidHash = errors.New("blob name is not a sha256 in lowercase hex")
	// ErrOffset: Get was asked to start past the end of the blob.
	ErrOffset = errors.New("offset is past the end of the blob")
)

// Info describes a stored blob.
type Info struct {
	Size int64
	// ModTime is when the blob was last written (a Put of a blob already
	// present writes it again). Retention counts from it.
	ModTime time.Time
}

// Store holds blobs. Every method is safe for concurrent use, also by
// several processes sharing one store (server replicas, workers).
type Store interface {
	// Stat describes the blob, or returns ErrNotFound.
	Stat(ctx context.Context, hash string) (Info, error)

	// Missing returns the hashes among hashes that the store lacks, in
	// their order: the question a client asks before sending a
	// directory. Invalid hashes are an error.
	Missing(ctx context.Context, hashes []string) ([]string, error)

	// Put stores size bytes read from r as the blob hash. It reads all of
	// r's size bytes, and refuses (ErrHashMismatch, ErrSizeMismatch) bytes
	// that do not hash to hash or are shorter or longer than size, storing
	// nothing then. The blob appears whole or not at all. A Put of a blob
	// already present is not an error: it writes the blob again, which
	// renews its ModTime.
	Put(ctx context.Context, hash string, size int64, r io.Reader) error

	// Get reads the blob from byte off on (a resumed download). Info is
	// the whole blob's. off == Size gives an empty reader; beyond it,
	// ErrOffset. The caller closes the reader.
	Get(ctx context.Context, hash string, off int64) (io.ReadCloser, Info, error)

	// Delete removes the blob. Deleting a blob that is not there is not an
	// error (two sweepers may race).
	Delete(ctx context.Context, hash string) error

	// Walk calls fn for every blob last written before before, in no
	// particular order, until fn returns an error (which Walk returns).
	// Retention uses it; a blob written while Walk runs may be missed.
	Walk(ctx context.Context, before time.Time, fn func(hash string, info Info) error) error
}

// Presigner is implemented by stores whose clients can move bytes without
// the server: the S3 store. The server signs; the client or worker sends
// the request as given, with plain net/http.
type Presigner interface {
	// PresignPut signs an upload of the blob hash of size bytes, valid for
	// ttl. The request's Header (the checksum the S3 server verifies) must
	// be sent exactly as given: the URL's signature covers it, so a
	// request without it is refused, and bytes that do not hash to hash
	// are refused by the S3 server. The server still calls Stat after the
	// upload before recording the blob as present (Stat on the S3 store
	// also checks the checksum S3 recorded).
	PresignPut(ctx context.Context, hash string, size int64, ttl time.Duration) (Request, error)
	// PresignGet signs a download of the blob hash, valid for ttl. A
	// Range header may be added to resume.
	PresignGet(ctx context.Context, hash string, ttl time.Duration) (Request, error)
}

// Request is a presigned HTTP request. It grants access to one blob until
// Expires: hand it only to the job's own worker or client, and never log
// its URL.
type Request struct {
	Method  string
	URL     string
	Header  http.Header
	Expires time.Time
}

// MaxPresignTTL is the longest validity a presigned request may have (S3's
// limit for signature version 4).
const MaxPresignTTL = 7 * 24 * time.Hour

// ValidHash reports whether h names a blob: 64 lowercase hex digits.
func ValidHash(h string) bool {
	if len(h) != HashLen {
		return false
	}
	for i := range len(h) {
		c := h[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// checkHash returns ErrInvalidHash, naming the value, for a bad name. The
// name is not secret: it comes from a client and is safe to echo (quoted,
// cut short).
func checkHash(h string) error {
	if ValidHash(h) {
		return nil
	}
	if len(h) > HashLen+8 {
		h = h[:HashLen+8] + "…"
	}
	return fmt.Errorf("%w: %q", ErrInvalidHash, h)
}

// checkPut validates Put's arguments.
func checkPut(hash string, size int64) error {
	if err := checkHash(hash); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("put blob %s: negative size %d", hash, size)
	}
	if size > MaxSize {
		return fmt.Errorf("put blob %s of %d bytes: %w", hash, size, ErrTooLarge)
	}
	return nil
}

// checkTTL validates a presigned request's validity.
func checkTTL(ttl time.Duration) error {
	if ttl <= 0 || ttl > MaxPresignTTL {
		return fmt.Errorf("presign: validity %s is out of range (more than 0, at most %s)", ttl, MaxPresignTTL)
	}
	return nil
}
