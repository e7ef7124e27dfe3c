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

// apiError is an error meant for the API's user: its message and hint are
// shown as they are. Anything else that reaches writeError is logged and
// answered with a generic 500, so no internal detail leaks.
type apiError struct {
	status  int
	code    string
	message string
	hint    string
	details map[string]any
}

func (e *apiError) Error() string { return e.message }

func errorf(status int, code, hint, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, hint: hint, message: fmt.Sprintf(format, args...)}
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

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrNotFound):
		ae = errorf(http.StatusNotFound, client.CodeNotFound, "", "not found")
	case errors.Is(err, store.ErrStaleAttempt):
		ae = errorf(http.StatusConflict, client.CodeStaleAttempt,
			"stop this attempt: the job has moved on without it", "%v", err)
	case errors.Is(err, r.Context().Err()) && r.Context().Err() != nil:
		return // the client went away; nobody to answer
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		if isUnavailable(err) || !s.databaseAnswers(r.Context()) {
			w.Header().Set("Retry-After", "2")
			ae = errorf(http.StatusServiceUnavailable, client.CodeUnavailable,
				"retry in a few seconds; if it persists, check the server's database", "the server cannot reach its database")
		} else {
			ae = errorf(http.StatusInternalServerError, client.CodeInternal,
				"this is a bug or an outage on the server; its log has the details", "internal server error")
		}
	}
	writeJSON(w, ae.status, client.Error{Code: ae.code, Message: ae.message, Hint: ae.hint, Details: ae.details})
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
		return errorf(http.StatusBadRequest, client.CodeInvalidJSON, "send exactly one JSON object",
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
		return errorf(http.StatusRequestEntityTooLarge, client.CodeTooLarge,
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
	return errorf(http.StatusBadRequest, client.CodeInvalidJSON, hint, "%s", what)
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
