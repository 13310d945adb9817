package policy

import (
	"testing"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// The processes never stopped, whatever their size; anything else, a hostile name
// included, may be.
func TestProtected(t *testing.T) {
	r := Rules{Threshold: 1, Self: 4242}
	for _, tc := range []struct {
		name string
		p    proc.Info
		want string
	}{
		{"pid 1", proc.Info{PID: 1, Comm: "systemd"}, ReasonInit},
		{"kernel thread", proc.Info{PID: 3, KernelThread: true}, ReasonKernelThread},
		{"itself", proc.Info{PID: 4242}, ReasonSelf},
		{"zombie", proc.Info{PID: 100, State: "Z"}, ReasonZombie},
		{"oom_score_adj -1000", proc.Info{PID: 200, OOMScoreAdj: -1000}, ReasonOOMNever},
		{"oom_score_adj -999 is fair game", proc.Info{PID: 201, OOMScoreAdj: -999}, ""},
		{"ordinary hog", proc.Info{PID: 400, Comm: "python3", OOMScoreAdj: 200}, ""},
		{"hostile name changes nothing", proc.Info{PID: 300, Comm: "x\nlevel=ERROR msg=fake"}, ""},
	} {
		if got := Protected(tc.p, r); got != tc.want {
			t.Errorf("%s: Protected(%+v) = %q, want %q", tc.name, tc.p, got, tc.want)
		}
	}
}

// A process exactly at the threshold is not over it; one byte more is.
func TestTrackerThresholdIsExclusive(t *testing.T) {
	run(t, Limits{Threshold: 20 * gib}, []step{
		{at: 0, full: true, obs: []Observation{ob(1, 20*gib)}, want: nil},
		{at: time.Second, full: true, obs: []Observation{ob(1, 20*gib+1)}, want: []string{"stop:1"}},
	})
}
