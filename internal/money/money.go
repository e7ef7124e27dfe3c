// Package money reads and writes amounts of money, kept as integer
// micro-units of a currency (0.02 EUR is 20000): never floats.
package money

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Micro is one unit in micro-units.
const Micro = 1_000_000

// Parse reads a plain decimal amount such as "0.02" or "12" into
// micro-units: digits and one decimal point, at most six places (a
// micro-unit), at most max units; no sign, exponent or separators.
func Parse(s string, max int64) (int64, error) {
	t := strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(t, ".")
	if t == "" || whole == "" && frac == "" || strings.ContainsFunc(whole+frac, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, fmt.Errorf("%q is not an amount: write digits with an optional decimal point, e.g. 0.02", s)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("%q has more than six decimal places (the smallest amount is 0.000001)", s)
	}
	w := int64(0)
	if whole != "" {
		var err error
		if w, err = strconv.ParseInt(whole, 10, 64); err != nil || w > max {
			return 0, fmt.Errorf("%q is more than %d", s, max)
		}
	}
	f := int64(0)
	if frac != "" {
		n, _ := strconv.ParseInt(frac, 10, 64)
		f = n * int64(math.Pow10(6-len(frac)))
	}
	m := w*Micro + f
	if m > max*Micro {
		return 0, fmt.Errorf("%q is more than %d", s, max)
	}
	return m, nil
}

// Format writes micros as a decimal with as many places as it needs,
// at least two: 20000 is "0.02", 166 is "0.000166", 5 units "5.00".
func Format(micros int64) string {
	sign := ""
	if micros < 0 {
		sign, micros = "-", -micros
	}
	w, f := micros/Micro, micros%Micro
	frac := strings.TrimRight(fmt.Sprintf("%06d", f), "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return fmt.Sprintf("%s%d.%s", sign, w, frac)
}

// IsCurrency says whether code is a three-letter ISO 4217 code such as
// EUR (upper case).
func IsCurrency(code string) bool {
	if len(code) != 3 {
		return false
	}
	for _, r := range code {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// ParseWithCurrency reads an amount followed by its currency code, such
// as "0.0119 EUR", into micro-units and the code (see Parse).
func ParseWithCurrency(s string, max int64) (int64, string, error) {
	amount, code, ok := strings.Cut(strings.TrimSpace(s), " ")
	code = strings.TrimSpace(code)
	if !ok || !IsCurrency(code) {
		return 0, "", fmt.Errorf("%q is not an amount with its currency: write e.g. \"0.0119 EUR\" (digits, a space, a three-letter ISO 4217 code)", s)
	}
	m, err := Parse(amount, max)
	if err != nil {
		return 0, "", err
	}
	return m, code, nil
}
