package kill

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Pidfd opens real handles with pidfd_open(2).
type Pidfd struct{}

// Open implements Opener.
func (Pidfd) Open(pid int) (Handle, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil, ErrGone
	}
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	return &pidfd{fd: fd, pid: pid}, nil
}

// pidfd is a Handle over a pidfd.
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

// Exited polls the pidfd without blocking: it is readable once the process has exited.
func (p *pidfd) Exited() bool {
	fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		// An error here means the descriptor is unusable: treat the process as gone
		// rather than trust what /proc/PID says.
		return err != nil || (n > 0 && fds[0].Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0)
	}
}

func (p *pidfd) Dup() (Handle, error) {
	fd, err := unix.FcntlInt(uintptr(p.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup pidfd of %d: %w", p.pid, err)
	}
	return &pidfd{fd: fd, pid: p.pid}, nil
}

func (p *pidfd) Release() error {
	_, _, errno := unix.Syscall(unix.SYS_PROCESS_MRELEASE, uintptr(p.fd), 0, 0)
	if errno != 0 {
		return fmt.Errorf("process_mrelease %d: %w", p.pid, errno)
	}
	return nil
}

func (p *pidfd) Close() error { return unix.Close(p.fd) }

// Fd is the descriptor, for a Waiter.
func (p *pidfd) Fd() int { return p.fd }

// Epoll is a Waiter over pidfds: one goroutine blocked in epoll_wait for every stop in
// flight, woken through an eventfd to stop.
type Epoll struct {
	epfd  int
	wake  int
	exits chan uint64
	done  chan struct{}
	once  sync.Once
}

// NewEpoll starts a Waiter for handles from Pidfd.
func NewEpoll() (*Epoll, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	// The wake descriptor is registered with the id of no stop: ids start at 1.
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN}); err != nil {
		unix.Close(wake)
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl eventfd: %w", err)
	}
	e := &Epoll{epfd: epfd, wake: wake, exits: make(chan uint64, 64), done: make(chan struct{})}
	go e.run()
	return e, nil
}

func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

func (e *Epoll) run() {
	defer close(e.done)
	events := make([]unix.EpollEvent, 64)
	for {
		n, err := unix.EpollWait(e.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for i := range events[:n] {
			id := eventID(&events[i])
			if id == 0 {
				return // Close
			}
			e.exits <- id
		}
	}
}

// Watch implements Waiter. The registration is one-shot: each exit is reported once.
func (e *Epoll) Watch(id uint64, h Handle) error {
	p, ok := h.(*pidfd)
	if !ok {
		return fmt.Errorf("epoll waiter: not a pidfd handle")
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	if err := unix.EpollCtl(e.epfd, unix.EPOLL_CTL_ADD, p.fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl add pidfd of %d: %w", p.pid, err)
	}
	return nil
}

// Unwatch implements Waiter.
func (e *Epoll) Unwatch(_ uint64, h Handle) {
	if p, ok := h.(*pidfd); ok {
		unix.EpollCtl(e.epfd, unix.EPOLL_CTL_DEL, p.fd, nil)
	}
}

// Exits implements Waiter.
func (e *Epoll) Exits() <-chan uint64 { return e.exits }

// Close implements Waiter. Exits still queued may be dropped.
func (e *Epoll) Close() error {
	e.once.Do(func() {
		var one [8]byte
		one[0] = 1
		unix.Write(e.wake, one[:])
		go func() { // the goroutine may be blocked sending an exit nobody reads
			for range e.exits {
			}
		}()
		<-e.done
		close(e.exits)
		unix.Close(e.wake)
		unix.Close(e.epfd)
	})
	return nil
}
