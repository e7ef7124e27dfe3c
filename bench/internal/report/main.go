// Command report reads the RESULT and NOTMEASURED lines of the bench
// programs (the output contract in bench/README.md) from the files named
// on its command line, or stdin, and prints one Markdown table: for each
// figure the median, min and max of its samples, how many there were, the
// ratio of its median to its anchor's, and whether it meets its target.
// Figures keep the order in which they first appear. scripts/bench.sh runs
// it last.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/rgrid/rgrid/bench/internal/benchkit"
)

func main() {
	var in []io.Reader
	for _, name := range os.Args[1:] {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
		defer f.Close()
		in = append(in, f)
	}
	if len(in) == 0 {
		in = append(in, os.Stdin)
	}
	figs, problems := collect(io.MultiReader(in...))
	render(os.Stdout, figs)
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "report:", p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}

// figure is everything read about one name.
type figure struct {
	name, unit, desc, anchor, target string
	samples                          []float64
	notMeasured                      []string // reasons
}

// collect reads the lines and groups them by name, in order of first
// appearance; it returns the lines that break the contract as problems.
func collect(r io.Reader) ([]*figure, []string) {
	var (
		order    []*figure
		byName   = map[string]*figure{}
		problems []string
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		l, ok, err := benchkit.ParseLine(sc.Text())
		if !ok {
			continue
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("line %d: %v", n, err))
			continue
		}
		name := l.Fields["name"]
		f := byName[name]
		if f == nil {
			f = &figure{name: name}
			byName[name] = f
			order = append(order, f)
		}
		for key, dst := range map[string]*string{"desc": &f.desc, "anchor": &f.anchor, "target": &f.target, "unit": &f.unit} {
			if v := l.Fields[key]; v != "" {
				if *dst != "" && *dst != v && key != "desc" {
					problems = append(problems, fmt.Sprintf("line %d: %s of %s changes from %q to %q", n, key, name, *dst, v))
				}
				*dst = v
			}
		}
		if l.Kind == "NOTMEASURED" {
			f.notMeasured = append(f.notMeasured, l.Fields["reason"])
			continue
		}
		f.samples = append(f.samples, l.Value)
	}
	if err := sc.Err(); err != nil {
		problems = append(problems, err.Error())
	}
	return order, problems
}

func median(s []float64) float64 {
	c := slices.Clone(s)
	slices.Sort(c)
	return (c[(len(c)-1)/2] + c[len(c)/2]) / 2
}

func render(w io.Writer, figs []*figure) {
	byName := map[string]*figure{}
	for _, f := range figs {
		byName[f.name] = f
	}
	fmt.Fprintln(w, "| figure | unit | median | min | max | runs | ratio to anchor | target | |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- |")
	var notes []string
	for _, f := range figs {
		if len(f.samples) == 0 {
			fmt.Fprintf(w, "| %s | %s | not measured | | | 0 | | %s | |\n", f.name, orDash(f.unit), targetText(f.target))
			notes = append(notes, fmt.Sprintf("%s not measured: %s", f.name, strings.Join(f.notMeasured, "; ")))
			continue
		}
		med := median(f.samples)
		ratio, r := "", 0.0
		if f.anchor != "" {
			if a := byName[f.anchor]; a != nil && len(a.samples) > 0 {
				r = med / median(a.samples)
				ratio = fmt.Sprintf("%.2f× %s", r, f.anchor)
			} else {
				ratio = "no " + f.anchor
			}
		}
		verdict := ""
		if t, err := benchkit.ParseTarget(f.target); err == nil {
			switch {
			case t.Ratio && r == 0:
				verdict = "?" // no anchor measured
			case t.Ratio && t.Met(r), !t.Ratio && t.Met(med):
				verdict = "met"
			default:
				verdict = "**missed**"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %d | %s | %s | %s |\n", f.name, f.unit, num(med),
			num(slices.Min(f.samples)), num(slices.Max(f.samples)), len(f.samples), ratio, targetText(f.target), verdict)
		for _, r := range f.notMeasured {
			notes = append(notes, fmt.Sprintf("%s: also not measured once: %s", f.name, r))
		}
	}
	fmt.Fprintln(w)
	for _, f := range figs {
		if f.desc != "" {
			fmt.Fprintf(w, "- %s: %s\n", f.name, f.desc)
		}
	}
	for _, n := range notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
}

// targetText renders ">=2000" as "≥ 2000" and "<=1.25x" as "≤ 1.25×".
func targetText(t string) string {
	if t == "" {
		return ""
	}
	t = strings.Replace(strings.Replace(t, ">=", "≥ ", 1), "<=", "≤ ", 1)
	return strings.Replace(t, "x", "×", 1)
}

// num formats a figure with three or four significant digits.
func num(v float64) string {
	a := v
	if a < 0 {
		a = -a
	}
	switch {
	case a >= 10000:
		return thousands(strconv.FormatFloat(v, 'f', 0, 64))
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func thousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
