package policy

import (
	"time"

	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// Key identifies a process across observations: a PID alone may be reused.
type Key struct {
	PID   int
	Start uint64 // start time in clock ticks since boot
}

// Observation is one look at one process, as the sampler made it.
type Observation struct {
	Key       Key
	Info      proc.Info // details, for the log entries; Info.RSS is current
	Value     uint64    // memory by the metric in use
	Protected string    // why it may never be stopped (see Protected); "" if it may
	Gone      bool      // the process has exited: the other fields are not set
}

// Limits are the settings the tracker decides by. They may change between two
// observations (a reload); what is under way is not undone.
type Limits struct {
	Threshold uint64        // bytes; a process strictly above it is over
	Warn      uint64        // --warn-threshold in bytes; 0: off
	Sustain   time.Duration // how long a process must stay over before it is stopped
	DryRun    bool
}

// ActionKind is what the loop is asked to do about an observation.
type ActionKind int

const (
	// ActStop asks for the process to be stopped. The tracker considers it stopping
	// until Finished is called with its key.
	ActStop ActionKind = iota + 1
	// ActWouldStop reports a dry-run decision (once while the process stays over).
	ActWouldStop
	// ActSpare reports a protected process over the threshold (once while it stays over).
	ActSpare
	// ActWarn reports a crossing of the warning threshold (once per crossing).
	ActWarn
	// ActWait reports that a process went over and waits out the sustain period.
	ActWait
	// ActForgive reports that a waiting process went back below within the period.
	ActForgive
)

func (k ActionKind) String() string {
	switch k {
	case ActStop:
		return "stop"
	case ActWouldStop:
		return "would-stop"
	case ActSpare:
		return "spare"
	case ActWarn:
		return "warn"
	case ActWait:
		return "wait"
	case ActForgive:
		return "forgive"
	}
	return "unknown"
}

// Action is one thing to do or report.
type Action struct {
	Kind ActionKind
	Obs  Observation
	At   time.Time // ActWait: when the process will be stopped if it stays over; ActForgive: since when it was over
}

// Result is how a stop asked for by ActStop ended, as far as the tracker cares.
type Result int

const (
	// Done: the process is gone (exited, killed, or was gone already).
	Done Result = iota + 1
	// NotNeeded: the check just before the first signal found it no longer over.
	NotNeeded
	// Failed: it could not be stopped; it is retried only after a backoff.
	Failed
)

// Backoff after a failed stop: the first retry comes after BackoffMin, each further
// failure doubles the wait, up to BackoffMax.
const (
	BackoffMin = 10 * time.Second
	BackoffMax = 10 * time.Minute
)

// noted is what has been reported about a process over the threshold, so that each is
// reported once while it stays over.
type noted uint8

const (
	notedNone noted = iota
	notedSpared
	notedWouldStop
)

// entry is everything the tracker knows about one process.
type entry struct {
	noted     noted
	warned    bool      // over the warning threshold at the last look
	overSince time.Time // sustain clock; zero when not over
	next      time.Time // sustain re-check due; zero when none
	stopping  bool      // an ActStop is in flight
	failures  int       // consecutive failed stops
	retryAt   time.Time // no new stop before this
}

// Tracker holds the per-process state of the daemon's decisions. It does no I/O and
// reads no clock: the caller passes the time, so every rule is tested with literal
// times. It is not safe for concurrent use.
type Tracker struct {
	limits  Limits
	entries map[Key]*entry
	actions []Action // reused between calls
	seen    map[Key]struct{}
}

// NewTracker returns an empty Tracker.
func NewTracker(l Limits) *Tracker {
	return &Tracker{limits: l, entries: map[Key]*entry{}, seen: map[Key]struct{}{}}
}

// Limits returns the limits in force.
func (t *Tracker) Limits() Limits { return t.limits }

// SetLimits changes the limits from the next observation on. Sustain clocks, warnings
// and stops in flight carry over.
func (t *Tracker) SetLimits(l Limits) { t.limits = l }

// Len is the number of processes the tracker remembers.
func (t *Tracker) Len() int { return len(t.entries) }

// Stopping reports whether a stop of k is in flight.
func (t *Tracker) Stopping(k Key) bool {
	e := t.entries[k]
	return e != nil && e.stopping
}

// Settled reports whether nothing new can come of observing k in more detail: it is
// being stopped, or it was reported as spared and stays so. The sampler uses it to
// skip expensive measurements.
func (t *Tracker) Settled(k Key) bool {
	e := t.entries[k]
	return e != nil && (e.stopping || e.noted == notedSpared)
}

// Observe takes a batch of observations made at now. With full, the batch covers every
// process over the lower of the two thresholds; any process the tracker knows that is
// missing from it went below (or exited). Without full, only the processes in the batch
// are updated. The returned slice is valid until the next call.
func (t *Tracker) Observe(now time.Time, full bool, obs []Observation) []Action {
	t.actions = t.actions[:0]
	if full {
		clear(t.seen)
	}
	for i := range obs {
		o := &obs[i]
		if full {
			t.seen[o.Key] = struct{}{}
		}
		t.observe(now, o)
	}
	if full {
		for k, e := range t.entries {
			if _, ok := t.seen[k]; !ok {
				e.warned = false
				t.below(now, k, e, Observation{Key: k, Info: proc.Info{PID: k.PID}})
			}
		}
	}
	return t.actions
}

func (t *Tracker) observe(now time.Time, o *Observation) {
	e := t.entries[o.Key]
	if o.Gone {
		if e != nil && !e.stopping {
			delete(t.entries, o.Key)
		}
		return
	}
	l := t.limits
	if e == nil {
		if o.Value <= l.Threshold && (l.Warn == 0 || o.Value <= l.Warn) {
			return
		}
		e = &entry{}
		t.entries[o.Key] = e
	}
	if l.Warn > 0 {
		over := o.Value > l.Warn
		if over && !e.warned {
			t.actions = append(t.actions, Action{Kind: ActWarn, Obs: *o})
		}
		e.warned = over
	} else {
		e.warned = false
	}
	if o.Value <= l.Threshold {
		t.below(now, o.Key, e, *o)
		return
	}
	if e.stopping {
		return
	}
	if o.Protected != "" {
		e.overSince, e.next = time.Time{}, time.Time{}
		if e.noted != notedSpared {
			e.noted = notedSpared
			t.actions = append(t.actions, Action{Kind: ActSpare, Obs: *o})
		}
		return
	}
	if e.noted == notedSpared {
		e.noted = notedNone // no longer protected (its rules or its name changed)
	}
	if l.Sustain > 0 {
		r := Sustain(SustainState{Since: e.overSince}, true, now, l.Sustain)
		waiting := !e.overSince.IsZero()
		e.overSince = r.State.Since
		if r.Verdict == SustainWait {
			if !waiting {
				t.actions = append(t.actions, Action{Kind: ActWait, Obs: *o, At: r.State.Since.Add(l.Sustain)})
			}
			e.next = r.Next
			return
		}
		e.next = time.Time{}
	}
	if l.DryRun {
		if e.noted != notedWouldStop {
			e.noted = notedWouldStop
			t.actions = append(t.actions, Action{Kind: ActWouldStop, Obs: *o})
		}
		return
	}
	if now.Before(e.retryAt) {
		return
	}
	e.stopping = true
	t.actions = append(t.actions, Action{Kind: ActStop, Obs: *o})
}

// below handles a process at or below the threshold (or, in a full batch, not seen). It
// is forgotten unless a stop is in flight, it is over the warning threshold, or it is
// backing off after a failed stop (a process must not escape the backoff by dipping
// below the threshold for a moment).
func (t *Tracker) below(now time.Time, k Key, e *entry, o Observation) {
	if !e.overSince.IsZero() && !e.next.IsZero() {
		t.actions = append(t.actions, Action{Kind: ActForgive, Obs: o, At: e.overSince})
	}
	e.overSince, e.next, e.noted = time.Time{}, time.Time{}, notedNone
	if !e.stopping && !e.warned && (e.failures == 0 || !now.Before(e.retryAt)) {
		delete(t.entries, k)
	}
}

// Finished records how a stop of k ended.
func (t *Tracker) Finished(now time.Time, k Key, r Result) {
	e := t.entries[k]
	if e == nil {
		return
	}
	e.stopping = false
	switch r {
	case Done:
		delete(t.entries, k)
	case NotNeeded:
		e.overSince, e.next = time.Time{}, time.Time{}
	case Failed:
		e.failures++
		wait := BackoffMin << min(e.failures-1, 16)
		e.retryAt = now.Add(min(wait, BackoffMax))
	}
}

// RetryAt is when a stop of k may be tried again after a failure; zero if it may now.
func (t *Tracker) RetryAt(k Key) time.Time {
	if e := t.entries[k]; e != nil {
		return e.retryAt
	}
	return time.Time{}
}

// NextDeadline is the earliest time at which the tracker wants a process observed again
// (a sustain re-check); zero when none.
func (t *Tracker) NextDeadline() time.Time {
	var first time.Time
	for _, e := range t.entries {
		if !e.next.IsZero() && (first.IsZero() || e.next.Before(first)) {
			first = e.next
		}
	}
	return first
}

// Due appends to dst the processes whose re-check is due at now.
func (t *Tracker) Due(now time.Time, dst []Key) []Key {
	for k, e := range t.entries {
		if !e.next.IsZero() && !e.next.After(now) {
			dst = append(dst, k)
		}
	}
	return dst
}
