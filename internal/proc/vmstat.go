package proc

import (
	"bytes"
	"fmt"
)

// Vmstat is the part of /proc/vmstat the fast path needs. The counters only ever grow, so
// memory freed by one process cannot hide memory allocated by another between two reads.
type Vmstat struct {
	PgAlloc uint64 // pages allocated, all zones (pgalloc_*)
	PgpgIn  uint64 // KiB read in from block devices (pgpgin), mostly into the page cache
	// PgFault counts page faults (pgfault): every page a process maps, whether
	// allocated or already in memory, arrives through one, a fault mapping at most a
	// huge page. HasFault is false where vmstat has no such line.
	PgFault  uint64
	HasFault bool
}

// VmstatReader reads /proc/vmstat through a kept file descriptor into a reused buffer:
// one pread per call, no heap allocation. It is not safe for concurrent use.
type VmstatReader struct{ f keptFile }

// NewVmstatReader opens root/vmstat.
func NewVmstatReader(root string) (*VmstatReader, error) {
	f, err := openKept(root+"/vmstat", 16<<10)
	if err != nil {
		return nil, err
	}
	return &VmstatReader{f}, nil
}

// Close releases the file descriptor.
func (r *VmstatReader) Close() error { return r.f.close() }

// Read reads the current counters; at least one pgalloc_ line is required.
func (r *VmstatReader) Read() (Vmstat, error) {
	b, err := r.f.read()
	if err != nil {
		return Vmstat{}, err
	}
	v, ok := parseVmstat(b)
	if !ok {
		return Vmstat{}, fmt.Errorf("read %s: no pgalloc counters", r.f.path)
	}
	return v, nil
}

// parseVmstat sums the "pgalloc_ZONE N" lines and picks pgpgin.
func parseVmstat(b []byte) (Vmstat, bool) {
	var v Vmstat
	ok := false
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		name, val := line[:sp], parseUint(line[sp+1:])
		switch {
		case bytes.HasPrefix(name, []byte("pgalloc_")):
			v.PgAlloc += val
			ok = true
		case string(name) == "pgpgin":
			v.PgpgIn = val
		case string(name) == "pgfault":
			v.PgFault, v.HasFault = val, true
		}
	}
	return v, ok
}

func parseUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		v = v*10 + uint64(c-'0')
	}
	return v
}
