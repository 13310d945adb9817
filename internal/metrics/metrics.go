// Package metrics keeps the daemon's counters and gauges and writes them in the Prometheus
// text format for node_exporter's textfile collector, atomically (temporary file, then
// rename), so a scrape never sees half a file.
//
// The exposition is written by hand: prometheus/client_golang doubled the binary
// (4.3 MB to 8.7 MB stripped) and added 3.4 MB to the daemon's resident memory, which
// would break the 8 MiB footprint target on its own. The format is small and stable, and
// the tests parse the output with the official parser.
package metrics

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// scanBuckets are the upper bounds, in seconds, of the scan-duration histogram: a scan
// of a few thousand processes takes milliseconds.
var scanBuckets = [...]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}

// Metrics holds every value exported. The zero value is not usable; call New. A nil
// *Metrics ignores every call, so the daemon can run without metrics at no cost.
type Metrics struct {
	mu      sync.Mutex
	writeMu sync.Mutex // orders WriteFile calls, so an older snapshot never replaces a newer one

	version       string
	threshold     uint64
	warnThreshold uint64

	signals   map[string]uint64 // by signal name
	stops     map[string]uint64 // by outcome
	spared    map[string]uint64 // by reason
	dryRun    uint64
	warnings  uint64
	scans     uint64 // with the reused ones
	reused    uint64
	scanErrs  uint64
	buckets   [len(scanBuckets)]uint64
	scanSum   float64
	processes int
	largest   uint64
	lastScan  time.Time

	budget budgetMetrics
}

// New returns Metrics for a daemon of this version and thresholds (warn 0: off).
func New(version string, threshold, warnThreshold uint64) *Metrics {
	return &Metrics{
		version:       version,
		threshold:     threshold,
		warnThreshold: warnThreshold,
		signals:       map[string]uint64{},
		stops:         map[string]uint64{},
		spared:        map[string]uint64{},
	}
}

// Scanned records a complete scan.
func (m *Metrics) Scanned(d time.Duration, processes int, largest uint64, at time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.scans++
	s := d.Seconds()
	m.scanSum += s
	for i, b := range scanBuckets {
		if s <= b {
			m.buckets[i]++
		}
	}
	m.processes = processes
	m.largest = largest
	m.lastScan = at
}

// Reused records a scan that reused the last readings, nothing having changed enough to
// matter: a complete scan, but not a measured one (no duration).
func (m *Metrics) Reused(at time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.scans++
	m.reused++
	m.lastScan = at
}

// ScanFailed records a scan that could not list the processes.
func (m *Metrics) ScanFailed() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.scanErrs++
}

// Signal records a signal delivered ("SIGTERM", "SIGKILL").
func (m *Metrics) Signal(name string) { m.inc(func() { m.signals[name]++ }) }

// Stopped records how a stop ended (kill.Outcome as a string).
func (m *Metrics) Stopped(outcome string) { m.inc(func() { m.stops[outcome]++ }) }

// Spared records a protected process over the threshold that was left alone.
func (m *Metrics) Spared(reason string) { m.inc(func() { m.spared[reason]++ }) }

// DryRun records a dry-run "would terminate" decision.
func (m *Metrics) DryRun() { m.inc(func() { m.dryRun++ }) }

// Warned records a process crossing the warn threshold.
func (m *Metrics) Warned() { m.inc(func() { m.warnings++ }) }

func (m *Metrics) inc(f func()) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f()
}

// Spared reasons can be rule texts chosen by the administrator; the label keeps them
// whole but bounded.
const maxLabel = 128

// Format renders the metrics in the Prometheus text exposition format (version 0.0.4).
func (m *Metrics) Format() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b bytes.Buffer
	family := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	scalar := func(name, typ, help string, v any) {
		family(name, typ, help)
		fmt.Fprintf(&b, "%s %d\n", name, v)
	}
	labelled := func(name, label string, values map[string]uint64, always ...string) {
		keys := make([]string, 0, len(values)+len(always))
		for k := range values {
			keys = append(keys, k)
		}
		for _, k := range always {
			if _, ok := values[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s{%s=\"%s\"} %d\n", name, label, escape(k), values[k])
		}
	}

	family("memory_monitor_build_info", "gauge", "Always 1; the labels give the version of memory-monitor and of Go.")
	fmt.Fprintf(&b, "memory_monitor_build_info{version=\"%s\",goversion=\"%s\"} 1\n", escape(m.version), escape(runtime.Version()))

	scalar("memory_monitor_threshold_bytes", "gauge", "Per-process memory limit; a process above it is stopped.", m.threshold)
	scalar("memory_monitor_warn_threshold_bytes", "gauge", "Size at which a warning is logged; 0 when warnings are off.", m.warnThreshold)

	family("memory_monitor_signals_sent_total", "counter", "Signals delivered to processes over the threshold, by signal.")
	labelled("memory_monitor_signals_sent_total", "signal", m.signals, "SIGTERM", "SIGKILL")
	family("memory_monitor_stops_total", "counter", "Attempts to stop a process over the threshold, by outcome.")
	labelled("memory_monitor_stops_total", "outcome", m.stops, "exited", "killed", "gone", "failed")
	family("memory_monitor_spared_total", "counter", "Protected processes found over the threshold and left alone, by reason (counted once per process).")
	labelled("memory_monitor_spared_total", "reason", m.spared)
	scalar("memory_monitor_dry_run_decisions_total", "counter", "Processes that would have been stopped, in dry-run mode.", m.dryRun)
	scalar("memory_monitor_warnings_total", "counter", "Processes that crossed the warn threshold.", m.warnings)

	scalar("memory_monitor_scans_total", "counter", "Complete scans of every process, with the reused ones.", m.scans)
	scalar("memory_monitor_scans_reused_total", "counter", "Scans that listed the same processes and reused the last readings, the kernel's counters showing that none could have reached a threshold.", m.reused)
	scalar("memory_monitor_scan_errors_total", "counter", "Scans that could not list the processes.", m.scanErrs)
	family("memory_monitor_scan_duration_seconds", "histogram", "Wall time of a complete scan that read every process.")
	for i, le := range scanBuckets {
		fmt.Fprintf(&b, "memory_monitor_scan_duration_seconds_bucket{le=\"%s\"} %d\n", strconv.FormatFloat(le, 'g', -1, 64), m.buckets[i])
	}
	fmt.Fprintf(&b, "memory_monitor_scan_duration_seconds_bucket{le=\"+Inf\"} %d\n", m.scans-m.reused)
	fmt.Fprintf(&b, "memory_monitor_scan_duration_seconds_sum %s\n", strconv.FormatFloat(m.scanSum, 'g', -1, 64))
	fmt.Fprintf(&b, "memory_monitor_scan_duration_seconds_count %d\n", m.scans-m.reused)

	scalar("memory_monitor_processes", "gauge", "Processes whose memory was read in the last scan.", m.processes)
	scalar("memory_monitor_largest_process_bytes", "gauge", "Resident memory of the largest process in the last scan.", m.largest)
	family("memory_monitor_last_scan_timestamp_seconds", "gauge", "Unix time of the last complete scan.")
	last := 0.0
	if !m.lastScan.IsZero() {
		last = math.Round(float64(m.lastScan.UnixMilli())) / 1000
	}
	fmt.Fprintf(&b, "memory_monitor_last_scan_timestamp_seconds %s\n", strconv.FormatFloat(last, 'f', -1, 64))
	m.formatBudget(&b)
	return b.Bytes()
}

// escape makes a label value safe: backslash, double quote and newline are escaped, and
// the value is cut to maxLabel bytes on a rune boundary.
func escape(s string) string {
	if len(s) > maxLabel {
		s = strings.ToValidUTF8(s[:maxLabel], "")
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// WriteFile writes the metrics to path atomically: a temporary file in the same
// directory, made readable by everyone (node_exporter runs as its own user), then renamed
// over path.
func (m *Metrics) WriteFile(path string) error {
	if m == nil {
		return nil
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	data := m.Format()
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// node_exporter reads only *.prom files: the temporary name must not end so.
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write metrics %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this finds nothing
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write metrics %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write metrics %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write metrics %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write metrics %s: %w", path, err)
	}
	return nil
}
