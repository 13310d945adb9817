package proc

import (
	"math"
	"testing"
)

func TestParseMetric(t *testing.T) {
	for in, want := range map[string]Metric{"rss": MetricRSS, "PSS": MetricPSS, " swap ": MetricSwap} {
		if got, err := ParseMetric(in); err != nil || got != want {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "vsz", "rss+swap"} {
		if _, err := ParseMetric(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	if MetricSwap.Label() != "RSS+SWAP" || MetricPSS.Label() != "PSS" || MetricRSS.String() != "rss" {
		t.Error("labels")
	}
}

func TestMetricBound(t *testing.T) {
	for _, tc := range []struct {
		m                    Metric
		rss, size, swap, out uint64
	}{
		{MetricRSS, 10, 1000, 500, 10},
		{MetricPSS, 10, 1000, 500, 10},               // PSS <= RSS
		{MetricSwap, 10, 1000, 0, 10},                // no swap in use: RSS
		{MetricSwap, 10, 1000, 500, 510},             // at most the swap in use...
		{MetricSwap, 10, 100, 500, 100},              // ...and at most the virtual size
		{MetricSwap, 10, 5, 500, 10},                 // a size below RSS (shared accounting) never lowers it
		{MetricSwap, 10, 1000, math.MaxUint64, 1000}, // swap unknown: no overflow
	} {
		if got := tc.m.Bound(tc.rss, tc.size, tc.swap); got != tc.out {
			t.Errorf("%v.Bound(%d, %d, %d) = %d, want %d", tc.m, tc.rss, tc.size, tc.swap, got, tc.out)
		}
	}
}

func TestFirstFields(t *testing.T) {
	for _, tc := range []struct {
		in        string
		size, res uint64
		ok        bool
	}{
		{"20971520 10485760 100 10 0 10485760 0\n", 20971520, 10485760, true},
		{"1 2", 1, 2, true},
		{"1", 0, 0, false},
		{"", 0, 0, false},
		{"x 2", 0, 0, false},
		{"1 x", 1, 0, false},
	} {
		size, res, ok := firstFields([]byte(tc.in))
		if ok != tc.ok || (ok && (size != tc.size || res != tc.res)) {
			t.Errorf("%q: got %d %d %v, want %d %d %v", tc.in, size, res, ok, tc.size, tc.res, tc.ok)
		}
	}
}

func TestReaderExeCgroupSwapPSS(t *testing.T) {
	r, err := NewReader("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	in, err := r.Info(200)
	if err != nil {
		t.Fatal(err)
	}
	// The shared fixture has no exe link or cgroup file: both read as empty.
	if in.Exe != "" || in.Cgroup != "" {
		t.Errorf("exe %q cgroup %q, want empty", in.Exe, in.Cgroup)
	}
	if _, err := r.PSS(200); err == nil {
		t.Error("PSS without smaps_rollup: want an error")
	}
	if err := r.Measure(&in, MetricRSS); err != nil {
		t.Errorf("Measure(rss) read something: %v", err)
	}
}

// ScanSize, which --metric=swap and the monitor use, allocates nothing per scan either.
func TestScanSizeAllocatesNothing(t *testing.T) {
	s, err := NewScanner("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	var total uint64
	fn := func(pid int, rss, size uint64) { n++; total += size }
	if _, err := s.ScanSize(fn); err != nil || n == 0 || total == 0 {
		t.Fatalf("scan: %d processes, size %d, %v", n, total, err)
	}
	if a := testing.AllocsPerRun(20, func() { s.ScanSize(fn) }); a != 0 {
		t.Errorf("%v allocations per scan, want 0", a)
	}
}

// What each metric compares with the threshold.
func TestMetricOf(t *testing.T) {
	p := Info{RSS: 150, Swap: 100, PSS: 60}
	for m, want := range map[Metric]uint64{MetricRSS: 150, MetricPSS: 60, MetricSwap: 250} {
		if got := m.Of(p); got != want {
			t.Errorf("%v: %d, want %d", m, got, want)
		}
	}
}
