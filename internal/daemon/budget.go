package daemon

import (
	"time"

	"github.com/memory-monitor/memory-monitor/internal/actuator"
	"github.com/memory-monitor/memory-monitor/internal/budget"
	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// The budget groups' part of the loop. Each group is judged on its own by a
// budget.GroupState (sustain, warning, dry run, only-protected); a group over its budget
// has its largest unprotected member stopped through the same path as any process
// (sampler.Confirm, then actuator.Start). Every stop in flight, whoever asked for it,
// is one record here keyed by process: a group whose choice is already being stopped
// (by the per-process tracker or for another group) waits on that stop instead of
// starting another, and a per-process stop of a process a group is stopping waits on
// the group's. When a stop ends, every group waiting on it is measured again before it
// chooses another member.

// groupRetry is how long a group waits after a stop that failed before it chooses again:
// the per-process tracker's first backoff.
const groupRetry = policy.BackoffMin

// groupRecheck is how soon a group whose chosen member was gone, or had changed, before
// any signal is measured again: soon, but never in a loop at one instant.
const groupRecheck = 100 * time.Millisecond

type groupEntry struct {
	state   budget.GroupState
	last    budget.Group // the latest measurement
	stop    policy.Key   // the stop this group waits on, while state.Stopping != 0
	next    time.Time    // measure again at next; zero: at the next scan or fast check
	retryAt time.Time    // after a failed stop: no new stop before this
	seen    bool         // in the last full scan
}

type groupStop struct {
	groups []budget.Key // the groups waiting on this stop
	ours   bool         // started for a group (the actuator holds it)
}

type budgets struct {
	groups map[budget.Key]*groupEntry
	stops  map[policy.Key]*groupStop
	sysOOM budget.OOMCounter
	oom    map[budget.Key]budget.OOMCounter
}

func newBudgets() *budgets {
	return &budgets{groups: map[budget.Key]*groupEntry{}, stops: map[policy.Key]*groupStop{},
		oom: map[budget.Key]budget.OOMCounter{}}
}

// groupStopping reports whether a stop of k is in flight for a budget group.
func (d *Daemon) groupStopping(k policy.Key) bool {
	if d.bud == nil {
		return false
	}
	s := d.bud.stops[k]
	return s != nil && s.ours
}

// observeGroups judges the groups measured at now; a full scan's list is every group.
func (d *Daemon) observeGroups(now time.Time, groups []budget.Group, full bool) {
	b := d.bud
	if b == nil {
		return
	}
	if full {
		for _, e := range b.groups {
			e.seen = false
		}
	}
	for _, g := range groups {
		e := b.groups[g.Key]
		if e == nil {
			e = &groupEntry{}
			b.groups[g.Key] = e
		}
		e.seen = true
		d.judgeGroup(now, e, g, full)
	}
	if full {
		for k, e := range b.groups {
			if !e.seen && e.state.Stopping == 0 {
				delete(b.groups, k) // no member left
			}
		}
		d.groupsMeasured(now, groups)
	}
}

// judgeGroup applies the group's state machine to one measurement and acts on it. fresh
// says the membership is new too (a full scan, or a re-measure after a stop).
func (d *Daemon) judgeGroup(now time.Time, e *groupEntry, g budget.Group, fresh bool) {
	e.last, e.next = g, time.Time{}
	if e.state.Stopping != 0 {
		return // measured again when the stop ends
	}
	l := d.tracker.Limits()
	o := budget.Observation{MeasuredAt: now, Total: g.Total, Limit: g.Rule.Limit,
		WarnLimit: budget.WarnLimit(g.Rule.Limit, l.Warn, l.Threshold)}
	// Members are read closely only when the group would be acted on now, and not again
	// for a decision already reported (dry run), nor at every fast check for a group
	// whose members were all protected at the last fresh look.
	skip := e.state.DryRunLogged || e.state.OnlyProtected && !fresh
	if g.Over() && !skip && policy.Sustain(e.state.Sustain, true, now, l.Sustain).Verdict == policy.SustainAct {
		if now.Before(e.retryAt) {
			e.next = e.retryAt
			return
		}
		o.Choice = budget.Choose(d.sampler.GroupCandidates(g))
	}
	st, a := e.state.Observe(now, o, l.Sustain, l.DryRun)
	e.state = st
	if a.Warn {
		d.sink.Handle(event.Event{Kind: event.GroupWarn, Time: now, Group: &g, Warn: o.WarnLimit, DryRun: l.DryRun})
	}
	if a.OnlyProtected {
		d.sink.Handle(event.Event{Kind: event.GroupOnlyProtected, Time: now, Group: &g, DryRun: l.DryRun})
	}
	if a.WouldStop != 0 {
		d.groupWouldStop(now, g, o.Choice)
	}
	if a.Stop != 0 {
		d.groupStop(now, e, g, o.Choice)
	}
	if a.Remeasure {
		e.next = now
	}
	if !a.Next.IsZero() {
		e.next = a.Next
	}
}

// memberEvent is the event about member c of group g, with the scan context.
func (d *Daemon) memberEvent(now time.Time, k event.Kind, g budget.Group, in proc.Info, memory uint64) event.Event {
	e := d.template(now, k, policy.Observation{Info: in, Value: memory})
	e.Group = &g
	return e
}

func (d *Daemon) groupWouldStop(now time.Time, g budget.Group, c budget.Choice) {
	in, err := d.sampler.Reader().Info(c.PID)
	if err != nil || in.StartTime != c.StartTime {
		in = proc.Info{PID: c.PID, Comm: c.Comm, StartTime: c.StartTime}
	}
	e := d.memberEvent(now, event.WouldStop, g, in, c.Memory)
	e.Signal = firstSignal(d.o.Config.Grace)
	d.sink.Handle(e)
}

// groupStop stops member c of group g, or waits on the stop of c already in flight.
func (d *Daemon) groupStop(now time.Time, e *groupEntry, g budget.Group, c budget.Choice) {
	k := policy.Key{PID: c.PID, Start: c.StartTime}
	e.stop = k
	if s := d.bud.stops[k]; s != nil {
		s.groups = append(s.groups, g.Key) // being stopped for another group
		return
	}
	if d.tracker.Stopping(k) {
		d.bud.stops[k] = &groupStop{groups: []budget.Key{g.Key}} // the tracker's stop
		return
	}
	o, h, err := d.sampler.Confirm(now, k)
	switch {
	case err != nil:
		ev := d.memberEvent(now, event.Outcome, g, proc.Info{PID: c.PID, Comm: c.Comm}, c.Memory)
		ev.Outcome, ev.Err = string(kill.Failed), err
		d.sink.Handle(ev)
		e.retryAt = now.Add(groupRetry)
		d.groupEnded(now, g.Key, k, 0)
		return
	case o.Gone:
		ev := d.memberEvent(now, event.Outcome, g, proc.Info{PID: c.PID, Comm: c.Comm}, c.Memory)
		ev.Outcome = string(kill.Gone)
		d.sink.Handle(ev)
		d.groupEnded(now, g.Key, k, groupRecheck)
		return
	case o.Protected != "" || !g.Holds(o.Info):
		h.Close() // changed since it was chosen: choose again on a fresh measurement
		d.groupEnded(now, g.Key, k, groupRecheck)
		return
	}
	d.bud.stops[k] = &groupStop{groups: []budget.Key{g.Key}, ours: true}
	now = time.Now() // the grace period starts when SIGTERM is sent
	ev := d.memberEvent(now, 0, g, o.Info, o.Value)
	d.finished(now, d.act.Start(now, actuator.Request{Key: k, Handle: h, Grace: d.o.Config.Grace, Event: ev}))
}

// groupEnded tells group gk that the stop of k ended; it is measured again after wait.
func (d *Daemon) groupEnded(now time.Time, gk budget.Key, k policy.Key, wait time.Duration) {
	e := d.bud.groups[gk]
	if e == nil || e.stop != k {
		return
	}
	st, a := e.state.Finished(now, k.PID)
	e.state, e.stop = st, policy.Key{}
	if a.Remeasure {
		e.next = now.Add(wait)
		if e.retryAt.After(e.next) {
			e.next = e.retryAt
		}
	}
}

// groupsFinished passes the stops that ended to the groups waiting on them.
func (d *Daemon) groupsFinished(now time.Time, done []actuator.Done) {
	if d.bud == nil {
		return
	}
	for _, x := range done {
		s := d.bud.stops[x.Key]
		if s == nil {
			continue
		}
		delete(d.bud.stops, x.Key)
		for _, gk := range s.groups {
			if e := d.bud.groups[gk]; e != nil && x.Outcome == kill.Failed {
				e.retryAt = now.Add(groupRetry)
			}
			d.groupEnded(now, gk, x.Key, 0)
		}
	}
}

// trackerDone tells the per-process tracker that its stop of k ended without the
// actuator (not over any more, gone, or failed before a signal), and the groups waiting
// on that stop that they may measure again.
func (d *Daemon) trackerDone(now time.Time, k policy.Key, r policy.Result) {
	d.tracker.Finished(now, k, r)
	if d.bud == nil {
		return
	}
	if s := d.bud.stops[k]; s != nil && !s.ours {
		o := kill.Exited
		if r == policy.Failed {
			o = kill.Failed
		}
		d.groupsFinished(now, []actuator.Done{{Key: k, Outcome: o}})
	}
}

// groupsDeadline is the earliest time a group wants measuring again; zero: none.
func (d *Daemon) groupsDeadline() time.Time {
	if d.bud == nil {
		return time.Time{}
	}
	var first time.Time
	for _, e := range d.bud.groups {
		if !e.next.IsZero() && (first.IsZero() || e.next.Before(first)) {
			first = e.next
		}
	}
	return first
}

// groupsDue measures again the groups whose time has come.
func (d *Daemon) groupsDue(now time.Time) {
	if d.bud == nil {
		return
	}
	var due []budget.Group
	for k, e := range d.bud.groups {
		if e.next.IsZero() || e.next.After(now) || e.state.Stopping != 0 {
			continue
		}
		if !e.seen {
			// Not in the last full scan: no member left, or no budget any more (a reload
			// removed it while a stop for it was in flight). Nothing to measure.
			delete(d.bud.groups, k)
			continue
		}
		e.next = time.Time{}
		due = append(due, e.last)
	}
	for _, g := range due {
		d.judgeGroup(now, d.bud.groups[g.Key], d.sampler.RemeasureGroup(g), true)
	}
}

// groupsMeasured reports the groups of a full scan and the kernel's OOM kills since the
// last one: /proc/vmstat's oom_kill and each group's memory.events oom_kill.
func (d *Daemon) groupsMeasured(now time.Time, groups []budget.Group) {
	b := d.bud
	var rep event.BudgetReport
	rep.Groups = len(groups)
	for _, g := range groups {
		rep.LargestShare = max(rep.LargestShare, float64(g.Total)/float64(g.Rule.Limit))
	}
	d.sink.Handle(event.Event{Kind: event.GroupsMeasured, Time: now, Budget: rep})

	if v, ok := budget.ReadVMStatOOMKills(d.sampler.Reader().Root()); ok {
		b.sysOOM, rep.SystemOOMKills = b.sysOOM.Observe(v)
	}
	seen := make(map[budget.Key]bool, len(groups))
	for _, g := range groups {
		if !g.OOMKnown {
			continue
		}
		seen[g.Key] = true
		c, n := b.oom[g.Key].Observe(g.OOMKills)
		b.oom[g.Key] = c
		if n > 0 {
			rep.GroupOOMKills = append(rep.GroupOOMKills, event.GroupOOM{Group: g.Key.String(), Kills: n})
		}
	}
	for k := range b.oom {
		if !seen[k] {
			delete(b.oom, k)
		}
	}
	if rep.SystemOOMKills > 0 || len(rep.GroupOOMKills) > 0 {
		d.sink.Handle(event.Event{Kind: event.KernelOOM, Time: now, Budget: rep})
	}
}
