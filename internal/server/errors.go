package server

import (
	"context"
	"database/sql/driver"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/store"
)

// kind is a class of API error: what went wrong, seen from the caller.
// Every stable code belongs to one kind, and the kind decides the HTTP
// status (a code may refine it within the same class), so that a client
// tells "change the request" (4xx) from "the platform failed" (5xx)
// without knowing every code.
type kind int

const (
	// kindValidation: the request is malformed, or a value in it is not
	// one the server accepts. Sent again unchanged, it fails again.
	kindValidation kind = iota + 1
	// kindUnauthorized: the API token is missing or wrong (401), or not
	// one for this endpoint (403).
	kindUnauthorized
	// kindNotFound: the job, worker or endpoint named does not exist.
	kindNotFound
	// kindConflict: the request is valid, but the state of what it names
	// forbids it now (the job has ended; the attempt was superseded; the
	// worker id belongs to another worker process).
	kindConflict
	// kindLimit: the request asks for more than the grid allows: a body
	// over the size limit, or limits no worker accepts.
	kindLimit
	// kindExecution: the request was valid and the control plane did its
	// part, but something it hands work to could not carry it out (the
	// worker's executor, the image registry, pip). A job's own outcome is
	// data, not an API error: GET /v1/jobs/{id} answers 200 with the state
	// and reason, "error" included. An endpoint that must itself report
	// that a job could not be run answers 502 Bad Gateway: not 4xx, since
	// the caller cannot fix it by changing the request; not 500, which
	// says the control plane itself is broken.
	kindExecution
	// kindPlatform: the control plane failed: a bug (500) or its database
	// out of reach (503, worth retrying).
	kindPlatform
)

// status is the HTTP status of errors of kind k.
func (k kind) status() int {
	switch k {
	case kindValidation:
		return http.StatusBadRequest
	case kindUnauthorized:
		return http.StatusUnauthorized
	case kindNotFound:
		return http.StatusNotFound
	case kindConflict:
		return http.StatusConflict
	case kindLimit:
		return http.StatusUnprocessableEntity
	case kindExecution:
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// codeSpec is a stable code's kind and, where it refines the kind's
// status, its own.
type codeSpec struct {
	kind   kind
	status int
}

// codes lists every stable error code (the Code* constants of package
// client). The README's API section documents each with its status.
var codes = map[string]codeSpec{
	client.CodeInvalidJSON:      {kind: kindValidation},
	client.CodeInvalidRequest:   {kind: kindValidation},
	client.CodeUnknownRuntime:   {kind: kindValidation},
	client.CodeInvalidReqs:      {kind: kindValidation},
	client.CodeInvalidManifest:  {kind: kindValidation},
	client.CodeBlobMissing:      {kind: kindValidation},
	client.CodeManifestUnknown:  {kind: kindValidation},
	client.CodeBlobMismatch:     {kind: kindValidation},
	client.CodeMethodNotAllowed: {kind: kindValidation, status: http.StatusMethodNotAllowed},
	client.CodeUnauthorized:     {kind: kindUnauthorized},
	client.CodeForbidden:        {kind: kindUnauthorized, status: http.StatusForbidden},
	client.CodeQuotaExceeded:    {kind: kindLimit, status: http.StatusTooManyRequests},
	client.CodeUserExists:       {kind: kindConflict},
	client.CodeBudgetExceeded:   {kind: kindLimit, status: http.StatusPaymentRequired},
	client.CodeNotFound:         {kind: kindNotFound},
	client.CodeStaleAttempt:     {kind: kindConflict},
	client.CodeJobFinished:      {kind: kindConflict},
	client.CodeWorkerIDInUse:    {kind: kindConflict},
	client.CodeKeyReused:        {kind: kindConflict},
	client.CodeLimitExceeded:    {kind: kindLimit},
	client.CodeNoSecretKey:      {kind: kindLimit},
	client.CodeTooLarge:         {kind: kindLimit, status: http.StatusRequestEntityTooLarge},
	client.CodeInternal:         {kind: kindPlatform},
	client.CodeUnavailable:      {kind: kindPlatform, status: http.StatusServiceUnavailable},
	client.CodeBlobStore:        {kind: kindPlatform, status: http.StatusBadGateway},
}

// statusOf is the HTTP status of an error with the given code; a code
// missing from the table is a bug, answered as one.
func statusOf(code string) int {
	spec, ok := codes[code]
	switch {
	case !ok:
		return http.StatusInternalServerError
	case spec.status != 0:
		return spec.status
	}
	return spec.kind.status()
}

// apiError is an error meant for the API's user: its message and hint are
// shown as they are. Anything else that reaches writeError is logged and
// answered with a generic 500, so no internal detail leaks.
type apiError struct {
	code    string
	message string
	hint    string
	details map[string]any
}

func (e *apiError) Error() string { return e.message }

// errorf returns an API error with a stable code, which decides its
// status (see codes).
func errorf(code, hint, format string, args ...any) *apiError {
	return &apiError{code: code, hint: hint, message: fmt.Sprintf(format, args...)}
}

// toClient is e as the API answers it.
func (e *apiError) toClient() *client.Error {
	return &client.Error{Status: statusOf(e.code), Code: e.code, Message: e.message, Hint: e.hint, Details: e.details}
}

func (e *apiError) with(key string, v any) *apiError {
	if e.details == nil {
		e.details = map[string]any{}
	}
	e.details[key] = v
	return e
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ErrShuttingDown is the cause with which the HTTP server's base context
// is cancelled when the server stops: a request cut short by it is
// answered 503, never left with an empty success.
var ErrShuttingDown = errors.New("the server is shutting down")

// shuttingDown answers a request whose context the server's stop ended,
// and says whether it did. A request ended because its client went away
// has nobody to answer.
func (s *Server) shuttingDown(w http.ResponseWriter, r *http.Request) bool {
	if r.Context().Err() == nil || !errors.Is(context.Cause(r.Context()), ErrShuttingDown) {
		return false
	}
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Connection", "close")
	writeJSON(w, http.StatusServiceUnavailable, client.Error{Code: client.CodeUnavailable,
		Message: "this server is shutting down",
		Hint:    "retry; a client given several --server URLs moves to another replica"})
	return true
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var bse *blobStoreError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &bse):
		s.log.Error("blob store failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = errorf(client.CodeBlobStore, "retry; if it persists, check the server's --blobs setting and its log",
			"the blob store failed")
	case errors.Is(err, store.ErrNotFound):
		ae = errorf(client.CodeNotFound, "", "not found")
	case errors.Is(err, store.ErrStaleAttempt):
		ae = errorf(client.CodeStaleAttempt,
			"stop this attempt: the job has moved on without it", "%v", err)
	case errors.Is(err, r.Context().Err()) && r.Context().Err() != nil:
		s.shuttingDown(w, r) // else the client went away: nobody to answer
		return
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		if isUnavailable(err) || !s.databaseAnswers(r.Context()) {
			w.Header().Set("Retry-After", "2")
			ae = errorf(client.CodeUnavailable,
				"retry in a few seconds; if it persists, check the server's database", "the server cannot reach its database")
		} else {
			ae = errorf(client.CodeInternal,
				"this is a bug or an outage on the server; its log has the details", "internal server error")
		}
	}
	writeJSON(w, statusOf(ae.code), client.Error{Code: ae.code, Message: ae.message, Hint: ae.hint, Details: ae.details})
}

// databaseAnswers pings the store, to tell an outage (503: retry later)
// from a failing query (500) whatever shape the driver's error has.
func (s *Server) databaseAnswers(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_, err := s.store.SchemaVersion(ctx)
	return err == nil
}

// isUnavailable reports whether err means the database cannot be reached
// (as opposed to a query going wrong).
func isUnavailable(err error) bool {
	var ne *net.OpError
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	// PostgreSQL's own codes, read through the method its driver's error
	// has: connection exceptions (08) and the server shutting down or
	// restarting (57P), where the request may be retried as it is.
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) {
		code := pe.SQLState()
		return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "57P")
	}
	return false
}

// decodeJSON reads a JSON body into v, refusing unknown fields, trailing
// data and oversized bodies with messages that say what is wrong.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, limit)
	}
	if dec.More() {
		return errorf(client.CodeInvalidJSON, "send exactly one JSON object",
			"request body has data after the JSON object")
	}
	return nil
}

func jsonError(err error, limit int64) error {
	const hint = "send a JSON object as described in the API documentation (README, API section)"
	var (
		syn  *json.SyntaxError
		typ  *json.UnmarshalTypeError
		big  *http.MaxBytesError
		b64  base64.CorruptInputError
		what string
	)
	switch {
	case errors.As(err, &big):
		return errorf(client.CodeTooLarge,
			"make the request smaller", "request body is larger than %d bytes", limit).with("limit_bytes", limit)
	case errors.As(err, &syn):
		what = fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		what = fmt.Sprintf("field %q must be %s, not JSON %s", typ.Field, jsonKind(typ.Type.String()), typ.Value)
	case errors.As(err, &b64):
		what = fmt.Sprintf("a bytes field is not valid base64: %v", err)
	case errors.Is(err, io.EOF):
		what = "request body is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		what = "request body ends in the middle of the JSON"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		what = "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	default:
		what = "invalid JSON: " + err.Error()
	}
	return errorf(client.CodeInvalidJSON, hint, "%s", what)
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]uint8"):
		return "a base64 string"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["):
		return "an object"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	}
	return goType
}
