package sink

import (
	"log/slog"
	"sync"

	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/metrics"
)

// Metrics counts events in a metrics.Metrics and, when Path is set, rewrites the
// metrics file after every full scan and every stop. The file is written by a goroutine
// of its own, so a slow file system never delays the loop: writes requested while one
// is under way collapse into one more.
type Metrics struct {
	m    *metrics.Metrics
	path string
	log  *slog.Logger

	kick chan struct{}
	done chan struct{}
	once sync.Once
}

// NewMetrics returns the sink; with a path it starts the writer, which Close stops.
func NewMetrics(m *metrics.Metrics, path string, log *slog.Logger) *Metrics {
	s := &Metrics{m: m, path: path, log: log, kick: make(chan struct{}, 1), done: make(chan struct{})}
	if path == "" {
		close(s.done)
		return s
	}
	go s.writer()
	return s
}

// Handle implements event.Sink.
func (s *Metrics) Handle(e event.Event) {
	if s.handleBudget(e) {
		return
	}
	switch e.Kind {
	case event.Signal:
		s.m.Signal(e.Signal)
	case event.WouldStop:
		s.m.DryRun()
	case event.Outcome:
		s.m.Stopped(e.Outcome)
		s.write()
	case event.Spared:
		s.m.Spared(e.Reason)
	case event.Warn:
		s.m.Warned()
	case event.Scanned:
		if e.Reused {
			s.m.Reused(e.Time)
		} else {
			s.m.Scanned(e.Duration, e.Considered, e.Largest, e.Time)
		}
		s.write()
	case event.ScanFailed:
		s.m.ScanFailed()
	}
}

func (s *Metrics) write() {
	if s.path == "" {
		return
	}
	select {
	case s.kick <- struct{}{}:
	default: // a write is already due
	}
}

// writer writes the file when kicked. A failure is logged once per outage: a missing
// directory must not flood the journal at every scan.
func (s *Metrics) writer() {
	defer close(s.done)
	failing := false
	for range s.kick {
		err := s.m.WriteFile(s.path)
		switch {
		case err != nil && !failing:
			s.log.Warn("cannot write the metrics file; will keep trying", "path", s.path, "error", err)
		case err == nil && failing:
			s.log.Info("metrics file written again", "path", s.path)
		}
		failing = err != nil
	}
}

// Close writes the file a last time and stops the writer.
func (s *Metrics) Close() {
	s.once.Do(func() {
		if s.path != "" {
			s.write()
			close(s.kick)
		}
		<-s.done
	})
}
