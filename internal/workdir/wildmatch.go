package workdir

// wildmatch is a port of git's wildmatch.c (the matcher behind .gitignore)
// with WM_PATHNAME set: '*' and '?' never match '/', "**" between slashes
// matches any number of directories, and a bracket expression takes '!' or
// '^' for negation, ranges, backslash escapes and [:class:] names. It is a
// port rather than path.Match because git's rules differ from Go's ("[!a]",
// "**", a trailing backslash), and the tests compare it with git itself.

const (
	wmMatch = iota
	wmNoMatch
	wmAbortAll
	wmAbortToStarStar
)

// wildmatch reports whether text matches pattern, with WM_PATHNAME.
func wildmatch(pattern, text string) bool {
	return dowild(pattern, text, 0, 0) == wmMatch
}

// at returns s[i], or 0 past the end: the C code reads the terminating NUL,
// and patterns never hold a NUL (parsing cuts a line at one).
func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func isGlobSpecial(c byte) bool {
	return c == '*' || c == '?' || c == '[' || c == '\\'
}

func dowild(pat, text string, p, t int) int {
	for ; at(pat, p) != 0; t, p = t+1, p+1 {
		pc := pat[p]
		tc := at(text, t)
		if tc == 0 && pc != '*' {
			return wmAbortAll
		}
		switch pc {
		case '\\':
			// A literal match with the next character; a trailing
			// backslash compares with NUL and so never matches.
			p++
			pc = at(pat, p)
			if tc != pc {
				return wmNoMatch
			}
			continue
		case '?':
			if tc == '/' {
				return wmNoMatch
			}
			continue
		case '*':
			matchSlash := false
			p++
			if at(pat, p) == '*' {
				prev := p - 2
				for at(pat, p) == '*' {
					p++
				}
				if (prev < 0 || pat[prev] == '/') &&
					(at(pat, p) == 0 || at(pat, p) == '/' || (at(pat, p) == '\\' && at(pat, p+1) == '/')) {
					// "**/" may match no directory at all: try the rest
					// of the pattern right here first.
					if at(pat, p) == '/' && dowild(pat, text, p+1, t) == wmMatch {
						return wmMatch
					}
					matchSlash = true
				}
			}
			if at(pat, p) == 0 {
				// A trailing "**" matches everything, a trailing "*"
				// only what holds no more slashes.
				if !matchSlash && indexByte(text, t, '/') >= 0 {
					return wmNoMatch
				}
				return wmMatch
			}
			if !matchSlash && at(pat, p) == '/' {
				// One star followed by a slash matches up to the next
				// slash, which the loop then consumes.
				s := indexByte(text, t, '/')
				if s < 0 {
					return wmNoMatch
				}
				t = s
				continue
			}
			for tc != 0 {
				// A star followed by a literal: skip ahead to where
				// that literal occurs (not past a slash for one star).
				if !isGlobSpecial(at(pat, p)) {
					pc = at(pat, p)
					for {
						tc = at(text, t)
						if tc == 0 || (!matchSlash && tc == '/') || tc == pc {
							break
						}
						t++
					}
					if tc != pc {
						if matchSlash {
							return wmAbortAll
						}
						return wmAbortToStarStar
					}
				}
				if m := dowild(pat, text, p, t); m != wmNoMatch {
					if !matchSlash || m != wmAbortToStarStar {
						return m
					}
				} else if !matchSlash && tc == '/' {
					return wmAbortToStarStar
				}
				t++
				tc = at(text, t)
			}
			return wmAbortAll
		case '[':
			p++
			pc = at(pat, p)
			if pc == '^' {
				pc = '!'
			}
			negated := pc == '!'
			if negated {
				p++
				pc = at(pat, p)
			}
			var prev byte
			matched := false
			for {
				if pc == 0 {
					return wmAbortAll
				}
				switch {
				case pc == '\\':
					p++
					pc = at(pat, p)
					if pc == 0 {
						return wmAbortAll
					}
					if tc == pc {
						matched = true
					}
				case pc == '-' && prev != 0 && at(pat, p+1) != 0 && at(pat, p+1) != ']':
					p++
					pc = at(pat, p)
					if pc == '\\' {
						p++
						pc = at(pat, p)
						if pc == 0 {
							return wmAbortAll
						}
					}
					if tc <= pc && tc >= prev {
						matched = true
					}
					pc = 0 // so that prev becomes 0: no range may follow a range
				case pc == '[' && at(pat, p+1) == ':':
					p += 2
					s := p
					for at(pat, p) != 0 && at(pat, p) != ']' {
						p++
					}
					if at(pat, p) == 0 {
						return wmAbortAll
					}
					n := p - s - 1
					if n < 0 || pat[p-1] != ':' {
						// No ":]": a plain '[' in the set after all.
						p = s - 2
						pc = '['
						if tc == pc {
							matched = true
						}
						break
					}
					in, ok := inClass(pat[s:s+n], tc)
					if !ok {
						return wmAbortAll // an unknown [:class:]
					}
					if in {
						matched = true
					}
					pc = 0
				default:
					if tc == pc {
						matched = true
					}
				}
				prev = pc
				p++
				pc = at(pat, p)
				if pc == ']' {
					break
				}
			}
			if matched == negated || tc == '/' {
				return wmNoMatch
			}
			continue
		default:
			if tc != pc {
				return wmNoMatch
			}
			continue
		}
	}
	if t < len(text) {
		return wmNoMatch
	}
	return wmMatch
}

func indexByte(s string, from int, c byte) int {
	for i := from; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// inClass reports whether c is in the POSIX class name, as git's ctype
// (ASCII only) sees it; ok is false for a name git does not know.
func inClass(name string, c byte) (in, ok bool) {
	alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	digit := c >= '0' && c <= '9'
	space := c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
	print := c >= 0x20 && c < 0x7f
	switch name {
	case "alnum":
		return alpha || digit, true
	case "alpha":
		return alpha, true
	case "blank":
		return c == ' ' || c == '\t', true
	case "cntrl":
		return c < 0x20 || c == 0x7f, true
	case "digit":
		return digit, true
	case "graph":
		return print && c != ' ', true
	case "lower":
		return c >= 'a' && c <= 'z', true
	case "print":
		return print, true
	case "punct":
		return print && c != ' ' && !alpha && !digit, true
	case "space":
		return space, true
	case "upper":
		return c >= 'A' && c <= 'Z', true
	case "xdigit":
		return digit || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F', true
	}
	return false, false
}
