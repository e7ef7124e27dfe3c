package workdir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// Defaults of Limits.
const (
	DefaultMaxOutputFiles = 10_000
	DefaultMaxOutputBytes = 1 << 30
	defaultMaxSkips       = 1000
)

// Limits bound what Collect gathers.
type Limits struct {
	// MaxFiles and MaxBytes cap the outputs (files and symlinks count
	// alike); 0 means 10,000 and 1 GiB.
	MaxFiles int
	MaxBytes int64
	// MaxVisited bounds the entries walked, so that a job that made
	// millions of empty files or folders cannot hold the worker; 0 means
	// 10 × MaxFiles plus the inputs.
	MaxVisited int
	// MaxSkips bounds the Skipped list; past it only a count is kept.
	// 0 means 1000.
	MaxSkips int
	// MountPoint is where the job saw dir ("/work"): a symlink the job
	// made to an absolute path under it is collected, made relative.
	MountPoint string
	// Staged, when set, is what Stage wrote into dir: an input whose stamp
	// is still the one it was staged with is unchanged without being read
	// (its inode, size and modification time are the same; a job that
	// rewrote an input with as many bytes and then set its modification
	// time back to the nanosecond is the one case that passes for
	// unchanged, and only its own output is lost).
	Staged Staged
	// Upper says dir is an overlay's upper directory over the inputs (the
	// Docker executor's layer): it holds only what the job created or
	// changed. A whiteout there (a 0/0 character device) is a deleted
	// input and an opaque folder one made anew over an input folder: both
	// are left out silently, and the inputs' symlinks they do not hide are
	// still judged with the job's ones (see checkLinks).
	Upper bool
}

// Skip is a path Collect left out, with the reason.
type Skip struct {
	Path   string
	Reason string
}

// Collected is what Collect found.
type Collected struct {
	Outputs  Manifest // files and symlinks created or changed, hashed
	Bytes    int64    // total size of the output files
	Skipped  []Skip   // what was left out and why, at most Limits.MaxSkips
	Unlisted int      // skips past MaxSkips, counted only
}

// Collect finds what a job created or changed under dir, after it stopped.
//
// It walks through an os.Root and never follows a symlink: a link comes
// back as a link (made relative if it pointed under MountPoint), and one
// that points outside the working directory is skipped, since handing the
// user a link to /etc/passwd in their own directory is no output anyone
// wants. FIFOs, sockets and devices are skipped without being opened, so
// none can block or feed the collection. A file is an output when it is
// new or its kind, hash or executable bit differ from inputs; every
// candidate is read once, here, to hash it. Files are taken in path order
// until a cap is reached; a file that would pass MaxBytes is skipped
// without being read, and smaller ones after it are still taken.
//
// Deleted inputs are not reported. To upload an output, read it again
// with Open, which checks it still has the hash given here.
func Collect(ctx context.Context, dir string, inputs Manifest, lim Limits) (Collected, error) {
	if lim.MaxFiles <= 0 {
		lim.MaxFiles = DefaultMaxOutputFiles
	}
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultMaxOutputBytes
	}
	if lim.MaxVisited <= 0 {
		lim.MaxVisited = 10*lim.MaxFiles + len(inputs.Entries)
	}
	if lim.MaxSkips <= 0 {
		lim.MaxSkips = defaultMaxSkips
	}
	if err := inputs.Validate(); err != nil {
		return Collected{}, fmt.Errorf("collect: inputs: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Collected{}, err
	}
	defer closeRoot(root)
	c := &collector{ctx: ctx, root: root, inputs: inputs, lim: lim, found: map[string]bool{}, hides: map[string]bool{}}
	err = c.walk("")
	if errors.Is(err, errBudget) {
		// Appended past MaxSkips too: this one the user must see.
		c.out.Skipped = append(c.out.Skipped, Skip{Path: "", Reason: fmt.Sprintf("collection stopped after %s entries: the rest of the directory is not collected", commas(lim.MaxVisited))})
	} else if err != nil {
		return Collected{}, err
	}
	c.checkLinks()
	c.out.Outputs.Sort()
	if err := c.out.Outputs.Validate(); err != nil {
		return Collected{}, fmt.Errorf("collect: %w", err) // a bug: Collect must make valid manifests
	}
	return c.out, nil
}

var errBudget = errors.New("visit budget spent")

type collector struct {
	ctx     context.Context
	root    *os.Root
	inputs  Manifest
	lim     Limits
	visited int
	count   int // outputs so far, files and links
	links   []Entry
	out     Collected
	// With Limits.Upper: every path found (whiteouts included), and those
	// that hide what the inputs had beneath them (anything but a folder,
	// and opaque folders).
	found, hides map[string]bool
}

func (c *collector) skip(p, reason string) {
	if len(c.out.Skipped) >= c.lim.MaxSkips {
		c.out.Unlisted++
		return
	}
	c.out.Skipped = append(c.out.Skipped, Skip{Path: p, Reason: reason})
}

func (c *collector) walk(rel string) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	dir := "."
	if rel != "" {
		dir = filepath.FromSlash(rel)
	}
	d, err := c.root.Open(dir)
	if errors.Is(err, fs.ErrPermission) && rel != "" {
		// The job may chmod what it likes; one folder it made unreadable
		// should not cost the rest of its outputs.
		c.skip(rel, "not readable: not collected")
		return nil
	}
	if err != nil {
		return err
	}
	// Read in batches, so that a folder of ten million entries costs no
	// more than the budget allows.
	var names []string
	budgetHit := false
	for {
		ents, err := d.ReadDir(1024)
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if c.visited+len(names) > c.lim.MaxVisited {
			budgetHit = true
			names = names[:max(0, c.lim.MaxVisited-c.visited)]
			break
		}
		if errors.Is(err, io.EOF) || (err == nil && len(ents) == 0) {
			break
		}
		if err != nil {
			d.Close()
			return fmt.Errorf("list %s: %w", dir, err)
		}
	}
	d.Close()
	c.visited += len(names)
	slices.Sort(names)
	for _, name := range names {
		if err := c.visit(path.Join(rel, name), name); err != nil {
			return err
		}
	}
	if budgetHit {
		return errBudget
	}
	return nil
}

func (c *collector) visit(rel, name string) error {
	switch {
	case !utf8.ValidString(name):
		c.skip(rel, reasonUTF8)
		return nil
	case strings.Contains(name, `\`):
		c.skip(rel, reasonBslash)
		return nil
	case len(rel) > MaxPathLen:
		c.skip(rel, reasonTooLong)
		return nil
	}
	fi, err := c.root.Lstat(filepath.FromSlash(rel))
	if err != nil {
		return err
	}
	if c.lim.Upper {
		c.found[rel] = true
		if !fi.IsDir() || isOpaque(c.root, rel) {
			c.hides[rel] = true
		}
		if isWhiteout(fi) {
			return nil // a deleted input
		}
	}
	if reason := special(fi.Mode()); reason != "" {
		c.skip(rel, reason)
		return nil
	}
	switch {
	case fi.IsDir():
		return c.walk(rel)
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := c.root.Readlink(filepath.FromSlash(rel))
		if err != nil {
			return err
		}
		c.links = append(c.links, Entry{Path: rel, Kind: KindSymlink, Target: t})
		return nil
	}
	return c.file(rel, fi)
}

func (c *collector) file(rel string, fi fs.FileInfo) error {
	e := Entry{Path: rel, Kind: KindFile, Size: fi.Size(), Executable: fi.Mode()&0o111 != 0}
	in, wasInput := c.inputs.Lookup(rel)
	hashed := false
	if wasInput && in.Kind == KindFile && in.Size == e.Size && in.Executable == e.Executable {
		if st, ok := c.lim.Staged[rel]; ok && stampOf(fi).sameContent(st) {
			return nil
		}
		// Same size and mode: only the hash tells.
		sum, n, err := hashFile(c.ctx, c.root, rel)
		if errors.Is(err, fs.ErrPermission) {
			c.skip(rel, "not readable: not collected")
			return nil
		}
		if err != nil {
			return err
		}
		e.SHA256, e.Size, hashed = sum, n, true
		if Unchanged(in, e) {
			return nil
		}
	}
	if c.count >= c.lim.MaxFiles {
		c.skip(rel, fmt.Sprintf("over the %s-file output cap", commas(c.lim.MaxFiles)))
		return nil
	}
	if c.out.Bytes+e.Size > c.lim.MaxBytes {
		c.skip(rel, fmt.Sprintf("%s would pass the %s output cap", human(e.Size), human(c.lim.MaxBytes)))
		return nil
	}
	if !hashed {
		sum, n, err := hashFile(c.ctx, c.root, rel)
		if errors.Is(err, fs.ErrPermission) {
			c.skip(rel, "not readable: not collected")
			return nil
		}
		if err != nil {
			return err
		}
		e.SHA256, e.Size = sum, n
	}
	c.count++
	c.out.Bytes += e.Size
	c.out.Outputs.Entries = append(c.out.Outputs.Entries, e)
	return nil
}

// checkLinks keeps the new or changed symlinks that stay inside the tree
// as it was left, judged like a manifest's (see resolver).
func (c *collector) checkLinks() {
	all := map[string]string{}
	for i, l := range c.links {
		t := filepath.ToSlash(l.Target)
		if c.lim.MountPoint != "" && path.IsAbs(t) {
			mp := path.Clean(filepath.ToSlash(c.lim.MountPoint))
			up := strings.Repeat("../", strings.Count(l.Path, "/"))
			if r, ok := strings.CutPrefix(path.Clean(t), mp+"/"); ok {
				t = up + r
			} else if path.Clean(t) == mp {
				t = path.Clean(up + ".")
			}
		}
		c.links[i].Target = t
		if validTarget(l.Path, t) == nil {
			all[l.Path] = t
		}
	}
	if c.lim.Upper {
		for _, in := range c.inputs.Entries {
			if in.Kind == KindSymlink && c.visible(in.Path) {
				if _, mine := all[in.Path]; !mine {
					all[in.Path] = in.Target
				}
			}
		}
	}
	r := resolver{links: all, budget: maxLinkSteps}
	for _, l := range c.links {
		if in, ok := c.inputs.Lookup(l.Path); ok && Unchanged(in, l) {
			continue
		}
		_, ok := all[l.Path]
		if !ok || r.inside(l.Path) != nil {
			c.skip(l.Path, fmt.Sprintf("symlink to %s, outside the working directory: not collected (its target was not read)", displayPath(l.Target)))
			continue
		}
		if c.count >= c.lim.MaxFiles {
			c.skip(l.Path, fmt.Sprintf("over the %s-file output cap", commas(c.lim.MaxFiles)))
			continue
		}
		c.count++
		c.out.Outputs.Entries = append(c.out.Outputs.Entries, l)
	}
}

// visible says whether an input at p is still there under an upper
// directory: nothing in its place (an entry of the upper directory at p
// replaced or deleted it), nor hidden by an ancestor that was replaced or
// deleted (anything but a folder there, or an opaque folder).
func (c *collector) visible(p string) bool {
	if c.found[p] {
		return false
	}
	for d := path.Dir(p); d != "."; d = path.Dir(d) {
		if c.hides[d] {
			return false
		}
	}
	return true
}
