package server

import (
	"cmp"
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/store"
)

// Metrics, served at GET /metrics in Prometheus's text format from a
// registry of the server's own.
//
// Counters and histograms count what this server process recorded (a
// result it stored, a job it queued, a worker it declared dead), so with
// several replicas Prometheus sums them. The gauges that read the store
// (queue, workers, slots) are read by one loop at most once per
// Options.MetricsInterval, never per scrape, so scrapes of several
// replicas by several Prometheus servers put no load on the database;
// every replica reports the same values (take max, not sum). No metric has
// a per-job, per-user or per-worker label: every label's values are a
// small fixed set.

// DefaultMetricsInterval is how often the store-backed gauges are read.
const DefaultMetricsInterval = 10 * time.Second

// lostReasons are the reasons attempts are counted lost by; another
// (a worker reporting its own) counts as "other".
var lostReasons = []string{"worker_lost", "worker_dropped", "worker_stopped", "other"}

// Causes of a job being queued again.
const (
	retryScriptFailure = "script_failure" // the script failed and the job has retries left
	retryAttemptLost   = "attempt_lost"   // its attempt was lost and it has attempts left
	retryBatch         = "batch_retry"    // rgrid batch retry queued a finished item again
)

var workerStates = []string{"active", "draining", "dead"}

type metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	submitted    *prometheus.CounterVec
	finished     *prometheus.CounterVec
	lost         *prometheus.CounterVec
	retried      *prometheus.CounterVec
	startLatency prometheus.Histogram
	runTime      prometheus.Histogram
	logBytes     prometheus.Counter
	blobBytes    prometheus.Counter
	requests     *prometheus.CounterVec

	queued        prometheus.Gauge
	oldestQueued  atomic.Int64 // unix nanos of the first queued job's submission; 0: none
	workers       *prometheus.GaugeVec
	slots         prometheus.Gauge
	slotsInUse    prometheus.Gauge
	refreshed     prometheus.Gauge
	refreshErrors prometheus.Counter
	spend         *prometheus.GaugeVec
	spendAt       time.Time // when spend was last read (by the metrics loop only)
}

// spendInterval is how often the spend gauge is read: it sums the
// month's priced attempts, more work than the other gauges.
const spendInterval = 5 * time.Minute

func newMetrics(rt *runtimes.Table, now func() time.Time) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), now: now}
	m.submitted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rgrid_jobs_submitted_total",
		Help: "Jobs queued by submissions to this server (batch items included), by runtime.",
	}, []string{"runtime"})
	m.finished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rgrid_jobs_finished_total",
		Help: "Jobs this server recorded as ended, by terminal state and runtime.",
	}, []string{"state", "runtime"})
	m.lost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rgrid_attempts_lost_total",
		Help: "Attempts ended lost (their worker died, dropped them or stopped), by reason.",
	}, []string{"reason"})
	m.retried = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rgrid_jobs_retried_total",
		Help: "Jobs queued again for a new attempt, by cause: script_failure (retries left), attempt_lost (attempts left), batch_retry.",
	}, []string{"cause"})
	m.startLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "rgrid_job_start_latency_seconds",
		Help:    "Time from a job's submission to the start of its first attempt, observed when the start is recorded.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
	})
	m.runTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "rgrid_job_run_seconds",
		Help:    "Run time (start to end) of the attempt that ended a job, observed when the job ends.",
		Buckets: []float64{0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400},
	})
	m.logBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rgrid_log_bytes_stored_total",
		Help: "Bytes of job output this server stored (a retried upload's repeated chunks count again).",
	})
	m.blobBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rgrid_blob_bytes_stored_total",
		Help: "Bytes of files uploaded through this server into its blob store (presigned uploads go around it).",
	})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rgrid_http_requests_total",
		Help: "HTTP requests answered, by route pattern and status code.",
	}, []string{"route", "code"})
	m.queued = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rgrid_queue_jobs",
		Help: "Jobs queued (read from the store once per metrics interval).",
	})
	oldestAge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rgrid_queue_oldest_job_age_seconds",
		Help: "Time since the submission of the first job in the queue (0: none); the job is found once per metrics interval.",
	}, m.oldestAge)
	m.workers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rgrid_workers",
		Help: "Registered workers by state (read once per metrics interval).",
	}, []string{"state"})
	m.slots = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rgrid_slots",
		Help: "Job slots of the workers that are not dead (read once per metrics interval).",
	})
	m.slotsInUse = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rgrid_slots_in_use",
		Help: "Attempts leased or running on workers (read once per metrics interval).",
	})
	m.refreshed = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rgrid_metrics_refreshed_timestamp_seconds",
		Help: "When the store-backed gauges were last read (unix time; 0: not yet).",
	})
	m.refreshErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rgrid_metrics_refresh_failures_total",
		Help: "Reads of the store-backed gauges that failed (the gauges keep their last values).",
	})
	m.spend = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rgrid_spend_month_microunits",
		Help: "What this calendar month's (UTC) attempts cost so far, by the pool of their worker's token, in micro-units of the currency (read every 5 minutes).",
	}, []string{"pool", "currency"})
	m.reg.MustRegister(m.submitted, m.finished, m.lost, m.retried, m.startLatency, m.runTime,
		m.logBytes, m.blobBytes, m.requests, m.queued, oldestAge, m.workers, m.slots, m.slotsInUse,
		m.refreshed, m.refreshErrors, m.spend,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Every series of a fixed label set exists from the start, at 0, so
	// that rate() and increase() see the first event.
	for _, r := range rt.All() {
		m.submitted.WithLabelValues(r.Name)
		for _, s := range terminalStates {
			m.finished.WithLabelValues(string(s), r.Name)
		}
	}
	for _, r := range lostReasons {
		m.lost.WithLabelValues(r)
	}
	for _, c := range []string{retryScriptFailure, retryAttemptLost, retryBatch} {
		m.retried.WithLabelValues(c)
	}
	for _, s := range workerStates {
		m.workers.WithLabelValues(s)
	}
	return m
}

var terminalStates = []store.State{store.StateSucceeded, store.StateFailed, store.StateTimedOut,
	store.StateOOMKilled, store.StateCanceled, store.StateLost, store.StateError}

func (m *metrics) oldestAge() float64 {
	n := m.oldestQueued.Load()
	if n == 0 {
		return 0
	}
	return max(m.now().Sub(time.Unix(0, n)).Seconds(), 0)
}

// runtimeLabel is a job's runtime as a label value.
func runtimeLabel(j store.Job) string {
	if j.Runtime == "" {
		return "none"
	}
	return j.Runtime
}

func lostReason(reason string) string {
	for _, r := range lostReasons {
		if r == reason {
			return r
		}
	}
	return "other"
}

func (m *metrics) jobsSubmitted(runtime string, n int) {
	if runtime == "" {
		runtime = "none"
	}
	m.submitted.WithLabelValues(runtime).Add(float64(n))
}

// jobEnded counts a job that ended, and its run time.
func (m *metrics) jobEnded(j store.Job) {
	m.finished.WithLabelValues(string(j.State), runtimeLabel(j)).Inc()
	if j.StartedAt != nil && j.FinishedAt != nil {
		m.runTime.Observe(max(j.FinishedAt.Sub(*j.StartedAt).Seconds(), 0))
	}
}

// jobSettled counts what happened to a job after its attempt ended: queued
// again (by cause), or ended.
func (m *metrics) jobSettled(j store.Job, cause string) {
	switch {
	case j.State == store.StateQueued:
		m.retried.WithLabelValues(cause).Inc()
	case j.State.Terminal():
		m.jobEnded(j)
	}
}

// started observes a job's submission-to-start latency when the store
// recorded its first attempt's start at now (and not before: a repeated
// start report changes nothing and is not counted again). PostgreSQL keeps
// microseconds.
func (m *metrics) started(j store.Job, now time.Time) {
	if j.Attempt != 1 || j.StartedAt == nil || !j.StartedAt.Truncate(time.Microsecond).Equal(now.Truncate(time.Microsecond)) {
		return
	}
	m.startLatency.Observe(max(j.StartedAt.Sub(j.CreatedAt).Seconds(), 0))
}

// resultRecorded counts a worker's result p as the store recorded it (j:
// the job after it). startedHere: the same request recorded the start, so
// a start at p.Now is not this result's.
func (m *metrics) resultRecorded(j store.Job, p store.FinishParams, startedHere bool) {
	cause := retryScriptFailure
	if p.State == store.StateLost {
		m.lost.WithLabelValues(lostReason(p.Reason)).Inc()
		cause = retryAttemptLost
	}
	if !startedHere {
		m.started(j, p.Now) // the start report was folded into the result, or lost
	}
	m.jobSettled(j, cause)
}

// AttemptsLost counts attempts the scheduler took back (scheduler.Observer).
func (m *metrics) AttemptsLost(reason string, jobs []store.Job) {
	m.lost.WithLabelValues(lostReason(reason)).Add(float64(len(jobs)))
	for _, j := range jobs {
		m.jobSettled(j, retryAttemptLost)
	}
}

// JobsExpired counts jobs the reaper ended past their time limit
// (scheduler.Observer).
func (m *metrics) JobsExpired(jobs []store.Job) {
	for _, j := range jobs {
		m.jobEnded(j)
	}
}

// refresh reads the store-backed gauges once.
func (s *Server) refreshMetrics(ctx context.Context) error {
	m := s.metrics
	q, err := s.store.QueueStats(ctx)
	if err != nil {
		m.refreshErrors.Inc()
		return err
	}
	ws, err := s.store.ListWorkers(ctx)
	if err != nil {
		m.refreshErrors.Inc()
		return err
	}
	m.queued.Set(float64(q.Queued))
	if q.OldestCreatedAt != nil {
		m.oldestQueued.Store(q.OldestCreatedAt.UnixNano())
	} else {
		m.oldestQueued.Store(0)
	}
	byState := map[string]int{}
	slots, inUse := 0, 0
	for _, w := range ws {
		byState[w.State]++
		inUse += w.SlotsInUse
		if w.State != "dead" {
			slots += w.Slots
		}
	}
	for _, st := range workerStates {
		m.workers.WithLabelValues(st).Set(float64(byState[st]))
	}
	m.slots.Set(float64(slots))
	m.slotsInUse.Set(float64(inUse))
	if now := s.opts.Now(); now.Sub(m.spendAt) >= spendInterval {
		cs, err := s.store.Charges(ctx, store.MonthStart(now), now, true)
		if err != nil {
			m.refreshErrors.Inc()
			return err
		}
		spend := map[[2]string]int64{}
		for _, c := range cs {
			spend[[2]string{cmp.Or(c.Pool, "none"), c.Currency}] += c.Cost(now)
		}
		m.spend.Reset()
		for k, v := range spend {
			m.spend.WithLabelValues(k[0], k[1]).Set(float64(v))
		}
		m.spendAt = now
	}
	m.refreshed.Set(float64(s.opts.Now().UnixNano()) / 1e9)
	return nil
}

// RefreshMetrics reads the store-backed gauges now, as the metrics loop
// does once per interval.
func (s *Server) RefreshMetrics(ctx context.Context) error { return s.refreshMetrics(ctx) }

// metricsLoop reads the store-backed gauges at the start and then once
// per interval.
func (s *Server) metricsLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.MetricsInterval)
	defer t.Stop()
	for {
		if err := s.refreshMetrics(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("metrics: reading the queue and workers failed; retrying at the next interval", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Metrics is the server's registry, for tests and for an embedding
// program that serves it elsewhere.
func (s *Server) Metrics() prometheus.Gatherer { return s.metrics.reg }

func (s *Server) serveMetrics() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{s},
		ErrorHandling: promhttp.ContinueOnError,
	})
}

type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) { l.s.log.Warn("metrics: serving /metrics", "err", v) }

// instrument counts every request by the pattern of the route that took
// it (never the raw path, whose ids would make a series per job) and the
// status it was answered with.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern // set by the ServeMux on this request
		if route == "" {
			route = "unmatched"
		}
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.code())).Inc()
	})
}

// statusWriter remembers the status written. Unwrap lets
// http.ResponseController (SSE's flushes) and the WebSocket upgrade's
// hijack reach the connection's own writer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }
