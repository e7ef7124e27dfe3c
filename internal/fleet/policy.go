package fleet

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rgrid/rgrid/internal/money"
)

// Demand is what one queued job asks for; zero asks for the worker's
// defaults, which fit any worker.
type Demand struct {
	CPUs        float64
	MemoryBytes int64
}

// WorkerView is a registered worker of the pool, as the policy sees it.
type WorkerView struct {
	ID    string // the machine's name: the autoscaler starts each worker with --worker-id NAME
	State string // "active", "draining" or "dead"
	// Running is how many attempts it holds leased or running, and
	// UsedCPUs and UsedMemory what they asked for.
	Running    int
	UsedCPUs   float64
	UsedMemory int64
	// IdleSince is when it was last seen running something (or when the
	// autoscaler first saw it).
	IdleSince time.Time
}

// Machine is one machine a provider runs for a pool, found by label.
type Machine struct {
	ID        string // the provider's id
	Name      string // also the worker's id
	Pool      string
	CreatedAt time.Time
	// Failed says the provider sees it broken (a container that exited, a
	// server that is off): it is deleted.
	Failed bool
}

// Snapshot is everything Decide looks at for one pool.
type Snapshot struct {
	Now      time.Time
	Queued   []Demand // oldest first
	Workers  []WorkerView
	Machines []Machine
	// DrainedAt says since when the autoscaler has had each worker
	// draining; a drained worker's machine is deleted only once it has
	// been idle for DrainGrace after that (a lease begun before the drain
	// may still hand it a job until then).
	DrainedAt  map[string]time.Time
	DrainGrace time.Duration
	// LastOut and LastIn are the last scale-out and scale-in.
	LastOut, LastIn time.Time
	// BudgetSpent, when set, says the pool's monthly budget is used up
	// (and how): no machine is started beyond min, as its workers would
	// lease nothing.
	BudgetSpent string
}

// Direction of a decision.
const (
	Hold = "hold"
	Out  = "out"
	In   = "in"
)

// Decision is what the autoscaler does for a pool this round, and why.
type Decision struct {
	Direction string
	// Current counts the pool's machines that are up or starting and not
	// draining; Target is what it should be.
	Current, Target int
	Create          int      // machines to create
	Drain           []string // workers to mark draining
	Delete          []string // machines (by name) to delete now
	// Draining counts the machines draining (not in Current).
	Draining int
	Reason   string
	// Unserved is the queued work this pool neither has room for nor
	// makes room for: the next pool weighs it.
	Unserved []Demand
}

// capacity is what a worker (or a machine still starting) has free.
type capacity struct {
	name  string
	slots int
	cpus  float64
	mem   int64
	used  bool // given queued work this round
	got   []Demand
}

func (c *capacity) take(d Demand) bool {
	if c.slots < 1 || d.CPUs > c.cpus+1e-9 || d.MemoryBytes > c.mem {
		return false
	}
	c.slots--
	c.cpus -= d.CPUs
	c.mem -= d.MemoryBytes
	c.used = true
	c.got = append(c.got, d)
	return true
}

// Decide is the policy: scale out when queued work fits no free slot of
// the pool (by CPU and memory asked, not by job count), up to max and
// the spend ceiling; scale in idle workers only, by draining them first,
// after the idle window and (billed hourly) near the end of the hour paid
// for; one cooldown per direction. A draining worker counts toward neither
// max nor the free capacity, so it never holds back the scaling of
// others; it counts toward the spend, as it is paid for. A pool whose
// budget is used up gets no machine beyond min.
func Decide(p *Pool, s Snapshot) Decision {
	var d Decision
	workers := map[string]WorkerView{}
	for _, w := range s.Workers {
		workers[w.ID] = w
	}
	var (
		free     []*capacity
		draining int
		notes    []string
	)
	for _, m := range s.Machines {
		w, registered := workers[m.Name]
		age := s.Now.Sub(m.CreatedAt)
		switch {
		case m.Failed:
			d.Delete = append(d.Delete, m.Name)
			notes = append(notes, m.Name+" failed: deleted")
		case !registered && age >= p.bootTimeout:
			d.Delete = append(d.Delete, m.Name)
			notes = append(notes, fmt.Sprintf("%s never registered within %s: deleted", m.Name, p.bootTimeout))
		case !registered:
			free = append(free, &capacity{name: m.Name, slots: p.Slots, cpus: p.CPUs, mem: p.memoryBytes})
		case w.State == "dead" && w.Running == 0:
			d.Delete = append(d.Delete, m.Name)
			notes = append(notes, m.Name+"'s worker is dead: deleted")
		case w.State == "dead":
			draining++ // its attempts go back to the queue first (the reaper)
		case w.State == "draining":
			since, ours := s.DrainedAt[m.Name]
			if w.Running == 0 && (!ours || s.Now.Sub(since) >= s.DrainGrace) {
				d.Delete = append(d.Delete, m.Name)
				notes = append(notes, m.Name+" drained: deleted")
			} else {
				draining++
			}
		default:
			free = append(free, &capacity{name: m.Name, slots: p.Slots - w.Running,
				cpus: p.CPUs - w.UsedCPUs, mem: p.memoryBytes - w.UsedMemory})
		}
	}
	d.Current = len(free)

	// Place the queue on the free capacity, then on new workers.
	var unfit, placed int
	var fresh []*capacity
	for _, q := range s.Queued {
		if q.CPUs > p.CPUs || q.MemoryBytes > p.memoryBytes {
			unfit++
			d.Unserved = append(d.Unserved, q)
			continue
		}
		if slices.ContainsFunc(free, func(c *capacity) bool { return c.take(q) }) {
			placed++
			continue
		}
		if !slices.ContainsFunc(fresh, func(c *capacity) bool { return c.take(q) }) {
			c := &capacity{slots: p.Slots, cpus: p.CPUs, mem: p.memoryBytes}
			c.take(q)
			fresh = append(fresh, c)
		}
	}
	if unfit > 0 {
		notes = append(notes, fmt.Sprintf("%d queued jobs ask for more than one worker of the pool has (%g CPUs, %s)", unfit, p.CPUs, p.Memory))
	}

	target := max(d.Current+len(fresh), p.Min)
	capped := ""
	if target > p.Max {
		target, capped = p.Max, fmt.Sprintf("capped by max %d", p.Max)
	}
	if p.maxSpendMicros > 0 {
		bySpend := int(p.maxSpendMicros/p.price.Micros) - draining
		if target > bySpend {
			target = max(bySpend, 0)
			capped = fmt.Sprintf("capped by max_spend_per_hour %s %s (%s each, %d draining)",
				money.Format(p.maxSpendMicros), p.price.Currency, money.Format(p.price.Micros), draining)
		}
	}
	if s.BudgetSpent != "" && target > max(d.Current, p.Min) {
		target = max(d.Current, p.Min)
		capped = "capped: " + s.BudgetSpent
	}
	d.Target, d.Draining = target, draining
	for _, c := range fresh[min(max(target-d.Current, 0), len(fresh)):] {
		d.Unserved = append(d.Unserved, c.got...)
	}

	switch {
	case target > d.Current:
		if wait := p.coolOut - s.Now.Sub(s.LastOut); !s.LastOut.IsZero() && wait > 0 {
			d.Direction, d.Target = Hold, d.Current
			d.Reason = fmt.Sprintf("scale-out to %d waits for its cooldown (%s left)", target, wait.Round(time.Second))
			break
		}
		d.Direction, d.Create = Out, target-d.Current
		if d.Current < p.Min && len(fresh) == 0 {
			d.Reason = fmt.Sprintf("below min %d", p.Min)
		} else {
			d.Reason = fmt.Sprintf("%d queued jobs fit no free slot; %d more workers needed", len(s.Queued)-placed-unfit, len(fresh))
		}
		if capped != "" {
			d.Reason += ", " + capped
		}
	case len(fresh) > 0:
		d.Direction = Hold
		d.Reason = fmt.Sprintf("%d more workers needed, %s", len(fresh), capped)
	default:
		d.Direction = Hold
		d.Reason = "enough capacity"
		surplus := d.Current - p.Min
		if surplus <= 0 {
			break
		}
		var idle []string
		waiting := ""
		for _, c := range free {
			w, ok := workers[c.name]
			if !ok || c.used || w.Running > 0 {
				continue
			}
			if left := p.idle - s.Now.Sub(w.IdleSince); left > 0 {
				waiting = fmt.Sprintf("; %s idle, stopped after the idle window (%s left)", c.name, left.Round(time.Second))
				continue
			}
			if *p.BilledHourly {
				if left := paidLeft(machineCreated(s.Machines, c.name), s.Now); left > scaleInWindow {
					waiting = fmt.Sprintf("; %s idle, kept until the end of its paid hour (%s left)", c.name, (left - scaleInWindow).Round(time.Second))
					continue
				}
			}
			idle = append(idle, c.name)
		}
		if len(idle) == 0 {
			d.Reason += waiting
			break
		}
		if wait := p.coolIn - s.Now.Sub(s.LastIn); !s.LastIn.IsZero() && wait > 0 {
			d.Reason = fmt.Sprintf("scale-in of %d idle workers waits for its cooldown (%s left)", len(idle), wait.Round(time.Second))
			break
		}
		idle = idle[:min(len(idle), surplus)]
		d.Direction, d.Drain, d.Target = In, idle, d.Current-len(idle)
		d.Reason = fmt.Sprintf("%d workers idle past the idle window %s: draining %s", len(idle), p.idle, strings.Join(idle, ", "))
	}
	if len(notes) > 0 {
		d.Reason += "; " + strings.Join(notes, "; ")
	}
	return d
}

// scaleInWindow is how near the end of a paid hour an idle machine of a
// pool billed hourly is let go.
const scaleInWindow = 5 * time.Minute

// paidLeft is how much of the hour already paid for a machine created at
// created has yet to run at now.
func paidLeft(created, now time.Time) time.Duration {
	age := now.Sub(created)
	if age < 0 {
		return time.Hour
	}
	return time.Hour - age%time.Hour
}

func machineCreated(ms []Machine, name string) time.Time {
	for _, m := range ms {
		if m.Name == name {
			return m.CreatedAt
		}
	}
	return time.Time{}
}
