package integration

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// A process whose main thread calls pthread_exit leaves a zombie thread-group leader that
// reads zero in statm while its other thread holds the memory; it must be measured and
// stopped like any other. The helper is C (pthreads), built with gcc; skipped without it.
func TestZombieLeaderHogIsStopped(t *testing.T) {
	t.Parallel()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("needs gcc to build the pthread_exit helper")
	}
	setup(t) // skips unless root
	bin := filepath.Join(t.TempDir(), "leaderexit")
	if out, err := exec.Command(gcc, "-O1", "-pthread", "-o", bin, "../../internal/proc/testdata/src/leaderexit.c").CombinedOutput(); err != nil {
		t.Skipf("cannot build the helper: %v\n%s", err, out)
	}
	r := scenario(t, `
start_mm --allow-low-threshold --threshold=64M --interval=200ms --grace=1s
( timeout 30 prlimit --as=4000000000 `+bin+` 128 >"$D/leader.out" 2>"$D/leader.err"
  echo "$? $(date +%s%N)" >"$D/leader.exit" ) &
HOGS+=($!)
wait_hogs
stop_mm
`)
	if h := r.Hogs["leader"]; h.Status != 143 && h.Status != 137 {
		t.Fatalf("the zombie-leader hog ended with status %d; want death by SIGTERM (143) or SIGKILL (137)", h.Status)
	}
	// It may be caught while its thread is still touching the 128 MiB: any size over the
	// threshold is right, a zero (the leader's own statm) is the bug.
	if got := Lines(r.Log, `msg="terminating PID \d+ \(leaderexit\)`, `comm=leaderexit`, `rss_bytes=(6[7-9]|[7-9]\d|\d{3})\d{6}`); len(got) != 1 {
		t.Errorf("want one SIGTERM entry for leaderexit with its threads' RSS (over 64 MiB), got %q", got)
	}
}
