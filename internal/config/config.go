// Package config turns the raw command-line and environment values into a validated
// Config with typed sizes, durations and levels, and names the offending option in every
// error so that a typo in /etc/default/memory-monitor is easy to find.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/budget"
	"github.com/memory-monitor/memory-monitor/internal/proc"
	"github.com/memory-monitor/memory-monitor/internal/protect"
)

// LowThreshold is the smallest threshold (and warning threshold) accepted without
// AllowLowThreshold. Below it ordinary processes are over: an interactive shell session's
// editor, language server or browser tab, a build's compiler, most services. Such a
// threshold is far more likely a typo (20MB for 20GB, a percentage with a slipped decimal
// point) that would stop every session on the machine than a choice; on a small machine
// or in a test it can still be had by saying so.
const LowThreshold = 256 << 20

// MinInterval is the shortest scan interval accepted: below it the daemon would spend
// more time scanning than the processes it protects are worth.
const MinInterval = 100 * time.Millisecond

// Raw holds option values exactly as given on the command line or in the environment.
type Raw struct {
	Threshold string
	Interval  string
	Grace     string
	DryRun    bool
	LogFile   string
	LogLevel  string
	ProcRoot  string

	Protect          []string // one rule each (an environment list already split)
	NoDefaultProtect bool     // leave the built-in protection rules out
	Metric           string   // rss, pss or swap; "" is rss
	Sustain          string   // "" is 0
	WarnThreshold    string   // "", "0" or "off": no warnings
	MetricsFile      string   // "": no metrics file
	// AllowLowThreshold accepts a threshold or warning threshold below LowThreshold.
	AllowLowThreshold bool

	Budget     []string // --budget values, one each (an environment list already split)
	CgroupRoot string   // the cgroup v2 mount; "" is /sys/fs/cgroup

	Notify string // --notify channels; "" is the default (stderr)
}

// Config is the validated configuration of the daemon.
type Config struct {
	Threshold     uint64   // per-process limit in bytes
	ThresholdSpec SizeSpec // the limit as written, for the start-up line
	Interval      time.Duration
	Grace         time.Duration
	DryRun        bool
	LogFile       string // empty: no file sink
	LogLevel      slog.Level
	ProcRoot      string

	Protect           *protect.Set  // --protect rules and, unless turned off, the built-in ones
	Metric            proc.Metric   // what the thresholds are compared with
	Sustain           time.Duration // how long a process must stay over before it is stopped
	WarnThreshold     uint64        // bytes; 0: no warnings
	WarnThresholdSpec SizeSpec

	MetricsFile string // Prometheus text file for node_exporter; "": off

	AllowLowThreshold bool        // thresholds below LowThreshold were confirmed
	Budgets           *budget.Set // --budget groups; nil: none, and the scans read nothing more
	CgroupRoot        string      // the cgroup v2 mount the budgets are measured in
	Notify            Notify      // channels of the owner's message
}

// Error is a bad option value. Option is how the user gave it: "--threshold" or
// "MEMORY_MONITOR_THRESHOLD".
type Error struct {
	Option string
	Value  string
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s=%q: %v", e.Option, e.Value, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Namer tells how an option was given, so errors name the flag or the variable the user
// actually wrote. It receives the flag name without dashes, e.g. "threshold".
type Namer func(flag string) string

// Load validates raw values. memTotal is called only when the threshold is a percentage.
func Load(raw Raw, name Namer, memTotal func() (uint64, error)) (Config, error) {
	bad := func(flag, value string, err error) error {
		return &Error{Option: name(flag), Value: value, Err: err}
	}
	c := Config{DryRun: raw.DryRun, LogFile: raw.LogFile, ProcRoot: raw.ProcRoot, AllowLowThreshold: raw.AllowLowThreshold}

	var err error
	if c.ThresholdSpec, c.Threshold, err = resolveSize(raw.Threshold, memTotal); err != nil {
		return Config{}, bad("threshold", raw.Threshold, err)
	}
	if err := checkLow(c.Threshold, raw.AllowLowThreshold); err != nil {
		return Config{}, bad("threshold", raw.Threshold, err)
	}

	if c.Interval, err = ParseDuration(raw.Interval); err != nil {
		return Config{}, bad("interval", raw.Interval, fmt.Errorf("invalid duration: %w", err))
	}
	if c.Interval < MinInterval {
		return Config{}, bad("interval", raw.Interval, fmt.Errorf("must be at least %v", MinInterval))
	}

	if c.Grace, err = ParseDuration(raw.Grace); err != nil {
		return Config{}, bad("grace", raw.Grace, fmt.Errorf("invalid duration: %w", err))
	}
	if c.Grace < 0 {
		return Config{}, bad("grace", raw.Grace, fmt.Errorf("must not be negative (0 sends SIGKILL at once)"))
	}

	if c.LogLevel, err = ParseLevel(raw.LogLevel); err != nil {
		return Config{}, bad("log-level", raw.LogLevel, err)
	}
	if raw.ProcRoot == "" {
		return Config{}, bad("proc-root", raw.ProcRoot, fmt.Errorf("must not be empty"))
	}

	c.Protect, err = protect.Compile(raw.Protect, protect.Options{NoDefaults: raw.NoDefaultProtect})
	if err != nil {
		var re *protect.Error
		if errors.As(err, &re) {
			return Config{}, bad("protect", re.Rule, re.Err)
		}
		return Config{}, err
	}
	if raw.Metric != "" { // empty: rss, the default
		if c.Metric, err = proc.ParseMetric(raw.Metric); err != nil {
			return Config{}, bad("metric", raw.Metric, err)
		}
	}
	if raw.Sustain != "" { // empty: 0, act at once
		if c.Sustain, err = ParseDuration(raw.Sustain); err != nil {
			return Config{}, bad("sustain", raw.Sustain, fmt.Errorf("invalid duration: %w", err))
		}
	}
	if c.Sustain < 0 {
		return Config{}, bad("sustain", raw.Sustain, fmt.Errorf("must not be negative (0 acts at once)"))
	}
	if w := strings.TrimSpace(raw.WarnThreshold); w != "" && !strings.EqualFold(w, "off") && w != "0" {
		if c.WarnThresholdSpec, c.WarnThreshold, err = resolveSize(w, memTotal); err != nil {
			return Config{}, bad("warn-threshold", raw.WarnThreshold, err)
		}
		if err := checkLow(c.WarnThreshold, raw.AllowLowThreshold); err != nil {
			return Config{}, bad("warn-threshold", raw.WarnThreshold, err)
		}
		if c.WarnThreshold >= c.Threshold {
			return Config{}, bad("warn-threshold", raw.WarnThreshold,
				fmt.Errorf("must be below the threshold (%s)", FormatSize(c.Threshold)))
		}
	}
	if f := raw.MetricsFile; f != "" {
		// node_exporter's textfile collector reads only *.prom files: any other name
		// would be written faithfully and never scraped.
		if !strings.HasSuffix(f, ".prom") || strings.HasSuffix(f, "/.prom") {
			return Config{}, bad("metrics-file", f, fmt.Errorf("must be a file name ending in .prom (node_exporter reads only those)"))
		}
		c.MetricsFile = f
	}
	if c.Budgets, c.CgroupRoot, err = loadBudgetOptions(raw, name, memTotal); err != nil {
		return Config{}, err
	}
	if c.Notify, err = LoadNotify(raw.Notify, name); err != nil {
		return Config{}, err
	}
	return c, nil
}

// checkLow refuses a threshold below LowThreshold unless allowed.
func checkLow(b uint64, allowed bool) error {
	if b >= LowThreshold || allowed {
		return nil
	}
	return fmt.Errorf("%s is below %s, which would stop ordinary processes (shells, editors, services); "+
		"if that is meant, confirm it with --allow-low-threshold (MEMORY_MONITOR_ALLOW_LOW_THRESHOLD=true)",
		FormatSize(b), FormatSize(LowThreshold))
}

// Warnings returns what the daemon should say at start about a configuration that is
// valid but probably not what was meant, given the machine's MemTotal and SwapTotal in
// bytes (0 when unknown: no warning that needs it). It is pure, so the CLI logs the
// result and tests call it with literal values.
func Warnings(c Config, memTotal, swapTotal uint64) []string {
	var out []string
	// RSS and PSS are resident memory: no process has more than MemTotal of it. RSS+swap
	// can reach MemTotal + SwapTotal.
	limit, what := memTotal, "MemTotal"
	if c.Metric == proc.MetricSwap {
		limit, what = memTotal+swapTotal, "MemTotal + SwapTotal"
	}
	if memTotal > 0 && c.Threshold >= limit {
		out = append(out, fmt.Sprintf("threshold %s is not below %s (%s): no process can ever reach it, so nothing will be stopped",
			FormatSize(c.Threshold), what, FormatSize(limit)))
	}
	if memTotal > 0 && c.WarnThreshold > 0 && c.WarnThreshold >= limit {
		out = append(out, fmt.Sprintf("warn threshold %s is not below %s (%s): it can never fire",
			FormatSize(c.WarnThreshold), what, FormatSize(limit)))
	}
	if c.Threshold < LowThreshold {
		out = append(out, fmt.Sprintf("threshold %s is below %s (allowed by --allow-low-threshold): ordinary processes will be stopped",
			FormatSize(c.Threshold), FormatSize(LowThreshold)))
	}
	if c.WarnThreshold > 0 && c.WarnThreshold >= c.Threshold {
		out = append(out, fmt.Sprintf("warn threshold %s is not below the threshold %s: no warning comes before a stop",
			FormatSize(c.WarnThreshold), FormatSize(c.Threshold)))
	}
	return out
}

// resolveSize parses a size option and resolves a percentage of MemTotal to bytes.
func resolveSize(s string, memTotal func() (uint64, error)) (SizeSpec, uint64, error) {
	spec, err := ParseSize(s)
	if err != nil {
		return SizeSpec{}, 0, fmt.Errorf("invalid size: %w", err)
	}
	if spec.Percent == 0 {
		return spec, spec.Bytes, nil
	}
	total, err := memTotal()
	if err != nil {
		return SizeSpec{}, 0, fmt.Errorf("cannot resolve a percentage: %w", err)
	}
	b := spec.Resolve(total)
	if b == 0 {
		return SizeSpec{}, 0, fmt.Errorf("resolves to 0 bytes of %d", total)
	}
	return spec, b, nil
}

// ParseLevel parses a log level name: debug, info, warn (or warning), error.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level (use debug, info, warn or error)")
}
