package cli

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/budget"
	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/event"
)

func TestReword(t *testing.T) {
	for in, want := range map[string]string{
		`--threshold: expected string value but got "EOL" (<EOL>)`:                                                               `--threshold: missing value (write --threshold=VALUE)`,
		`--dry-run: bool value must be true, 1, yes, false, 0 or no but got "maybe" (from envar MEMORY_MONITOR_DRY_RUN="maybe")`: `MEMORY_MONITOR_DRY_RUN="maybe": must be true, 1, yes, false, 0 or no`,
		`--default-protect: bool value must be true, 1, yes, false, 0 or no but got "x"`:                                         `--default-protect="x": must be true, 1, yes, false, 0 or no`,
		`--top: expected a valid 64 bit int but got "x"`:                                                                         `--top="x": must be a whole number`,
		`--format must be one of "text","json" but got "xml"`:                                                                    `--format="xml": must be one of "text", "json"`,
		`unknown flag --bogus`: `unknown flag --bogus`,
	} {
		if got := reword(in); got != want {
			t.Errorf("reword(%q)\n = %q\nwant %q", in, got, want)
		}
	}
}

// The daemon validates a reload with its own command line: its flags still win.
func TestValidateArgsKeepsTheDaemonsFlags(t *testing.T) {
	root, err := filepath.Abs("../proc/testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := validateArgs([]string{"--dry-run", "--proc-root=" + root, "--grace=3s"},
		map[string]string{"MEMORY_MONITOR_DRY_RUN": "false", "MEMORY_MONITOR_GRACE": "1s", "MEMORY_MONITOR_THRESHOLD": "1G"})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.DryRun || cfg.Grace.String() != "3s" || cfg.Threshold != 1<<30 || cfg.ProcRoot != root {
		t.Errorf("got dry run %v, grace %v, threshold %d, proc root %q", cfg.DryRun, cfg.Grace, cfg.Threshold, cfg.ProcRoot)
	}
	if _, set := os.LookupEnv("MEMORY_MONITOR_THRESHOLD"); set {
		t.Error("validateArgs left the variable set")
	}
	_, err = validateArgs([]string{"--dry-run", "--proc-root=" + root}, map[string]string{"MEMORY_MONITOR_THRESHOLD": "lots"})
	if err == nil || !strings.HasPrefix(err.Error(), `MEMORY_MONITOR_THRESHOLD="lots": invalid size`) {
		t.Errorf("bad value: %v", err)
	}
}

// A reload switches the level and the log file under every holder of the logger.
func TestLiveLogSwitchesLevelAndFile(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	var stderr bytes.Buffer
	old := config.Config{LogFile: a, LogLevel: slog.LevelInfo}
	l := newLiveLog(old, &stderr)
	defer l.close()
	held := l.Logger // as the sinks hold it
	held.Debug("hidden at info")
	held.Info("first")
	new := config.Config{LogFile: b, LogLevel: slog.LevelDebug}
	l.reconfigure(old, new)
	held.Debug("second")
	l.reconfigure(new, config.Config{LogLevel: slog.LevelDebug}) // no file
	held.Info("third")
	l.queue.Flush(5 * time.Second)
	read := func(p string) string { s, _ := os.ReadFile(p); return string(s) }
	if got := read(a); !strings.Contains(got, "msg=first") || strings.Contains(got, "hidden") || strings.Contains(got, "second") {
		t.Errorf("first file:\n%s", got)
	}
	if got := read(b); !strings.Contains(got, "msg=second") || strings.Contains(got, "third") {
		t.Errorf("second file:\n%s", got)
	}
	if !strings.Contains(stderr.String(), "msg=third") || !strings.Contains(stderr.String(), "msg=second") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}

// A metrics file set by a reload starts with the counts made before it.
func TestLiveMetricsKeepsCountsAcrossAFileChange(t *testing.T) {
	dir := t.TempDir()
	prom := filepath.Join(dir, "m.prom")
	old := config.Config{Threshold: 1 << 30}
	m := newLiveMetrics("test", old, slog.New(slog.DiscardHandler))
	m.Handle(event.Event{Kind: event.Signal, Signal: "SIGTERM"})
	m.reconfigure(old, config.Config{Threshold: 2 << 30, MetricsFile: prom})
	m.Handle(event.Event{Kind: event.Outcome, Outcome: "exited"})
	m.close()
	got, err := os.ReadFile(prom)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`memory_monitor_signals_sent_total{signal="SIGTERM"} 1`, `memory_monitor_stops_total{outcome="exited"} 1`, "memory_monitor_threshold_bytes 2147483648"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("metrics file lacks %q:\n%s", want, got)
		}
	}
}

// Budgets added by a reload bring their metric families.
func TestLiveMetricsBudgetFamiliesAfterAReload(t *testing.T) {
	old := config.Config{Threshold: 1 << 30}
	m := newLiveMetrics("test", old, slog.New(slog.DiscardHandler))
	defer m.close()
	if strings.Contains(string(m.m.Format()), "memory_monitor_budget_groups") {
		t.Fatal("budget families without budgets")
	}
	withBudget := old
	withBudget.Budgets = budget.NewSet([]budget.Rule{{Kind: budget.User, Pattern: "*", Limit: 1 << 30, Size: "1G"}}, budget.DefaultLoginRange())
	m.reconfigure(old, withBudget)
	if !strings.Contains(string(m.m.Format()), "memory_monitor_budget_groups 0") {
		t.Errorf("no budget families after a reload added a budget:\n%s", m.m.Format())
	}
}
