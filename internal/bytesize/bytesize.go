// Package bytesize reads and writes sizes the ways RGrid does: Parse reads
// what people type ("512m", "1.5g", "10 MiB"), Format writes sizes for
// messages ("10 MiB", "1.5 MiB", "512 bytes") and Compact writes the
// shortest exact form Parse reads back ("512m", "1536k").
package bytesize

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Format writes n in the largest binary unit that keeps it readable.
func Format(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// Compact writes n in the largest unit that divides it exactly, the way a
// flag's default is shown: 512m, 1536k, 1g, 1000.
func Compact(n int64) string {
	for _, u := range []struct {
		shift  uint
		letter string
	}{{40, "t"}, {30, "g"}, {20, "m"}, {10, "k"}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.letter)
		}
	}
	return fmt.Sprintf("%d", n)
}

// Errors of Parse, for callers that word them their own way.
var (
	ErrSyntax   = errors.New("not a size")
	ErrNotWhole = errors.New("not a whole number of bytes")
	ErrZero     = errors.New("must be more than 0")
	ErrTooLarge = errors.New("too large (8 EiB or more)")
)

// units are the multipliers Parse knows, binary whatever the spelling:
// 1k, 1kb, 1kib and 1 KiB are all 1024 bytes, as Docker reads them.
var units = func() map[string]int64 {
	m := map[string]int64{"": 1, "b": 1, "byte": 1, "bytes": 1}
	for i, letter := range []string{"k", "m", "g", "t"} {
		mult := int64(1) << (10 * (i + 1))
		m[letter], m[letter+"b"], m[letter+"ib"] = mult, mult, mult
	}
	return m
}()

// maxLen bounds the input Parse does arithmetic on: no size needs more.
const maxLen = 100

// Parse reads a size: a positive whole number of bytes, written as
// digits with an optional fraction and an optional unit (k, m, g or t,
// any case, with or without b or ib, after an optional space). A fraction
// is fine when the bytes come out whole (1.5g); 0.0001, NaN, Inf, a sign,
// an exponent and anything past an int64 are refused, so that no
// typo becomes a negative size or 0, which callers read as "the default".
func Parse(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxLen {
		return 0, ErrSyntax
	}
	if rest, neg := strings.CutPrefix(s, "-"); neg && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
		return 0, ErrZero // a negative number: say what the fix is, not "not a size"
	}
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.') {
		end++
	}
	whole, frac, _ := strings.Cut(s[:end], ".")
	if whole == "" && frac == "" || strings.Contains(frac, ".") {
		return 0, ErrSyntax
	}
	mult, ok := units[strings.ToLower(strings.TrimSpace(s[end:]))]
	if !ok {
		return 0, ErrSyntax
	}
	// whole.frac × mult, exactly: (whole‖frac) × mult / 10^len(frac).
	num, ok := new(big.Int).SetString("0"+whole+frac, 10)
	if !ok {
		return 0, ErrSyntax
	}
	num.Mul(num, big.NewInt(mult))
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
	q, r := num.QuoRem(num, den, new(big.Int))
	switch {
	case r.Sign() != 0:
		return 0, ErrNotWhole
	case q.Sign() == 0:
		return 0, ErrZero
	case !q.IsInt64():
		return 0, ErrTooLarge
	}
	return q.Int64(), nil
}
