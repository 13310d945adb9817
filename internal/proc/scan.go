// Package proc reads process memory and identity from a /proc tree. The tree's root is a
// path, not an interface, so tests drive the daemon with fixture trees under testdata/.
//
// The Scanner is the hot loop: it lists the tree with getdents and reads each process's
// statm into reused buffers, with no heap allocation per scan. Everything else (names,
// users, command lines, start times) is read with prometheus/procfs, and only for the few
// processes that matter.
package proc

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Scanner reads the resident set size of every process in a /proc tree. It keeps the
// directory open between scans and is not safe for concurrent use.
//
// A process whose main thread has exited (pthread_exit in main) has a zombie thread-group
// leader whose statm reads all zeros while its other threads hold the memory; the
// Scanner measures such a process through one of its live threads, so no process can
// hide its memory that way.
type Scanner struct {
	root     string
	dirfd    int
	pageSize uint64
	dents    []byte // getdents buffer
	taskDent []byte // getdents buffer for one process's task directory
	path     []byte // "PID/statm\x00", rebuilt per process
	file     []byte // statm contents

	// empty lists, sorted by PID, the processes of the last scan whose statm read zero
	// and that had no other live thread (kernel threads, mostly), so that the next scan
	// need not list their task directories again; next collects them for the next one.
	// An entry is keyed by the directory's inode number too: a new process that takes
	// the PID gets a new /proc inode, and so is looked at afresh.
	empty, next []emptyProc
}

// emptyProc is a process that read zero memory in the last scan.
type emptyProc struct {
	pid int
	ino uint64
}

// ScanStats summarises one pass over the tree.
type ScanStats struct {
	Processes int    // processes whose memory was read
	Vanished  int    // processes that exited between listing and reading
	Failed    int    // processes that could not be read for another reason
	MaxRSS    uint64 // largest RSS seen, bytes
	FirstErr  error  // the first of the Failed reads, for the log
	// Listed counts the processes listed, and Digest sums a hash of each one's PID and
	// /proc inode number: List gives the same two while the same processes exist.
	Listed int
	Digest uint64
}

// mixEntry hashes one listed process (splitmix64's finaliser): summed over a listing, it
// gives a digest that any process started, ended or replaced under its PID changes.
func mixEntry(pid int, ino uint64) uint64 {
	z := ino*0x9e3779b97f4a7c15 + uint64(pid)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// List lists the tree without reading any process: the count and digest of ScanStats.
// It costs a small part of a scan and allocates nothing.
func (s *Scanner) List() (listed int, digest uint64, err error) {
	return s.each(func(int, uint64) {})
}

// each calls fn with the PID and /proc inode number of every process the tree lists, and
// returns the count and digest of the listing. fn does not escape: no allocation.
func (s *Scanner) each(fn func(pid int, ino uint64)) (listed int, digest uint64, err error) {
	if _, _, errno := unix.RawSyscall(unix.SYS_LSEEK, uintptr(s.dirfd), 0, 0); errno != 0 {
		return 0, 0, fmt.Errorf("rewind %s: %w", s.root, errno)
	}
	for {
		n, err := getdents(s.dirfd, s.dents)
		if err != nil {
			return listed, digest, fmt.Errorf("list %s: %w", s.root, err)
		}
		if n <= 0 {
			return listed, digest, nil
		}
		for off := 0; off < n; {
			// struct linux_dirent64: ino u64, off i64, reclen u16, type u8, name.
			ino := *(*uint64)(unsafe.Pointer(&s.dents[off]))
			reclen := int(*(*uint16)(unsafe.Pointer(&s.dents[off+16])))
			name := s.dents[off+19 : off+reclen]
			off += reclen
			if pid, ok := parsePID(name); ok {
				listed++
				digest += mixEntry(pid, ino)
				fn(pid, ino)
			}
		}
	}
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
		pageSize: PageSize(root),
		dents:    make([]byte, 32<<10),
		taskDent: make([]byte, 4<<10),
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
	s.next = s.next[:0]
	defer func() {
		// /proc lists PIDs in order; a fixture tree need not.
		if !slices.IsSortedFunc(s.next, cmpEmpty) {
			slices.SortFunc(s.next, cmpEmpty)
		}
		s.empty, s.next = s.next, s.empty
	}()
	var err error
	st.Listed, st.Digest, err = s.each(func(pid int, ino uint64) {
		rss, size, err := s.readStatmKnown(pid, ino)
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
				st.FirstErr = err
			}
		}
	})
	return st, err
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
	s.path = appendInt(s.path[:0], pid)
	s.path = append(s.path, "/statm\x00"...)
	rss, size, err = s.readStatmAt(pid)
	if err != nil || rss != 0 || size != 0 {
		return rss, size, err
	}
	// All zeros: a kernel thread, a zombie, or a zombie leader with live threads.
	return s.liveThreadStatm(pid)
}

// readStatmKnown is readStatm for the scan, which knows the directory's inode number:
// a process that read zero in the last scan, under the same inode, is not looked
// through again.
func (s *Scanner) readStatmKnown(pid int, ino uint64) (rss, size uint64, err error) {
	s.path = appendInt(s.path[:0], pid)
	s.path = append(s.path, "/statm\x00"...)
	rss, size, err = s.readStatmAt(pid)
	if err != nil || rss != 0 || size != 0 {
		return rss, size, err
	}
	key := emptyProc{pid, ino}
	if i, known := slices.BinarySearchFunc(s.empty, key, cmpEmpty); !known || s.empty[i].ino != ino {
		if rss, size, err = s.liveThreadStatm(pid); err != nil || rss != 0 || size != 0 {
			return rss, size, err
		}
	}
	s.next = append(s.next, key)
	return 0, 0, nil
}

func cmpEmpty(a, b emptyProc) int { return cmp.Compare(a.pid, b.pid) }

// readStatmAt reads the statm file named by s.path (relative to the tree).
func (s *Scanner) readStatmAt(pid int) (rss, size uint64, err error) {
	// O_NOFOLLOW: a fixture tree given with --proc-root must not lead outside itself.
	r, _, errno := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(s.dirfd), uintptr(unsafe.Pointer(&s.path[0])),
		uintptr(unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW), 0, 0, 0)
	if errno != 0 {
		return 0, 0, s.statmErr("open", pid, errno)
	}
	fd := int(r)
	n, err := read(fd, s.file)
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	if err != nil {
		return 0, 0, s.statmErr("read", pid, err)
	}
	if n == 0 {
		return 0, 0, unix.ESRCH // it exited between the open and the read
	}
	sizePages, pages, ok := firstFields(s.file[:n])
	if !ok {
		// The content itself is not shown: in a tree that is not /proc it could be
		// any file.
		return 0, 0, fmt.Errorf("read %s: unexpected content (%d bytes)", s.pathString(), max(n, 0))
	}
	return pages * s.pageSize, sizePages * s.pageSize, nil
}

// taskEntryMax bounds one getdents record in a task directory (a name of at most 10
// digits, padded): a read that leaves more room than this has listed every thread.
const taskEntryMax = 64

// liveThreadStatm measures a process whose own statm reads zero through the first other
// thread whose statm does not: the threads of a process share one memory map. A kernel
// thread or a real zombie has no such thread and reads zero.
func (s *Scanner) liveThreadStatm(pid int) (rss, size uint64, err error) {
	s.path = appendInt(s.path[:0], pid)
	s.path = append(s.path, "/task\x00"...)
	r, _, errno := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(s.dirfd), uintptr(unsafe.Pointer(&s.path[0])),
		uintptr(unix.O_RDONLY|unix.O_CLOEXEC|unix.O_DIRECTORY|unix.O_NOFOLLOW), 0, 0, 0)
	if errno != 0 {
		if errno == unix.ENOENT || errno == unix.ESRCH {
			return 0, 0, nil // gone since its statm was read, or a tree without task dirs
		}
		return 0, 0, s.pathErr("open", pid, errno)
	}
	fd := int(r)
	defer unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	for {
		n, err := getdents(fd, s.taskDent)
		if err != nil {
			return 0, 0, s.pathErr("list", pid, err)
		}
		if n <= 0 {
			return 0, 0, nil
		}
		for off := 0; off < n; {
			reclen := int(*(*uint16)(unsafe.Pointer(&s.taskDent[off+16])))
			name := s.taskDent[off+19 : off+reclen]
			off += reclen
			tid, ok := parsePID(name)
			if !ok || tid == pid {
				continue
			}
			s.path = appendInt(s.path[:0], pid)
			s.path = append(s.path, "/task/"...)
			s.path = appendInt(s.path, tid)
			s.path = append(s.path, "/statm\x00"...)
			rss, size, err := s.readStatmAt(pid)
			if err == nil && (rss != 0 || size != 0) {
				return rss, size, nil
			}
		}
		if n < len(s.taskDent)-taskEntryMax {
			return 0, 0, nil // all listed: saves a getdents per kernel thread
		}
	}
}

// pathString is s.path without its terminating NUL, under the root; it allocates, but only
// on the error path.
func (s *Scanner) pathString() string {
	return s.root + "/" + string(s.path[:max(len(s.path)-1, 0)])
}

// statmErr is the error of a failed statm read. A process that is gone is normal, and
// common in a scan: its bare errno is returned, which does not allocate; any other
// failure is wrapped with the path (allocating, but only then).
func (s *Scanner) statmErr(op string, pid int, err error) error {
	if errno, ok := err.(unix.Errno); ok && (errno == unix.ENOENT || errno == unix.ESRCH) {
		return errno
	}
	return s.pathErr(op, pid, err)
}

// pathErr allocates, but only on the error path.
func (s *Scanner) pathErr(op string, pid int, err error) error {
	return &fs.PathError{Op: op, Path: s.pathString(), Err: err}
}

// IsGone reports whether err means the process no longer exists: normal for a process
// that exits while it is being looked at. Only ENOENT and ESRCH mean that; any other
// failure (EMFILE, EACCES, EIO...) is a real error, and a process that cannot be read
// must not be taken for one that has exited.
func IsGone(err error) bool {
	return errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT)
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
