package policy

import (
	"testing"

	"github.com/memory-monitor/memory-monitor/internal/proc"
)

func TestDecide(t *testing.T) {
	const G = 1 << 30
	rules := Rules{Threshold: 20 * G, Self: 4242}
	for _, tc := range []struct {
		name string
		p    proc.Info
		want Decision
	}{
		{"under the threshold", proc.Info{PID: 500, RSS: 10 * G}, Decision{Verdict: Under}},
		{"exactly at the threshold is not over", proc.Info{PID: 500, RSS: 20 * G}, Decision{Verdict: Under}},
		{"one byte over", proc.Info{PID: 500, RSS: 20*G + 1}, Decision{Verdict: Stop}},
		{"ordinary hog", proc.Info{PID: 400, Comm: "python3", RSS: 24 * G, OOMScoreAdj: 200}, Decision{Verdict: Stop}},
		{"pid 1", proc.Info{PID: 1, Comm: "systemd", RSS: 30 * G}, Decision{Spare, ReasonInit}},
		{"kernel thread", proc.Info{PID: 3, KernelThread: true, RSS: 25 * G}, Decision{Spare, ReasonKernelThread}},
		{"itself", proc.Info{PID: 4242, RSS: 21 * G}, Decision{Spare, ReasonSelf}},
		{"zombie", proc.Info{PID: 100, State: "Z", RSS: 22 * G}, Decision{Spare, ReasonZombie}},
		{"oom_score_adj -1000", proc.Info{PID: 200, OOMScoreAdj: -1000, RSS: 40 * G}, Decision{Spare, ReasonOOMNever}},
		{"oom_score_adj -999 is fair game", proc.Info{PID: 201, OOMScoreAdj: -999, RSS: 40 * G}, Decision{Verdict: Stop}},
		{"protected but under: under wins", proc.Info{PID: 1, RSS: G}, Decision{Verdict: Under}},
		{"hostile name changes nothing", proc.Info{PID: 300, Comm: "x\nlevel=ERROR msg=fake", RSS: 21 * G}, Decision{Verdict: Stop}},
	} {
		if got := Decide(tc.p, rules); got != tc.want {
			t.Errorf("%s: Decide(%+v) = %+v, want %+v", tc.name, tc.p, got, tc.want)
		}
	}
}

func TestProtectedIgnoresMemory(t *testing.T) {
	r := Rules{Threshold: 1, Self: 7}
	for _, tc := range []struct {
		p    proc.Info
		want string
	}{
		{proc.Info{PID: 1}, ReasonInit},
		{proc.Info{PID: 7}, ReasonSelf},
		{proc.Info{PID: 8, KernelThread: true}, ReasonKernelThread},
		{proc.Info{PID: 9, State: "Z"}, ReasonZombie},
		{proc.Info{PID: 10, OOMScoreAdj: -1000}, ReasonOOMNever},
		{proc.Info{PID: 11}, ""},
	} {
		if got := Protected(tc.p, r); got != tc.want {
			t.Errorf("Protected(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{Under: "under", Spare: "spare", Stop: "stop", Verdict(9): "unknown"} {
		if v.String() != want {
			t.Errorf("%d.String() = %q", v, v.String())
		}
	}
}
