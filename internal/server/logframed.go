package server

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/store"
)

// acceptsLogStream reports whether the follower asked for the framed
// stream (client.LogStreamContentType), which carries a chunk's bytes as
// they are where SSE puts them in base64 inside JSON: rgrid's own client
// does; a browser's EventSource does not.
func acceptsLogStream(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == client.LogStreamContentType {
			return true
		}
	}
	return false
}

// followFramed is followSSE for a follower that takes the framed stream.
func (s *Server) followFramed(w http.ResponseWriter, r *http.Request, p store.ReadLogsParams) {
	h := w.Header()
	h.Set("Content-Type", client.LogStreamContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	sink := &framedSink{w: w, rc: http.NewResponseController(w)}
	err := s.followLogs(r.Context(), p, sink)
	if err != nil && !errors.Is(err, r.Context().Err()) {
		// The status line is gone; an error message is all that is left.
		if b, merr := client.AppendLogStreamError(nil, client.Error{Code: client.CodeInternal, Message: "reading the log failed; reconnect to resume"}); merr == nil {
			_ = sink.write(r.Context(), b)
		}
		s.log.Warn("log stream ended with an error", "job", p.JobID, "err", err)
	}
}

// framedSink writes client.LogStreamContentType messages.
type framedSink struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte // one chunk's message at a time: at most a chunk and its line
}

func (s *framedSink) write(ctx context.Context, b []byte) error {
	return s.writeEach(ctx, 1, func(int) ([]byte, error) { return b, nil })
}

// writeEach writes the n messages that next returns, one after another,
// and flushes once.
func (s *framedSink) writeEach(ctx context.Context, n int, next func(i int) ([]byte, error)) error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	for i := range n {
		b, err := next(i)
		if err != nil {
			return err
		}
		if _, err := s.w.Write(b); err != nil {
			return err
		}
	}
	if err := s.rc.Flush(); err != nil {
		return err
	}
	return ctx.Err()
}

// chunks writes each chunk's message from one small buffer the sink
// keeps, not a page of chunks built up in a new buffer first: a follower
// of a chatty job is sent a million lines a second, and a fresh buffer of
// megabytes a page cost more than the bytes' copy.
func (s *framedSink) chunks(ctx context.Context, cs []client.LogChunk) error {
	return s.writeEach(ctx, len(cs), func(i int) ([]byte, error) {
		var err error
		s.buf, err = client.AppendLogStreamChunks(s.buf[:0], cs[i:i+1])
		return s.buf, err
	})
}

func (s *framedSink) end(ctx context.Context, e client.LogEnd) error {
	b, err := client.AppendLogStreamEnd(nil, e)
	if err != nil {
		return err
	}
	return s.write(ctx, b)
}

func (s *framedSink) keepAlive(ctx context.Context) error {
	return s.write(ctx, []byte(client.LogStreamKeepAlive))
}
