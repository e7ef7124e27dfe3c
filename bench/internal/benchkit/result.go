package benchkit

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// The output contract of every bench program (bench/README.md): besides
// free text, a program prints on stdout one line per measured sample,
//
//	RESULT name=queue.api unit=jobs/s value=2345.6 target=>=2000 desc="…"
//
// and, for a figure it could not measure,
//
//	NOTMEASURED name=queue.store.river reason="…"
//
// scripts/bench.sh collects these lines from every program and prints the
// median, min, max and count of each name. Fields are key=value, the value
// either a bare token (no space, no quote) or a Go-quoted string:
//
//	name    figure id, [a-z0-9._-]+, the same in every run (required)
//	unit    e.g. jobs/s, ms, s, MiB (required on RESULT)
//	value   a decimal number (required on RESULT)
//	anchor  name of the figure this one is compared with; it must be
//	        measured by the same program in the same invocation
//	target  ">=N" or "<=N" in the unit, or ">=Nx" / "<=Nx" for the ratio
//	        of medians to the anchor
//	desc    what the figure is, for people
//	reason  why a figure was not measured (NOTMEASURED)

// Figure is one figure a bench program reports.
type Figure struct {
	Name   string
	Unit   string
	Desc   string
	Anchor string
	Target string
}

// Report prints one sample of f in the contract's RESULT format.
func (f Figure) Report(value float64) {
	fmt.Fprintln(os.Stdout, f.line(value))
}

// NotMeasured prints a NOTMEASURED line for f.
func (f Figure) NotMeasured(reason string) {
	fmt.Fprintf(os.Stdout, "NOTMEASURED name=%s desc=%s reason=%s\n", f.Name, strconv.Quote(f.Desc), strconv.Quote(reason))
}

func (f Figure) line(value float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "RESULT name=%s unit=%s value=%s", f.Name, f.Unit, strconv.FormatFloat(value, 'f', -1, 64))
	if f.Anchor != "" {
		fmt.Fprintf(&b, " anchor=%s", f.Anchor)
	}
	if f.Target != "" {
		fmt.Fprintf(&b, " target=%s", f.Target)
	}
	if f.Desc != "" {
		fmt.Fprintf(&b, " desc=%s", strconv.Quote(f.Desc))
	}
	return b.String()
}

// Line is one parsed RESULT or NOTMEASURED line.
type Line struct {
	Kind   string // "RESULT" or "NOTMEASURED"
	Fields map[string]string
	Value  float64 // RESULT only
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// ParseLine parses a line of a bench program's output. ok is false for a
// line that is neither RESULT nor NOTMEASURED (free text); err is set for
// one that is but breaks the contract.
func ParseLine(s string) (l Line, ok bool, err error) {
	kind, rest, _ := strings.Cut(strings.TrimSpace(s), " ")
	if kind != "RESULT" && kind != "NOTMEASURED" {
		return Line{}, false, nil
	}
	l = Line{Kind: kind, Fields: map[string]string{}}
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
		key, after, found := strings.Cut(rest, "=")
		if !found || key == "" || strings.ContainsAny(key, " \"") {
			return Line{}, true, fmt.Errorf("%s: expected key=value at %q", kind, rest)
		}
		var val string
		if strings.HasPrefix(after, `"`) {
			q, err := strconv.QuotedPrefix(after)
			if err != nil {
				return Line{}, true, fmt.Errorf("%s: bad quoted value of %s: %w", kind, key, err)
			}
			val, _ = strconv.Unquote(q)
			rest = after[len(q):]
		} else {
			val, rest, _ = strings.Cut(after, " ")
			if strings.Contains(val, `"`) {
				return Line{}, true, fmt.Errorf("%s: stray quote in the value of %s", kind, key)
			}
		}
		if _, dup := l.Fields[key]; dup {
			return Line{}, true, fmt.Errorf("%s: %s given twice", kind, key)
		}
		l.Fields[key] = val
	}
	if !nameRE.MatchString(l.Fields["name"]) {
		return Line{}, true, fmt.Errorf("%s: name %q is not [a-z0-9._-]+", kind, l.Fields["name"])
	}
	if kind == "NOTMEASURED" {
		return l, true, nil
	}
	if l.Fields["unit"] == "" {
		return Line{}, true, errors.New("RESULT: no unit")
	}
	if l.Value, err = strconv.ParseFloat(l.Fields["value"], 64); err != nil {
		return Line{}, true, fmt.Errorf("RESULT: value %q is not a number", l.Fields["value"])
	}
	if t := l.Fields["target"]; t != "" {
		if _, err := ParseTarget(t); err != nil {
			return Line{}, true, err
		}
	}
	return l, true, nil
}

// Target is a parsed target: the figure's median (or, with Ratio, its
// ratio to the anchor's median) must be at least (AtLeast) or at most N.
type Target struct {
	AtLeast bool
	N       float64
	Ratio   bool
}

// ParseTarget parses ">=2000", "<=5", "<=1.25x", ">=1x".
func ParseTarget(s string) (Target, error) {
	var t Target
	switch {
	case strings.HasPrefix(s, ">="):
		t.AtLeast = true
	case strings.HasPrefix(s, "<="):
	default:
		return Target{}, fmt.Errorf("target %q does not start with >= or <=", s)
	}
	num := s[2:]
	if strings.HasSuffix(num, "x") {
		t.Ratio, num = true, strings.TrimSuffix(num, "x")
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %q is not a number", s, num)
	}
	t.N = n
	return t, nil
}

// Met reports whether v (the median, or the ratio for a ratio target)
// meets t.
func (t Target) Met(v float64) bool {
	if t.AtLeast {
		return v >= t.N
	}
	return v <= t.N
}
