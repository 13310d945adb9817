// Package event is the one type in which the daemon reports what it did and saw, and the
// Sink interface through which every consumer (the log, the metrics, systemd's STATUS,
// the owner's message) receives it. A new consumer is one new Sink.
package event

import (
	"time"

	"github.com/memory-monitor/memory-monitor/internal/budget"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/notify"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// Kind says what happened.
type Kind int

// Kinds of events.
const (
	// Signal: a signal was delivered to a process over the threshold.
	Signal Kind = iota + 1
	// WouldStop: in dry run, a process would have been stopped.
	WouldStop
	// Outcome: a stop ended (see Event.Outcome).
	Outcome
	// NotOver: the check just before the first signal found the process no longer over.
	NotOver
	// Spared: a protected process is over the threshold.
	Spared
	// Warn: a process crossed the warning threshold.
	Warn
	// Wait: a process is over and waits out the sustain period.
	Wait
	// Forgiven: a waiting process went back below within the sustain period.
	Forgiven
	// Scanned: a full scan completed.
	Scanned
	// ScanFailed: a full scan could not list the processes.
	ScanFailed
	// Triggered: a fast check saw enough growth to start a full scan at once.
	Triggered
	// Finishing: the daemon is stopping with stops in flight, which it finishes first.
	Finishing

	// Budgets (--budget); see budget.go.
	GroupWarn
	GroupOnlyProtected
	GroupsMeasured
	KernelOOM
	// Stopping: a stop is about to send its first signal (Event.Signal), with the stop's
	// handle; a sink prepares what it must take from the process while it still runs.
	Stopping
)

// Event is one thing that happened. Which fields are set depends on Kind.
type Event struct {
	Kind Kind
	Time time.Time

	// The process, for every kind about one process. Proc.RSS is its resident memory
	// at the time; Memory is what the threshold was compared with (by Metric).
	Proc      proc.Info
	Memory    uint64
	Metric    proc.Metric
	Threshold uint64
	Warn      uint64 // the warning threshold, for Warn

	Signal  string // Signal: SIGTERM or SIGKILL; WouldStop: the first signal it would send
	Grace   time.Duration
	DryRun  bool
	After   time.Duration // Signal: SIGKILL this long after SIGTERM
	Outcome string        // Outcome: exited, killed, gone, failed or abandoned
	Took    time.Duration // Outcome: from the first signal to the exit
	Err     error         // Outcome failed, ScanFailed
	Reason  string        // Spared: the rule; Warn: the protection, if any
	At      time.Time     // Wait: when it will be stopped; Forgiven: since when it was over

	// Scan context: processes read by the last full scan, and how many of them were
	// found over the lower of the thresholds.
	Considered int
	Candidates int

	// Scanned. Reused: the scan listed the same processes and reused the last readings
	// (the counters proved that nothing could have reached a threshold).
	Duration time.Duration
	Largest  uint64
	Failed   int
	FirstErr error
	Reused   bool

	// Triggered.
	Grown, Headroom uint64

	// Finishing: how many stops are in flight.
	InFlight int

	// Budgets: see budget.go.
	Group  *budget.Group // the group whose budget a stop, warning or report is about; nil: none
	Budget BudgetReport  // GroupsMeasured, KernelOOM
	// Handle is the verified handle of the process, borrowed for the duration of
	// Sink.Handle only (never kept): set on Stopping, Signal and Outcome events of a
	// stop, and on Warn and WouldStop; nil otherwise.
	Handle kill.Handle
	// Origin is where the process came from (working directory, unit, CI runner), read
	// once per stop before its first signal: set on the events of a stop and WouldStop.
	Origin *notify.Origin
}

// Sink consumes events. Handle is called from the daemon's loop: it must not block (a
// sink that does I/O queues it).
type Sink interface {
	Handle(Event)
}

// Sinks fans an event out to each sink in turn.
type Sinks []Sink

// Handle implements Sink.
func (s Sinks) Handle(e Event) {
	for _, k := range s {
		k.Handle(e)
	}
}

// Func adapts a function to a Sink.
type Func func(Event)

// Handle implements Sink.
func (f Func) Handle(e Event) { f(e) }
