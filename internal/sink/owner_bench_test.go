package sink

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/notify"
)

// benchChild starts a sleeping child whose stderr is a pipe drained in the background,
// and returns its pidfd.
func benchChild(b *testing.B) (int, int) {
	b.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("sleep", "600")
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w.Close()
	go io.Copy(io.Discard, r)
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); r.Close() })
	fd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		b.Skipf("pidfd_open: %v", err)
	}
	b.Cleanup(func() { unix.Close(fd) })
	time.Sleep(100 * time.Millisecond) // past the child's start-up
	if _, err := notify.OpenStderr(fd); err != nil {
		b.Skipf("pidfd_getfd: %v", err)
	}
	return fd, cmd.Process.Pid
}

// What the owner's message adds before the first signal (the Stopping event: take the
// process's stderr), and the whole message of one stop (both lines, close).
func BenchmarkOwner(b *testing.B) {
	fd, pid := benchChild(b)
	h := fdHandle{fd: fd}
	o := NewOwner(config.Notify{Stderr: true}, "/proc", slog.New(slog.DiscardHandler))
	stopping := ownerEvent(event.Stopping, h)
	stopping.Proc.PID = pid
	signal := stopping
	signal.Kind, signal.Signal = event.Signal, "SIGTERM"
	outcome := stopping
	outcome.Kind, outcome.Outcome = event.Outcome, "exited"
	b.Run("before-signal", func(b *testing.B) {
		for b.Loop() {
			o.Handle(stopping)
			b.StopTimer()
			o.Handle(outcome) // closes it
			b.StartTimer()
		}
	})
	b.Run("whole-stop", func(b *testing.B) {
		for b.Loop() {
			o.Handle(stopping)
			o.Handle(signal)
			o.Handle(outcome)
		}
	})
	// The job's origin is read before the first signal with or without messages.
	b.Run("read-origin", func(b *testing.B) {
		for b.Loop() {
			notify.ReadOrigin("/proc", pid)
		}
	})
}
