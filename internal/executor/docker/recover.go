package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/diskquota"
)

// Find implements executor.Recoverer: it lists the containers of this
// worker (Options.WorkerID) that are still on the engine, running or not.
// A container without a readable attempt label is left out, as is a warm
// container no job was given (pool.go); RemoveOrphans removes them.
func (e *Executor) Find(ctx context.Context) ([]executor.Found, error) {
	list, err := e.ours(ctx, nil)
	if err != nil {
		return nil, err
	}
	var found []executor.Found
	for _, c := range list {
		id := e.identify(c)
		if !id.valid {
			continue // a warm container without a job, or no readable attempt
		}
		found = append(found, executor.Found{
			JobID: id.job, Attempt: id.attempt, Running: c.State == container.StateRunning,
		})
	}
	slices.SortFunc(found, func(a, b executor.Found) int {
		return cmp.Or(cmp.Compare(a.JobID, b.JobID), cmp.Compare(a.Attempt, b.Attempt))
	})
	return found, nil
}

// Adopt implements executor.Recoverer. The handle behaves as one from
// Start: the time limit counts from the container's start, Kill and Wait
// work, and once the run has ended the container and its run directory
// are removed. Of spec only the writers, Collect and Limits.Timeout are
// used; the memory limit comes from the container itself, and the working
// directory's mount, the kernel's, is still where the earlier process made
// it. Adopt each found run once:
// two handles on one container would both deliver its output.
//
// A container that was created but never started (the worker died in
// between) ran nothing: Adopt removes it and returns an error, and the
// attempt should be treated as one that failed to start.
func (e *Executor) Adopt(ctx context.Context, f executor.Found, spec executor.Spec, stdoutOffset, stderrOffset int64) (executor.Handle, error) {
	all, err := e.ours(ctx, nil)
	if err != nil {
		return nil, err
	}
	// Not filtered by the engine: a warm container's job is in its run
	// directory, not in its labels.
	var list []container.Summary
	for _, c := range all {
		if id := e.identify(c); id.valid && id.job == f.JobID && id.attempt == f.Attempt {
			list = append(list, c)
		}
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("adopt job %s attempt %d: want one container of worker %s, found %d",
			f.JobID, f.Attempt, e.opts.WorkerID, len(list))
	}
	id, dir := list[0].ID, list[0].Labels[labelDir]
	insp, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("adopt job %s: inspect container %.12s: %w", f.JobID, id, err)
	}
	st := insp.Container.State
	if st == nil {
		return nil, fmt.Errorf("adopt job %s: container %.12s has no state", f.JobID, id)
	}
	began, err := time.Parse(time.RFC3339Nano, st.StartedAt)
	if list[0].Labels[labelPool] != "" && err == nil {
		// A warm container started before its job: the job began when
		// its spec was sent (handshake), which is what the limit counts.
		if info, serr := os.Lstat(filepath.Join(dir, runCtl, sentFile)); serr == nil && e.isRunDir(dir) {
			began = info.ModTime()
		}
	}
	if err != nil || began.IsZero() {
		e.remove(ctx, id, dir)
		return nil, fmt.Errorf("adopt job %s attempt %d: its container was never started; removed it", f.JobID, f.Attempt)
	}
	memory := spec.Limits.MemoryBytes
	if hc := insp.Container.HostConfig; hc != nil && hc.Memory > 0 {
		memory = hc.Memory
	}
	h := e.newHandle(id, dir, spec.Limits.Timeout, memory, collectFor(spec, dir))
	h.began = began
	if !st.Running {
		if fin, err := time.Parse(time.RFC3339Nano, st.FinishedAt); err == nil && fin.After(began) {
			h.finished = fin
		}
	}
	own := list[0].Labels[labelInit] != ""
	if own && !e.specSent(dir) {
		// Our init waited for a spec that never came: nothing ran (or the
		// label names no run directory of ours, which is not read).
		e.remove(ctx, id, dir)
		return nil, fmt.Errorf("adopt job %s attempt %d: its container's job was never started; removed it", f.JobID, f.Attempt)
	}
	// From the start: an OOM kill while no worker watched is replayed.
	h.stopWatch = h.watchOOM(began)
	if own {
		// The spool has every byte the job wrote (up to its bound), read
		// from the server's offsets on.
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		h.stop = cancel
		src := newSpoolSource(filepath.Join(dir, runCtl), e.opts.LogMaxSize, nil, e.log, id)
		go h.run(lctx, src, spec.Stdout, spec.Stderr, stdoutOffset, stderrOffset)
	} else if err := h.follow(ctx, spec.Stdout, spec.Stderr, stdoutOffset, stderrOffset); err != nil {
		h.stopWatch()
		return nil, fmt.Errorf("adopt job %s: follow output of container %.12s: %w", f.JobID, id, err)
	}
	e.log.Info("adopted container", "job", f.JobID, "attempt", f.Attempt, "container", id,
		"running", st.Running, "stdout_offset", stdoutOffset, "stderr_offset", stderrOffset)
	return h, nil
}

// RemoveOrphans removes this worker's containers (and their run
// directories) for which keep returns false: left behind by a crash, or
// belonging to attempts the server has given to someone else. Running
// containers are killed. It also removes this worker's environment build
// containers that no build of this process is running. At worker start call it after Find, with keep
// accepting the runs to be adopted (so before Adopt, or with keep accepting
// them), and again whenever leases are lost.
func (e *Executor) RemoveOrphans(ctx context.Context, keep func(jobID string, attempt int) bool) (removed int, err error) {
	return e.RemoveOrphansBefore(ctx, keep, time.Time{})
}

// RemoveOrphansBefore implements executor.Reconciler: RemoveOrphans, but
// a container created at or after before is left alone (the zero time
// spares none).
func (e *Executor) RemoveOrphansBefore(ctx context.Context, keep func(jobID string, attempt int) bool, before time.Time) (removed int, err error) {
	list, err := e.ours(ctx, nil)
	if err != nil {
		return 0, err
	}
	removed, err = e.removeMatching(ctx, list, func(c container.Summary) bool {
		id := e.identify(c)
		if id.idle {
			// A warm container without a job: this process's pool's, or
			// left by an earlier one.
			return !e.pool.owns(c.Labels[labelDir])
		}
		if !before.IsZero() && !id.since.Before(before) {
			return false // just made: its attempt may not be known to keep yet
		}
		// A container without a readable attempt belongs to no attempt.
		return !id.valid || !keep(id.job, id.attempt)
	})
	// Build containers (env_build.go) that a crash left behind.
	if berr := e.removeStaleBuilds(ctx); berr != nil {
		err = errors.Join(err, berr)
	}
	if serr := e.sweep(ctx); serr != nil {
		err = errors.Join(err, serr)
	}
	return removed, err
}

// sweep removes the run directories under Options.WorkDir that no
// container refers to, whichever worker made them: left by one that died
// between making a directory and creating its container, or while removing
// them. Their mounts would otherwise outlive every worker. A directory
// being made or removed is locked and left alone, and one whose lock
// sweep holds cannot gain a container meanwhile: its maker creates the
// container before letting go.
func (e *Executor) sweep(ctx context.Context) error {
	entries, err := os.ReadDir(e.opts.WorkDir)
	if err != nil {
		return fmt.Errorf("list run directories: %w", err)
	}
	held := map[string]func(){}
	defer func() {
		for _, unlock := range held {
			unlock()
		}
	}()
	for _, d := range entries {
		if !d.IsDir() || !strings.HasPrefix(d.Name(), "run-") {
			continue
		}
		dir := filepath.Join(e.opts.WorkDir, d.Name())
		if unlock, ok := diskquota.TryHold(dir); ok {
			held[dir] = unlock
		}
	}
	if len(held) == 0 {
		return nil
	}
	// Listed after taking the locks: every container of a held directory
	// exists by now.
	f := make(client.Filters).Add("label", LabelManaged+"=true")
	list, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	used := map[string]bool{}
	for _, c := range list.Items {
		if d := c.Labels[labelDir]; d != "" {
			used[filepath.Clean(d)] = true
		}
	}
	for dir := range held {
		if !used[dir] {
			e.cleanRunDir(dir)
			e.log.Info("removed a run directory no container uses", "dir", dir)
		}
	}
	return nil
}

// RemoveGone removes the containers (and run directories) of other workers
// for which gone returns true: workers known to have died without cleaning
// up, such as an embedded worker whose rgrid run was killed. Nothing else
// would ever stop those containers, as their time limit died with their
// worker. This worker's own containers are left to RemoveOrphans.
func (e *Executor) RemoveGone(ctx context.Context, gone func(workerID string) bool) (removed int, err error) {
	f := make(client.Filters).Add("label", LabelManaged+"=true")
	list, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("list containers: %w", err)
	}
	return e.removeMatching(ctx, list.Items, func(c container.Summary) bool {
		w := c.Labels[LabelWorker]
		return w != "" && w != e.opts.WorkerID && gone(w)
	})
}

// removeMatching force-removes the containers of list that match, with their run
// directories, and returns how many it removed.
func (e *Executor) removeMatching(ctx context.Context, list []container.Summary, match func(container.Summary) bool) (removed int, err error) {
	var errs []error
	for _, c := range list {
		if !match(c) {
			continue
		}
		id := e.identify(c)
		job := id.job
		_, err := e.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %.12s of job %s: %w", c.ID, job, err))
			continue
		}
		e.removeRunDir(c.Labels[labelDir])
		e.log.Info("removed orphaned container", "container", c.ID, "job", job, "attempt", id.attempt,
			"warm", id.warm, "worker", c.Labels[LabelWorker])
		removed++
	}
	return removed, errors.Join(errs...)
}

// ours lists this worker's containers, narrowed by the labels in also.
func (e *Executor) ours(ctx context.Context, also map[string]string) ([]container.Summary, error) {
	if e.opts.WorkerID == "" {
		return nil, errors.New("docker executor: finding this worker's containers needs Options.WorkerID")
	}
	f := make(client.Filters).
		Add("label", LabelManaged+"=true").
		Add("label", LabelWorker+"="+e.opts.WorkerID)
	for k, v := range also {
		f.Add("label", k+"="+v)
	}
	list, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	return list.Items, nil
}
