package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rgrid/rgrid/client"
)

// Ctrl-C that lands before the watch's first poll came back still
// detaches with the way back, not a bare exit.
func TestBatchWatchInterruptedBeforeTheFirstPoll(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // the first poll never answers
	}))
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // Ctrl-C
	var stdout, stderr bytes.Buffer
	err = batchWatch{s: &session{c: c}, id: "bat_1", stdout: &stdout, stderr: &stderr}.run(ctx)
	var code exitCode
	if !errors.As(err, &code) || code != exitCanceled {
		t.Errorf("err = %v, want exit %d", err, exitCanceled)
	}
	for _, want := range []string{"detached; batch bat_1 keeps running", "rgrid batch watch bat_1", "rgrid batch cancel bat_1"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}
