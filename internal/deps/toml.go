package deps

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// This is the part of TOML 1.0 that PEP 723 needs, and strict about it:
// top-level dependencies (an array of strings) and requires-python (a
// string), and [tool] tables, whose values are read only far enough to
// skip them (strings, arrays and inline tables must close; scalars are
// checked loosely). Anything else is an error rather than a guess.

type tomlString struct {
	value string
	line  int // 0-based line of the opening quote
}

type scriptMetadata struct {
	dependencies   []tomlString
	requiresPython *tomlString
}

type tomlError struct {
	line int // 0-based
	msg  string
}

type tomlValue struct {
	str     *tomlString // set for a string
	isArray bool
	elems   []tomlValue
}

type tomlParser struct {
	s        string
	i        int
	newlines []int // offsets of "\n", to turn an offset into a line
}

func (p *tomlParser) lineAt(offset int) int { return sort.SearchInts(p.newlines, offset) }

func (p *tomlParser) errorf(format string, args ...any) *tomlError {
	return &tomlError{line: p.lineAt(p.i), msg: fmt.Sprintf(format, args...)}
}

func parseScriptTOML(s string) (scriptMetadata, *tomlError) {
	p := &tomlParser{s: s}
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			p.newlines = append(p.newlines, i)
		}
	}
	var meta scriptMetadata
	if !utf8.ValidString(s) {
		for p.i < len(s) {
			r, n := utf8.DecodeRuneInString(s[p.i:])
			if r == utf8.RuneError && n == 1 {
				return meta, p.errorf("not valid UTF-8")
			}
			p.i += n
		}
	}
	inTool, seenDeps := false, false
	for {
		p.skipSpace()
		if p.i >= len(s) {
			return meta, nil
		}
		switch s[p.i] {
		case '\n':
			p.i++
			continue
		case '#':
			if err := p.endOfLine(); err != nil {
				return meta, err
			}
			continue
		case '[':
			p.i++
			array := p.i < len(s) && s[p.i] == '['
			if array {
				p.i++
			}
			key, err := p.key()
			if err != nil {
				return meta, err
			}
			closing := "]"
			if array {
				closing = "]]"
			}
			if p.skipSpace(); !strings.HasPrefix(s[p.i:], closing) {
				return meta, p.errorf("expected %q to close the table header", closing)
			}
			p.i += len(closing)
			if key[0] != "tool" {
				return meta, p.errorf("[%s] is not a script metadata table; only [tool] tables may follow dependencies and requires-python", strings.Join(key, "."))
			}
			inTool = true
			if err := p.endOfLine(); err != nil {
				return meta, err
			}
			continue
		}
		keyLine := p.lineAt(p.i)
		key, err := p.key()
		if err != nil {
			return meta, err
		}
		if p.skipSpace(); p.i >= len(s) || s[p.i] != '=' {
			return meta, p.errorf(`expected "=" after the key %q`, strings.Join(key, "."))
		}
		p.i++
		p.skipSpace()
		v, err := p.value()
		if err != nil {
			return meta, err
		}
		if err := p.endOfLine(); err != nil {
			return meta, err
		}
		if inTool || key[0] == "tool" {
			continue
		}
		name := strings.Join(key, ".")
		switch {
		case name == "dependencies" && !seenDeps:
			seenDeps = true
			if !v.isArray {
				return meta, &tomlError{keyLine, `dependencies must be an array of strings, e.g. dependencies = ["numpy>=1.26"]`}
			}
			for _, e := range v.elems {
				if e.str == nil {
					return meta, &tomlError{keyLine, `every dependency must be a string, e.g. dependencies = ["numpy>=1.26"]`}
				}
				meta.dependencies = append(meta.dependencies, *e.str)
			}
		case name == "requires-python" && meta.requiresPython == nil:
			if v.str == nil {
				return meta, &tomlError{keyLine, `requires-python must be a string, e.g. requires-python = ">=3.11"`}
			}
			meta.requiresPython = v.str
		case name == "dependencies" || name == "requires-python":
			return meta, &tomlError{keyLine, fmt.Sprintf("%s is set twice", name)}
		default:
			return meta, &tomlError{keyLine, fmt.Sprintf("unknown field %q; script metadata has dependencies, requires-python and [tool] tables", name)}
		}
	}
}

func (p *tomlParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// skipBlank skips spaces, newlines and comments, as allowed inside arrays.
func (p *tomlParser) skipBlank() *tomlError {
	for {
		p.skipSpace()
		switch {
		case p.i < len(p.s) && p.s[p.i] == '\n':
			p.i++
		case p.i < len(p.s) && p.s[p.i] == '#':
			if err := p.endOfLine(); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// endOfLine accepts spaces, a comment and the newline (or the end).
func (p *tomlParser) endOfLine() *tomlError {
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == '#' {
		for p.i < len(p.s) && p.s[p.i] != '\n' {
			if isControl(rune(p.s[p.i])) {
				return p.errorf("control character in a comment")
			}
			p.i++
		}
	}
	if p.i < len(p.s) && p.s[p.i] != '\n' {
		return p.errorf("expected the end of the line at %q", p.lineRest())
	}
	if p.i < len(p.s) {
		p.i++
	}
	return nil
}

func (p *tomlParser) lineRest() string {
	rest, _, _ := strings.Cut(p.s[p.i:], "\n")
	return rest
}

func isControl(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }

func isBareKeyChar(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

// key reads a dotted key: bare or quoted parts separated by dots.
func (p *tomlParser) key() ([]string, *tomlError) {
	var parts []string
	for {
		p.skipSpace()
		var part string
		switch {
		case p.i < len(p.s) && (p.s[p.i] == '"' || p.s[p.i] == '\''):
			if strings.HasPrefix(p.s[p.i:], `"""`) || strings.HasPrefix(p.s[p.i:], `'''`) {
				return nil, p.errorf("a key cannot be a multi-line string")
			}
			s, err := p.str()
			if err != nil {
				return nil, err
			}
			part = s.value
		default:
			start := p.i
			for p.i < len(p.s) && isBareKeyChar(p.s[p.i]) {
				p.i++
			}
			if p.i == start {
				return nil, p.errorf("expected a key at %q", p.lineRest())
			}
			part = p.s[start:p.i]
		}
		parts = append(parts, part)
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != '.' {
			return parts, nil
		}
		p.i++
	}
}

func (p *tomlParser) value() (tomlValue, *tomlError) {
	if p.i >= len(p.s) {
		return tomlValue{}, p.errorf("expected a value")
	}
	switch p.s[p.i] {
	case '"', '\'':
		s, err := p.str()
		return tomlValue{str: &s}, err
	case '[':
		p.i++
		v := tomlValue{isArray: true}
		for {
			if err := p.skipBlank(); err != nil {
				return v, err
			}
			if p.i < len(p.s) && p.s[p.i] == ']' {
				p.i++
				return v, nil
			}
			e, err := p.value()
			if err != nil {
				return v, err
			}
			v.elems = append(v.elems, e)
			if err := p.skipBlank(); err != nil {
				return v, err
			}
			switch {
			case p.i < len(p.s) && p.s[p.i] == ',':
				p.i++
			case p.i < len(p.s) && p.s[p.i] == ']':
				p.i++
				return v, nil
			default:
				return v, p.errorf(`expected "," or "]" in the array at %q`, p.lineRest())
			}
		}
	case '{':
		return tomlValue{}, p.inlineTable()
	}
	return tomlValue{}, p.scalar()
}

// inlineTable skips "{ key = value, ... }" on one line.
func (p *tomlParser) inlineTable() *tomlError {
	p.i++
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return nil
	}
	for {
		if _, err := p.key(); err != nil {
			return err
		}
		if p.skipSpace(); p.i >= len(p.s) || p.s[p.i] != '=' {
			return p.errorf(`expected "=" in the inline table at %q`, p.lineRest())
		}
		p.i++
		p.skipSpace()
		if _, err := p.value(); err != nil {
			return err
		}
		p.skipSpace()
		switch {
		case p.i < len(p.s) && p.s[p.i] == ',':
			p.i++
		case p.i < len(p.s) && p.s[p.i] == '}':
			p.i++
			return nil
		default:
			return p.errorf(`expected "," or "}" in the inline table at %q`, p.lineRest())
		}
	}
}

// scalar skips a number, boolean or date-time: their characters only, and
// a space inside a date-time ("1979-05-27 07:32:00").
func (p *tomlParser) scalar() *tomlError {
	isScalarChar := func(c byte) bool { return isAlnum(c) || strings.IndexByte("_+-.:", c) >= 0 }
	start := p.i
	for p.i < len(p.s) && isScalarChar(p.s[p.i]) {
		p.i++
	}
	word := p.s[start:p.i]
	if len(word) == 10 && word[4] == '-' && word[7] == '-' &&
		p.i+1 < len(p.s) && p.s[p.i] == ' ' && p.s[p.i+1] >= '0' && p.s[p.i+1] <= '9' {
		p.i++
		for p.i < len(p.s) && isScalarChar(p.s[p.i]) {
			p.i++
		}
	}
	switch {
	case word == "":
		return p.errorf("expected a value at %q", p.lineRest())
	case word == "true" || word == "false" || strings.TrimLeft(word, "+-") == "inf" || strings.TrimLeft(word, "+-") == "nan":
		return nil
	case strings.IndexByte("0123456789+-", word[0]) >= 0:
		return nil
	}
	return p.errorf("%q is not a TOML value (strings need quotes)", word)
}
