// Package notify tells the owner of a process that memory-monitor is about to stop it,
// or has stopped it, where that person is looking: the process's own standard error (a
// terminal, a CI job log, a service's journal stream, a nohup file) and, optionally, the
// terminals of the owner's login sessions. It also finds where a process came from (its
// working directory, its systemd unit and the CI runner or job service above it) so that
// the administrator's log names the job.
//
// Everything here is best effort and never blocks: a message that cannot be delivered at
// once is not delivered, and the caller logs the reason at debug level.
package notify

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// MaxLine is the longest line written, newline included: PIPE_BUF, so that a write to a
// pipe shared with the process's own output is atomic and never interleaved with it.
const MaxLine = 4096

// maxField bounds each piece of text that comes from a process (after escaping), so the
// fixed part of a line always survives.
const maxField = 200

const prefix = "memory-monitor: "

const seeMan = " See: man memory-monitor"

// Target is the process a line is about.
type Target struct {
	PID  int
	Name string // comm or a short command name; sanitized when the line is built
}

// Measure is what was measured and the limit it was compared with. Group is empty for
// a per-process limit; for a group budget it names the group (e.g. "user alice" or
// "unit build.service") and Bytes is the group's total, of which the target is the
// largest process.
type Measure struct {
	What  string // e.g. "resident memory": MetricWords gives the words for a metric
	Bytes uint64
	Limit uint64
	Group string
}

// MetricWords names a metric in the owner's words.
func MetricWords(m proc.Metric) string {
	switch m {
	case proc.MetricPSS:
		return "proportional memory (PSS)"
	case proc.MetricSwap:
		return "resident memory plus swap"
	}
	return "resident memory"
}

// StopLine is written before the first signal: what is about to happen and why.
// grace is the time between SIGTERM and SIGKILL; zero means SIGKILL at once.
func StopLine(t Target, m Measure, grace time.Duration) string {
	var signals string
	if grace <= 0 {
		signals = "SIGKILL now."
	} else {
		signals = "SIGTERM now, SIGKILL in " + seconds(grace) + " if it is still running."
	}
	return finish(prefix + "stopping " + subject(t, m) + "; " + signals + seeMan)
}

// WouldStopLine is written in dry run where StopLine would be: nothing is sent.
func WouldStopLine(t Target, m Measure) string {
	return finish(prefix + "would stop " + subject(t, m) +
		" (dry run: no signal is sent)." + seeMan)
}

// WarnLine is written once when a process crosses the warning threshold; m.Limit is the
// warning threshold and stopAt the limit at which the process will be stopped.
func WarnLine(t Target, m Measure, stopAt uint64) string {
	var over string
	if m.Group == "" {
		over = fmt.Sprintf("%s %s is over this machine's per-process warning level of %s",
			field(m.What), size(m.Bytes), size(m.Limit))
	} else {
		over = fmt.Sprintf("the processes of %s together use %s of %s, over the warning level of %s",
			field(m.Group), size(m.Bytes), field(m.What), size(m.Limit))
	}
	return finish(fmt.Sprintf("%swarning: PID %d (%s): %s; it will be stopped at %s.%s",
		prefix, t.PID, field(t.Name), over, size(stopAt), seeMan))
}

// subject is "PID N (name): <measure> is over <limit>" for a per-process limit and
// "PID N (name), the largest process of <group>, whose processes together use ..." for
// a group budget.
func subject(t Target, m Measure) string {
	if m.Group == "" {
		return fmt.Sprintf("PID %d (%s): %s %s is over this machine's per-process limit of %s",
			t.PID, field(t.Name), field(m.What), size(m.Bytes), size(m.Limit))
	}
	return fmt.Sprintf("PID %d (%s), the largest process of %s, whose processes together use %s of %s, over the budget of %s",
		t.PID, field(t.Name), field(m.Group), size(m.Bytes), field(m.What), size(m.Limit))
}

// Result is how a stop ended.
type Result int

const (
	// Exited: the process ended after SIGTERM, within the grace period.
	Exited Result = iota
	// Killed: SIGKILL was sent (at once or when the grace period ran out) and the
	// process ended.
	Killed
	// Gone: the process had already ended before the first signal.
	Gone
	// Failed: the process could not be stopped (e.g. still there after SIGKILL).
	Failed
)

// Outcome is the end of a stop. After is the time from the first signal to the end.
type Outcome struct {
	Result Result
	After  time.Duration
}

// OutcomeLine is written once the outcome of a stop is known.
func OutcomeLine(t Target, o Outcome) string {
	who := fmt.Sprintf("%sPID %d (%s) ", prefix, t.PID, field(t.Name))
	switch o.Result {
	case Exited:
		return finish(who + "exited after SIGTERM (" + seconds(o.After) + ").")
	case Killed:
		return finish(who + "was killed with SIGKILL (" + seconds(o.After) + " after the first signal).")
	case Gone:
		return finish(who + "had already exited; nothing was sent.")
	}
	return finish(who + "could not be stopped; the administrator's log has the reason.")
}

// seconds formats a duration as the owner reads it: "5 s", "1.2 s", "0.3 s".
func seconds(d time.Duration) string {
	s := d.Seconds()
	if s == float64(int64(s)) {
		return strconv.FormatInt(int64(s), 10) + " s"
	}
	return strconv.FormatFloat(s, 'f', 1, 64) + " s"
}

// size formats bytes as the daemon's own log does.
func size(b uint64) string { return config.FormatSize(b) }

// field sanitizes text from a process and bounds its length.
func field(s string) string {
	s = Sanitize(s)
	if len(s) <= maxField {
		return s
	}
	return truncate(s, maxField-3) + "..."
}

// finish makes s one line of at most MaxLine bytes ending in a newline. Every piece
// of s that came from a process has been through field, so s has no control character.
func finish(s string) string {
	if len(s) > MaxLine-1 {
		s = truncate(s, MaxLine-1)
	}
	return s + "\n"
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Sanitize makes text from a process safe to put on a terminal or into a log line:
// control characters (C0, DEL and C1, which include ESC, CSI and the OSC introducer),
// the Unicode line and paragraph separators and the bidirectional overrides are shown
// as \xNN or \uNNNN, invalid UTF-8 bytes as \xNN, and a backslash as \\ so that the
// escaping cannot be forged. The result has no byte below 0x20 and no ESC in any form.
func Sanitize(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func isClean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// unsafeRune reports the non-ASCII runes a terminal acts on or that reorder or break a
// line: C1 controls, line/paragraph separators, bidi embeddings, overrides and isolates.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x2028 || r == 0x2029:
		return true
	case r >= 0x202a && r <= 0x202e:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x200e || r == 0x200f || r == 0x061c:
		return true
	}
	return false
}
