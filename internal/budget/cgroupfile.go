package budget

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// MemoryStat is the part of a cgroup v2 memory.stat that budgets use, in bytes.
type MemoryStat struct {
	Anon       uint64 // anonymous memory: heaps, stacks, private mappings
	FileMapped uint64 // file pages mapped by the group's processes
	Shmem      uint64 // tmpfs, /dev/shm, shared anonymous memory: not freed by a stop
}

// ReadMemoryStat reads a cgroup v2 memory.stat file. It exists only where the memory
// controller is enabled for the cgroup; the error then says the group must be measured
// from its members.
func ReadMemoryStat(path string) (MemoryStat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return MemoryStat{}, err
	}
	var st MemoryStat
	var anon, mapped bool
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(" "))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(k) {
		case "anon":
			dst, anon = &st.Anon, true
		case "file_mapped":
			dst, mapped = &st.FileMapped, true
		case "shmem":
			dst = &st.Shmem
		default:
			continue
		}
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return MemoryStat{}, fmt.Errorf("read %s: %s %q is not a number", path, k, v)
		}
		*dst = n
	}
	if !anon || !mapped {
		return MemoryStat{}, fmt.Errorf("read %s: no anon or file_mapped line", path)
	}
	return st, nil
}

// readUint reads a file holding one number, such as memory.swap.current.
func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read %s: %q is not a number", path, bytes.TrimSpace(b))
	}
	return v, nil
}

// keyValue returns the number after key in a "key value" per line file (vmstat,
// memory.events).
func keyValue(path, key string) (uint64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(" "))
		if ok && string(k) == key {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// readOOMKills reads oom_kill from a cgroup's memory.events.
func readOOMKills(path string) (uint64, bool) { return keyValue(path, "oom_kill") }
