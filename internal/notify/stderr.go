package notify

import (
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// Reasons a line was not delivered. They are normal on a shared machine: the caller logs
// the error once at debug level and goes on with the stop.
var (
	// ErrNoAccess: pidfd_getfd was refused (a seccomp filter, kernel.yama.ptrace_scope=3,
	// a process the daemon may not ptrace) or the terminal may not be opened.
	ErrNoAccess = errors.New("no access to the process's standard error")
	// ErrNoStderr: the process has no file descriptor 2.
	ErrNoStderr = errors.New("the process has no standard error")
	// ErrGone: the process has ended.
	ErrGone = errors.New("the process has ended")
	// ErrUnsuitable: fd 2 is something a line must not be written to (/dev/null, a
	// device that is not a terminal, a directory, a read-only descriptor, a regular file
	// not opened for appending); for the tty channel, a terminal of someone else or one
	// that is not group-writable (mesg n).
	ErrUnsuitable = errors.New("standard error is not a place for a message")
	// ErrNotReady: writing now would block (a full pipe, a stopped reader, a terminal
	// with no room) or the reader has gone (a hung-up terminal, a closed pipe).
	ErrNotReady = errors.New("standard error cannot take a line now")
)

// Stderr is a duplicate of a process's file descriptor 2, taken before the first signal
// and held until the outcome line is written: by then the process has ended and its
// descriptors can no longer be taken. Holding it delays the reader's end of file by at
// most the length of the stop.
type Stderr struct {
	fd   int
	kind fdKind
	tty  uint64
}

// OpenStderr takes a duplicate of file descriptor 2 of the process that pidfd refers to.
// The pidfd must be the verified one the stop uses, so the line reaches the process that
// was measured or nobody. pidfd_getfd needs ptrace rights over the process
// (CAP_SYS_PTRACE). The descriptor is checked at once: only a terminal, a FIFO, a
// socket or a regular file opened with O_APPEND is accepted.
//
// The error wraps one of ErrNoAccess, ErrNoStderr, ErrGone or ErrUnsuitable.
func OpenStderr(pidfd int) (*Stderr, error) {
	fd, err := unix.PidfdGetfd(pidfd, 2, 0)
	switch {
	case errors.Is(err, unix.ESRCH):
		return nil, fmt.Errorf("pidfd_getfd: %w", ErrGone)
	case errors.Is(err, unix.EBADF):
		return nil, fmt.Errorf("pidfd_getfd: %w", ErrNoStderr)
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOSYS):
		return nil, fmt.Errorf("pidfd_getfd: %w (%w)", ErrNoAccess, err)
	case err != nil:
		return nil, fmt.Errorf("pidfd_getfd: %w", err)
	}
	kind, tty, err := suitable(fd)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &Stderr{fd: fd, kind: kind, tty: tty}, nil
}

// TTY is the device number of the terminal behind the descriptor, or 0 if it is not a
// terminal; the tty channel skips it so the owner does not read the line twice there.
func (s *Stderr) TTY() uint64 { return s.tty }

// Write writes line at most once and never blocks. The duplicate shares the process's
// open file description, so its flags are never changed: readiness is checked with a
// zero-timeout poll, and a pipe or socket gets a RWF_NOWAIT write where the kernel
// supports it. A nil error means the whole line was written; otherwise the error wraps
// ErrNotReady or says what failed.
func (s *Stderr) Write(line string) error { return write(s.fd, s.kind, line) }

// Close releases the duplicate.
func (s *Stderr) Close() error { return unix.Close(s.fd) }

// WriteStderr is OpenStderr, Write and Close, for a single line (a warning, a dry run).
func WriteStderr(pidfd int, line string) error {
	s, err := OpenStderr(pidfd)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Write(line)
}

// write writes line to fd, a duplicate of another process's descriptor.
func write(fd int, kind fdKind, line string) error {
	if err := ready(fd); err != nil {
		return err
	}
	if kind == kindTTY {
		// A terminal opened anew gets its own file description, which may be
		// non-blocking: a terminal with less room than the line then takes what fits
		// instead of holding the daemon. Opening needs write permission on the device
		// (the tty group and mesg y); without it the duplicate is used, where the poll
		// above said there is room.
		if own, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd),
			unix.O_WRONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
			defer unix.Close(own)
			fd = own
		}
	}
	b := []byte(line)
	var n int
	var err error
	if kind == kindStream {
		n, err = unix.Pwritev2(fd, [][]byte{b}, -1, unix.RWF_NOWAIT)
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			n, err = unix.Write(fd, b)
		}
	} else {
		n, err = unix.Write(fd, b)
	}
	switch {
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EPIPE) || errors.Is(err, unix.EIO):
		return fmt.Errorf("write: %w (%w)", ErrNotReady, err)
	case err != nil:
		return fmt.Errorf("write: %w", err)
	case n < len(b):
		return fmt.Errorf("write: %w (%d of %d bytes written)", ErrNotReady, n, len(b))
	}
	return nil
}

type fdKind int

const (
	kindTTY    fdKind = iota
	kindStream        // FIFO or socket
	kindFile          // regular file opened with O_APPEND
)

// suitable reports what fd is (and for a terminal its device number), or why no line
// may be written to it.
func suitable(fd int) (fdKind, uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, 0, fmt.Errorf("fstat: %w", err)
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return 0, 0, fmt.Errorf("fcntl F_GETFL: %w", err)
	}
	if acc := fl & unix.O_ACCMODE; acc != unix.O_WRONLY && acc != unix.O_RDWR {
		return 0, 0, fmt.Errorf("%w: opened read-only", ErrUnsuitable)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO, unix.S_IFSOCK:
		return kindStream, 0, nil
	case unix.S_IFREG:
		if fl&unix.O_APPEND == 0 {
			// Without O_APPEND the line would overwrite the process's own output at
			// the shared offset, or land at a place the process then overwrites.
			return 0, 0, fmt.Errorf("%w: a regular file not opened with O_APPEND", ErrUnsuitable)
		}
		return kindFile, 0, nil
	case unix.S_IFCHR:
		if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
			return 0, 0, fmt.Errorf("%w: a device that is not a terminal (%d:%d)",
				ErrUnsuitable, unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		return kindTTY, st.Rdev, nil
	}
	return 0, 0, fmt.Errorf("%w: file type %#o", ErrUnsuitable, st.Mode&unix.S_IFMT)
}

// ready polls fd once with a zero timeout.
func ready(fd int) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	for {
		n, err := unix.Poll(fds, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll: %w", err)
		}
		ev := fds[0].Revents
		if n == 0 || ev&unix.POLLOUT == 0 || ev&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			return fmt.Errorf("%w (poll events %#x)", ErrNotReady, ev)
		}
		return nil
	}
}
