package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// flaky answers its first failures requests with status and the
// Retry-After header retryAfter, then 200 with a health body, and
// records when each request came.
type flaky struct {
	status, failures int
	retryAfter       func() string
	mu               sync.Mutex
	times            []time.Time
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.times = append(f.times, time.Now())
	n := len(f.times)
	f.mu.Unlock()
	if n <= f.failures {
		if h := f.retryAfter(); h != "" {
			w.Header().Set("Retry-After", h)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(`{"code":"unavailable","message":"the server cannot reach its database"}`))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ok"}`))
}

func (f *flaky) requests() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.times)
}

// newFlaky serves f and returns a client whose retries record their
// waits instead of taking them.
func newFlaky(t *testing.T, f *flaky) (*Client, *[]time.Duration) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) bool {
		waits = append(waits, d)
		return ctx.Err() == nil
	}
	return c, &waits
}

func header(h string) func() string { return func() string { return h } }

// A GET answered 503 or 429 waits as the server's Retry-After asks,
// seconds or an HTTP-date, then tries again.
func TestGetWaitsAsRetryAfterAsks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		status   int
		header   func() string
		min, max time.Duration
	}{
		{"503, seconds", http.StatusServiceUnavailable, header("3"), 3 * time.Second, 3 * time.Second},
		{"429, seconds", http.StatusTooManyRequests, header("7"), 7 * time.Second, 7 * time.Second},
		{"503, a date", http.StatusServiceUnavailable, func() string {
			return time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat)
		}, 3 * time.Second, 5 * time.Second}, // an HTTP-date is whole seconds
		{"503, no header", http.StatusServiceUnavailable, header(""), 500 * time.Millisecond, 500 * time.Millisecond},
		{"503, not a delay", http.StatusServiceUnavailable, header("soon"), 500 * time.Millisecond, 500 * time.Millisecond},
	} {
		f := &flaky{status: tc.status, failures: 1, retryAfter: tc.header}
		c, waits := newFlaky(t, f)
		h, err := c.Health(t.Context())
		if err != nil || h.Status != "ok" || len(f.requests()) != 2 {
			t.Errorf("%s: %+v, %v after %d requests", tc.name, h, err, len(f.requests()))
		}
		if len(*waits) != 1 || (*waits)[0] < tc.min || (*waits)[0] > tc.max {
			t.Errorf("%s: waited %v, want one wait in [%v, %v]", tc.name, *waits, tc.min, tc.max)
		}
	}
}

// The client waits itself only as long as makes sense: not past the
// caller's deadline, not a wait too long to hang on, not for a POST.
func TestRetryAfterIsNotWaitedOut(t *testing.T) {
	t.Parallel()
	check := func(name string, f *flaky, ctx context.Context, call func(*Client, context.Context) error, wantRetryAfter time.Duration) {
		t.Helper()
		c, waits := newFlaky(t, f)
		err := call(c, ctx)
		var e *Error
		if !errors.As(err, &e) || e.Status != f.status || e.RetryAfter != wantRetryAfter || len(*waits) != 0 || len(f.requests()) != 1 {
			t.Errorf("%s: err %v (%+v), waits %v, %d requests; want the error at once with RetryAfter %v",
				name, err, e, *waits, len(f.requests()), wantRetryAfter)
		}
	}
	health := func(c *Client, ctx context.Context) error { _, err := c.Health(ctx); return err }
	check("over the cap", &flaky{status: 503, failures: 1, retryAfter: header("3600")}, t.Context(), health, time.Hour)

	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	check("past the deadline", &flaky{status: 503, failures: 1, retryAfter: header("2")}, ctx, health, 2*time.Second)

	check("a POST", &flaky{status: 503, failures: 1, retryAfter: header("1")}, t.Context(), func(c *Client, ctx context.Context) error {
		_, err := c.Cancel(ctx, "job_x")
		return err
	}, time.Second)

	// Retries end after getRetries, waiting each time.
	f := &flaky{status: 503, failures: 100, retryAfter: header("1")}
	c, waits := newFlaky(t, f)
	if _, err := c.Health(t.Context()); err == nil || len(f.requests()) != getRetries+1 || len(*waits) != getRetries {
		t.Errorf("always 503: %v after %d requests and %d waits", err, len(f.requests()), len(*waits))
	}
}

// The real sleeper waits: the second request comes no sooner than the
// server asked.
func TestRetryAfterWaitsForReal(t *testing.T) {
	t.Parallel()
	f := &flaky{status: 503, failures: 1, retryAfter: header("1")}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := New(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Health(t.Context()); err != nil {
		t.Fatal(err)
	}
	times := f.requests()
	if len(times) != 2 || times[1].Sub(times[0]) < time.Second {
		t.Errorf("requests at %v; want the second a second after the first", times)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"": 0, "0": 0, "2": 2 * time.Second, " 120 ": 2 * time.Minute, "-1": 0, "1.5": 0, "soon": 0,
		"99999999999999999999":           0, // not a uint64: ignored
		"18446744073709551615":           24 * time.Hour,
		"Thu, 02 Jan 2025 03:04:35 GMT":  30 * time.Second,
		"Thu, 02 Jan 2025 03:04:00 GMT":  0, // past
		"Monday, 06-Jan-25 03:04:05 GMT": 24 * time.Hour,
		"Thu Jan  2 03:05:05 2025":       time.Minute,
	} {
		if got := retryAfter(h, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", h, got, want)
		}
	}
}
