package kill

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// StartTimer reads a process's start time; *proc.Reader is one.
type StartTimer interface {
	StartTime(pid int) (uint64, error)
}

// Pidfd opens real handles with pidfd_open(2) and confirms identity through procs.
type Pidfd struct {
	Procs StartTimer
}

// Open opens a pidfd, then compares the start time: a pidfd refers to one process for
// its whole life, so if the start time matches after the pidfd exists, every later
// signal reaches the process that was measured or nobody.
func (p Pidfd) Open(pid int, startTime uint64) (Handle, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil, ErrGone
	}
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	got, err := p.Procs.StartTime(pid)
	if err != nil {
		unix.Close(fd)
		// Only ENOENT/ESRCH mean it exited; EMFILE and the like must not make a live
		// process look gone.
		if proc.IsGone(err) {
			return nil, ErrGone
		}
		return nil, fmt.Errorf("confirm the identity of %d: %w", pid, err)
	}
	if got != startTime {
		unix.Close(fd)
		return nil, ErrGone
	}
	return &pidfd{fd: fd, pid: pid}, nil
}

type pidfd struct {
	fd  int
	pid int
}

func (p *pidfd) Signal(sig unix.Signal) error {
	err := unix.PidfdSendSignal(p.fd, sig, nil, 0)
	if errors.Is(err, unix.ESRCH) {
		return ErrGone
	}
	if err != nil {
		return fmt.Errorf("pidfd_send_signal %d %s: %w", p.pid, unix.SignalName(sig), err)
	}
	return nil
}

// pollSlice bounds each poll so that a cancelled context is noticed promptly.
const pollSlice = 100 * time.Millisecond

func (p *pidfd) Wait(ctx context.Context, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
	for {
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return false, nil
		}
		ms := int(min(left, pollSlice).Milliseconds())
		n, err := unix.Poll(fds, max(ms, 1))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll pidfd of %d: %w", p.pid, err)
		}
		if n > 0 {
			return true, nil
		}
	}
}

func (p *pidfd) Release() error {
	_, _, errno := unix.Syscall(unix.SYS_PROCESS_MRELEASE, uintptr(p.fd), 0, 0)
	if errno != 0 {
		return fmt.Errorf("process_mrelease %d: %w", p.pid, errno)
	}
	return nil
}

func (p *pidfd) Close() error { return unix.Close(p.fd) }
