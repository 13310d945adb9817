package policy

import (
	"slices"
	"testing"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/proc"
)

const (
	mib = uint64(1) << 20
	gib = uint64(1) << 30
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ob(pid int, v uint64) Observation {
	return Observation{Key: Key{PID: pid, Start: uint64(pid) * 10}, Info: proc.Info{PID: pid}, Value: v}
}

func prot(o Observation, why string) Observation { o.Protected = why; return o }

func gone(pid int) Observation {
	return Observation{Key: Key{PID: pid, Start: uint64(pid) * 10}, Gone: true}
}

// step is one call of the tracker in a scripted sequence.
type step struct {
	at      time.Duration
	full    bool
	obs     []Observation
	finish  *fin // instead of observing
	want    []string
	stopped []int // pids that must be Stopping afterwards
}

type fin struct {
	pid int
	r   Result
}

func kinds(as []Action) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Kind.String()+":"+itoa(a.Obs.Key.PID))
	}
	return out
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func run(t *testing.T, l Limits, steps []step) *Tracker {
	t.Helper()
	tr := NewTracker(l)
	for i, s := range steps {
		var got []string
		if s.finish != nil {
			tr.Finished(at(s.at), Key{PID: s.finish.pid, Start: uint64(s.finish.pid) * 10}, s.finish.r)
		} else {
			got = kinds(tr.Observe(at(s.at), s.full, s.obs))
		}
		slices.Sort(got)
		want := slices.Clone(s.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("step %d (t=%v): actions %v, want %v", i, s.at, got, want)
		}
		for _, pid := range s.stopped {
			if !tr.Stopping(Key{PID: pid, Start: uint64(pid) * 10}) {
				t.Fatalf("step %d: pid %d not stopping", i, pid)
			}
		}
	}
	return tr
}

func TestTrackerStopsOnceAndForgetsWhenDone(t *testing.T) {
	l := Limits{Threshold: 20 * gib}
	tr := run(t, l, []step{
		{at: 0, full: true, obs: []Observation{ob(1, 25*gib), ob(2, 10*gib)}, want: []string{"stop:1"}, stopped: []int{1}},
		// While the stop is in flight, later scans ask for nothing more.
		{at: time.Second, full: true, obs: []Observation{ob(1, 25*gib)}, want: nil, stopped: []int{1}},
		{at: time.Second, full: false, obs: []Observation{ob(1, 26*gib)}, want: nil},
		{at: 2 * time.Second, finish: &fin{1, Done}},
		{at: 3 * time.Second, full: true, obs: nil},
	})
	if tr.Len() != 0 {
		t.Errorf("%d entries left after the stop, want 0", tr.Len())
	}
	// A stopping process that a full scan no longer sees is kept until Finished.
	tr = run(t, l, []step{
		{at: 0, full: true, obs: []Observation{ob(1, 25*gib)}, want: []string{"stop:1"}},
		{at: time.Second, full: true, obs: nil, stopped: []int{1}},
		{at: time.Second, full: false, obs: []Observation{gone(1)}, stopped: []int{1}},
	})
	if tr.Len() != 1 {
		t.Errorf("stopping entry dropped")
	}
}

func TestTrackerSparesOnceWhileOver(t *testing.T) {
	l := Limits{Threshold: 20 * gib}
	run(t, l, []step{
		{at: 0, full: true, obs: []Observation{prot(ob(1, 25*gib), "pid 1")}, want: []string{"spare:1"}},
		{at: time.Minute, full: true, obs: []Observation{prot(ob(1, 25*gib), "pid 1")}},
		// Below, then over again: reported again.
		{at: 2 * time.Minute, full: true, obs: nil},
		{at: 3 * time.Minute, full: true, obs: []Observation{prot(ob(1, 25*gib), "pid 1")}, want: []string{"spare:1"}},
		// No longer protected (its rule changed): stopped.
		{at: 4 * time.Minute, full: true, obs: []Observation{ob(1, 25*gib)}, want: []string{"stop:1"}},
	})
}

func TestTrackerDryRunOncePerCrossing(t *testing.T) {
	l := Limits{Threshold: 20 * gib, DryRun: true}
	tr := run(t, l, []step{
		{at: 0, full: true, obs: []Observation{ob(1, 25*gib)}, want: []string{"would-stop:1"}},
		{at: time.Minute, full: true, obs: []Observation{ob(1, 25*gib)}},
		{at: 61 * time.Second, full: false, obs: []Observation{ob(1, 25*gib)}},
		{at: 2 * time.Minute, full: false, obs: []Observation{ob(1, 19*gib)}},
		{at: 3 * time.Minute, full: false, obs: []Observation{ob(1, 21*gib)}, want: []string{"would-stop:1"}},
	})
	if tr.Stopping(ob(1, 0).Key) {
		t.Error("a dry run stops nothing")
	}
}

func TestTrackerSustain(t *testing.T) {
	l := Limits{Threshold: 20 * gib, Sustain: 2 * time.Second}
	tr := NewTracker(l)
	k := ob(1, 0).Key
	if got := kinds(tr.Observe(at(0), true, []Observation{ob(1, 25*gib)})); !slices.Equal(got, []string{"wait:1"}) {
		t.Fatalf("first look: %v, want wait", got)
	}
	if d := tr.NextDeadline(); !d.Equal(at(400 * time.Millisecond)) {
		t.Errorf("next re-check %v, want a fifth of the period later", d.Sub(t0))
	}
	if due := tr.Due(at(300*time.Millisecond), nil); len(due) != 0 {
		t.Errorf("due too early: %v", due)
	}
	if due := tr.Due(at(400*time.Millisecond), nil); !slices.Equal(due, []Key{k}) {
		t.Errorf("due %v, want %v", due, k)
	}
	for _, d := range []time.Duration{400, 800, 1200, 1600} {
		if got := tr.Observe(at(d*time.Millisecond), false, []Observation{ob(1, 25*gib)}); len(got) != 0 {
			t.Fatalf("at %dms: %v, want waiting quietly", d, kinds(got))
		}
	}
	if d := tr.NextDeadline(); !d.Equal(at(2 * time.Second)) {
		t.Errorf("last re-check %v, want exactly at the end of the period", d.Sub(t0))
	}
	if got := kinds(tr.Observe(at(2*time.Second), false, []Observation{ob(1, 25*gib)})); !slices.Equal(got, []string{"stop:1"}) {
		t.Fatalf("end of period: %v, want stop", got)
	}
	if !tr.NextDeadline().IsZero() {
		t.Error("a deadline is left after the stop")
	}

	// A dip below forgives and restarts the clock.
	tr = NewTracker(l)
	tr.Observe(at(0), true, []Observation{ob(2, 25*gib)})
	got := tr.Observe(at(time.Second), false, []Observation{ob(2, 19*gib)})
	if len(got) != 1 || got[0].Kind != ActForgive || !got[0].At.Equal(at(0)) {
		t.Fatalf("dip: %v, want forgive since t0", kinds(got))
	}
	if got := kinds(tr.Observe(at(1500*time.Millisecond), true, []Observation{ob(2, 25*gib)})); !slices.Equal(got, []string{"wait:2"}) {
		t.Fatalf("over again: %v, want a new wait", got)
	}
	if got := tr.Observe(at(3*time.Second), false, []Observation{ob(2, 25*gib)}); len(got) != 0 {
		t.Fatalf("1.5 s into the new period: %v", kinds(got))
	}
	// A full scan that no longer sees it forgives it too.
	if got := kinds(tr.Observe(at(3200*time.Millisecond), true, nil)); !slices.Equal(got, []string{"forgive:2"}) {
		t.Fatalf("unseen: %v, want forgive", got)
	}
	// Protected processes never wait.
	tr = NewTracker(l)
	if got := kinds(tr.Observe(at(0), true, []Observation{prot(ob(3, 25*gib), "user:backup")})); !slices.Equal(got, []string{"spare:3"}) {
		t.Fatalf("protected: %v", got)
	}
	if !tr.NextDeadline().IsZero() {
		t.Error("a protected process got a re-check")
	}
}

func TestTrackerWarnRearms(t *testing.T) {
	l := Limits{Threshold: 20 * gib, Warn: 10 * gib}
	tr := run(t, l, []step{
		{at: 0, full: true, obs: []Observation{ob(1, 12*gib), ob(2, 5*gib)}, want: []string{"warn:1"}},
		{at: time.Minute, full: true, obs: []Observation{ob(1, 15*gib)}},
		// Dropped below the warning threshold (seen below), then over: warns again.
		{at: 2 * time.Minute, full: false, obs: []Observation{ob(1, 9*gib)}},
		{at: 3 * time.Minute, full: true, obs: []Observation{ob(1, 11*gib)}, want: []string{"warn:1"}},
		// Unseen by a full scan (below both), then over: warns again.
		{at: 4 * time.Minute, full: true, obs: nil},
		{at: 5 * time.Minute, full: true, obs: []Observation{ob(1, 11*gib)}, want: []string{"warn:1"}},
		// Straight past both: warned and stopped at once.
		{at: 6 * time.Minute, full: true, obs: []Observation{ob(1, 11*gib), ob(3, 30*gib)}, want: []string{"warn:3", "stop:3"}},
		// Protected processes are warned about too (the loop adds the protection).
		{at: 7 * time.Minute, full: true, obs: []Observation{prot(ob(4, 15*gib), "pid 1")}, want: []string{"warn:4"}},
	})
	if tr.Len() != 2 { // 3 stopping, 4 warned
		t.Errorf("entries %d, want 2", tr.Len())
	}
	// Warnings off: nothing kept for processes under the threshold.
	tr = NewTracker(Limits{Threshold: 20 * gib})
	tr.Observe(at(0), false, []Observation{ob(1, 12*gib)})
	if tr.Len() != 0 {
		t.Error("entry kept for a process under the threshold without warnings")
	}
}

func TestTrackerBacksOffAfterFailure(t *testing.T) {
	l := Limits{Threshold: 20 * gib}
	tr := run(t, l, []step{
		{at: 0, full: true, obs: []Observation{ob(1, 25*gib)}, want: []string{"stop:1"}},
		{at: 0, finish: &fin{1, Failed}},
		{at: time.Second, full: true, obs: []Observation{ob(1, 25*gib)}},
		{at: 9 * time.Second, full: false, obs: []Observation{ob(1, 25*gib)}},
		// A dip below does not clear the backoff.
		{at: 9500 * time.Millisecond, full: true, obs: nil},
		{at: 9600 * time.Millisecond, full: true, obs: []Observation{ob(1, 25*gib)}},
		{at: 10 * time.Second, full: true, obs: []Observation{ob(1, 25*gib)}, want: []string{"stop:1"}},
		{at: 10 * time.Second, finish: &fin{1, Failed}},
		{at: 29 * time.Second, full: true, obs: []Observation{ob(1, 25*gib)}},
		{at: 30 * time.Second, full: true, obs: []Observation{ob(1, 25*gib)}, want: []string{"stop:1"}},
	})
	k := ob(1, 0).Key
	tr.Finished(at(30*time.Second), k, Failed)
	if got := tr.RetryAt(k); !got.Equal(at(70 * time.Second)) {
		t.Errorf("third failure: retry at %v, want 40 s later", got.Sub(t0))
	}
	for range 20 {
		tr.Finished(at(0), k, Failed)
	}
	if got := tr.RetryAt(k); got.Sub(t0) != BackoffMax {
		t.Errorf("backoff %v, want at most %v", got.Sub(t0), BackoffMax)
	}
	if !tr.RetryAt(ob(9, 0).Key).IsZero() {
		t.Error("unknown process has a retry time")
	}
	// Backed off long enough and below: forgotten, so a new crossing starts afresh.
	tr.Observe(at(time.Hour), true, nil)
	if tr.Len() != 0 {
		t.Errorf("entry kept after the backoff ran out")
	}
}

func TestTrackerNotNeededAndGoneAndLimits(t *testing.T) {
	l := Limits{Threshold: 20 * gib, Sustain: time.Second}
	tr := run(t, l, []step{
		{at: 0, full: true, obs: []Observation{ob(1, 25*gib)}, want: []string{"wait:1"}},
		{at: time.Second, full: false, obs: []Observation{ob(1, 25*gib)}, want: []string{"stop:1"}},
		// The check before the signal found it under: the sustain clock starts again.
		{at: time.Second, finish: &fin{1, NotNeeded}},
		{at: 2 * time.Second, full: true, obs: []Observation{ob(1, 25*gib)}, want: []string{"wait:1"}},
		{at: 2100 * time.Millisecond, full: false, obs: []Observation{gone(1)}},
	})
	if tr.Len() != 0 {
		t.Error("gone process kept")
	}
	tr.Finished(at(0), ob(7, 0).Key, Done) // unknown: ignored
	// New limits apply from the next observation.
	tr.SetLimits(Limits{Threshold: 30 * gib})
	if got := tr.Observe(at(3*time.Second), true, []Observation{ob(1, 25*gib)}); len(got) != 0 {
		t.Errorf("under the raised threshold: %v", kinds(got))
	}
	if tr.Limits().Threshold != 30*gib {
		t.Error("limits not kept")
	}
}

func TestTrackerSettled(t *testing.T) {
	tr := NewTracker(Limits{Threshold: 20 * gib})
	tr.Observe(at(0), true, []Observation{ob(1, 25*gib), prot(ob(2, 25*gib), "pid 1"), ob(3, 5*gib)})
	for pid, want := range map[int]bool{1: true, 2: true, 3: false, 4: false} {
		if got := tr.Settled(ob(pid, 0).Key); got != want {
			t.Errorf("Settled(%d) = %v, want %v", pid, got, want)
		}
	}
}

func TestActionKindString(t *testing.T) {
	for k, want := range map[ActionKind]string{ActStop: "stop", ActWouldStop: "would-stop", ActSpare: "spare",
		ActWarn: "warn", ActWait: "wait", ActForgive: "forgive", 0: "unknown"} {
		if got := k.String(); got != want {
			t.Errorf("%d: %q, want %q", k, got, want)
		}
	}
}
