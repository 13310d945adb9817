// Package config turns the raw command-line and environment values into a validated
// Config with typed sizes, durations and levels, and names the offending option in every
// error so that a typo in /etc/default/memory-monitor is easy to find.
package config

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

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
	c := Config{DryRun: raw.DryRun, LogFile: raw.LogFile, ProcRoot: raw.ProcRoot}

	spec, err := ParseSize(raw.Threshold)
	if err != nil {
		return Config{}, bad("threshold", raw.Threshold, fmt.Errorf("invalid size: %w", err))
	}
	c.ThresholdSpec = spec
	c.Threshold = spec.Bytes
	if spec.Percent != 0 {
		total, err := memTotal()
		if err != nil {
			return Config{}, bad("threshold", raw.Threshold, fmt.Errorf("cannot resolve a percentage: %w", err))
		}
		c.Threshold = spec.Resolve(total)
		if c.Threshold == 0 {
			return Config{}, bad("threshold", raw.Threshold, fmt.Errorf("resolves to 0 bytes of %d", total))
		}
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
	return c, nil
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
