package workdir

import (
	"fmt"
	"io"
	"strings"
)

// WritePlan writes what a plan sends and leaves out, for --dry-run: the
// files with their sizes, symlinks and empty folders, then every path
// left out with its reason, then the totals against the caps. The output
// depends on nothing but the plan, so tests can compare it whole.
func WritePlan(w io.Writer, p *Plan) {
	files, links, dirs := 0, 0, 0
	width := 0
	for _, e := range p.Manifest.Entries {
		switch e.Kind {
		case KindFile:
			files++
			width = max(width, len(human(e.Size)))
		case KindSymlink:
			links++
		case KindDir:
			dirs++
		}
	}
	width = max(width, len("folder"))
	fmt.Fprintf(w, "Would send from %s:\n", p.Root)
	if len(p.Manifest.Entries) == 0 {
		fmt.Fprintln(w, "  (nothing)")
	}
	for _, e := range p.Manifest.Entries {
		switch e.Kind {
		case KindFile:
			fmt.Fprintf(w, "  %*s  %s\n", width, human(e.Size), displayPath(e.Path))
		case KindSymlink:
			fmt.Fprintf(w, "  %*s  %s -> %s\n", width, "link", displayPath(e.Path), displayPath(e.Target))
		case KindDir:
			fmt.Fprintf(w, "  %*s  %s/\n", width, "folder", displayPath(e.Path))
		}
	}
	if p.Unlisted > 0 {
		fmt.Fprintf(w, "  … and %s more files past the %s-file cap\n", commas(p.Unlisted), commas(p.MaxFiles))
	}
	if p.ScriptIgnored != "" {
		fmt.Fprintf(w, "The script is sent although ignored (%s).\n", p.ScriptIgnored)
	}
	if len(p.Excluded) > 0 {
		fmt.Fprintln(w, "Not sent:")
		pw := 0
		for _, x := range p.Excluded {
			pw = max(pw, len(excludedName(x)))
		}
		for _, x := range p.Excluded {
			fmt.Fprintf(w, "  %-*s  %s\n", pw, excludedName(x), x.Reason)
		}
	}
	var parts []string
	parts = append(parts, plural(p.Files, "file", "files")+" ("+human(p.Bytes)+")")
	if links > 0 {
		parts = append(parts, plural(links, "symlink", "symlinks"))
	}
	if dirs > 0 {
		parts = append(parts, plural(dirs, "empty folder", "empty folders"))
	}
	fmt.Fprintf(w, "Total: %s; %s not sent. Caps: %s, %s files.\n", strings.Join(parts, ", "),
		plural(len(p.Excluded), "path", "paths"), human(p.MaxBytes), commas(p.MaxFiles))
	if e := p.Refused; e != nil {
		fmt.Fprintf(w, "Refused: %v\n  Hint: %s\n", e, e.Hint())
	}
	if e := p.TooLarge; e != nil {
		fmt.Fprintf(w, "Too large: %v\n%s  Hint: %s\n", e, indent(e.Listing()), e.Hint())
	}
}

func excludedName(x Excluded) string {
	if x.Dir {
		return displayPath(x.Path) + "/"
	}
	return displayPath(x.Path)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return commas(n) + " " + many
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}
