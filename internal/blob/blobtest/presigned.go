package blobtest

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/rgrid/rgrid/internal/blob"
)

// testPresigned proves that presigned requests work through plain
// net/http and that a presigned PUT can store only the blob it names.
func testPresigned(t *testing.T, s blob.Store, p blob.Presigner, opts Options) {
	ctx := t.Context()
	data := Random(opts.LargeSize)
	h := Hash(data)
	size := int64(len(data))

	wrong := bytes.Clone(data)
	wrong[0] ^= 1
	put, err := p.PresignPut(ctx, h, size, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if put.Method != http.MethodPut || !put.Expires.After(time.Now()) {
		t.Fatalf("PresignPut gave %s, expiring %s", put.Method, put.Expires)
	}
	// Other bytes, with the signed header: the S3 server must refuse them.
	if code := send(t, put, wrong, nil); code/100 == 2 {
		t.Errorf("presigned PUT of other bytes: status %d, want a refusal", code)
	}
	wantAbsent(t, s, h)
	// Other bytes without the header: the signature no longer holds.
	bare := put
	bare.Header = http.Header{}
	if code := send(t, bare, wrong, nil); code/100 == 2 {
		t.Errorf("presigned PUT without its checksum header: status %d, want a refusal", code)
	}
	wantAbsent(t, s, h)
	// Other bytes with their own checksum in the header: not what was signed.
	forged := put
	forged.Header = http.Header{"X-Amz-Checksum-Sha256": {checksumB64(wrong)}}
	if code := send(t, forged, wrong, nil); code/100 == 2 {
		t.Errorf("presigned PUT with a forged checksum header: status %d, want a refusal", code)
	}
	wantAbsent(t, s, h)

	if code := send(t, put, data, nil); code != http.StatusOK {
		t.Fatalf("presigned PUT of the right bytes: status %d", code)
	}
	wantPresent(t, s, h)
	if got, _ := mustGet(t, s, h, 0); !bytes.Equal(got, data) {
		t.Fatal("the blob uploaded through the presigned PUT is not the content")
	}

	get, err := p.PresignGet(ctx, h, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var body []byte
	if code := send(t, get, nil, &body); code != http.StatusOK || !bytes.Equal(body, data) {
		t.Errorf("presigned GET: status %d, %d bytes; want 200 and the blob", code, len(body))
	}
	ranged := get
	ranged.Header = http.Header{"Range": {"bytes=1000-"}}
	if code := send(t, ranged, nil, &body); code != http.StatusPartialContent || !bytes.Equal(body, data[1000:]) {
		t.Errorf("presigned GET from byte 1000: status %d, %d bytes; want 206 and the rest", code, len(body))
	}

	if _, err := p.PresignPut(ctx, "nope", 1, time.Minute); !errors.Is(err, blob.ErrInvalidHash) {
		t.Errorf("PresignPut of a bad name: got %v, want ErrInvalidHash", err)
	}
	if _, err := p.PresignGet(ctx, h, blob.MaxPresignTTL+time.Second); err == nil {
		t.Error("PresignGet for longer than MaxPresignTTL succeeded")
	}
}

// send makes a presigned request with plain net/http, as a worker would,
// and returns the status (reading the body into *out if out is not nil).
func send(t *testing.T, r blob.Request, body []byte, out *[]byte) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), r.Method, r.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body, req.ContentLength = nil, 0
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s presigned: %v", r.Method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s presigned: read the response: %v", r.Method, err)
	}
	if out != nil {
		*out = b
	}
	return resp.StatusCode
}
