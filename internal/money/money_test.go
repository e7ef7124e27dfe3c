package money

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]int64{"0.02": 20000, "12": 12_000_000, "1.5": 1_500_000, ".5": 500_000,
		"3.": 3_000_000, "0.000001": 1, " 7 ": 7_000_000, "1000": 1000 * Micro} {
		got, err := Parse(in, 1000)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".", "-1", "1e3", "0x10", "1,5", "NaN", "Inf", "0.0000001", "1001", "1000.000001",
		"99999999999999999999", "+1", "1.2.3"} {
		if got, err := Parse(in, 1000); err == nil {
			t.Errorf("Parse(%q) = %d, want an error", in, got)
		}
	}
}

func TestFormat(t *testing.T) {
	for in, want := range map[int64]string{20000: "0.02", 166: "0.000166", 5 * Micro: "5.00", 0: "0.00",
		1_234_500: "1.2345", -20000: "-0.02"} {
		if got := Format(in); got != want {
			t.Errorf("Format(%d) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0.02", "1", "-1", ".", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Parse(s, 1_000_000)
		if err != nil {
			return
		}
		if m < 0 || m > 1_000_000*Micro {
			t.Fatalf("Parse(%q) = %d out of range", s, m)
		}
		back, err := Parse(Format(m), 1_000_000)
		if err != nil || back != m {
			t.Fatalf("Parse(Format(%d)) = %d, %v", m, back, err)
		}
	})
}

func TestParseWithCurrency(t *testing.T) {
	m, c, err := ParseWithCurrency(" 0.0119 EUR ", 1000)
	if err != nil || m != 11900 || c != "EUR" {
		t.Errorf("ParseWithCurrency(0.0119 EUR) = %d, %q, %v", m, c, err)
	}
	for _, in := range []string{"0.0119", "EUR", "0.01 eur", "0.01 EURO", "x EUR", "0.01  ", "2000 EUR"} {
		if _, _, err := ParseWithCurrency(in, 1000); err == nil {
			t.Errorf("ParseWithCurrency(%q): want an error", in)
		}
	}
}
