package workdir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// A rule is one pattern line of a .gitignore or .rgridignore file, read
// the way git reads it (gitignore(5)):
//
//   - blank lines and lines starting with '#' are skipped; "\#" and "\!"
//     start a pattern with a literal '#' or '!';
//   - trailing spaces are dropped unless escaped ("a\ "), and so is a CR
//     before the newline and a UTF-8 byte-order mark;
//   - '!' negates: a path the pattern matches is sent after all;
//   - a trailing '/' matches directories only;
//   - a pattern with no other '/' matches a name at any depth below the
//     file's directory; one with a '/' (a leading one included) matches
//     the path relative to that directory;
//   - '*', '?', "[...]" and "**" as in git's wildmatch.
type rule struct {
	pattern  string // what wildmatch sees: no '!', no trailing '/', no leading '/'
	negate   bool
	dirOnly  bool
	basename bool   // no slash in the pattern: matched against the last name only
	base     string // the ignore file's directory, relative to the top ("" for the top)
	reason   string // ".gitignore line 3: `*.csv`", built once and shared
}

// maxIgnoreFile bounds what is read of one ignore file: no real one comes
// near it, and a runaway one should not take the scan's memory.
const maxIgnoreFile = 4 << 20

// parseIgnore reads the rules of one ignore file. source names the file
// in reasons (relative to the scanned directory, "data/.gitignore"); base
// is its directory relative to the top of the rules ("" for the top).
func parseIgnore(source, base string, data []byte) []rule {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var rules []rule
	for n, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, 0); i >= 0 {
			line = line[:i] // git reads a line as a C string
		}
		line = strings.TrimSuffix(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		line = trimTrailingSpaces(line)
		r := rule{base: base, reason: fmt.Sprintf("%s line %d: `%s`", source, n+1, line)}
		p := line
		if strings.HasPrefix(p, "!") {
			r.negate = true
			p = p[1:]
		}
		if strings.HasSuffix(p, "/") {
			r.dirOnly = true
			p = p[:len(p)-1]
		}
		r.basename = !strings.Contains(p, "/")
		p = strings.TrimPrefix(p, "/")
		if p == "" {
			continue // "/", "!" and the like match nothing in git either
		}
		r.pattern = p
		rules = append(rules, r)
	}
	return rules
}

// trimTrailingSpaces drops the unescaped spaces ending line, as git's
// trim_trailing_spaces does.
func trimTrailingSpaces(line string) string {
	lastSpace := -1
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case ' ':
			if lastSpace < 0 {
				lastSpace = i
			}
		case '\\':
			i++
			if i == len(line) {
				return line
			}
			lastSpace = -1
		default:
			lastSpace = -1
		}
	}
	if lastSpace >= 0 {
		return line[:lastSpace]
	}
	return line
}

// match reports whether the rule matches full, a slash path relative to
// the top of the rules; the caller passes only rules whose base holds it.
func (r *rule) match(full string, isDir bool) bool {
	if r.dirOnly && !isDir {
		return false
	}
	if r.basename {
		return wildmatch(r.pattern, path.Base(full))
	}
	rel := full
	if r.base != "" {
		rel = strings.TrimPrefix(full, r.base+"/")
	}
	return wildmatch(r.pattern, rel)
}

// lastMatch finds the rule that decides for full among rule lists given
// from the outermost directory inwards: the last matching line of the
// innermost file that has one, as git decides.
func lastMatch(lists [][]rule, full string, isDir bool) *rule {
	for i := len(lists) - 1; i >= 0; i-- {
		rs := lists[i]
		for j := len(rs) - 1; j >= 0; j-- {
			if rs[j].match(full, isDir) {
				return &rs[j]
			}
		}
	}
	return nil
}

// parentRules reads the .gitignore files above root, from the top of the
// git work tree it is in down to its parent, as git would apply them.
func (s *scanner) parentRules() ([][]rule, error) {
	if _, err := os.Lstat(filepath.Join(s.abs, ".git")); err == nil {
		return nil, nil
	}
	var chain []string // root's parents, innermost first, up to the work tree's top
	top := ""
	for d := filepath.Dir(s.abs); ; d = filepath.Dir(d) {
		chain = append(chain, d)
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			top = d
			break
		}
		if filepath.Dir(d) == d {
			return nil, nil // not in a git work tree: no parent's .gitignore applies
		}
	}
	rel, err := filepath.Rel(top, s.abs)
	if err != nil {
		return nil, err
	}
	s.prefix = filepath.ToSlash(rel)
	var lists [][]rule
	for i := len(chain) - 1; i >= 0; i-- {
		d := chain[i]
		f := filepath.Join(d, ".gitignore")
		fi, err := os.Lstat(f)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		data, err := readBounded(os.Open(f))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		base, _ := filepath.Rel(top, d)
		source, _ := filepath.Rel(s.abs, f)
		lists = append(lists, parseIgnore(filepath.ToSlash(source), slashBase(base), data))
	}
	return lists, nil
}

func slashBase(rel string) string {
	rel = filepath.ToSlash(rel)
	if rel == "." {
		return ""
	}
	return rel
}

func readBounded(f *os.File, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIgnoreFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxIgnoreFile {
		return nil, fmt.Errorf("larger than %d MiB: not an ignore file rgrid reads", maxIgnoreFile>>20)
	}
	return data, nil
}

// full is rel as the rules see it: relative to the top of the work tree.
func (s *scanner) full(rel string) string {
	if s.prefix == "" {
		return rel
	}
	return s.prefix + "/" + rel
}

// readRules reads one ignore file of the directory rel, if it is a
// regular file (git, too, does not follow a symlinked .gitignore).
func (s *scanner) readRules(rel, name string) ([]rule, error) {
	p := path.Join(rel, name)
	data, err := readBounded(s.root.Open(filepath.FromSlash(p)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // removed since the listing
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return parseIgnore(p, s.full(rel), data), nil
}

// decide applies the ignore rules in their order (see Scan). A directory
// that no rule leaves out may still be a Python environment, which the
// built-ins leave out before .gitignore is read: checkEnv says to tell
// by what the directory holds when it is listed (its listing has the
// names, so no lstat is spent on it here).
func (s *scanner) decide(rel string, isDir bool, git, rgrid [][]rule) (excluded bool, reason string, checkEnv bool) {
	full := s.full(rel)
	if r := lastMatch(rgrid, full, isDir); r != nil {
		return !r.negate, r.reason, false
	}
	if reason := builtin(rel, isDir); reason != "" {
		return true, reason, false
	}
	r := lastMatch(git, full, isDir)
	if r != nil && !r.negate {
		if isDir {
			if reason := envMarker(s.root, rel, nil); reason != "" {
				return true, reason, false // the built-in's reason comes first
			}
		}
		return true, r.reason, false
	}
	if r != nil {
		reason = r.reason
	}
	return false, reason, isDir
}
