package deps

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// markerVars are PEP 508's environment markers.
var markerVars = map[string]bool{
	"python_version": true, "python_full_version": true, "os_name": true,
	"sys_platform": true, "platform_release": true, "platform_system": true,
	"platform_version": true, "platform_machine": true,
	"platform_python_implementation": true, "implementation_name": true,
	"implementation_version": true, "extra": true,
}

type markerTokenKind int

const (
	tokVar markerTokenKind = iota
	tokString
	tokOp
	tokAnd
	tokOr
	tokOpen
	tokClose
)

type markerToken struct {
	kind markerTokenKind
	text string // canonical text: a string token carries its quotes
}

// parseMarker checks an environment marker against PEP 508's grammar and
// returns it with one space around operators and keywords, none inside
// parentheses, and strings in double quotes unless they hold one.
func parseMarker(s string) (string, error) {
	toks, err := tokenizeMarker(s)
	if err != nil {
		return "", err
	}
	if len(toks) == 0 {
		return "", fmt.Errorf("expected an environment marker after \";\"")
	}
	m := &markerParser{toks: toks}
	out, err := m.or()
	if err != nil {
		return "", err
	}
	if m.i < len(m.toks) {
		return "", fmt.Errorf("unexpected %q in the marker", m.toks[m.i].text)
	}
	return out, nil
}

func tokenizeMarker(s string) ([]markerToken, error) {
	var toks []markerToken
	p := &scanner{s: s}
	for p.skipSpace(); !p.done(); p.skipSpace() {
		c := p.s[p.i]
		switch {
		case c == '(':
			toks = append(toks, markerToken{tokOpen, "("})
			p.i++
		case c == ')':
			toks = append(toks, markerToken{tokClose, ")"})
			p.i++
		case c == '"' || c == '\'':
			end := strings.IndexByte(p.s[p.i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("the string %s is not closed", p.rest())
			}
			v := p.s[p.i+1 : p.i+1+end]
			if err := checkMarkerString(v); err != nil {
				return nil, err
			}
			q := `"`
			if strings.Contains(v, `"`) {
				q = `'`
			}
			toks = append(toks, markerToken{tokString, q + v + q})
			p.i += end + 2
		case startsOperator(p.rest()):
			op := ""
			for _, o := range operators {
				if strings.HasPrefix(p.rest(), o) {
					op = o
					break
				}
			}
			if op == "" {
				return nil, fmt.Errorf("unexpected %q in the marker", p.rest())
			}
			toks = append(toks, markerToken{tokOp, op})
			p.i += len(op)
		default:
			w := p.take(func(c byte) bool { return isAlnum(c) || c == '_' || c == '.' })
			switch {
			case w == "":
				return nil, fmt.Errorf("unexpected %q in the marker", p.rest())
			case w == "and":
				toks = append(toks, markerToken{tokAnd, w})
			case w == "or":
				toks = append(toks, markerToken{tokOr, w})
			case w == "in":
				toks = append(toks, markerToken{tokOp, w})
			case w == "not":
				p.skipSpace()
				if p.take(isAlnum) != "in" {
					return nil, fmt.Errorf(`expected "in" after "not" in the marker`)
				}
				toks = append(toks, markerToken{tokOp, "not in"})
			case markerVars[w]:
				toks = append(toks, markerToken{tokVar, w})
			default:
				return nil, fmt.Errorf("%q is not an environment marker (PEP 508 has python_version, sys_platform, platform_machine, ...)", w)
			}
		}
	}
	return toks, nil
}

// checkMarkerString refuses what no marker value holds and what would not
// survive being written back as a line: control characters, bad UTF-8.
func checkMarkerString(v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("the marker string %q is not valid UTF-8", v)
	}
	for _, r := range v {
		if r < ' ' && r != '\t' || r == 0x7f {
			return fmt.Errorf("the marker string %q holds a control character", v)
		}
	}
	return nil
}

type markerParser struct {
	toks []markerToken
	i    int
}

func (m *markerParser) next(kind markerTokenKind) bool {
	if m.i < len(m.toks) && m.toks[m.i].kind == kind {
		m.i++
		return true
	}
	return false
}

func (m *markerParser) or() (string, error) {
	return m.joined(tokOr, " or ", m.and)
}

func (m *markerParser) and() (string, error) {
	return m.joined(tokAnd, " and ", m.expr)
}

func (m *markerParser) joined(sep markerTokenKind, with string, item func() (string, error)) (string, error) {
	var parts []string
	for {
		s, err := item()
		if err != nil {
			return "", err
		}
		parts = append(parts, s)
		if !m.next(sep) {
			return strings.Join(parts, with), nil
		}
	}
}

func (m *markerParser) expr() (string, error) {
	if m.next(tokOpen) {
		inner, err := m.or()
		if err != nil {
			return "", err
		}
		if !m.next(tokClose) {
			return "", fmt.Errorf(`expected ")" in the marker`)
		}
		return "(" + inner + ")", nil
	}
	left, err := m.value()
	if err != nil {
		return "", err
	}
	if m.i >= len(m.toks) || m.toks[m.i].kind != tokOp {
		return "", fmt.Errorf("expected a comparison after %s in the marker", left)
	}
	op := m.toks[m.i].text
	m.i++
	right, err := m.value()
	if err != nil {
		return "", err
	}
	return left + " " + op + " " + right, nil
}

func (m *markerParser) value() (string, error) {
	if m.i < len(m.toks) && (m.toks[m.i].kind == tokVar || m.toks[m.i].kind == tokString) {
		m.i++
		return m.toks[m.i-1].text, nil
	}
	if m.i < len(m.toks) {
		return "", fmt.Errorf("expected a marker variable or a quoted string at %q", m.toks[m.i].text)
	}
	return "", fmt.Errorf("the marker ends too early")
}
