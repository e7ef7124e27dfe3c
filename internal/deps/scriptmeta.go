package deps

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// scriptMetadata is what rgrid uses of a script block's TOML.
type scriptMetadata struct {
	dependencies   []located
	requiresPython *located
}

// located is a string value and the TOML line (1-based) it is on.
type located struct {
	value string
	line  int
}

// tomlProblem is something wrong on a TOML line (1-based).
type tomlProblem struct {
	line int
	msg  string
}

// readScriptTOML decodes a script block's TOML and checks that it holds
// only what PEP 723 defines: dependencies (an array of strings),
// requires-python (a string) and [tool] tables, which belong to other
// tools and are not looked into. Any other field is refused, so that a
// misspelt field is not silently ignored. Invalid TOML gives one
// problem; otherwise every wrong field is reported.
func readScriptTOML(src string) (scriptMetadata, []tomlProblem) {
	var meta scriptMetadata
	var top map[string]toml.Primitive
	md, err := toml.Decode(src, &top)
	if err != nil {
		var pe toml.ParseError
		if !errors.As(err, &pe) {
			return meta, []tomlProblem{{1, err.Error()}}
		}
		// Position.Line counts a newline that ends the offending token as
		// already passed; the byte offset names the line it is on.
		line := strings.Count(src[:min(max(pe.Position.Start, 0), len(src))], "\n") + 1
		return meta, []tomlProblem{{line, pe.Message}}
	}

	var problems []tomlProblem
	lines := strings.Split(src, "\n")
	for name, prim := range top {
		if name == "tool" {
			continue
		}
		line := keyLine(&md, prim, toml.Key{name})
		var v any
		if err := md.PrimitiveDecode(prim, &v); err != nil {
			problems = append(problems, tomlProblem{line, err.Error()})
			continue
		}
		switch name {
		case "dependencies":
			values, msg := stringList(v)
			if msg != "" {
				problems = append(problems, tomlProblem{line, msg})
				continue
			}
			for i, l := range elementLines(lines, line, values) {
				meta.dependencies = append(meta.dependencies, located{values[i], l})
			}
		case "requires-python":
			s, ok := v.(string)
			if !ok {
				problems = append(problems, tomlProblem{line, `requires-python must be a string, e.g. requires-python = ">=3.11"`})
				continue
			}
			meta.requiresPython = &located{s, line}
		default:
			msg := fmt.Sprintf("unknown field %q; script metadata has dependencies, requires-python and [tool] tables", name)
			if _, ok := v.(map[string]any); ok {
				msg = fmt.Sprintf("[%s] is not a script metadata table; only [tool] tables may follow dependencies and requires-python", name)
			}
			problems = append(problems, tomlProblem{line, msg})
		}
	}
	slices.SortStableFunc(problems, func(a, b tomlProblem) int { return cmp.Compare(a.line, b.line) })
	return meta, problems
}

func stringList(v any) ([]string, string) {
	list, ok := v.([]any)
	if !ok {
		return nil, `dependencies must be an array of strings, e.g. dependencies = ["numpy>=1.26"]`
	}
	out := make([]string, len(list))
	for i, e := range list {
		if out[i], ok = e.(string); !ok {
			return nil, `every dependency must be a string, e.g. dependencies = ["numpy>=1.26"]`
		}
	}
	return out, ""
}

// refuseValue fails whatever it is given: decoding a value into it makes
// the library return a ParseError at the value's key, the only way the
// library tells where a key is.
type refuseValue struct{}

func (*refuseValue) UnmarshalTOML(any) error { return errors.New("where is this key") }

// keyLine returns the line where key, whose value is prim, is set or its
// table starts. A table that only dotted keys or sub-table headers create
// has no line of its own: its first key's line stands for it.
func keyLine(md *toml.MetaData, prim toml.Primitive, key toml.Key) int {
	var pe toml.ParseError
	if err := md.PrimitiveDecode(prim, &refuseValue{}); errors.As(err, &pe) && pe.Position.Line > 0 {
		return pe.Position.Line
	}
	var sub map[string]toml.Primitive
	if md.PrimitiveDecode(prim, &sub) != nil {
		return 1
	}
	for _, k := range md.Keys() { // in the order they are written
		if len(k) > len(key) && slices.Equal(k[:len(key)], key) {
			if p, ok := sub[k[len(key)]]; ok {
				return keyLine(md, p, k[:len(key)+1])
			}
		}
	}
	return 1
}

// elementLines returns the line of each string of an array whose key is
// on line from. The library knows where keys are but not values, so each
// string is looked for as written, quotes included, from the line of the
// string before; one written with escapes or over several lines is not
// found and is given its key's line.
func elementLines(lines []string, from int, values []string) []int {
	out := make([]int, len(values))
	at := from
	for i, v := range values {
		out[i] = from
		for j := at; j <= len(lines); j++ {
			if l := lines[j-1]; strings.Contains(l, `"`+v+`"`) || strings.Contains(l, `'`+v+`'`) {
				out[i], at = j, j
				break
			}
		}
	}
	return out
}
