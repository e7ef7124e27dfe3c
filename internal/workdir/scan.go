package workdir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// Defaults of Options.
const (
	DefaultMaxBytes = 100 << 20
	DefaultMaxFiles = 100_000
)

// Options say what Scan sends.
type Options struct {
	// MaxBytes caps the total size of the files sent (--max-upload);
	// 0 means DefaultMaxBytes.
	MaxBytes int64
	// MaxFiles caps the number of files sent; 0 means DefaultMaxFiles.
	MaxFiles int
	// Script is the script's slash path relative to the directory. It is
	// sent even if ignore rules leave it out (a scratch.py listed in
	// .gitignore is still what the user asked to run), and Scan fails if
	// it is not there.
	Script string
	// ScriptOnly sends the script alone (--no-workdir).
	ScriptOnly bool
	// DryRun lists without reading: no file is hashed, and a cap that is
	// passed or a symlink that is refused is reported in the Plan rather
	// than as an error, so that --dry-run can show everything at once.
	DryRun bool
	// Parallel is how many files are hashed, and directories listed, at
	// once; 0 means twice GOMAXPROCS, at most 8. With 1 the walk lists
	// every directory itself, in turn (the result is the same).
	Parallel int
	// Cache, when set, gives the hashes of files whose Stamp has not
	// changed since an earlier Scan, and learns the others: their files
	// are not read. Save it after the Scan.
	Cache *HashCache
}

// Plan is what Scan found: what would be sent and what would not, and why.
type Plan struct {
	Root     string   // the directory scanned, absolute
	Manifest Manifest // what is sent; in a dry run, without hashes
	Excluded []Excluded
	Files    int   // regular files sent
	Bytes    int64 // their total size
	MaxBytes int64 // the caps applied
	MaxFiles int
	// ScriptIgnored is why ignore rules would have left the script out,
	// when Options.Script was sent regardless; "" otherwise.
	ScriptIgnored string
	// In a dry run only: files past MaxFiles, counted in Files and Bytes
	// but not listed in Manifest; and the errors Scan would have returned.
	Unlisted int
	TooLarge *TooLargeError
	Refused  *OutsideLinksError
}

// Excluded is a path that is not sent, with the reason. Nothing under an
// excluded directory is listed: like git, Scan does not look inside.
type Excluded struct {
	Path   string
	Dir    bool
	Reason string
}

// Scan decides what of the directory root is sent as a job's working
// directory, and hashes it.
//
// It never follows a symlink: the walk and every open go through an
// os.Root, so nothing outside root is read even if the tree changes
// underneath. Symlinks inside the tree are sent as links; an absolute one
// that points inside is rewritten relative so that it still resolves on
// the worker; one that leaves the tree fails the scan (OutsideLinksError).
//
// What is ignored, in the order that decides (a later step only when no
// earlier one did):
//
//  1. .git (a directory or a worktree's file), at any depth: never sent;
//  2. .rgridignore files in the tree, read like .gitignore files: the last matching
//     line of the deepest file decides, and a '!' line sends a path after
//     all, even one steps 3 and 4 leave out;
//  3. the built-ins: __pycache__/, node_modules/, .venv/, venv/, tool
//     caches, .DS_Store, and any directory holding pyvenv.cfg,
//     bin/activate or conda-meta/ (a Python environment, whatever its name);
//  4. .gitignore files, in the tree and in its parents up to the top of
//     the git work tree it is in, as git reads them.
//
// Only .gitignore files are read, not .git/info/exclude nor git's global
// core.excludesFile: those are one person's settings, which a colleague
// running the same directory would not have, so the same directory would
// send differently. Patterns are case-sensitive, as git's are by default
// on Linux. The directory itself is never ignored, even if a parent's
// .gitignore would ignore it.
//
// Files that are not regular files, directories or symlinks (FIFOs,
// sockets, devices) are left out and never opened.
//
// The caps are checked on sizes from the directory listing before any
// file is read, so a huge dataset is refused in milliseconds, with a
// *TooLargeError that lists what is largest; only then are files hashed,
// each read once, a few at a time.
func Scan(ctx context.Context, root string, opts Options) (*Plan, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxFiles <= 0 {
		opts.MaxFiles = DefaultMaxFiles
	}
	if opts.Parallel <= 0 {
		opts.Parallel = defaultParallel()
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, err
	}
	defer closeRoot(r)
	s := &scanner{
		ctx: ctx, root: r, abs: abs, opts: opts,
		dirs: map[string]*dirSize{},
		plan: &Plan{Root: abs, MaxBytes: opts.MaxBytes, MaxFiles: opts.MaxFiles},
	}
	if opts.Script != "" {
		if err := validPath(opts.Script); err != nil {
			return nil, fmt.Errorf("script %q: not a clean path inside %s", opts.Script, abs)
		}
	}
	if opts.ScriptOnly {
		if opts.Script == "" {
			return nil, errors.New("ScriptOnly without a Script")
		}
	} else {
		git, err := s.parentRules()
		if err != nil {
			return nil, err
		}
		s.startListers(opts.Parallel)
		_, err = s.walk(&listing{git: git}) // the root is never left out
		s.stopListers()
		if err != nil {
			return nil, err
		}
	}
	if err := s.addScript(); err != nil {
		return nil, err
	}
	if err := s.checkLinks(); err != nil {
		return nil, err
	}
	if err := s.checkCaps(); err != nil {
		return nil, err
	}
	if !opts.DryRun {
		if err := s.hash(); err != nil {
			return nil, err
		}
	}
	return s.finish()
}

type scanner struct {
	ctx    context.Context
	root   *os.Root
	abs    string
	prefix string // root's path below the top of its git work tree, "" if it is the top or in none
	opts   Options
	plan   *Plan

	files  []Entry // regular files: path, size from the listing, mode; hashed last
	stamps []Stamp // of files, from the listing
	links  []Entry
	empty  []Entry // directories with nothing sent under them
	dirs   map[string]*dirSize
	top    []sized // the largest files

	listers *listers // nil: the walk lists every directory itself
}

type dirSize struct {
	bytes int64
	files int
}

// walk goes through the directory that l lists, in name order, and
// recurses into what is not ignored. Listers may have listed it, and list
// its subdirectories while it goes through its entries.
// It returns why the directory is left out instead, when it is a Python
// environment.
func (s *scanner) walk(l *listing) (string, error) {
	if err := s.ctx.Err(); err != nil {
		return "", err
	}
	d := s.take(l)
	if d.err != nil || d.env != "" {
		return d.env, d.err
	}
	for _, e := range d.ents {
		if e.sub != nil {
			s.offer(e.sub)
		}
	}
	for _, e := range d.ents {
		if err := s.visit(e); err != nil {
			return "", err
		}
	}
	return "", nil
}

func (s *scanner) visit(e listedEntry) error {
	if e.err != nil {
		return e.err
	}
	if e.excluded {
		s.plan.Excluded = append(s.plan.Excluded, Excluded{Path: e.rel, Dir: e.fi.IsDir(), Reason: e.reason})
		return nil
	}
	switch {
	case e.sub != nil:
		before := len(s.files) + len(s.links) + len(s.empty) + s.plan.Unlisted
		env, err := s.walk(e.sub)
		if err != nil {
			return err
		}
		if env != "" {
			s.plan.Excluded = append(s.plan.Excluded, Excluded{Path: e.rel, Dir: true, Reason: env})
			return nil
		}
		if len(s.files)+len(s.links)+len(s.empty)+s.plan.Unlisted == before {
			s.empty = append(s.empty, Entry{Path: e.rel, Kind: KindDir})
		}
	case e.fi.Mode()&fs.ModeSymlink != 0:
		s.links = append(s.links, Entry{Path: e.rel, Kind: KindSymlink, Target: e.target})
	default:
		s.addFile(Entry{Path: e.rel, Kind: KindFile, Size: e.fi.Size(), Executable: e.fi.Mode()&0o111 != 0}, stampOf(e.fi))
	}
	return nil
}

// addFile records a file to send. Past MaxFiles the scan goes on counting
// (to report totals and the fullest folders) but keeps no more entries,
// so memory stays bounded however large the tree.
func (s *scanner) addFile(e Entry, st Stamp) {
	s.plan.Files++
	s.plan.Bytes += e.Size
	for d := path.Dir(e.Path); ; d = path.Dir(d) {
		ds := s.dirs[d]
		if ds == nil {
			ds = &dirSize{}
			s.dirs[d] = ds
		}
		ds.bytes += e.Size
		ds.files++
		if d == "." {
			break
		}
	}
	s.top = keepLargest(s.top, sized{Path: e.Path, Bytes: e.Size}, listed)
	if len(s.files) >= s.opts.MaxFiles {
		s.plan.Unlisted++
		return
	}
	s.files = append(s.files, e)
	s.stamps = append(s.stamps, st)
}

// addScript makes sure the script is sent, even if ignored.
func (s *scanner) addScript() error {
	sc := s.opts.Script
	if sc == "" {
		return nil
	}
	for _, list := range [][]Entry{s.files, s.links} {
		if slices.ContainsFunc(list, func(e Entry) bool { return e.Path == sc }) {
			return nil
		}
	}
	fi, err := s.root.Lstat(filepath.FromSlash(sc))
	if err != nil {
		return fmt.Errorf("script %s: %w", sc, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("script %s is not a regular file (%s)", sc, fi.Mode().Type())
	}
	for _, x := range s.plan.Excluded {
		if x.Path == sc || strings.HasPrefix(sc, x.Path+"/") {
			s.plan.ScriptIgnored = x.Path + ": " + x.Reason
		}
	}
	s.addFile(Entry{Path: sc, Kind: KindFile, Size: fi.Size(), Executable: fi.Mode()&0o111 != 0}, stampOf(fi))
	return nil
}

func (s *scanner) checkCaps() error {
	if s.plan.Bytes <= s.opts.MaxBytes && s.plan.Files <= s.opts.MaxFiles {
		return nil
	}
	e := s.tooLarge()
	if s.opts.DryRun {
		s.plan.TooLarge = e
		return nil
	}
	return e
}

// hash reads every file once, a few at a time, and records its SHA-256.
// A file that grew since it was listed is recorded with what was read,
// and the byte cap checked again.
func (s *scanner) hash() error {
	g, ctx := errgroup.WithContext(s.ctx)
	g.SetLimit(s.opts.Parallel)
	for i := range s.files {
		if c := s.opts.Cache; c != nil {
			if sum, ok := c.lookup(s.files[i].Path, s.stamps[i]); ok {
				s.files[i].SHA256, s.files[i].Size = sum, s.stamps[i].Size
				continue
			}
		}
		g.Go(func() error {
			start := time.Now()
			sum, n, st, err := hashStamped(ctx, s.root, s.files[i].Path)
			if err != nil {
				return err
			}
			s.files[i].SHA256, s.files[i].Size = sum, n
			if c := s.opts.Cache; c != nil && st != nil {
				c.add(s.files[i].Path, *st, sum, start)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var total int64
	for _, f := range s.files {
		total += f.Size
	}
	if total != s.plan.Bytes {
		s.plan.Bytes = total
		return s.checkCaps()
	}
	return nil
}

func (s *scanner) finish() (*Plan, error) {
	p := s.plan
	p.Manifest.Entries = slices.Concat(s.files, s.links, s.empty)
	p.Manifest.Sort()
	slices.SortFunc(p.Excluded, func(a, b Excluded) int { return strings.Compare(a.Path, b.Path) })
	if !s.opts.DryRun {
		if err := p.Manifest.Validate(); err != nil {
			return nil, err // a bug here, or a tree past MaxLinks: refuse before the server does
		}
	}
	return p, nil
}
