package server

import (
	"bytes"
	"cmp"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/console"
	"github.com/rgrid/rgrid/internal/jobhint"
	"github.com/rgrid/rgrid/internal/store"
)

// The web console's pages (internal/console holds their templates). They
// read the store through the same checks as the API: a page is a route of
// class accessConsole, whose caller is found as the API's is (a session
// cookie, or nobody on an open server); without one it sends the browser
// to the login page.

// consoleRoutes registers the console's routes.
func (s *Server) consoleRoutes(h func(string, access, http.HandlerFunc)) {
	h("GET /console/", accessPublic, console.Static().ServeHTTP)
	h("GET /login", accessPublic, s.loginPage)
	h("POST /login", accessPublic, s.login)
	h("POST /logout", accessPublic, s.logout)
	h("GET /{$}", accessConsole, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/jobs", http.StatusSeeOther) })
	h("GET /jobs", accessConsole, s.jobsPage)
	h("GET /jobs/{id}", accessConsole, s.jobPage)
	h("GET /batches/{id}", accessConsole, s.batchPage)
	h("GET /workers", accessConsole, s.workersPage)
	h("GET /cost", accessConsole, s.costPage)
}

// page is what every page's layout needs.
type page struct {
	Title, CSRF, Who string
}

func (s *Server) pageOf(r *http.Request, title string) page {
	pg := page{Title: title}
	if c, err := r.Cookie(sessionCookie); err == nil {
		// The session was checked with the key: it is at hand.
		if pg.CSRF, err = s.csrfToken(r.Context(), c.Value); err != nil {
			s.log.Error("console: no CSRF token for the page", "err", err)
		}
	}
	if p := caller(r); p.kind == asUser {
		pg.Who = p.user.Name
	}
	return pg
}

func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := console.Pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("console: rendering a page failed", "page", name, "err", err)
		http.Error(w, "the console could not render this page; the server's log says why", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// consoleError shows an API error as a page.
func (s *Server) consoleError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.log.Error("console: a page failed", "path", r.URL.Path, "err", err)
		ae = errorf(client.CodeInternal, "try again; the server's log says why", "the server could not answer")
	}
	s.render(w, statusOf(ae.code), "login.html", struct {
		page
		Error, Next string
	}{s.pageOf(r, "Error"), ae.message + " — " + ae.hint, ""})
}

type loginView struct {
	page
	Error, Next string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "login.html", loginView{page: page{Title: "Log in"}, Next: localPath(r.URL.Query().Get("next"))})
}

// localPath keeps a redirect target on this server.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.Contains(p, "\\") {
		return "/jobs"
	}
	return p
}

// login exchanges a user token for a session cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	secret := strings.TrimSpace(r.PostFormValue("token"))
	next := localPath(r.PostFormValue("next"))
	fail := func(msg string) {
		s.render(w, http.StatusUnauthorized, "login.html", loginView{page: page{Title: "Log in"}, Error: msg, Next: next})
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host {
			fail("log in from this server's own login page")
			return
		}
	}
	if !looksLikeToken(secret) {
		fail("that is not an RGrid token (rgu_ followed by 40 letters and digits); \"rgrid token create\" makes one")
		return
	}
	p, err := s.tokenPrincipal(r.Context(), secret)
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		fail(ae.message + "; " + ae.hint)
		return
	case err != nil:
		s.consoleError(w, r, err)
		return
	case p.kind != asUser:
		fail("a worker token cannot log in; use a user token (rgrid token create)")
		return
	}
	session, err := s.newSession(r.Context(), hashToken(secret), s.opts.Now())
	if err != nil {
		s.consoleError(w, r, err)
		return
	}
	setSession(w, r, session)
	s.log.Info("console: logged in", "user", p.user.Name, "token", p.token.ID)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session (its cookie; the CSRF header keeps other sites
// from logging a user out).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && !s.csrfMatches(r, c.Value) {
		s.writeError(w, r, errorf(client.CodeForbidden, "use the console's Log out button", "logging out needs the session's %s header", csrfHeader))
		return
	}
	setSession(w, r, "")
	w.WriteHeader(http.StatusNoContent)
}

type jobsView struct {
	page
	Jobs                        []client.Job
	States                      []client.JobState
	State, Batch, Runtime, User string
	Admin                       bool
	Next                        string
}

const consolePageSize = 50

func (s *Server) jobsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := jobsView{page: s.pageOf(r, "Jobs"), States: client.AllStates, State: q.Get("state"), Batch: q.Get("batch"),
		Runtime: q.Get("runtime"), User: q.Get("user"), Admin: caller(r).admin()}
	p := store.ListJobsParams{Limit: consolePageSize, BatchID: v.Batch, Runtime: v.Runtime}
	if v.State != "" {
		if !client.JobState(v.State).Valid() {
			s.consoleError(w, r, errorf(client.CodeInvalidRequest, "states are: "+joinStates(), "unknown state %q", v.State))
			return
		}
		p.States = []store.State{store.State(v.State)}
	}
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 1 {
			s.consoleError(w, r, errorf(client.CodeInvalidRequest, "follow the page's own links", "cursor %q is not valid", c))
			return
		}
		p.BeforeSeq = n
	}
	var err error
	if p.Owner, p.OwnerSet, err = s.listOwner(r); err != nil {
		s.consoleError(w, r, err)
		return
	}
	jobs, err := s.store.ListJobs(r.Context(), p)
	if err != nil {
		s.consoleError(w, r, err)
		return
	}
	for _, j := range jobs {
		v.Jobs = append(v.Jobs, jobToAPI(j, nil))
	}
	if len(jobs) == p.Limit {
		next := url.Values{}
		for k, vs := range q {
			if k != "cursor" && len(vs) > 0 && vs[0] != "" {
				next.Set(k, vs[0])
			}
		}
		next.Set("cursor", strconv.FormatInt(jobs[len(jobs)-1].Seq, 10))
		v.Next = "/jobs?" + next.Encode()
	}
	s.render(w, http.StatusOK, "jobs.html", v)
}

func (s *Server) jobPage(w http.ResponseWriter, r *http.Request) {
	j, err := s.loadJob(r, r.PathValue("id"))
	if err != nil {
		s.consoleError(w, r, err)
		return
	}
	atts, err := s.store.ListAttempts(r.Context(), j.ID)
	if err != nil {
		s.consoleError(w, r, err)
		return
	}
	job := withCost(jobToAPI(j, atts), atts, s.opts.Now())
	v := jobView{page: s.pageOf(r, "Job "+j.ID), Job: job, Hint: jobhint.For(job)}
	f, err := s.jobFilesOf(r.Context(), j.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.consoleError(w, r, err)
		return
	}
	if v.Inputs, v.MoreInputs, err = s.fileLinks(j.ID, "inputs", f.Inputs); err == nil {
		v.Outputs, v.MoreOutputs, err = s.fileLinks(j.ID, "outputs", f.Outputs)
	}
	if err != nil {
		s.consoleError(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "job.html", v)
}

type jobView struct {
	page
	Job                     client.Job
	Hint                    string
	Inputs, Outputs         []fileLink
	MoreInputs, MoreOutputs int
}

// fileLink is a file of a job's page, with where to download it.
type fileLink struct {
	Path, URL string
	Size      int64
}

// maxFileLinks bounds the files a job's page lists of each kind.
const maxFileLinks = 500

// fileLinks lists a stored manifest's files (the first maxFileLinks, and
// how many more), each with its download URL.
func (s *Server) fileLinks(jobID, what string, stored []byte) ([]fileLink, int, error) {
	m, err := s.decodeManifest(stored)
	if m == nil || err != nil {
		return nil, 0, err
	}
	var out []fileLink
	more := 0
	for _, e := range m.Entries {
		if e.Kind != "file" {
			continue
		}
		if len(out) == maxFileLinks {
			more++
			continue
		}
		segs := strings.Split(e.Path, "/")
		for i, seg := range segs {
			segs[i] = url.PathEscape(seg)
		}
		out = append(out, fileLink{Path: e.Path, Size: e.Size, URL: "/v1/jobs/" + jobID + "/" + what + "/" + strings.Join(segs, "/")})
	}
	return out, more, nil
}

// maxWorkerJobs bounds the running jobs the workers page lists.
const maxWorkerJobs = 1000

func (s *Server) workersPage(w http.ResponseWriter, r *http.Request) {
	ws, err := s.store.ListWorkers(r.Context())
	if err != nil {
		s.consoleError(w, r, err)
		return
	}
	// The running jobs the caller may see (an admin: all; a user: their
	// own), through the index of active jobs.
	p := caller(r)
	running, err := s.store.ListJobs(r.Context(), store.ListJobsParams{States: []store.State{store.StateLeased, store.StateRunning},
		Owner: p.owner(), OwnerSet: !p.admin(), Limit: maxWorkerJobs})
	if err != nil {
		s.consoleError(w, r, err)
		return
	}
	jobs := map[string][]string{}
	for _, j := range running {
		jobs[j.WorkerID] = append(jobs[j.WorkerID], j.ID)
	}
	v := struct {
		page
		Workers []workerView
		Admin   bool
	}{page: s.pageOf(r, "Workers"), Admin: p.admin()}
	for _, x := range ws {
		wv := workerView{Worker: workerToAPI(x), Jobs: jobs[x.ID]}
		slices.Sort(wv.Jobs)
		if pr := x.Pricing; pr.PriceMicros > 0 {
			wv.Price = &client.Money{Micros: pr.PriceMicros, Currency: pr.Currency}
		}
		v.Workers = append(v.Workers, wv)
	}
	s.render(w, http.StatusOK, "workers.html", v)
}

// workerView is a worker on its page: its running jobs the caller may
// see, and its price per hour (nil: unpriced).
type workerView struct {
	client.Worker
	Jobs  []string
	Price *client.Money
}

// batchPage shows a batch's counts and its failed items (the first 100).
func (s *Server) batchPage(w http.ResponseWriter, r *http.Request) {
	b, err := s.loadBatch(r, r.PathValue("id"))
	if err != nil {
		s.consoleError(w, r, err)
		return
	}
	items, err := s.store.ListBatchItems(r.Context(), store.ListBatchItemsParams{BatchID: b.ID, Limit: 100,
		States: []store.State{store.StateFailed, store.StateTimedOut, store.StateOOMKilled, store.StateError, store.StateLost}})
	if err != nil {
		s.consoleError(w, r, err)
		return
	}
	v := struct {
		page
		Batch  client.Batch
		Failed []client.Job
	}{page: s.pageOf(r, "Batch "+b.ID), Batch: batchToAPI(b)}
	if v.Batch.Cost, v.Batch.Projected, err = s.batchCost(r, b); err != nil {
		s.consoleError(w, r, err)
		return
	}
	for _, j := range items {
		v.Failed = append(v.Failed, jobToAPI(j, nil))
	}
	s.render(w, http.StatusOK, "batch.html", v)
}

// costPeriods are the periods the cost page offers.
var costPeriods = []string{"1d", "7d", "30d", "90d"}

type costView struct {
	page
	Since, Period string
	Periods       []string
	Admin         bool
	By            string // what the rows are by: "user" or "batch"
	Rows, Idle    []client.CostRow
	Total         []client.Money
}

// costPage shows what the caller's jobs cost over a period, by batch; an
// admin sees every user's, by user, and the idle capacity. The sums are
// the database's (store.CostSums): one row per key is read, whatever the
// number of jobs.
func (s *Server) costPage(w http.ResponseWriter, r *http.Request) {
	now := s.opts.Now().UTC()
	v := costView{page: s.pageOf(r, "Cost"), Period: r.URL.Query().Get("since"), Periods: costPeriods, Admin: caller(r).admin()}
	if v.Period == "" {
		v.Period = "30d"
	}
	if !slices.Contains(costPeriods, v.Period) {
		s.consoleError(w, r, errorf(client.CodeInvalidRequest, "use since="+strings.Join(costPeriods, ", since="),
			"the cost page shows no period %q", v.Period))
		return
	}
	since, err := parseSince(v.Period, now, now)
	if err != nil {
		s.consoleError(w, r, err)
		return
	}
	v.Since = since.Format(time.RFC3339)
	p := store.CostSumParams{Since: since, Until: now, Running: true, Now: now, By: "batch"}
	names := map[string]string{}
	if v.Admin {
		p.By = "user"
		us, err := s.store.ListUsers(r.Context())
		if err != nil {
			s.consoleError(w, r, err)
			return
		}
		for _, u := range us {
			names[u.ID] = u.Name
		}
	} else {
		p.Owner, p.OwnerSet = caller(r).owner(), true
	}
	v.By = p.By
	sums, err := s.costSums(r.Context(), p)
	if err != nil {
		s.consoleError(w, r, err)
		return
	}
	totals := map[string]int64{}
	for _, c := range sums {
		key := c.Key
		switch {
		case p.By == "user" && key == "":
			key = "(no user)"
		case p.By == "user":
			key = cmp.Or(names[key], key)
		case key == "":
			key = "(no batch)"
		}
		v.Rows = append(v.Rows, client.CostRow{Key: key, Jobs: int(c.Jobs), Attempts: int(c.Attempts),
			RunSeconds: float64(c.RunMillis) / 1000, Cost: client.Money{Micros: c.Micros, Currency: c.Currency}})
		totals[c.Currency] += c.Micros
	}
	for _, cur := range slices.Sorted(maps.Keys(totals)) {
		v.Total = append(v.Total, client.Money{Micros: totals[cur], Currency: cur})
	}
	if v.Admin {
		byWorker, err := s.costSums(r.Context(), store.CostSumParams{Since: since, Until: now, Running: true, Now: now, By: "worker"})
		if err != nil {
			s.consoleError(w, r, err)
			return
		}
		charged := map[string]int64{}
		for _, c := range byWorker {
			charged[c.Key] += c.Micros
		}
		if v.Idle, err = s.idleCost(r, since, now, now, charged); err != nil {
			s.consoleError(w, r, err)
			return
		}
	}
	s.render(w, http.StatusOK, "cost.html", v)
}
