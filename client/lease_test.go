package client

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// A lease's inputs manifests are decoded once per distinct encoding: jobs
// sent the same bytes, in one lease or the next, share one Manifest.
func TestLeaseDecodesEachManifestOnce(t *testing.T) {
	t.Parallel()
	a := `{"entries":[{"path":"a.csv","kind":"file","size":3,"sha256":"` + strings.Repeat("ab", 32) + `"}]}`
	b := `{"entries":[{"path":"b","kind":"dir"}]}`
	body := `{"jobs":[{"job":{"id":"j1"},"attempt":1,"inputs":` + a + `},{"job":{"id":"j2"},"attempt":1,"inputs":` + a +
		`},{"job":{"id":"j3"},"attempt":2,"inputs":` + b + `},{"job":{"id":"j4"},"attempt":1}],"stop":[{"job_id":"j9","attempt":3}]}`
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/bad/") {
			_, _ = w.Write([]byte(`{"jobs":[{"job":{"id":"j5"},"inputs":{"entries":7}}]}`))
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	defer ts.Close()
	c, err := New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Lease(t.Context(), "w1", LeaseRequest{Max: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Jobs) != 4 || len(r.Stop) != 1 || r.Stop[0].JobID != "j9" {
		t.Fatalf("lease: %+v", r)
	}
	j1, j2, j3, j4 := r.Jobs[0], r.Jobs[1], r.Jobs[2], r.Jobs[3]
	if j1.Job.ID != "j1" || j3.Attempt != 2 || j1.Inputs == nil || len(j1.Inputs.Entries) != 1 || j1.Inputs.Entries[0].Path != "a.csv" ||
		j1.Inputs.Entries[0].Size != 3 || j3.Inputs == nil || j3.Inputs.Entries[0].Kind != "dir" {
		t.Fatalf("jobs decoded as %+v, %+v", j1, j3)
	}
	if j1.Inputs != j2.Inputs || j1.InputsDigest != sha256.Sum256([]byte(a)) || j2.InputsDigest != j1.InputsDigest {
		t.Error("two jobs sent one manifest do not share it by its digest")
	}
	if j3.InputsDigest != sha256.Sum256([]byte(b)) || j3.Inputs == j1.Inputs {
		t.Error("another manifest shares the first's")
	}
	if j4.Inputs != nil || j4.InputsDigest != [32]byte{} {
		t.Errorf("a job without inputs: %v, digest %x", j4.Inputs, j4.InputsDigest)
	}
	again, err := c.Lease(t.Context(), "w1", LeaseRequest{Max: 4})
	if err != nil {
		t.Fatal(err)
	}
	if again.Jobs[0].Inputs != j1.Inputs {
		t.Error("the next lease decoded the same manifest again")
	}
	if _, err := c.Lease(t.Context(), "bad", LeaseRequest{}); err == nil {
		t.Error("a manifest that does not decode was taken")
	}
}

func TestManifestCacheBounds(t *testing.T) {
	t.Parallel()
	c := newManifestCache()
	for i := range manifestCacheLen + 3 {
		data := []byte(`{"entries":[{"path":"` + strings.Repeat("x", i+1) + `","kind":"dir"}]}`)
		if _, err := c.decode(sha256.Sum256(data), data); err != nil {
			t.Fatal(err)
		}
	}
	if c.c.Len() != manifestCacheLen || c.c.Weight() != manifestCacheLen {
		t.Errorf("cache holds %d manifests, %d entries, want %d of each", c.c.Len(), c.c.Weight(), manifestCacheLen)
	}
	for i, want := range map[int]bool{2: false, 3: true} { // the fourth is the oldest kept
		data := []byte(`{"entries":[{"path":"` + strings.Repeat("x", i+1) + `","kind":"dir"}]}`)
		if _, kept := c.c.Get(sha256.Sum256(data)); kept != want {
			t.Errorf("manifest %d kept = %v, want %v", i+1, kept, want)
		}
	}
}

// A lease names the manifests the client holds decoded; a job the server
// sends by its hash alone gets the one held, and one whose hash names
// nothing held is an error, not a job without inputs.
func TestLeaseNamesTheManifestsItHolds(t *testing.T) {
	t.Parallel()
	a := `{"entries":[{"path":"a.csv","kind":"file","size":3,"sha256":"` + strings.Repeat("ab", 32) + `"}]}`
	sum := sha256.Sum256([]byte(a))
	hash := hex.EncodeToString(sum[:])
	var known [][]string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req LeaseRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Error(err)
		}
		known = append(known, req.KnownInputs)
		switch len(known) {
		case 1:
			_, _ = w.Write([]byte(`{"jobs":[{"job":{"id":"j1"},"attempt":1,"inputs":` + a + `}]}`))
		case 2:
			_, _ = w.Write([]byte(`{"jobs":[{"job":{"id":"j2"},"attempt":1,"inputs_sha256":"` + hash + `"}]}`))
		default:
			_, _ = w.Write([]byte(`{"jobs":[{"job":{"id":"j3"},"attempt":1,"inputs_sha256":"` + strings.Repeat("cd", 32) + `"}]}`))
		}
	}))
	defer ts.Close()
	c, err := New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.Lease(t.Context(), "w1", LeaseRequest{Max: 1})
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Lease(t.Context(), "w1", LeaseRequest{Max: 1})
	if err != nil {
		t.Fatal(err)
	}
	if known[0] != nil || len(known[1]) != 1 || known[1][0] != hash {
		t.Errorf("known_inputs sent: %q, want none and then [%s]", known, hash)
	}
	if second.Jobs[0].Inputs != first.Jobs[0].Inputs || second.Jobs[0].InputsDigest != sum {
		t.Error("a job named by the held manifest's hash does not get it")
	}
	if _, err := c.Lease(t.Context(), "w1", LeaseRequest{Max: 1}); err == nil || !strings.Contains(err.Error(), "j3") {
		t.Errorf("a job naming a manifest not held: %v", err)
	}
}

// A server older than known_inputs refuses it as invalid JSON before it
// claims anything: the lease is asked again without, and so are the next.
func TestLeaseWithoutKnownInputsForAnOlderServer(t *testing.T) {
	t.Parallel()
	a := `{"entries":[{"path":"b","kind":"dir"}]}`
	var asked []bool
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		_ = json.NewDecoder(r.Body).Decode(&req)
		_, named := req["known_inputs"]
		asked = append(asked, named)
		if named {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"code":"invalid_json","message":"json: unknown field \"known_inputs\""}`))
			return
		}
		_, _ = w.Write([]byte(`{"jobs":[{"job":{"id":"j1"},"attempt":1,"inputs":` + a + `}]}`))
	}))
	defer ts.Close()
	c, err := New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		l, err := c.Lease(t.Context(), "w1", LeaseRequest{Max: 1})
		if err != nil || len(l.Jobs) != 1 || l.Jobs[0].Inputs == nil {
			t.Fatalf("lease %d: %+v, %v", i, l, err)
		}
	}
	if want := []bool{false, true, false, false}; !slices.Equal(asked, want) {
		t.Errorf("requests named known inputs: %v, want %v", asked, want)
	}
}
