package sampler

import (
	"cmp"
	"slices"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/budget"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// The budget groups are the sampler's second source. With budgets, the full scan's
// callback feeds every process to a budget.Grouper as well, and the scan returns the
// measured groups. Without budgets nothing here runs: the callback is collectOne alone.
//
// The fast path covers groups as it covers processes. A group's total can grow by no
// more than the memory allocated on the whole machine, which the fast checks bound (see
// grewBy). So the groups well below their budget only lower the fast path's headroom to
// their own room, and growth past it starts a full scan; the few groups near their budget
// (at least half of it, at most groupWatchMax of them, largest share first) are measured
// again at every fast check with Grouper.Remeasure: one memory.stat read each where the
// cgroup covers the group, one statm read per member elsewhere.

// groupWatchMax bounds the groups re-measured at each fast check, and groupWatchMembers
// their members in all, so that many groups near their budget cannot make the fast
// checks expensive; groups beyond the bounds count in the headroom instead.
const (
	groupWatchMax     = watchMax
	groupWatchMembers = 256
)

type groupSampler struct {
	g      *budget.Grouper
	groups []budget.Group // of the last full scan
	watch  []budget.Group // near their budget: re-measured at each fast check
	room   uint64         // the least room left by a watched group at the last look
}

// openGroups makes the Grouper when budgets are configured.
func (s *Sampler) openGroups(root string) error {
	gs, err := s.newGroups(root, s.o.Budgets, s.o.Rules.Metric)
	if err != nil {
		return err
	}
	s.useGroups(gs, s.o.Budgets)
	return nil
}

// newGroups makes the group sampler of set, measured with metric; nil when set is empty.
func (s *Sampler) newGroups(root string, set *budget.Set, metric proc.Metric) (*groupSampler, error) {
	if set.Empty() {
		return nil, nil
	}
	g, err := budget.NewGrouper(set, budget.Options{
		ProcRoot: root, CgroupRoot: s.o.CgroupRoot, Metric: metric, PSS: s.reader.PSS,
	})
	if err != nil {
		return nil, err
	}
	return &groupSampler{g: g, room: ^uint64(0)}, nil
}

func (s *Sampler) useGroups(gs *groupSampler, set *budget.Set) {
	s.grp, s.o.Budgets = gs, set
	s.collect = s.collectOne
	if gs != nil {
		s.collect = s.collectGrouped
	}
}

// SetBudgets puts set in force (a reload; nil or empty turns budgets off), its groups
// measured with metric, from the next full scan on. It makes the new Grouper before it
// lets go of the old one, so on an error the budgets in force stay.
func (s *Sampler) SetBudgets(set *budget.Set, metric proc.Metric) error {
	gs, err := s.newGroups(s.reader.Root(), set, metric)
	if err != nil {
		return err
	}
	s.closeGroups()
	s.useGroups(gs, set)
	return nil
}

func (s *Sampler) closeGroups() {
	if s.grp != nil {
		s.grp.g.Close()
		s.grp = nil
	}
}

// Budgets reports whether budget groups are measured.
func (s *Sampler) Budgets() bool { return s.grp != nil }

// collectGrouped is the scan callback with budgets.
func (s *Sampler) collectGrouped(pid int, rss, size uint64) {
	s.collectOne(pid, rss, size)
	s.grp.g.Add(pid, rss)
}

func (s *Sampler) beginGroups() {
	if s.grp != nil {
		s.grp.g.Begin()
	}
}

// endGroups measures the groups of the scan just made and plans the fast checks' share.
func (s *Sampler) endGroups() []budget.Group {
	gs := s.grp
	if gs == nil {
		return nil
	}
	gs.groups = gs.g.Groups()
	gs.watch = gs.watch[:0]
	near := make([]budget.Group, 0, 4)
	for _, g := range gs.groups {
		if g.Total >= g.Rule.Limit/2 {
			near = append(near, g)
			continue
		}
		if s.fast.on {
			s.fast.headroom = min(s.fast.headroom, g.Rule.Limit-g.Total)
		}
	}
	slices.SortFunc(near, func(a, b budget.Group) int { return cmp.Compare(share(b), share(a)) })
	members := 0
	for _, g := range near {
		if len(gs.watch) < groupWatchMax && members+len(g.Members) <= groupWatchMembers {
			gs.watch = append(gs.watch, g)
			members += len(g.Members)
		} else if s.fast.on {
			s.fast.headroom = min(s.fast.headroom, g.Rule.Limit-min(g.Total, g.Rule.Limit))
		}
	}
	gs.room = roomOf(gs.watch)
	return gs.groups
}

// share is a group's total as a fraction of its budget.
func share(g budget.Group) float64 { return float64(g.Total) / float64(g.Rule.Limit) }

func roomOf(gs []budget.Group) uint64 {
	room := ^uint64(0)
	for _, g := range gs {
		room = min(room, g.Rule.Limit-min(g.Total, g.Rule.Limit))
	}
	return room
}

// fastGroups measures the watched groups again (a fast check).
func (s *Sampler) fastGroups() []budget.Group {
	gs := s.grp
	if gs == nil || len(gs.watch) == 0 {
		return nil
	}
	for i, g := range gs.watch {
		gs.watch[i] = gs.g.Remeasure(g, s.scanner.RSS)
	}
	gs.room = roomOf(gs.watch)
	return gs.watch
}

// groupPace shortens the time to the next fast check to what the watched group nearest
// its budget needs to reach it at the fast path's rate.
func (s *Sampler) groupPace(d time.Duration) time.Duration {
	if s.grp == nil || len(s.grp.watch) == 0 {
		return d
	}
	return min(d, nextCheck(s.grp.room, 0, nil, 0, max(s.fast.rate, 2*s.fast.measured)))
}

// RemeasureGroup measures g again between scans (a sustain re-check, or after a stop).
func (s *Sampler) RemeasureGroup(g budget.Group) budget.Group {
	if s.grp == nil {
		return g
	}
	return s.grp.g.Remeasure(g, s.scanner.RSS)
}

// GroupCandidates reads the largest members of g closely, enough to choose the one to
// stop (budget.Candidates).
func (s *Sampler) GroupCandidates(g budget.Group) []budget.Candidate {
	return budget.Candidates(s.reader, g, s.o.Rules)
}
