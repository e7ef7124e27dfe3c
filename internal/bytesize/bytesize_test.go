package bytesize

import (
	"errors"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{
		0: "0 bytes", 512: "512 bytes", 1536: "1.5 KiB", 10 << 20: "10 MiB",
		3 << 19: "1.5 MiB", 1 << 30: "1 GiB", 3 << 29: "1536 MiB",
	} {
		if got := Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCompact(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{
		1: "1", 1000: "1000", 1024: "1k", 1536: "1536", 3 << 19: "1536k",
		512 << 20: "512m", 8 << 30: "8g", 3 << 40: "3t", 1 << 50: "1024t",
	} {
		if got := Compact(n); got != want {
			t.Errorf("Compact(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
		err  error
	}{
		// What the README and the flags' help show.
		{"512m", 512 << 20, nil},
		{"1g", 1 << 30, nil},
		{"1.5g", 3 << 29, nil},
		{"1GiB", 1 << 30, nil},
		{"1024k", 1 << 20, nil},
		{"10485760", 10 << 20, nil},
		// Every spelling of a unit is binary, in any case, with a space.
		{"64M", 64 << 20, nil},
		{"64mb", 64 << 20, nil},
		{"64 MiB", 64 << 20, nil},
		{"2T", 2 << 40, nil},
		{"512b", 512, nil},
		{"512 bytes", 512, nil},
		{" 1k ", 1024, nil},
		{".5k", 512, nil},
		{"1.k", 1024, nil},
		{"0.5", 0, ErrNotWhole},
		{"0.0001", 0, ErrNotWhole},
		{"1.1k", 0, ErrNotWhole}, // 1126.4 bytes
		{"9223372036854775807", 1<<63 - 1, nil},
		{"9223372036854775808", 0, ErrTooLarge},
		{"8388608t", 0, ErrTooLarge}, // 2^63
		{"9999999t", 0, ErrTooLarge},
		{"0", 0, ErrZero},
		{"0.0g", 0, ErrZero},
		{"-1", 0, ErrZero},
		{"-5m", 0, ErrZero},
		{"nan", 0, ErrSyntax},
		{"NaN", 0, ErrSyntax},
		{"inf", 0, ErrSyntax},
		{"+Inf", 0, ErrSyntax},
		{"1e9", 0, ErrSyntax},
		{"0x10", 0, ErrSyntax},
		{"1_000", 0, ErrSyntax},
		{"+5", 0, ErrSyntax},
		{"", 0, ErrSyntax},
		{".", 0, ErrSyntax},
		{"m", 0, ErrSyntax},
		{"1.2.3", 0, ErrSyntax},
		{"5 p", 0, ErrSyntax},
		{"5ib", 0, ErrSyntax},
		{"lots", 0, ErrSyntax},
		{"1" + strings.Repeat("0", maxLen), 0, ErrSyntax},
	} {
		got, err := Parse(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("Parse(%q) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// FuzzParse: Parse never panics, accepts only positive sizes, and reads
// back what Compact writes, and what Format writes when that is exact.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"512m", "1.5g", "0.0001", "nan", "9999999t", "-1", "10 MiB", ".5k", "1e9", "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			if n != 0 {
				t.Fatalf("Parse(%q) = %d with error %v", s, n, err)
			}
			return
		}
		if n <= 0 {
			t.Fatalf("Parse(%q) = %d, accepted", s, n)
		}
		if back, err := Parse(Compact(n)); back != n || err != nil {
			t.Fatalf("Parse(%q) = %d; Compact %q parses to %d, %v", s, n, Compact(n), back, err)
		}
		if f := Format(n); !strings.Contains(f, ".") {
			if back, err := Parse(f); back != n || err != nil {
				t.Fatalf("Parse(%q) = %d; Format %q parses to %d, %v", s, n, f, back, err)
			}
		}
	})
}
