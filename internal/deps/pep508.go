package deps

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// requirement is one PEP 508 requirement in normal form: String gives the
// same text for every spelling of the same requirement.
type requirement struct {
	name       string   // PEP 503: lower case, runs of "-_." as one "-"
	extras     []string // normalized like names (PEP 685), sorted, unique
	specifiers []string // operator and version without spaces, sorted, unique
	marker     string   // canonical spacing and quotes; "" for none
}

func (r requirement) String() string {
	var b strings.Builder
	b.WriteString(r.name)
	if len(r.extras) > 0 {
		b.WriteString("[" + strings.Join(r.extras, ",") + "]")
	}
	b.WriteString(strings.Join(r.specifiers, ","))
	if r.marker != "" {
		b.WriteString("; " + r.marker)
	}
	return b.String()
}

// errDirectReference marks "name @ URL", which is well formed but refused.
var errDirectReference = errors.New("direct reference")

var (
	nameRE     = regexp.MustCompile(`(?i)^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$`)
	separators = regexp.MustCompile(`[-_.]+`)
)

// normalizeName is PEP 503's re.sub(r"[-_.]+", "-", name).lower().
func normalizeName(name string) string {
	return strings.ToLower(separators.ReplaceAllString(name, "-"))
}

// PEP 440 versions, per operator, as the packaging library checks them.
const (
	pep440Release = `v?(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*`
	pep440Pre     = `(?:[-_.]?(?:alpha|beta|preview|pre|a|b|c|rc)[-_.]?[0-9]*)?`
	pep440Post    = `(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?`
	pep440Dev     = `(?:[-_.]?dev[-_.]?[0-9]*)?`
	pep440Local   = `(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?`
)

var (
	// == and != also take a local version or a trailing ".*".
	eqVersionRE = regexp.MustCompile(`(?i)^` + pep440Release +
		`(?:\.\*|` + pep440Pre + pep440Post + pep440Dev + pep440Local + `)$`)
	// ~= needs at least two release numbers.
	compatVersionRE = regexp.MustCompile(`(?i)^v?(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)+` +
		pep440Pre + pep440Post + pep440Dev + `$`)
	orderedVersionRE = regexp.MustCompile(`(?i)^` + pep440Release + pep440Pre + pep440Post + pep440Dev + `$`)
)

// operators, longest first so that "===" is not read as "==".
var operators = []string{"===", "==", "!=", "<=", ">=", "~=", "<", ">"}

// scanner walks one line; PEP 508 whitespace is space and tab only.
type scanner struct {
	s string
	i int
}

func (p *scanner) done() bool { return p.i >= len(p.s) }

func (p *scanner) at(c byte) bool { return p.i < len(p.s) && p.s[p.i] == c }

func (p *scanner) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *scanner) take(ok func(byte) bool) string {
	start := p.i
	for p.i < len(p.s) && ok(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// rest is what is left, for error messages.
func (p *scanner) rest() string { return p.s[p.i:] }

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isNameChar(c byte) bool { return isAlnum(c) || c == '.' || c == '-' || c == '_' }

func isVersionChar(c byte) bool {
	return isAlnum(c) || strings.IndexByte("-_.*+!", c) >= 0
}

// parseRequirement reads one PEP 508 requirement without a URL. The error
// is errDirectReference or a detail for msgMalformed.
func parseRequirement(s string) (requirement, error) {
	p := &scanner{s: s}
	p.skipSpace()
	name := p.take(isNameChar)
	if name == "" {
		return requirement{}, fmt.Errorf("expected a package name at %q", p.rest())
	}
	if !nameRE.MatchString(name) {
		return requirement{}, fmt.Errorf("%q is not a valid package name", name)
	}
	r := requirement{name: normalizeName(name)}
	p.skipSpace()
	if p.at('[') {
		extras, err := p.extras()
		if err != nil {
			return requirement{}, err
		}
		r.extras = extras
		p.skipSpace()
	}
	if p.at('@') {
		return requirement{}, errDirectReference
	}
	if p.at('(') {
		p.i++
		p.skipSpace()
		specs, err := p.specifiers()
		if err != nil {
			return requirement{}, err
		}
		p.skipSpace()
		if !p.at(')') {
			return requirement{}, fmt.Errorf("expected \")\" at %q", p.rest())
		}
		p.i++
		r.specifiers = specs
	} else if startsOperator(p.rest()) {
		specs, err := p.specifiers()
		if err != nil {
			return requirement{}, err
		}
		r.specifiers = specs
	}
	p.skipSpace()
	if p.at(';') {
		p.i++
		m, err := parseMarker(p.rest())
		if err != nil {
			return requirement{}, err
		}
		r.marker = m
		p.i = len(p.s)
	}
	if !p.done() {
		return requirement{}, fmt.Errorf("unexpected %q", p.rest())
	}
	return r, nil
}

// extras reads "[a, b]"; the scanner is at "[".
func (p *scanner) extras() ([]string, error) {
	p.i++
	var extras []string
	p.skipSpace()
	if p.at(']') {
		p.i++
		return nil, nil
	}
	for {
		p.skipSpace()
		e := p.take(isNameChar)
		if !nameRE.MatchString(e) {
			return nil, fmt.Errorf("expected an extra's name at %q", p.rest())
		}
		extras = append(extras, normalizeName(e))
		p.skipSpace()
		switch {
		case p.at(','):
			p.i++
		case p.at(']'):
			p.i++
			slices.Sort(extras)
			return slices.Compact(extras), nil
		default:
			return nil, fmt.Errorf("expected \",\" or \"]\" in the extras at %q", p.rest())
		}
	}
}

func startsOperator(s string) bool {
	return s != "" && strings.IndexByte("=!<>~", s[0]) >= 0
}

// specifiers reads "op version" items separated by commas (PEP 508 allows
// one trailing comma) and returns them without spaces, sorted and unique.
func (p *scanner) specifiers() ([]string, error) {
	var specs []string
	for {
		p.skipSpace()
		op := ""
		for _, o := range operators {
			if strings.HasPrefix(p.rest(), o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil, fmt.Errorf("expected a version operator (==, !=, <, <=, >, >=, ~=, ===) at %q", p.rest())
		}
		p.i += len(op)
		p.skipSpace()
		v := p.take(isVersionChar)
		if v == "" {
			return nil, fmt.Errorf("expected a version after %q", op)
		}
		if err := checkVersion(op, v); err != nil {
			return nil, err
		}
		if op != "===" {
			v = strings.ToLower(v) // PEP 440 versions compare case-insensitively
		}
		specs = append(specs, op+v)
		p.skipSpace()
		if !p.at(',') {
			break
		}
		p.i++
		p.skipSpace()
		if p.done() || p.at(';') || p.at(')') {
			break
		}
	}
	slices.Sort(specs)
	return slices.Compact(specs), nil
}

func checkVersion(op, v string) error {
	var re *regexp.Regexp
	switch op {
	case "===":
		return nil // arbitrary equality: any string of version characters
	case "==", "!=":
		re = eqVersionRE
	case "~=":
		re = compatVersionRE
	default:
		re = orderedVersionRE
	}
	if !re.MatchString(v) {
		return fmt.Errorf("%q is not a valid version for %s (PEP 440)", v, op)
	}
	return nil
}

// parseSpecifierSet reads a bare specifier list such as requires-python's
// ">=3.11, <3.14" and returns it normalized; "" stays "".
func parseSpecifierSet(s string) (string, error) {
	p := &scanner{s: s}
	p.skipSpace()
	if p.done() {
		return "", nil
	}
	specs, err := p.specifiers()
	if err != nil {
		return "", err
	}
	if p.skipSpace(); !p.done() {
		return "", fmt.Errorf("unexpected %q", p.rest())
	}
	return strings.Join(specs, ","), nil
}
