package worker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rgrid/rgrid/client"
)

// The worker's own metrics (rgrid worker --metrics-listen serves them):
// its slots, the attempts it ran by outcome, and how long its executor
// takes to start a job. No label names a job.

// Outcomes of an attempt besides the result states it reports.
const (
	outcomeRefused   = "refused"   // the server no longer took the attempt (stale, canceled elsewhere)
	outcomeAbandoned = "abandoned" // killed unreported: the lease was given away, or the id taken
)

type metrics struct {
	reg          *prometheus.Registry
	jobs         *prometheus.CounterVec
	startSeconds prometheus.Histogram
}

func newMetrics(w *Worker) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.jobs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rgrid_worker_jobs_total",
		Help: "Attempts this worker ran to the end, by outcome: the state it reported, refused (the server no longer took it) or abandoned (killed unreported).",
	}, []string{"outcome"})
	m.startSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "rgrid_worker_executor_start_seconds",
		Help:    "Time the executor took to start a job (staging inputs, pulling the image, installing requirements, creating the container).",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
	})
	slots := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rgrid_worker_slots",
		Help: "Jobs this worker runs at once (--slots).",
	}, func() float64 { return float64(w.opts.Slots) })
	busy := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rgrid_worker_slots_busy",
		Help: "Slots holding an attempt (leased, starting, running or reporting).",
	}, func() float64 { return float64(w.runningCount()) })
	m.reg.MustRegister(m.jobs, m.startSeconds, slots, busy,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, s := range []client.JobState{client.StateSucceeded, client.StateFailed, client.StateTimedOut,
		client.StateOOMKilled, client.StateCanceled, client.StateLost, client.StateError} {
		m.jobs.WithLabelValues(string(s))
	}
	m.jobs.WithLabelValues(outcomeRefused)
	m.jobs.WithLabelValues(outcomeAbandoned)
	return m
}

func (m *metrics) ended(outcome string) { m.jobs.WithLabelValues(outcome).Inc() }

func (m *metrics) executorStarted(since time.Time) {
	m.startSeconds.Observe(time.Since(since).Seconds())
}

// Metrics is the worker's registry, served by rgrid worker
// --metrics-listen.
func (w *Worker) Metrics() prometheus.Gatherer { return w.metrics.reg }
