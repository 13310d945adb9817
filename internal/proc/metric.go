package proc

import (
	"fmt"
	"strings"
)

// Metric is the measure of a process's memory that the thresholds apply to.
type Metric int

const (
	// MetricRSS is the resident set size from statm: what the old script used.
	MetricRSS Metric = iota
	// MetricPSS is the proportional set size from smaps_rollup: shared pages are divided
	// among the processes that map them.
	MetricPSS
	// MetricSwap is RSS plus VmSwap, so a process cannot hide in swap.
	MetricSwap
)

// ParseMetric parses rss, pss or swap.
func ParseMetric(s string) (Metric, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "rss":
		return MetricRSS, nil
	case "pss":
		return MetricPSS, nil
	case "swap":
		return MetricSwap, nil
	}
	return 0, fmt.Errorf("unknown metric (use rss, pss or swap)")
}

func (m Metric) String() string {
	switch m {
	case MetricPSS:
		return "pss"
	case MetricSwap:
		return "swap"
	}
	return "rss"
}

// Label names the measure in tables: RSS, PSS or RSS+SWAP.
func (m Metric) Label() string {
	if m == MetricSwap {
		return "RSS+SWAP"
	}
	return strings.ToUpper(m.String())
}

// Of returns p's memory by this measure. For MetricPSS, p.PSS must have been read
// (Reader.Measure); for MetricSwap, p.Swap (Reader.Info reads it).
func (m Metric) Of(p Info) uint64 {
	switch m {
	case MetricPSS:
		return p.PSS
	case MetricSwap:
		return p.RSS + p.Swap
	}
	return p.RSS
}

// Bound is the most the measure can be for a process whose statm reads rss and size
// (bytes) on a system with swapUsed bytes of swap in use: what the hot loop, which reads
// only statm, compares with the thresholds to pick the processes worth a closer look.
//
// PSS never exceeds RSS. RSS+VmSwap has no bound in statm alone, since a process mostly in
// swap has a small RSS; but every page of it is either resident, swapped or neither, so
// RSS+VmSwap is at most its virtual size, and its swapped part at most the swap in use.
func (m Metric) Bound(rss, size, swapUsed uint64) uint64 {
	if m != MetricSwap {
		return rss
	}
	if size <= rss {
		return rss
	}
	return rss + min(size-rss, swapUsed)
}

// SwapUsed reads SwapTotal - SwapFree from meminfo, in bytes.
func (r *Reader) SwapUsed() (uint64, error) {
	mi, err := r.fs.Meminfo()
	if err != nil {
		return 0, fmt.Errorf("read %s/meminfo: %w", r.root, err)
	}
	if mi.SwapTotalBytes == nil || mi.SwapFreeBytes == nil {
		return 0, nil // no swap configured in this kernel
	}
	return *mi.SwapTotalBytes - min(*mi.SwapFreeBytes, *mi.SwapTotalBytes), nil
}

// Measure fills in what m needs beyond Info: for MetricPSS it reads smaps_rollup, which
// is expensive, so the caller does it only for processes already over a threshold by RSS.
func (r *Reader) Measure(p *Info, m Metric) error {
	if m != MetricPSS {
		return nil
	}
	pss, err := r.pss(p.PID, p.Thread)
	if err != nil {
		return err
	}
	p.PSS = pss
	return nil
}
