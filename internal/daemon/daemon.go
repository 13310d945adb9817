// Package daemon is the daemon's one loop. It owns all timing: one timer armed at the
// earliest of the named deadlines (full scan, fast check, sustain re-check, the end of a
// grace period, watchdog, status). Each handler reads state through the sampler, passes
// the observations to the pure tracker, and carries out the tracker's actions through the
// actuator, reporting every event to the sinks.
package daemon

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/actuator"
	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/notify"
	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/sampler"
	"github.com/memory-monitor/memory-monitor/internal/sink"
)

// Options are the loop's parts.
type Options struct {
	Config  config.Config
	Sampler *sampler.Sampler
	Waiter  kill.Waiter
	Sink    event.Sink   // every event
	Status  *sink.Status // also fed every event; nil without systemd
	Log     *slog.Logger // the loop's own messages
	Notify  func(string) // sd_notify; nil when not under systemd
	// Watchdog is systemd's WatchdogSec (0: off): the loop pings at half of it, and only
	// the loop, so a loop that stops making progress stops the pings.
	Watchdog time.Duration
	// Hup delivers SIGHUP; Reopen is called for each (reopen the log file).
	Hup    <-chan os.Signal
	Reopen func()
	// StopBudget bounds how long the daemon, asked to exit, goes on finishing the stops
	// in flight (their grace periods and SIGKILLs); 0 means DefaultStopBudget.
	StopBudget time.Duration
	// Reconfigure, when set, is called on the loop goroutine by a reload (Apply) for
	// the settings outside the loop: log level, log file, metrics file (reload.go).
	Reconfigure func(old, new config.Config)
	// Timer is the loop's one timer; nil means a time.Timer (what the tests' virtual
	// time drives). The daemon passes an alarm.Alarm, which is cheaper to wake from.
	Timer Timer
}

// Timer is a one-shot timer: Reset arms it, replacing the setting before, and C receives
// when it expires. A spurious early receive is harmless (the loop looks at its
// deadlines); a lost one is not.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// goTimer is a time.Timer as a Timer.
type goTimer struct{ t *time.Timer }

func (g goTimer) C() <-chan time.Time   { return g.t.C }
func (g goTimer) Reset(d time.Duration) { g.t.Reset(d) }
func (g goTimer) Stop()                 { g.t.Stop() }

// DefaultStopBudget leaves room within the unit's TimeoutStopSec=30s.
const DefaultStopBudget = 20 * time.Second

// killRoom is the part of the stop budget kept for SIGKILLs to take effect.
const killRoom = 5 * time.Second

// statusEvery is how often the STATUS= text is looked at when nothing was done (the
// number of processes changes without an action); it is sent only when it changed.
const statusEvery = 10 * time.Second

// errorEvery bounds how often the same kind of read failure is logged.
const errorEvery = time.Minute

// startupCrowd is how many unprotected processes over the threshold at the first scan
// make the daemon warn that the threshold may be wrong.
const startupCrowd = 5

// Daemon is the loop. Create it with New; Run it once.
type Daemon struct {
	o       Options
	sampler *sampler.Sampler
	tracker *policy.Tracker
	act     *actuator.Actuator
	sink    event.Sink
	settled func(policy.Key) bool

	considered, candidates int // of the last full scan
	scanAt, fastAt         time.Time
	errLogged              time.Time
	due                    []policy.Key

	reloads chan reconf   // Apply's hand-over (reload.go)
	done    chan struct{} // closed when Run returns
	bud     *budgets      // nil without --budget (budget.go)
}

// New returns the loop.
func New(o Options) *Daemon {
	if o.StopBudget <= 0 {
		o.StopBudget = DefaultStopBudget
	}
	sinks := event.Sinks{o.Sink}
	if o.Status != nil {
		sinks = append(sinks, o.Status)
	}
	d := &Daemon{
		o:       o,
		sampler: o.Sampler,
		tracker: policy.NewTracker(limits(o.Config)),
		sink:    sinks,
		reloads: make(chan reconf),
		done:    make(chan struct{}),
	}
	d.act = actuator.New(o.Waiter, d.sink)
	d.settled = d.tracker.Settled
	if o.Sampler != nil && o.Sampler.Budgets() {
		d.bud = newBudgets()
	}
	return d
}

func limits(c config.Config) policy.Limits {
	return policy.Limits{Threshold: c.Threshold, Warn: c.WarnThreshold, Sustain: c.Sustain, DryRun: c.DryRun}
}

// Tracker is the tracker, for tests.
func (d *Daemon) Tracker() *policy.Tracker { return d.tracker }

// Run scans at once, reports READY=1, then runs until ctx ends. It returns an error only
// when the first scan fails; later failures are logged and retried.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.act.Close()
	defer close(d.done)
	now := time.Now()
	if err := d.full(now, true); err != nil {
		return err
	}
	sentStatus := d.statusLine()
	d.notify("READY=1\nSTATUS=" + sentStatus)
	var watchdogAt, statusAt time.Time
	if d.o.Watchdog > 0 {
		d.notify("WATCHDOG=1")
		watchdogAt = now.Add(d.o.Watchdog / 2)
	}
	if d.o.Notify != nil && d.o.Status != nil {
		statusAt = now.Add(statusEvery)
	}
	timer := d.o.Timer
	if timer == nil {
		timer = goTimer{time.NewTimer(time.Hour)}
	}
	defer timer.Stop()
	for {
		next := earliest(d.scanAt, d.fastAt, d.tracker.NextDeadline(), d.act.NextDeadline(), watchdogAt, statusAt, d.groupsDeadline())
		timer.Reset(max(time.Until(next), 0))
		select {
		case <-ctx.Done():
			d.shutdown(timer)
			return nil
		case <-timer.C():
		case id := <-d.act.Exits():
			d.finished(time.Now(), d.act.Exited(time.Now(), id))
		case id := <-d.act.Released():
			d.act.ReleaseDone(id)
		case <-d.o.Hup:
			if d.o.Reopen != nil {
				d.o.Reopen()
			}
		case r := <-d.reloads:
			r.reply <- d.reconfigure(time.Now(), r.cfg)
		}
		now := time.Now()
		d.step(now)
		if !watchdogAt.IsZero() && !now.Before(watchdogAt) {
			d.notify("WATCHDOG=1")
			watchdogAt = now.Add(d.o.Watchdog / 2)
		}
		if !statusAt.IsZero() && (d.o.Status.Dirty() || !now.Before(statusAt)) {
			// Sent only when it says something new: each notification is a few system
			// calls, and an idle daemon should make none it need not.
			if line := d.statusLine(); line != sentStatus {
				d.notify("STATUS=" + line)
				sentStatus = line
			}
			statusAt = now.Add(statusEvery)
		}
	}
}

// step handles every deadline due at now.
func (d *Daemon) step(now time.Time) {
	switch {
	case !now.Before(d.scanAt) && d.sampler.Reuse(now):
		// Nothing can have changed enough to matter (sampler/reuse.go): the last
		// readings stand for this scan.
		d.scanAt = now.Add(d.o.Config.Interval)
		st := d.sampler.LastScan()
		d.sink.Handle(event.Event{Kind: event.Scanned, Reused: true, Time: now, Duration: time.Since(now),
			Considered: st.Processes, Candidates: d.candidates, Largest: st.MaxRSS})
	case !now.Before(d.scanAt):
		d.full(now, false)
	case !d.fastAt.IsZero() && !now.Before(d.fastAt):
		r := d.sampler.Fast(now, d.settled)
		if r.Scan {
			d.sink.Handle(event.Event{Kind: event.Triggered, Time: now, Grown: r.Grown, Headroom: r.Headroom})
			d.full(now, false) // and so the interval starts again
			break
		}
		d.fastAt = now.Add(r.Next)
		if len(r.Obs) > 0 {
			d.candidates = max(d.candidates, len(r.Obs))
			d.apply(now, d.tracker.Observe(now, false, r.Obs))
		}
		d.observeGroups(now, r.Groups, false)
	}
	if next := d.tracker.NextDeadline(); !next.IsZero() && !now.Before(next) {
		d.due = d.tracker.Due(now, d.due[:0])
		d.apply(now, d.tracker.Observe(now, false, d.sampler.Observe(now, d.due, d.settled)))
	}
	if next := d.act.NextDeadline(); !next.IsZero() && !now.Before(next) {
		d.finished(now, d.act.Tick(now))
	}
	if next := d.groupsDeadline(); !next.IsZero() && !now.Before(next) {
		d.groupsDue(now)
	}
}

// full runs a full scan and acts on it; it schedules the next scan and fast check.
func (d *Daemon) full(now time.Time, first bool) error {
	d.scanAt = now.Add(d.o.Config.Interval)
	r, err := d.sampler.Full(now, d.settled)
	if err != nil {
		d.sink.Handle(event.Event{Kind: event.ScanFailed, Time: now, Err: err})
		d.fastAt = time.Time{}
		if d.sampler.FastPath() {
			d.fastAt = now.Add(time.Second)
		}
		return err
	}
	d.considered, d.candidates = r.Stats.Processes, r.Candidates
	if r.Errors > 0 && now.Sub(d.errLogged) >= errorEvery {
		d.errLogged = now
		d.o.Log.Warn("cannot read processes over the threshold", "count", r.Errors, "error", r.FirstErr)
	}
	if r.Pending > 0 {
		// The PSS budget left some for later: look again soon, not an interval later.
		if soon := now.Add(time.Second); soon.Before(d.scanAt) {
			d.scanAt = soon
		}
	}
	actions := d.tracker.Observe(now, true, r.Obs)
	if first {
		d.crowdCheck(r.Obs)
	}
	d.apply(now, actions)
	d.observeGroups(now, r.Groups, true)
	d.sink.Handle(event.Event{Kind: event.Scanned, Time: now, Duration: r.Took, Considered: r.Stats.Processes,
		Candidates: r.Candidates, Largest: r.Stats.MaxRSS, Failed: r.Stats.Failed, FirstErr: r.Stats.FirstErr})
	d.fastAt = time.Time{}
	if d.sampler.FastPath() {
		d.fastAt = now.Add(d.sampler.NextFast())
	}
	return nil
}

// crowdCheck warns when the first scan finds many unprotected processes over the
// threshold: more likely a threshold typed wrong (20MB for 20GB) than that many
// runaways.
func (d *Daemon) crowdCheck(obs []policy.Observation) {
	n := 0
	for _, o := range obs {
		if o.Protected == "" && o.Value > d.tracker.Limits().Threshold {
			n++
		}
	}
	if n >= startupCrowd {
		d.o.Log.Warn("many processes are over the threshold at start: check that the threshold is what you meant",
			"over", n, "threshold_bytes", d.tracker.Limits().Threshold, "considered", d.considered)
	}
}

// template is the event about a process, with the scan context.
func (d *Daemon) template(now time.Time, k event.Kind, o policy.Observation) event.Event {
	l := d.tracker.Limits()
	return event.Event{
		Kind: k, Time: now, Proc: o.Info, Memory: o.Value, Metric: d.o.Config.Metric,
		Threshold: l.Threshold, Warn: l.Warn, DryRun: l.DryRun,
		Considered: d.considered, Candidates: d.candidates,
	}
}

// apply carries out the tracker's actions.
func (d *Daemon) apply(now time.Time, actions []policy.Action) {
	for _, a := range actions {
		switch a.Kind {
		case policy.ActStop:
			d.stop(now, a.Obs)
		case policy.ActWouldStop:
			e := d.template(now, event.WouldStop, a.Obs)
			e.Signal = firstSignal(d.o.Config.Grace)
			e.Handle, e.Origin = d.sampler.Handle(a.Obs.Key), d.origin(a.Obs.Key)
			d.sink.Handle(e)
		case policy.ActSpare:
			e := d.template(now, event.Spared, a.Obs)
			e.Reason = a.Obs.Protected
			d.sink.Handle(e)
		case policy.ActWarn:
			e := d.template(now, event.Warn, a.Obs)
			e.Reason = a.Obs.Protected
			e.Handle = d.sampler.Handle(a.Obs.Key)
			d.sink.Handle(e)
		case policy.ActWait:
			e := d.template(now, event.Wait, a.Obs)
			e.At = a.At
			d.sink.Handle(e)
		case policy.ActForgive:
			e := d.template(now, event.Forgiven, a.Obs)
			e.At = a.At
			d.sink.Handle(e)
		}
	}
}

func firstSignal(grace time.Duration) string {
	if grace == 0 {
		return "SIGKILL"
	}
	return "SIGTERM"
}

// stop confirms the process once more and starts its stop.
func (d *Daemon) stop(now time.Time, o policy.Observation) {
	k := o.Key
	if d.groupStopping(k) {
		return // being stopped for a budget: the tracker hears when that stop ends
	}
	c, h, err := d.sampler.Confirm(now, k)
	switch {
	case err != nil:
		e := d.template(now, event.Outcome, o)
		e.Outcome, e.Err = string(kill.Failed), err
		d.sink.Handle(e)
		d.trackerDone(now, k, policy.Failed)
		return
	case c.Gone:
		e := d.template(now, event.Outcome, o)
		e.Outcome = string(kill.Gone)
		d.sink.Handle(e)
		d.trackerDone(now, k, policy.Done)
		return
	case c.Value <= d.tracker.Limits().Threshold:
		h.Close()
		d.sink.Handle(d.template(now, event.NotOver, c))
		d.trackerDone(now, k, policy.NotNeeded)
		return
	}
	origin := d.origin(k)
	// The grace period starts when SIGTERM is sent, after the reads above.
	now = time.Now()
	tmpl := d.template(now, 0, c)
	tmpl.Origin = origin
	d.finished(now, d.act.Start(now, actuator.Request{
		Key: k, Handle: h, Grace: d.o.Config.Grace, Event: tmpl,
	}))
}

// origin reads where the process came from, for the log's stop entries: once per stop,
// while the confirmed process still runs (the sampler's handle keeps its PID from reuse).
func (d *Daemon) origin(k policy.Key) *notify.Origin {
	o := notify.ReadOrigin(d.sampler.Scanner().Root(), k.PID)
	return &o
}

// finished passes the stops that ended to the tracker.
func (d *Daemon) finished(now time.Time, done []actuator.Done) {
	for _, x := range done {
		r := policy.Done
		if x.Outcome == kill.Failed {
			r = policy.Failed
		} else {
			d.sampler.Forget(x.Key)
		}
		d.tracker.Finished(now, x.Key, r)
	}
	d.groupsFinished(now, done)
}

// shutdown finishes the stops in flight within the stop budget, then abandons the rest.
func (d *Daemon) shutdown(timer Timer) {
	d.notify("STOPPING=1\nSTATUS=Stopping")
	now := time.Now()
	if n := d.act.InFlight(); n > 0 {
		d.sink.Handle(event.Event{Kind: event.Finishing, Time: now, InFlight: n})
		end := now.Add(d.o.StopBudget)
		// SIGKILL early enough that the kill can be seen to work within the budget.
		killBy := end.Add(-killRoom)
		if killBy.Before(now) {
			killBy = now
		}
		d.act.Hasten(killBy)
		for d.act.InFlight() > 0 && time.Now().Before(end) {
			timer.Reset(max(time.Until(earliest(d.act.NextDeadline(), end)), 0))
			select {
			case <-timer.C():
			case id := <-d.act.Exits():
				d.finished(time.Now(), d.act.Exited(time.Now(), id))
			case id := <-d.act.Released():
				d.act.ReleaseDone(id)
			}
			d.finished(time.Now(), d.act.Tick(time.Now()))
		}
	}
	d.act.Abandon(time.Now())
}

func (d *Daemon) statusLine() string {
	if d.o.Status == nil {
		return ""
	}
	return d.o.Status.Line()
}

func (d *Daemon) notify(state string) {
	if d.o.Notify != nil {
		d.o.Notify(state)
	}
}

// earliest is the earliest of the non-zero times; zero when all are.
func earliest(ts ...time.Time) time.Time {
	var first time.Time
	for _, t := range ts {
		if !t.IsZero() && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	if first.IsZero() {
		return time.Now().Add(time.Hour)
	}
	return first
}
