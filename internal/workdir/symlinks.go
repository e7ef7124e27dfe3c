package workdir

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// OutsideLinksError refuses a directory holding symlinks that point
// outside it.
//
// Refusing the whole scan, rather than leaving such links out, is on
// purpose: a link to /data/imagenet is almost always an input the script
// reads, and leaving it out would make the job fail much later with a
// FileNotFoundError that says nothing about why. The error names every
// such link at once and the two fixes: ignore it, or put the files
// themselves in the directory.
type OutsideLinksError struct {
	Root  string
	Links []OutsideLink
}

// OutsideLink is one refused symlink.
type OutsideLink struct {
	Path   string
	Target string // as the link holds it
}

func (e *OutsideLinksError) Error() string {
	l := e.Links[0]
	more := ""
	if n := len(e.Links) - 1; n > 0 {
		more = fmt.Sprintf(" (and %d more symlinks out of the directory)", n)
	}
	return fmt.Sprintf("%s is a symlink to %s, outside %s: only what is inside the directory is sent%s",
		displayPath(l.Path), displayPath(l.Target), e.Root, more)
}

// Hint names the fixes.
func (e *OutsideLinksError) Hint() string {
	return fmt.Sprintf("add %s to .rgridignore to run without it, or replace the link with the files it points to", displayPath(e.Links[0].Path))
}

// reasonOutside is how a dry run lists a refused symlink.
const reasonOutside = "symlink to outside the directory: refused (ignore it in .rgridignore, or replace it with the files)"

// checkLinks makes each symlink's target relative and inside the tree, or
// refuses it. A target is judged as the kernel would follow it on the
// worker, through the other links sent (see resolver).
func (s *scanner) checkLinks() error {
	real, err := filepath.EvalSymlinks(s.abs)
	if err != nil {
		return err
	}
	var out []OutsideLink
	kept := s.links[:0]
	byPath := make(map[string]string, len(s.links))
	for i, l := range s.links {
		t, ok := s.relTarget(l.Path, l.Target, real)
		if !ok {
			out = append(out, OutsideLink{Path: l.Path, Target: l.Target})
			continue
		}
		s.links[i].Target = t
		byPath[l.Path] = t
	}
	r := resolver{links: byPath, budget: maxLinkSteps}
	for _, l := range s.links {
		t, ok := byPath[l.Path]
		if !ok {
			continue
		}
		if err := r.inside(l.Path); err != nil {
			out = append(out, OutsideLink{Path: l.Path, Target: t})
			continue
		}
		kept = append(kept, l)
	}
	s.links = kept
	if len(out) == 0 {
		return nil
	}
	if s.opts.DryRun {
		for _, o := range out {
			s.plan.Excluded = append(s.plan.Excluded, Excluded{Path: o.Path, Reason: reasonOutside})
		}
		s.plan.Refused = &OutsideLinksError{Root: s.abs, Links: out}
		return nil
	}
	return &OutsideLinksError{Root: s.abs, Links: out}
}

// relTarget returns target as a relative slash path from the link, if it
// lies inside the tree: absolute targets into the tree are rewritten (the
// tree is somewhere else on the worker), relative ones kept as written
// unless they step out and back in.
func (s *scanner) relTarget(link, target, real string) (string, bool) {
	t := filepath.ToSlash(target)
	if !filepath.IsAbs(target) && !strings.ContainsAny(t, "\x00\\") && !strings.HasPrefix(path.Join(path.Dir(link), t), "../") && path.Join(path.Dir(link), t) != ".." {
		return t, true
	}
	abs := target
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(real, filepath.FromSlash(path.Dir(link)), target)
	}
	abs = filepath.Clean(abs)
	for _, base := range []string{s.abs, real} {
		rel, err := filepath.Rel(base, abs)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		from := filepath.Join(base, filepath.FromSlash(path.Dir(link)))
		r, err := filepath.Rel(from, abs)
		if err != nil {
			continue
		}
		r = filepath.ToSlash(r)
		if validTarget(link, r) == nil {
			return r, true
		}
	}
	return "", false
}

// resolver follows symlinks the way the kernel would on the staged tree,
// using only the manifest: a component that is a symlink in it is replaced
// by its target, anything else is taken for a directory (a path that does
// not exist is a dangling link, which is allowed). Reading a link's target
// lexically is not enough: "s/.." with s -> "." leaves the tree.
type resolver struct {
	links  map[string]string
	budget int // steps left over the whole manifest, so that no crafted chain costs more than linear time
}

// inside reports an *InvalidError if the symlink at link resolves outside.
func (r *resolver) inside(link string) error {
	stack := strings.Split(path.Dir(link), "/")
	if stack[0] == "." {
		stack = stack[:0]
	}
	pending := strings.Split(r.links[link], "/")
	hops := 0
	for len(pending) > 0 {
		if r.budget--; r.budget < 0 {
			return invalid(link, "symlinks too tangled to resolve")
		}
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return invalid(link, "symlink to %q leaves the tree", r.links[link])
			}
			stack = stack[:len(stack)-1]
			continue
		}
		stack = append(stack, c)
		t, ok := r.links[strings.Join(stack, "/")]
		if !ok {
			continue
		}
		if hops++; hops > maxLinkHops {
			return nil // a loop: the kernel stops with ELOOP, still inside
		}
		stack = stack[:len(stack)-1]
		pending = append(strings.Split(t, "/"), pending...)
		r.budget -= len(pending)
	}
	return nil
}
