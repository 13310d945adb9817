package sampler

import (
	"testing"

	"github.com/memory-monitor/memory-monitor/internal/budget"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proctest"
	"github.com/memory-monitor/memory-monitor/internal/protect"
)

func newGroupSampler(t *testing.T, tr *proctest.Tree, limit uint64) *Sampler {
	t.Helper()
	set, err := protect.Compile(nil, protect.Options{NoDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := budget.ParseRule("user:*", limit, "L", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(tr.Root, Options{
		Rules:  policy.Rules{Threshold: 8 * gib, Self: 4242, Protect: set},
		Opener: kill.NewFake(), FastPath: true, GrowthRate: 4 << 30,
		Budgets: budget.NewSet([]budget.Rule{r}, budget.DefaultLoginRange()), CgroupRoot: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// A full scan returns the groups; a group well below its budget lowers the fast path's
// headroom to its own room (growth past it starts a full scan), one near its budget is
// measured again at each fast check instead.
func TestGroupsInFullAndFast(t *testing.T) {
	tr := proctest.New(t)
	tr.Add(10, proctest.Proc{Comm: "a", UID: 1000, RSS: 100 * mib, Start: 1})
	tr.Add(20, proctest.Proc{Comm: "b", UID: 1001, RSS: 300 * mib, Start: 2})
	s := newGroupSampler(t, tr, 400*mib)
	r, err := s.Full(t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Groups) != 2 || r.Groups[0].Key.Name != "1000" || r.Groups[0].Total != 100*mib || r.Groups[1].Total != 300*mib {
		t.Fatalf("groups %+v", r.Groups)
	}
	if s.fast.headroom != 300*mib {
		t.Errorf("headroom %d MiB, want the room of user 1000's group, 300", s.fast.headroom/mib)
	}
	if len(s.grp.watch) != 1 || s.grp.watch[0].Key.Name != "1001" {
		t.Errorf("watched groups %+v, want user 1001's", s.grp.watch)
	}
	tr.Add(20, proctest.Proc{Comm: "b", UID: 1001, RSS: 450 * mib, Start: 2})
	f := s.Fast(t0, nil)
	if f.Scan || len(f.Groups) != 1 || f.Groups[0].Total != 450*mib || !f.Groups[0].Over() {
		t.Errorf("fast check: scan %v, groups %+v; want user 1001's re-measured over", f.Scan, f.Groups)
	}
	if f.Next != fastMin {
		t.Errorf("next fast check in %v, want %v with a group over", f.Next, fastMin)
	}
}

// Without budgets no Grouper exists and the scan callback is the one it always was.
func TestNoBudgetsNoGroups(t *testing.T) {
	tr := proctest.New(t)
	tr.Add(10, proctest.Proc{Comm: "a", UID: 1000, RSS: 100 * mib, Start: 1})
	s := newSampler(t, tr, kill.NewFake(), 0, true)
	r, err := s.Full(t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Budgets() || r.Groups != nil || s.Fast(t0, nil).Groups != nil {
		t.Errorf("groups without budgets: %v", r.Groups)
	}
	if a := testing.AllocsPerRun(20, func() { s.collect(10, mib, mib) }); a != 0 {
		t.Errorf("the scan callback allocates %v times without budgets", a)
	}
}
