// Package proc reads process memory and identity from a /proc tree. The tree's root is a
// path, not an interface, so tests drive the daemon with fixture trees under testdata/.
//
// The Scanner is the hot loop: it lists the tree with getdents and reads each process's
// statm into reused buffers, with no heap allocation per scan. Everything else (names,
// users, command lines, start times) is read with prometheus/procfs, and only for the few
// processes that matter.
package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Scanner reads the resident set size of every process in a /proc tree. It keeps the
// directory open between scans and is not safe for concurrent use.
type Scanner struct {
	root     string
	dirfd    int
	pageSize uint64
	dents    []byte // getdents buffer
	path     []byte // "PID/statm\x00", rebuilt per process
	file     []byte // statm contents
}

// ScanStats summarises one pass over the tree.
type ScanStats struct {
	Processes int    // processes whose memory was read
	Vanished  int    // processes that exited between listing and reading
	Failed    int    // processes that could not be read for another reason
	MaxRSS    uint64 // largest RSS seen, bytes
	FirstErr  error  // the first of the Failed reads, for the log
}

// NewScanner opens root (normally /proc) for scanning.
func NewScanner(root string) (*Scanner, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	return &Scanner{
		root:     root,
		dirfd:    fd,
		pageSize: uint64(os.Getpagesize()),
		dents:    make([]byte, 32<<10),
		path:     make([]byte, 0, 64),
		file:     make([]byte, 256),
	}, nil
}

// Root is the tree's path.
func (s *Scanner) Root() string { return s.root }

// Close releases the directory.
func (s *Scanner) Close() error {
	return unix.Close(s.dirfd)
}

// Scan calls fn with the PID and RSS in bytes of every process in the tree. A process
// that vanishes mid-scan is counted, not reported as an error; the scan fails only when
// the tree itself cannot be listed.
func (s *Scanner) Scan(fn func(pid int, rss uint64)) (ScanStats, error) {
	return s.scan(fn, nil)
}

// ScanSize is Scan that also gives each process's virtual size in bytes (the first field
// of statm), at no extra cost: --metric=swap bounds RSS+VmSwap with it.
func (s *Scanner) ScanSize(fn func(pid int, rss, size uint64)) (ScanStats, error) {
	return s.scan(nil, fn)
}

// scan calls whichever of fn and fnSize is not nil.
func (s *Scanner) scan(fn func(pid int, rss uint64), fnSize func(pid int, rss, size uint64)) (ScanStats, error) {
	var st ScanStats
	if _, err := unix.Seek(s.dirfd, 0, 0); err != nil {
		return st, fmt.Errorf("rewind %s: %w", s.root, err)
	}
	for {
		n, err := getdents(s.dirfd, s.dents)
		if err != nil {
			return st, fmt.Errorf("list %s: %w", s.root, err)
		}
		if n <= 0 {
			return st, nil
		}
		for off := 0; off < n; {
			// struct linux_dirent64: ino u64, off i64, reclen u16, type u8, name.
			reclen := int(*(*uint16)(unsafe.Pointer(&s.dents[off+16])))
			name := s.dents[off+19 : off+reclen]
			off += reclen
			pid, ok := parsePID(name)
			if !ok {
				continue
			}
			rss, size, op, err := s.statm(pid)
			switch {
			case err == nil:
				st.Processes++
				st.MaxRSS = max(st.MaxRSS, rss)
				if fn != nil {
					fn(pid, rss)
				} else {
					fnSize(pid, rss, size)
				}
			case IsGone(err):
				st.Vanished++
			default:
				st.Failed++
				if st.FirstErr == nil {
					st.FirstErr = s.statmErr(op, pid, err)
				}
			}
		}
	}
}

// RSS reads the resident set size of one process, in bytes.
func (s *Scanner) RSS(pid int) (uint64, error) {
	rss, _, err := s.readStatm(pid)
	return rss, err
}

// Statm reads the resident set size and the virtual size of one process, in bytes.
func (s *Scanner) Statm(pid int) (rss, size uint64, err error) {
	return s.readStatm(pid)
}

func (s *Scanner) readStatm(pid int) (rss, size uint64, err error) {
	rss, size, op, errno := s.statm(pid)
	if errno != nil {
		return 0, 0, s.statmErr(op, pid, errno)
	}
	return rss, size, nil
}

// errStatmContent marks a statm that could not be parsed.
var errStatmContent = errors.New("unexpected content")

// statm reads one process's statm without allocating, even when it fails: it returns the
// failed step and a bare errno (or errStatmContent), which the caller wraps only when it
// reports the error. A process that exits between the open and the read gives an empty
// read: ESRCH, gone.
func (s *Scanner) statm(pid int) (rss, size uint64, op string, err error) {
	s.path = appendInt(s.path[:0], pid)
	s.path = append(s.path, "/statm\x00"...)
	r, _, errno := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(s.dirfd), uintptr(unsafe.Pointer(&s.path[0])),
		uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
	if errno != 0 {
		return 0, 0, "open", errno
	}
	fd := int(r)
	n, err := read(fd, s.file)
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	if err != nil {
		return 0, 0, "read", err
	}
	if n == 0 {
		return 0, 0, "read", unix.ESRCH
	}
	sizePages, pages, ok := firstFields(s.file[:n])
	if !ok {
		return 0, 0, "parse", errStatmContent
	}
	return pages * s.pageSize, sizePages * s.pageSize, "", nil
}

// statmErr allocates, but only on the error path.
func (s *Scanner) statmErr(op string, pid int, err error) error {
	if errors.Is(err, errStatmContent) {
		return fmt.Errorf("read %s/%d/statm: %w %q", s.root, pid, err, s.file)
	}
	return s.pathErr(op, pid, err)
}

// pathErr allocates, but only on the error path.
func (s *Scanner) pathErr(op string, pid int, err error) error {
	return &fs.PathError{Op: op, Path: fmt.Sprintf("%s/%d/statm", s.root, pid), Err: err}
}

// IsGone reports whether err means the process no longer exists: normal for a process
// that exits while it is being looked at.
func IsGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT)
}

func parsePID(name []byte) (int, bool) {
	pid := 0
	for i, c := range name {
		if c == 0 {
			return pid, i > 0
		}
		if c < '0' || c > '9' || pid > 1<<30 {
			return 0, false
		}
		pid = pid*10 + int(c-'0')
	}
	return pid, len(name) > 0
}

func appendInt(b []byte, v int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// firstFields parses the virtual size and resident page counts, the first two numbers in
// statm.
func firstFields(b []byte) (size, resident uint64, ok bool) {
	i := 0
	digits := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		size = size*10 + uint64(b[i]-'0')
		digits++
	}
	if digits == 0 || i >= len(b) || b[i] != ' ' {
		return 0, 0, false
	}
	i++
	digits = 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		resident = resident*10 + uint64(b[i]-'0')
		digits++
	}
	return size, resident, digits > 0
}

// The scan's system calls are raw: they never block (proc files of other processes are
// generated from counters, without waiting on locks a process can hold for long), and the
// ordinary path through the Go scheduler wakes the runtime's sysmon thread, which then
// polls every 20 us while the scan lasts. On a VM those wakeups cost more CPU than the
// reads themselves.

func getdents(fd int, buf []byte) (int, error) {
	r, _, errno := unix.RawSyscall(unix.SYS_GETDENTS64, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

func read(fd int, buf []byte) (int, error) {
	r, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
