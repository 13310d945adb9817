package proc

import "fmt"

// LoadavgReader reads the last PID handed out from /proc/loadavg through a kept file
// descriptor: one pread per call, no heap allocation. It is not safe for concurrent use.
type LoadavgReader struct{ f keptFile }

// NewLoadavgReader opens root/loadavg.
func NewLoadavgReader(root string) (*LoadavgReader, error) {
	f, err := openKept(root+"/loadavg", 256)
	if err != nil {
		return nil, err
	}
	return &LoadavgReader{f}, nil
}

// Close releases the file descriptor.
func (r *LoadavgReader) Close() error { return r.f.close() }

// LastPID is the last PID the kernel handed out in the tree's PID namespace (the fifth
// field): it changes whenever a process or thread is created.
func (r *LoadavgReader) LastPID() (int, error) {
	b, err := r.f.read()
	if err != nil {
		return 0, err
	}
	if pid, ok := parseLastPID(b); ok {
		return pid, nil
	}
	return 0, fmt.Errorf("read %s: no last PID", r.f.path)
}

// parseLastPID picks the fifth space-separated field of "0.00 0.01 0.05 1/123 4567".
func parseLastPID(b []byte) (int, bool) {
	field := 0
	for i := 0; i < len(b); i++ {
		if b[i] == ' ' {
			field++
			if field == 4 {
				pid, n := 0, 0
				for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
					pid = pid*10 + int(b[i]-'0')
					n++
				}
				return pid, n > 0 && n < 10
			}
		}
	}
	return 0, false
}
