// Package sink holds the consumers of the daemon's events: the log (journal and file),
// the metrics, and systemd's STATUS line. Each is an event.Sink.
package sink

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/proc"
	"github.com/memory-monitor/memory-monitor/internal/report"
)

// MESSAGE_IDs of the journal entries, fixed forever so that filters keep working.
const (
	// MsgAction marks every signal sent and every dry-run decision.
	MsgAction = "0dd4266e9e43475fa2c798fff57e3afa"
	// MsgOutcome marks how a stop ended: exited, killed, gone, failed, abandoned.
	MsgOutcome = "0e7bfcfd95304fe3b7e7af0f07c49fe2"
	// MsgSpared marks a protected process over the threshold that was left alone.
	MsgSpared = "e842209cf7e84ded91dd239f0e4e7fde"
	// MsgStarted marks the start-up line with the effective configuration.
	MsgStarted = "fa013506715a458f954941e56b86baa0"
	// MsgWarn marks a process crossing --warn-threshold (priority warning).
	MsgWarn = "aa42224a747247dc8e37557d4b6c278d"
)

// Log writes events to a slog.Logger: the journal with structured fields, and the log
// file. The message text names the process, its user and its size too, so that the
// journal's default view and `systemctl status` say what was stopped; names in it are
// sanitized, and the fields carry the raw values.
type Log struct {
	L *slog.Logger
}

// Handle implements event.Sink.
func (s Log) Handle(e event.Event) {
	l := logAt{s.L, e.Time}
	if s.handleBudget(l, e) {
		return
	}
	switch e.Kind {
	case event.Signal:
		var msg string
		switch {
		case e.Signal == "SIGTERM":
			msg = fmt.Sprintf("terminating %s: %s over the threshold of %s", who(e), measure(e), config.FormatSize(e.Threshold))
		case e.After > 0:
			msg = fmt.Sprintf("killing %s: still running %s after SIGTERM", who(e), e.After.Round(time.Millisecond))
		default:
			msg = fmt.Sprintf("killing %s: %s over the threshold of %s", who(e), measure(e), config.FormatSize(e.Threshold))
		}
		l.Warn(msg, append(procAttrs(e), "signal", e.Signal, "dry_run", false,
			"considered", e.Considered, "over", e.Candidates, "message_id", MsgAction)...)
	case event.WouldStop:
		l.Warn(fmt.Sprintf("dry run: would terminate %s: %s over the threshold of %s", who(e), measure(e), config.FormatSize(e.Threshold)),
			append(procAttrs(e), "signal", e.Signal, "dry_run", true,
				"considered", e.Considered, "over", e.Candidates, "message_id", MsgAction)...)
	case event.Outcome:
		attrs := append(procAttrs(e), "outcome", e.Outcome, "message_id", MsgOutcome)
		if e.Took > 0 {
			attrs = append(attrs, "took", e.Took.Round(time.Millisecond))
		}
		switch e.Outcome {
		case "gone":
			l.Info(fmt.Sprintf("%s was already gone; nothing sent", short(e)), attrs...)
		case "exited":
			l.Info(fmt.Sprintf("%s exited %s after SIGTERM", short(e), e.Took.Round(time.Millisecond)), attrs...)
		case "killed":
			l.Info(fmt.Sprintf("%s killed with SIGKILL", short(e)), attrs...)
		case "abandoned":
			l.Warn(fmt.Sprintf("daemon stopping: gave up on %s before it ended", short(e)), attrs...)
		default:
			l.Error(fmt.Sprintf("could not stop %s: %v", short(e), e.Err), append(attrs, "error", e.Err)...)
		}
	case event.NotOver:
		l.Debug(fmt.Sprintf("%s no longer over the threshold; not signalled", short(e)), procAttrs(e)...)
	case event.Spared:
		l.Info(fmt.Sprintf("sparing protected %s: %s over the threshold of %s (%s)", who(e), measure(e), config.FormatSize(e.Threshold), e.Reason),
			append(procAttrs(e), "reason", e.Reason, "message_id", MsgSpared)...)
	case event.Warn:
		attrs := append(procAttrs(e), "warn_threshold_bytes", e.Warn, "message_id", MsgWarn)
		if e.Reason != "" {
			attrs = append(attrs, "protected", e.Reason)
		}
		l.Warn(fmt.Sprintf("%s is over the warning threshold: %s over %s", who(e), measure(e), config.FormatSize(e.Warn)), attrs...)
	case event.Wait:
		l.Debug(fmt.Sprintf("%s over the threshold; waiting out the sustain period", short(e)),
			append(procAttrs(e), "act_at", e.At)...)
	case event.Forgiven:
		l.Debug(fmt.Sprintf("%s back below the threshold within the sustain period; forgiven", short(e)),
			"pid", e.Proc.PID, "over_for", e.Time.Sub(e.At).Round(time.Millisecond))
	case event.Scanned:
		if e.FirstErr != nil {
			l.Debug("some processes could not be read", "count", e.Failed, "error", e.FirstErr)
		}
	case event.ScanFailed:
		l.Error("scan failed", "error", e.Err)
	case event.Triggered:
		if l.Enabled(context.Background(), slog.LevelDebug) { // the attributes would allocate
			l.Debug("fast path: memory grew past the headroom; full scan now",
				"grown_bytes", e.Grown, "headroom_bytes", e.Headroom)
		}
	case event.Finishing:
		l.Info(fmt.Sprintf("stopping: finishing %d stops in progress first", e.InFlight), "in_flight", e.InFlight)
	}
}

// logAt logs with the event's time as the record's, so that the log shows when things
// happened (a SIGKILL exactly one grace period after its SIGTERM), not when they were
// written down.
type logAt struct {
	l *slog.Logger
	t time.Time
}

func (a logAt) log(level slog.Level, msg string, attrs ...any) {
	ctx := context.Background()
	if !a.l.Enabled(ctx, level) {
		return
	}
	t := a.t
	if t.IsZero() {
		t = time.Now()
	}
	r := slog.NewRecord(t, level, msg, 0)
	r.Add(attrs...)
	a.l.Handler().Handle(ctx, r)
}

func (a logAt) Debug(msg string, attrs ...any) { a.log(slog.LevelDebug, msg, attrs...) }
func (a logAt) Info(msg string, attrs ...any)  { a.log(slog.LevelInfo, msg, attrs...) }
func (a logAt) Warn(msg string, attrs ...any)  { a.log(slog.LevelWarn, msg, attrs...) }
func (a logAt) Error(msg string, attrs ...any) { a.log(slog.LevelError, msg, attrs...) }

// Enabled reports whether level is logged.
func (a logAt) Enabled(ctx context.Context, level slog.Level) bool { return a.l.Enabled(ctx, level) }

// who names the process in a message: PID, sanitized name and user.
func who(e event.Event) string {
	return fmt.Sprintf("PID %d (%s) of user %s", e.Proc.PID, report.Sanitize(e.Proc.Comm), report.Sanitize(proc.UserName(e.Proc.UID)))
}

func short(e event.Event) string {
	return fmt.Sprintf("PID %d (%s)", e.Proc.PID, report.Sanitize(e.Proc.Comm))
}

// measure is "rss 21.3 GiB" (or pss, or rss+swap).
func measure(e event.Event) string {
	return strings.ToLower(e.Metric.Label()) + " " + config.FormatSize(e.Memory)
}

// procAttrs are the fields that identify a process in every entry about it. With
// --metric=pss or swap, "metric" and "memory_bytes" tell what the threshold was
// compared with.
func procAttrs(e event.Event) []any {
	in := e.Proc
	attrs := []any{"pid", in.PID, "comm", in.Comm, "uid", in.UID, "user", proc.UserName(in.UID), "rss_bytes", in.RSS}
	if e.Metric != proc.MetricRSS {
		attrs = append(attrs, "metric", e.Metric.String(), "memory_bytes", e.Memory)
	}
	attrs = append(attrs, "threshold_bytes", e.Threshold, "cmd", in.Cmdline)
	if e.Origin != nil { // the stop entries name the job too
		for _, a := range e.Origin.Attrs() {
			attrs = append(attrs, a)
		}
	}
	return append(attrs, groupAttrs(e.Group)...)
}
