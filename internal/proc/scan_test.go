package proc

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// writeTree builds a fake /proc with one statm per PID, plus entries that are not
// processes.
func writeTree(t *testing.T, statm map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for pid, content := range statm {
		dir := filepath.Join(root, pid)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if content == "" {
			continue // a process without statm: vanished between listing and reading
		}
		if err := os.WriteFile(filepath.Join(dir, "statm"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "meminfo"), []byte("MemTotal: 1 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestScanFixture(t *testing.T) {
	root := writeTree(t, map[string]string{
		"1":    "100 10 5 1 0 20 0\n",
		"42":   "2000 1500 10 1 0 300 0\n",
		"77":   "", // vanished
		"self": "",
		"sys":  "",
	})
	s, err := NewScanner(root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	page := uint64(os.Getpagesize())
	got := map[int]uint64{}
	st, err := s.Scan(func(pid int, rss uint64) { got[pid] = rss })
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]uint64{1: 10 * page, 42: 1500 * page}
	if len(got) != len(want) || got[1] != want[1] || got[42] != want[42] {
		t.Errorf("Scan = %v, want %v", got, want)
	}
	if st.Processes != 2 || st.Vanished != 1 || st.MaxRSS != 1500*page {
		t.Errorf("stats = %+v", st)
	}
	if rss, err := s.RSS(42); err != nil || rss != 1500*page {
		t.Errorf("RSS(42) = %d, %v", rss, err)
	}
	if _, err := s.RSS(77); !IsGone(err) {
		t.Errorf("RSS(77) error %v, want one for which IsGone is true", err)
	}
}

// TestScanAllocs checks the promise the daemon's idle cost rests on: once warm, a scan of
// the real /proc and a read of meminfo allocate nothing.
func TestScanAllocs(t *testing.T) {
	s, err := NewScanner("/proc")
	if err != nil {
		t.Skip(err)
	}
	defer s.Close()
	var n int
	fn := func(pid int, rss uint64) { n++ }
	if a := testing.AllocsPerRun(20, func() { s.Scan(fn) }); a != 0 {
		t.Errorf("Scan allocates %v times per run, want 0", a)
	}
	if n == 0 {
		t.Fatal("Scan saw no process")
	}
	self := os.Getpid()
	if a := testing.AllocsPerRun(100, func() { s.RSS(self) }); a != 0 {
		t.Errorf("RSS allocates %v times per run, want 0", a)
	}
	mi, err := NewMeminfoReader("/proc")
	if err != nil {
		t.Fatal(err)
	}
	defer mi.Close()
	if a := testing.AllocsPerRun(100, func() { mi.Read() }); a != 0 {
		t.Errorf("Meminfo.Read allocates %v times per run, want 0", a)
	}
}

func TestScanNoFdLeak(t *testing.T) {
	s, err := NewScanner("/proc")
	if err != nil {
		t.Skip(err)
	}
	before := openFds(t)
	for range 5 {
		s.Scan(func(int, uint64) {})
		s.RSS(1 << 29) // no such process: the error path must not leak either
	}
	s.Close()
	if after := openFds(t); after > before {
		t.Errorf("open descriptors grew from %d to %d", before, after)
	}
}

func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	return len(ents)
}

// BenchmarkScan measures one full scan of the /proc it runs under (make bench runs it
// inside PID namespaces of 100, 1,000 and 5,000 processes). Besides wall time it reports
// CPU time per scan (user+system, from getrusage), which is what the daemon costs.
func BenchmarkScan(b *testing.B) {
	root := os.Getenv("MEMORY_MONITOR_BENCH_PROC")
	if root == "" {
		root = "/proc"
	}
	s, err := NewScanner(root)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var n int
	fn := func(pid int, rss uint64) { n++ }
	s.Scan(fn) // warm the buffers
	n = 0
	b.ReportAllocs()
	before := cpuTime(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Scan(fn); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := cpuTime(b) - before
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(n)/float64(b.N), "procs/op")
}

// BenchmarkMeminfo measures the fast path's global check: one read of /proc/meminfo.
func BenchmarkMeminfo(b *testing.B) {
	r, err := NewMeminfoReader("/proc")
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ReportAllocs()
	before := cpuTime(b)
	for b.Loop() {
		if _, err := r.Read(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime(b)-before).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkRSS measures re-reading one process, as the fast path does for the few
// processes near the threshold.
func BenchmarkRSS(b *testing.B) {
	s, err := NewScanner("/proc")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	self := os.Getpid()
	b.ReportAllocs()
	before := cpuTime(b)
	for b.Loop() {
		if _, err := s.RSS(self); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime(b)-before).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
