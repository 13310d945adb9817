package reload

import (
	"strconv"
	"strings"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/config"
)

// Change is one setting that a reload changes, for the daemon's log entry (MsgReloaded):
// "THRESHOLD 2.0 GiB -> 200.0 MiB".
type Change struct {
	Setting string // the variable without MEMORY_MONITOR_, e.g. THRESHOLD
	Old     string
	New     string
}

func (c Change) String() string { return c.Setting + " " + c.Old + " -> " + c.New }

// Diff lists the settings that differ between old and new, in the order of the man
// page. Values are compared as the daemon uses them, so "20G" and "20GiB" are the same.
func Diff(old, new config.Config) []Change {
	var out []Change
	add := func(setting, a, b string) {
		if a != b {
			out = append(out, Change{Setting: setting, Old: a, New: b})
		}
	}
	add("THRESHOLD", size(old.ThresholdSpec, old.Threshold), size(new.ThresholdSpec, new.Threshold))
	add("INTERVAL", dur(old.Interval), dur(new.Interval))
	add("GRACE", dur(old.Grace), dur(new.Grace))
	add("DRY_RUN", strconv.FormatBool(old.DryRun), strconv.FormatBool(new.DryRun))
	add("LOG_FILE", quoted(old.LogFile), quoted(new.LogFile))
	add("LOG_LEVEL", strings.ToLower(old.LogLevel.String()), strings.ToLower(new.LogLevel.String()))
	add("PROTECT", rules(old), rules(new))
	add("BUDGET", budgets(old), budgets(new))
	add("METRIC", old.Metric.String(), new.Metric.String())
	add("SUSTAIN", dur(old.Sustain), dur(new.Sustain))
	add("WARN_THRESHOLD", warn(old), warn(new))
	add("METRICS_FILE", quoted(old.MetricsFile), quoted(new.MetricsFile))
	return out
}

func size(spec config.SizeSpec, bytes uint64) string {
	if spec.Percent != 0 {
		return spec.String() + " (" + config.FormatSize(bytes) + ")"
	}
	return config.FormatSize(bytes)
}

func warn(c config.Config) string {
	if c.WarnThreshold == 0 {
		return "off"
	}
	return size(c.WarnThresholdSpec, c.WarnThreshold)
}

func dur(d time.Duration) string { return d.String() }

// quoted shows a path so that an empty one is visible and no character of it can end
// the log line.
func quoted(p string) string { return strconv.Quote(p) }

func rules(c config.Config) string {
	var out []string
	for _, r := range c.Protect.Rules() {
		out = append(out, r.String())
	}
	return strconv.Quote(strings.Join(out, ", "))
}

func budgets(c config.Config) string {
	var out []string
	for _, r := range c.Budgets.Rules() {
		out = append(out, r.String())
	}
	return strconv.Quote(strings.Join(out, " "))
}
