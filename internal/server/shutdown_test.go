package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/server"
)

// Requests whose context the server's stop ended (the base context is
// cancelled with server.ErrShuttingDown) are answered 503 "unavailable"
// with Retry-After, never with an empty success: the client retries them,
// on another replica when it has several.
func TestShuttingDownAnswers503(t *testing.T) {
	st, err := database.Open(t.Context(), filepath.Join(t.TempDir(), "rgrid.db"), database.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rt, _ := runtimes.New(nil)
	base, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	ts := httptest.NewUnstartedServer(server.New(st, rt, slog.New(slog.DiscardHandler), server.Options{}).Handler())
	ts.Config.BaseContext = func(net.Listener) context.Context { return base }
	ts.Start()
	defer ts.Close()
	c, err := client.New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	job, err := c.Submit(t.Context(), client.SubmitRequest{Script: []byte("echo hi\n"), FileName: "hi.sh"})
	if err != nil {
		t.Fatal(err)
	}

	stop(server.ErrShuttingDown)
	for _, req := range []struct{ method, path, body string }{
		{http.MethodGet, "/v1/jobs/" + job.ID + "/logs?wait=30", ""}, // a long poll
		{http.MethodGet, "/v1/jobs/" + job.ID, ""},
		{http.MethodPost, "/v1/jobs", `{"script":"ZWNobyBoaQo=","file_name":"hi.sh"}`},
	} {
		r, err := http.NewRequestWithContext(t.Context(), req.method, ts.URL+req.path, strings.NewReader(req.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatalf("%s %s: %v", req.method, req.path, err)
		}
		var e client.Error
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable || e.Code != client.CodeUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s while shutting down: %d %+v (%v, Retry-After %q), want 503 unavailable with Retry-After",
				req.method, req.path, resp.StatusCode, e, err, resp.Header.Get("Retry-After"))
		}
	}
}
