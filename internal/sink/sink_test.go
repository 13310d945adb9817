package sink

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/metrics"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func hog() event.Event {
	return event.Event{
		Time: t0, Proc: proc.Info{PID: 4242, Comm: "x\nlevel=ERROR msg=fake\x1b[2J", UID: 0, RSS: 21 << 30, Cmdline: "python3 train.py"},
		Memory: 21 << 30, Threshold: 20 << 30, Considered: 900, Candidates: 3,
	}
}

func TestLogEntries(t *testing.T) {
	var buf bytes.Buffer
	l := Log{L: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, e := range []event.Event{
		with(hog(), func(e *event.Event) { e.Kind, e.Signal = event.Signal, "SIGTERM" }),
		with(hog(), func(e *event.Event) {
			e.Kind, e.Signal, e.After, e.Time = event.Signal, "SIGKILL", 5*time.Second, t0.Add(5*time.Second)
		}),
		with(hog(), func(e *event.Event) { e.Kind, e.Outcome, e.Took = event.Outcome, "killed", 5100*time.Millisecond }),
		with(hog(), func(e *event.Event) { e.Kind, e.Outcome, e.Err = event.Outcome, "failed", errors.New("EPERM") }),
		with(hog(), func(e *event.Event) { e.Kind, e.Outcome = event.Outcome, "gone" }),
		with(hog(), func(e *event.Event) { e.Kind, e.Outcome, e.Took = event.Outcome, "exited", time.Second }),
		with(hog(), func(e *event.Event) { e.Kind, e.Outcome = event.Outcome, "abandoned" }),
		with(hog(), func(e *event.Event) { e.Kind, e.Signal, e.DryRun = event.WouldStop, "SIGTERM", true }),
		with(hog(), func(e *event.Event) { e.Kind, e.Reason = event.Spared, "user:backup" }),
		with(hog(), func(e *event.Event) { e.Kind, e.Warn, e.Reason = event.Warn, 16<<30, "name:x" }),
		with(hog(), func(e *event.Event) { e.Kind, e.Metric = event.NotOver, proc.MetricPSS }),
		with(hog(), func(e *event.Event) { e.Kind, e.At = event.Wait, t0.Add(time.Minute) }),
		with(hog(), func(e *event.Event) { e.Kind, e.At = event.Forgiven, t0.Add(-time.Second) }),
		{Kind: event.Scanned, Time: t0, Failed: 2, FirstErr: errors.New("EACCES")},
		{Kind: event.ScanFailed, Time: t0, Err: errors.New("EMFILE")},
		{Kind: event.Triggered, Time: t0, Grown: 1, Headroom: 2},
		{Kind: event.Finishing, Time: t0, InFlight: 3},
	} {
		l.Handle(e)
	}
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 17 {
		t.Fatalf("%d lines, want 17:\n%s", len(lines), out)
	}
	for _, want := range []string{
		`time=2026-01-02T03:04:05.000Z level=WARN msg="terminating PID 4242 (x\\nlevel=ERROR msg=fake\\x1b[2J) of user root: rss 21.0 GiB over the threshold of 20.0 GiB" pid=4242 comm="x\nlevel=ERROR msg=fake\x1b[2J" uid=0 user=root rss_bytes=22548578304 threshold_bytes=21474836480 cmd="python3 train.py" signal=SIGTERM dry_run=false considered=900 over=3 message_id=` + MsgAction,
		`time=2026-01-02T03:04:10.000Z level=WARN msg="killing PID 4242 (x\\nlevel=ERROR msg=fake\\x1b[2J) of user root: still running 5s after SIGTERM"`,
		`msg="PID 4242 (x\\nlevel=ERROR msg=fake\\x1b[2J) killed with SIGKILL"`,
		`outcome=killed message_id=` + MsgOutcome + ` took=5.1s`,
		`level=ERROR msg="could not stop PID 4242 (x\\nlevel=ERROR msg=fake\\x1b[2J): EPERM"`,
		`was already gone; nothing sent`,
		`exited 1s after SIGTERM`,
		`level=WARN msg="daemon stopping: gave up on PID 4242`,
		`msg="dry run: would terminate PID 4242`,
		`signal=SIGTERM dry_run=true`,
		`msg="sparing protected PID 4242 (x\\nlevel=ERROR msg=fake\\x1b[2J) of user root: rss 21.0 GiB over the threshold of 20.0 GiB (user:backup)"`,
		`reason=user:backup message_id=` + MsgSpared,
		`is over the warning threshold: rss 21.0 GiB over 16.0 GiB" `,
		`warn_threshold_bytes=17179869184 message_id=` + MsgWarn + ` protected=name:x`,
		`no longer over the threshold; not signalled" pid=4242`,
		`metric=pss memory_bytes=22548578304`,
		`waiting out the sustain period`,
		`forgiven" pid=4242 over_for=1s`,
		`msg="some processes could not be read" count=2 error=EACCES`,
		`level=ERROR msg="scan failed" error=EMFILE`,
		`grown_bytes=1 headroom_bytes=2`,
		`msg="stopping: finishing 3 stops in progress first" in_flight=3`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	// No raw control byte reaches the log from a process name.
	if strings.ContainsAny(out, "\x1b\r") {
		t.Errorf("raw control character in the log")
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "time=") {
			t.Errorf("a name forged a line: %q", l)
		}
	}
}

func with(e event.Event, f func(*event.Event)) event.Event {
	f(&e)
	return e
}

func TestStatus(t *testing.T) {
	s := &Status{Threshold: 20 << 30, DryRun: true}
	if s.Dirty() || s.Line() != "Watching 0 processes, threshold 20.0 GiB (dry run); last action: none" {
		t.Errorf("initial %q", s.Line())
	}
	s.Handle(event.Event{Kind: event.Scanned, Considered: 7})
	s.Handle(with(hog(), func(e *event.Event) { e.Kind = event.WouldStop }))
	if !s.Dirty() {
		t.Error("an action did not make the status dirty")
	}
	if got := s.Line(); got != `Watching 7 processes, threshold 20.0 GiB (dry run); last action: would stop 4242 (x\nlevel=ERROR msg=fake\x1b[2J) at 03:04:05` {
		t.Errorf("line %q", got)
	}
	if s.Dirty() {
		t.Error("Line did not clear Dirty")
	}
	s.Handle(with(hog(), func(e *event.Event) { e.Kind, e.Signal = event.Signal, "SIGKILL" }))
	if got := s.Line(); !strings.HasSuffix(got, "last action: SIGKILL to 4242 (x\\nlevel=ERROR msg=fake\\x1b[2J) at 03:04:05") {
		t.Errorf("line %q", got)
	}
}

func TestMetricsSinkWritesFileOffTheLoop(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mm.prom")
	var logs bytes.Buffer
	m := metrics.New("test", 20<<30, 0)
	s := NewMetrics(m, path, slog.New(slog.NewTextHandler(&logs, nil)))
	for _, e := range []event.Event{
		{Kind: event.Signal, Signal: "SIGTERM"},
		{Kind: event.WouldStop},
		{Kind: event.Spared, Reason: "pid 1"},
		{Kind: event.Warn},
		{Kind: event.ScanFailed},
		{Kind: event.Scanned, Time: t0, Duration: time.Millisecond, Considered: 5, Largest: 1 << 30},
		{Kind: event.Outcome, Outcome: "exited"},
	} {
		s.Handle(e)
	}
	s.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`memory_monitor_signals_sent_total{signal="SIGTERM"} 1`, `memory_monitor_stops_total{outcome="exited"} 1`,
		`memory_monitor_spared_total{reason="pid 1"} 1`, "memory_monitor_dry_run_decisions_total 1", "memory_monitor_warnings_total 1",
		"memory_monitor_scans_total 1", "memory_monitor_scan_errors_total 1", "memory_monitor_processes 5"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("no %q in the metrics file", want)
		}
	}
	// A directory that does not exist: reported once, and the sink goes on.
	bad := NewMetrics(m, filepath.Join(dir, "no", "mm.prom"), slog.New(slog.NewTextHandler(&logs, nil)))
	bad.Handle(event.Event{Kind: event.Scanned})
	bad.Handle(event.Event{Kind: event.Scanned})
	bad.Close()
	bad.Close()
	if n := strings.Count(logs.String(), "cannot write the metrics file"); n != 1 {
		t.Errorf("%d failure reports, want 1:\n%s", n, logs.String())
	}
	// Without a path: counting only.
	off := NewMetrics(m, "", nil)
	off.Handle(event.Event{Kind: event.Outcome, Outcome: "killed"})
	off.Close()
}
