package proc

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"unsafe"
)

// atPagesz is AT_PAGESZ from the kernel's include/uapi/linux/auxvec.h.
const atPagesz = 6

// PageSize is the page size of the system a /proc tree describes, which statm counts in:
// AT_PAGESZ from root/self/auxv, so that a fixture tree recorded on a 4 KiB-page machine
// reads the same on a 16 or 64 KiB-page one. A tree without a readable auxv (or one without
// AT_PAGESZ) is taken to come from this machine.
func PageSize(root string) uint64 {
	b, err := os.ReadFile(filepath.Join(root, "self", "auxv"))
	if err != nil {
		return uint64(os.Getpagesize())
	}
	// auxv is an array of (type, value) pairs of the machine's word size and byte order.
	const word = int(unsafe.Sizeof(uintptr(0)))
	for i := 0; i+2*word <= len(b); i += 2 * word {
		var typ, val uint64
		if word == 8 {
			typ, val = binary.NativeEndian.Uint64(b[i:]), binary.NativeEndian.Uint64(b[i+8:])
		} else {
			typ, val = uint64(binary.NativeEndian.Uint32(b[i:])), uint64(binary.NativeEndian.Uint32(b[i+4:]))
		}
		if typ == atPagesz && val != 0 && val&(val-1) == 0 {
			return val
		}
		if typ == 0 {
			break
		}
	}
	return uint64(os.Getpagesize())
}
