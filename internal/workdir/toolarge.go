package workdir

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/rgrid/rgrid/internal/bytesize"
)

// listed is how many of the largest files and folders a TooLargeError names.
const listed = 5

// TooLargeError refuses a directory over a cap, before anything is read
// or sent, naming what takes the room so that the fix is one line of
// .rgridignore. (The worst complaints about Ray's and SkyPilot's uploads
// are a silent 413 on a huge .git and syncs of a quarter of an hour.)
type TooLargeError struct {
	Root            string
	Files, MaxFiles int
	Bytes, MaxBytes int64
	// The largest files, and the folders holding most bytes (or most
	// files, when the file cap is the one passed).
	LargestFiles []Sized
	LargestDirs  []Sized
}

// Sized is a file or folder with what it holds.
type Sized struct {
	Path  string
	Bytes int64
	Files int
}

type sized = Sized

// OverFiles reports whether the file count is what is over.
func (e *TooLargeError) OverFiles() bool { return e.Files > e.MaxFiles && e.Bytes <= e.MaxBytes }

func (e *TooLargeError) Error() string {
	if e.OverFiles() {
		return fmt.Sprintf("%s holds %s to send, more than the %s allowed",
			e.Root, plural(e.Files, "file", "files"), commas(e.MaxFiles))
	}
	return fmt.Sprintf("%s holds %s in %s to send, over the %s upload cap",
		e.Root, human(e.Bytes), plural(e.Files, "file", "files"), human(e.MaxBytes))
}

// Hint names the fixes, the largest folder first.
func (e *TooLargeError) Hint() string {
	ignore := "add what is not needed to .rgridignore"
	if len(e.LargestDirs) > 0 {
		ignore = fmt.Sprintf("add %s/ (or what else is not needed) to .rgridignore", displayPath(e.LargestDirs[0].Path))
	} else if len(e.LargestFiles) > 0 {
		ignore = fmt.Sprintf("add %s (or what else is not needed) to .rgridignore", displayPath(e.LargestFiles[0].Path))
	}
	if e.OverFiles() {
		return ignore + ", or send the script alone with --no-workdir"
	}
	return fmt.Sprintf("%s, raise the cap with --max-upload %s, or send the script alone with --no-workdir", ignore, roundUp(e.Bytes))
}

// Listing is the largest folders and files, one per line, for the CLI to
// print between the error and the hint.
func (e *TooLargeError) Listing() string {
	var b strings.Builder
	col := func(s Sized) string {
		if e.OverFiles() {
			return commas(s.Files) + " files"
		}
		return human(s.Bytes)
	}
	write := func(title string, list []Sized, suffix string) {
		if len(list) == 0 {
			return
		}
		b.WriteString(title + ":\n")
		w := 0
		for _, s := range list {
			w = max(w, len(col(s)))
		}
		for _, s := range list {
			fmt.Fprintf(&b, "  %*s  %s%s\n", w, col(s), displayPath(s.Path), suffix)
		}
	}
	write("Largest folders", e.LargestDirs, "/")
	if !e.OverFiles() {
		write("Largest files", e.LargestFiles, "")
	}
	return b.String()
}

// human writes a size for people: bytesize.Format, with fractional GiB
// too (it writes 2.5 GiB as 2560.0 MiB).
func human(n int64) string {
	if n >= 1<<30 && n%(1<<30) != 0 {
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return bytesize.Format(n)
}

// roundUp is a --max-upload value just above n: 150 MiB -> 150m, 2.3 GiB -> 3g.
func roundUp(n int64) string {
	if n < 1<<30 {
		return strconv.FormatInt((n+1<<20-1)>>20, 10) + "m"
	}
	return strconv.FormatInt((n+1<<30-1)>>30, 10) + "g"
}

func commas(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// keepLargest keeps the n largest files seen, largest first (by path
// among equals, so the listing is stable).
func keepLargest(top []sized, s sized, n int) []sized {
	i, _ := slices.BinarySearchFunc(top, s, func(a, b sized) int {
		if a.Bytes != b.Bytes {
			if a.Bytes > b.Bytes {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Path, b.Path)
	})
	if i >= n {
		return top
	}
	top = slices.Insert(top, i, s)
	if len(top) > n {
		top = top[:n]
	}
	return top
}

func (s *scanner) tooLarge() *TooLargeError {
	e := &TooLargeError{
		Root: s.abs, Files: s.plan.Files, MaxFiles: s.opts.MaxFiles,
		Bytes: s.plan.Bytes, MaxBytes: s.opts.MaxBytes,
		LargestFiles: slices.Clone(s.top),
	}
	weight := func(d *dirSize) int64 { return d.bytes }
	if e.OverFiles() {
		weight = func(d *dirSize) int64 { return int64(d.files) }
	}
	e.LargestDirs = largestDirs(s.dirs, weight, listed)
	return e
}

// largestDirs picks the n folders that weigh most, going down from a heavy
// folder into the child that holds most of it (80% or more), so that the
// listing names data/raw/ rather than just src/, and never listing a
// folder together with one inside it.
func largestDirs(dirs map[string]*dirSize, weight func(*dirSize) int64, n int) []Sized {
	children := map[string][]string{}
	var all []string
	for d := range dirs {
		if d == "." {
			continue
		}
		all = append(all, d)
		children[path.Dir(d)] = append(children[path.Dir(d)], d)
	}
	byWeight := func(a, b string) int {
		wa, wb := weight(dirs[a]), weight(dirs[b])
		if wa != wb {
			if wa > wb {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	}
	slices.SortFunc(all, byWeight)
	related := func(a, b string) bool {
		return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
	}
	var picked []Sized
	for _, d := range all {
		if len(picked) == n {
			break
		}
		for {
			kids := children[d]
			if len(kids) == 0 {
				break
			}
			heaviest := slices.MinFunc(kids, byWeight)
			if weight(dirs[heaviest])*5 < weight(dirs[d])*4 {
				break
			}
			d = heaviest
		}
		if slices.ContainsFunc(picked, func(p Sized) bool { return related(p.Path, d) }) {
			continue
		}
		picked = append(picked, Sized{Path: d, Bytes: dirs[d].bytes, Files: dirs[d].files})
	}
	return picked
}

// displayPath quotes a path that holds anything a terminal would not show
// as itself (control characters, odd spaces), so that a file name cannot
// rewrite what the user reads.
func displayPath(p string) string {
	for _, r := range p {
		if !unicode.IsPrint(r) || r == '"' || r == '`' {
			return strconv.Quote(p)
		}
	}
	if strings.TrimSpace(p) != p {
		return strconv.Quote(p)
	}
	return p
}
