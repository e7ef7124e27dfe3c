package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/store"
)

// testStartTimes: an attempt's start times are stored once (a repeated
// record is ignored, a batch records each of its attempts) and listed by
// attempt number, each job's apart.
func testStartTimes(t *testing.T, s store.Store) {
	ctx := t.Context()
	none, err := s.StartTimes(ctx, "no-such-job")
	require.NoError(t, err)
	require.Empty(t, none)
	require.NoError(t, s.RecordStartTimes(ctx, nil))

	a := store.StartTimes{JobID: "st-a", Attempt: 2, Image: 3 * time.Millisecond, Stage: 1500 * time.Microsecond,
		Container: 250 * time.Millisecond, FirstByte: 40*time.Millisecond + 7}
	b := store.StartTimes{JobID: "st-b", Attempt: 1, Image: time.Hour, Stage: 1}
	a1 := store.StartTimes{JobID: "st-a", Attempt: 1, Image: 2 * time.Second} // a start that failed after its image
	require.NoError(t, s.RecordStartTimes(ctx, []store.StartTimes{a, b}))
	require.NoError(t, s.RecordStartTimes(ctx, []store.StartTimes{a1}))
	again := a
	again.Container = time.Minute
	require.NoError(t, s.RecordStartTimes(ctx, []store.StartTimes{again}), "a repeated record is not an error")

	got, err := s.StartTimes(ctx, "st-a")
	require.NoError(t, err)
	require.Equal(t, []store.StartTimes{a1, a}, got, "by attempt, the first record kept, to the nanosecond")
	got, err = s.StartTimes(ctx, "st-b")
	require.NoError(t, err)
	require.Equal(t, []store.StartTimes{b}, got)
}
