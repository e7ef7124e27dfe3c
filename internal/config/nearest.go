package config

import "strings"

// Nearest returns the name in names that word was most likely meant to
// be, for a "did you mean" hint: one within two edits of it, or one it
// begins, ignoring case; the fewest edits win, then the earlier name. ""
// when none is that close. Unknown config keys and unknown commands are
// both suggested with it, so that the two hints agree.
func Nearest(word string, names []string) string {
	w := strings.ToLower(word)
	if w == "" {
		return ""
	}
	best, bestDist := "", 0
	for _, name := range names {
		n := strings.ToLower(name)
		d := editDistance(w, n)
		if d > 2 && !strings.HasPrefix(n, w) {
			continue
		}
		if best == "" || d < bestDist {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
