package docker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// usageFile, under Options.WorkDir, records when each environment was last
// used (key → Unix seconds): the engine records when an image was made,
// not when it was last run.
const usageFile = "env-usage.json"

func (e *Executor) usagePath() string { return filepath.Join(e.opts.WorkDir, usageFile) }

// readUsage reads the usage file; a missing or damaged file is empty, which
// makes eviction fall back to the images' creation times.
func (e *Executor) readUsage() map[string]int64 {
	m := map[string]int64{}
	b, err := os.ReadFile(e.usagePath())
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		e.log.Warn("read environment usage; falling back to image creation times", "file", e.usagePath(), "err", err)
		return map[string]int64{}
	}
	return m
}

// updateUsage applies change to the usage file and writes it atomically.
// Failures are logged: they only make eviction less well informed.
func (e *Executor) updateUsage(change func(map[string]int64)) {
	e.envs.usageMu.Lock()
	defer e.envs.usageMu.Unlock()
	m := e.readUsage()
	change(m)
	b, err := json.Marshal(m)
	if err == nil {
		err = writeFileAtomic(e.usagePath(), b)
	}
	if err != nil {
		e.log.Warn("write environment usage", "file", e.usagePath(), "err", err)
	}
}

func writeFileAtomic(name string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), filepath.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// touch records that key's environment was used now.
func (e *Executor) touch(key string) {
	now := time.Now().Unix()
	e.updateUsage(func(m map[string]int64) { m[key] = now })
}

type envImage struct {
	ref, key string
	size     int64 // beyond its base image
	used     int64 // Unix seconds
}

// evict removes the least recently used environment images while all of
// them together take more than Options.EnvCacheBytes beyond their base
// images. It never removes keep (just built), one a Start of this
// executor is about to use, or one a container uses: without force the
// engine refuses those, and they are skipped.
func (e *Executor) evict(ctx context.Context, keep string) {
	e.envs.evictMu.Lock()
	defer e.envs.evictMu.Unlock()
	images, total, err := e.envImages(ctx)
	if err != nil {
		e.log.Warn("list environment images for eviction", "err", err)
		return
	}
	if total <= e.opts.EnvCacheBytes {
		return
	}
	slices.SortFunc(images, func(a, b envImage) int { return cmp.Compare(a.used, b.used) })
	var removed []string
	for _, img := range images {
		if total <= e.opts.EnvCacheBytes {
			break
		}
		if img.key == keep || e.isBusy(img.key) {
			continue
		}
		_, err := e.cli.ImageRemove(ctx, img.ref, client.ImageRemoveOptions{PruneChildren: true})
		switch {
		case cerrdefs.IsConflict(err):
			e.log.Debug("environment image in use; not evicted", "image", img.ref)
			continue
		case err != nil && !cerrdefs.IsNotFound(err):
			e.log.Warn("evict environment image", "image", img.ref, "err", err)
			continue
		}
		total -= img.size
		removed = append(removed, img.key)
		e.log.Info("evicted environment image", "image", img.ref, "bytes", img.size,
			"last_used", time.Unix(img.used, 0).UTC().Format(time.RFC3339))
	}
	if len(removed) > 0 {
		e.updateUsage(func(m map[string]int64) {
			for _, k := range removed {
				delete(m, k)
			}
		})
	}
}

// envImages lists the environment images with their own sizes (what they
// add to their base) and last use, and the sum of the sizes.
func (e *Executor) envImages(ctx context.Context) ([]envImage, int64, error) {
	f := make(client.Filters).Add("label", LabelEnvKey)
	if e.envs.scope != "" {
		f.Add("label", labelEnvScope+"="+e.envs.scope)
	}
	list, err := e.cli.ImageList(ctx, client.ImageListOptions{Filters: f})
	if err != nil {
		return nil, 0, err
	}
	usage := e.readUsage()
	baseSize := map[string]int64{}
	var images []envImage
	var total int64
	for _, s := range list.Items {
		key := s.Labels[LabelEnvKey]
		if len(key) < 24 {
			continue
		}
		base := s.Labels[LabelEnvBase]
		if _, ok := baseSize[base]; !ok {
			// A base image that is gone shares nothing: count it all.
			if b, err := e.cli.ImageInspect(ctx, base); err == nil {
				baseSize[base] = b.Size
			} else {
				baseSize[base] = 0
			}
		}
		img := envImage{ref: s.ID, key: key, size: s.Size, used: cmp.Or(usage[key], s.Created)}
		if img.size > baseSize[base] {
			img.size -= baseSize[base]
		}
		if slices.Contains(s.RepoTags, envTag(key)) {
			img.ref = envTag(key)
		}
		images = append(images, img)
		total += img.size
	}
	return images, total, nil
}
