package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
)

// A real Prometheus server scrapes a real rgrid server (with the admin's
// token from a credentials_file, as the README's scrape config does) and
// a worker's --metrics-listen; after 10 jobs its query API says 10 for
// both.
func TestPrometheusScrapes(t *testing.T) {
	t.Parallel()
	prometheus := lookTool(t, "prometheus")
	env := isolatedEnv(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin.token")
	srv, srvURL := startServer(t, env, filepath.Join(dir, "rgrid.db"), "--bootstrap-token-file", tokenFile, "--metrics-interval", "1s")
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatalf("the server wrote no bootstrap token: %v\n%s", err, srv.output())
	}
	admin, err := client.New(srvURL, strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	wt, err := admin.CreateWorkerToken(t.Context(), client.CreateTokenRequest{Pool: "metrics"})
	if err != nil {
		t.Fatal(err)
	}
	workerMetrics := freeAddr(t)
	w := start(t, env, "worker", "--server", srvURL, "--worker-id", "mw1", "--slots", "4", "--executor", "process",
		"--token", wt.Secret, "--metrics-listen", workerMetrics)
	w.waitReady(t, "registered as mw1", func() bool {
		ws, err := admin.Workers(t.Context())
		return err == nil && len(ws) == 1 && ws[0].State == "active"
	})

	ids := make([]string, 10)
	for i := range ids {
		j, err := admin.Submit(t.Context(), client.SubmitRequest{Script: []byte("echo job " + fmt.Sprint(i) + "\n"), FileName: "m.sh"})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = j.ID
	}
	for id, j := range waitTerminal(t, admin, ids, 2*time.Minute) {
		if j.State != client.StateSucceeded {
			t.Fatalf("job %s ended %s: %s\n%s", id, j.State, j.Message, w.output())
		}
	}

	// The worker's own metrics pass promtool as the server's do.
	resp, err := http.Get("http://" + workerMetrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "rgrid_worker_slots 4") {
		t.Fatalf("worker metrics: %d\n%s", resp.StatusCode, body)
	}
	check := exec.CommandContext(t.Context(), lookTool(t, "promtool"), "check", "metrics")
	check.Stdin = strings.NewReader(string(body))
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics on the worker's metrics: %v\n%s", err, out)
	}

	promAddr := freeAddr(t)
	config := filepath.Join(dir, "prometheus.yml")
	writeFile(t, config, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: rgrid
    static_configs:
      - targets: [%q]
    authorization:
      credentials_file: %q
  - job_name: rgrid-worker
    static_configs:
      - targets: [%q]
`, strings.TrimPrefix(srvURL, "http://"), tokenFile, workerMetrics))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prometheus, "--config.file", config, "--storage.tsdb.path", filepath.Join(dir, "tsdb"),
		"--web.listen-address", promAddr)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	defer stop()

	query := func(q string) (string, error) {
		resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var r struct {
			Status string `json:"status"`
			Data   struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
			return "", fmt.Errorf("%s: %s", q, body)
		}
		if len(r.Data.Result) != 1 {
			return "", fmt.Errorf("%s: %d series", q, len(r.Data.Result))
		}
		v, _ := r.Data.Result[0].Value[1].(string)
		return v, nil
	}
	want := map[string]string{
		`sum(rgrid_jobs_finished_total{job="rgrid",state="succeeded"})`:        "10",
		`sum(rgrid_jobs_submitted_total{job="rgrid"})`:                         "10",
		`sum(rgrid_worker_jobs_total{job="rgrid-worker",outcome="succeeded"})`: "10",
		`up{job="rgrid"}`:        "1",
		`up{job="rgrid-worker"}`: "1",
		`rgrid_queue_jobs`:       "0",
	}
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		var last error
		for q, v := range want {
			got, err := query(q)
			if err == nil && got != v {
				err = fmt.Errorf("%s = %s, want %s", q, got, v)
			}
			if err != nil {
				last = err
				break
			}
		}
		if last == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never saw the jobs: %v\nprometheus:\n%s", last, out.String())
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("Prometheus never saw the jobs: %v", last)
		}
	}
	stop()
}

// lookTool finds a program the test needs; missing, it skips, or fails
// under CI=true (scripts/test.sh installs it).
func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI=true): run scripts/test.sh, which installs Debian's prometheus package (scripts/prometheus.sh)", name)
		}
		t.Skipf("%s is not installed: scripts/prometheus.sh install (Debian's prometheus package)", name)
	}
	return p
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
