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
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (s *framedSink) write(ctx context.Context, b []byte) error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	if err := s.rc.Flush(); err != nil {
		return err
	}
	return ctx.Err()
}

func (s *framedSink) chunks(ctx context.Context, cs []client.LogChunk) error {
	size := 0
	for _, c := range cs {
		size += 160 + len(c.Data) // 160: about a chunk's line of JSON
	}
	b, err := client.AppendLogStreamChunks(make([]byte, 0, size), cs)
	if err != nil {
		return err
	}
	return s.write(ctx, b)
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
