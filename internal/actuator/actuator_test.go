package actuator

import (
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type rec struct{ evs []event.Event }

func (r *rec) Handle(e event.Event) { r.evs = append(r.evs, e) }

func (r *rec) kinds() []string {
	var out []string
	for _, e := range r.evs {
		switch e.Kind {
		case event.Signal:
			out = append(out, e.Signal)
		case event.Outcome:
			out = append(out, e.Outcome)
		}
	}
	return out
}

func start(t *testing.T, a *Actuator, f *kill.Fake, pid int, grace time.Duration, now time.Time) []Done {
	t.Helper()
	h, err := f.Open(pid)
	if err != nil {
		t.Fatal(err)
	}
	return a.Start(now, Request{Key: policy.Key{PID: pid, Start: 1}, Handle: h, Grace: grace,
		Event: event.Event{Proc: proc.Info{PID: pid, Comm: "hog"}}})
}

// drain passes every exit the fake reported to the actuator.
func drain(a *Actuator, now time.Time) []Done {
	var out []Done
	for {
		select {
		case id := <-a.Exits():
			out = append(out, a.Exited(now, id)...)
		default:
			return out
		}
	}
}

func TestStopOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p       kill.FakeProcess
		grace   time.Duration
		want    []string // signals and outcome, in order
		signals []unix.Signal
	}{
		{"exits on SIGTERM", kill.FakeProcess{}, time.Second, []string{"SIGTERM", "exited"}, []unix.Signal{unix.SIGTERM}},
		{"ignores SIGTERM", kill.FakeProcess{IgnoresTerm: true}, time.Second, []string{"SIGTERM", "SIGKILL", "killed"},
			[]unix.Signal{unix.SIGTERM, unix.SIGKILL}},
		{"grace 0 sends SIGKILL at once", kill.FakeProcess{}, 0, []string{"SIGKILL", "killed"}, []unix.Signal{unix.SIGKILL}},
		{"not permitted", kill.FakeProcess{SignalErr: unix.EPERM}, time.Second, []string{"failed"}, nil},
		{"not permitted, grace 0", kill.FakeProcess{SignalErr: unix.EPERM}, 0, []string{"failed"}, nil},
		{"survives SIGKILL", kill.FakeProcess{IgnoresTerm: true, Unkillable: true}, time.Second,
			[]string{"SIGTERM", "SIGKILL", "failed"}, []unix.Signal{unix.SIGTERM, unix.SIGKILL}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := kill.NewFake()
			p := tc.p
			f.Add(10, &p)
			r := &rec{}
			a := New(f, r)
			defer a.Close()
			done := start(t, a, f, 10, tc.grace, t0)
			now := t0
			for i := 0; len(done) == 0 && i < 100; i++ {
				done = append(done, drain(a, now)...)
				if len(done) > 0 {
					break
				}
				if d := a.NextDeadline(); !d.IsZero() {
					now = d
				}
				done = append(done, a.Tick(now)...)
				done = append(done, drain(a, now)...)
			}
			if len(done) != 1 || done[0].Key.PID != 10 {
				t.Fatalf("done %v", done)
			}
			if got := r.kinds(); !slices.Equal(got, tc.want) {
				t.Errorf("events %v, want %v", got, tc.want)
			}
			if got := f.Sent(10); !slices.Equal(got, tc.signals) {
				t.Errorf("signals %v, want %v", got, tc.signals)
			}
			if a.InFlight() != 0 {
				t.Errorf("%d in flight after the outcome", a.InFlight())
			}
		})
	}
}

// The SIGKILL comes exactly one grace period after the SIGTERM, and a killed process's
// memory release is asked for; the handle is closed only when the release returned.
func TestGraceTimingAndRelease(t *testing.T) {
	f := kill.NewFake()
	f.Add(10, &kill.FakeProcess{IgnoresTerm: true})
	r := &rec{}
	a := New(f, r)
	defer a.Close()
	start(t, a, f, 10, 5*time.Second, t0)
	if d := a.NextDeadline(); !d.Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("deadline %v, want the end of the grace period", d.Sub(t0))
	}
	if done := a.Tick(t0.Add(4999 * time.Millisecond)); len(done) != 0 || len(f.Sent(10)) != 1 {
		t.Fatal("SIGKILL before the grace period ended")
	}
	a.Tick(t0.Add(5 * time.Second))
	kill := r.evs[2] // after Stopping and SIGTERM
	if kill.Signal != "SIGKILL" || kill.After != 5*time.Second || kill.Grace != 5*time.Second {
		t.Errorf("SIGKILL event %+v", kill)
	}
	id := <-a.Released()
	if f.Proc(10).Released != 1 {
		t.Error("no process_mrelease")
	}
	done := drain(a, t0.Add(5100*time.Millisecond))
	if len(done) != 1 || done[0].Outcome != "killed" {
		t.Fatalf("done %v", done)
	}
	if f.OpenHandles() != 1 {
		t.Errorf("handle closed while its release was under way (%d open)", f.OpenHandles())
	}
	a.ReleaseDone(id)
	if f.OpenHandles() != 0 {
		t.Errorf("%d handles left open", f.OpenHandles())
	}
	if out := r.evs[3]; out.Took != 5100*time.Millisecond {
		t.Errorf("took %v", out.Took)
	}
}

// A thousand stops in flight are a thousand records: one Tick handles every deadline.
func TestManyStopsAndHasteAndAbandon(t *testing.T) {
	f := kill.NewFake()
	r := &rec{}
	a := New(f, r)
	defer a.Close()
	for pid := 1; pid <= 1000; pid++ {
		f.Add(pid, &kill.FakeProcess{IgnoresTerm: true, Unkillable: pid > 990})
		start(t, a, f, pid, time.Minute, t0)
	}
	if a.InFlight() != 1000 {
		t.Fatalf("in flight %d", a.InFlight())
	}
	a.Hasten(t0.Add(10 * time.Second))
	if d := a.NextDeadline(); !d.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("hastened deadline %v", d.Sub(t0))
	}
	a.Tick(t0.Add(10 * time.Second))
	for len(a.Released()) > 0 || len(a.release) > 0 {
		a.ReleaseDone(<-a.Released())
	}
	done := drain(a, t0.Add(10*time.Second))
	if len(done) != 990 || a.InFlight() != 10 {
		t.Fatalf("%d done, %d in flight; want 990 and the 10 unkillable", len(done), a.InFlight())
	}
	done = a.Abandon(t0.Add(11 * time.Second))
	if len(done) != 10 || done[0].Outcome != kill.Abandoned {
		t.Fatalf("abandoned %v", done)
	}
	if a.InFlight() != 0 {
		t.Error("stops left after Abandon")
	}
}

// A waiter that cannot take a handle leaves the stop polled: its exit is still seen.
type refusing struct{ *kill.Fake }

func (refusing) Watch(uint64, kill.Handle) error { return unix.ENOSPC }

func TestPolledWhenTheWaiterRefuses(t *testing.T) {
	f := kill.NewFake()
	f.Add(10, &kill.FakeProcess{TermTakes: time.Hour}) // exits when the test says
	r := &rec{}
	a := New(refusing{f}, r)
	defer a.Close()
	start(t, a, f, 10, 5*time.Second, t0)
	if d := a.NextDeadline(); !d.Equal(t0.Add(pollEvery)) {
		t.Fatalf("next %v, want a poll after %v", d.Sub(t0), pollEvery)
	}
	if done := a.Tick(t0.Add(pollEvery)); len(done) != 0 {
		t.Fatalf("done %v while alive", done)
	}
	f.Exit(10)
	done := a.Tick(t0.Add(2 * pollEvery))
	if len(done) != 1 || done[0].Outcome != kill.Exited {
		t.Fatalf("done %v, want exited", done)
	}
}

func TestGoneBeforeTheFirstSignal(t *testing.T) {
	f := kill.NewFake()
	f.Add(10, &kill.FakeProcess{})
	r := &rec{}
	a := New(f, r)
	defer a.Close()
	h, _ := f.Open(10)
	f.Exit(10)
	done := a.Start(t0, Request{Key: policy.Key{PID: 10}, Handle: h, Grace: time.Second})
	if len(done) != 1 || done[0].Outcome != kill.Gone || r.kinds()[0] != "gone" {
		t.Fatalf("done %v, events %v", done, r.kinds())
	}
	// SIGTERM delivered, then gone before the SIGKILL: it exited.
	f.Add(11, &kill.FakeProcess{IgnoresTerm: true})
	start(t, a, f, 11, time.Second, t0)
	f.Exit(11)
	<-a.Exits() // the exit report is lost: SIGKILL finds it gone
	done = a.Tick(t0.Add(time.Second))
	if len(done) != 1 || done[0].Outcome != kill.Exited {
		t.Fatalf("done %v, want exited", done)
	}
	if a.Exited(t0, 999) != nil && len(a.Exited(t0, 999)) != 0 {
		t.Error("unknown id")
	}
	a.ReleaseDone(999)
}

// Just before the first signal the sinks get a Stopping event with the stop's handle,
// while the process has not been signalled yet; the Signal and Outcome events carry the
// same handle, still open while the sinks run.
func TestStoppingBeforeFirstSignal(t *testing.T) {
	for _, grace := range []time.Duration{5 * time.Second, 0} {
		f := kill.NewFake()
		f.Add(10, &kill.FakeProcess{})
		var kinds []string
		var sentAtStopping []unix.Signal
		a := New(f, event.Func(func(e event.Event) {
			if e.Handle == nil {
				t.Errorf("grace %v: event %v without the stop's handle", grace, e.Kind)
			}
			switch e.Kind {
			case event.Stopping:
				sentAtStopping = f.Sent(10)
				kinds = append(kinds, "stopping "+e.Signal)
			case event.Signal:
				kinds = append(kinds, e.Signal)
			case event.Outcome:
				kinds = append(kinds, e.Outcome)
				if f.OpenHandles() != 1 {
					t.Errorf("grace %v: handle closed before the outcome event", grace)
				}
			}
		}))
		start(t, a, f, 10, grace, t0)
		drain(a, t0)
		first := "SIGTERM"
		if grace == 0 {
			first = "SIGKILL"
		}
		want := []string{"stopping " + first, first, map[bool]string{true: "killed", false: "exited"}[grace == 0]}
		if !slices.Equal(kinds, want) {
			t.Errorf("grace %v: events %q, want %q", grace, kinds, want)
		}
		if len(sentAtStopping) != 0 {
			t.Errorf("grace %v: signals %v already sent at the Stopping event", grace, sentAtStopping)
		}
		a.Close()
	}
}
