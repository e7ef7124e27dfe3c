package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/server"
)

// streamBundle is a server behind a proxy that can cut every open
// connection, with a leased job to write output for.
type streamBundle struct {
	url   string // the server
	proxy *cutter
	c     *client.Client // straight to the server
	ref   client.AttemptRef
	seq   int64
}

func setupStream(t *testing.T) *streamBundle {
	t.Helper()
	base := setup(t, server.Options{})
	c := base.c
	b := &streamBundle{url: base.url, proxy: newCutter(t, strings.TrimPrefix(base.url, "http://")), c: c}
	j, err := c.Submit(t.Context(), client.SubmitRequest{FileName: "x.py", Script: []byte("print(1)")})
	if err != nil {
		t.Fatal(err)
	}
	lj := base.leaseOne(t, "w1")
	b.ref = client.AttemptRef{JobID: j.ID, Attempt: lj.Attempt}
	if _, err := c.StartAttempt(t.Context(), b.ref); err != nil {
		t.Fatal(err)
	}
	return b
}

// write uploads n numbered lines to stdout (and every tenth to stderr).
func (b *streamBundle) write(t *testing.T, from, n int) {
	t.Helper()
	var up client.LogUpload
	for i := from; i < from+n; i++ {
		b.seq++
		up.Chunks = append(up.Chunks, client.LogChunk{Stream: client.Stdout, Seq: b.seq, Time: time.Now(), Data: fmt.Appendf(nil, "line %d\n", i)})
		if i%10 == 0 {
			up.Chunks = append(up.Chunks, client.LogChunk{Stream: client.Stderr, Seq: b.seq, Time: time.Now(), Data: fmt.Appendf(nil, "err %d\n", i)})
		}
	}
	if _, err := b.c.UploadLogs(t.Context(), b.ref, up); err != nil {
		t.Fatal(err)
	}
}

func (b *streamBundle) finish(t *testing.T) {
	t.Helper()
	code := 0
	if _, err := b.c.ReportResult(t.Context(), b.ref, client.ResultReport{State: client.StateSucceeded, ExitCode: &code}); err != nil {
		t.Fatal(err)
	}
}

func want(n int, stream client.Stream) string {
	var s strings.Builder
	for i := range n {
		if stream == client.Stdout {
			fmt.Fprintf(&s, "line %d\n", i)
		} else if i%10 == 0 {
			fmt.Fprintf(&s, "err %d\n", i)
		}
	}
	return s.String()
}

// TestFollowSSEResumesAcrossCuts: a follower whose connection is cut
// while the job writes gets every chunk exactly once, in order.
func TestFollowSSEResumesAcrossCuts(t *testing.T) {
	t.Parallel()
	b := setupStream(t)
	via, _ := client.New(b.proxy.url(), "")
	var (
		mu         sync.Mutex
		out, errw  bytes.Buffer
		reconnects int
	)
	seen := func() int {
		mu.Lock()
		defer mu.Unlock()
		return out.Len()
	}
	type result struct {
		end client.LogEnd
		err error
	}
	done := make(chan result, 1)
	firstSeen := make(chan struct{})
	var once sync.Once
	go func() {
		end, err := via.Follow(t.Context(), b.ref.JobID, client.FollowOptions{OnReconnect: func(error) { mu.Lock(); reconnects++; mu.Unlock() }},
			func(ch client.LogChunk) error {
				once.Do(func() { close(firstSeen) })
				mu.Lock()
				defer mu.Unlock()
				if ch.Stream == client.Stdout {
					out.Write(ch.Data)
				} else {
					errw.Write(ch.Data)
				}
				return nil
			})
		done <- result{end, err}
	}()
	b.write(t, 0, 100)
	<-firstSeen
	for round := range 3 {
		// Cut while connected: once the follower has what was written.
		for deadline := time.Now().Add(10 * time.Second); seen() < len(want(100+round*100, client.Stdout)); {
			if time.Now().After(deadline) {
				t.Fatal("the follower does not get the output")
			}
			time.Sleep(5 * time.Millisecond)
		}
		b.proxy.cut()
		b.write(t, 100+round*100, 100)
	}
	b.finish(t)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.end.State != client.StateSucceeded || r.end.Next == 0 {
		t.Errorf("end = %+v", r.end)
	}
	if out.String() != want(400, client.Stdout) || errw.String() != want(400, client.Stderr) {
		t.Errorf("got %d stdout bytes and %d stderr bytes, want %d and %d (lost or repeated output)",
			out.Len(), errw.Len(), len(want(400, client.Stdout)), len(want(400, client.Stderr)))
	}
	if reconnects < 3 { // read after done: the follower has returned
		t.Errorf("reconnected %d times, want at least 3 (the cuts did not land?)", reconnects)
	}
}

// TestFollowSSEWire: the event stream itself, as a browser's EventSource
// sees it: ids, chunk and end events, Last-Event-ID resumption, a stream
// filter, and JSON errors before the stream starts.
func TestFollowSSEWire(t *testing.T) {
	t.Parallel()
	b := setupStream(t)
	b.write(t, 0, 20)
	b.finish(t)
	get := func(query string, header http.Header) (http.Header, []sseEvent) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, b.url+"/v1/jobs/"+b.ref.JobID+"/logs/sse"+query, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.Header, readEvents(t, resp.Body)
	}
	h, events := get("", nil)
	if ct := h.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	chunks := events[:len(events)-1]
	if len(chunks) != 22 || events[len(events)-1].event != "end" {
		t.Fatalf("got %d events, last %+v", len(events), events[len(events)-1])
	}
	var third client.LogChunk
	if err := json.Unmarshal([]byte(chunks[2].data), &third); err != nil || chunks[2].id != fmt.Sprint(third.ID) {
		t.Fatalf("third chunk %q (id %q): %v", chunks[2].data, chunks[2].id, err)
	}
	_, resumed := get("", http.Header{"Last-Event-Id": {chunks[2].id}})
	if len(resumed) != len(events)-3 || resumed[0].id != chunks[3].id {
		t.Errorf("resumed after %s: %d events starting at %q", chunks[2].id, len(resumed), resumed[0].id)
	}
	_, stderrOnly := get("?stream=stderr", nil)
	if len(stderrOnly) != 3 { // err 0, err 10, end
		t.Errorf("stderr only: %d events", len(stderrOnly))
	}
	for _, path := range []string{"/v1/jobs/nope/logs/sse", "/v1/jobs/" + b.ref.JobID + "/logs/sse?after=x", "/v1/jobs/nope/logs/ws"} {
		resp, err := http.Get(b.url + path)
		if err != nil {
			t.Fatal(err)
		}
		var e client.Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode/100 != 4 || e.Code == "" || e.Hint == "" && resp.StatusCode == 400 {
			t.Errorf("%s: %d %+v, want a JSON error", path, resp.StatusCode, e)
		}
	}
}

type sseEvent struct{ id, event, data string }

func readEvents(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if cur.event != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
			continue
		}
		k, v, _ := strings.Cut(line, ": ")
		switch k {
		case "id":
			cur.id = v
		case "event":
			cur.event = v
		case "data":
			cur.data = v
		}
	}
	return out
}

// TestFollowWebSocket: the WebSocket endpoint sends the same chunks, live
// and resumed from a cursor, then an end message and a normal close.
func TestFollowWebSocket(t *testing.T) {
	t.Parallel()
	b := setupStream(t)
	b.write(t, 0, 10)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(b.url, "http") + "/v1/jobs/" + b.ref.JobID + "/logs/ws"
	read := func(after int64, live func()) (string, int64, string) {
		t.Helper()
		conn, _, err := websocket.Dial(ctx, fmt.Sprintf("%s?after=%d&stream=stdout", wsURL, after), nil) //nolint:bodyclose // the response body is the connection, closed with it
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()
		var out strings.Builder
		last := after
		for n := 0; ; n++ {
			_, msg, err := conn.Read(ctx)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			var m struct {
				Type string `json:"type"`
				client.LogChunk
				State client.JobState `json:"state"`
			}
			if err := json.Unmarshal(msg, &m); err != nil {
				t.Fatal(err)
			}
			if m.Type == "end" {
				_, _, err := conn.Read(ctx)
				if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
					t.Errorf("close after end: %v", err)
				}
				return out.String(), last, string(m.State)
			}
			out.Write(m.Data)
			last = m.ID
			if n == 4 && live != nil {
				live()
			}
		}
	}
	var cursor int64
	first, cursor, state := func() (string, int64, string) {
		// Stop reading half-way: dial, read five chunks, hang up.
		conn, _, err := websocket.Dial(ctx, wsURL+"?stream=stdout", nil) //nolint:bodyclose // the response body is the connection, closed with it
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()
		var out strings.Builder
		var last int64
		for range 5 {
			_, msg, err := conn.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var ch client.LogChunk
			_ = json.Unmarshal(msg, &ch)
			out.Write(ch.Data)
			last = ch.ID
		}
		return out.String(), last, ""
	}()
	_ = state
	rest, _, endState := read(cursor, func() { b.write(t, 10, 10); b.finish(t) })
	if got := first + rest; got != want(20, client.Stdout) {
		t.Errorf("stdout over two connections:\n%q\nwant\n%q", got, want(20, client.Stdout))
	}
	if endState != string(client.StateSucceeded) {
		t.Errorf("end state %q", endState)
	}
}

// TestLogLimitAndTruncation: a job's log limit defaults to the server's,
// is refused above the maximum, and an upload saying the limit was reached
// marks the job.
func TestLogLimitAndTruncation(t *testing.T) {
	t.Parallel()
	b := setup(t, server.Options{LogLimit: 1 << 20, MaxLogLimit: 8 << 20})
	script := []byte("print(1)")
	j, err := b.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.py", Script: script})
	if err != nil || j.LogLimit != 1<<20 {
		t.Fatalf("default: %v %d", err, j.LogLimit)
	}
	if _, err := b.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.py", Script: script, LogLimit: 9 << 20}); !client.IsCode(err, client.CodeLimitExceeded) ||
		!strings.Contains(err.Error(), "9 MiB is over the server's maximum of 8 MiB") {
		t.Errorf("over the maximum: %v", err)
	}
	if _, err := b.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.py", Script: script, LogLimit: -1}); !client.IsCode(err, client.CodeInvalidRequest) {
		t.Errorf("negative: %v", err)
	}
	lj := b.leaseOne(t, "w1")
	ref := client.AttemptRef{JobID: lj.Job.ID, Attempt: lj.Attempt}
	if _, err := b.c.UploadLogs(t.Context(), ref, client.LogUpload{Truncated: true,
		Chunks: []client.LogChunk{{Stream: client.System, Seq: 1, Data: []byte("rgrid: output truncated\n")}}}); err != nil {
		t.Fatal(err)
	}
	got, err := b.c.Job(t.Context(), ref.JobID)
	if err != nil || !got.LogsTruncated {
		t.Errorf("after a truncated upload: %v %+v", err, got)
	}
}

// cutter forwards TCP connections and closes all open ones on cut().
type cutter struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func newCutter(t *testing.T, target string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); c.cut() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			c.mu.Lock()
			c.conns[in], c.conns[out] = true, true
			c.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	return c
}

func (c *cutter) url() string { return "http://" + c.ln.Addr().String() }

func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for conn := range c.conns {
		conn.Close()
		delete(c.conns, conn)
	}
}
