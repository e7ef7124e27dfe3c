package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/store"
)

// testListJobsFilters: every combination of the list's filters, paged
// through two at a time by cursor, gives the matching jobs newest first,
// each once, and nothing else.
func testListJobsFilters(t *testing.T, s store.Store) {
	ctx := t.Context()
	var all []store.Job // oldest first
	for i := range 12 {
		nj := newJob(fmt.Sprintf("f-%02d", i))
		nj.Runtime = []string{"python3.11", "python3.12", "bash"}[i%3]
		nj.Owner = []string{"usr_a", "usr_b"}[i%2]
		j, err := s.CreateJob(ctx, nj)
		require.NoError(t, err)
		all = append(all, j)
	}
	nb := newBatch("fb", 5)
	nb.Item.Owner = "usr_a"
	nb.Item.Runtime = "bash"
	createBatch(t, s, nb)
	all = append(all, items(t, s, "fb")...)
	for _, id := range []string{"f-03", "f-06", "fb-1"} {
		_, err := s.RequestCancel(ctx, id, at(1))
		require.NoError(t, err)
	}
	for i := range all {
		j, err := s.GetJob(ctx, all[i].ID)
		require.NoError(t, err)
		all[i] = j
	}

	for _, p := range []store.ListJobsParams{
		{},
		{Runtime: "bash"},
		{Runtime: "python3.12"},
		{Runtime: "ruby"},
		{BatchID: "fb"},
		{BatchID: "fb", States: []store.State{store.StateCanceled}},
		{BatchID: "fb", Runtime: "python3.11"},
		{Owner: "usr_a", OwnerSet: true},
		{Owner: "usr_b", OwnerSet: true, Runtime: "python3.12"},
		{Owner: "usr_a", OwnerSet: true, BatchID: "fb"},
		{Owner: "", OwnerSet: true},
		{States: []store.State{store.StateCanceled}},
		{States: []store.State{store.StateQueued}, Runtime: "bash"},
		{States: []store.State{store.StateCanceled, store.StateFailed}, Owner: "usr_b", OwnerSet: true},
	} {
		var want []string
		for _, j := range slices.Backward(all) {
			if (p.Runtime == "" || j.Runtime == p.Runtime) && (p.BatchID == "" || j.BatchID == p.BatchID) &&
				(!p.OwnerSet || j.Owner == p.Owner) && (len(p.States) == 0 || slices.Contains(p.States, j.State)) {
				want = append(want, j.ID)
			}
		}
		var got []string
		p.Limit = 2
		for range len(all) + 1 {
			page, err := s.ListJobs(ctx, p)
			require.NoError(t, err, "%+v", p)
			got = append(got, ids(page)...)
			if len(page) < p.Limit {
				break
			}
			p.BeforeSeq = page[len(page)-1].Seq
		}
		p.BeforeSeq = 0
		require.Equal(t, want, got, "filters %+v", p)
	}
}

// testServerKey: the first key stored under a name is the one every
// later call gets, whatever it offers.
func testServerKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	k, err := s.ServerKey(ctx, "console_session", []byte("first-key"), at(1))
	require.NoError(t, err)
	require.Equal(t, []byte("first-key"), k)
	k, err = s.ServerKey(ctx, "console_session", []byte("second-key"), at(2))
	require.NoError(t, err)
	require.Equal(t, []byte("first-key"), k, "a second server gets the stored key")
	k, err = s.ServerKey(ctx, "other", []byte("other-key"), at(2))
	require.NoError(t, err)
	require.Equal(t, []byte("other-key"), k, "each name has its own key")
}
