package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/server"
)

// A log upload is stored as the exact bytes sent, whether framed (what
// the worker sends) or JSON (older workers), and a framed body that does
// not add up is refused as an invalid request, not as invalid JSON.
func TestLogUploadFramedAndJSON(t *testing.T) {
	t.Parallel()
	b := setup(t, server.Options{})
	if _, err := b.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.py", Script: []byte("print(1)")}); err != nil {
		t.Fatal(err)
	}
	lj := b.leaseOne(t, "w1")
	ref := client.AttemptRef{JobID: lj.Job.ID, Attempt: lj.Attempt}
	if _, err := b.c.StartAttempt(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	binary := []byte("a\nb\r\n\x00\xff\xfe{\"chunks\":[]}\n")
	framed := client.LogUpload{Chunks: []client.LogChunk{
		{Attempt: ref.Attempt, Stream: client.Stdout, Seq: 1, Time: now, Data: binary},
		{Attempt: ref.Attempt, Stream: client.Stderr, Seq: 1, Time: now, Data: []byte("warn\n")},
		{Attempt: ref.Attempt, Stream: client.Stdout, Seq: 2, Time: now, Data: []byte{}},
		{Attempt: ref.Attempt, Stream: client.Stdout, Seq: 3, Time: now, Data: []byte("end")},
	}}
	if _, err := b.c.UploadLogs(t.Context(), ref, framed); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("%s/v1/jobs/%s/attempts/%d/logs", b.url, ref.JobID, ref.Attempt)
	post := func(contentType string, body []byte) (int, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		answer, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, answer
	}
	old, err := json.Marshal(client.LogUpload{Chunks: []client.LogChunk{{Stream: client.Stdout, Seq: 4, Time: now, Data: []byte(" json\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	if status, answer := post("application/json", old); status != http.StatusOK {
		t.Fatalf("JSON upload: %d %s", status, answer)
	}
	for name, body := range map[string][]byte{
		"no header line":         []byte(`{"chunks":[]}`),
		"size past the end":      []byte(`{"chunks":[{"stream":"stdout","seq":5,"time":"2026-01-01T00:00:00Z","size":10}]}` + "\nshort"),
		"bytes after the chunks": []byte(`{"chunks":[{"stream":"stdout","seq":5,"time":"2026-01-01T00:00:00Z","size":1}]}` + "\nxy"),
		"negative size":          []byte(`{"chunks":[{"stream":"stdout","seq":5,"time":"2026-01-01T00:00:00Z","size":-1}]}` + "\n"),
	} {
		status, answer := post(client.LogUploadContentType, body)
		var e client.Error
		if err := json.Unmarshal(answer, &e); err != nil {
			t.Fatalf("%s: %d %s: %v", name, status, answer, err)
		}
		if status != http.StatusBadRequest || e.Code != client.CodeInvalidRequest || e.Hint == "" {
			t.Errorf("%s: %d %q %q, want 400 invalid_request with a hint", name, status, e.Code, e.Hint)
		}
	}
	page, err := b.c.Logs(t.Context(), ref.JobID, client.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[client.Stream][]byte{}
	for _, c := range page.Chunks {
		got[c.Stream] = append(got[c.Stream], c.Data...)
	}
	if want := string(binary) + "end json\n"; string(got[client.Stdout]) != want {
		t.Errorf("stdout = %q, want %q", got[client.Stdout], want)
	}
	if string(got[client.Stderr]) != "warn\n" {
		t.Errorf("stderr = %q, want %q", got[client.Stderr], "warn\n")
	}
}
