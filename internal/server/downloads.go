package server

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/blob"
	"github.com/rgrid/rgrid/internal/store"
)

// Downloads of one file of a job's inputs or outputs, by its path in the
// manifest: GET /v1/jobs/{id}/inputs/{path...} and …/outputs/{path...}.
// The bytes always pass through the server (also with a blob store that
// presigns), so that the answer carries its own headers: an attachment,
// a content type that no browser renders as a page, and a sandbox.

// jobFile streams one file of the job's inputs (outputs false) or outputs.
func (s *Server) jobFile(outputs bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, err := s.loadFiles(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		what, stored := "inputs", f.Inputs
		if outputs {
			what, stored = "outputs", f.Outputs
		}
		id, p := r.PathValue("id"), r.PathValue("path")
		m, err := s.decodeManifest(stored)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		var hash string
		var size int64
		if m != nil {
			for _, e := range m.Entries {
				if e.Path == p && e.Kind == "file" {
					hash, size = e.SHA256, e.Size
				}
			}
		}
		if hash == "" {
			s.writeError(w, r, errorf(client.CodeNotFound, fmt.Sprintf("GET /v1/jobs/%s/%s lists the job's files", id, what),
				"job %s has no file %q in its %s", id, p, what).with("job_id", id).with("path", p))
			return
		}
		s.serveBlob(w, r, hash, size, path.Base(p))
	}
}

// serveBlob sends a blob of size bytes as an attachment named name,
// honouring one byte range.
func (s *Server) serveBlob(w http.ResponseWriter, r *http.Request, hash string, size int64, name string) {
	start, end, partial, ok := byteRange(r.Header.Get("Range"), size)
	h := w.Header()
	h.Set("Accept-Ranges", "bytes")
	if !ok {
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	var rc io.ReadCloser
	if size > 0 {
		var err error
		if rc, _, err = s.opts.Blobs.Get(r.Context(), hash, start); err != nil {
			if errors.Is(err, blob.ErrNotFound) {
				err = errorf(client.CodeNotFound, "the file's blob was deleted from the blob store; run the job again",
					"the file %q is no longer stored", name)
			} else {
				err = blobStoreErr(err)
			}
			s.writeError(w, r, err)
			return
		}
		defer rc.Close()
	}
	s.blobs.downloads.Add(1)
	h.Set("Content-Type", safeContentType(name))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Length", strconv.FormatInt(end-start, 10))
	status := http.StatusOK
	if partial {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, size))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if rc != nil && r.Method != http.MethodHead {
		_, _ = io.CopyN(w, rc, end-start)
	}
}

// byteRange reads a Range header of one range ("bytes=N-", "bytes=N-M",
// "bytes=-N") over size bytes: the half-open [start, end) to send,
// whether it is a part, and false if it cannot be satisfied. A header
// this does not read (several ranges, other units) is ignored, as RFC
// 9110 allows: the whole file is sent.
func byteRange(h string, size int64) (start, end int64, partial, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	first, last, dash := strings.Cut(spec, "-")
	if !found || !dash || strings.Contains(spec, ",") {
		return 0, size, false, true
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	a, errA := strconv.ParseInt(first, 10, 64)
	b, errB := strconv.ParseInt(last, 10, 64)
	switch {
	case first == "" && errB == nil && b > 0: // the last b bytes
		if size == 0 {
			return 0, 0, false, false
		}
		return max(size-b, 0), size, true, true
	case errA != nil || a < 0 || (last != "" && (errB != nil || b < a)):
		return 0, size, false, true // not a range this reads
	case a >= size:
		return 0, 0, false, false
	case last == "":
		return a, size, true, true
	}
	return a, min(b+1, size), true, true
}

// safeContentTypes are the types a download is sent as, by extension:
// plain text, data and images that browsers do not run. Anything else
// (HTML, SVG, JavaScript, …) is application/octet-stream.
var safeContentTypes = map[string]string{
	".txt": "text/plain; charset=utf-8", ".log": "text/plain; charset=utf-8", ".csv": "text/plain; charset=utf-8",
	".tsv": "text/plain; charset=utf-8", ".md": "text/plain; charset=utf-8", ".py": "text/plain; charset=utf-8",
	".r": "text/plain; charset=utf-8", ".sh": "text/plain; charset=utf-8", ".json": "application/json",
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp",
	".pdf": "application/pdf", ".zip": "application/zip", ".gz": "application/gzip", ".parquet": "application/octet-stream",
}

func safeContentType(name string) string {
	if t, ok := safeContentTypes[strings.ToLower(path.Ext(name))]; ok {
		return t
	}
	return "application/octet-stream"
}

// logText answers GET /v1/jobs/{id}/logs/text?stream=stdout|stderr|both
// [&attempt=N]: the job's stored output as one plain-text attachment,
// every attempt's (or attempt N's) in order.
func (s *Server) logText(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	var streams []string
	switch v := q.Get("stream"); v {
	case "", "both":
	case "stdout", "stderr":
		streams = []string{v}
	default:
		s.writeError(w, r, errorf(client.CodeInvalidRequest, "use stream=stdout, stream=stderr or stream=both",
			"stream %q is not valid", v))
		return
	}
	attempt, _, err := pageParam(r, "attempt", 1, 1<<20, "give an attempt's number, 1 for the first")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.loadJob(r, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	name := id
	if len(streams) == 1 {
		name += "." + streams[0]
	}
	if attempt > 0 {
		name += ".attempt" + strconv.FormatInt(attempt, 10)
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name + ".log"}))
	h.Set("Cache-Control", "no-store")
	p := store.ReadLogsParams{JobID: id, Streams: streams, Limit: 1000}
	wrote := false
	for {
		chunks, err := s.store.ReadLogs(r.Context(), p)
		if err != nil {
			if !wrote {
				s.writeError(w, r, err)
			}
			return // a failure mid-way ends the download short
		}
		for _, c := range chunks {
			p.AfterID = c.ID
			if attempt > 0 && int64(c.Attempt) != attempt {
				continue
			}
			if !wrote {
				w.WriteHeader(http.StatusOK)
				wrote = true
			}
			if _, err := w.Write(c.Data); err != nil {
				return
			}
		}
		if len(chunks) < p.Limit {
			break
		}
	}
	if !wrote {
		w.WriteHeader(http.StatusOK)
	}
}
