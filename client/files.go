package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Files: a job's working directory goes to the server as content-addressed
// blobs, named by the SHA-256 of their bytes, and a manifest that says
// where each goes. The client asks which blobs the server lacks
// (MissingBlobs), uploads only those (UploadBlob), and submits the job with
// the manifest. A job's outputs come back the same way: a manifest
// (JobOutputs) and blobs (OpenBlob).

// FileEntry is one entry of a manifest: a file (its size, SHA-256 and
// whether it is executable), a symlink (its target, relative and inside
// the tree) or a directory.
type FileEntry struct {
	Path       string `json:"path"` // relative, slash-separated
	Kind       string `json:"kind"` // "file", "symlink" or "dir"
	Size       int64  `json:"size,omitempty"`
	Executable bool   `json:"executable,omitempty"`
	SHA256     string `json:"sha256,omitempty"`
	Target     string `json:"target,omitempty"`
}

// Manifest lists a directory's entries, sorted by path.
type Manifest struct {
	Entries []FileEntry `json:"entries"`
}

// SkippedOutput is a path of a job's working directory that was not
// collected as an output, and why (a FIFO, over the count or size cap, …).
type SkippedOutput struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// BlobRef names a blob: the SHA-256 of its bytes (lowercase hex) and its
// size.
type BlobRef struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// BlobsMissingRequest is the body of POST /v1/blobs/missing.
type BlobsMissingRequest struct {
	Blobs []BlobRef `json:"blobs"`
}

// BlobsMissingResponse lists the blobs the server lacks, each with where
// to upload it.
type BlobsMissingResponse struct {
	Missing []BlobUpload `json:"missing"`
}

// BlobUpload is where one blob goes: a URL of the server's own (a path,
// sent with the client's token) or a presigned URL of the blob store's
// (absolute; sent as given, with Header, and never with the token).
type BlobUpload struct {
	BlobRef
	Method string              `json:"method"`
	URL    string              `json:"url"`
	Header map[string][]string `json:"header,omitempty"`
}

// JobOutputs is what GET /v1/jobs/{id}/outputs returns: the files the job
// left in its working directory, and what was left out.
type JobOutputs struct {
	Outputs *Manifest       `json:"outputs"` // nil until the job has ended with its outputs
	Skipped []SkippedOutput `json:"skipped,omitempty"`
}

// FilesSummary counts a job's files (GET /v1/jobs/{id} fills it).
type FilesSummary struct {
	Inputs         *FileCount `json:"inputs,omitempty"`  // nil: the script was sent alone
	Outputs        *FileCount `json:"outputs,omitempty"` // nil: none recorded (yet)
	OutputsSkipped int        `json:"outputs_skipped,omitempty"`
	Stdin          *BlobRef   `json:"stdin,omitempty"`
}

// FileCount is how many files a manifest has and their bytes.
type FileCount struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

// MissingBlobs asks which of blobs the server lacks; each comes back with
// where to upload it.
func (c *Client) MissingBlobs(ctx context.Context, blobs []BlobRef) ([]BlobUpload, error) {
	var resp BlobsMissingResponse
	if err := c.do(ctx, http.MethodPost, "/v1/blobs/missing", BlobsMissingRequest{Blobs: blobs}, &resp); err != nil {
		return nil, err
	}
	return resp.Missing, nil
}

// UploadBlob sends up.Size bytes of body to where up says. body is read
// once; a caller retrying an upload opens it again.
func (c *Client) UploadBlob(ctx context.Context, up BlobUpload, body io.Reader) error {
	req, own, err := c.blobRequest(ctx, up.Method, up.URL, body)
	if err != nil {
		return err
	}
	req.ContentLength = up.Size
	if up.Size == 0 {
		req.Body = http.NoBody
	}
	for k, vs := range up.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return &UnreachableError{URL: hostOf(req.URL), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		if own {
			return decodeError(resp)
		}
		return storeError(resp)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// OpenBlob reads the blob hash from byte off on (a resumed download), from
// the server or, where the server sends it, straight from the blob store.
// It returns the reader and the blob's whole size.
func (c *Client) OpenBlob(ctx context.Context, hash string, off int64) (io.ReadCloser, int64, error) {
	req, _, err := c.blobRequest(ctx, http.MethodGet, "/v1/blobs/"+url.PathEscape(hash), nil)
	if err != nil {
		return nil, 0, err
	}
	if off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, err
		}
		return nil, 0, &UnreachableError{URL: c.BaseURL(), Err: err}
	}
	switch {
	case resp.StatusCode == http.StatusOK && off == 0, resp.StatusCode == http.StatusPartialContent && off > 0:
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		resp.Body.Close()
		return nil, 0, fmt.Errorf("blob %s: offset %d is past its end", hash, off)
	default:
		defer resp.Body.Close()
		if resp.Request.URL.Host == req.URL.Host {
			return nil, 0, decodeError(resp)
		}
		return nil, 0, storeError(resp)
	}
	size, err := blobSize(resp, off)
	if err != nil {
		resp.Body.Close()
		return nil, 0, fmt.Errorf("blob %s: %w", hash, err)
	}
	return resp.Body, size, nil
}

// JobOutputs returns the manifest of a job's outputs.
func (c *Client) JobOutputs(ctx context.Context, id string) (JobOutputs, error) {
	var out JobOutputs
	err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/outputs", nil, &out)
	return out, err
}

// JobInputs returns the manifest of a job's working directory, nil for a
// script sent alone.
func (c *Client) JobInputs(ctx context.Context, id string) (*Manifest, error) {
	var out struct {
		Inputs *Manifest `json:"inputs"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/inputs", nil, &out)
	return out.Inputs, err
}

// blobRequest builds a request to a blob URL: one of the server's (a path:
// with the token and instance) or a presigned one (absolute: as is).
func (c *Client) blobRequest(ctx context.Context, method, target string, body io.Reader) (*http.Request, bool, error) {
	own := strings.HasPrefix(target, "/")
	if own {
		target = c.base + target
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, false, err
	}
	if own {
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if c.instance != "" {
			req.Header.Set(WorkerInstanceHeader, c.instance)
		}
	}
	return req, own, nil
}

// blobSize is the whole blob's size from a 200 or 206 answer.
func blobSize(resp *http.Response, off int64) (int64, error) {
	if resp.StatusCode == http.StatusOK {
		if resp.ContentLength < 0 {
			return 0, errors.New("the answer has no length")
		}
		return resp.ContentLength, nil
	}
	// Content-Range: bytes FIRST-LAST/SIZE
	cr := resp.Header.Get("Content-Range")
	slash := strings.LastIndexByte(cr, '/')
	first := strings.TrimPrefix(cr, "bytes ")
	if slash < 0 || !strings.HasPrefix(first, strconv.FormatInt(off, 10)+"-") {
		return 0, fmt.Errorf("unexpected Content-Range %q for offset %d", cr, off)
	}
	size, err := strconv.ParseInt(cr[slash+1:], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("unexpected Content-Range %q", cr)
	}
	return size, nil
}

// storeError is a blob store's refusal of a presigned request: its status
// and the start of what it said (S3 answers XML), without the URL, which
// is a credential.
func storeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return &Error{Status: resp.StatusCode, Code: CodeBlobStore,
		Message: fmt.Sprintf("the blob store answered %s: %s", resp.Status, strings.TrimSpace(string(b))),
		Hint:    "retry; if it keeps failing, check the server's blob store settings"}
}

func hostOf(u *url.URL) string { return u.Scheme + "://" + u.Host }
