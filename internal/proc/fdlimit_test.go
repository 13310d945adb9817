package proc

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestRaiseFileLimit(t *testing.T) {
	var orig unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &orig) })
	if orig.Max < 256 {
		t.Skipf("hard limit %d: too low to lower the soft one", orig.Max)
	}
	low := unix.Rlimit{Cur: 128, Max: orig.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	soft, hard, err := RaiseFileLimit()
	if err != nil || soft != orig.Max || hard != orig.Max {
		t.Fatalf("RaiseFileLimit = %d, %d, %v; want %d, %d", soft, hard, err, orig.Max, orig.Max)
	}
	var now unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &now)
	if now.Cur != orig.Max {
		t.Errorf("soft limit now %d, want %d", now.Cur, orig.Max)
	}
}
