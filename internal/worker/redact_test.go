package worker

import "testing"

func TestRedactedURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":             "http://127.0.0.1:8080",
		"https://rgrid:s3cret@grid.example": "https://rgrid:xxxxx@grid.example",
		"http://%zz":                        "(unparsable URL)",
		"https://a:s@x:1, http://y:2":       "https://a:xxxxx@x:1,http://y:2",
	} {
		if got := redactedURL(in); got != want {
			t.Errorf("redactedURL(%q) = %q, want %q", in, got, want)
		}
	}
}
