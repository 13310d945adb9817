package config

import (
	"testing"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/proc"
)

func TestLoadVictimOptions(t *testing.T) {
	r := valid()
	r.Protect = []string{"name:sshd", "user:0"}
	r.Metric, r.Sustain, r.WarnThreshold = "pss", "2s", "16G"
	c, err := Load(r, flagNames, noMemTotal)
	if err != nil {
		t.Fatal(err)
	}
	if c.Metric != proc.MetricPSS || c.Sustain != 2*time.Second || c.WarnThreshold != 16<<30 {
		t.Errorf("Load = %+v", c)
	}
	if got := len(c.Protect.Rules()); got != 2+7 {
		t.Errorf("%d rules, want the 2 given and the 7 built-in", got)
	}
	r.NoDefaultProtect = true
	if c, _ = Load(r, flagNames, noMemTotal); len(c.Protect.Rules()) != 2 {
		t.Errorf("NoDefaultProtect: %d rules, want 2", len(c.Protect.Rules()))
	}
	// Unset (as a caller that predates these options leaves them): the old behaviour.
	c, err = Load(valid(), flagNames, noMemTotal)
	if err != nil || c.Metric != proc.MetricRSS || c.Sustain != 0 || c.WarnThreshold != 0 {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	for _, off := range []string{"off", "OFF", "0", ""} {
		r := valid()
		r.WarnThreshold = off
		if c, err := Load(r, flagNames, noMemTotal); err != nil || c.WarnThreshold != 0 {
			t.Errorf("warn-threshold %q: %d, %v; want off", off, c.WarnThreshold, err)
		}
	}
	r = valid()
	r.WarnThreshold = "50%"
	if c, err := Load(r, flagNames, func() (uint64, error) { return 32 << 30, nil }); err != nil || c.WarnThreshold != 16<<30 {
		t.Errorf("warn-threshold 50%%: %d, %v", c.WarnThreshold, err)
	}
}

func TestLoadVictimErrorsNameTheOptionAndRule(t *testing.T) {
	checkLoadErrors(t, []loadErrorCase{
		{func(r *Raw) { r.Protect = []string{"name:sshd", "cmdline:(["} }, flagNames, `--protect="cmdline:([": invalid regular expression`},
		{func(r *Raw) { r.Protect = []string{"user:nosuchuser"} }, envNames, `MEMORY_MONITOR_PROTECT="user:nosuchuser": unknown user`},
		{func(r *Raw) { r.Protect = []string{"sshd"} }, envNames, `MEMORY_MONITOR_PROTECT="sshd": not KIND:PATTERN`},
		{func(r *Raw) { r.Protect = []string{"name:[x"} }, flagNames, `--protect="name:[x": invalid glob`},
		{func(r *Raw) { r.Metric = "vsz" }, flagNames, `--metric="vsz": unknown metric`},
		{func(r *Raw) { r.Metric = "RSS+swap" }, envNames, `MEMORY_MONITOR_METRIC="RSS+swap": unknown metric`},
		{func(r *Raw) { r.Sustain = "-1s" }, flagNames, `--sustain="-1s": must not be negative`},
		{func(r *Raw) { r.Sustain = "a while" }, envNames, `MEMORY_MONITOR_SUSTAIN="a while": invalid duration`},
		{func(r *Raw) { r.WarnThreshold = "20G" }, flagNames, `--warn-threshold="20G": must be below the threshold (20.0 GiB)`},
		{func(r *Raw) { r.WarnThreshold = "30G" }, envNames, `MEMORY_MONITOR_WARN_THRESHOLD="30G": must be below the threshold`},
		{func(r *Raw) { r.WarnThreshold = "lots" }, flagNames, `--warn-threshold="lots": invalid size`},
	})
}
