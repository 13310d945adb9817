package budget

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
	"github.com/memory-monitor/memory-monitor/internal/protect"
)

// Candidate is a member of an over-budget group looked at closely.
type Candidate struct {
	PID       int
	StartTime uint64 // with PID, identifies the process for the stop's re-check
	Memory    uint64 // bytes, by the configured metric
	Protected string // why it must never be stopped (policy.Protected), "" when it may be
	Comm      string // for logs; attacker-controlled
}

// Choice is the member to stop.
type Choice struct {
	Candidate
	Found bool // an unprotected member exists
	// OnlyProtected: the group has members, and every one of them is protected. They count
	// toward the total but are never chosen.
	OnlyProtected bool
}

// Choose returns the largest unprotected candidate; among equals the youngest (the least
// work lost), then the lowest PID.
func Choose(cands []Candidate) Choice {
	var best Candidate
	found := false
	for _, c := range cands {
		if c.Protected != "" {
			continue
		}
		if !found || cmp.Or(cmp.Compare(c.Memory, best.Memory), cmp.Compare(c.StartTime, best.StartTime), cmp.Compare(best.PID, c.PID)) > 0 {
			best, found = c, true
		}
	}
	return Choice{Candidate: best, Found: found, OnlyProtected: !found && len(cands) > 0}
}

// Candidates reads the members of g, largest first, until the choice is certain: an
// unprotected member whose metric is at least the next member's upper bound (its RSS, plus
// VmSwap with --metric=swap; PSS is never above RSS). Members that are gone are skipped.
// It reads proc.Info (and PSS for --metric=pss) only for the few members it looks at.
func Candidates(r *proc.Reader, g Group, rules policy.Rules) []Candidate {
	members := slices.Clone(g.Members)
	slices.SortStableFunc(members, func(a, b Member) int { return cmp.Compare(b.RSS+b.Swap, a.RSS+a.Swap) })
	var out []Candidate
	var best uint64
	found := false
	for _, m := range members {
		if found && best >= m.RSS+m.Swap {
			break
		}
		in, err := r.Info(m.PID)
		if err != nil || !g.Holds(in) {
			continue // gone, or no longer in the group (see RefreshScans)
		}
		if err := r.Measure(&in, rules.Metric); err != nil {
			continue
		}
		c := Candidate{PID: in.PID, StartTime: in.StartTime, Memory: rules.Metric.Of(in),
			Protected: policy.Protected(in, rules), Comm: in.Comm}
		out = append(out, c)
		if c.Protected == "" {
			best, found = max(best, c.Memory), true
		}
	}
	return out
}

// Holds reports whether a freshly read process belongs to g: its real uid for a user
// group, its system manager's units for a unit group.
func (g Group) Holds(in proc.Info) bool {
	switch g.Key.Kind {
	case User:
		return strconv.FormatUint(in.UID, 10) == g.Key.Name
	case Unit:
		return slices.Contains(protect.Units(in.Cgroup), g.Key.Name)
	}
	return false
}

// WarnLimit is a group's --warn-threshold: the same fraction of its budget as the warn
// threshold is of the per-process threshold (warn 16G of a 20G threshold warns a 400M
// budget at 320M). 0 when warnings are off.
func WarnLimit(limit, warn, threshold uint64) uint64 {
	if warn == 0 || threshold == 0 {
		return 0
	}
	return uint64(float64(limit) * (float64(warn) / float64(threshold)))
}

// GroupState is what the tracker remembers about one group between observations. The
// zero value is a group never seen over anything.
type GroupState struct {
	Sustain policy.SustainState
	// Stopping is the PID of the stop in flight for this group; 0: none. While it runs the
	// group is not judged again: never more than one stop per group at a time.
	Stopping int
	// StoppedAt is when the last stop finished: a measurement taken before it still
	// counts the stopped process, so it is not acted on.
	StoppedAt     time.Time
	Warned        bool
	OnlyProtected bool // "only protected members remain" logged for this episode
	DryRunLogged  bool // "would stop" logged for this episode
}

// Observation is one measurement of a group, with the member chosen from it (Choose);
// Choice matters only when the group is over.
type Observation struct {
	MeasuredAt time.Time
	Total      uint64
	Limit      uint64
	WarnLimit  uint64 // WarnLimit(...); 0: no warnings
	Choice     Choice
}

// Actions is what the tracker does after an observation of a group.
type Actions struct {
	Warn          bool // log that the group crossed its warn level
	Stop          int  // stop this PID now (then call Finished); 0: none
	WouldStop     int  // dry run: log "would stop" this PID; 0: none
	OnlyProtected bool // log once: over the budget, but only protected members remain
	// Remeasure: measure the group again now rather than at the next scan (after a stop
	// finished, to choose the next member on a fresh total).
	Remeasure bool
	Next      time.Time // sustain: measure the group again at Next; zero: at the next scan
}

// Observe applies the budget, --sustain (as for processes: over at every observation for
// the whole period) and --warn-threshold to one observation at now. It does no I/O.
func (s GroupState) Observe(now time.Time, o Observation, sustain time.Duration, dryRun bool) (GroupState, Actions) {
	var a Actions
	if s.Stopping != 0 {
		return s, a
	}
	if o.MeasuredAt.Before(s.StoppedAt) {
		a.Remeasure = true // counts the member stopped since: judge a fresh total
		return s, a
	}
	a.Warn, s.Warned = policy.Warn(o.Total, o.WarnLimit, s.Warned)
	r := policy.Sustain(s.Sustain, o.Total > o.Limit, now, sustain)
	s.Sustain = r.State
	switch r.Verdict {
	case policy.SustainClear:
		s.OnlyProtected, s.DryRunLogged = false, false
	case policy.SustainWait:
		a.Next = r.Next
	case policy.SustainAct:
		switch {
		case !o.Choice.Found:
			a.OnlyProtected = o.Choice.OnlyProtected && !s.OnlyProtected
			s.OnlyProtected = s.OnlyProtected || o.Choice.OnlyProtected
		case dryRun:
			if !s.DryRunLogged {
				a.WouldStop, s.DryRunLogged = o.Choice.PID, true
			}
		default:
			s.OnlyProtected = false
			a.Stop, s.Stopping = o.Choice.PID, o.Choice.PID
		}
	}
	return s, a
}

// Finished records at now that the stop of pid has ended, however it ended: the group
// is measured again before another member is chosen.
func (s GroupState) Finished(now time.Time, pid int) (GroupState, Actions) {
	if s.Stopping != pid {
		return s, Actions{}
	}
	s.Stopping, s.StoppedAt = 0, now
	return s, Actions{Remeasure: true}
}
