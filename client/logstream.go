package client

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// LogStreamContentType is the framed form of GET /v1/jobs/{id}/logs/sse,
// sent instead of Server-Sent Events to a follower that asks for it in
// its Accept header (Follow does): one line of JSON per message, a
// chunk's line followed by its bytes exactly as the job wrote them, where
// SSE carries them as base64 in JSON. A server that predates it answers
// with text/event-stream, which Follow reads as before.
//
//	{"type":"chunk","id":7,"attempt":1,"stream":"stdout","seq":3,"time":"…","size":6}\n
//	hello\n
//	{"type":"keep-alive"}\n
//	{"type":"end","state":"succeeded","next":7}\n
//
// A failure after the stream started is a line {"type":"error",…} with
// the fields of Error.
const LogStreamContentType = "application/vnd.rgrid.log-stream"

// logFrame is one line of a LogStreamContentType stream.
type logFrame struct {
	Type    string    `json:"type"`
	ID      int64     `json:"id,omitempty"`
	Attempt int       `json:"attempt,omitempty"`
	Stream  Stream    `json:"stream,omitempty"`
	Seq     int64     `json:"seq,omitempty"`
	Time    time.Time `json:"time,omitzero"`
	Size    int       `json:"size,omitempty"`
	// end
	State JobState `json:"state,omitempty"`
	Next  int64    `json:"next,omitempty"`
	// error
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	Hint    string `json:"hint,omitempty"`
}

// AppendLogStreamChunks appends chunks as LogStreamContentType messages.
func AppendLogStreamChunks(b []byte, cs []LogChunk) ([]byte, error) {
	for _, c := range cs {
		head, err := json.Marshal(logFrame{Type: "chunk", ID: c.ID, Attempt: c.Attempt, Stream: c.Stream, Seq: c.Seq, Time: c.Time, Size: len(c.Data)})
		if err != nil {
			return b, err
		}
		b = append(append(append(b, head...), '\n'), c.Data...)
	}
	return b, nil
}

// AppendLogStreamEnd appends the end message of a LogStreamContentType
// stream.
func AppendLogStreamEnd(b []byte, e LogEnd) ([]byte, error) {
	return appendFrame(b, logFrame{Type: "end", State: e.State, Next: e.Next})
}

// AppendLogStreamError appends an error message, the last of a
// LogStreamContentType stream that failed after it started.
func AppendLogStreamError(b []byte, e Error) ([]byte, error) {
	return appendFrame(b, logFrame{Type: "error", Code: e.Code, Message: e.Message, Hint: e.Hint})
}

// LogStreamKeepAlive is the message an idle LogStreamContentType stream
// sends now and then.
const LogStreamKeepAlive = `{"type":"keep-alive"}` + "\n"

func appendFrame(b []byte, f logFrame) ([]byte, error) {
	line, err := json.Marshal(f)
	if err != nil {
		return b, err
	}
	return append(append(b, line...), '\n'), nil
}

// readLogStream is followOnce's reading of a LogStreamContentType body.
func readLogStream(r *bufio.Reader, after *int64, fn func(LogChunk) error, onIdle func() error) (LogEnd, error) {
	delivered := false // chunks passed to fn since onIdle was last called
	for {
		if delivered && onIdle != nil && !lineBuffered(r) {
			if err := onIdle(); err != nil {
				return LogEnd{}, &fnError{err}
			}
			delivered = false
		}
		line, err := readLine(r)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errNoEnd
			}
			return LogEnd{}, err
		}
		var f logFrame
		if err := json.Unmarshal(line, &f); err != nil {
			return LogEnd{}, fmt.Errorf("decode log stream message: %w", err)
		}
		switch f.Type {
		case "chunk":
			if f.Size < 0 {
				return LogEnd{}, fmt.Errorf("decode log stream message: chunk %d has size %d", f.ID, f.Size)
			}
			data := make([]byte, f.Size)
			if _, err := io.ReadFull(r, data); err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					err = errNoEnd
				}
				return LogEnd{}, err
			}
			if f.ID > *after { // never twice, whatever the server sends
				if err := fn(LogChunk{ID: f.ID, Attempt: f.Attempt, Stream: f.Stream, Seq: f.Seq, Time: f.Time, Data: data}); err != nil {
					return LogEnd{}, &fnError{err}
				}
				*after = f.ID
				delivered = true
			}
		case "end":
			return LogEnd{State: f.State, Next: f.Next}, nil
		case "error":
			e := &Error{Status: http.StatusInternalServerError, Code: f.Code, Message: f.Message, Hint: f.Hint}
			if e.Message == "" {
				e.Message = "the server could not read the log"
			}
			return LogEnd{}, e
		}
		// keep-alive, and message types of later servers: skipped
	}
}
