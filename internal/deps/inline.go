package deps

import (
	"fmt"
	"regexp"
	"strings"
)

// metadataBlockRE is the reference regular expression of PEP 723.
var metadataBlockRE = regexp.MustCompile(`(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$`)

// ParseInlineMetadata reads the PEP 723 "# /// script" block of a script.
// scriptName names the script in messages ("inline metadata in train.py").
// found is false when there is no block. Blocks are found exactly as the
// PEP's regular expression finds them (in a docstring too); a second
// script block, and a "# /// script" line that opens no block, are errors.
// The block's TOML (read by github.com/BurntSushi/toml) may hold
// dependencies (an array of strings, each checked like a requirements.txt
// line), requires-python (a version specifier, returned normalized) and
// [tool] tables, which are skipped. Problems come as an *InvalidError whose
// line numbers are the script's.
func ParseInlineMetadata(scriptName string, script []byte) (deps Set, requiresPython string, found bool, err error) {
	source := "inline metadata in " + scriptName
	// Python reads the script with universal newlines before matching.
	text := strings.ReplaceAll(string(script), "\r\n", "\n")
	lines := strings.Split(text, "\n")
	lineOf := func(offset int) int { return strings.Count(text[:offset], "\n") + 1 }
	fail := func(line int, msg string) (Set, string, bool, error) {
		p := Problem{Source: source, Line: line, Text: lines[line-1], Message: msg}
		return Set{}, "", true, &InvalidError{Problems: []Problem{p}}
	}

	matches := metadataBlockRE.FindAllStringSubmatchIndex(text, -1)
	var block []int
	for _, m := range matches {
		if text[m[2]:m[3]] != "script" {
			continue
		}
		if block != nil {
			return fail(lineOf(m[0]), fmt.Sprintf("a second script metadata block (the first is on line %d); PEP 723 allows one", lineOf(block[0])))
		}
		block = m
	}
	if line := unclosedOpener(text, matches); line > 0 {
		return fail(line, `this "# /// script" opens no metadata block: end the block with a line "# ///" and start every line inside it with "#"`)
	}
	if block == nil {
		return Set{}, "", false, nil
	}

	// Line i of the TOML is line first+i-1 of the script.
	first := lineOf(block[0]) + 1
	var content strings.Builder
	for _, l := range strings.SplitAfter(text[block[4]:block[5]], "\n") {
		if strings.HasPrefix(l, "# ") {
			content.WriteString(l[2:])
		} else if l != "" {
			content.WriteString(l[1:])
		}
	}
	meta, tomlProblems := readScriptTOML(content.String())
	var problems []Problem
	for _, tp := range tomlProblems {
		line := first + tp.line - 1
		problems = append(problems, Problem{Source: source, Line: line, Text: lines[line-1],
			Message: "the script metadata is not valid: " + tp.msg})
	}
	if len(problems) > 0 {
		return Set{}, "", true, &InvalidError{Problems: problems}
	}

	var reqs []requirement
	for _, d := range meta.dependencies {
		r, msg := checkLine(d.value)
		if msg != "" {
			problems = append(problems, Problem{Source: source, Line: first + d.line - 1, Text: d.value, Message: msg})
			continue
		}
		reqs = append(reqs, r)
	}
	if rp := meta.requiresPython; rp != nil {
		norm, err := parseSpecifierSet(rp.value)
		if err != nil {
			problems = append(problems, Problem{Source: source, Line: first + rp.line - 1, Text: rp.value,
				Message: fmt.Sprintf(`requires-python is not a version specifier (PEP 440): %v; e.g. ">=3.11"`, err)})
		}
		requiresPython = norm
	}
	if len(problems) > 0 {
		return Set{}, "", true, &InvalidError{Problems: problems}
	}
	return newSet(reqs), requiresPython, true, nil
}

// unclosedOpener returns the line of a "# /// script" line that lies in no
// matched block of any type, or 0. Without this check a block with a typo
// in its closing line would be ignored silently and the script would fail
// later on a missing module.
func unclosedOpener(text string, matches [][]int) int {
	offset := 0
	for i, l := range strings.SplitAfter(text, "\n") {
		if strings.TrimSuffix(l, "\n") == "# /// script" {
			inside := false
			for _, m := range matches {
				if offset >= m[0] && offset < m[1] {
					inside = true
					break
				}
			}
			if !inside {
				return i + 1
			}
		}
		offset += len(l)
	}
	return 0
}
