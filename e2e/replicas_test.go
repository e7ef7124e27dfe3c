package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/testdb"
)

// Two server replicas on one PostgreSQL, a worker given both and using
// the first, a job submitted to the second: kill -9 of the first mid-job
// moves the worker to the second, and the job finishes once with every
// log line exactly once.
func TestReplicasWorkerMovesWhenItsServerIsKilled(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t)
	db := testdb.PostgresURL(t)
	pA, urlA := startServer(t, env, db)
	_, urlB := startServer(t, env, db)
	w := start(t, env, "worker", "--server", urlA+","+urlB, "--worker-id", "w1", "--slots", "1", "--executor", "process")
	w.waitReady(t, "registered through replica A", func() bool { return workerActive(urlA, "w1") })

	const lines = 40
	b := newClient(t, urlB)
	j, err := b.Submit(t.Context(), client.SubmitRequest{FileName: "count.sh",
		Script: fmt.Appendf(nil, "for i in $(seq 1 %d); do echo \"line $i\"; sleep 0.1; done\n", lines)})
	if err != nil {
		t.Fatal(err)
	}
	// Running, with some output stored: then replica A goes.
	w.waitReady(t, "running job "+j.ID, func() bool {
		p, err := b.Logs(t.Context(), j.ID, client.LogOptions{})
		return err == nil && len(p.Chunks) >= 3
	})
	if err := syscall.Kill(-pA.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-pA.done

	done := waitTerminal(t, b, []string{j.ID}, 60*time.Second)[j.ID]
	if done.State != client.StateSucceeded || len(done.Attempts) != 1 {
		t.Fatalf("job ended %s after %d attempt(s); want succeeded once:\n%+v", done.State, len(done.Attempts), done)
	}
	var out strings.Builder
	var after int64
	for range 1000 {
		p, err := b.Logs(t.Context(), j.ID, client.LogOptions{After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range p.Chunks {
			if c.Stream == client.Stdout {
				out.Write(c.Data)
			}
		}
		if len(p.Chunks) == 0 {
			break
		}
		after = p.Next
	}
	var want strings.Builder
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	if out.String() != want.String() {
		t.Errorf("stdout through replica B:\n%s\nwant every line once:\n%s", out.String(), want.String())
	}
	if !workerActive(urlB, "w1") {
		t.Error("the worker is not active through replica B")
	}
}

// Kill -9 of the replica that leads the reaper: the other takes the lease
// within its TTL and reaps a silent worker's job.
func TestReplicasReaperMovesWhenItsLeaderIsKilled(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t)
	db := testdb.PostgresURL(t)
	flags := []string{"--leader-ttl", "2s", "--dead-after", "2s", "--heartbeat-interval", "1s", "--reap-interval", "200ms"}
	procs := map[int]*proc{}
	var urls []string
	for range 2 {
		p, url := startServer(t, env, db, flags...)
		procs[p.cmd.Process.Pid] = p
		urls = append(urls, url)
	}
	pool, err := pgxpool.New(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// The lease's holder names its process: host/pid/random.
	var leader, any *proc
	for _, p := range procs {
		any = p
	}
	any.waitReady(t, "a reaper leader", func() bool {
		var holder string
		if pool.QueryRow(t.Context(), `SELECT holder FROM leader_leases WHERE name = 'reaper'`).Scan(&holder) != nil {
			return false
		}
		parts := strings.Split(holder, "/")
		if len(parts) != 3 {
			return false
		}
		var pid int
		if _, err := fmt.Sscan(parts[1], &pid); err != nil {
			return false
		}
		leader = procs[pid]
		return leader != nil
	})
	if err := syscall.Kill(-leader.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-leader.done
	var survivor string
	for _, u := range urls {
		if healthy(u) {
			survivor = u
		}
	}
	c := newClient(t, survivor)
	// A worker that leases a job and goes silent: only a reaper takes the
	// job back.
	if _, err := c.Register(t.Context(), client.RegisterRequest{ID: "silent", Slots: 1, Executor: "process"}); err != nil {
		t.Fatal(err)
	}
	j, err := c.Submit(t.Context(), client.SubmitRequest{FileName: "x.sh", Script: []byte("echo hi\n")})
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.Lease(t.Context(), "silent", client.LeaseRequest{Max: 1, WaitSeconds: 5})
	if err != nil || len(l.Jobs) != 1 {
		t.Fatalf("lease: %v, %d jobs", err, len(l.Jobs))
	}
	// Lease TTL 2 s, dead after 2 s: well within 30 s.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := c.Job(t.Context(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == client.StateQueued && got.Attempt == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s 30 s after its leader died; no reaper took it back", j.ID, got.State)
		}
		time.Sleep(100 * time.Millisecond) //nolint:forbidigo // polls the condition
	}
	var holder string
	if err := pool.QueryRow(t.Context(), `SELECT holder FROM leader_leases WHERE name = 'reaper'`).Scan(&holder); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(holder, fmt.Sprintf("/%d/", leader.cmd.Process.Pid)) {
		t.Errorf("the dead replica still holds the reaper's lease: %s", holder)
	}
}

// A rolling upgrade through a compatible migration: two replicas of this
// tree serve while the next rgrid (this tree built with one more
// migration, marked compatible: -tags rgrid_next_migration) applies it
// with "rgrid migrate up"; the old replicas run on against the schema
// ahead of them, then each is restarted in turn on the next binary; every
// job submitted throughout succeeds once.
func TestReplicasRollingUpgradeThroughCompatibleMigration(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t)
	db := testdb.PostgresURL(t)
	next := filepath.Join(t.TempDir(), "rgrid-next")
	if out, err := exec.Command("go", "build", "-tags", "rgrid_next_migration", "-o", next, "../cmd/rgrid").CombinedOutput(); err != nil {
		t.Fatalf("build the next rgrid: %v\n%s", err, out)
	}
	addrs := []string{freeAddr(t), freeAddr(t)}
	servers := make([]*proc, 2)
	for i, a := range addrs {
		servers[i], _ = startServer(t, env, db, "--listen", a)
	}
	list := "http://" + addrs[0] + ",http://" + addrs[1]
	w := start(t, env, "worker", "--server", list, "--worker-id", "w1", "--slots", "4", "--executor", "process")
	w.waitReady(t, "registered", func() bool { return workerActive("http://"+addrs[0], "w1") })
	c := newClient(t, list)

	stop := make(chan struct{})
	submitted := make(chan []string)
	var count atomic.Int32
	// more waits until n more jobs have been submitted.
	more := func(n int32) {
		t.Helper()
		want := count.Load() + n
		w.waitReady(t, fmt.Sprintf("%d jobs submitted", want), func() bool { return count.Load() >= want })
	}
	go func() {
		var ids []string
		defer func() { submitted <- ids }()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			j, err := c.Submit(t.Context(), client.SubmitRequest{FileName: "x.sh", Script: []byte("echo ok\n"),
				IdempotencyKey: fmt.Sprintf("upgrade-%d", i)})
			if err != nil {
				t.Errorf("submit %d during the upgrade: %v", i, err)
				return
			}
			ids = append(ids, j.ID)
			count.Add(1)
		}
	}()
	more(5)

	// The next rgrid applies its migration while the old replicas serve.
	if out, err := exec.Command(next, "migrate", "up", "--db", db).CombinedOutput(); err != nil {
		t.Fatalf("rgrid migrate up (next): %v\n%s", err, out)
	}
	pool, err := pgxpool.New(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var probe bool
	if err := pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_name = 'jobs' AND column_name = 'upgrade_probe')`).Scan(&probe); err != nil || !probe {
		t.Fatalf("the next migration's column: %v, %v", probe, err)
	}
	more(3) // the old replicas on the schema ahead of them
	// An old replica (re)started now accepts the schema ahead of it.
	late, _ := startServer(t, env, db, "--listen", freeAddr(t))
	if err := syscall.Kill(late.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-late.done
	for i, a := range addrs {
		if err := syscall.Kill(servers[i].cmd.Process.Pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-servers[i].done
		more(3) // through the other replica alone
		servers[i] = startBin(t, next, env, "server", "--db", db, "--listen", a)
		url := "http://" + a
		servers[i].waitReady(t, "the next rgrid answering at "+url, func() bool { return healthy(url) })
		more(3)
	}
	close(stop)
	ids := <-submitted
	for id, j := range waitTerminal(t, c, ids, 60*time.Second) {
		if j.State != client.StateSucceeded || len(j.Attempts) != 1 {
			t.Errorf("job %s ended %s after %d attempt(s); want succeeded once", id, j.State, len(j.Attempts))
		}
	}
}
