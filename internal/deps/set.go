package deps

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// Set is a normalized set of requirements: the same packages written
// differently (case, "_" or "." for "-", spacing, order, comments, one
// line or two) give the same Set, and so the same Key.
//
// Requirements on the same package with the same marker are merged into
// one line, their extras and specifiers united: "numpy>=1.26" and
// "numpy<2" become "numpy<2,>=1.26", which is what pip makes of the two.
// With different markers they stay separate lines for pip's resolver.
// Version strings are lower-cased but not otherwise rewritten, so "1.0a1"
// and "1.0-alpha1" give different keys: a second build, never a wrong
// environment.
//
// The zero Set is empty.
type Set struct {
	reqs []requirement // merged, sorted by String
}

func newSet(reqs []requirement) Set {
	type group struct{ name, marker string }
	merged := map[group]*requirement{}
	for _, r := range reqs {
		g := group{r.name, r.marker}
		m, ok := merged[g]
		if !ok {
			c := requirement{name: r.name, marker: r.marker}
			m = &c
			merged[g] = m
		}
		m.extras = union(m.extras, r.extras)
		m.specifiers = union(m.specifiers, r.specifiers)
	}
	s := Set{reqs: make([]requirement, 0, len(merged))}
	for _, m := range merged {
		s.reqs = append(s.reqs, *m)
	}
	slices.SortFunc(s.reqs, func(a, b requirement) int { return strings.Compare(a.String(), b.String()) })
	return s
}

func union(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	u := slices.Concat(a, b)
	slices.Sort(u)
	return slices.Compact(u)
}

// Merge unites sets, as when a script has both a requirements.txt and
// inline metadata.
func Merge(sets ...Set) Set {
	var all []requirement
	for _, s := range sets {
		all = append(all, s.reqs...)
	}
	return newSet(all)
}

// Empty reports whether there is nothing to install.
func (s Set) Empty() bool { return len(s.reqs) == 0 }

// Lines returns one requirement per line, sorted: what pip is given. Each
// line parses back to itself.
func (s Set) Lines() []string {
	lines := make([]string, len(s.reqs))
	for i, r := range s.reqs {
		lines[i] = r.String()
	}
	return lines
}

// Key names the environment built from s on the runtime image: the hex
// SHA-256 of the image and the lines, so equal inputs share one cached
// environment whatever their spelling.
func (s Set) Key(image string) string {
	sum := sha256.Sum256([]byte(image + "\n" + strings.Join(s.Lines(), "\n")))
	return hex.EncodeToString(sum[:])
}
