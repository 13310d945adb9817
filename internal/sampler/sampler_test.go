package sampler

import (
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
	"github.com/memory-monitor/memory-monitor/internal/proctest"
	"github.com/memory-monitor/memory-monitor/internal/protect"
)

const (
	mib = uint64(1) << 20
	gib = uint64(1) << 30
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newSampler(t *testing.T, tr *proctest.Tree, f *kill.Fake, metric proc.Metric, fast bool) *Sampler {
	t.Helper()
	set, err := protect.Compile(nil, protect.Options{NoDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(tr.Root, Options{
		Rules:  policy.Rules{Threshold: gib, Self: 4242, Protect: set, Metric: metric},
		Warn:   512 * mib,
		Opener: f, FastPath: fast,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func pids(obs []policy.Observation) []int {
	var out []int
	for _, o := range obs {
		out = append(out, o.Key.PID)
	}
	slices.Sort(out)
	return out
}

func TestFullObservesCandidatesWithCachedDetails(t *testing.T) {
	tr := proctest.New(t)
	f := kill.NewFake()
	for pid, p := range map[int]proctest.Proc{
		10: {Comm: "big", RSS: 2 * gib, Start: 100},
		11: {Comm: "warm", RSS: 600 * mib, Start: 110},
		12: {Comm: "small", RSS: 10 * mib, Start: 120},
		13: {Comm: "never", RSS: 3 * gib, Start: 130, OOMAdj: -1000},
	} {
		tr.Add(pid, p)
		f.Add(pid, &kill.FakeProcess{})
	}
	s := newSampler(t, tr, f, proc.MetricRSS, false)
	r, err := s.Full(t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := pids(r.Obs); !slices.Equal(got, []int{10, 11, 13}) {
		t.Fatalf("observed %v, want the processes over the warning threshold", got)
	}
	if r.Stats.Processes != 4 || r.Candidates != 3 {
		t.Errorf("stats %+v, candidates %d", r.Stats, r.Candidates)
	}
	for _, o := range r.Obs {
		switch o.Key.PID {
		case 10:
			if o.Key.Start != 100 || o.Value != 2*gib || o.Info.Comm != "big" || o.Protected != "" {
				t.Errorf("pid 10: %+v", o)
			}
		case 13:
			if o.Protected != policy.ReasonOOMNever {
				t.Errorf("pid 13 protected %q", o.Protected)
			}
		}
	}
	if f.OpenHandles() != 3 || s.Cached() != 3 {
		t.Fatalf("%d handles, %d cached; want one per candidate", f.OpenHandles(), s.Cached())
	}
	// A later scan reuses the cached details: a new name in /proc is not read yet...
	tr.Add(10, proctest.Proc{Comm: "renamed", RSS: 3 * gib, Start: 100})
	r, _ = s.Full(t0.Add(time.Second), nil)
	for _, o := range r.Obs {
		if o.Key.PID == 10 && (o.Info.Comm != "big" || o.Value != 3*gib) {
			t.Errorf("cached scan: %+v, want the cached name and the new size", o)
		}
	}
	// ...until the details are old enough to be read again.
	r, _ = s.Full(t0.Add(detailsMaxAge+time.Second), nil)
	for _, o := range r.Obs {
		if o.Key.PID == 10 && o.Info.Comm != "renamed" {
			t.Errorf("refreshed scan: comm %q", o.Info.Comm)
		}
	}
	// A candidate that drops below is forgotten and its handle closed.
	tr.Add(11, proctest.Proc{Comm: "warm", RSS: 10 * mib, Start: 110})
	s.Full(t0.Add(time.Minute), nil)
	if f.OpenHandles() != 2 || s.Cached() != 2 {
		t.Errorf("%d handles, %d cached after one dropped below", f.OpenHandles(), s.Cached())
	}
}

// The pidfd is opened before the details are read and checked after: a process that
// exited meanwhile (its PID possibly reused) is not observed under its old identity.
func TestIdentityThroughThePidfd(t *testing.T) {
	tr := proctest.New(t)
	f := kill.NewFake()
	tr.Add(10, proctest.Proc{Comm: "big", RSS: 2 * gib, Start: 100})
	f.Add(10, &kill.FakeProcess{})
	s := newSampler(t, tr, f, proc.MetricRSS, false)
	if r, _ := s.Full(t0, nil); len(r.Obs) != 1 {
		t.Fatalf("obs %v", r.Obs)
	}
	// The process exits and a new one gets its PID: the cached entry must not be
	// taken for it.
	f.Exit(10)
	tr.Add(10, proctest.Proc{Comm: "innocent", RSS: 2 * gib, Start: 999})
	f.Add(10, &kill.FakeProcess{})
	r, _ := s.Full(t0.Add(time.Second), nil)
	if len(r.Obs) != 1 || r.Obs[0].Key.Start != 999 || r.Obs[0].Info.Comm != "innocent" {
		t.Fatalf("after PID reuse: %+v", r.Obs)
	}
	// Gone before it could be opened: not an error.
	tr.Add(20, proctest.Proc{Comm: "brief", RSS: 2 * gib, Start: 5})
	r, err := s.Full(t0.Add(2*time.Second), nil)
	if err != nil || r.Errors != 0 || len(r.Obs) != 1 {
		t.Fatalf("unopenable gone process: %v, %d errors, %d obs", err, r.Errors, len(r.Obs))
	}
	// Any other failure to open (EMFILE) is an error, never "gone".
	f.Add(20, &kill.FakeProcess{OpenErr: unix.EMFILE})
	r, _ = s.Full(t0.Add(3*time.Second), nil)
	if r.Errors != 1 || !errors.Is(r.FirstErr, unix.EMFILE) {
		t.Errorf("EMFILE: %d errors, first %v", r.Errors, r.FirstErr)
	}
}

func TestConfirmObserveForget(t *testing.T) {
	tr := proctest.New(t)
	f := kill.NewFake()
	tr.Add(10, proctest.Proc{Comm: "big", RSS: 2 * gib, Start: 100})
	f.Add(10, &kill.FakeProcess{})
	s := newSampler(t, tr, f, proc.MetricRSS, false)
	r, _ := s.Full(t0, nil)
	k := r.Obs[0].Key
	tr.Add(10, proctest.Proc{Comm: "big", RSS: 5 * gib, Start: 100})
	o, h, err := s.Confirm(t0, k)
	if err != nil || o.Gone || o.Value != 5*gib || h == nil {
		t.Fatalf("confirm: %+v, %v, %v", o, h, err)
	}
	h.Close()
	obs := s.Observe(t0, []policy.Key{k, {PID: 10, Start: 1}, {PID: 77, Start: 1}}, nil)
	if len(obs) != 3 || obs[0].Gone || obs[0].Value != 5*gib || !obs[1].Gone || !obs[2].Gone {
		t.Fatalf("observe: %+v", obs)
	}
	f.Exit(10)
	if o, h, _ := s.Confirm(t0, k); !o.Gone || h != nil {
		t.Errorf("confirm of an exited process: %+v", o)
	}
	s.Forget(k)
	if s.Cached() != 0 || f.OpenHandles() != 0 {
		t.Errorf("%d cached, %d handles after Forget", s.Cached(), f.OpenHandles())
	}
}

// PSS is read largest first within the budget, cached, and never re-read for settled
// processes.
func TestPSSBudgetAndCache(t *testing.T) {
	tr := proctest.New(t)
	f := kill.NewFake()
	for pid := 10; pid < 16; pid++ {
		tr.Add(pid, proctest.Proc{Comm: "worker", RSS: 2*gib + uint64(pid)*mib, PSS: 100 * mib, Start: uint64(pid)})
		f.Add(pid, &kill.FakeProcess{})
	}
	tr.Add(20, proctest.Proc{Comm: "alone", RSS: 3 * gib, Start: 20})
	f.Add(20, &kill.FakeProcess{})
	s := newSampler(t, tr, f, proc.MetricPSS, false)
	s.o.PSSBudget = time.Nanosecond // room for the first read only
	r, _ := s.Full(t0, nil)
	if len(r.Obs) != 1 || r.Obs[0].Key.PID != 20 || r.Obs[0].Value != 3*gib || r.Pending != 6 {
		t.Fatalf("first scan: obs %v, pending %d; want the largest measured, the rest pending", pids(r.Obs), r.Pending)
	}
	// A process new since that scan goes before the six still waiting, small as it is.
	tr.Add(25, proctest.Proc{Comm: "late", RSS: 1100 * mib, Start: 25})
	f.Add(25, &kill.FakeProcess{})
	r, _ = s.Full(t0.Add(500*time.Millisecond), nil)
	if len(r.Obs) != 2 || valueOf(r.Obs, 25) != 1100*mib || r.Pending != 6 {
		t.Fatalf("new candidate: obs %v, pending %d; want it measured before the waiting ones", pids(r.Obs), r.Pending)
	}
	tr.Remove(25)
	s.o.PSSBudget = time.Hour
	r, _ = s.Full(t0.Add(time.Second), nil)
	if len(r.Obs) != 7 || r.Pending != 0 {
		t.Fatalf("second scan: %d obs, %d pending", len(r.Obs), r.Pending)
	}
	for _, o := range r.Obs {
		if o.Key.PID < 20 && (o.Value != 100*mib || o.Info.PSS != 100*mib) {
			t.Errorf("pid %d: value %d", o.Key.PID, o.Value)
		}
	}
	// Cached: a new PSS in the tree is not read while the RSS holds still...
	tr.Add(10, proctest.Proc{Comm: "worker", RSS: 2*gib + 10*mib, PSS: 3 * gib, Start: 10})
	r, _ = s.Full(t0.Add(2*time.Second), nil)
	if v := valueOf(r.Obs, 10); v != 100*mib {
		t.Errorf("cached PSS %d, want the cached 100 MiB", v)
	}
	// ...but is when it grew by more than an eighth,
	tr.Add(10, proctest.Proc{Comm: "worker", RSS: 3 * gib, PSS: 3 * gib, Start: 10})
	r, _ = s.Full(t0.Add(3*time.Second), nil)
	if v := valueOf(r.Obs, 10); v != 3*gib {
		t.Errorf("grown: PSS %d, want it read again", v)
	}
	// A new candidate is measured before the stale readings are refreshed, whatever its
	// size: a hog must not wait behind a crowd of large workers.
	s.o.PSSBudget = time.Nanosecond
	tr.Add(30, proctest.Proc{Comm: "newhog", RSS: 1500 * mib, Start: 30})
	f.Add(30, &kill.FakeProcess{})
	r, _ = s.Full(t0.Add(pssMaxAge+time.Minute), nil)
	if v := valueOf(r.Obs, 30); v != 1500*mib {
		t.Errorf("new candidate: PSS %d, want it measured first", v)
	}
	if r.Pending != 0 || len(r.Obs) != 8 {
		t.Errorf("stale readings are used, not left pending: %d pending, %d obs", r.Pending, len(r.Obs))
	}
	s.o.PSSBudget = time.Hour
	// and never for a settled process.
	tr.Add(11, proctest.Proc{Comm: "worker", RSS: 4 * gib, PSS: 4 * gib, Start: 11})
	r, _ = s.Full(t0.Add(pssMaxAge+time.Hour), func(k policy.Key) bool { return k.PID == 11 })
	if v := valueOf(r.Obs, 11); v != 100*mib {
		t.Errorf("settled: PSS %d, want the cached value", v)
	}
}

func valueOf(obs []policy.Observation, pid int) uint64 {
	for _, o := range obs {
		if o.Key.PID == pid {
			return o.Value
		}
	}
	return 0
}

func TestSwapMetric(t *testing.T) {
	tr := proctest.New(t)
	f := kill.NewFake()
	tr.Add(10, proctest.Proc{Comm: "swapper", RSS: 800 * mib, Swap: 400 * mib, Start: 1})
	f.Add(10, &kill.FakeProcess{})
	s := newSampler(t, tr, f, proc.MetricSwap, false)
	r, _ := s.Full(t0, nil)
	if v := valueOf(r.Obs, 10); v != 1200*mib {
		t.Errorf("rss+swap %d MiB, want 1200", v>>20)
	}
}

func TestSetRulesAndLimits(t *testing.T) {
	tr := proctest.New(t)
	f := kill.NewFake()
	tr.Add(10, proctest.Proc{Comm: "big", RSS: 2 * gib, Start: 1})
	f.Add(10, &kill.FakeProcess{})
	s := newSampler(t, tr, f, proc.MetricRSS, false)
	s.Full(t0, nil)
	set, _ := protect.Compile([]string{"name:big"}, protect.Options{NoDefaults: true})
	s.SetRules(policy.Rules{Threshold: 4 * gib, Protect: set})
	r, _ := s.Full(t0, nil)
	if len(r.Obs) != 1 || r.Obs[0].Protected != "name:big" {
		t.Errorf("after SetRules: %+v", r.Obs)
	}
	s.SetLimits(4*gib, 0)
	tr.Add(10, proctest.Proc{Comm: "big", RSS: 3 * gib, Start: 1})
	if r, _ := s.Full(t0, nil); len(r.Obs) != 0 {
		t.Errorf("under the raised threshold: %v", pids(r.Obs))
	}
}

func removeFile(path string) error { return os.Remove(path) }
