package config

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/proc"
)

func TestParseSize(t *testing.T) {
	const (
		K = 1 << 10
		M = 1 << 20
		G = 1 << 30
		T = 1 << 40
	)
	for _, tc := range []struct {
		in      string
		bytes   uint64
		percent float64
		err     string
	}{
		{in: "25", bytes: 25 * G}, // a plain number is GiB, as the old script had it
		{in: "20G", bytes: 20 * G},
		{in: "1.5G", bytes: G + G/2},
		{in: "0.5", bytes: G / 2},
		{in: "512M", bytes: 512 * M},
		{in: "512m", bytes: 512 * M},
		{in: "64MiB", bytes: 64 * M},
		{in: "64MB", bytes: 64 * M}, // base 1024, as in systemd
		{in: "100K", bytes: 100 * K},
		{in: "100KiB", bytes: 100 * K},
		{in: "2T", bytes: 2 * T},
		{in: "2TB", bytes: 2 * T},
		{in: "4096B", bytes: 4096},
		{in: " 20G ", bytes: 20 * G},
		{in: "20 G", bytes: 20 * G},
		{in: "50%", percent: 50},
		{in: "12.5%", percent: 12.5},
		{in: "100%", percent: 100},
		{in: "", err: "empty"},
		{in: "abc", err: `"abc" is not a size`},
		{in: "lots", err: `"lots" is not a size`},
		{in: "0", err: "greater than zero"},
		{in: "0G", err: "greater than zero"},
		{in: "-5G", err: "greater than zero"},
		{in: "20X", err: `unknown unit "X"`},
		{in: "20GG", err: "unknown unit"},
		{in: "1e3", err: "unknown unit"},
		{in: "0x10", err: "unknown unit"},
		{in: "NaN", err: "not a size"},
		{in: "Inf", err: "not a size"},
		{in: "1.2.3G", err: "not a number"},
		{in: "0%", err: "above 0"},
		{in: "101%", err: "at most 100"},
		{in: "-5%", err: "above 0"},
		{in: "x%", err: "not a number"},
		{in: "0.1B", err: "less than one byte"},
		{in: "99999999999T", err: "too large"},
	} {
		got, err := ParseSize(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSize(%q) = %+v, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.Bytes != tc.bytes || got.Percent != tc.percent {
			t.Errorf("ParseSize(%q) = %+v, %v; want bytes %d percent %v", tc.in, got, err, tc.bytes, tc.percent)
		}
	}
}

func TestSizeSpecResolveAndString(t *testing.T) {
	if got := (SizeSpec{Percent: 25}).Resolve(64 << 30); got != 16<<30 {
		t.Errorf("25%% of 64 GiB = %d", got)
	}
	if got := (SizeSpec{Bytes: 5}).Resolve(64 << 30); got != 5 {
		t.Errorf("absolute size resolved to %d", got)
	}
	for _, tc := range []struct {
		s    SizeSpec
		want string
	}{
		{SizeSpec{Percent: 12.5}, "12.5%"},
		{SizeSpec{Bytes: 20 << 30}, "20.0 GiB"},
		{SizeSpec{Bytes: 512}, "512 B"},
		{SizeSpec{Bytes: 1536 << 10}, "1.5 MiB"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.s, got, tc.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{in: "120", want: 2 * time.Minute}, // a plain number is seconds
		{in: "30", want: 30 * time.Second},
		{in: "0.5", want: 500 * time.Millisecond},
		{in: "0", want: 0},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "2m", want: 2 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "-1s", want: -time.Second}, // range checks are Load's job
		{in: "", err: true},
		{in: "soon", err: true},
		{in: "5 minutes", err: true},
		{in: "1e9", err: true},
		{in: "99999999999999999999", err: true},
	} {
		got, err := ParseDuration(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
	// A well-formed duration past what fits is too long, not malformed.
	for in, want := range map[string]string{
		"2562048h":   "too long",
		"2562047h":   "",
		"1h2562048h": "too long",
		"5 minutes":  "not a duration",
		"10x":        "not a duration",
		"1e9":        "not a duration",
	} {
		_, err := ParseDuration(in)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("ParseDuration(%q): %v, want %q", in, err, want)
		}
	}
}

func valid() Raw {
	return Raw{Threshold: "20G", Interval: "60s", Grace: "5s", LogFile: "/var/log/memory-monitor.log", LogLevel: "info", ProcRoot: "/proc"}
}

func flagNames(flag string) string { return "--" + flag }

// envNames names options as the daemon's variables, as the CLI does for values that came
// from the environment.
func envNames(flag string) string {
	return "MEMORY_MONITOR_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func noMemTotal() (uint64, error) { return 0, errors.New("unexpected meminfo read") }

func TestLoadDefaults(t *testing.T) {
	c, err := Load(valid(), flagNames, noMemTotal)
	if err != nil {
		t.Fatal(err)
	}
	if c.Threshold != 20<<30 || c.ThresholdSpec != (SizeSpec{Bytes: 20 << 30}) ||
		c.Interval != time.Minute || c.Grace != 5*time.Second || c.DryRun ||
		c.LogFile != "/var/log/memory-monitor.log" || c.LogLevel != slog.LevelInfo || c.ProcRoot != "/proc" {
		t.Errorf("Load = %+v, want the documented defaults", c)
	}
}

func TestLoadPercentUsesMemTotal(t *testing.T) {
	r := valid()
	r.Threshold = "25%"
	c, err := Load(r, flagNames, func() (uint64, error) { return 64 << 30, nil })
	if err != nil || c.Threshold != 16<<30 {
		t.Fatalf("Load(25%%) = %d, %v; want 16 GiB", c.Threshold, err)
	}
	_, err = Load(r, flagNames, func() (uint64, error) { return 0, errors.New("no meminfo") })
	if err == nil || !strings.Contains(err.Error(), "no meminfo") {
		t.Errorf("unreadable MemTotal: %v", err)
	}
}

func TestLoadErrorsNameTheOption(t *testing.T) {
	checkLoadErrors(t, []loadErrorCase{
		{func(r *Raw) { r.Threshold = "abc" }, flagNames, `--threshold="abc": invalid size`},
		{func(r *Raw) { r.Threshold = "lots" }, envNames, `MEMORY_MONITOR_THRESHOLD="lots": invalid size`},
		{func(r *Raw) { r.Threshold = "0" }, flagNames, `--threshold="0": invalid size: size must be greater than zero`},
		{func(r *Raw) { r.Threshold = "-5G" }, flagNames, `--threshold="-5G"`},
		{func(r *Raw) { r.Threshold = "20X" }, flagNames, `--threshold="20X": invalid size: unknown unit`},
		{func(r *Raw) { r.Interval = "0" }, flagNames, `--interval="0": must be at least 100ms`},
		{func(r *Raw) { r.Interval = "50ms" }, envNames, `MEMORY_MONITOR_INTERVAL="50ms": must be at least 100ms`},
		{func(r *Raw) { r.Interval = "often" }, flagNames, `--interval="often": invalid duration`},
		{func(r *Raw) { r.Grace = "-1s" }, flagNames, `--grace="-1s": must not be negative`},
		{func(r *Raw) { r.Grace = "x" }, envNames, `MEMORY_MONITOR_GRACE="x": invalid duration`},
		{func(r *Raw) { r.LogLevel = "loud" }, flagNames, `--log-level="loud": unknown log level`},
		{func(r *Raw) { r.LogLevel = "verbose" }, envNames, `MEMORY_MONITOR_LOG_LEVEL="verbose"`},
		{func(r *Raw) { r.Interval = "2562048h" }, flagNames, `--interval="2562048h": invalid duration: duration is too long`},
	})
}

// A threshold that would stop ordinary processes (a typo such as 20MB for 20GB) is
// refused unless confirmed, and the error says how to confirm it.
func TestLoadRefusesLowThresholdsUnlessAllowed(t *testing.T) {
	const how = "confirm it with --allow-low-threshold (MEMORY_MONITOR_ALLOW_LOW_THRESHOLD=true)"
	checkLoadErrors(t, []loadErrorCase{
		{func(r *Raw) { r.Threshold = "20MB" }, envNames, `MEMORY_MONITOR_THRESHOLD="20MB": 20.0 MiB is below 256.0 MiB, which would stop ordinary processes`},
		{func(r *Raw) { r.Threshold = "1B" }, flagNames, `--threshold="1B": 1 B is below 256.0 MiB`},
		{func(r *Raw) { r.Threshold = "1K" }, flagNames, `--threshold="1K": 1.0 KiB is below`},
		{func(r *Raw) { r.Threshold = "0.0000001%" }, flagNames, `--threshold="0.0000001%":`},
		{func(r *Raw) { r.Threshold = "255M" }, flagNames, `--threshold="255M":`},
		{func(r *Raw) { r.WarnThreshold = "64M" }, envNames, `MEMORY_MONITOR_WARN_THRESHOLD="64M": 64.0 MiB is below 256.0 MiB`},
	})
	r := valid()
	r.Threshold = "20MB"
	if _, err := Load(r, flagNames, noMemTotal); err == nil || !strings.Contains(err.Error(), how) {
		t.Errorf("error does not say how to confirm: %v", err)
	}
	for _, tc := range []struct{ threshold, warn string }{{"256M", "off"}, {"64M", "off"}, {"512M", "64M"}, {"1B", "off"}} {
		r := valid()
		r.Threshold, r.WarnThreshold = tc.threshold, tc.warn
		r.AllowLowThreshold = tc.threshold != "256M"
		if c, err := Load(r, flagNames, noMemTotal); err != nil || c.AllowLowThreshold != r.AllowLowThreshold {
			t.Errorf("threshold %s warn %s allowed %v: %+v, %v", tc.threshold, tc.warn, r.AllowLowThreshold, c, err)
		}
	}
	r = valid()
	r.Threshold = "0.0000001%"
	r.AllowLowThreshold = true
	if c, err := Load(r, flagNames, func() (uint64, error) { return 64 << 30, nil }); err != nil || c.Threshold == 0 {
		t.Errorf("a tiny percentage, confirmed: %d, %v", c.Threshold, err)
	}
}

func TestWarnings(t *testing.T) {
	const G = 1 << 30
	for _, tc := range []struct {
		c         Config
		mem, swap uint64
		want      []string // substrings, one per warning, in order
	}{
		{Config{Threshold: 20 * G}, 64 * G, 8 * G, nil},
		{Config{Threshold: 200 << 40}, 23 * G, 0, []string{"threshold 200.0 TiB is not below MemTotal (23.0 GiB): no process can ever reach it"}},
		// RSS never exceeds MemTotal, whatever the swap.
		{Config{Threshold: 30 * G}, 23 * G, 16 * G, []string{"not below MemTotal (23.0 GiB)"}},
		// RSS+swap can.
		{Config{Threshold: 30 * G, Metric: proc.MetricSwap}, 23 * G, 16 * G, nil},
		{Config{Threshold: 40 * G, Metric: proc.MetricSwap}, 23 * G, 16 * G, []string{"not below MemTotal + SwapTotal (39.0 GiB)"}},
		{Config{Threshold: 16 * G, WarnThreshold: 20 * G}, 23 * G, 0, []string{"warn threshold 20.0 GiB is not below the threshold"}},
		{Config{Threshold: 64 << 20, AllowLowThreshold: true}, 23 * G, 0, []string{"threshold 64.0 MiB is below 256.0 MiB (allowed by --allow-low-threshold)"}},
		{Config{Threshold: 200 << 40}, 0, 0, nil}, // MemTotal unknown: nothing to compare with
	} {
		got := Warnings(tc.c, tc.mem, tc.swap)
		ok := len(got) == len(tc.want)
		for i := 0; ok && i < len(got); i++ {
			ok = strings.Contains(got[i], tc.want[i])
		}
		if !ok {
			t.Errorf("Warnings(%+v, %d, %d) = %q, want %q", tc.c, tc.mem, tc.swap, got, tc.want)
		}
	}
}

// loadErrorCase is one bad value for Load: edit spoils valid(), name says how the
// option was given, and the error must start with want.
type loadErrorCase struct {
	edit func(*Raw)
	name Namer
	want string
}

func checkLoadErrors(t *testing.T, cases []loadErrorCase) {
	t.Helper()
	for _, tc := range cases {
		r := valid()
		tc.edit(&r)
		_, err := Load(r, tc.name, noMemTotal)
		var ce *Error
		if err == nil || !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Load(%+v) error = %v; want prefix %q", r, err, tc.want)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warn": slog.LevelWarn,
		"warning": slog.LevelWarn, "Error": slog.LevelError,
	} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseLevel("trace"); err == nil {
		t.Error("ParseLevel(trace) succeeded")
	}
}
