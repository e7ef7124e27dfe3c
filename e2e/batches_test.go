package e2e

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
)

// Batches through the API with real workers (the process executor): the
// parallelism holds across the grid, every item sees its variables, and
// a worker killed mid-batch loses no item and runs none twice to success.

// batchScript prints what an item sees, then runs long enough for items
// to overlap if the cap let them.
const batchScript = "echo \"index=$RGRID_ARRAY_INDEX size=$RGRID_BATCH_SIZE batch=$RGRID_BATCH_ID attempt=$RGRID_ATTEMPT arg=$1\"\nsleep 0.4\n"

func submitArray(t *testing.T, c *client.Client, n, parallelism int) client.Batch {
	t.Helper()
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	b, created, err := c.SubmitBatchRun(t.Context(), client.BatchRequest{
		Job:   client.SubmitRequest{FileName: "item.sh", Script: []byte(batchScript), Args: []string{"x"}},
		Array: idx, Parallelism: parallelism, IdempotencyKey: t.Name()})
	if err != nil || !created {
		t.Fatalf("submit: %v (created %v)", err, created)
	}
	return b
}

func waitBatch(t *testing.T, c *client.Client, id string, within time.Duration) client.Batch {
	t.Helper()
	var b client.Batch
	waitFor(t, within, "batch "+id+" finished", func() bool {
		var err error
		b, err = c.Batch(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if b.Counts.Queued+b.Counts.Running+b.Counts.Succeeded+b.Counts.Failed+b.Counts.Error+b.Counts.Canceled != b.Size {
			t.Fatalf("counts %+v do not add up to %d items", b.Counts, b.Size)
		}
		return b.Finished
	})
	return b
}

func batchItems(t *testing.T, c *client.Client, id string) []client.Job {
	t.Helper()
	var out []client.Job
	for after := ""; ; {
		page, err := c.BatchJobs(t.Context(), id, client.BatchJobsOptions{After: after, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Jobs...)
		if page.Next == "" {
			return out
		}
		after = page.Next
	}
}

func TestBatchParallelismAcrossWorkers(t *testing.T) {
	t.Parallel()
	g := newLiveGrid(t, liveOptions{})
	for i := range 2 {
		g.worker(t, workerID(t, fmt.Sprint(i)), g.url, 3)
	}
	const n, parallelism = 10, 2
	b := submitArray(t, g.c, n, parallelism)
	b = waitBatch(t, g.c, b.ID, 120*time.Second)
	if b.Counts != (client.BatchCounts{Succeeded: n}) {
		t.Fatalf("counts %+v, want %d succeeded", b.Counts, n)
	}
	for _, j := range batchItems(t, g.c, b.ID) {
		want := fmt.Sprintf("index=%s size=%d batch=%s attempt=1 arg=x\n", j.BatchInput, n, b.ID)
		if out := stdoutOf(t, g.c, j.ID, 1); out != want {
			t.Errorf("item %d printed %q, want %q", j.BatchIndex, out, want)
		}
	}
	most := mostAtOnce(t, g.c, b.ID)
	if most > parallelism || most == 0 {
		t.Errorf("at most %d items ran at once, want 1 to %d", most, parallelism)
	}
}

func TestBatchWorkerKilled(t *testing.T) {
	t.Parallel()
	g := newLiveGrid(t, liveOptions{})
	doomed := g.worker(t, workerID(t, "doomed"), g.url, 2)
	const n = 6
	b := submitArray(t, g.c, n, 0)
	waitFor(t, 60*time.Second, "items running on the doomed worker", func() bool {
		cur, err := g.c.Batch(t.Context(), b.ID)
		return err == nil && cur.Counts.Running == 2
	})
	kill9(t, doomed)
	g.worker(t, workerID(t, "survivor"), g.url, 2)
	b = waitBatch(t, g.c, b.ID, 120*time.Second)
	if b.Counts != (client.BatchCounts{Succeeded: n}) {
		t.Fatalf("counts %+v, want %d succeeded", b.Counts, n)
	}
	var retried []int
	for _, j := range batchItems(t, g.c, b.ID) {
		full, err := g.c.Job(t.Context(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		succeeded := 0
		for _, a := range full.Attempts {
			if a.State == client.StateSucceeded {
				succeeded++
			}
		}
		if succeeded != 1 {
			t.Errorf("item %d succeeded %d times: %+v", j.BatchIndex, succeeded, full.Attempts)
		}
		if full.Attempt > 1 {
			retried = append(retried, j.BatchIndex)
			if out := stdoutOf(t, g.c, j.ID, full.Attempt); !strings.Contains(out, fmt.Sprintf("attempt=%d", full.Attempt)) {
				t.Errorf("item %d's attempt %d printed %q", j.BatchIndex, full.Attempt, out)
			}
		}
	}
	if len(retried) == 0 {
		t.Errorf("no item ran again after the worker died")
	}
	slices.Sort(retried)
	t.Logf("items run again: %v", retried)
}

// mostAtOnce is the most items of batch id that ran at once, from their
// attempts' start and end times.
func mostAtOnce(t *testing.T, c *client.Client, id string) int {
	t.Helper()
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, j := range batchItems(t, c, id) {
		full, err := c.Job(t.Context(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range full.Attempts {
			if a.StartedAt != nil && a.FinishedAt != nil {
				edges = append(edges, edge{*a.StartedAt, 1}, edge{*a.FinishedAt, -1})
			}
		}
	}
	// Ends before starts at the same instant: a slot freed and taken again.
	sort.Slice(edges, func(i, k int) bool {
		if edges[i].at.Equal(edges[k].at) {
			return edges[i].delta < edges[k].delta
		}
		return edges[i].at.Before(edges[k].at)
	})
	running, most := 0, 0
	for _, e := range edges {
		running += e.delta
		most = max(most, running)
	}
	return most
}
