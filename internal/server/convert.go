package server

import (
	"encoding/json"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/secrets"
	"github.com/rgrid/rgrid/internal/store"
)

// Conversions between the store's domain types and the API's wire types.
// They are kept apart so that a schema change does not change the API.

func jobToAPI(j store.Job, atts []store.Attempt) client.Job {
	out := client.Job{
		ID: j.ID, State: client.JobState(j.State), FileName: j.FileName, Args: j.Args,
		Runtime: j.Runtime, Env: j.Env, Limits: client.Limits(j.Limits), Network: j.Network, Retries: j.Retries,
		Requirements: j.Requirements,
		ScriptSize:   j.ScriptSize, LogLimit: j.LogLimit, LogsTruncated: j.LogsTruncated,
		Attempt: j.Attempt, WorkerID: j.WorkerID,
		CancelRequested: j.CancelRequested, ExitCode: j.ExitCode, Reason: j.Reason,
		Message: j.Message, CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
		BatchID: j.BatchID, BatchIndex: j.BatchIndex, BatchInput: j.BatchInput,
		SecretEnv: secrets.Names(j.SecretEnv),
	}
	if j.Failure != "" {
		var f client.Failure
		if json.Unmarshal([]byte(j.Failure), &f) == nil && f.Exception != "" {
			out.Failure = &f
		}
	}
	if out.Args == nil {
		out.Args = []string{}
	}
	for _, a := range atts {
		out.Attempts = append(out.Attempts, client.Attempt{
			Number: a.Number, WorkerID: a.WorkerID, State: client.JobState(a.State), ExitCode: a.ExitCode,
			Reason: a.Reason, Message: a.Message, LeasedAt: a.LeasedAt, StartedAt: a.StartedAt, FinishedAt: a.FinishedAt,
			RateMicrosPerHour: a.RateMicros,
		})
	}
	return out
}

// withCost fills the cost of j's attempts atts (as jobToAPI listed them)
// and of the job, counted at now while one runs. Attempts on unpriced
// workers have none; a job whose attempts were charged in different
// currencies has no total (each attempt says its own).
func withCost(j client.Job, atts []store.Attempt, now time.Time) client.Job {
	var total *client.Money
	mixed := false
	for i, a := range atts {
		if a.RateMicros <= 0 || i >= len(j.Attempts) {
			continue
		}
		c := client.Money{Micros: a.Cost(now), Currency: a.Currency}
		j.Attempts[i].Cost = &c
		switch {
		case total == nil:
			t := c
			total = &t
		case total.Currency == c.Currency:
			total.Micros += c.Micros
		default:
			mixed = true
		}
	}
	if !mixed {
		j.Cost = total
	}
	return j
}

func pricingToAPI(p store.Pricing) *client.Pricing {
	if p == (store.Pricing{}) {
		return nil
	}
	return &client.Pricing{PriceMicrosPerHour: p.PriceMicros, Currency: p.Currency, CPUs: p.CPUs,
		MemoryBytes: p.MemoryBytes, BillingSeconds: p.BillingSeconds}
}

func workerToAPI(w store.Worker) client.Worker {
	return client.Worker{
		ID: w.ID, Name: w.Name, Hostname: w.Hostname, Version: w.Version, Executor: w.Executor,
		Slots: w.Slots, SlotsInUse: w.SlotsInUse, Warm: w.Warm, State: w.State, RegisteredAt: w.RegisteredAt,
		LastHeartbeat: w.LastHeartbeat, Max: client.Limits(w.Max), Pricing: pricingToAPI(w.Pricing),
	}
}

func refsToAPI(refs []store.AttemptRef) []client.AttemptRef {
	out := make([]client.AttemptRef, 0, len(refs))
	for _, r := range refs {
		out = append(out, client.AttemptRef{JobID: r.JobID, Attempt: r.Attempt})
	}
	return out
}

func chunkToAPI(c store.LogChunk) client.LogChunk {
	return client.LogChunk{ID: c.ID, Attempt: c.Attempt, Stream: client.Stream(c.Stream), Seq: c.Seq, Time: c.Time, Data: c.Data}
}
