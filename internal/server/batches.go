package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/bytesize"
	"github.com/rgrid/rgrid/internal/store"
	"github.com/rgrid/rgrid/internal/workdir"
)

// Batches: one script over many inputs, submitted in one request. The
// items are jobs (store.NewBatchItem); what they share (script, working
// directory) is stored once with the batch and added to each item when it
// is leased (leasedJob).

// DefaultMaxBatchItems is the most items one batch may have unless
// Options.MaxBatchItems says otherwise.
const DefaultMaxBatchItems = 100_000

// maxKeyLen bounds an idempotency key.
const maxKeyLen = 200

func (s *Server) submitBatch(w http.ResponseWriter, r *http.Request) {
	bodyLimit := s.opts.MaxScriptBytes*4/3 + 16<<20 + int64(s.opts.MaxBatchItems)*1024
	var req client.BatchRequest
	if err := decodeJSON(w, r, bodyLimit, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	nb, err := s.newBatch(r.Context(), req, s.opts.Now().UTC())
	if err == nil {
		err = s.checkQueued(r, len(nb.Items))
	}
	if err == nil {
		err = s.sealBatchSecrets(&nb, req.Job.SecretEnv)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Keys are the submitting user's: another user's key never meets it.
	nb.Owner, nb.Item.Owner = caller(r).owner(), caller(r).owner()
	if nb.IdempotencyKey != "" {
		nb.IdempotencyKey = scopedKey(nb.Owner, nb.IdempotencyKey)
	}
	held := make([]*store.NewJob, len(nb.Items))
	ids := make([]string, len(nb.Items))
	if _, ok := s.budgeted(r); ok {
		if nb.Item.Limits.TimeoutSeconds == 0 {
			nb.Item.Limits.TimeoutSeconds = int64(s.opts.BudgetJobTimeout / time.Second)
		}
		for i, it := range nb.Items {
			held[i] = &store.NewJob{ID: it.ID, Limits: nb.Item.Limits, Retries: nb.Item.Retries}
			ids[i] = it.ID
		}
	} else {
		held = nil
	}
	release, err := s.holdBudget(w, r, held)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b, created, err := s.store.CreateBatch(r.Context(), nb)
	if err != nil || !created {
		release(ids...)
	}
	if errors.Is(err, store.ErrBatchKeyReused) {
		err = errorf(client.CodeKeyReused, "use a new key for a new batch; repeat a submission only as it was",
			"idempotency key %q belongs to batch %s (%d items, %q), not to this one (%d items, %q)",
			req.IdempotencyKey, b.ID, b.Size, b.Name, len(nb.Items), nb.Name).with("batch_id", b.ID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK // the batch of the key, made before
	if created {
		status = http.StatusCreated
		s.metrics.jobsSubmitted(nb.Item.Runtime, len(nb.Items))
		s.sched.JobQueued()
		s.log.Info("batch queued", "batch", b.ID, "items", b.Size, "parallelism", b.Parallelism)
	}
	w.Header().Set("Location", "/v1/batches/"+b.ID)
	writeJSON(w, status, batchToAPI(b))
}

// newBatch checks a batch submission and makes what the store keeps: the
// job every item runs is checked once, as a job's submission is (its
// shared inputs' blobs included), then each item's own input.
func (s *Server) newBatch(ctx context.Context, req client.BatchRequest, now time.Time) (store.NewBatch, error) {
	bad := func(hint, format string, args ...any) *apiError {
		return errorf(client.CodeInvalidRequest, hint, format, args...)
	}
	n := max(len(req.Files), len(req.Array))
	switch {
	case len(req.Files) > 0 && len(req.Array) > 0:
		return store.NewBatch{}, bad(`send "files" or "array", not both`, "a batch has items of one kind")
	case n == 0:
		return store.NewBatch{}, bad(`list the items' input files in "files", or their indexes in "array"`, "the batch has no items")
	case n > s.opts.MaxBatchItems:
		return store.NewBatch{}, errorf(client.CodeLimitExceeded,
			fmt.Sprintf("split it into batches of at most %d items, or raise the server's --max-batch-items", s.opts.MaxBatchItems),
			"the batch has %d items, over the server's limit of %d", n, s.opts.MaxBatchItems).
			with("limit", "batch_items").with("maximum", s.opts.MaxBatchItems)
	case req.Parallelism < 0:
		return store.NewBatch{}, bad("pass a positive number, or 0 to let the grid's free slots decide", "parallelism %d is negative", req.Parallelism)
	case len(req.IdempotencyKey) > maxKeyLen:
		return store.NewBatch{}, bad(fmt.Sprintf("use a key of at most %d bytes (a UUID, say)", maxKeyLen), "the idempotency key is %d bytes long", len(req.IdempotencyKey))
	case req.Job.InputsSHA256 != "":
		return store.NewBatch{}, bad(`send the working directory as "job.inputs"; a batch does not take "job.inputs_sha256"`,
			"job.inputs_sha256 is not accepted in a batch")
	case len(req.Files) > 0 && req.Job.Inputs == nil:
		return store.NewBatch{}, bad(`send the working directory the items share as "job.inputs" (it holds the script)`,
			"a batch over files needs its working directory")
	}
	item, err := s.newJob(ctx, req.Job, now, nil)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			ae.message = "the batch's job: " + ae.message
		}
		return store.NewBatch{}, err
	}
	item.ID = ""
	// A batch references its shared inputs' blobs itself (blob_refs under
	// its id), not through a manifest recorded once.
	item.Blobs = dedup(append(item.Blobs, item.InputsBlobs...))
	item.InputsSHA256, item.InputsBlobs = "", nil
	nb := store.NewBatch{ID: newID("bat_", now), Name: cmp.Or(req.Name, req.Job.FileName), Kind: store.BatchArray,
		Parallelism: req.Parallelism, IdempotencyKey: req.IdempotencyKey, Item: item, CreatedAt: now,
		Items: make([]store.NewBatchItem, 0, n)}
	if len(req.Files) > 0 {
		nb.Kind = store.BatchFiles
		if nb.Items, err = s.fileItems(ctx, req, item.Inputs, now); err != nil {
			return store.NewBatch{}, err
		}
		return nb, nil
	}
	seen := make(map[int]bool, n)
	for i, v := range req.Array {
		switch {
		case v < 0:
			return store.NewBatch{}, bad("array indexes are 0 or more", "array[%d]: index %d is negative", i, v).with("index", i)
		case seen[v]:
			return store.NewBatch{}, bad("list each index once", "array[%d]: index %d is listed twice", i, v).with("index", i)
		}
		seen[v] = true
		nb.Items = append(nb.Items, store.NewBatchItem{ID: newJobID(now), Input: strconv.Itoa(v), Args: req.Job.Args})
	}
	return nb, nil
}

// fileItems checks each item's own input file against the shared working
// directory (stored, canonical, in sharedJSON) and makes the items: each
// gets its file as a manifest of one entry, and its path as its first
// argument. The items' blobs are asked about in one call.
func (s *Server) fileItems(ctx context.Context, req client.BatchRequest, sharedJSON []byte, now time.Time) ([]store.NewBatchItem, error) {
	var shared workdir.Manifest
	if err := json.Unmarshal(sharedJSON, &shared); err != nil {
		return nil, fmt.Errorf("decode the batch's inputs: %w", err)
	}
	leaves, dirs := map[string]bool{}, map[string]bool{}
	for _, e := range shared.Entries {
		if e.Kind == workdir.KindDir {
			dirs[e.Path] = true
		} else {
			leaves[e.Path] = true
		}
		for d := path.Dir(e.Path); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	_, sharedBytes := shared.Files()
	items := make([]store.NewBatchItem, 0, len(req.Files))
	seen := make(map[string]bool, len(req.Files))
	blobs := make([]string, 0, len(req.Files))
	for i, f := range req.Files {
		fail := func(format string, args ...any) error {
			return errorf(client.CodeInvalidManifest,
				"list each item's input once, as a file entry of its own, and leave the inputs out of the shared working directory",
				"files[%d]: %s", append([]any{i}, fmt.Sprintf(format, args...))...).with("index", i).with("path", f.Path)
		}
		e := workdir.Entry{Path: f.Path, Kind: workdir.Kind(f.Kind), Size: f.Size, Executable: f.Executable, SHA256: f.SHA256, Target: f.Target}
		own := workdir.Manifest{Entries: []workdir.Entry{e}}
		if err := own.Validate(); err != nil {
			return nil, fail("%v", err)
		}
		switch {
		case e.Kind != workdir.KindFile:
			return nil, fail("%q is a %s, not a file", e.Path, e.Kind)
		case seen[e.Path]:
			return nil, fail("%q is the input of another item too", e.Path)
		case leaves[e.Path] || dirs[e.Path]:
			return nil, fail("%q is in the shared working directory too", e.Path)
		case sharedBytes+e.Size > s.opts.MaxInputBytes:
			return nil, errorf(client.CodeTooLarge, "leave large data out of the working directory (.rgridignore), or raise the server's --max-inputs",
				"files[%d]: %q and the shared working directory are %s, over the server's limit of %s", i, e.Path,
				bytesize.Format(sharedBytes+e.Size), bytesize.Format(s.opts.MaxInputBytes)).with("index", i).with("limit_bytes", s.opts.MaxInputBytes)
		}
		for d := path.Dir(e.Path); d != "."; d = path.Dir(d) {
			if leaves[d] {
				return nil, fail("%q lies under %q, a file of the shared working directory", e.Path, d)
			}
		}
		seen[e.Path] = true
		m, err := json.Marshal(own)
		if err != nil {
			return nil, err
		}
		blobs = append(blobs, e.SHA256)
		items = append(items, store.NewBatchItem{ID: newJobID(now), Input: e.Path,
			Args: append([]string{e.Path}, req.Job.Args...), Inputs: m, Blobs: []string{e.SHA256}})
	}
	if err := s.requireBlobs(ctx, blobs); err != nil {
		return nil, err
	}
	return items, nil
}

func batchToAPI(b store.Batch) client.Batch {
	return client.Batch{ID: b.ID, Name: b.Name, Kind: b.Kind, Size: b.Size, Parallelism: b.Parallelism,
		IdempotencyKey: b.IdempotencyKey, Canceled: b.Canceled, CanceledAt: b.CanceledAt,
		Counts:    client.BatchCounts(b.Counts),
		CreatedAt: b.CreatedAt, Finished: b.Counts.Done() == b.Size}
}

// batchNotFound turns store.ErrNotFound into the API's answer naming id.
func batchNotFound(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errorf(client.CodeNotFound, `check the id with "rgrid batch list"`, "batch %s not found", id).with("batch_id", id)
	}
	return err
}

func (s *Server) getBatch(w http.ResponseWriter, r *http.Request) {
	b, err := s.loadBatch(r, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := batchToAPI(b)
	if out.Cost, out.Projected, err = s.batchCost(r, b); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// batchCost is what a batch's items cost so far (summed in the
// database), and what the whole batch will at its finished items'
// average cost (nil until one has finished). Items charged in another
// currency than the batch's costliest are left out (a grid prices in
// one).
func (s *Server) batchCost(r *http.Request, b store.Batch) (spent, projected *client.Money, err error) {
	sums, err := s.store.BatchCostSums(r.Context(), b.ID, s.opts.Now())
	if err != nil || len(sums) == 0 {
		return nil, nil, err
	}
	c := sums[0]
	spent = &client.Money{Micros: c.Micros, Currency: c.Currency}
	if n := int64(b.Counts.Done()); n > 0 {
		rest := int64(b.Size) - n
		projected = &client.Money{Micros: c.DoneMicros + (c.DoneMicros*rest+n/2)/n, Currency: c.Currency}
	}
	return spent, projected, nil
}

// loadBatch gets a batch the caller may see, or a not-found error: a
// batch of another user is not found, as an unknown one is.
func (s *Server) loadBatch(r *http.Request, id string) (store.Batch, error) {
	b, err := s.store.GetBatch(r.Context(), id)
	if err == nil && !caller(r).sees(b.Owner) {
		err = store.ErrNotFound
	}
	if err != nil {
		return b, batchNotFound(id, err)
	}
	return b, nil
}

// pageParam reads a positive integer query parameter: limit (1 to most),
// a cursor (0 or more).
func pageParam(r *http.Request, name string, least, most int64, hint string) (int64, bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < least || n > most {
		return 0, false, errorf(client.CodeInvalidRequest, hint, "%s %q is not valid", name, v)
	}
	return n, true, nil
}

func (s *Server) listBatches(w http.ResponseWriter, r *http.Request) {
	p := store.ListBatchesParams{Limit: 50}
	limit, ok, err := pageParam(r, "limit", 1, 1000, "use a number from 1 to 1000")
	if err == nil && ok {
		p.Limit = int(limit)
	}
	if err == nil {
		p.BeforeSeq, _, err = pageParam(r, "cursor", 1, 1<<62, `pass the "next" value of the previous page`)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if p.Owner, p.OwnerSet, err = s.listOwner(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	bs, err := s.store.ListBatches(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := client.BatchList{Batches: make([]client.Batch, 0, len(bs))}
	for _, b := range bs {
		out.Batches = append(out.Batches, batchToAPI(b))
	}
	if len(bs) == p.Limit {
		out.Next = strconv.FormatInt(bs[len(bs)-1].Seq, 10)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) batchJobs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p := store.ListBatchItemsParams{BatchID: id, Limit: 100}
	for _, v := range r.URL.Query()["state"] {
		for _, st := range strings.Split(v, ",") {
			if !client.JobState(st).Valid() {
				s.writeError(w, r, errorf(client.CodeInvalidRequest, "states are: "+joinStates(), "unknown state %q", st))
				return
			}
			p.States = append(p.States, store.State(st))
		}
	}
	limit, ok, err := pageParam(r, "limit", 1, 1000, "use a number from 1 to 1000")
	if err == nil && ok {
		p.Limit = int(limit)
	}
	var after int64
	if err == nil {
		after, ok, err = pageParam(r, "after", 0, 1<<31-2, `pass the "next" value of the previous page, or leave it out for the first`)
		if ok {
			p.FromIndex = int(after) + 1
		}
	}
	if err == nil {
		_, err = s.loadBatch(r, id)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	jobs, err := s.store.ListBatchItems(r.Context(), p)
	if err != nil {
		s.writeError(w, r, batchNotFound(id, err))
		return
	}
	out := client.BatchJobList{Jobs: make([]client.Job, 0, len(jobs))}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, jobToAPI(j, nil))
	}
	if len(jobs) == p.Limit {
		out.Next = strconv.Itoa(jobs[len(jobs)-1].BatchIndex)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) updateBatch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req client.BatchUpdate
	if err := decodeJSON(w, r, 1<<20, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	switch {
	case req.Parallelism == nil:
		s.writeError(w, r, errorf(client.CodeInvalidRequest, `send {"parallelism": N}`, "nothing to change"))
		return
	case *req.Parallelism < 0:
		s.writeError(w, r, errorf(client.CodeInvalidRequest, "pass a positive number, or 0 to let the grid's free slots decide",
			"parallelism %d is negative", *req.Parallelism))
		return
	}
	if _, err := s.loadBatch(r, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	b, err := s.store.SetBatchParallelism(r.Context(), id, *req.Parallelism)
	if err != nil {
		s.writeError(w, r, batchNotFound(id, err))
		return
	}
	s.sched.JobQueued() // a higher cap has items to lease now
	writeJSON(w, http.StatusOK, batchToAPI(b))
}

func (s *Server) cancelBatch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	before, err := s.loadBatch(r, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b, active, err := s.store.CancelBatch(r.Context(), id, s.opts.Now().UTC())
	if err != nil {
		s.writeError(w, r, batchNotFound(id, err))
		return
	}
	if p := caller(r); p.owner() != before.Owner {
		s.audit(r, "batch.cancel", id, "a batch of another user (owner "+ownerText(before.Owner)+")")
	}
	for _, j := range active {
		s.sched.StopRequested(j.WorkerID)
		s.sched.JobChanged(j.ID)
	}
	s.countCanceledItems(r.Context(), id, b.Counts.Canceled-before.Counts.Canceled)
	s.log.Info("batch canceled", "batch", id, "stopping", len(active))
	writeJSON(w, http.StatusOK, client.BatchCancelResponse{Batch: batchToAPI(b), Stopping: len(active)})
}

func (s *Server) retryBatch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.loadBatch(r, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	b, n, err := s.store.RetryBatch(r.Context(), id)
	if err != nil {
		s.writeError(w, r, batchNotFound(id, err))
		return
	}
	if n > 0 {
		s.metrics.retried.WithLabelValues(retryBatch).Add(float64(n))
		s.sched.JobQueued()
	}
	s.log.Info("batch retried", "batch", id, "requeued", n)
	writeJSON(w, http.StatusOK, client.BatchRetryResponse{Batch: batchToAPI(b), Requeued: n})
}

// sharedBatch is what a batch's items share, as leases hand it out.
type sharedBatch struct {
	kind   string
	size   int
	script []byte
	inputs *client.Manifest // nil: none
}

// batchCache keeps the shared part of recent batches: it never changes,
// and every lease of an item needs it.
type batchCache struct {
	mu sync.Mutex
	m  map[string]sharedBatch
}

// maxCachedBatches bounds the cache; when full it starts over.
const maxCachedBatches = 256

func (s *Server) batchShared(ctx context.Context, id string) (sharedBatch, error) {
	s.batches.mu.Lock()
	sb, ok := s.batches.m[id]
	s.batches.mu.Unlock()
	if ok {
		return sb, nil
	}
	sh, err := s.store.BatchShared(ctx, id)
	if err != nil {
		return sharedBatch{}, err
	}
	sb = sharedBatch{kind: sh.Kind, size: sh.Size, script: sh.Script}
	if sb.inputs, err = s.decodeManifest(sh.Inputs); err != nil {
		return sharedBatch{}, err
	}
	s.batches.mu.Lock()
	if s.batches.m == nil || len(s.batches.m) >= maxCachedBatches {
		s.batches.m = map[string]sharedBatch{}
	}
	s.batches.m[id] = sb
	s.batches.mu.Unlock()
	return sb, nil
}

// mergeInputs is the working directory of an item: the batch's shared
// one with the item's own files added, in manifest order.
func (s *Server) mergeInputs(shared *client.Manifest, own []byte) (*client.Manifest, error) {
	m, err := s.decodeManifest(own)
	if err != nil || shared == nil {
		return m, err
	}
	out := &client.Manifest{Entries: slices.Concat(shared.Entries, entriesOf(m))}
	slices.SortFunc(out.Entries, func(a, b client.FileEntry) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

func entriesOf(m *client.Manifest) []client.FileEntry {
	if m == nil {
		return nil
	}
	return m.Entries
}

// leasedJob is a claimed job as its worker gets it. Every job's
// environment has RGRID_ATTEMPT; an item of a batch gets the batch's
// script and working directory with its own input added, and
// RGRID_BATCH_ID, RGRID_BATCH_SIZE and RGRID_BATCH_INPUT (a files batch;
// the path is also the script's first argument) or RGRID_ARRAY_INDEX.
// The names are reserved (a submission cannot set RGRID_*). A job's own
// manifest goes out as it is stored, not decoded.
func (s *Server) leasedJob(ctx context.Context, j store.Job) (leaseJob, error) {
	lj := leaseJob{Job: jobToAPI(j, nil), Attempt: j.Attempt, Script: j.Script}
	env := maps.Clone(j.Env)
	if env == nil {
		env = map[string]string{}
	}
	env["RGRID_ATTEMPT"] = strconv.Itoa(j.Attempt)
	var err error
	if j.BatchID == "" {
		lj.Inputs = j.Inputs
	} else {
		var sb sharedBatch
		if sb, err = s.batchShared(ctx, j.BatchID); err != nil {
			return lj, fmt.Errorf("batch %s: %w", j.BatchID, err)
		}
		lj.Script = sb.script
		var m *client.Manifest
		if m, err = s.mergeInputs(sb.inputs, j.Inputs); err == nil && m != nil {
			lj.Inputs, err = json.Marshal(m)
		}
		env["RGRID_BATCH_ID"] = j.BatchID
		env["RGRID_BATCH_SIZE"] = strconv.Itoa(sb.size)
		if sb.kind == store.BatchArray {
			env["RGRID_ARRAY_INDEX"] = j.BatchInput
		} else {
			env["RGRID_BATCH_INPUT"] = j.BatchInput
		}
	}
	if err == nil {
		err = s.openSecretEnv(j, env)
	}
	if err != nil {
		return lj, err
	}
	lj.Job.Env = env
	if j.Stdin.SHA256 != "" {
		lj.Stdin = &client.BlobRef{SHA256: j.Stdin.SHA256, Size: j.Stdin.Size}
	}
	if rt, err := s.runtimes.Resolve(j.Runtime); err == nil {
		lj.RuntimeImage, lj.RuntimeCommand = rt.Image, rt.Command
	}
	return lj, nil
}

// jobFiles is store.JobFiles with an item's inputs whole: the batch's
// shared working directory and the item's own files.
func (s *Server) jobFilesOf(ctx context.Context, id string) (store.JobFiles, error) {
	f, err := s.store.JobFiles(ctx, id)
	if err != nil || f.BatchID == "" {
		return f, err
	}
	sb, err := s.batchShared(ctx, f.BatchID)
	if err != nil {
		return f, fmt.Errorf("batch %s: %w", f.BatchID, err)
	}
	m, err := s.mergeInputs(sb.inputs, f.Inputs)
	if err != nil || m == nil {
		return f, err
	}
	f.Inputs, err = json.Marshal(m)
	return f, err
}

// countCanceledItems counts in the metrics the n items a cancel ended at
// once (the queued ones), under the runtime they share.
func (s *Server) countCanceledItems(ctx context.Context, batchID string, n int) {
	if n <= 0 {
		return
	}
	items, err := s.store.ListBatchItems(ctx, store.ListBatchItemsParams{BatchID: batchID, Limit: 1})
	if err != nil || len(items) == 0 {
		s.log.Warn("metrics: could not read a canceled batch's runtime", "batch", batchID, "err", err)
		return
	}
	s.metrics.finished.WithLabelValues(string(store.StateCanceled), runtimeLabel(items[0])).Add(float64(n))
}
