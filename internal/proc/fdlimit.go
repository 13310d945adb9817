package proc

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// RaiseFileLimit raises the soft limit on open files to the hard limit and returns both
// as they are afterwards, for the start-up line. The daemon holds one descriptor per stop
// in progress and opens several per process it looks at closely, and a soft limit of 1024
// is the first thing a user with many victims could exhaust. The Go runtime already raises
// the soft limit at start on Linux; calling this makes the daemon's limit explicit and
// holds even where the runtime's raise did not happen (a hard limit lowered later cannot
// be undone by anyone but root, and is reported by the values returned).
func RaiseFileLimit() (soft, hard uint64, err error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("getrlimit RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur >= lim.Max {
		return lim.Cur, lim.Max, nil
	}
	want := lim
	want.Cur = lim.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err != nil {
		return lim.Cur, lim.Max, fmt.Errorf("raise RLIMIT_NOFILE from %d to %d: %w", lim.Cur, lim.Max, err)
	}
	return want.Cur, want.Max, nil
}
