package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Error is an API error: the JSON body every non-2xx response carries.
type Error struct {
	Status  int            `json:"-"`
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Hint    string         `json:"hint,omitempty"`
	Details map[string]any `json:"details,omitempty"`

	// RetryAfter is how long the server asked to wait before trying
	// again (its Retry-After header, on a 503 or 429); zero if it did not
	// say.
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string { return e.Message }

// UnreachableError is returned when no answer came from the server: the
// connection was refused or broke, the name did not resolve, TLS failed.
// Whether the request took effect is unknown.
type UnreachableError struct {
	URL string // the server's base URL
	Err error  // what the HTTP transport said
}

func (e *UnreachableError) Error() string { return "cannot reach the server: " + e.Err.Error() }

func (e *UnreachableError) Unwrap() error { return e.Err }

// Stable error codes. Callers branch on these, never on message text.
const (
	CodeNotFound         = "not_found"
	CodeInvalidRequest   = "invalid_request"
	CodeInvalidJSON      = "invalid_json"
	CodeTooLarge         = "too_large"
	CodeUnknownRuntime   = "unknown_runtime"
	CodeStaleAttempt     = "stale_attempt"
	CodeJobFinished      = "job_finished"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
	CodeUnauthorized     = "unauthorized"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeLimitExceeded    = "limit_exceeded"
	CodeNoSecretKey      = "secret_key_missing" // the server has no key to store secret environment values with
	CodeInvalidReqs      = "invalid_requirements"
	CodeWorkerIDInUse    = "worker_id_in_use"
	CodeBlobMissing      = "blob_missing"  // a job names a blob the server does not have
	CodeBlobMismatch     = "blob_mismatch" // uploaded bytes do not match their hash or size
	CodeInvalidManifest  = "invalid_manifest"
	CodeManifestUnknown  = "manifest_unknown"       // inputs_sha256 names no manifest of the caller's: send the inputs
	CodeBlobStore        = "blob_store_error"       // the blob store refused or failed
	CodeKeyReused        = "idempotency_key_reused" // a batch's idempotency key names another batch
	CodeForbidden        = "forbidden"              // the credential is valid but not for this endpoint
	CodeQuotaExceeded    = "quota_exceeded"         // the user is at a limit of theirs (429)
	CodeUserExists       = "user_exists"
	CodeBudgetExceeded   = "budget_exceeded" // the user's monthly budget is used (402)
)

// IdempotencyHeader names a job submission (POST /v1/jobs): the same key
// from the same user within 24 hours returns the job the first request
// made instead of making another, so a request retried after a cut
// connection never submits twice. The CLI sends one per invocation.
const IdempotencyHeader = "Idempotency-Key"

// WorkerInstanceHeader carries a worker process's instance on its calls:
// a nonce it makes at start, by which the server tells it from another
// process that uses the same worker id (see WithWorkerInstance).
const WorkerInstanceHeader = "Rgrid-Worker-Instance"

// IsCode reports whether err is an API error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Client talks to an RGrid server.
type Client struct {
	base     string   // servers[0]: every request is built against it (see failover)
	servers  []string // the server URLs, in order
	cur      *atomic.Int32
	token    string
	instance string // a worker process's nonce, sent as WorkerInstanceHeader
	// onWarning is given the server's warnings (WarningHeader).
	onWarning func(string)
	http      *http.Client
	// jsonLogs: the server answered invalid_json to a framed log upload
	// (it predates LogUploadContentType), so UploadLogs sends JSON.
	jsonLogs *atomic.Bool
	// noKnownInputs: the server answered invalid_json to a lease naming
	// known inputs (it predates LeaseRequest.KnownInputs).
	noKnownInputs *atomic.Bool
	// sleep waits d before a retry; false if ctx ended first. Tests
	// replace it to see the waits without taking them.
	sleep func(ctx context.Context, d time.Duration) bool
	// manifests holds the inputs manifests of recent leases, decoded.
	manifests *manifestCache
}

// New returns a client for the server at baseURL (e.g. http://127.0.0.1:8080),
// or for the replicas of one grid listed comma-separated
// (https://a:8443,https://b:8443): the client sticks to the one that
// answered last, and moves to the next when it cannot connect (see
// failover). token, if not empty, is sent as a bearer token.
func New(baseURL, token string) (*Client, error) {
	servers, err := parseServers(baseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:          servers[0],
		servers:       servers,
		cur:           new(atomic.Int32),
		jsonLogs:      new(atomic.Bool),
		noKnownInputs: new(atomic.Bool),
		token:         token,
		sleep:         sleep,
		manifests:     newManifestCache(),
	}
	// No overall timeout: long polls set their own deadline via context.
	c.http = &http.Client{Transport: c.failover(transport)}
	return c, nil
}

// failover wraps the transport that reaches the servers.
func (c *Client) failover(next http.RoundTripper) http.RoundTripper {
	return failover{servers: c.servers, cur: c.cur, next: next}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// transport keeps connections to the server open for reuse: a worker runs
// many attempts side by side, each reporting on its own, and the default
// of two idle connections per host would make most requests open a new
// one.
var transport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return t
}()

// WithWorkerInstance returns a client that sends instance (at most 64
// letters, digits, '-' and '_') with every call. A worker agent makes one
// per process: the server then refuses a second process that registers the
// same worker id while the first lives, and stops answering the first once
// another has taken the id over. A server that predates instances ignores
// the header.
// WarningHeader carries what the server warns the caller of with an
// answer that is not an error, e.g. a budget 80% used; one header per
// warning.
const WarningHeader = "Rgrid-Warning"

// OnWarning has f called with each warning the server sends (the
// WarningHeader of any answer). Set it before the client is used.
func (c *Client) OnWarning(f func(string)) { c.onWarning = f }

func (c *Client) WithWorkerInstance(instance string) *Client {
	cc := *c
	cc.instance = instance
	return &cc
}

// BaseURL is the server address the client was given: its list,
// comma-separated, for several replicas (what New takes again).
func (c *Client) BaseURL() string { return strings.Join(c.servers, ",") }

// getRetries is how often a GET answered 503 (the server's database is
// restarting, say) or 429 is tried again, waiting as the server's
// Retry-After asks (0.5 s, 1 s, 1.5 s, … when it does not say). Only GETs
// are retried: they change nothing, so trying one twice is safe.
const getRetries = 5

// maxRetryAfter is the longest Retry-After the client waits out itself.
// A server asking for more is down for longer than a caller should hang
// without knowing: the error comes back at once, its RetryAfter saying
// how long.
const maxRetryAfter = 10 * time.Second

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	for try := 0; ; try++ {
		err := c.doOnce(ctx, method, path, in, out)
		var e *Error
		if method != http.MethodGet || try >= getRetries || !errors.As(err, &e) ||
			e.Status != http.StatusServiceUnavailable && e.Status != http.StatusTooManyRequests {
			return err
		}
		wait := e.RetryAfter
		if wait == 0 {
			wait = time.Duration(try+1) * 500 * time.Millisecond
		}
		if wait > maxRetryAfter {
			return err
		}
		// Waiting past the caller's deadline only to fail then: fail now.
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return err
		}
		if !c.sleep(ctx, wait) {
			return err
		}
	}
}

func (c *Client) doOnce(ctx context.Context, method, path string, in, out any) error {
	_, err := c.doStatus(ctx, method, path, nil, in, out)
	return err
}

// doStatus is doOnce that also returns the status of a successful
// response (0 with an error).
func (c *Client) doStatus(ctx context.Context, method, path string, hdr http.Header, in, out any) (int, error) {
	var body io.Reader
	contentType := "application/json"
	switch v := in.(type) {
	case nil:
	case rawBody:
		body, contentType = bytes.NewReader(v.data), v.contentType
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.instance != "" {
		req.Header.Set(WorkerInstanceHeader, c.instance)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, err // the caller gave up; the server is not to blame
		}
		return 0, &UnreachableError{URL: c.BaseURL(), Err: err}
	}
	defer resp.Body.Close()
	if f := c.onWarning; f != nil {
		for _, w := range resp.Header.Values(WarningHeader) {
			f(w)
		}
	}
	if resp.StatusCode/100 != 2 {
		return 0, decodeError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if cutShort(err) && ctx.Err() == nil {
			// The connection broke before the whole answer (a server
			// shutting down): like no answer, the request may have
			// taken effect, and an idempotent one may be sent again.
			return 0, &UnreachableError{URL: c.BaseURL(), Err: fmt.Errorf("the answer to %s %s was cut short: %w", method, path, err)}
		}
		return 0, fmt.Errorf("decode response of %s %s: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

// cutShort reports a response body that ended before its JSON did, or
// whose connection failed while it was read.
func cutShort(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne)
}

func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &Error{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	if err := json.Unmarshal(b, e); err != nil || e.Code == "" {
		e.Code = CodeInternal
		e.Message = fmt.Sprintf("server answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
		if resp.StatusCode == http.StatusServiceUnavailable {
			e.Code = CodeUnavailable
		}
		// Go's TLS server answers a plain-HTTP request with this text
		// and nothing else to tell it by.
		if resp.StatusCode == http.StatusBadRequest && bytes.HasPrefix(b, []byte("Client sent an HTTP request to an HTTPS server")) {
			e.Message = "the server serves HTTPS, and this request was plain HTTP"
			e.Hint = "use https:// in the server URL (--server or RGRID_SERVER)"
		}
	}
	return e
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP-date
// (RFC 9110, section 10.2.3). Anything else, or a date already past, is
// zero. Very long waits are kept long but bounded, so they cannot
// overflow.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	const most = 24 * time.Hour
	if secs, err := strconv.ParseUint(h, 10, 64); err == nil {
		return time.Duration(min(secs, uint64(most/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return min(t.Sub(now), most)
	}
	return 0
}

// Submit queues a job.
//
// A request with an IdempotencyKey is safe to repeat, and Submit repeats
// it when the server could not be reached, the connection was cut before
// the answer, or the server answered 503 (shutting down, or its database
// away), up to submitTries times, waiting a little longer each time: the
// server makes the job once.
func (c *Client) Submit(ctx context.Context, req SubmitRequest) (Job, error) {
	var j Job
	if req.IdempotencyKey == "" {
		err := c.do(ctx, http.MethodPost, "/v1/jobs", req, &j)
		return j, err
	}
	hdr := http.Header{IdempotencyHeader: {req.IdempotencyKey}}
	for try := 1; ; try++ {
		_, err := c.doStatus(ctx, http.MethodPost, "/v1/jobs", hdr, req, &j)
		wait := time.Duration(try) * 500 * time.Millisecond
		var ue *UnreachableError
		var e *Error
		switch {
		case err == nil || try >= submitTries:
			return j, err
		case errors.As(err, &e) && e.Status == http.StatusServiceUnavailable && e.RetryAfter <= maxRetryAfter:
			// A server shutting down, or its database restarting.
			wait = max(wait, e.RetryAfter)
		case !errors.As(err, &ue):
			return j, err
		}
		if !c.sleep(ctx, wait) {
			return j, err
		}
	}
}

// submitTries is how often Submit sends a keyed submission that got no
// answer.
const submitTries = 4

// SubmitBatch queues up to 1,000 jobs in one request, all or none; the
// jobs come back in the order given. A refused job refuses the batch; the
// error's Details["index"] names it.
func (c *Client) SubmitBatch(ctx context.Context, reqs []SubmitRequest) ([]Job, error) {
	var out BatchSubmitResponse
	err := c.do(ctx, http.MethodPost, "/v1/jobs/batch", BatchSubmitRequest{Jobs: reqs}, &out)
	return out.Jobs, err
}

// Job returns a job with its attempts.
func (c *Client) Job(ctx context.Context, id string) (Job, error) {
	var j Job
	err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), nil, &j)
	return j, err
}

// ListOptions filter and page GET /v1/jobs.
type ListOptions struct {
	States []JobState
	// Runtime and Batch, when not "", keep the jobs of that runtime (as
	// submitted) and of that batch.
	Runtime string
	Batch   string
	Limit   int
	Cursor  string
}

// Jobs lists jobs newest first.
func (c *Client) Jobs(ctx context.Context, o ListOptions) (JobList, error) {
	q := url.Values{}
	for _, s := range o.States {
		q.Add("state", string(s))
	}
	if o.Runtime != "" {
		q.Set("runtime", o.Runtime)
	}
	if o.Batch != "" {
		q.Set("batch", o.Batch)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	var l JobList
	err := c.do(ctx, http.MethodGet, "/v1/jobs?"+q.Encode(), nil, &l)
	return l, err
}

// Cancel asks for a job to be stopped.
func (c *Client) Cancel(ctx context.Context, id string) (Job, error) {
	var j Job
	err := c.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(id)+"/cancel", nil, &j)
	return j, err
}

// LogOptions select part of a job's log.
type LogOptions struct {
	Streams []Stream
	After   int64
	Limit   int
	// Wait lets the server hold the request until new chunks arrive or the
	// job ends.
	Wait time.Duration
}

// Logs reads a page of a job's log.
func (c *Client) Logs(ctx context.Context, id string, o LogOptions) (LogPage, error) {
	q := url.Values{}
	for _, s := range o.Streams {
		q.Add("stream", string(s))
	}
	q.Set("after", strconv.FormatInt(o.After, 10))
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Wait > 0 {
		q.Set("wait", strconv.FormatFloat(o.Wait.Seconds(), 'f', -1, 64))
	}
	var p LogPage
	err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/logs?"+q.Encode(), nil, &p)
	return p, err
}

// Runtimes lists the server's runtime table.
func (c *Client) Runtimes(ctx context.Context) ([]Runtime, error) {
	var out struct {
		Runtimes []Runtime `json:"runtimes"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/runtimes", nil, &out)
	return out.Runtimes, err
}

// Workers lists registered workers.
func (c *Client) Workers(ctx context.Context) ([]Worker, error) {
	var out struct {
		Workers []Worker `json:"workers"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/workers", nil, &out)
	return out.Workers, err
}

// Health checks that the server answers and its database too.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	err := c.do(ctx, http.MethodGet, "/v1/health", nil, &h)
	return h, err
}

// Register registers a worker (or refreshes its registration).
func (c *Client) Register(ctx context.Context, req RegisterRequest) (RegisterResponse, error) {
	var r RegisterResponse
	err := c.do(ctx, http.MethodPost, "/v1/workers", req, &r)
	return r, err
}

// Heartbeat tells the server the worker is alive.
func (c *Client) Heartbeat(ctx context.Context, workerID string, req HeartbeatRequest) (HeartbeatResponse, error) {
	var r HeartbeatResponse
	err := c.do(ctx, http.MethodPost, "/v1/workers/"+url.PathEscape(workerID)+"/heartbeat", req, &r)
	return r, err
}

// Lease asks for work, long-polling up to req.WaitSeconds.
// A job's inputs manifest is decoded once per distinct encoding (see
// LeasedJob.InputsDigest): a worker re-running one project is sent the
// same manifest, thousands of entries, with every job.
func (c *Client) Lease(ctx context.Context, workerID string, req LeaseRequest) (LeaseResponse, error) {
	var r struct {
		Jobs []struct {
			LeasedJob
			Inputs json.RawMessage `json:"inputs,omitempty"` // LeasedJob.Inputs, undecoded
		} `json:"jobs"`
		Stop []AttemptRef `json:"stop,omitempty"`
	}
	// The manifests held now are named in the request and kept here until
	// the answer is read, whatever the cache drops meanwhile: a job the
	// server sends without its inputs has one of them.
	held := c.manifests.c.Snapshot()
	if req.KnownInputs == nil && len(held) > 0 && !c.noKnownInputs.Load() {
		for _, d := range slices.SortedFunc(maps.Keys(held), func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) }) {
			req.KnownInputs = append(req.KnownInputs, hex.EncodeToString(d[:]))
		}
	}
	path := "/v1/workers/" + url.PathEscape(workerID) + "/lease"
	err := c.do(ctx, http.MethodPost, path, req, &r)
	if IsCode(err, CodeInvalidJSON) && req.KnownInputs != nil {
		// A server older than the field refuses the request before it
		// claims anything: ask it as it reads them, from now on.
		c.noKnownInputs.Store(true)
		req.KnownInputs = nil
		err = c.do(ctx, http.MethodPost, path, req, &r)
	}
	if err != nil {
		return LeaseResponse{}, err
	}
	out := LeaseResponse{Jobs: make([]LeasedJob, len(r.Jobs)), Stop: r.Stop}
	for i, j := range r.Jobs {
		out.Jobs[i] = j.LeasedJob
		if len(j.Inputs) == 0 || string(j.Inputs) == "null" {
			if j.InputsSHA256 == "" {
				continue
			}
			var (
				digest [32]byte
				m      *Manifest
				ok     bool
			)
			if n, err := hex.Decode(digest[:], []byte(j.InputsSHA256)); err == nil && n == len(digest) {
				m, ok = held[digest]
			}
			if !ok {
				return LeaseResponse{}, fmt.Errorf("decode response of lease: job %s names inputs %.12s… without sending them, and they were not among the known ones", j.Job.ID, j.InputsSHA256)
			}
			out.Jobs[i].Inputs, out.Jobs[i].InputsDigest = m, digest
			continue
		}
		digest := sha256.Sum256(j.Inputs)
		m, err := c.manifests.decode(digest, j.Inputs)
		if err != nil {
			return LeaseResponse{}, fmt.Errorf("decode response of lease: job %s's inputs: %w", j.Job.ID, err)
		}
		out.Jobs[i].Inputs, out.Jobs[i].InputsDigest = m, digest
	}
	return out, nil
}

func attemptPath(ref AttemptRef, what string) string {
	return "/v1/jobs/" + url.PathEscape(ref.JobID) + "/attempts/" + strconv.Itoa(ref.Attempt) + "/" + what
}

// StartAttempt reports that an attempt's process has started.
func (c *Client) StartAttempt(ctx context.Context, ref AttemptRef) (AttemptStatus, error) {
	var s AttemptStatus
	err := c.do(ctx, http.MethodPost, attemptPath(ref, "start"), struct{}{}, &s)
	return s, err
}

// UploadLogs sends chunks of an attempt's output.
// It sends the framed LogUploadContentType body, or JSON to a server
// that does not read it yet (one that answers invalid_json to it).
func (c *Client) UploadLogs(ctx context.Context, ref AttemptRef, up LogUpload) (AttemptStatus, error) {
	var s AttemptStatus
	if !c.jsonLogs.Load() {
		b, err := EncodeLogUpload(up)
		if err != nil {
			return s, fmt.Errorf("encode request: %w", err)
		}
		err = c.do(ctx, http.MethodPost, attemptPath(ref, "logs"), rawBody{contentType: LogUploadContentType, data: b}, &s)
		if !IsCode(err, CodeInvalidJSON) {
			return s, err
		}
		c.jsonLogs.Store(true)
	}
	err := c.do(ctx, http.MethodPost, attemptPath(ref, "logs"), up, &s)
	return s, err
}

// rawBody is a request body sent as it is, not as JSON.
type rawBody struct {
	contentType string
	data        []byte
}

// ReportResult records how an attempt ended.
func (c *Client) ReportResult(ctx context.Context, ref AttemptRef, r ResultReport) (Job, error) {
	var j Job
	err := c.do(ctx, http.MethodPost, attemptPath(ref, "result"), r, &j)
	return j, err
}

// Release hands a worker's attempts back to the queue.
func (c *Client) Release(ctx context.Context, workerID string, req ReleaseRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/workers/"+url.PathEscape(workerID)+"/release", req, nil)
}

// Reports sends start and result reports on several attempts at once.
func (c *Client) Reports(ctx context.Context, workerID string, req ReportsRequest) (ReportsResponse, error) {
	var out ReportsResponse
	err := c.do(ctx, http.MethodPost, "/v1/workers/"+url.PathEscape(workerID)+"/reports", req, &out)
	return out, err
}

// AttemptLog says how much of an attempt's output the server has stored.
func (c *Client) AttemptLog(ctx context.Context, ref AttemptRef) (AttemptLog, error) {
	var l AttemptLog
	err := c.do(ctx, http.MethodGet, attemptPath(ref, "log"), nil, &l)
	return l, err
}
