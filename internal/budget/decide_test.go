package budget

import (
	"errors"
	"testing"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		name          string
		cands         []Candidate
		pid           int
		onlyProtected bool
	}{
		{"largest", []Candidate{{PID: 1, Memory: 10}, {PID: 2, Memory: 30}, {PID: 3, Memory: 20}}, 2, false},
		{"protected largest is skipped", []Candidate{{PID: 1, Memory: 10}, {PID: 2, Memory: 30, Protected: "unit:ssh.service"}, {PID: 3, Memory: 20}}, 3, false},
		{"tie: the youngest", []Candidate{{PID: 5, Memory: 30, StartTime: 100}, {PID: 4, Memory: 30, StartTime: 200}}, 4, false},
		{"tie and same start: lowest pid", []Candidate{{PID: 9, Memory: 30, StartTime: 1}, {PID: 8, Memory: 30, StartTime: 1}}, 8, false},
		{"only protected", []Candidate{{PID: 1, Memory: 30, Protected: "pid 1"}, {PID: 2, Memory: 20, Protected: "zombie"}}, 0, true},
		{"no members", nil, 0, false},
	} {
		c := Choose(tc.cands)
		if c.PID != tc.pid || c.Found != (tc.pid != 0) || c.OnlyProtected != tc.onlyProtected {
			t.Errorf("%s: %+v, want pid %d onlyProtected %v", tc.name, c, tc.pid, tc.onlyProtected)
		}
	}
}

// TestCandidatesFixture reads alice's members: 1005 is not hers (any more: a stale
// membership) and is skipped; 1002 is the largest but opted out of the
// OOM killer (-1000), so 1003 is chosen; 1001 is not read, since it cannot beat 1003.
func TestCandidatesFixture(t *testing.T) {
	r, err := proc.NewReader("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	g := Group{Key: Key{User, "1000"}, Members: []Member{{PID: 1005, RSS: 900 * mB}, {PID: 1002, RSS: 150 * mB}, {PID: 1003, RSS: 70 * mB}, {PID: 4242, RSS: 60 * mB}, {PID: 1001, RSS: 4 * mB}}}
	cands := Candidates(r, g, policy.Rules{Self: 1})
	if len(cands) != 2 || cands[0].PID != 1002 || cands[0].Protected != policy.ReasonOOMNever || cands[1].PID != 1003 ||
		cands[1].Memory != 17920*4096 || cands[1].StartTime != 300 {
		t.Fatalf("candidates %+v", cands)
	}
	if c := Choose(cands); c.PID != 1003 {
		t.Errorf("chose %+v", c)
	}
	// 4242 is gone: skipped; with 1003 gone too, 1001 is read and chosen.
	g.Members = []Member{{PID: 1002, RSS: 150 * mB}, {PID: 4242, RSS: 60 * mB}, {PID: 1001, RSS: 4 * mB}}
	if c := Choose(Candidates(r, g, policy.Rules{Self: 1})); c.PID != 1001 {
		t.Errorf("chose %+v", c)
	}
	// With --metric=swap the bound is RSS+VmSwap: a member smaller by RSS but larger with
	// its swap is read first.
	g.Members = []Member{{PID: 1003, RSS: 70 * mB}, {PID: 1001, RSS: 4 * mB, Swap: 500 * mB}}
	cands = Candidates(r, g, policy.Rules{Self: 1, Metric: proc.MetricSwap})
	if len(cands) == 0 || cands[0].PID != 1001 {
		t.Errorf("swap candidates %+v", cands)
	}
}

func TestWarnLimit(t *testing.T) {
	for _, tc := range []struct{ limit, warn, threshold, want uint64 }{
		{400 << 20, 16 << 30, 20 << 30, 320 << 20},
		{400 << 20, 0, 20 << 30, 0},
		{1000, 1, 2, 500},
	} {
		if got := WarnLimit(tc.limit, tc.warn, tc.threshold); got != tc.want {
			t.Errorf("WarnLimit(%d, %d, %d) = %d, want %d", tc.limit, tc.warn, tc.threshold, got, tc.want)
		}
	}
}

// step is one call on a GroupState: an observation (finish 0) or a stop ending (finish PID).
type step struct {
	at     time.Duration // since t0
	total  uint64        // for observations
	choice Choice
	finish int
	measAt time.Duration // when the observed total was measured; -1: at "at"
	want   Actions
}

func runSteps(t *testing.T, name string, sustain time.Duration, dryRun bool, steps []step) {
	t.Helper()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var s GroupState
	for i, st := range steps {
		now := t0.Add(st.at)
		var a Actions
		if st.finish != 0 {
			s, a = s.Finished(now, st.finish)
		} else {
			meas := now
			if st.measAt >= 0 {
				meas = t0.Add(st.measAt)
			}
			s, a = s.Observe(now, Observation{MeasuredAt: meas, Total: st.total, Limit: 400, WarnLimit: 320, Choice: st.choice}, sustain, dryRun)
		}
		want := st.want
		if !want.Next.IsZero() {
			want.Next = t0.Add(want.Next.Sub(time.Time{}))
		}
		if a != want {
			t.Errorf("%s step %d: %+v, want %+v (state %+v)", name, i, a, want, s)
		}
	}
}

func pick(pid int) Choice { return Choice{Candidate: Candidate{PID: pid}, Found: true} }

// since turns a duration into the Next form runSteps expects.
func since(d time.Duration) time.Time { return time.Time{}.Add(d) }

func TestGroupStateOneStopAtATime(t *testing.T) {
	runSteps(t, "stops", 0, false, []step{
		{at: 0, total: 300, measAt: -1},                                                                              // under, under the warn level
		{at: 1 * time.Second, total: 350, measAt: -1, want: Actions{Warn: true}},                                     // crosses the warn level
		{at: 2 * time.Second, total: 540, choice: pick(11), measAt: -1, want: Actions{Stop: 11}},                     // over: the largest
		{at: 3 * time.Second, total: 540, choice: pick(12), measAt: -1},                                              // 11 in flight: nothing
		{at: 4 * time.Second, finish: 99},                                                                            // not ours: nothing
		{at: 5 * time.Second, finish: 11, want: Actions{Remeasure: true}},                                            // done: measure again
		{at: 5 * time.Second, total: 540, choice: pick(12), measAt: 4 * time.Second, want: Actions{Remeasure: true}}, // measured before: stale
		{at: 6 * time.Second, total: 450, choice: pick(12), measAt: -1, want: Actions{Stop: 12}},                     // still over: the next
		{at: 7 * time.Second, finish: 12, want: Actions{Remeasure: true}},
		{at: 7 * time.Second, total: 200, choice: pick(13), measAt: -1},          // under: the rest live on
		{at: 8 * time.Second, total: 350, measAt: -1, want: Actions{Warn: true}}, // warned again after dropping below
	})
}

func TestGroupStateSustain(t *testing.T) {
	runSteps(t, "sustain", 2*time.Second, false, []step{
		{at: 0, total: 500, choice: pick(11), measAt: -1, want: Actions{Warn: true, Next: since(400 * time.Millisecond)}},
		{at: 1 * time.Second, total: 500, choice: pick(11), measAt: -1, want: Actions{Next: since(1400 * time.Millisecond)}},
		{at: 1500 * time.Millisecond, total: 390, choice: pick(11), measAt: -1}, // dipped under: the count restarts
		{at: 1600 * time.Millisecond, total: 500, choice: pick(11), measAt: -1, want: Actions{Next: since(2 * time.Second)}},
		{at: 3600 * time.Millisecond, total: 500, choice: pick(11), measAt: -1, want: Actions{Stop: 11}}, // over for the whole period
	})
}

func TestGroupStateDryRunAndProtected(t *testing.T) {
	only := Choice{OnlyProtected: true}
	runSteps(t, "dry run", 0, true, []step{
		{at: 0, total: 500, choice: pick(11), measAt: -1, want: Actions{Warn: true, WouldStop: 11}},
		{at: time.Second, total: 510, choice: pick(11), measAt: -1}, // logged once
		{at: 2 * time.Second, total: 100, measAt: -1},
		{at: 3 * time.Second, total: 500, choice: pick(11), measAt: -1, want: Actions{Warn: true, WouldStop: 11}}, // a new episode
	})
	runSteps(t, "only protected", 0, false, []step{
		{at: 0, total: 500, choice: only, measAt: -1, want: Actions{Warn: true, OnlyProtected: true}},
		{at: time.Second, total: 500, choice: only, measAt: -1}, // once
		{at: 2 * time.Second, total: 520, choice: pick(14), measAt: -1, want: Actions{Stop: 14}},
		{at: 3 * time.Second, finish: 14, want: Actions{Remeasure: true}},
		{at: 4 * time.Second, total: 500, choice: only, measAt: -1, want: Actions{OnlyProtected: true}}, // once more: a stoppable member came between
	})
}

func TestOOMCounter(t *testing.T) {
	var c OOMCounter
	for i, tc := range []struct{ v, delta uint64 }{
		{3, 0}, // baseline: kills before the daemon started
		{3, 0},
		{5, 2},
		{5, 0},
		{1, 1}, // a new cgroup under the same name
		{1, 0},
	} {
		var d uint64
		c, d = c.Observe(tc.v)
		if d != tc.delta {
			t.Errorf("look %d (%d): delta %d, want %d", i, tc.v, d, tc.delta)
		}
	}
	if n, ok := ReadVMStatOOMKills("testdata/proc"); n != 3 || !ok {
		t.Errorf("vmstat oom_kill %d %v", n, ok)
	}
	if _, ok := ReadVMStatOOMKills("testdata/proc-v1"); ok {
		t.Error("a vmstat without oom_kill reads one")
	}
}

func TestRemeasure(t *testing.T) {
	got := scan(t, "testdata/proc", "testdata/cgroup-v2-nomemory", proc.MetricRSS, fixtureRSS, "unit:gitlab-runner.service=500M")
	g, err := NewGrouper(NewSet([]Rule{got[0].Rule}, DefaultLoginRange()), Options{ProcRoot: "testdata/proc", CgroupRoot: "testdata/cgroup-v2-nomemory", UserName: names})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	// 1006 was stopped: gone; 1005 grew.
	re := g.Remeasure(got[0], func(pid int) (uint64, error) {
		if pid == 1006 {
			return 0, errGone
		}
		return 60 * mB, nil
	})
	if re.Method != MethodRSSSum || re.Total != 60*mB || len(re.Members) != 1 || re.Members[0].PID != 1005 {
		t.Errorf("remeasured %+v", re)
	}
}

var errGone = errors.New("gone")

func TestHolds(t *testing.T) {
	r, err := proc.NewReader("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  Key
		pid  int
		want bool
	}{
		{Key{User, "1000"}, 1002, true}, // effective uid 1005, real 1000
		{Key{User, "1005"}, 1002, false},
		{Key{Unit, "gitlab-runner.service"}, 1005, true},
		{Key{Unit, "gitlab-runner.service"}, 1003, false}, // alice's own unit of that name
		{Key{Unit, "user-1000.slice"}, 1003, true},
	} {
		in, err := r.Info(tc.pid)
		if err != nil {
			t.Fatal(err)
		}
		if got := (Group{Key: tc.key}).Holds(in); got != tc.want {
			t.Errorf("%s holds %d: %v, want %v", tc.key, tc.pid, got, tc.want)
		}
	}
}
