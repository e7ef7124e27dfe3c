package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// FollowOptions selects what Follow sends.
type FollowOptions struct {
	Streams []Stream // empty: all
	// After is the id of the last chunk already seen: Follow starts after it.
	After int64
	// GiveUpAfter ends Follow when no connection to the server has
	// succeeded for this long (default 2 minutes; a server restart takes
	// seconds).
	GiveUpAfter time.Duration
	// OnReconnect, if set, is called before each reconnection with the
	// error that ended the previous connection.
	OnReconnect func(err error)
	// OnIdle, if set, is called after a chunk has been passed to fn when
	// nothing more has arrived yet, so reading on would wait for the
	// server. A caller that buffers what fn writes flushes here: a fast
	// log is written in large blocks and a slow one still line by line.
	// An error from OnIdle ends Follow, as one from fn does.
	OnIdle func() error
}

// Follow streams a job's log from the server's SSE endpoint
// (GET /v1/jobs/{id}/logs/sse), calling fn with each chunk in order, until
// the job has ended and its whole log has been passed to fn. A dropped
// connection is opened again from the last chunk's id, so fn sees every
// chunk exactly once across drops and server restarts. It returns the end
// of the log, or the first error from fn, from the server refusing the
// request (unknown job, bad cursor, wrong token), or from ctx.
func (c *Client) Follow(ctx context.Context, id string, o FollowOptions, fn func(LogChunk) error) (LogEnd, error) {
	giveUp := o.GiveUpAfter
	if giveUp <= 0 {
		giveUp = 2 * time.Minute
	}
	after := o.After
	lastOK := time.Now()
	connected := false // a server that never answered is reported at once
	for try := 0; ; try++ {
		end, progressed, err := c.followOnce(ctx, id, o.Streams, &after, fn, o.OnIdle)
		if err == nil {
			return end, nil
		}
		if progressed {
			try, lastOK, connected = 0, time.Now(), true
		}
		var fe *fnError
		var ae *Error
		switch {
		case ctx.Err() != nil:
			return LogEnd{}, ctx.Err()
		case errors.As(err, &fe):
			return LogEnd{}, fe.err
		case errors.As(err, &ae) && ae.Status/100 == 4:
			return LogEnd{}, err
		case !connected && time.Since(lastOK) > 2*time.Second:
			return LogEnd{}, err
		case time.Since(lastOK) > giveUp:
			return LogEnd{}, fmt.Errorf("following the log of job %s: no answer from the server for %s: %w", id, giveUp, err)
		}
		if o.OnReconnect != nil {
			o.OnReconnect(err)
		}
		wait := min(time.Duration(1<<min(try, 5))*100*time.Millisecond, 3*time.Second)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return LogEnd{}, ctx.Err()
		case <-t.C:
		}
	}
}

// fnError carries an error of Follow's callback, which ends Follow.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }

// errNoEnd: the stream closed before its end event.
var errNoEnd = errors.New("the log stream closed before the end of the log")

// followOnce reads one SSE connection. progressed reports whether it got
// anything (then the server was reachable and backoff starts over).
func (c *Client) followOnce(ctx context.Context, id string, streams []Stream, after *int64, fn func(LogChunk) error, onIdle func() error) (end LogEnd, progressed bool, err error) {
	q := url.Values{}
	for _, s := range streams {
		q.Add("stream", string(s))
	}
	q.Set("after", strconv.FormatInt(*after, 10))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/jobs/"+url.PathEscape(id)+"/logs/sse?"+q.Encode(), nil)
	if err != nil {
		return LogEnd{}, false, err
	}
	req.Header.Set("Accept", LogStreamContentType+", text/event-stream;q=0.9")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return LogEnd{}, false, err
		}
		return LogEnd{}, false, &UnreachableError{URL: c.BaseURL(), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return LogEnd{}, false, decodeError(resp)
	}
	progressed = true
	r := bufio.NewReaderSize(resp.Body, 256<<10)
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == LogStreamContentType {
		end, err := readLogStream(r, after, fn, onIdle)
		return end, progressed, err
	}
	var (
		event string
		data  []byte
	)
	delivered := false // chunks passed to fn since onIdle was last called
	for {
		// About to wait for the network: let the caller flush first.
		if delivered && onIdle != nil && !lineBuffered(r) {
			if err := onIdle(); err != nil {
				return LogEnd{}, progressed, &fnError{err}
			}
			delivered = false
		}
		line, err := readLine(r)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errNoEnd
			}
			return LogEnd{}, progressed, err
		}
		if len(line) > 0 {
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "event":
				event = string(value)
			case "data":
				data = append(data, value...)
			}
			continue
		}
		// A blank line dispatches the event.
		switch event {
		case "chunk":
			var ch LogChunk
			if err := json.Unmarshal(data, &ch); err != nil {
				return LogEnd{}, progressed, fmt.Errorf("decode log chunk: %w", err)
			}
			if ch.ID > *after { // never twice, whatever the server sends
				if err := fn(ch); err != nil {
					return LogEnd{}, progressed, &fnError{err}
				}
				*after = ch.ID
				delivered = true
			}
		case "end":
			if err := json.Unmarshal(data, &end); err != nil {
				return LogEnd{}, progressed, fmt.Errorf("decode end of log: %w", err)
			}
			return end, progressed, nil
		case "error":
			e := &Error{Status: http.StatusInternalServerError}
			if json.Unmarshal(data, e) != nil || e.Message == "" {
				e.Message = "the server could not read the log"
			}
			return LogEnd{}, progressed, e
		}
		event, data = "", data[:0]
	}
}

// lineBuffered reports whether r holds a whole line, which readLine then
// returns without reading from the network. The search stops at the first
// line ending, which readLine scans up to anyway.
func lineBuffered(r *bufio.Reader) bool {
	b, _ := r.Peek(r.Buffered())
	return bytes.IndexByte(b, '\n') >= 0
}

// readLine reads one line of any length without its line ending.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		long := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = r.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if err != nil {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}
