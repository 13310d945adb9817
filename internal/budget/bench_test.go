package budget

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// BenchmarkScanBudgets measures a full scan of the /proc it runs under
// ($MEMORY_MONITOR_BENCH_PROC, default /proc) without budgets (the scanner alone) and
// with them: user (status read per process), unit (cgroup read per process) and both,
// plus grouping and measuring the groups. Run it inside a PID namespace of 1,000 or 5,000
// processes (tests/bench/inner.sh spawns them). The budgets are generous, so no PSS is
// read: the steady-state cost. user:root puts every process of the namespace in one group.
func BenchmarkScanBudgets(b *testing.B) {
	root := os.Getenv("MEMORY_MONITOR_BENCH_PROC")
	if root == "" {
		root = "/proc"
	}
	for _, bc := range []struct {
		name  string
		specs []string
	}{
		{"none", nil},
		{"user", []string{"user:root", "user:*"}},
		{"unit", []string{"unit:*.service"}},
		{"both", []string{"user:root", "user:*", "unit:*.service"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := proc.NewScanner(root)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var rules []Rule
			for _, kp := range bc.specs {
				r, err := ParseRule(kp, 1<<50, "1P", func(string) (uint64, error) { return 0, nil })
				if err != nil {
					b.Fatal(err)
				}
				rules = append(rules, r)
			}
			var g *Grouper
			if len(rules) > 0 {
				g, err = NewGrouper(NewSet(rules, DefaultLoginRange()), Options{ProcRoot: root, CgroupRoot: "/sys/fs/cgroup"})
				if err != nil {
					b.Fatal(err)
				}
				defer g.Close()
			}
			n, groups := 0, 0
			fn := func(pid int, rss uint64) { n++ }
			if g != nil {
				fn = func(pid int, rss uint64) { n++; g.Add(pid, rss) }
			}
			pass := func() {
				if g != nil {
					g.Begin()
				}
				if _, err := s.Scan(fn); err != nil {
					b.Fatal(err)
				}
				if g != nil {
					groups += len(g.Groups())
				}
			}
			pass() // warm the buffers and caches
			n, groups = 0, 0
			b.ReportAllocs()
			before := cpuTime(b)
			b.ResetTimer()
			for b.Loop() {
				pass()
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime(b)-before).Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(n)/float64(b.N), "procs/op")
			b.ReportMetric(float64(groups)/float64(b.N), "groups/op")
		})
	}
}

// cpuTime is this process's user+system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
