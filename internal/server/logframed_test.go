package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
)

// The framed follow stream, as a follower asking for it sees it: each
// chunk's line of JSON then its exact bytes (any byte, newlines too), in
// order, resumable from "after", and the end; Follow reads it back whole.
func TestFollowFramedWire(t *testing.T) {
	t.Parallel()
	b := setupStream(t)
	binary := []byte("a\n{\"type\":\"end\"}\n\x00\xff\r\n")
	b.seq++
	up := client.LogUpload{Chunks: []client.LogChunk{
		{Stream: client.Stdout, Seq: b.seq, Time: time.Now(), Data: binary},
		{Stream: client.Stderr, Seq: b.seq, Time: time.Now(), Data: []byte("warn\n")},
	}}
	if _, err := b.c.UploadLogs(t.Context(), b.ref, up); err != nil {
		t.Fatal(err)
	}
	b.write(t, 1, 3)
	b.finish(t)

	type frame struct {
		Type   string        `json:"type"`
		ID     int64         `json:"id"`
		Stream client.Stream `json:"stream"`
		Size   int           `json:"size"`
		State  string        `json:"state"`
		Next   int64         `json:"next"`
		data   []byte
	}
	read := func(after int64) []frame {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet,
			b.url+"/v1/jobs/"+b.ref.JobID+"/logs/sse?after="+strconv.FormatInt(after, 10), nil)
		req.Header.Set("Accept", client.LogStreamContentType+", text/event-stream;q=0.9")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != client.LogStreamContentType {
			t.Fatalf("%s, Content-Type %q, want 200 %s", resp.Status, ct, client.LogStreamContentType)
		}
		r := bufio.NewReader(resp.Body)
		var fs []frame
		for {
			line, err := r.ReadBytes('\n')
			if err == io.EOF && len(line) == 0 {
				return fs
			}
			if err != nil {
				t.Fatal(err)
			}
			var f frame
			if err := json.Unmarshal(line, &f); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			if f.Type == "chunk" {
				f.data = make([]byte, f.Size)
				if _, err := io.ReadFull(r, f.data); err != nil {
					t.Fatal(err)
				}
			}
			fs = append(fs, f)
		}
	}
	fs := read(0)
	if len(fs) != 6 || fs[5].Type != "end" || fs[5].State != string(client.StateSucceeded) || fs[5].Next != fs[4].ID {
		t.Fatalf("frames = %+v, want 5 chunks then the end", fs)
	}
	if fs[0].Stream != client.Stdout || !bytes.Equal(fs[0].data, binary) || fs[1].Stream != client.Stderr || string(fs[1].data) != "warn\n" {
		t.Errorf("first chunks = %+v %q, %+v %q", fs[0], fs[0].data, fs[1], fs[1].data)
	}
	if string(fs[2].data)+string(fs[3].data)+string(fs[4].data) != "line 1\nline 2\nline 3\n" {
		t.Errorf("last chunks = %q %q %q", fs[2].data, fs[3].data, fs[4].data)
	}
	if again := read(fs[1].ID); len(again) != 4 || again[0].ID != fs[2].ID {
		t.Errorf("after %d: %+v, want the last 3 chunks and the end", fs[1].ID, again)
	}

	var out, errw bytes.Buffer
	end, err := b.c.Follow(t.Context(), b.ref.JobID, client.FollowOptions{}, func(ch client.LogChunk) error {
		if ch.Stream == client.Stdout {
			out.Write(ch.Data)
		} else {
			errw.Write(ch.Data)
		}
		return nil
	})
	if err != nil || end.State != client.StateSucceeded {
		t.Fatalf("Follow: %+v %v", end, err)
	}
	if want := string(binary) + "line 1\nline 2\nline 3\n"; out.String() != want || errw.String() != "warn\n" {
		t.Errorf("Follow: stdout %q, stderr %q", out.String(), errw.String())
	}
}
