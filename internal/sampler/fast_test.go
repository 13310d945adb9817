package sampler

import (
	"slices"
	"testing"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/proc"
	"github.com/memory-monitor/memory-monitor/internal/proctest"
)

func TestInsertTop(t *testing.T) {
	var top [4]watched
	n := 0
	for i, v := range []uint64{5, 1, 9, 3, 7, 2, 9, 8} {
		n = insertTop(top[:], n, watched{pid: i + 1, value: v})
	}
	want := []watched{{3, 9}, {7, 9}, {8, 8}, {5, 7}}
	if !slices.Equal(top[:n], want) {
		t.Errorf("top = %v, want %v", top[:n], want)
	}
	if a := testing.AllocsPerRun(100, func() { insertTop(top[:], n, watched{1, 6}) }); a != 0 {
		t.Errorf("insertTop allocates %v times", a)
	}
}

func TestPlanWatch(t *testing.T) {
	const limit = 20 * gib
	many := make([]watched, watchMax+1)
	for i := range many {
		many[i] = watched{pid: i + 1, value: 19*gib - uint64(i)*mib}
	}
	for _, tt := range []struct {
		name     string
		top      []watched
		watch    []int
		headroom uint64
	}{
		{"no process", nil, nil, limit},
		{"all small", []watched{{1, 2 * gib}, {2, gib}}, nil, 18 * gib},
		{"one near, one small", []watched{{1, 15 * gib}, {2, gib}}, []int{1}, 19 * gib},
		{"exactly half is watched", []watched{{1, 10 * gib}}, []int{1}, limit},
		{"more near than watchMax: the first left out sets the headroom", many,
			[]int{1, 2, 3, 4, 5, 6, 7, 8}, gib + watchMax*mib},
	} {
		t.Run(tt.name, func(t *testing.T) {
			watch, headroom := planWatch(tt.top, limit, nil)
			var got []int
			for _, w := range watch {
				got = append(got, w.pid)
			}
			if !slices.Equal(got, tt.watch) || headroom != tt.headroom {
				t.Errorf("planWatch = %v, %d; want %v, %d", got, headroom, tt.watch, tt.headroom)
			}
		})
	}
}

func TestGrewBy(t *testing.T) {
	const page = 4096
	base := proc.Meminfo{MemTotal: 64 * gib, AnonPages: 10 * gib, Mapped: 2 * gib, SwapTotal: 8 * gib, SwapFree: 8 * gib}
	with := func(anon, mapped, swapFree uint64) proc.Meminfo {
		m := base
		m.AnonPages, m.Mapped, m.SwapFree = anon, mapped, swapFree
		return m
	}
	vm := func(alloc, in uint64) *proc.Vmstat { return &proc.Vmstat{PgAlloc: alloc, PgpgIn: in} }
	for _, tt := range []struct {
		name     string
		cur      proc.Meminfo
		pvm, cvm *proc.Vmstat
		want     uint64
	}{
		{"unchanged", base, nil, nil, 0},
		{"anonymous memory grew", with(11*gib, 2*gib, 8*gib), nil, nil, gib},
		{"anonymous memory shrank: not negative", with(9*gib, 2*gib, 8*gib), nil, nil, 0},
		{"one kind released does not hide another taken", with(9*gib, 3*gib, 8*gib), nil, nil, gib},
		{"pages moved to swap count as swap growth", with(9*gib, 2*gib, 7*gib), nil, nil, gib},
		// Levels say nothing grew (one process freed what another took); the allocation
		// counter says a GiB was allocated.
		{"masked growth is seen by pgalloc", base, vm(0, 0), vm(gib/page, 0), gib},
		{"pages read from disk do not count", base, vm(0, 0), vm(gib/page, gib>>10), 0},
		{"file pages newly mapped count on top", with(10*gib, 3*gib, 8*gib), vm(0, 0), vm(gib/page, 0), 2 * gib},
		{"a counter that went back (reset) falls back to levels", with(11*gib, 2*gib, 8*gib), vm(100, 0), vm(1, 0), gib},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := grewBy(base, tt.cur, tt.pvm, tt.cvm, page); got != tt.want {
				t.Errorf("grewBy = %d MiB, want %d MiB", got>>20, tt.want>>20)
			}
		})
	}
}

func TestNextCheck(t *testing.T) {
	const limit = 20 * gib
	const rate = float64(4 << 30)
	for _, tt := range []struct {
		name     string
		headroom uint64
		grown    uint64
		watch    []watched
		rate     float64
		want     time.Duration
	}{
		{"idle, much room: never more than fastMax", 19 * gib, 0, nil, rate, fastMax},
		{"room for half a second at the rate", 2 * gib, 0, nil, rate, 500 * time.Millisecond},
		{"a faster measured rate checks sooner", 2 * gib, 0, nil, 2 * rate, 250 * time.Millisecond},
		{"growth used the room up", gib, 2 * gib, nil, rate, fastMin},
		{"a watched process close to the limit", 19 * gib, 0, []watched{{1, limit - 10*mib}}, rate, fastMin},
		{"a watched process over the limit", 19 * gib, 0, []watched{{1, limit + 1}}, rate, fastMin},
		{"a watched process with room", 19 * gib, 0, []watched{{1, limit - 3*gib}}, rate, 750 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextCheck(tt.headroom, tt.grown, tt.watch, limit, tt.rate); got != tt.want {
				t.Errorf("nextCheck = %v, want %v", got, tt.want)
			}
		})
	}
}

func fastTree(t *testing.T) (*Sampler, *kill.Fake, *proctest.Tree) {
	t.Helper()
	tr := proctest.New(t)
	f := kill.NewFake()
	tr.Add(10, proctest.Proc{Comm: "near", RSS: 800 * mib, Start: 1}) // watched (over half of 1 GiB)
	tr.Add(11, proctest.Proc{Comm: "small", RSS: 10 * mib, Start: 2})
	f.Add(10, &kill.FakeProcess{})
	f.Add(11, &kill.FakeProcess{})
	s := newSampler(t, tr, f, proc.MetricRSS, true)
	s.SetLimits(gib, 0)
	if _, err := s.Full(t0, nil); err != nil {
		t.Fatal(err)
	}
	return s, f, tr
}

func TestFastWatchListAndTrigger(t *testing.T) {
	s, _, tr := fastTree(t)
	if len(s.fast.watch) != 1 || s.fast.watch[0].pid != 10 || s.fast.headroom != gib-10*mib {
		t.Fatalf("watch %v, headroom %d", s.fast.watch, s.fast.headroom)
	}
	// A watched process is re-read at each check and observed once over.
	tr.Add(10, proctest.Proc{Comm: "near", RSS: 1100 * mib, Start: 1})
	r := s.Fast(t0.Add(100*time.Millisecond), nil)
	if r.Scan || len(r.Obs) != 1 || r.Obs[0].Value != 1100*mib {
		t.Fatalf("fast check: %+v", r)
	}
	// Off the watch list now (the tracker has it): paced by the headroom again.
	if want := time.Duration(float64(gib-10*mib) / s.fast.rate * float64(time.Second)); r.Next != min(max(want, fastMin), fastMax) {
		t.Errorf("next check in %v, want %v", r.Next, want)
	}
	// Growth that levels cannot see (freed elsewhere) but pgalloc can: a full scan now.
	tr.Vmstat(uint64(600*mib)/4096, 0)
	if r := s.Fast(t0.Add(200*time.Millisecond), nil); r.Scan {
		t.Fatalf("600 MiB allocated, under the headroom: %+v", r)
	}
	tr.Vmstat(uint64(1200*mib)/4096, 0)
	if r := s.Fast(t0.Add(300*time.Millisecond), nil); !r.Scan || r.Grown != 1200*mib {
		t.Fatalf("1.2 GiB allocated past the headroom: %+v", r)
	}
	if c, trig := s.FastStats(); c != 3 || trig != 1 {
		t.Errorf("stats %d checks, %d triggered", c, trig)
	}
	s.Full(t0.Add(300*time.Millisecond), nil)
	if s.fast.grown != 0 {
		t.Errorf("growth not reset by the full scan")
	}
	if d := s.NextFast(); d < fastMin || d > fastMax {
		t.Errorf("next fast %v", d)
	}
}

func TestFastOffWithoutMeminfo(t *testing.T) {
	tr := proctest.New(t)
	tr.Add(10, proctest.Proc{Comm: "x", RSS: mib, Start: 1})
	if err := removeFile(tr.Root + "/meminfo"); err != nil {
		t.Fatal(err)
	}
	if _, err := New(tr.Root, Options{Opener: kill.NewFake(), FastPath: true}); err == nil {
		t.Error("fast path opened without meminfo")
	}
	s, err := New(tr.Root, Options{Opener: kill.NewFake()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.FastPath() || s.NextFast() != 0 || s.Fast(t0, nil).Next != fastMax {
		t.Error("fast path on")
	}
}

// With much room, vmstat (the costlier read) is read only when growth at the pacing rate
// could have used the room up, and never more than vmstatMax apart; meminfo at every
// check. Masked growth is still seen in full at the next read: the counters only grow.
func TestVmstatReadWhenDue(t *testing.T) {
	tr := proctest.New(t)
	f := kill.NewFake()
	tr.Add(10, proctest.Proc{Comm: "small", RSS: 10 * mib, Start: 1})
	f.Add(10, &kill.FakeProcess{})
	s := newSampler(t, tr, f, proc.MetricRSS, true)
	s.fast.rate = 4 << 30
	s.SetLimits(20*gib, 0)
	s.Full(t0, nil) // room 20 GiB - 10 MiB: vmstat due 5 s later
	base := s.fast.vmReads
	for i := 1; i <= 4; i++ {
		if r := s.Fast(t0.Add(time.Duration(i)*time.Second), nil); r.Scan {
			t.Fatalf("scan at %d s", i)
		}
	}
	if n := s.fast.vmReads - base; n != 0 {
		t.Errorf("vmstat read %d times in 4 s with 20 GiB of room, want 0", n)
	}
	// 21 GiB allocated while the levels stay flat: seen at the read due at 5 s.
	tr.Vmstat(21*gib/4096, 0)
	if r := s.Fast(t0.Add(4500*time.Millisecond), nil); r.Scan {
		t.Fatal("vmstat read before it was due")
	}
	r := s.Fast(t0.Add(5*time.Second), nil)
	if !r.Scan || r.Grown != 21*gib || s.fast.vmReads-base != 1 {
		t.Errorf("at 5 s: %+v after %d vmstat reads; want the masked growth seen", r, s.fast.vmReads-base)
	}
	// Levels that grow shorten the wait: 19 GiB of anonymous growth leaves ~1 GiB.
	s.Full(t0.Add(6*time.Second), nil)
	base = s.fast.vmReads
	tr.Meminfo(64*gib, 19*gib, 0)
	s.Fast(t0.Add(7*time.Second), nil)
	if due := s.fast.vmDue.Sub(t0.Add(6 * time.Second)); due > 300*time.Millisecond {
		t.Errorf("vmstat due %v after its last read with ~1 GiB of room left, want sooner", due)
	}
	s.Fast(t0.Add(7100*time.Millisecond), nil)
	if s.fast.vmReads-base != 1 {
		t.Errorf("%d vmstat reads, want the one that became due", s.fast.vmReads-base)
	}
}
