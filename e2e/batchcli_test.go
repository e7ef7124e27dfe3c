package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
)

// rgrid run --batch and --array, and rgrid batch, as a user types them:
// the cap holds, every item's outputs land in its own folder, a failed
// item is named with its failure line and retried alone.

var batchIDRe = regexp.MustCompile(`rgrid: batch (bat_[0-9a-z]+): \d+ items`)

// batchIDOf is the batch rgrid run --batch announced on stderr.
func batchIDOf(t *testing.T, r result) string {
	t.Helper()
	m := batchIDRe.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no batch id in:\n%s", r.stderr)
	}
	return m[1]
}

// batchProject writes n input files data/fNN.txt holding "row NN", and
// the script.
func batchProject(t *testing.T, n int, script, body string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{script: []byte(body), "shared.txt": []byte("shared\n")}
	for i := range n {
		files[fmt.Sprintf("data/f%02d.txt", i)] = fmt.Appendf(nil, "row %02d\n", i)
	}
	writeFiles(t, dir, files)
	return dir
}

// itemSh copies its input and the shared file into out/, as each item
// of the batch writes the same output name.
const itemSh = `mkdir -p out
cat "$1" shared.txt > out/result.txt
echo "item $RGRID_BATCH_INPUT of $RGRID_BATCH_SIZE"
sleep 0.3
`

// 20 files, --parallel 3, on a worker with more slots: never more than 3
// at once, every item's output in its own folder, exit 0.
func TestBatchCLIParallelFiles(t *testing.T) {
	t.Parallel()
	g := newLiveGrid(t, liveOptions{})
	g.worker(t, workerID(t, "w"), g.url, 5)
	const n = 20
	dir := batchProject(t, n, "item.sh", itemSh)
	env := append(g.env[:len(g.env):len(g.env)], "RGRID_SERVER="+g.url)
	r := rgridIn(t, dir, env, nil, "run", "item.sh", "--batch", "data/*.txt", "--parallel", "3")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	id := batchIDOf(t, r)
	if !strings.Contains(r.stderr, "all 20 items succeeded") || !strings.Contains(r.stderr, "20/20 done (20 succeeded)") {
		t.Errorf("no final progress and count lines in:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout, "item data/") {
		t.Errorf("items' output shown without --follow-all:\n%s", r.stdout)
	}
	for i := range n {
		name := fmt.Sprintf("f%02d.txt", i)
		got, err := os.ReadFile(filepath.Join(dir, "rgrid-outputs", id, name, "out", "result.txt"))
		if want := fmt.Sprintf("row %02d\nshared\n", i); err != nil || string(got) != want {
			t.Errorf("outputs of data/%s: %q, %v; want %q", name, got, err, want)
		}
	}
	b, err := g.c.Batch(t.Context(), id)
	if err != nil || b.Parallelism != 3 || b.Size != n || b.Kind != client.BatchKindFiles {
		t.Fatalf("batch %+v, %v", b, err)
	}
	if most := mostAtOnce(t, g.c, id); most > 3 || most == 0 {
		t.Errorf("at most %d items ran at once, want 1 to 3", most)
	}
	// The shared directory went once: the items' own files are not in it.
	item, err := g.c.Job(t.Context(), batchItems(t, g.c, id)[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if item.BatchInput != "data/f00.txt" || len(item.Args) == 0 || item.Args[0] != "data/f00.txt" {
		t.Errorf("item 0: input %q, args %q", item.BatchInput, item.Args)
	}

	st := rgrid(t, env, "batch", "status", id, "--json")
	var got client.Batch
	if err := json.Unmarshal([]byte(st.stdout), &got); err != nil || got.Counts.Succeeded != n || !got.Finished {
		t.Errorf("rgrid batch status --json: %v %+v\n%s", err, got, st.stderr)
	}
	if l := rgrid(t, env, "batch", "list"); l.code != 0 || !strings.Contains(l.stdout, id) || !strings.Contains(l.stdout, "20/20") {
		t.Errorf("rgrid batch list: %d\n%s%s", l.code, l.stdout, l.stderr)
	}
	// rgrid outputs BATCH -o DIR writes the same per-item folders.
	again := t.TempDir()
	if o := rgridIn(t, dir, env, nil, "outputs", id, "-o", again); o.code != 0 || !strings.Contains(o.stderr, "20 files") {
		t.Fatalf("rgrid outputs %s -o: %d\n%s", id, o.code, o.stderr)
	}
	if got, err := os.ReadFile(filepath.Join(again, "f07.txt", "out", "result.txt")); err != nil || string(got) != "row 07\nshared\n" {
		t.Errorf("rgrid outputs BATCH: f07.txt/out/result.txt %q %v", got, err)
	}
}

// failOnce fails, on its first attempt, for the input data/f07.txt.
const failOncePy = `import os, sys
if sys.argv[1] == "data/f07.txt" and os.environ["RGRID_ATTEMPT"] == "1":
    raise ValueError("bad row in " + sys.argv[1])
os.makedirs("out", exist_ok=True)
with open("out/ok.txt", "w") as f:
    f.write(open(sys.argv[1]).read())
`

// One item that fails among 20 on a Docker worker: the others succeed,
// the summary names its input with its failure line, the exit code is 1;
// rgrid batch retry --failed runs that item alone again, and it succeeds.
func TestBatchCLIFailedItemRetried(t *testing.T) {
	t.Parallel()
	g := newLiveGrid(t, liveOptions{docker: true})
	g.worker(t, workerID(t, "w"), g.url, 4)
	const n = 20
	dir := batchProject(t, n, "check.py", failOncePy)
	env := append(g.env[:len(g.env):len(g.env)], "RGRID_SERVER="+g.url)
	r := rgridIn(t, dir, env, nil, "run", "check.py", "--batch", "data/*.txt", "--no-outputs")
	id := batchIDOf(t, r)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	if !regexp.MustCompile(`data/f07\.txt +failed +1 +ValueError: bad row in data/f07\.txt`).MatchString(r.stderr) ||
		!strings.Contains(r.stderr, "19 of 20 items succeeded") || !strings.Contains(r.stderr, "rgrid batch retry "+id+" --failed") {
		t.Errorf("summary does not name the failed item with its failure line:\n%s", r.stderr)
	}
	b, err := g.c.Batch(t.Context(), id)
	if err != nil || b.Counts != (client.BatchCounts{Succeeded: 19, Failed: 1}) {
		t.Fatalf("counts %+v, %v", b.Counts, err)
	}
	out := t.TempDir()
	rr := rgridIn(t, dir, env, nil, "batch", "retry", id, "--failed", "--outputs", out)
	if rr.code != 0 || !strings.Contains(rr.stderr, "1 failed item queued again") || !strings.Contains(rr.stderr, "all 20 items succeeded") {
		t.Fatalf("rgrid batch retry --failed: %d\n%s", rr.code, rr.stderr)
	}
	for _, j := range batchItems(t, g.c, id) {
		full, err := g.c.Job(t.Context(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if j.BatchInput == "data/f07.txt" {
			want = 2
		}
		if full.State != client.StateSucceeded || len(full.Attempts) != want {
			t.Errorf("item %s: %s after %d attempts, want succeeded after %d", j.BatchInput, full.State, len(full.Attempts), want)
		}
	}
	if got, err := os.ReadFile(filepath.Join(out, "f07.txt", "out", "ok.txt")); err != nil || string(got) != "row 07\n" {
		t.Errorf("the retried item's output: %q %v", got, err)
	}
}

// --array 0-9 in the embedded default: RGRID_ARRAY_INDEX 0..9, once each,
// each item's output in the folder of its index.
func TestBatchCLIArrayEmbedded(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t, "RGRID_CONFIG="+pythonConfig(t))
	dir := t.TempDir()
	writeFiles(t, dir, map[string][]byte{"idx.py": []byte(`import os
i = os.environ["RGRID_ARRAY_INDEX"]
os.makedirs("out", exist_ok=True)
open("out/index.txt", "w").write(i)
print("index", i, "of", os.environ["RGRID_BATCH_SIZE"])
`)})
	r := rgridIn(t, dir, env, nil, "run", "idx.py", "--array", "0-9", "--follow-all")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	id := batchIDOf(t, r)
	for i := range 10 {
		line := fmt.Sprintf("[%d] index %d of 10\n", i, i)
		if strings.Count(r.stdout, line) != 1 {
			t.Errorf("want %q once in the --follow-all output:\n%s", line, r.stdout)
		}
		got, err := os.ReadFile(filepath.Join(dir, "rgrid-outputs", id, fmt.Sprint(i), "out", "index.txt"))
		if err != nil || string(got) != fmt.Sprint(i) {
			t.Errorf("item %d's output: %q %v", i, got, err)
		}
	}
	if strings.Count(r.stdout, "index ") != 10 {
		t.Errorf("want 10 items' lines, got:\n%s", r.stdout)
	}
	bad := rgridIn(t, dir, env, nil, "run", "idx.py", "--array", "9-0")
	if bad.code != 2 || !strings.Contains(bad.stderr, "--array 0-99") {
		t.Errorf("--array 9-0: exit %d, want 2 with an example\n%s", bad.code, bad.stderr)
	}
}

// interruptRun starts rgrid run in dir ("": the test's), waits for
// ready (given its stdout so far), sends Ctrl-C and returns how rgrid
// ended.
func interruptRun(t *testing.T, dir string, env []string, ready func(stdout string) bool, args ...string) result {
	t.Helper()
	cmd := exec.Command(rgridBin, append([]string{"run"}, args...)...)
	cmd.Dir, cmd.Env = dir, env
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "rgrid run ready to interrupt", func() bool { return ready(out.String()) })
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// Ctrl-C on rgrid run --array detaches from a batch on a server (it goes
// on; rgrid says how to watch or cancel it), and cancels it in the
// embedded mode, whose grid ends with the command.
func TestBatchCLIInterrupt(t *testing.T) {
	t.Parallel()
	slowPy := []byte("import time\nprint('started', flush=True)\ntime.sleep(60)\n")
	t.Run("server", func(t *testing.T) {
		t.Parallel()
		g := newLiveGrid(t, liveOptions{})
		g.worker(t, workerID(t, "w"), g.url, 2)
		dir := t.TempDir()
		writeFiles(t, dir, map[string][]byte{"slow.sh": []byte("echo started\nsleep 60\n")})
		env := append(g.env[:len(g.env):len(g.env)], "RGRID_SERVER="+g.url)
		r := interruptRun(t, dir, env, func(string) bool {
			l, err := g.c.Batches(t.Context(), client.ListOptions{Limit: 1})
			return err == nil && len(l.Batches) == 1 && l.Batches[0].Counts.Running == 2
		}, "slow.sh", "--array", "0-5")
		id := batchIDOf(t, r)
		if r.code != 130 {
			t.Errorf("exit %d after Ctrl-C, want 130", r.code)
		}
		for _, want := range []string{"detached; batch " + id + " keeps running", "rgrid batch watch " + id, "rgrid batch cancel " + id} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		if b, err := g.c.Batch(t.Context(), id); err != nil || b.Canceled || b.Counts.Running != 2 {
			t.Errorf("the detached batch: %+v %v, want 2 items still running", b, err)
		}
		if c := rgrid(t, env, "batch", "cancel", id); c.code != 0 || !strings.Contains(c.stdout, "canceled") {
			t.Errorf("rgrid batch cancel: %d %s%s", c.code, c.stdout, c.stderr)
		}
		b := waitBatch(t, g.c, id, 60*time.Second)
		if b.Counts != (client.BatchCounts{Canceled: 6}) {
			t.Errorf("after rgrid batch cancel: %+v, want 6 canceled", b.Counts)
		}
	})
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		env := isolatedEnv(t, "RGRID_CONFIG="+pythonConfig(t))
		dir := t.TempDir()
		writeFiles(t, dir, map[string][]byte{"slow.py": slowPy})
		r := interruptRun(t, dir, env, func(out string) bool { return strings.Contains(out, "[0] started") },
			"slow.py", "--array", "0-2", "--follow-all")
		id := batchIDOf(t, r)
		if r.code != 130 || !strings.Contains(r.stderr, "canceled batch "+id) {
			t.Fatalf("exit %d after Ctrl-C, want 130 and the batch canceled:\n%s", r.code, r.stderr)
		}
		st := rgrid(t, env, "batch", "status", id, "--json")
		var b client.Batch
		if err := json.Unmarshal([]byte(st.stdout), &b); err != nil || !b.Finished || b.Counts.Canceled != 3 {
			t.Errorf("the batch after Ctrl-C: %+v %v, want its 3 items canceled\n%s", b, err, st.stderr)
		}
	})
}
