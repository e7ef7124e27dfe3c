package deps

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// str reads a TOML string of any of the four kinds: basic "...", literal
// '...', and their multi-line forms, which triple the quotes.
func (p *tomlParser) str() (tomlString, *tomlError) {
	line := p.lineAt(p.i)
	q := p.s[p.i]
	quote := string(q)
	multi := strings.HasPrefix(p.s[p.i:], strings.Repeat(quote, 3))
	if multi {
		p.i += 3
		if p.i < len(p.s) && p.s[p.i] == '\n' {
			p.i++ // a newline right after the opening quotes is not content
		}
	} else {
		p.i++
	}
	var b strings.Builder
	for {
		if p.i >= len(p.s) {
			return tomlString{}, &tomlError{line, "a string is not closed"}
		}
		c := p.s[p.i]
		switch {
		case c == q && !multi:
			p.i++
			return tomlString{value: b.String(), line: line}, nil
		case c == q:
			n := 0
			for p.i+n < len(p.s) && p.s[p.i+n] == q {
				n++
			}
			if n > 5 {
				return tomlString{}, p.errorf("too many quotes closing a multi-line string")
			}
			if n >= 3 {
				// Up to two quotes before the closing three are content.
				b.WriteString(strings.Repeat(quote, n-3))
				p.i += n
				return tomlString{value: b.String(), line: line}, nil
			}
			b.WriteString(strings.Repeat(quote, n))
			p.i += n
		case c == '\n' && !multi:
			return tomlString{}, &tomlError{line, "a string is not closed on its line"}
		case c == '\n':
			b.WriteByte('\n')
			p.i++
		case c == '\\' && q == '"':
			if multi && p.lineEndingBackslash() {
				continue
			}
			r, err := p.escape()
			if err != nil {
				return tomlString{}, err
			}
			b.WriteRune(r)
		default:
			r, n := utf8.DecodeRuneInString(p.s[p.i:])
			if isControl(r) {
				return tomlString{}, p.errorf("control character %U in a string (write it as an escape)", r)
			}
			b.WriteString(p.s[p.i : p.i+n])
			p.i += n
		}
	}
}

// lineEndingBackslash skips a backslash that ends a line of a multi-line
// basic string, with all the whitespace and newlines after it.
func (p *tomlParser) lineEndingBackslash() bool {
	j := p.i + 1
	for j < len(p.s) && (p.s[j] == ' ' || p.s[j] == '\t') {
		j++
	}
	if j >= len(p.s) || p.s[j] != '\n' {
		return false
	}
	for j < len(p.s) && (p.s[j] == ' ' || p.s[j] == '\t' || p.s[j] == '\n') {
		j++
	}
	p.i = j
	return true
}

var (
	simpleEscapes  = map[byte]rune{'b': '\b', 't': '\t', 'n': '\n', 'f': '\f', 'r': '\r', '"': '"', '\\': '\\'}
	unicodeEscapes = map[byte]int{'u': 4, 'U': 8} // number of hex digits
)

// escape reads one escape sequence of a basic string.
func (p *tomlParser) escape() (rune, *tomlError) {
	if p.i+1 >= len(p.s) {
		return 0, p.errorf("a string ends in a backslash")
	}
	c := p.s[p.i+1]
	if r, ok := simpleEscapes[c]; ok {
		p.i += 2
		return r, nil
	}
	digits := unicodeEscapes[c]
	if digits == 0 {
		return 0, p.errorf(`invalid escape "\%c" in a string`, c)
	}
	if p.i+2+digits > len(p.s) {
		return 0, p.errorf(`a "\%c" escape needs %d hex digits`, c, digits)
	}
	hex := p.s[p.i+2 : p.i+2+digits]
	n, err := strconv.ParseUint(hex, 16, 32)
	if err != nil || strings.ContainsAny(hex, "+-") || !utf8.ValidRune(rune(n)) {
		return 0, p.errorf(`"\%c%s" is not a Unicode scalar value`, c, hex)
	}
	p.i += 2 + digits
	return rune(n), nil
}
