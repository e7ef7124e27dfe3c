package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/testdb"
)

// grid is a server on a fresh PostgreSQL database and its workers, all
// separate processes. These workers use the process executor: the tests
// here are about the control plane, and the host's bash and python start
// in milliseconds.
type grid struct {
	env []string
	url string
	c   *client.Client
}

func newGrid(t *testing.T, workers, slots int) *grid {
	t.Helper()
	env := isolatedEnv(t)
	_, url := startServer(t, env, testdb.PostgresURL(t))
	for i := range workers {
		startWorker(t, env, url, fmt.Sprintf("w%d", i+1), slots, "--executor", "process")
	}
	return &grid{env: env, url: url, c: newClient(t, url)}
}

func (g *grid) rgrid(t *testing.T, args ...string) result {
	t.Helper()
	// Clipped, so that parallel subtests never append into one array.
	return rgrid(t, append(slices.Clip(g.env), "RGRID_SERVER="+g.url), args...)
}

func TestPostgresServerWorkerAndCLI(t *testing.T) {
	t.Parallel()
	g := newGrid(t, 1, 2)
	script := writeScript(t, "mixed.sh", `echo "out $1"
echo "err $1" >&2
exit 3
`)
	r := g.rgrid(t, "run", script, "x")
	if r.code != 3 || r.stdout != "out x\n" || r.stderr != "err x\n" {
		t.Fatalf("run: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}

	l := g.rgrid(t, "list", "--json")
	var list client.JobList
	if err := json.Unmarshal([]byte(l.stdout), &list); err != nil || len(list.Jobs) != 1 {
		t.Fatalf("list: %v %q", err, l.stdout)
	}
	id := list.Jobs[0].ID
	if o := g.rgrid(t, "logs", "--stdout-only", id); o.stdout != "out x\n" || o.stderr != "" {
		t.Errorf("logs --stdout-only: %q %q", o.stdout, o.stderr)
	}
	s := g.rgrid(t, "status", id)
	for _, want := range []string{"failed (exit code 3)", "w1", "exited with code 3", "mixed.sh", "bash"} {
		if !strings.Contains(s.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, s.stdout)
		}
	}
	w := g.rgrid(t, "workers")
	if !strings.Contains(w.stdout, "w1") || !strings.Contains(w.stdout, "active") {
		t.Errorf("workers:\n%s", w.stdout)
	}
	if u := g.rgrid(t, "status", "job_doesnotexist"); u.code != 2 ||
		!strings.Contains(u.stderr, "Error: job job_doesnotexist not found") {
		t.Errorf("unknown id: %d %q", u.code, u.stderr)
	}
}

func TestPostgresCancelRunningJob(t *testing.T) {
	t.Parallel()
	g := newGrid(t, 1, 1)
	script := writeScript(t, "sleep.sh", "echo started\nsleep 300\n")
	r := g.rgrid(t, "run", "--detach", script)
	id := strings.TrimSpace(r.stdout)
	// Wait for the job's first output, then cancel it.
	page, err := g.c.Logs(t.Context(), id, client.LogOptions{Wait: 20 * time.Second})
	if err != nil || len(page.Chunks) == 0 {
		t.Fatalf("no output from the job: %v", err)
	}
	start := time.Now()
	if c := g.rgrid(t, "cancel", id); c.code != 0 {
		t.Fatalf("cancel: %s", c.stderr)
	}
	j := waitTerminal(t, g.c, []string{id}, 30*time.Second)[id]
	if j.State != client.StateCanceled {
		t.Errorf("state %s, want canceled", j.State)
	}
	t.Logf("canceled in %s", time.Since(start))
	if c := g.rgrid(t, "cancel", id); c.code != 2 || !strings.Contains(c.stderr, "already ended") {
		t.Errorf("second cancel: %d %q", c.code, c.stderr)
	}
}

// Two workers, 200 quick jobs: every job ran exactly once.
func TestPostgresTwoWorkersRunEachJobOnce(t *testing.T) {
	t.Parallel()
	g := newGrid(t, 2, 4)
	const n = 200
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			j, err := g.c.Submit(t.Context(), client.SubmitRequest{
				FileName: "quick.sh", Script: []byte("echo job-$1\n"), Args: []string{fmt.Sprint(i)},
			})
			ids[i] = j.ID
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	jobs := waitTerminal(t, g.c, ids, 3*time.Minute)
	perWorker := map[string]int{}
	for i, id := range ids {
		j, err := g.c.Job(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if jobs[id].State != client.StateSucceeded || len(j.Attempts) != 1 || j.Attempts[0].State != client.StateSucceeded {
			t.Fatalf("job %d: state %s, attempts %+v", i, j.State, j.Attempts)
		}
		perWorker[j.Attempts[0].WorkerID]++
		page, err := g.c.Logs(t.Context(), id, client.LogOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		for _, c := range page.Chunks {
			out.Write(c.Data)
		}
		if want := fmt.Sprintf("job-%d\n", i); out.String() != want {
			t.Fatalf("job %d printed %q, want %q", i, out.String(), want)
		}
	}
	t.Logf("jobs per worker: %v", perWorker)
}

func TestPostgresBadInput(t *testing.T) {
	t.Parallel()
	g := newGrid(t, 1, 1)

	t.Run("oversized script is refused before anything is stored", func(t *testing.T) {
		_, err := g.c.Submit(t.Context(), client.SubmitRequest{FileName: "big.py", Script: bytes.Repeat([]byte("#"), 10<<20+1)})
		var ae *client.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusRequestEntityTooLarge || ae.Code != client.CodeTooLarge {
			t.Fatalf("err = %v, want 413 too_large", err)
		}
		if !strings.Contains(ae.Message, "10 MiB") {
			t.Errorf("message %q does not name the limit", ae.Message)
		}
		l, err := g.c.Jobs(t.Context(), client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range l.Jobs {
			if j.FileName == "big.py" {
				t.Errorf("oversized job was stored: %s", j.ID)
			}
		}
		// The CLI refuses it locally too, naming the limit.
		big := writeScript(t, "big.py", strings.Repeat("#", 10<<20+1))
		if r := g.rgrid(t, "run", big); r.code != 2 || !strings.Contains(r.stderr, "over the script size limit") {
			t.Errorf("cli: %d %q", r.code, r.stderr)
		}
	})

	t.Run("malformed JSON gets 400 naming the problem", func(t *testing.T) {
		for body, want := range map[string]string{
			`{"file_name": "x.py", "script": `:                   "ends in the middle",
			`{"file_name": 12}`:                                  `field "file_name" must be a string`,
			`{"file_name": "x.py", "scirpt": "cHJpbnQoMSk="}`:    `unknown field "scirpt"`,
			`{"file_name": "x.py", "script": "not base64!"}`:     "base64",
			`{"file_name": "x.py", "script": "cHJpbnQoMSk="} {}`: "after the JSON object",
		} {
			resp, err := http.Post(g.url+"/v1/jobs", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e client.Error
			if resp.StatusCode != 400 || json.Unmarshal(b, &e) != nil || e.Code != client.CodeInvalidJSON ||
				!strings.Contains(e.Message, want) || e.Hint == "" {
				t.Errorf("body %s: %d %s, want 400 invalid_json mentioning %q", body, resp.StatusCode, b, want)
			}
		}
	})

	t.Run("a script that is not UTF-8 round-trips byte for byte", func(t *testing.T) {
		body := []byte("# \xff\xfe\x80 not utf-8 \xc3\x28\nsha256sum < \"$0\" | cut -d' ' -f1\n")
		path := writeScript(t, "bytes.sh", string(body))
		sum := sha256.Sum256(body)
		r := g.rgrid(t, "run", path)
		if r.code != 0 || strings.TrimSpace(r.stdout) != hex.EncodeToString(sum[:]) {
			t.Errorf("run: code %d stdout %q stderr %q; want the local sha256 %x", r.code, r.stdout, r.stderr, sum)
		}
	})
}

// A server whose database is behind refuses to start and names the fix;
// rgrid migrate brings it up to date and rolls back.
func TestPostgresMigrateCommands(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t)
	db := testdb.PostgresURL(t)

	r := rgrid(t, env, "server", "--db", db, "--listen", "127.0.0.1:0")
	if r.code != 125 || !strings.Contains(r.stderr, "rgrid migrate up") {
		t.Fatalf("server on an empty database: code %d, stderr %q", r.code, r.stderr)
	}
	if r := rgrid(t, env, "migrate", "up", "--db", db); r.code != 0 {
		t.Fatalf("migrate up: %s", r.stderr)
	}
	s := rgrid(t, env, "migrate", "status", "--db", db)
	if strings.Contains(s.stdout, "pending") || !strings.Contains(s.stdout, "job_network") {
		t.Errorf("status after up:\n%s", s.stdout)
	}
	if r := rgrid(t, env, "migrate", "down", "--db", db); r.code != 0 {
		t.Fatalf("migrate down: %s", r.stderr)
	}
	s = rgrid(t, env, "migrate", "status", "--db", db)
	if !strings.Contains(s.stdout, "pending") {
		t.Errorf("status after down:\n%s", s.stdout)
	}
	r = rgrid(t, env, "server", "--db", db, "--listen", "127.0.0.1:0")
	if r.code != 125 || !strings.Contains(r.stderr, "rgrid migrate up") || !strings.Contains(r.stderr, "--migrate") {
		t.Errorf("server on a database one behind: code %d, stderr %q", r.code, r.stderr)
	}
}
