package sink

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/notify"
)

// The stop entries name the job: working directory, unit, slice and CI runner,
// sanitized; entries without an origin have none of these fields.
func TestLogNamesTheJob(t *testing.T) {
	var b bytes.Buffer
	l := Log{L: slog.New(slog.NewTextHandler(&b, nil))}
	e := ownerEvent(event.Signal, nil)
	e.Signal = "SIGTERM"
	e.Origin = &notify.Origin{Cwd: "/home/alice/job\x1b[2J", Unit: "session-3.scope", Slice: "user-1000.slice",
		Runner: notify.Runner{PID: 77, Kind: "gitlab-runner", Cmdline: "gitlab-runner run"}}
	l.Handle(e)
	e.Kind, e.Outcome = event.Outcome, "exited"
	l.Handle(e)
	e.Origin = nil
	l.Handle(e)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	for _, line := range lines[:2] {
		for _, f := range []string{`cwd=/home/alice/job\x1b[2J`, "unit=session-3.scope", "slice=user-1000.slice",
			"job_runner=gitlab-runner", "job_runner_pid=77", `job_runner_cmdline="gitlab-runner run"`} {
			if !strings.Contains(line, f) {
				t.Errorf("no %s in %s", f, line)
			}
		}
		if strings.ContainsRune(line, 0x1b) {
			t.Errorf("raw ESC in %q", line)
		}
	}
	if strings.Contains(lines[2], "cwd=") {
		t.Errorf("an entry without an origin names one: %s", lines[2])
	}
}
