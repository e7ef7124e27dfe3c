package deps

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ParseRequirements reads a requirements.txt. source names the file in
// messages. Comments, blank lines, backslash continuations and CRLF are
// handled as pip handles them; every other line must be a PEP 508
// requirement by name. All refused lines are reported together in an
// *InvalidError.
func ParseRequirements(source string, data []byte) (Set, error) {
	var reqs []requirement
	var problems []Problem
	for _, l := range logicalLines(string(data)) {
		r, msg := checkLine(l.text)
		if msg != "" {
			problems = append(problems, Problem{Source: source, Line: l.number, Text: l.text, Message: msg})
			continue
		}
		reqs = append(reqs, r)
	}
	if len(problems) > 0 {
		return Set{}, &InvalidError{Problems: problems}
	}
	return newSet(reqs), nil
}

type logicalLine struct {
	number int // the first physical line
	text   string
}

// logicalLines follows pip's req_file: a line ending in a backslash
// continues on the next unless it is a comment line; a comment starts at
// a "#" that begins the line or follows whitespace. Empty results are
// dropped.
func logicalLines(data string) []logicalLine {
	data = strings.TrimPrefix(data, "\ufeff")
	var out []logicalLine
	var joined strings.Builder
	first := 0
	emit := func(number int, text string) {
		if text = strings.TrimSpace(stripComment(text)); text != "" {
			out = append(out, logicalLine{number, text})
		}
	}
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimSuffix(line, "\r")
		comment := isCommentLine(line)
		if strings.HasSuffix(line, `\`) && !comment {
			if joined.Len() == 0 {
				first = i + 1
			}
			joined.WriteString(strings.TrimRight(line, `\`))
			// An empty continued part still keeps the join open.
			if joined.Len() == 0 {
				joined.WriteString(" ")
			}
			continue
		}
		if comment {
			line = " " + line // so that the comment is cut once joined
		}
		if joined.Len() > 0 {
			joined.WriteString(line)
			emit(first, joined.String())
			joined.Reset()
			continue
		}
		emit(i+1, line)
	}
	if joined.Len() > 0 {
		emit(first, joined.String())
	}
	return out
}

// isSpace is Python's \s for ASCII, which pip's comment pattern uses.
func isSpace(c byte) bool { return strings.IndexByte(" \t\n\r\f\v", c) >= 0 }

func isCommentLine(line string) bool {
	return strings.HasPrefix(strings.TrimLeft(line, " \t\n\r\f\v"), "#")
}

func stripComment(line string) string {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || isSpace(line[i-1])) {
			return line[:i]
		}
	}
	return line
}

var (
	urlRE = regexp.MustCompile(`(?i)://|^(file:|git\+|hg\+|svn\+|bzr\+)`)
	// pip treats a line with one of these endings as an archive file.
	archiveSuffixes = []string{".whl", ".zip", ".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz",
		".tar.xz", ".txz", ".tlz", ".tar.lz", ".tar.lzma"}
)

// checkLine validates one logical line (or one inline dependency string)
// and returns the requirement, or the message saying why it is refused.
func checkLine(text string) (requirement, string) {
	if strings.HasPrefix(text, "-") {
		return requirement{}, optionMessage(text)
	}
	if strings.Contains(text, "${") {
		// pip would expand it from the worker's environment.
		return requirement{}, msgEnvVar
	}
	// pip cuts a line at the first space-separated word starting with "-"
	// and reads the rest as options; refuse such lines rather than write
	// one that pip would read differently.
	for _, w := range strings.Split(text, " ")[1:] {
		if strings.HasPrefix(w, "-") {
			return requirement{}, msgReqOption
		}
	}
	if stripComment(text) != text {
		// Only an inline dependency string gets here with a comment: pip
		// would cut the line we write for it.
		return requirement{}, fmt.Sprintf(msgMalformed, `a "#" at the start or after a space begins a comment`)
	}
	head, _, _ := strings.Cut(text, ";")
	head = strings.TrimSpace(head)
	if urlRE.MatchString(head) {
		return requirement{}, msgURL
	}
	if looksLikePath(head) {
		return requirement{}, msgLocalPath
	}
	r, err := parseRequirement(text)
	if errors.Is(err, errDirectReference) {
		return requirement{}, msgURL
	}
	if err != nil {
		return requirement{}, fmt.Sprintf(msgMalformed, err)
	}
	return r, ""
}

func looksLikePath(head string) bool {
	if strings.HasPrefix(head, ".") || strings.HasPrefix(head, "~") || strings.ContainsAny(head, `/\`) {
		return true
	}
	lower := strings.ToLower(head)
	for _, s := range archiveSuffixes {
		if strings.HasSuffix(lower, s) {
			return true
		}
	}
	return false
}

// longOptions are the pip options with a message of their own; any other
// option gets msgOption.
var longOptions = []struct{ name, msg string }{
	{"--index-url", msgIndex},
	{"--extra-index-url", msgIndex},
	{"--no-index", msgIndex},
	{"--find-links", msgIndex},
	{"--trusted-host", msgTrustedHost},
	{"--editable", msgEditable},
	{"--requirement", msgInclude},
	{"--constraint", msgInclude},
	// Listed so that an abbreviation shared with them stays ambiguous.
	{"--no-binary", msgOption},
	{"--only-binary", msgOption},
	{"--prefer-binary", msgOption},
	{"--pre", msgOption},
	{"--require-hashes", msgOption},
	{"--hash", msgOption},
	{"--use-feature", msgOption},
	{"--config-settings", msgOption},
	{"--global-option", msgOption},
}

var shortOptions = map[string]string{
	"-i": msgIndex, "-f": msgIndex, "-e": msgEditable, "-r": msgInclude, "-c": msgInclude,
}

func optionMessage(text string) string {
	name := text
	if i := strings.IndexAny(name, " \t="); i >= 0 {
		name = name[:i]
	}
	if !strings.HasPrefix(name, "--") {
		if len(name) >= 2 {
			if msg, ok := shortOptions[name[:2]]; ok { // "-e." and "-ihttps://..." too
				return msg
			}
		}
		return msgOption
	}
	// pip (optparse) accepts an unambiguous prefix of a long option.
	for _, o := range longOptions {
		if o.name == name {
			return o.msg
		}
	}
	msg := ""
	for _, o := range longOptions {
		if len(name) > 2 && strings.HasPrefix(o.name, name) {
			if msg != "" && msg != o.msg {
				return msgOption
			}
			msg = o.msg
		}
	}
	if msg == "" {
		return msgOption
	}
	return msg
}
