package hetzner_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// fakeAPI is a stateful fake of the parts of the Hetzner Cloud API the
// provider uses, built from hcloud-go's schema types. Nothing in it
// reaches the real API.
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	nextID  int64
	servers map[int64]*fakeServer
	actions map[int64]*fakeAction
	// unavailable pairs "type/location" answer the create with
	// resource_unavailable; failStart pairs create the server but fail
	// its start action with that code.
	unavailable map[string]bool
	failStart   map[string]string
	creates     []string // "type/location" of every create call
	deleted     []string // names
	polls       int      // GET /actions calls
	// prices are the net hourly prices by "type/location", in EUR, that
	// GET /pricing answers; pricingGets counts those calls.
	prices      map[string]string
	pricingGets int
}

type fakeServer struct {
	s        schema.Server
	userData string
}

type fakeAction struct {
	a     schema.Action
	polls int    // answered running this many times before it ends
	fail  string // the error code it ends with, or ""
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, nextID: 100, servers: map[int64]*fakeServer{}, actions: map[int64]*fakeAction{},
		unavailable: map[string]bool{}, failStart: map[string]string{},
		prices: map[string]string{"cpx31/fsn1": "0.0190000000", "cpx31/nbg1": "0.0195000000", "cx42/fsn1": "0.0269000000", "cx42/nbg1": "0.0268999999"}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) id() int64 { f.nextID++; return f.nextID }

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/servers":
		var out []schema.Server
		for _, id := range f.sortedIDs() {
			s := f.servers[id]
			if matches(s.s.Labels, q.Get("label_selector")) && (q.Get("name") == "" || q.Get("name") == s.s.Name) {
				out = append(out, s.s)
			}
		}
		f.json(w, http.StatusOK, map[string]any{"servers": out, "meta": schema.Meta{Pagination: &schema.MetaPagination{Page: 1, LastPage: 1, TotalEntries: len(out)}}})
	case r.Method == http.MethodPost && r.URL.Path == "/servers":
		var req schema.ServerCreateRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			f.fail(w, http.StatusBadRequest, "invalid_input", err.Error())
			return
		}
		key := req.ServerType.Name + "/" + req.Location
		f.creates = append(f.creates, key)
		if f.unavailable[key] {
			f.fail(w, http.StatusPreconditionFailed, "resource_unavailable", "server type "+req.ServerType.Name+" unavailable in "+req.Location)
			return
		}
		s := &fakeServer{userData: req.UserData, s: schema.Server{ID: f.id(), Name: req.Name, Status: "initializing",
			Created: time.Now().UTC(), Labels: *req.Labels, ServerType: schema.ServerType{Name: req.ServerType.Name}}}
		f.servers[s.s.ID] = s
		create := f.action("create_server", 1, "")
		start := f.action("start_server", 2, f.failStart[key])
		f.json(w, http.StatusCreated, schema.ServerCreateResponse{Server: s.s, Action: create.a, NextActions: []schema.Action{start.a}})
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/servers/"):
		id, _ := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/servers/"), 10, 64)
		s, ok := f.servers[id]
		if !ok {
			f.fail(w, http.StatusNotFound, "not_found", "server not found")
			return
		}
		delete(f.servers, id)
		f.deleted = append(f.deleted, s.s.Name)
		f.json(w, http.StatusOK, schema.ServerDeleteResponse{Action: f.action("delete_server", 0, "").a})
	case r.Method == http.MethodGet && r.URL.Path == "/actions":
		f.polls++
		var out []schema.Action
		for _, v := range q["id"] {
			id, _ := strconv.ParseInt(v, 10, 64)
			a, ok := f.actions[id]
			if !ok {
				continue
			}
			if a.polls > 0 {
				a.polls--
			} else if a.a.Status == "running" {
				a.a.Status = "success"
				if a.fail != "" {
					a.a.Status, a.a.Error = "error", &schema.ActionError{Code: a.fail, Message: "the action failed: " + a.fail}
				}
			}
			out = append(out, a.a)
		}
		f.json(w, http.StatusOK, map[string]any{"actions": out, "meta": schema.Meta{Pagination: &schema.MetaPagination{Page: 1, LastPage: 1}}})
	case r.Method == http.MethodGet && r.URL.Path == "/pricing":
		f.pricingGets++
		byType := map[string][]schema.PricingServerTypePrice{}
		for k, net := range f.prices {
			st, loc, _ := strings.Cut(k, "/")
			byType[st] = append(byType[st], schema.PricingServerTypePrice{Location: loc,
				PriceHourly: schema.Price{Net: net, Gross: net}})
		}
		var types []schema.PricingServerType
		for st, prices := range byType {
			types = append(types, schema.PricingServerType{ID: int64(len(types) + 1), Name: st, Prices: prices})
		}
		f.json(w, http.StatusOK, schema.PricingGetResponse{Pricing: schema.Pricing{Currency: "EUR", VATRate: "19.00", ServerTypes: types}})
	case r.Method == http.MethodGet && r.URL.Path == "/ssh_keys":
		var out []schema.SSHKey
		if q.Get("name") == "ops" {
			out = append(out, schema.SSHKey{ID: 7, Name: "ops"})
		}
		f.json(w, http.StatusOK, map[string]any{"ssh_keys": out, "meta": schema.Meta{Pagination: &schema.MetaPagination{Page: 1, LastPage: 1}}})
	default:
		f.t.Errorf("fake Hetzner API: unexpected %s %s", r.Method, r.URL)
		f.fail(w, http.StatusNotFound, "not_found", "no such endpoint")
	}
}

func (f *fakeAPI) action(cmd string, polls int, fail string) *fakeAction {
	a := &fakeAction{a: schema.Action{ID: f.id(), Command: cmd, Status: "running", Started: time.Now().UTC()}, polls: polls, fail: fail}
	f.actions[a.a.ID] = a
	return a
}

func (f *fakeAPI) sortedIDs() []int64 {
	ids := make([]int64, 0, len(f.servers))
	for id := range f.servers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (f *fakeAPI) json(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeAPI) fail(w http.ResponseWriter, status int, code, msg string) {
	f.json(w, status, schema.ErrorResponse{Error: schema.Error{Code: code, Message: msg}})
}

// matches applies a selector of k=v terms joined by commas.
func matches(labels map[string]string, selector string) bool {
	if selector == "" {
		return true
	}
	for _, term := range strings.Split(selector, ",") {
		k, v, _ := strings.Cut(term, "=")
		if labels[k] != v {
			return false
		}
	}
	return true
}

// serverNames are the servers that exist, by id order.
func (f *fakeAPI) serverNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, id := range f.sortedIDs() {
		out = append(out, f.servers[id].s.Name)
	}
	return out
}

func (f *fakeAPI) snapshot() (creates, deleted []string, polls int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.creates), slices.Clone(f.deleted), f.polls
}

// addServer puts a server there that the provider did not make.
func (f *fakeAPI) addServer(name string, labels map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.id()
	f.servers[id] = &fakeServer{s: schema.Server{ID: id, Name: name, Status: "running", Created: time.Now().UTC(), Labels: labels}}
}

func (f *fakeAPI) userData(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.servers {
		if s.s.Name == name {
			return s.userData
		}
	}
	return ""
}
