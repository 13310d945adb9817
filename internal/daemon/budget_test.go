package daemon

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/budget"
	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/proctest"
	"golang.org/x/sys/unix"
)

// budgetConfig is a configuration with a per-process threshold of 2G (never reached
// here) and the budgets specs, measured in cgroups.
func budgetConfig(t *testing.T, cg *proctest.Cgroups, specs ...string) config.Config {
	t.Helper()
	set, err := config.LoadBudgets(specs, func(f string) string { return "--" + f },
		func() (uint64, error) { return 64 * gib, nil },
		func(name string) (uint64, error) { return 0, fmt.Errorf("no user %s", name) },
		budget.DefaultLoginRange())
	if err != nil {
		t.Fatal(err)
	}
	return config.Config{Threshold: 2 * gib, Grace: 5 * time.Second, Budgets: set, CgroupRoot: cg.Root}
}

// member makes a process of uid in its user's slice.
func member(uid int) func(*proctest.Proc) {
	return func(p *proctest.Proc) {
		p.UID = uid
		p.Cgroup = fmt.Sprintf("0::/user.slice/user-%d.slice/session-1.scope\n", uid)
	}
}

func protected(p *proctest.Proc) { p.OOMAdj = -1000 }

// groupLog renders the budget events as "T+d kind pid group" lines.
func (w *world) groupLog() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, e := range w.events {
		var s string
		switch e.Kind {
		case event.Signal:
			s = "signal " + fmt.Sprint(e.Proc.PID) + " " + e.Signal
		case event.Outcome:
			s = "outcome " + fmt.Sprint(e.Proc.PID) + " " + e.Outcome
		case event.WouldStop:
			s = "would " + fmt.Sprint(e.Proc.PID)
		case event.GroupOnlyProtected:
			s = "onlyprotected"
		case event.GroupWarn:
			s = "groupwarn"
		case event.KernelOOM:
			s = fmt.Sprintf("oom system=%d groups=%v", e.Budget.SystemOOMKills, e.Budget.GroupOOMKills)
		default:
			continue
		}
		g := "-"
		if e.Group != nil {
			g = e.Group.Key.String() + " " + e.Group.Method.String()
		}
		out = append(out, fmt.Sprintf("%v %s %s", e.Time.Sub(w.start), s, g))
	}
	return out
}

// Three processes of one user over user:*=400M together: exactly the largest is
// stopped; the group is measured again when that stop ends, and, under the budget
// then, nothing more happens. The other user, under the budget, is untouched.
func TestBudgetStopsOnlyTheLargest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cg := proctest.NewCgroups(t, false)
		w := newWorld(t, budgetConfig(t, cg, "user:*=400M"), false, func(w *world) {
			w.proc(10, 170*mib, &kill.FakeProcess{}, member(1000))
			w.proc(11, 180*mib, &kill.FakeProcess{TermTakes: time.Second}, member(1000))
			w.proc(12, 160*mib, &kill.FakeProcess{}, member(1000))
			w.proc(20, 150*mib, &kill.FakeProcess{}, member(1001))
			w.proc(21, 150*mib, &kill.FakeProcess{}, member(1001))
		})
		w.at(500 * time.Millisecond)
		w.tree.Remove(11) // reaped once it exits
		w.at(2 * time.Minute)
		w.stop()
		expect(t, w.groupLog(),
			"0s signal 11 SIGTERM user:1000 pss-sum",
			"1s outcome 11 exited user:1000 pss-sum")
		for _, pid := range []int{10, 12, 20, 21} {
			if s := w.fake.Sent(pid); s != nil {
				t.Errorf("PID %d got %v", pid, s)
			}
		}
	})
}

// A protected member counts toward the total but is never chosen; the others are
// stopped one at a time, each only after the last has ended and the group was measured
// again; when only the protected one is left over the budget, that is reported once.
func TestBudgetOneStopAtATimeNeverProtected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cg := proctest.NewCgroups(t, false)
		w := newWorld(t, budgetConfig(t, cg, "user:*=400M"), false, func(w *world) {
			w.proc(10, 450*mib, nil, member(1000), protected) // the largest
			w.proc(11, 120*mib, &kill.FakeProcess{TermTakes: time.Second}, member(1000))
			w.proc(12, 100*mib, &kill.FakeProcess{TermTakes: time.Second}, member(1000))
		})
		w.at(500 * time.Millisecond)
		w.tree.Remove(11)
		w.at(1500 * time.Millisecond)
		w.tree.Remove(12)
		w.at(5 * time.Minute) // several scans: still reported once
		w.stop()
		expect(t, w.groupLog(),
			"0s signal 11 SIGTERM user:1000 pss-sum",
			"1s outcome 11 exited user:1000 pss-sum",
			"1s signal 12 SIGTERM user:1000 pss-sum",
			"2s outcome 12 exited user:1000 pss-sum",
			"2s onlyprotected user:1000 pss-sum")
		if s := w.fake.Sent(10); s != nil {
			t.Errorf("protected PID 10 got %v", s)
		}
	})
}

// --sustain applies to groups: a group over for less than the period is forgiven, one
// over for all of it has its largest member stopped when the period ends (re-measured
// in between, not only at the scans).
func TestBudgetSustain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cg := proctest.NewCgroups(t, false)
		cfg := budgetConfig(t, cg, "user:*=400M")
		cfg.Sustain = 3 * time.Second
		w := newWorld(t, cfg, false, func(w *world) {
			w.proc(10, 300*mib, &kill.FakeProcess{TermTakes: time.Second}, member(1000))
			w.proc(11, 200*mib, &kill.FakeProcess{}, member(1000))
			w.proc(20, 300*mib, &kill.FakeProcess{}, member(1001))
			w.proc(21, 200*mib, &kill.FakeProcess{}, member(1001))
		})
		w.at(1100 * time.Millisecond)
		w.proc(21, 50*mib, nil, member(1001)) // user 1001 back under within the period
		w.at(3500 * time.Millisecond)
		w.tree.Remove(10)
		w.at(10 * time.Second)
		w.stop()
		expect(t, w.groupLog(),
			"3s signal 10 SIGTERM user:1000 pss-sum",
			"4s outcome 10 exited user:1000 pss-sum")
		if s := w.fake.Sent(20); s != nil {
			t.Errorf("forgiven group's PID 20 got %v", s)
		}
	})
}

// Dry run: "would stop" once per episode, whatever the number of scans; nothing is sent.
func TestBudgetDryRunOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cg := proctest.NewCgroups(t, false)
		cfg := budgetConfig(t, cg, "user:*=400M")
		cfg.DryRun = true
		w := newWorld(t, cfg, false, func(w *world) {
			w.proc(10, 300*mib, &kill.FakeProcess{}, member(1000))
			w.proc(11, 200*mib, &kill.FakeProcess{}, member(1000))
		})
		w.at(5 * time.Minute)
		w.stop()
		expect(t, w.groupLog(), "0s would 10 user:1000 pss-sum")
		if s := w.fake.Sent(10); s != nil {
			t.Errorf("dry run sent %v", s)
		}
	})
}

// A rule naming the user beats user:*: uid 1000 has 1G, everyone else 400M.
func TestBudgetNamedUserBeatsAllUsers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cg := proctest.NewCgroups(t, false)
		w := newWorld(t, budgetConfig(t, cg, "user:*=400M", "user:1000=1G"), false, func(w *world) {
			w.proc(10, 300*mib, &kill.FakeProcess{}, member(1000))
			w.proc(11, 300*mib, &kill.FakeProcess{}, member(1000))
			w.proc(20, 300*mib, &kill.FakeProcess{}, member(1001))
			w.proc(21, 301*mib, &kill.FakeProcess{TermTakes: time.Second}, member(1001))
		})
		w.at(500 * time.Millisecond)
		w.tree.Remove(21)
		w.at(2 * time.Second)
		w.stop()
		expect(t, w.groupLog(),
			"0s signal 21 SIGTERM user:1001 pss-sum",
			"1s outcome 21 exited user:1001 pss-sum")
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, e := range w.events {
			if e.Kind == event.Signal && e.Group.Rule.String() != "user:*=400M" {
				t.Errorf("stopped for %s", e.Group.Rule)
			}
		}
	})
}

// Where cgroup v2 has the memory controller, a unit's total is its memory.stat anon +
// file_mapped (page cache is not counted), and the stop's entries say so; after the stop
// the group is measured again from memory.stat.
func TestBudgetUnitMeasuredByCgroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cg := proctest.NewCgroups(t, true)
		const unit = "/system.slice/ci-job.service"
		cg.MemoryStat(unit, 500*mib, 20*mib, 30*mib)
		inUnit := func(p *proctest.Proc) { p.UID = 999; p.Cgroup = "0::" + unit + "\n" }
		w := newWorld(t, budgetConfig(t, cg, "unit:ci-*.service=400M"), false, func(w *world) {
			w.proc(10, 200*mib, &kill.FakeProcess{}, inUnit)
			w.proc(11, 300*mib, &kill.FakeProcess{TermTakes: time.Second}, inUnit)
			w.proc(12, 100*mib, &kill.FakeProcess{}, inUnit)
		})
		w.at(500 * time.Millisecond)
		w.tree.Remove(11)
		cg.MemoryStat(unit, 250*mib, 20*mib, 30*mib)
		w.at(2 * time.Minute)
		w.stop()
		expect(t, w.groupLog(),
			"0s signal 11 SIGTERM unit:ci-job.service cgroup",
			"1s outcome 11 exited unit:ci-job.service cgroup")
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, e := range w.events {
			if e.Kind == event.Signal {
				if g := e.Group; g.Total != 520*mib || !g.ShmemKnown || g.Shmem != 30*mib {
					t.Errorf("group total %d shmem %d (known %v)", g.Total, g.Shmem, g.ShmemKnown)
				}
			}
		}
	})
}

// A process over the per-process threshold that is also its group's largest member is
// stopped once: the group waits on the tracker's stop, then measures again.
func TestBudgetNeverStopsTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cg := proctest.NewCgroups(t, false)
		cfg := budgetConfig(t, cg, "user:*=1G")
		w := newWorld(t, cfg, false, func(w *world) {
			w.proc(10, 3*gib, &kill.FakeProcess{TermTakes: time.Second}, member(1000))
			w.proc(11, 100*mib, &kill.FakeProcess{}, member(1000))
		})
		w.at(500 * time.Millisecond)
		w.tree.Remove(10)
		w.at(2 * time.Minute)
		w.stop()
		if s := w.fake.Sent(10); len(s) != 1 || s[0] != unix.SIGTERM {
			t.Errorf("PID 10 got %v, want one SIGTERM", s)
		}
		if s := w.fake.Sent(11); s != nil {
			t.Errorf("PID 11 got %v", s)
		}
	})
}

// A group near its budget is measured again at each fast check: a member growing past
// the budget between two full scans is stopped within a second, not at the next scan.
func TestBudgetFastPath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cg := proctest.NewCgroups(t, false)
		w := newWorld(t, budgetConfig(t, cg, "user:*=400M"), true, func(w *world) {
			w.proc(10, 150*mib, &kill.FakeProcess{}, member(1000))
			w.proc(11, 150*mib, &kill.FakeProcess{TermTakes: 5 * time.Second}, member(1000))
		})
		w.at(10 * time.Second)
		w.proc(11, 300*mib, nil, member(1000)) // no allocation in vmstat: only the re-measure sees it
		w.at(12 * time.Second)
		w.stop()
		got := w.groupLog()
		if len(got) == 0 || !strings.HasSuffix(got[0], "signal 11 SIGTERM user:1000 pss-sum") {
			t.Fatalf("events %q", got)
		}
		if at, _ := time.ParseDuration(strings.Fields(got[0])[0]); at < 10*time.Second || at > 11*time.Second {
			t.Errorf("stopped at %v, want within a second of 10s", at)
		}
	})
}

// The kernel's OOM kills, in /proc/vmstat and in a group's memory.events, are reported
// once each time they go up; the ones before the start are not news.
func TestBudgetKernelOOMKills(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cg := proctest.NewCgroups(t, true)
		const slice = "/user.slice/user-1000.slice"
		cg.MemoryStat(slice, 100*mib, 0, 0)
		cg.OOMKills(slice, 2)
		w := newWorld(t, budgetConfig(t, cg, "user:*=400M"), false, func(w *world) {
			w.tree.OOMKills(7)
			w.proc(10, 100*mib, &kill.FakeProcess{}, member(1000))
		})
		w.at(30 * time.Second)
		w.tree.OOMKills(9)
		cg.OOMKills(slice, 3)
		w.at(3 * time.Minute)
		w.stop()
		expect(t, w.groupLog(), "1m0s oom system=2 groups=[{user:1000 1}] -")
	})
}

// --warn-threshold's group rule: the same fraction of the budget (1G of a 2G threshold
// warns a 400M budget at 200M), once per crossing.
func TestBudgetWarnAtTheSameFraction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cg := proctest.NewCgroups(t, false)
		cfg := budgetConfig(t, cg, "user:*=400M")
		cfg.WarnThreshold = gib
		w := newWorld(t, cfg, false, func(w *world) {
			w.proc(10, 150*mib, &kill.FakeProcess{}, member(1000))
			w.proc(11, 100*mib, &kill.FakeProcess{}, member(1000))
			w.proc(20, 190*mib, &kill.FakeProcess{}, member(1001))
		})
		w.at(3 * time.Minute)
		w.stop()
		expect(t, w.groupLog(), "0s groupwarn user:1000 rss-sum")
	})
}

// A reload adds, changes and removes budgets while the daemon runs: a budget that is
// added applies from the scan the reload makes, a stop in flight when its budget is
// removed finishes, and the group it stopped for chooses nothing more.
func TestReloadChangesBudgets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cg := proctest.NewCgroups(t, false)
		none := reloadCfg(t, budgetConfig(t, cg))
		w := newWorld(t, none, false, func(w *world) {
			w.proc(10, 300*mib, &kill.FakeProcess{TermTakes: time.Second}, member(1000))
			w.proc(11, 250*mib, &kill.FakeProcess{}, member(1000))
			w.proc(12, 200*mib, &kill.FakeProcess{}, member(1000))
		})
		apply := func(specs ...string) {
			t.Helper()
			c := budgetConfig(t, cg, specs...)
			c.Protect, c.Interval = none.Protect, none.Interval
			if err := w.d.Apply(c); err != nil {
				t.Fatalf("Apply %v: %v", specs, err)
			}
		}
		w.at(10 * time.Second)
		apply("user:*=1G") // 750 MiB: under
		w.at(20 * time.Second)
		apply("user:*=400M") // over: the largest, at once
		if s := w.fake.Sent(10); len(s) != 1 {
			t.Errorf("PID 10 got %v when Apply returned; want SIGTERM", s)
		}
		w.at(20*time.Second + 500*time.Millisecond)
		apply() // no budget: the stop in its grace period finishes, nothing follows
		w.tree.Remove(10)
		w.at(5 * time.Minute) // 450 MiB left, over the 400M no longer in force
		w.stop()
		expect(t, w.groupLog(),
			"20s signal 10 SIGTERM user:1000 pss-sum",
			"21s outcome 10 exited user:1000 pss-sum")
		if w.d.bud != nil && len(w.d.bud.groups) != 0 {
			t.Errorf("groups still tracked without budgets: %v", w.d.bud.groups)
		}
	})
}
