package cli

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// What a batch is made of: the files a --batch glob matches, the indexes
// an --array spec names, and the folder each item's outputs go to.

// maxArrayItems bounds an --array spec before anything is allocated; the
// server has its own, usually lower, limit (rgrid server --max-batch-items).
const maxArrayItems = 1_000_000

const arrayExample = "e.g. --array 0-99, --array 1-200:2 or --array 3,5,7"

// parseArraySpec reads an --array spec: comma-separated indexes and
// ranges FIRST-LAST (inclusive) with an optional :STEP, as Slurm's
// --array takes them. Indexes are non-negative; each is given once.
func parseArraySpec(spec string) ([]int, error) {
	bad := func(format string, args ...any) error {
		return userErr("write "+arrayExample, "--array %q: %s", spec, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(spec) == "" {
		return nil, bad("empty")
	}
	var out []int
	seen := map[int]bool{}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, bad("an empty element between commas")
		}
		rng, stepText, hasStep := strings.Cut(part, ":")
		first, last, isRange := strings.Cut(rng, "-")
		lo, err := arrayNumber(first)
		if err != nil {
			return nil, bad("%q is not a non-negative index", first)
		}
		hi, step := lo, 1
		if isRange {
			if hi, err = arrayNumber(last); err != nil {
				return nil, bad("%q is not a non-negative index", last)
			}
			if hi < lo {
				return nil, bad("the range %s ends before it starts", rng)
			}
		}
		if hasStep {
			if !isRange {
				return nil, bad("a step (:%s) needs a range, e.g. 1-200:2", stepText)
			}
			if step, err = arrayNumber(stepText); err != nil || step == 0 {
				return nil, bad("the step %q is not a positive number", stepText)
			}
		}
		if (hi-lo)/step+1+len(out) > maxArrayItems {
			return nil, bad("more than %d items", maxArrayItems)
		}
		for i := lo; i <= hi; i += step {
			if seen[i] {
				return nil, bad("the index %d is given twice", i)
			}
			seen[i] = true
			out = append(out, i)
		}
	}
	return out, nil
}

// arrayNumber is a decimal index of at most 9 digits (no sign, no spaces).
func arrayNumber(s string) (int, error) {
	if s == "" || len(s) > 9 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("not an index: %q", s)
	}
	return strconv.Atoi(s)
}

// expandBatchGlob lists the regular files matching pattern, relative to
// dir, in sorted order. The pattern has filepath.Match's syntax in each
// path element, and an element "**" matches any number of directories
// (none included). Hidden files match only a pattern element that starts
// with a dot, as in a shell.
func expandBatchGlob(dir, pattern string) ([]string, error) {
	pat := path.Clean(filepath.ToSlash(pattern))
	if path.IsAbs(pat) || !filepath.IsLocal(filepath.FromSlash(pat)) {
		return nil, userErr("write the pattern relative to the working directory, e.g. 'data/*.csv'",
			"--batch %q reaches outside the working directory", pattern)
	}
	segs := strings.Split(pat, "/")
	for _, s := range segs {
		if _, err := path.Match(s, ""); err != nil {
			return nil, userErr("write a glob such as 'data/*.csv' or 'data/**/*.json'", "--batch %q: %v", pattern, err)
		}
	}
	// Walk only below the part of the pattern without wildcards.
	fixed := 0
	for fixed < len(segs)-1 && !hasMeta(segs[fixed]) {
		fixed++
	}
	base := path.Join(segs[:fixed]...)
	rest := segs[fixed:]
	var out []string
	start := filepath.Join(dir, filepath.FromSlash(base))
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && os.IsNotExist(err) {
				return fs.SkipAll
			}
			return err
		}
		rel, err := filepath.Rel(start, p)
		if err != nil || rel == "." {
			return err
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if d.IsDir() {
			if !prefixCanMatch(rest, parts) {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && globMatch(rest, parts) {
			out = append(out, path.Join(base, filepath.ToSlash(rel)))
		}
		return nil
	})
	if err != nil {
		return nil, userErr("check the directory's permissions", "--batch %q: %v", pattern, err)
	}
	if len(out) == 0 {
		return nil, userErr("check the pattern and the directory rgrid runs from ("+cwd()+"); quote it so the shell does not expand it, e.g. --batch 'data/*.csv'",
			"--batch %q matches no file", pattern)
	}
	slices.Sort(out)
	return out, nil
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// globMatch matches path elements against pattern elements, "**" taking
// any number of elements.
func globMatch(pat, parts []string) bool {
	if len(pat) == 0 {
		return len(parts) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(parts); i++ {
			if i > 0 && strings.HasPrefix(parts[i-1], ".") {
				return false // ** does not descend into hidden directories
			}
			if globMatch(pat[1:], parts[i:]) {
				return true
			}
		}
		return false
	}
	if len(parts) == 0 || !elementMatch(pat[0], parts[0]) {
		return false
	}
	return globMatch(pat[1:], parts[1:])
}

// prefixCanMatch: could a path below the directory parts still match pat?
func prefixCanMatch(pat, parts []string) bool {
	if len(parts) == 0 {
		return true
	}
	if len(pat) == 0 {
		return false
	}
	if pat[0] == "**" {
		if strings.HasPrefix(parts[0], ".") {
			return prefixCanMatch(pat[1:], parts)
		}
		return prefixCanMatch(pat, parts[1:]) || prefixCanMatch(pat[1:], parts)
	}
	return elementMatch(pat[0], parts[0]) && prefixCanMatch(pat[1:], parts[1:])
}

func elementMatch(pat, name string) bool {
	if strings.HasPrefix(name, ".") && !strings.HasPrefix(pat, ".") {
		return false
	}
	ok, _ := path.Match(pat, name)
	return ok
}

// itemFolders names each item's outputs folder: its input's base name
// (data/a.csv → a.csv); base names that more than one input shares are
// the whole path with "/" written "_" instead (data/a.csv → data_a.csv),
// and a name that still collides, or that is no safe folder name, is
// item-INDEX. inputs[i] is the input of the item with index i; an array
// item's input is its index.
func itemFolders(inputs []string) []string {
	count := map[string]int{}
	for _, in := range inputs {
		count[path.Base(in)]++
	}
	out := make([]string, len(inputs))
	used := map[string]bool{}
	for i, in := range inputs {
		name := path.Base(in)
		if count[name] > 1 {
			name = strings.ReplaceAll(path.Clean(in), "/", "_")
		}
		if !safeFolder(name) || used[name] {
			name = "item-" + strconv.Itoa(i)
			for n := 2; used[name]; n++ {
				name = "item-" + strconv.Itoa(i) + "-" + strconv.Itoa(n)
			}
		}
		used[name] = true
		out[i] = name
	}
	return out
}

// safeFolder: name is one plain path element, printable, that is no
// special name on any system rgrid runs on.
func safeFolder(name string) bool {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\:`) || len(name) > 200 {
		return false
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
