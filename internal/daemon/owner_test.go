package daemon

import (
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/sys/unix"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/notify"
	"github.com/memory-monitor/memory-monitor/internal/proctest"
	"github.com/memory-monitor/memory-monitor/internal/sink"
)

// stderrChild starts a sleeping child whose standard error is a pipe; it returns the
// child's pidfd and the pipe's read end.
func stderrChild(t *testing.T) (int, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "600")
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); r.Close() })
	fd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Skipf("pidfd_open: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	// The child may briefly have another fd 2 while it starts: wait for the pipe.
	for range 100 {
		if st, err := notify.OpenStderr(fd); err == nil {
			st.Close()
			return fd, r
		} else if errors.Is(err, notify.ErrNoAccess) {
			t.Skipf("pidfd_getfd refused here: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the child's standard error never became the pipe")
	return 0, nil
}

// stopTimes runs one stop of a process over the threshold, with or without the owner's
// message, and returns the stop's events as "T+d kind pid detail" lines.
func stopTimes(t *testing.T, channels string, fd int) []string {
	var got []string
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, config.Config{Threshold: gib, Grace: 5 * time.Second}, false, func(w *world) {
			// Its handles carry the child's pidfd, so the owner sink really writes.
			w.proc(10, 2*gib, &kill.FakeProcess{IgnoresTerm: true, PidFD: fd})
			if channels != "none" {
				n, err := config.ParseNotify(channels)
				if err != nil {
					t.Fatal(err)
				}
				// stderr only: the tty channel would read this machine's real sessions.
				w.also = sink.NewOwner(n, w.tree.Root, slog.New(slog.DiscardHandler))
			}
		})
		w.at(5 * time.Second)
		w.tree.Remove(10)
		w.at(6 * time.Second)
		w.stop()
		got = w.log(event.Signal, event.Outcome)
		if s := w.fake.Sent(10); len(s) != 2 {
			t.Errorf("signals %v", s)
		}
	})
	return got
}

// A stop with the owner's message sends its signals at the same virtual instants as
// one without, and the message really reaches the process's standard error.
func TestOwnerMessageDoesNotDelayStop(t *testing.T) {
	fd, r := stderrChild(t)
	without := stopTimes(t, "none", fd)
	with := stopTimes(t, "stderr", fd)
	want := []string{"0s signal 10 SIGTERM", "5s signal 10 SIGKILL", "5s outcome 10 killed"}
	expect(t, without, want...)
	expect(t, with, want...)

	r.SetReadDeadline(time.Now().Add(2 * time.Second))
	var out strings.Builder
	buf := make([]byte, 8192)
	for !strings.Contains(out.String(), "killed with SIGKILL") {
		n, err := r.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "memory-monitor: stopping PID 10 (p10): resident memory 2.0 GiB") ||
		!strings.HasPrefix(lines[1], "memory-monitor: PID 10 (p10) was killed with SIGKILL (5 s after the first signal)") {
		t.Errorf("the child's stderr got %q; want one stopping line and one outcome line (from the run with messages only)", out.String())
	}
}

// In dry run the loop hands the sampler's handle to the sinks: the process's standard
// error gets one warning line at the crossing and one "would stop" line, however many
// scans see it over.
func TestOwnerWarnAndDryRunLinesOnce(t *testing.T) {
	fd, r := stderrChild(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := config.Config{Threshold: gib, WarnThreshold: 512 * mib, Grace: 5 * time.Second, DryRun: true, Interval: 10 * time.Second}
		w := newWorld(t, cfg, false, func(w *world) {
			w.proc(10, 700*mib, &kill.FakeProcess{PidFD: fd})
			w.also = sink.NewOwner(config.Notify{Stderr: true}, w.tree.Root, slog.New(slog.DiscardHandler))
		})
		w.at(5 * time.Second)
		w.tree.Add(10, proctest.Proc{Comm: "p10", RSS: 2 * gib, Start: 10, UID: 1000})
		w.at(45 * time.Second) // four more scans over the threshold
		w.stop()
	})
	r.SetReadDeadline(time.Now().Add(time.Second))
	b := make([]byte, 8192)
	n, _ := r.Read(b)
	lines := strings.Split(strings.TrimSuffix(string(b[:n]), "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "memory-monitor: warning: PID 10 (p10): resident memory 700.0 MiB") ||
		!strings.HasPrefix(lines[1], "memory-monitor: would stop PID 10 (p10): resident memory 2.0 GiB") {
		t.Errorf("the child's stderr got %q; want one warning line and one would-stop line", b[:n])
	}
}
