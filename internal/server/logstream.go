package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/store"
)

// Following a job's log as it grows: GET /v1/jobs/{id}/logs/sse (Server-Sent
// Events) and GET /v1/jobs/{id}/logs/ws (WebSocket). Both send every chunk
// after the cursor "after" (for SSE also the Last-Event-ID header an
// EventSource sends when it reconnects), in order, each tagged with its id,
// then an end message once the job has ended and its whole log was sent.
// A follower whose connection drops reconnects with the last id it
// received and loses and repeats nothing.

// streamKeepAlive is how often an idle stream sends something, so that
// proxies keep it open and a dead peer is noticed.
const streamKeepAlive = 15 * time.Second

// streamWriteTimeout bounds one write to a follower: one that stops
// reading is dropped instead of holding the stream forever.
const streamWriteTimeout = 30 * time.Second

// logSink is one follower's connection.
type logSink interface {
	chunks(ctx context.Context, cs []client.LogChunk) error
	end(ctx context.Context, e client.LogEnd) error
	keepAlive(ctx context.Context) error
}

// followLogs sends the job's chunks after p.AfterID to sink until the job
// has ended and its log is sent, or ctx ends.
func (s *Server) followLogs(ctx context.Context, p store.ReadLogsParams, sink logSink) error {
	keepAlive := time.NewTicker(streamKeepAlive)
	defer keepAlive.Stop()
	for {
		changed := s.sched.WaitJob(p.JobID)
		// The state is read before the chunks: a worker stores all of an
		// attempt's output before its result, so a terminal state seen here
		// means the read below sees the whole log.
		j, err := s.store.GetJob(ctx, p.JobID)
		if err != nil {
			return err
		}
		cs, err := s.store.ReadLogs(ctx, p)
		if err != nil {
			return err
		}
		if len(cs) > 0 {
			out := make([]client.LogChunk, len(cs))
			for i, c := range cs {
				out[i] = chunkToAPI(c)
			}
			if err := sink.chunks(ctx, out); err != nil {
				return err
			}
			p.AfterID = cs[len(cs)-1].ID
			if len(cs) == p.Limit {
				continue // more is waiting
			}
		}
		if j.State.Terminal() {
			return sink.end(ctx, client.LogEnd{State: client.JobState(j.State), Next: p.AfterID})
		}
		if len(cs) > 0 {
			continue // look again at once: output often comes in bursts
		}
		poll := time.NewTimer(time.Second) // another replica may have written
		select {
		case <-ctx.Done():
			poll.Stop()
			return ctx.Err()
		case <-changed:
		case <-poll.C:
		case <-keepAlive.C:
			if err := sink.keepAlive(ctx); err != nil {
				poll.Stop()
				return err
			}
		}
		poll.Stop()
	}
}

// openFollow checks the request and that the job exists, answering with a
// JSON error (before any stream starts) if not.
func (s *Server) openFollow(w http.ResponseWriter, r *http.Request) (store.ReadLogsParams, bool) {
	p, err := logParams(r)
	if err == nil {
		_, err = s.loadJob(r, p.JobID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return p, false
	}
	return p, true
}

func (s *Server) followSSE(w http.ResponseWriter, r *http.Request) {
	p, ok := s.openFollow(w, r)
	if !ok {
		return
	}
	if acceptsLogStream(r) {
		s.followFramed(w, r, p)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	sink := &sseSink{w: w, rc: rc}
	// Tell an EventSource to come back quickly after a drop.
	if err := sink.write(r.Context(), "retry: 1000\n\n"); err != nil {
		return
	}
	err := s.followLogs(r.Context(), p, sink)
	if err != nil && !errors.Is(err, r.Context().Err()) {
		// The status line is gone; an error event is all that is left.
		msg, _ := json.Marshal(client.Error{Code: client.CodeInternal, Message: "reading the log failed; reconnect to resume"})
		_ = sink.write(r.Context(), "event: error\ndata: "+string(msg)+"\n\n")
		s.log.Warn("log stream ended with an error", "job", p.JobID, "err", err)
	}
}

// sseSink writes text/event-stream: one "chunk" event per chunk with the
// chunk's id as the event id, and one "end" event.
type sseSink struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (s *sseSink) write(ctx context.Context, text string) error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := s.w.Write([]byte(text)); err != nil {
		return err
	}
	if err := s.rc.Flush(); err != nil {
		return err
	}
	return ctx.Err()
}

func (s *sseSink) chunks(ctx context.Context, cs []client.LogChunk) error {
	var buf []byte
	for _, c := range cs {
		data, err := json.Marshal(c)
		if err != nil {
			return err
		}
		buf = append(buf, "id: "...)
		buf = strconv.AppendInt(buf, c.ID, 10)
		buf = append(buf, "\nevent: chunk\ndata: "...)
		buf = append(buf, data...)
		buf = append(buf, "\n\n"...)
	}
	return s.write(ctx, string(buf))
}

func (s *sseSink) end(ctx context.Context, e client.LogEnd) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.write(ctx, "event: end\ndata: "+string(data)+"\n\n")
}

func (s *sseSink) keepAlive(ctx context.Context) error { return s.write(ctx, ": keep-alive\n\n") }

func (s *Server) followWS(w http.ResponseWriter, r *http.Request) {
	p, ok := s.openFollow(w, r)
	if !ok {
		return
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the request
	}
	conn.SetReadLimit(4 << 10) // followers send nothing but control frames
	// CloseRead reads (and answers pings) until the peer closes; its
	// context ends then.
	ctx := conn.CloseRead(r.Context())
	err = s.followLogs(ctx, p, &wsSink{c: conn})
	switch {
	case err == nil:
		_ = conn.Close(websocket.StatusNormalClosure, "end of log")
	case errors.Is(err, ctx.Err()):
		_ = conn.CloseNow()
	default:
		s.log.Warn("log stream ended with an error", "job", p.JobID, "err", err)
		_ = conn.Close(websocket.StatusInternalError, "reading the log failed; reconnect to resume")
	}
}

// wsSink writes one JSON text message per chunk ({"type":"chunk", …the
// chunk}) and one {"type":"end", …} message.
type wsSink struct{ c *websocket.Conn }

type wsMessage struct {
	Type string `json:"type"`
	*client.LogChunk
	*client.LogEnd
}

func (s *wsSink) send(ctx context.Context, m wsMessage) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s message: %w", m.Type, err)
	}
	wctx, cancel := context.WithTimeout(ctx, streamWriteTimeout)
	defer cancel()
	return s.c.Write(wctx, websocket.MessageText, b)
}

func (s *wsSink) chunks(ctx context.Context, cs []client.LogChunk) error {
	for i := range cs {
		if err := s.send(ctx, wsMessage{Type: "chunk", LogChunk: &cs[i]}); err != nil {
			return err
		}
	}
	return nil
}

func (s *wsSink) end(ctx context.Context, e client.LogEnd) error {
	return s.send(ctx, wsMessage{Type: "end", LogEnd: &e})
}

func (s *wsSink) keepAlive(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, streamWriteTimeout)
	defer cancel()
	return s.c.Ping(pctx)
}
