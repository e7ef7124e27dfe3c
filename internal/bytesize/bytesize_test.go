package bytesize

import "testing"

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
