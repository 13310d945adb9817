package sink

import (
	"fmt"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/report"
)

// Status keeps what systemd's STATUS= line says: processes watched, the threshold, and
// the last action. The loop sends it (Line) when Dirty, or at its own pace.
type Status struct {
	Threshold uint64
	DryRun    bool

	processes int
	last      string
	dirty     bool
}

// Handle implements event.Sink.
func (s *Status) Handle(e event.Event) {
	switch e.Kind {
	case event.Signal:
		s.last = fmt.Sprintf("%s to %d (%s) at %s", e.Signal, e.Proc.PID, report.Sanitize(e.Proc.Comm), e.Time.Format(time.TimeOnly))
		s.dirty = true
	case event.WouldStop:
		s.last = fmt.Sprintf("would stop %d (%s) at %s", e.Proc.PID, report.Sanitize(e.Proc.Comm), e.Time.Format(time.TimeOnly))
		s.dirty = true
	case event.Scanned:
		s.processes = e.Considered
	}
}

// Dirty reports whether an action happened since the last Line.
func (s *Status) Dirty() bool { return s.dirty }

// Line returns the STATUS text and clears Dirty.
func (s *Status) Line() string {
	s.dirty = false
	last := s.last
	if last == "" {
		last = "none"
	}
	mode := ""
	if s.DryRun {
		mode = " (dry run)"
	}
	return fmt.Sprintf("Watching %d processes, threshold %s%s; last action: %s",
		s.processes, config.FormatSize(s.Threshold), mode, last)
}
