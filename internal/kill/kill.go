// Package kill stops one process safely: it holds a pidfd that was confirmed to refer to
// the process that was measured, signals only through it, and waits by polling it, so a
// PID reused by an innocent process can never be hit.
//
// Handle is the one interface around these side effects; Fake stands in for it in tests.
package kill

import (
	"context"
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// ErrGone means the process exited (or its PID now belongs to another process) before it
// could be signalled: normal, not a failure.
var ErrGone = errors.New("process is gone")

// Handle is an open reference to one process.
type Handle interface {
	// Signal sends sig; ErrGone if the process has already exited.
	Signal(sig unix.Signal) error
	// Wait blocks until the process exits (true), timeout passes or ctx ends (false).
	Wait(ctx context.Context, timeout time.Duration) (bool, error)
	// Release asks the kernel to free the memory of a process that was sent SIGKILL
	// without waiting for it to finish dying (process_mrelease).
	Release() error
	// Close releases the handle.
	Close() error
}

// Opener opens a handle on the process with this PID, but only if it is still the process
// that started at startTime (clock ticks since boot); otherwise ErrGone.
type Opener interface {
	Open(pid int, startTime uint64) (Handle, error)
}

// Outcome is how an attempt to stop a process ended.
type Outcome string

// Outcomes, as logged in the OUTCOME field.
const (
	Exited    Outcome = "exited"    // exited within the grace period after SIGTERM
	Killed    Outcome = "killed"    // was sent SIGKILL and died
	Gone      Outcome = "gone"      // had already exited; nothing was sent
	Failed    Outcome = "failed"    // a signal could not be sent, or SIGKILL did not end it
	Abandoned Outcome = "abandoned" // the daemon stopped during the grace period
)

// KillWait bounds the wait for a process to die after SIGKILL. A process stuck in
// uninterruptible sleep can outlive it; that is reported as Failed.
const KillWait = 10 * time.Second

// Result describes one stop.
type Result struct {
	Outcome    Outcome
	Took       time.Duration // from the first signal to the process's exit
	Err        error         // for Failed
	ReleaseErr error         // process_mrelease failed (harmless; for debug logs)
}

// Stop sends SIGTERM, waits up to grace for the process to exit, then sends SIGKILL and
// releases its memory. grace 0 sends SIGKILL at once. sent is called after each signal
// that was actually delivered, so every signal is logged exactly once.
func Stop(ctx context.Context, h Handle, grace time.Duration, sent func(unix.Signal)) Result {
	start := time.Now()
	if grace > 0 {
		switch err := h.Signal(unix.SIGTERM); {
		case errors.Is(err, ErrGone):
			return Result{Outcome: Gone}
		case err != nil:
			return Result{Outcome: Failed, Err: err}
		}
		sent(unix.SIGTERM)
		exited, err := h.Wait(ctx, grace)
		if exited {
			return Result{Outcome: Exited, Took: time.Since(start)}
		}
		if ctx.Err() != nil {
			return Result{Outcome: Abandoned, Took: time.Since(start)}
		}
		if err != nil {
			return Result{Outcome: Failed, Err: err}
		}
	}
	switch err := h.Signal(unix.SIGKILL); {
	case errors.Is(err, ErrGone) && grace > 0:
		return Result{Outcome: Exited, Took: time.Since(start)}
	case errors.Is(err, ErrGone):
		return Result{Outcome: Gone}
	case err != nil:
		return Result{Outcome: Failed, Err: err}
	}
	sent(unix.SIGKILL)
	res := Result{Outcome: Killed, ReleaseErr: h.Release()}
	// The wait goes on when the daemon is stopping: SIGKILL is already on its way and
	// the result is worth logging.
	exited, err := h.Wait(context.WithoutCancel(ctx), KillWait)
	res.Took = time.Since(start)
	if !exited {
		if err == nil {
			err = errors.New("still alive after SIGKILL (uninterruptible sleep?)")
		}
		return Result{Outcome: Failed, Took: res.Took, Err: err}
	}
	return res
}
