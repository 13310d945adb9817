package policy

import (
	"testing"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/proc"
	"github.com/memory-monitor/memory-monitor/internal/protect"
)

func TestSustain(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	since := func(d time.Duration) SustainState { return SustainState{Since: at(d)} }
	const s = time.Second
	for _, tc := range []struct {
		name   string
		st     SustainState
		over   bool
		now    time.Duration
		period time.Duration
		want   SustainResult
	}{
		{"under: nothing to remember", SustainState{}, false, 0, 2 * s, SustainResult{Verdict: SustainClear}},
		{"dropped below while waiting: clock forgotten", since(0), false, 1 * s, 2 * s, SustainResult{Verdict: SustainClear}},
		{"no period: act at once", SustainState{}, true, 0, 0, SustainResult{Verdict: SustainAct}},
		{"negative period acts at once", SustainState{}, true, 0, -s, SustainResult{Verdict: SustainAct}},
		{"first seen over: start the clock, re-check in a fifth", SustainState{}, true, 0, 2 * s,
			SustainResult{Verdict: SustainWait, State: since(0), Next: at(400 * time.Millisecond)}},
		{"still over, not long enough", since(0), true, 1 * s, 2 * s,
			SustainResult{Verdict: SustainWait, State: since(0), Next: at(1400 * time.Millisecond)}},
		{"last step clipped to the deadline", since(0), true, 1900 * time.Millisecond, 2 * s,
			SustainResult{Verdict: SustainWait, State: since(0), Next: at(2 * s)}},
		{"exactly the period: act", since(0), true, 2 * s, 2 * s, SustainResult{Verdict: SustainAct, State: since(0)}},
		{"long past the period: act", since(0), true, time.Hour, 2 * s, SustainResult{Verdict: SustainAct, State: since(0)}},
		{"long period: steps of at most 1s", SustainState{}, true, 0, time.Minute,
			SustainResult{Verdict: SustainWait, State: since(0), Next: at(s)}},
		{"short period: steps of at least 100ms", SustainState{}, true, 0, 200 * time.Millisecond,
			SustainResult{Verdict: SustainWait, State: since(0), Next: at(100 * time.Millisecond)}},
		{"clock stepped back: start again", since(time.Hour), true, 0, 2 * s,
			SustainResult{Verdict: SustainWait, State: since(0), Next: at(400 * time.Millisecond)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Sustain(tc.st, tc.over, at(tc.now), tc.period)
			if got.Verdict != tc.want.Verdict || !got.State.Since.Equal(tc.want.State.Since) || !got.Next.Equal(tc.want.Next) {
				t.Errorf("got %v since %v next %v; want %v since %v next %v",
					got.Verdict, got.State.Since, got.Next, tc.want.Verdict, tc.want.State.Since, tc.want.Next)
			}
		})
	}
}

// A process that keeps dipping below between observations is never acted on; one that
// stays over is acted on at the end of the period.
func TestSustainSequences(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	run := func(over []bool, step time.Duration) (acted int) {
		var st SustainState
		for i, o := range over {
			r := Sustain(st, o, t0.Add(time.Duration(i)*step), 2*time.Second)
			st = r.State
			if r.Verdict == SustainAct {
				return i
			}
		}
		return -1
	}
	if got := run([]bool{true, true, true, true, false, true, true, true, false, true}, 500*time.Millisecond); got != -1 {
		t.Errorf("dipping process acted on at observation %d", got)
	}
	if got := run([]bool{true, true, true, true, true, true}, 500*time.Millisecond); got != 4 {
		t.Errorf("steady process acted on at observation %d, want 4 (2s)", got)
	}
}

func TestWarn(t *testing.T) {
	for _, tc := range []struct {
		name             string
		value, threshold uint64
		warned           bool
		log, nowWarned   bool
	}{
		{"off", 100, 0, false, false, false},
		{"below", 50, 100, false, false, false},
		{"at the threshold is not over", 100, 100, false, false, false},
		{"crossing: warn", 101, 100, false, true, true},
		{"still over: once only", 500, 100, true, false, true},
		{"back below: reset", 99, 100, true, false, false},
	} {
		log, now := Warn(tc.value, tc.threshold, tc.warned)
		if log != tc.log || now != tc.nowWarned {
			t.Errorf("%s: got log=%v warned=%v, want %v %v", tc.name, log, now, tc.log, tc.nowWarned)
		}
	}
	// Over, over, below, over: two warnings.
	warned, n := false, 0
	for _, v := range []uint64{150, 200, 90, 150, 160} {
		var log bool
		log, warned = Warn(v, 100, warned)
		if log {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d warnings, want 2 (one per crossing)", n)
	}
}

func TestProtectedByRules(t *testing.T) {
	set, err := protect.Compile([]string{"name:keepme", "user:4000"}, protect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rules := Rules{Threshold: 100, Self: 42, Protect: set}
	for _, tc := range []struct {
		name string
		p    proc.Info
		want string
	}{
		{"by name", proc.Info{PID: 10, Comm: "keepme"}, "name:keepme"},
		{"by user", proc.Info{PID: 11, Comm: "pg", UID: 4000}, "user:4000"},
		{"built-in", proc.Info{PID: 12, Comm: "sshd", Cgroup: "0::/system.slice/ssh.service\n"}, "unit:ssh.service (built-in)"},
		{"always-protected first", proc.Info{PID: 1, Comm: "keepme"}, ReasonInit},
		{"unprotected", proc.Info{PID: 13, Comm: "hog"}, ""},
	} {
		if got := Protected(tc.p, rules); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
