package workdir

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// defaultParallel is how many files are hashed, and directories listed,
// at once: the listing of a tree whose files the hash cache knows is
// syscalls alone (a directory read and an lstat per entry), which a
// second core halves.
func defaultParallel() int { return min(runtime.GOMAXPROCS(0)*2, 8) }

// A Scan's walk is in two parts. Listing a directory (its ignore files
// read, its entries lstat-ed and sorted, each one's fate decided by the
// rules, its links read) depends only on the directory and the rules
// above it, so listers do it ahead of the walk, a few directories at a
// time. The walk itself stays one goroutine taking the listings in the
// order of a sequential walk, and it alone keeps the Plan: the entries,
// the totals, the caps and the first error come out as if every
// directory were listed in turn.

// dirListing is one directory, listed.
type dirListing struct {
	git, rgrid [][]rule // the rules that apply to its entries, its own files' included
	ents       []listedEntry
	env        string // why the directory is left out as a Python environment (nothing under it is listed), or ""
	err        error  // of the directory itself: the walk stops here
}

// listedEntry is an entry of a listed directory, and what the walk does
// with it.
type listedEntry struct {
	rel      string
	fi       fs.FileInfo
	excluded bool
	reason   string   // why it is excluded
	target   string   // a symlink's
	sub      *listing // a directory walked into
	err      error    // the walk stops here
}

// listing is a directory to list, by a lister ahead of the walk or, when
// none has started it, by the walk itself.
type listing struct {
	rel        string
	git, rgrid [][]rule // the rules from above it
	checkEnv   bool     // left out if it is a Python environment (see decide)
	once       sync.Once
	byLister   bool // set in once: a lister holds a token for the result
	d          dirListing
}

// listers read directories ahead of the walk. A listing they finish holds
// one of the tokens until the walk takes it, so at most cap(tokens)
// listings wait in memory however wide the tree.
type listers struct {
	queue  chan *listing
	tokens chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
}

// startListers starts n listers; none for n < 2 (the walk lists every
// directory itself, in turn). Stop them with stopListers.
func (s *scanner) startListers(n int) {
	if n < 2 {
		return
	}
	ls := &listers{queue: make(chan *listing, 256), tokens: make(chan struct{}, 4*n), stop: make(chan struct{})}
	s.listers = ls
	for range n {
		ls.wg.Go(func() {
			for l := range ls.queue {
				select {
				case ls.tokens <- struct{}{}:
				case <-ls.stop:
					continue // drain what is left
				}
				if !s.run(l, true) {
					<-ls.tokens // the walk listed it meanwhile
				}
			}
		})
	}
}

func (s *scanner) stopListers() {
	if ls := s.listers; ls != nil {
		close(ls.stop)
		close(ls.queue)
		ls.wg.Wait()
	}
}

// offer hands l to the listers if their queue has room; if not, the walk
// lists it when it gets there.
func (s *scanner) offer(l *listing) {
	if s.listers == nil {
		return
	}
	select {
	case s.listers.queue <- l:
	default:
	}
}

// run lists l unless it was listed (or is being listed: then it waits),
// and says whether this call listed it.
func (s *scanner) run(l *listing, byLister bool) bool {
	ran := false
	l.once.Do(func() {
		ran, l.byLister = true, byLister
		l.d = s.list(l.rel, l.git, l.rgrid, l.checkEnv)
	})
	return ran
}

// take is l's listing, for the walk: listed now if no lister did.
func (s *scanner) take(l *listing) dirListing {
	s.run(l, false)
	if l.byLister {
		<-s.listers.tokens
	}
	d := l.d
	l.d = dirListing{} // the walk is done with it once taken
	return d
}

// list lists the directory rel ("" for the root) under the rule lists
// that apply to it; with checkEnv, a Python environment is not listed
// further but said to be one (dirListing.env). It touches nothing of the
// scanner but what never changes during the walk, so listers run it at
// once.
func (s *scanner) list(rel string, git, rgrid [][]rule, checkEnv bool) dirListing {
	if err := s.ctx.Err(); err != nil {
		return dirListing{err: err}
	}
	dir := "."
	if rel != "" {
		dir = filepath.FromSlash(rel)
	}
	d, err := s.root.Open(dir)
	if err != nil {
		return dirListing{err: err}
	}
	// Listed in a Root, each entry comes with its lstat, made relative to
	// the directory's descriptor: no second Lstat through the Root, which
	// opens every directory of the path again (half the scan's time for
	// a tree of 4,000 files). What the directory holds is known from the
	// listing alone: its ignore files are read only if it has them, and
	// whether it is an environment is told from its names.
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return dirListing{err: fmt.Errorf("list %s: %w", dir, err)}
	}
	markers := map[string]bool{} // of the names envMarker looks at, those listed
	regular := map[string]bool{} // of the ignore files, those listed as regular files
	for _, e := range ents {
		switch name := e.Name(); name {
		case ".gitignore", ".rgridignore":
			regular[name] = e.Type().IsRegular()
		case "pyvenv.cfg", "bin", "conda-meta":
			markers[name] = true
		}
	}
	if checkEnv {
		if reason := envMarker(s.root, rel, markers); reason != "" {
			return dirListing{env: reason}
		}
	}
	for _, f := range []struct {
		name  string
		lists *[][]rule
	}{{".gitignore", &git}, {".rgridignore", &rgrid}} {
		if !regular[f.name] {
			continue
		}
		rs, err := s.readRules(rel, f.name)
		if err != nil {
			return dirListing{err: err}
		}
		if rs != nil {
			*f.lists = append(slices.Clip(*f.lists), rs)
		}
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	out := dirListing{git: git, rgrid: rgrid, ents: make([]listedEntry, 0, len(ents))}
	for _, e := range ents {
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since the listing
		}
		le := listedEntry{rel: path.Join(rel, e.Name()), fi: fi, err: err}
		if err == nil {
			s.decideEntry(&le, e.Name(), git, rgrid)
		}
		out.ents = append(out.ents, le)
		if le.err != nil {
			break // the walk stops at it
		}
	}
	return out
}

// decideEntry says what the walk does with e, named name.
func (s *scanner) decideEntry(e *listedEntry, name string, git, rgrid [][]rule) {
	isDir := e.fi.IsDir()
	switch {
	case name == ".git":
		e.reason = reasonGit
	case !utf8.ValidString(name):
		e.reason = reasonUTF8
	case strings.Contains(name, `\`):
		e.reason = reasonBslash
	case len(e.rel) > MaxPathLen:
		e.reason = reasonTooLong
	}
	checkEnv := false
	if e.reason == "" {
		var ex bool
		if ex, e.reason, checkEnv = s.decide(e.rel, isDir, git, rgrid); !ex {
			e.reason = special(e.fi.Mode())
			ex = e.reason != ""
		}
		e.excluded = ex
	} else {
		e.excluded = true
	}
	if e.excluded {
		return
	}
	switch {
	case isDir:
		e.sub = &listing{rel: e.rel, git: git, rgrid: rgrid, checkEnv: checkEnv}
	case e.fi.Mode()&fs.ModeSymlink != 0:
		e.target, e.err = s.root.Readlink(filepath.FromSlash(e.rel))
	}
}
