package console_test

import (
	"io"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/console"
)

// TestPagesRender: every page renders with the data the server gives it.
func TestPagesRender(t *testing.T) {
	t.Parallel()
	now := time.Now()
	job := client.Job{ID: "job_1", State: client.StateFailed, CreatedAt: now, Reason: "script_error", Message: "boom",
		Failure: &client.Failure{Exception: "ZeroDivisionError"}, Attempts: []client.Attempt{{Number: 1, StartedAt: &now}}}
	type page struct{ Title, CSRF, Who string }
	for name, data := range map[string]any{
		"login.html": struct {
			page
			Error, Next string
		}{page{Title: "x"}, "e", "/jobs"},
		"jobs.html": struct {
			page
			Jobs                        []client.Job
			States                      []client.JobState
			State, Batch, Runtime, User string
			Admin                       bool
			Next                        string
		}{Jobs: []client.Job{job}, States: client.AllStates},
		"job.html": struct {
			page
			Job             client.Job
			Hint            string
			Inputs, Outputs []struct {
				Path, URL string
				Size      int64
			}
			MoreInputs, MoreOutputs int
		}{Job: job, Hint: "a hint", Inputs: []struct {
			Path, URL string
			Size      int64
		}{{"a", "/a", 1}}},
		"batch.html": struct {
			page
			Batch  client.Batch
			Failed []client.Job
		}{Batch: client.Batch{ID: "bat_1", Counts: client.BatchCounts{Failed: 1}}, Failed: []client.Job{job}},
		"workers.html": struct {
			page
			Workers []struct {
				client.Worker
				Jobs  []string
				Price *client.Money
			}
			Admin bool
		}{Workers: []struct {
			client.Worker
			Jobs  []string
			Price *client.Money
		}{{Worker: client.Worker{ID: "w", LastHeartbeat: now}, Jobs: []string{"job_1"}, Price: &client.Money{Micros: 20000, Currency: "EUR"}}}},
		"cost.html": struct {
			page
			Since, Period string
			Periods       []string
			Admin         bool
			By            string
			Rows, Idle    []client.CostRow
			Total         []client.Money
		}{Admin: true, By: "user", Rows: []client.CostRow{{Key: "alice", Cost: client.Money{Micros: 1, Currency: "EUR"}}},
			Total: []client.Money{{Micros: 1, Currency: "EUR"}}, Idle: []client.CostRow{{Key: "default"}}},
	} {
		if err := console.Pages.ExecuteTemplate(io.Discard, name, data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
