package proc

import (
	"bytes"
	"fmt"
)

// Meminfo is the part of /proc/meminfo the fast path needs, in bytes.
type Meminfo struct {
	MemTotal     uint64
	MemAvailable uint64
	AnonPages    uint64 // anonymous memory mapped into processes
	Mapped       uint64 // file and shared memory mapped into processes
	SwapTotal    uint64
	SwapFree     uint64
}

// Used is the memory in use that could not be reclaimed without swapping or killing:
// MemTotal - MemAvailable. Anonymous and shared memory a process touches shows up here;
// file pages it maps from the page cache mostly do not.
func (m Meminfo) Used() uint64 { return m.MemTotal - min(m.MemAvailable, m.MemTotal) }

// SwapUsed is SwapTotal - SwapFree.
func (m Meminfo) SwapUsed() uint64 { return m.SwapTotal - min(m.SwapFree, m.SwapTotal) }

// MeminfoReader reads /proc/meminfo through a kept file descriptor into a reused buffer:
// one pread per call, no heap allocation. It is not safe for concurrent use.
type MeminfoReader struct{ f keptFile }

// NewMeminfoReader opens root/meminfo.
func NewMeminfoReader(root string) (*MeminfoReader, error) {
	f, err := openKept(root+"/meminfo", 8<<10)
	if err != nil {
		return nil, err
	}
	return &MeminfoReader{f}, nil
}

// Close releases the file descriptor.
func (r *MeminfoReader) Close() error { return r.f.close() }

// Read reads the current values. MemTotal, AnonPages and Mapped are required; the
// others are 0 when absent.
func (r *MeminfoReader) Read() (Meminfo, error) {
	b, err := r.f.read()
	if err != nil {
		return Meminfo{}, err
	}
	m, ok := parseMeminfo(b)
	if !ok {
		return Meminfo{}, fmt.Errorf("read %s: no MemTotal, AnonPages or Mapped", r.f.path)
	}
	return m, nil
}

// parseMeminfo picks the six fields out of meminfo's "Name:   value kB" lines.
func parseMeminfo(b []byte) (Meminfo, bool) {
	var m Meminfo
	var seen int
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		var dst *uint64
		switch string(line[:colon]) { // no allocation: the compiler compares in place
		case "MemTotal":
			dst, seen = &m.MemTotal, seen|1
		case "MemAvailable":
			dst = &m.MemAvailable
		case "AnonPages":
			dst, seen = &m.AnonPages, seen|2
		case "Mapped":
			dst, seen = &m.Mapped, seen|4
		case "SwapTotal":
			dst = &m.SwapTotal
		case "SwapFree":
			dst = &m.SwapFree
		default:
			continue
		}
		*dst = parseKB(line[colon+1:])
	}
	return m, seen == 7
}

// parseKB parses "   1234 kB" into bytes.
func parseKB(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v*10 + uint64(c-'0')
		case c == ' ' && v == 0:
		default:
			return v << 10
		}
	}
	return v << 10
}
