package proc

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// keptFile is a /proc file read again and again through one kept descriptor into one
// reused buffer: one pread per read, no heap allocation.
type keptFile struct {
	path string
	fd   int
	buf  []byte
}

func openKept(path string, size int) (keptFile, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return keptFile{}, fmt.Errorf("open %s: %w", path, err)
	}
	return keptFile{path: path, fd: fd, buf: make([]byte, size)}, nil
}

// read returns the file's current contents, valid until the next read. The system call
// is raw: these files never block, and the ordinary path through the Go scheduler
// (entersyscall) wakes the runtime's sysmon thread, which then polls every 20 us for about
// a millisecond; on a VM those wakeups cost more than the read itself.
func (k *keptFile) read() ([]byte, error) {
	r1, _, errno := unix.RawSyscall6(unix.SYS_PREAD64, uintptr(k.fd),
		uintptr(unsafe.Pointer(&k.buf[0])), uintptr(len(k.buf)), 0, 0, 0)
	if errno != 0 {
		return nil, fmt.Errorf("read %s: %w", k.path, errno)
	}
	return k.buf[:int(r1)], nil
}

func (k *keptFile) close() error { return unix.Close(k.fd) }
