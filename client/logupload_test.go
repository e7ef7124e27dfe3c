package client

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestLogUploadRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 3, 12, 0, 0, 123456789, time.UTC)
	for name, up := range map[string]LogUpload{
		"none":      {},
		"truncated": {Truncated: true, Chunks: []LogChunk{{Attempt: 2, Stream: System, Seq: 9, Time: at, Data: []byte("rgrid: cut\n")}}},
		"bytes": {Chunks: []LogChunk{
			{Attempt: 1, Stream: Stdout, Seq: 1, Time: at, Data: []byte("a\n\x00\xff{\"chunks\":[]}\n")},
			{Attempt: 1, Stream: Stderr, Seq: 1, Time: at, Data: []byte{}},
			{Attempt: 1, Stream: Stdout, Seq: 2, Time: at, Data: bytes.Repeat([]byte("x\n"), 40000)},
		}},
	} {
		b, err := EncodeLogUpload(up)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeLogUpload(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.Truncated != up.Truncated || len(got.Chunks) != len(up.Chunks) {
			t.Fatalf("%s: got %+v, want %+v", name, got, up)
		}
		for i, c := range up.Chunks {
			g := got.Chunks[i]
			if g.Attempt != c.Attempt || g.Stream != c.Stream || g.Seq != c.Seq || !g.Time.Equal(c.Time) || !bytes.Equal(g.Data, c.Data) {
				t.Errorf("%s: chunk %d = %+v, want %+v", name, i, g, c)
			}
		}
	}
}

// A server that reads only JSON answers the framed body with
// invalid_json (an unknown field "size", or data after the object):
// UploadLogs sends that upload again as JSON, and JSON from then on.
func TestUploadLogsFallsBackToJSON(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		types []string
		got   []LogUpload
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		types = append(types, r.Header.Get("Content-Type"))
		body, _ := io.ReadAll(r.Body)
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		var up LogUpload
		if err := dec.Decode(&up); err != nil || dec.More() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"code":"invalid_json","message":"unknown field \"size\""}`))
			return
		}
		got = append(got, up)
		_, _ = w.Write([]byte(`{"stop":false}`))
	}))
	t.Cleanup(ts.Close)
	c, err := New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	ref := AttemptRef{JobID: "job_1", Attempt: 1}
	for i := range 2 {
		up := LogUpload{Chunks: []LogChunk{{Stream: Stdout, Seq: int64(i + 1), Data: []byte("line\n")}}}
		if _, err := c.UploadLogs(t.Context(), ref, up); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{LogUploadContentType, "application/json", "application/json"}
	if len(types) != len(want) || types[0] != want[0] || types[1] != want[1] || types[2] != want[2] {
		t.Errorf("content types sent = %q, want %q", types, want)
	}
	if len(got) != 2 || string(got[0].Chunks[0].Data) != "line\n" || got[1].Chunks[0].Seq != 2 {
		t.Errorf("stored = %+v, want both uploads", got)
	}
}
