package sink

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/budget"
	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/notify"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// fdHandle is a fake handle that claims a real pidfd number.
type fdHandle struct {
	kill.Handle
	fd int
}

func (h fdHandle) FD() int { return h.fd }

// ownerRec records what the owner sink would have written.
type ownerRec struct {
	opened  []int    // pidfds passed to open
	lines   []string // "stderr: line" and "tty <paths> skip N: line"
	closed  int
	openErr error
	tty     uint64 // what the stderr duplicate reports as its terminal
	ttyAsk  []string
}

type recStderr struct {
	r   *ownerRec
	err error
}

func (s recStderr) Write(line string) error {
	s.r.lines = append(s.r.lines, "stderr: "+line)
	return s.err
}
func (s recStderr) TTY() uint64  { return s.r.tty }
func (s recStderr) Close() error { s.r.closed++; return nil }

func newTestOwner(t *testing.T, channels string, r *ownerRec) (*Owner, *bytes.Buffer) {
	t.Helper()
	n, err := config.ParseNotify(channels)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	o := NewOwner(n, "/nonexistent", slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	o.io = ownerIO{
		open: func(pidfd int) (ownerStderr, error) {
			r.opened = append(r.opened, pidfd)
			if r.openErr != nil {
				return nil, r.openErr
			}
			return recStderr{r: r}, nil
		},
		terminals: func(pid int, uid uint32) []string {
			r.ttyAsk = append(r.ttyAsk, fmt.Sprintf("%d/%d", pid, uid))
			return []string{"/dev/pts/7", "/dev/pts/9"}
		},
		writeTerminals: func(paths []string, uid uint32, skip uint64, line string) (int, error) {
			r.lines = append(r.lines, fmt.Sprintf("tty %v uid %d skip %d: %s", paths, uid, skip, line))
			return len(paths), nil
		},
	}
	return o, &logs
}

func ownerEvent(k event.Kind, h kill.Handle) event.Event {
	return event.Event{
		Kind: k, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Proc:   proc.Info{PID: 4242, Comm: "python3", StartTime: 77, UID: 1000, RSS: 21 << 30},
		Memory: 21 << 30, Metric: proc.MetricRSS, Threshold: 20 << 30, Warn: 16 << 30,
		Grace: 5 * time.Second, Handle: h,
	}
}

// A stop gives one stopping line and one outcome line, whatever the number of signals;
// the standard error is taken once, at the Stopping event, and closed at the outcome.
func TestOwnerStopLines(t *testing.T) {
	for _, tc := range []struct {
		outcome string
		took    time.Duration
		signals []string
		want    []string
	}{
		{"exited", 1200 * time.Millisecond, []string{"SIGTERM"}, []string{
			"stderr: memory-monitor: stopping PID 4242 (python3): resident memory 21.0 GiB is over this machine's per-process limit of 20.0 GiB; SIGTERM now, SIGKILL in 5 s if it is still running. See: man memory-monitor\n",
			"stderr: memory-monitor: PID 4242 (python3) exited after SIGTERM (1.2 s).\n",
		}},
		{"killed", 5 * time.Second, []string{"SIGTERM", "SIGKILL"}, []string{
			"stderr: memory-monitor: stopping PID 4242 (python3): resident memory 21.0 GiB is over this machine's per-process limit of 20.0 GiB; SIGTERM now, SIGKILL in 5 s if it is still running. See: man memory-monitor\n",
			"stderr: memory-monitor: PID 4242 (python3) was killed with SIGKILL (5 s after the first signal).\n",
		}},
		{"killed", 0, []string{"SIGKILL"}, []string{ // --grace=0
			"stderr: memory-monitor: stopping PID 4242 (python3): resident memory 21.0 GiB is over this machine's per-process limit of 20.0 GiB; SIGKILL now. See: man memory-monitor\n",
			"stderr: memory-monitor: PID 4242 (python3) was killed with SIGKILL (0 s after the first signal).\n",
		}},
		{"failed", 15 * time.Second, []string{"SIGTERM", "SIGKILL"}, []string{
			"stderr: memory-monitor: stopping PID 4242 (python3): resident memory 21.0 GiB is over this machine's per-process limit of 20.0 GiB; SIGTERM now, SIGKILL in 5 s if it is still running. See: man memory-monitor\n",
			"stderr: memory-monitor: PID 4242 (python3) could not be stopped; the administrator's log has the reason.\n",
		}},
	} {
		t.Run(tc.outcome+strings.Join(tc.signals, ""), func(t *testing.T) {
			r := &ownerRec{}
			o, _ := newTestOwner(t, "stderr", r)
			h := fdHandle{fd: 17}
			o.Handle(ownerEvent(event.Stopping, h))
			if len(r.lines) != 0 {
				t.Fatalf("a line was written before the first signal: %q", r.lines)
			}
			for i, sig := range tc.signals {
				e := ownerEvent(event.Signal, h)
				e.Signal = sig
				if i > 0 {
					e.After = 5 * time.Second
				}
				o.Handle(e)
			}
			// Events a stop does not speak about.
			o.Handle(ownerEvent(event.Scanned, nil))
			o.Handle(ownerEvent(event.NotOver, h))
			e := ownerEvent(event.Outcome, h)
			e.Outcome, e.Took = tc.outcome, tc.took
			o.Handle(e)
			o.Handle(e) // a second outcome for the same process says nothing more
			if !slices.Equal(r.lines, tc.want) {
				t.Errorf("lines\n%q\nwant\n%q", r.lines, tc.want)
			}
			if !slices.Equal(r.opened, []int{17}) || r.closed != 1 {
				t.Errorf("opened %v, closed %d; want the pidfd 17 opened and closed once", r.opened, r.closed)
			}
			if len(o.stops) != 0 {
				t.Errorf("%d stops still held", len(o.stops))
			}
		})
	}
}

// A warning crossing and a dry-run decision each give one line, taken and closed at once.
func TestOwnerWarnAndWouldStop(t *testing.T) {
	r := &ownerRec{}
	o, _ := newTestOwner(t, "", r) // the default: stderr
	h := fdHandle{fd: 5}
	o.Handle(ownerEvent(event.Warn, h))
	w := ownerEvent(event.WouldStop, h)
	w.DryRun, w.Signal = true, "SIGTERM"
	o.Handle(w)
	want := []string{
		"stderr: memory-monitor: warning: PID 4242 (python3): resident memory 21.0 GiB is over this machine's per-process warning level of 16.0 GiB; it will be stopped at 20.0 GiB. See: man memory-monitor\n",
		"stderr: memory-monitor: would stop PID 4242 (python3): resident memory 21.0 GiB is over this machine's per-process limit of 20.0 GiB (dry run: no signal is sent). See: man memory-monitor\n",
	}
	if !slices.Equal(r.lines, want) {
		t.Errorf("lines\n%q\nwant\n%q", r.lines, want)
	}
	if len(r.opened) != 2 || r.closed != 2 || len(o.stops) != 0 {
		t.Errorf("opened %v, closed %d, held %d: each line's stderr must be closed at once", r.opened, r.closed, len(o.stops))
	}
}

// Without a real pidfd (Fake, Inert, no handle) nothing is opened or written, and with
// --notify=none nothing at all happens.
func TestOwnerSkips(t *testing.T) {
	f := kill.NewFake()
	f.Add(4242, &kill.FakeProcess{})
	fh, err := f.Open(4242)
	if err != nil {
		t.Fatal(err)
	}
	ih, _ := kill.Inert{}.Open(4242)
	for _, tc := range []struct {
		name     string
		channels string
		h        kill.Handle
	}{
		{"fake handle", "stderr,tty", fh},
		{"inert handle", "stderr,tty", ih},
		{"no handle", "stderr,tty", nil},
		{"none", "none", fdHandle{fd: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &ownerRec{}
			o, _ := newTestOwner(t, tc.channels, r)
			for _, k := range []event.Kind{event.Stopping, event.Signal, event.Outcome, event.Warn, event.WouldStop} {
				e := ownerEvent(k, tc.h)
				e.Signal, e.Outcome = "SIGTERM", "exited"
				o.Handle(e)
			}
			if len(r.opened)+len(r.lines)+len(r.ttyAsk) != 0 {
				t.Errorf("opened %v, asked terminals %v, wrote %q", r.opened, r.ttyAsk, r.lines)
			}
		})
	}
}

// With tty the terminals are read before the first signal, and every line goes to them
// too, skipping the terminal that standard error already reached; an error is logged
// once at debug level and the other channel still gets the line.
func TestOwnerTTYAndFailures(t *testing.T) {
	r := &ownerRec{tty: 34816, openErr: fmt.Errorf("pidfd_getfd: %w", notify.ErrNoAccess)}
	o, logs := newTestOwner(t, "stderr,tty", r)
	h := fdHandle{fd: 9}
	o.Handle(ownerEvent(event.Stopping, h))
	if !slices.Equal(r.ttyAsk, []string{"4242/1000"}) || len(r.lines) != 0 {
		t.Fatalf("terminals asked %v, lines %q: want the terminals read at Stopping, nothing written", r.ttyAsk, r.lines)
	}
	e := ownerEvent(event.Signal, h)
	e.Signal = "SIGTERM"
	o.Handle(e)
	e = ownerEvent(event.Outcome, h)
	e.Outcome, e.Took = "exited", time.Second
	o.Handle(e)
	if len(r.lines) != 2 || !strings.HasPrefix(r.lines[0], "tty [/dev/pts/7 /dev/pts/9] uid 1000 skip 0: memory-monitor: stopping PID 4242") ||
		!strings.HasPrefix(r.lines[1], "tty [/dev/pts/7 /dev/pts/9] uid 1000 skip 0: memory-monitor: PID 4242 (python3) exited") {
		t.Errorf("lines %q", r.lines)
	}
	if n := strings.Count(logs.String(), "message to the owner not delivered"); n != 1 ||
		!strings.Contains(logs.String(), "level=DEBUG") || !strings.Contains(logs.String(), "channel=stderr") {
		t.Errorf("want one debug line about stderr, got %d:\n%s", n, logs.String())
	}

	// With its standard error on a terminal, that terminal is skipped on the tty channel.
	r = &ownerRec{tty: 34816}
	o, _ = newTestOwner(t, "stderr,tty", r)
	o.Handle(ownerEvent(event.Warn, h))
	if len(r.lines) != 2 || !strings.HasPrefix(r.lines[0], "stderr: memory-monitor: warning") ||
		!strings.Contains(r.lines[1], "skip 34816:") {
		t.Errorf("lines %q", r.lines)
	}
}

// A failed write is logged at debug and does not stop the outcome line from being tried;
// Close releases the stderr of a stop whose outcome never came.
func TestOwnerWriteFailureAndClose(t *testing.T) {
	r := &ownerRec{}
	o, logs := newTestOwner(t, "stderr", r)
	o.io.open = func(int) (ownerStderr, error) {
		return recStderr{r: r, err: fmt.Errorf("write: %w", notify.ErrNotReady)}, nil
	}
	h := fdHandle{fd: 4}
	o.Handle(ownerEvent(event.Stopping, h))
	e := ownerEvent(event.Signal, h)
	e.Signal = "SIGTERM"
	o.Handle(e)
	if len(r.lines) != 1 || !strings.Contains(logs.String(), "cannot take a line now") {
		t.Errorf("lines %q, log %s", r.lines, logs.String())
	}
	o.Close()
	if r.closed != 1 || len(o.stops) != 0 {
		t.Errorf("Close: closed %d, held %d", r.closed, len(o.stops))
	}
}

// A protected process over the warning level gets no line (it will never be stopped);
// SetChannels turns the message on and off for later events, and a stop already under
// way keeps the standard error it took.
func TestOwnerProtectedWarnAndSetChannels(t *testing.T) {
	r := &ownerRec{}
	o, _ := newTestOwner(t, "none", r)
	h := fdHandle{fd: 6}
	o.Handle(ownerEvent(event.Warn, h))
	o.SetChannels(config.Notify{Stderr: true})
	w := ownerEvent(event.Warn, h)
	w.Reason = "unit:ssh.service"
	o.Handle(w)
	if len(r.opened)+len(r.lines) != 0 {
		t.Fatalf("off, or protected: opened %v, wrote %q", r.opened, r.lines)
	}
	o.Handle(ownerEvent(event.Stopping, h))
	o.SetChannels(config.Notify{})
	e := ownerEvent(event.Signal, h)
	e.Signal = "SIGTERM"
	o.Handle(e)
	e.Kind, e.Outcome = event.Outcome, "exited"
	o.Handle(e)
	if len(r.lines) != 2 || r.closed != 1 {
		t.Errorf("the stop under way: lines %q, closed %d; want both lines and the stderr closed", r.lines, r.closed)
	}
	o.Handle(ownerEvent(event.Stopping, h))
	if len(r.opened) != 1 {
		t.Errorf("a stop after the message was turned off took stderr: opened %v", r.opened)
	}
}

// A stop for a group budget tells the owner about the group, not the per-process limit.
func TestOwnerGroupWording(t *testing.T) {
	g := &budget.Group{Key: budget.Key{Kind: budget.User, Name: "1000"}, User: "alice", Total: 41 << 30,
		Rule: budget.Rule{Kind: budget.User, Pattern: "*", Limit: 40 << 30}}
	e := event.Event{Kind: event.Signal, Memory: 15 << 30, Threshold: 20 << 30, Group: g}
	m := measureOf(e, e.Threshold)
	if m.Group != "user alice" || m.Bytes != 41<<30 || m.Limit != 40<<30 {
		t.Errorf("measure %+v", m)
	}
	line := notify.StopLine(notify.Target{PID: 4242, Name: "python3"}, m, 5*time.Second)
	if !strings.Contains(line, "the largest process of user alice, whose processes together use 41.0 GiB") ||
		!strings.Contains(line, "over the budget of 40.0 GiB") {
		t.Errorf("line %q", line)
	}
}
