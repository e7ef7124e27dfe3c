package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/blob"
	"github.com/rgrid/rgrid/internal/bytesize"
	"github.com/rgrid/rgrid/internal/store"
	"github.com/rgrid/rgrid/internal/workdir"
)

// Files: a job's working directory and outputs are content-addressed
// blobs in Options.Blobs, and manifests stored with the job. With a store
// that presigns (S3), clients and workers move the bytes themselves; the
// server only signs, checks and records.

// blobCounters count what crossed the blob endpoints, for GET /v1/stats
// (and the tests that check an unchanged project uploads nothing).
type blobCounters struct {
	uploads, uploadBytes, presignedPuts, downloads atomic.Int64
}

// withBlobs answers for a handler of files, on a server that keeps none.
func (s *Server) withBlobs(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Blobs == nil {
			s.writeError(w, r, s.noBlobs())
			return
		}
		h(w, r)
	}
}

func (s *Server) noBlobs() *apiError {
	return errorf(client.CodeInvalidRequest, "start the server with --blobs DIR or --blobs s3://BUCKET/PREFIX",
		"this server keeps no files")
}

// blobLimit is the largest blob the server accepts: the store's own
// maximum, and no more than the inputs a job may have.
func (s *Server) blobLimit() int64 { return min(blob.MaxSize, s.opts.MaxInputBytes) }

// maxMissingQuery bounds one presence question.
const maxMissingQuery = 10_000

func (s *Server) missingBlobs(w http.ResponseWriter, r *http.Request) {
	var req client.BlobsMissingRequest
	if err := decodeJSON(w, r, 4<<20, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(req.Blobs) > maxMissingQuery {
		s.writeError(w, r, errorf(client.CodeInvalidRequest, fmt.Sprintf("ask about at most %d blobs at a time", maxMissingQuery),
			"%d blobs in one question", len(req.Blobs)))
		return
	}
	sizes := make(map[string]int64, len(req.Blobs))
	hashes := make([]string, 0, len(req.Blobs))
	for i, b := range req.Blobs {
		if err := s.checkBlobRef(b); err != nil {
			s.writeError(w, r, err.with("index", i))
			return
		}
		if _, dup := sizes[b.SHA256]; !dup {
			hashes = append(hashes, b.SHA256)
		}
		sizes[b.SHA256] = b.Size
	}
	missing, err := s.opts.Blobs.Missing(r.Context(), hashes)
	if err != nil {
		s.writeError(w, r, blobStoreErr(err))
		return
	}
	// A caller who may not read a blob is told it is missing, and sends
	// it: whether the grid holds a file of some hash is not theirs to
	// learn.
	if missing, err = s.unreadable(r, hashes, missing); err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := client.BlobsMissingResponse{Missing: make([]client.BlobUpload, 0, len(missing))}
	presigner, presigns := s.opts.Blobs.(blob.Presigner)
	for _, h := range missing {
		up := client.BlobUpload{BlobRef: client.BlobRef{SHA256: h, Size: sizes[h]}, Method: http.MethodPut,
			URL: "/v1/blobs/" + h + "?size=" + strconv.FormatInt(sizes[h], 10)}
		if presigns {
			req, err := presigner.PresignPut(r.Context(), h, sizes[h], s.opts.PresignTTL)
			if err != nil {
				s.writeError(w, r, blobStoreErr(err))
				return
			}
			up.Method, up.URL, up.Header = req.Method, req.URL, req.Header
			s.blobs.presignedPuts.Add(1)
		}
		resp.Missing = append(resp.Missing, up)
	}
	writeJSON(w, http.StatusOK, resp)
}

// unreadable adds to missing (blobs the store lacks) those of hashes the
// caller may not read: a user reads the blobs their jobs and batches
// reference, a worker those of the attempts it holds (its token's
// workers'), an admin all.
func (s *Server) unreadable(r *http.Request, hashes, missing []string) ([]string, error) {
	p := caller(r)
	var (
		readable map[string]bool
		err      error
	)
	switch {
	case p.admin():
		return missing, nil
	case p.kind == asUser:
		readable, err = s.store.BlobsOwned(r.Context(), p.user.ID, hashes)
	case p.kind == asWorker:
		readable, err = s.store.BlobsHeld(r.Context(), p.token.ID, hashes)
	}
	if err != nil {
		return nil, err
	}
	gone := make(map[string]bool, len(missing))
	for _, h := range missing {
		gone[h] = true
	}
	for _, h := range hashes {
		if !readable[h] && !gone[h] {
			missing, gone[h] = append(missing, h), true
		}
	}
	return missing, nil
}

func (s *Server) checkBlobRef(b client.BlobRef) *apiError {
	if !blob.ValidHash(b.SHA256) {
		return errorf(client.CodeInvalidRequest, "name a blob by the SHA-256 of its bytes, in lowercase hex",
			"%q is not a sha256", b.SHA256)
	}
	if b.Size < 0 || b.Size > s.blobLimit() {
		return errorf(client.CodeTooLarge, "split the file, or raise the server's --max-inputs",
			"blob %.12s… is %s, over the limit of %s", b.SHA256, bytesize.Format(b.Size), bytesize.Format(s.blobLimit())).
			with("limit_bytes", s.blobLimit())
	}
	return nil
}

func (s *Server) putBlob(w http.ResponseWriter, r *http.Request) {
	hash := r.PathValue("hash")
	size, err := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
	if err != nil || r.ContentLength != size {
		s.writeError(w, r, errorf(client.CodeInvalidRequest, "send the blob with its size as ?size= and as Content-Length",
			"the upload's size (?size=%s) and Content-Length (%d) must agree", r.URL.Query().Get("size"), r.ContentLength))
		return
	}
	if ae := s.checkBlobRef(client.BlobRef{SHA256: hash, Size: size}); ae != nil {
		s.writeError(w, r, ae)
		return
	}
	body := http.MaxBytesReader(w, r.Body, size)
	err = s.opts.Blobs.Put(r.Context(), hash, size, body)
	switch {
	case errors.Is(err, blob.ErrHashMismatch), errors.Is(err, blob.ErrSizeMismatch):
		s.writeError(w, r, errorf(client.CodeBlobMismatch, "send the file's bytes under the SHA-256 of exactly those bytes; if the file changed, hash it again",
			"blob %.12s…: %v", hash, err).with("sha256", hash))
		return
	case err != nil:
		if r.Context().Err() != nil {
			s.shuttingDown(w, r) // else the client went away mid-upload
			return
		}
		s.writeError(w, r, blobStoreErr(err))
		return
	}
	s.blobs.uploads.Add(1)
	s.blobs.uploadBytes.Add(size)
	s.metrics.blobBytes.Add(float64(size))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getBlob(w http.ResponseWriter, r *http.Request) {
	hash := r.PathValue("hash")
	if !blob.ValidHash(hash) {
		s.writeError(w, r, errorf(client.CodeInvalidRequest, "name a blob by its sha256 in lowercase hex", "%q is not a sha256", hash))
		return
	}
	if none, err := s.unreadable(r, []string{hash}, nil); err != nil || len(none) > 0 {
		if err == nil {
			err = blobErr(hash, blob.ErrNotFound)
		}
		s.writeError(w, r, err)
		return
	}
	s.blobs.downloads.Add(1)
	if p, ok := s.opts.Blobs.(blob.Presigner); ok {
		if _, err := s.opts.Blobs.Stat(r.Context(), hash); err != nil {
			s.writeError(w, r, blobErr(hash, err))
			return
		}
		req, err := p.PresignGet(r.Context(), hash, s.opts.PresignTTL)
		if err != nil {
			s.writeError(w, r, blobStoreErr(err))
			return
		}
		// The client follows with its Range header and without its token
		// (another host).
		http.Redirect(w, r, req.URL, http.StatusTemporaryRedirect)
		return
	}
	off, err := rangeStart(r.Header.Get("Range"))
	if err != nil {
		s.writeError(w, r, errorf(client.CodeInvalidRequest, `ask for "Range: bytes=N-" to resume`, "%v", err))
		return
	}
	rc, info, err := s.opts.Blobs.Get(r.Context(), hash, off)
	if errors.Is(err, blob.ErrOffset) {
		w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(info.Size, 10))
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	if err != nil {
		s.writeError(w, r, blobErr(hash, err))
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Content-Length", strconv.FormatInt(info.Size-off, 10))
	status := http.StatusOK
	if off > 0 {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, info.Size-1, info.Size))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	_, _ = io.Copy(w, rc)
}

// rangeStart reads "bytes=N-" (a resumed download), "" as 0.
func rangeStart(h string) (int64, error) {
	if h == "" {
		return 0, nil
	}
	rest, ok := strings.CutPrefix(h, "bytes=")
	first, tail, dash := strings.Cut(rest, "-")
	n, err := strconv.ParseInt(first, 10, 64)
	if !ok || !dash || tail != "" || err != nil || n < 0 {
		return 0, fmt.Errorf("range %q is not of the form bytes=N-", h)
	}
	return n, nil
}

func blobErr(hash string, err error) error {
	if errors.Is(err, blob.ErrNotFound) {
		return errorf(client.CodeNotFound, "upload it first", "blob %.12s… not found", hash).with("sha256", hash)
	}
	return blobStoreErr(err)
}

// blobStoreErr is a failure of the blob store itself. Its text may name
// the store's address, never a credential (the store's errors do not
// carry them); it goes to the log, and the client gets the code.
func blobStoreErr(err error) error { return &blobStoreError{err: err} }

type blobStoreError struct{ err error }

func (e *blobStoreError) Error() string { return "blob store: " + e.err.Error() }
func (e *blobStoreError) Unwrap() error { return e.err }

// submittedFiles is what a submission's files make of the job.
type submittedFiles struct {
	inputs       []byte   // the manifest in its canonical form; nil for none
	inputsSHA256 string   // its SHA-256
	inputsBlobs  []string // the blobs it names, recorded once per manifest
	stored       bool     // the manifest is stored already (named by its hash alone)
	stdin        store.BlobRef
	blobs        []string // the other blobs the job references (its stdin)
}

// jobFiles checks a submission's inputs and stdin and returns what the
// job stores: the manifest, re-encoded in its canonical form, its hash,
// and the blobs the job references. A script sent with a working
// directory must be the manifest's file FileName, byte for byte. A
// manifest named by its hash alone is one a job of the caller's has.
func (s *Server) jobFiles(ctx context.Context, req client.SubmitRequest) (submittedFiles, error) {
	var out submittedFiles
	if req.Stdin == nil && req.Inputs == nil && req.InputsSHA256 == "" {
		return out, nil
	}
	if s.opts.Blobs == nil {
		return out, s.noBlobs()
	}
	if req.Stdin != nil {
		if ae := s.checkBlobRef(*req.Stdin); ae != nil {
			return out, ae.with("field", "stdin")
		}
		out.stdin = store.BlobRef{SHA256: req.Stdin.SHA256, Size: req.Stdin.Size}
		out.blobs = append(out.blobs, out.stdin.SHA256)
	}
	var known bool // the manifest is a job's of the caller's: its blobs are kept and recorded
	switch {
	case req.Inputs != nil:
		m, err := s.parseManifest(req.Inputs, "inputs")
		if err != nil {
			return out, err
		}
		if out.inputs, err = json.Marshal(m); err != nil {
			return out, err
		}
		sum := sha256.Sum256(out.inputs)
		out.inputsSHA256 = hex.EncodeToString(sum[:])
		if req.InputsSHA256 != "" && req.InputsSHA256 != out.inputsSHA256 {
			return out, errorf(client.CodeInvalidManifest, "send inputs_sha256 as the SHA-256 of the manifest's canonical encoding, or leave it out",
				"inputs_sha256 %.12s… is not the hash of the inputs sent (%.12s…)", req.InputsSHA256, out.inputsSHA256).
				with("field", "inputs_sha256")
		}
		files, bytes := m.Files()
		e, ok := m.Lookup(req.FileName)
		if err := s.checkInputs(req, files, bytes, ok && e.Kind == workdir.KindFile, e.SHA256); err != nil {
			return out, err
		}
		for _, e := range m.Entries {
			if e.Kind == workdir.KindFile {
				out.inputsBlobs = append(out.inputsBlobs, e.SHA256)
			}
		}
	case req.InputsSHA256 != "":
		// Stored already, its blobs recorded by the job that stored it:
		// only the script and the size are checked again, on the
		// decoded manifest kept.
		cm, err := s.knownInputs(ctx, req.InputsSHA256)
		if err != nil {
			return out, err
		}
		out.inputsSHA256, known, out.stored = req.InputsSHA256, true, true
		c := fileCount(cm)
		i, ok := slices.BinarySearchFunc(cm.Entries, req.FileName, func(e client.FileEntry, p string) int { return strings.Compare(e.Path, p) })
		var script client.FileEntry
		if ok {
			script = cm.Entries[i]
		}
		if err := s.checkInputs(req, c.Files, c.Bytes, ok && script.Kind == string(workdir.KindFile), script.SHA256); err != nil {
			return out, err
		}
	}
	// A known manifest's blobs are referenced by the job that has it (the
	// store records them once per manifest), and retention keeps every
	// referenced blob: only the others are checked.
	check := out.blobs
	if !known {
		check = append(slices.Clip(check), out.inputsBlobs...)
	}
	if err := s.requireBlobs(ctx, check); err != nil {
		return out, err
	}
	out.blobs, out.inputsBlobs = dedup(out.blobs), dedup(out.inputsBlobs)
	return out, nil
}

// checkInputs refuses a working directory over the server's size limit,
// and a script that is not its file FileName (isFile, of content
// sha256), byte for byte.
func (s *Server) checkInputs(req client.SubmitRequest, files int, bytes int64, isFile bool, sha string) error {
	if bytes > s.opts.MaxInputBytes {
		return errorf(client.CodeTooLarge, "leave large data out of the working directory (.rgridignore), or raise the server's --max-inputs",
			"the working directory is %s in %d files, over the server's limit of %s", bytesize.Format(bytes), files, bytesize.Format(s.opts.MaxInputBytes)).
			with("limit_bytes", s.opts.MaxInputBytes)
	}
	sum := sha256.Sum256(req.Script)
	switch {
	case !isFile:
		return errorf(client.CodeInvalidRequest, "send the script as a file of the working directory, at the path file_name names",
			"file_name %q is not a file of the inputs", req.FileName)
	case sha != hex.EncodeToString(sum[:]):
		return errorf(client.CodeInvalidRequest, "send the script's bytes as they are in the working directory",
			"the script's bytes are not those of %s in the inputs", req.FileName)
	}
	return nil
}

// knownInputs is the manifest named hash of a job of the caller's,
// decoded, or manifest_unknown: a manifest of another user's is not
// found, as their blobs are not readable (unreadable). That a user has a
// manifest is remembered (jobs are never deleted, so it stays true): the
// next submission naming it, while its decoded manifest is kept, reads
// nothing from the store.
func (s *Server) knownInputs(ctx context.Context, hash string) (*client.Manifest, error) {
	if !blob.ValidHash(hash) {
		return nil, errorf(client.CodeInvalidRequest, "name the manifest by its SHA-256, in lowercase hex",
			"inputs_sha256 %q is not a sha256", hash).with("field", "inputs_sha256")
	}
	p, _ := ctx.Value(principalKey{}).(*principal)
	if p == nil || p.kind == asWorker {
		return nil, errorf(client.CodeManifestUnknown, "send the inputs with the job", "no manifest %.12s… for this caller", hash)
	}
	var digest [sha256.Size]byte
	if _, err := hex.Decode(digest[:], []byte(hash)); err != nil {
		return nil, err // ValidHash said it is hex
	}
	owned := p.owner() + "\x00" + hash
	if s.ownedInputs.has(owned) {
		if m := s.manifests.get(digest); m != nil {
			return m, nil
		}
	}
	b, err := s.store.InputsByHash(ctx, p.owner(), hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(client.CodeManifestUnknown, "send the inputs with the job (they are stored once sent)",
			"no job of yours has the inputs manifest %.12s…", hash).with("inputs_sha256", hash)
	}
	if err != nil {
		return nil, err
	}
	// Stored by this server after ParseManifest checked it: decoded (or
	// taken decoded from the cache), not checked again.
	cm, err := s.decodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("the stored manifest %.12s…: %w", hash, err)
	}
	if sha256.Sum256(b) == digest {
		s.ownedInputs.add(owned) // the cache holds it under the hash named
	}
	return cm, nil
}

// requireBlobs refuses with blob_missing if the store lacks any of blobs.
func (s *Server) requireBlobs(ctx context.Context, blobs []string) error {
	if len(blobs) == 0 {
		return nil
	}
	missing, err := s.opts.Blobs.Missing(ctx, dedup(blobs))
	if err != nil {
		return blobStoreErr(err)
	}
	if len(missing) > 0 {
		return errorf(client.CodeBlobMissing, "upload them first (POST /v1/blobs/missing says where), then submit again",
			"%d of the job's blobs are not on the server, e.g. %.12s…", len(missing), missing[0]).
			with("missing", missing[:min(len(missing), 100)])
	}
	return nil
}

func dedup(hashes []string) []string {
	seen := make(map[string]bool, len(hashes))
	out := hashes[:0:0]
	for _, h := range hashes {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}

// parseManifest checks a manifest from the network: every rule of
// workdir.Manifest.Validate (no path out of the tree, no duplicate, no
// link that escapes, bounded sizes).
func (s *Server) parseManifest(m *client.Manifest, what string) (workdir.Manifest, error) {
	b, err := json.Marshal(m)
	if err == nil {
		var wm workdir.Manifest
		if wm, err = workdir.ParseManifest(b); err == nil {
			return wm, nil
		}
	}
	ae := errorf(client.CodeInvalidManifest, "send the manifest rgrid makes of a directory: relative, clean paths inside it",
		"%s: %v", what, err)
	var ie *workdir.InvalidError
	if errors.As(err, &ie) && ie.Path != "" {
		ae = ae.with("path", ie.Path)
	}
	return workdir.Manifest{}, ae
}

// outputs checks a worker's outputs and what it left out, and returns them
// as the store keeps them. The worker uploads every blob first.
func (s *Server) outputs(ctx context.Context, res client.ResultReport) (*store.Outputs, error) {
	if res.Outputs == nil {
		return nil, nil
	}
	if s.opts.Blobs == nil {
		return nil, s.noBlobs()
	}
	m, err := s.parseManifest(res.Outputs, "outputs")
	if err != nil {
		return nil, err
	}
	var blobs []string
	for _, e := range m.Entries {
		if e.Kind == workdir.KindFile {
			blobs = append(blobs, e.SHA256)
		}
	}
	if err := s.requireBlobs(ctx, blobs); err != nil {
		return nil, err
	}
	out := &store.Outputs{Blobs: dedup(blobs)}
	if out.Manifest, err = json.Marshal(m); err != nil {
		return nil, err
	}
	if len(res.OutputsSkipped) > 0 {
		if len(res.OutputsSkipped) > 10_000 {
			res.OutputsSkipped = res.OutputsSkipped[:10_000]
		}
		if out.Skipped, err = json.Marshal(res.OutputsSkipped); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Server) jobInputs(w http.ResponseWriter, r *http.Request) {
	f, err := s.loadFiles(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var out struct {
		Inputs *client.Manifest `json:"inputs"`
		Stdin  *client.BlobRef  `json:"stdin,omitempty"`
	}
	if out.Inputs, err = s.decodeManifest(f.Inputs); err != nil {
		s.writeError(w, r, err)
		return
	}
	if f.Stdin.SHA256 != "" {
		out.Stdin = &client.BlobRef{SHA256: f.Stdin.SHA256, Size: f.Stdin.Size}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) jobOutputs(w http.ResponseWriter, r *http.Request) {
	f, err := s.loadFiles(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var out client.JobOutputs
	if out.Outputs, err = s.decodeManifest(f.Outputs); err == nil && f.OutputsSkipped != nil {
		err = json.Unmarshal(f.OutputsSkipped, &out.Skipped)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) loadFiles(r *http.Request) (store.JobFiles, error) {
	id := r.PathValue("id")
	if _, err := s.loadJob(r, id); err != nil {
		return store.JobFiles{}, err
	}
	f, err := s.jobFilesOf(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return f, errorf(client.CodeNotFound, "check the id with \"rgrid list\"", "job %s not found", id).with("job_id", id)
	}
	return f, err
}

// decodeManifest reads a stored manifest; nil is none. The manifest is
// shared (manifestCache): read it, never change it.
func (s *Server) decodeManifest(b []byte) (*client.Manifest, error) {
	return s.manifests.decode(b)
}

// filesSummary counts a job's files for GET /v1/jobs/{id}; nil for a
// job with none.
// fileCount counts the regular files of m and their bytes.
func fileCount(m *client.Manifest) client.FileCount {
	var c client.FileCount
	for _, e := range m.Entries {
		if e.Kind == string(workdir.KindFile) {
			c.Files++
			c.Bytes += e.Size
		}
	}
	return c
}

func (s *Server) filesSummary(f store.JobFiles) (*client.FilesSummary, error) {
	var sum client.FilesSummary
	count := func(b []byte) (*client.FileCount, error) {
		m, err := s.decodeManifest(b)
		if m == nil || err != nil {
			return nil, err
		}
		c := fileCount(m)
		return &c, nil
	}
	var err error
	if sum.Inputs, err = count(f.Inputs); err != nil {
		return nil, err
	}
	if sum.Outputs, err = count(f.Outputs); err != nil {
		return nil, err
	}
	if f.OutputsSkipped != nil {
		var skipped []client.SkippedOutput
		if err := json.Unmarshal(f.OutputsSkipped, &skipped); err != nil {
			return nil, fmt.Errorf("decode skipped outputs: %w", err)
		}
		sum.OutputsSkipped = len(skipped)
	}
	if f.Stdin.SHA256 != "" {
		sum.Stdin = &client.BlobRef{SHA256: f.Stdin.SHA256, Size: f.Stdin.Size}
	}
	if sum == (client.FilesSummary{}) {
		return nil, nil
	}
	return &sum, nil
}

// Stats are the server's counters since it started (GET /v1/stats).
type Stats struct {
	Blobs struct {
		Uploads       int64 `json:"uploads"`        // PUTs through the server
		UploadBytes   int64 `json:"upload_bytes"`   // their bytes
		PresignedPuts int64 `json:"presigned_puts"` // uploads signed for the blob store
		Downloads     int64 `json:"downloads"`
	} `json:"blobs"`
}

func (s *Server) stats(w http.ResponseWriter, _ *http.Request) {
	var st Stats
	st.Blobs.Uploads, st.Blobs.UploadBytes = s.blobs.uploads.Load(), s.blobs.uploadBytes.Load()
	st.Blobs.PresignedPuts, st.Blobs.Downloads = s.blobs.presignedPuts.Load(), s.blobs.downloads.Load()
	writeJSON(w, http.StatusOK, st)
}

// retentionInterval is how often the server sweeps unreferenced blobs.
const retentionInterval = time.Hour
