package integration

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Two thousand SIGTERM-ignoring processes over the threshold at once (children sharing
// one parent's memory, so they cost the user nothing) must neither bloat the daemon nor
// delay the stop of an unrelated hog: every stop in flight is a small record in the loop,
// waited for by one epoll set, not a thread each.
func TestThousandsOfVictimsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	setup(t)
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("needs gcc to build the swarm helper")
	}
	swarm := filepath.Join(t.TempDir(), "swarm")
	if out, err := exec.Command(gcc, "-O2", "-Wall", "-o", swarm, "testdata/swarm.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	r := scenario(t, `
start_mm --threshold=64M --interval=1s --grace=3s
( timeout 60 prlimit --as=2000000000 `+swarm+` 2000 100 40 >"$D/swarm.out" ) &
for _ in $(seq 300); do grep -q ready "$D/swarm.out" 2>/dev/null && break; sleep 0.05; done
sleep 0.5
hog late --size=128 --ignore-term --hold=20s
sleep 5
grep -E '^(VmHWM|VmRSS|Threads)' /proc/$MMPID/status >"$D/mm.status"
ls /proc/$MMPID/fd | wc -l >"$D/mm.fds"
wait_hogs
stop_mm
`)
	ready := strings.Fields(readFile(t, filepath.Join(r.Dir, "swarm.out")))
	if len(ready) != 2 || ready[1] != "2000" {
		t.Fatalf("swarm: %q, want 2000 children", ready)
	}
	status := readFile(t, filepath.Join(r.Dir, "mm.status"))
	t.Logf("daemon with 2,000 stops in flight: %s fds %s", strings.ReplaceAll(status, "\n", "; "), strings.TrimSpace(readFile(t, filepath.Join(r.Dir, "mm.fds"))))
	if m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindStringSubmatch(status); m == nil {
		t.Errorf("no VmHWM in %q", status)
	} else if kb, _ := strconv.Atoi(m[1]); kb > 24<<10 {
		t.Errorf("daemon peak RSS %d KiB with 2,000 victims, want well under 24 MiB", kb)
	}
	if m := regexp.MustCompile(`Threads:\s+(\d+)`).FindStringSubmatch(status); m != nil {
		if n, _ := strconv.Atoi(m[1]); n > 12 {
			t.Errorf("daemon has %d threads with 2,000 stops in flight, want a handful", n)
		}
	}
	if n := len(Lines(r.Log, `signal=SIGTERM`, `comm=swarm`)); n < 1990 {
		t.Errorf("%d swarm processes got SIGTERM, want about 2,001", n)
	}
	if n := len(Lines(r.Log, `outcome=killed`, `comm=swarm`)); n < 1990 {
		t.Errorf("%d swarm processes killed, want about 2,001", n)
	}
	// The unrelated hog: stopped within a moment of reaching its size, by the daemon's
	// clock against the hog's report (both realtime).
	h := r.Hogs["late"]
	term := Lines(r.Log, `signal=SIGTERM`, `comm=hog`)
	if h.Ready.IsZero() || len(term) != 1 {
		t.Fatalf("late hog: ready %v, SIGTERM entries %q", h.Ready, term)
	}
	if d := logTime(t, term[0]).Sub(h.Ready); d > 4*time.Second {
		t.Errorf("unrelated hog stopped %v after it reached its size, with 2,000 stops in flight; want under a few seconds", d)
	}
	t.Logf("unrelated hog: SIGTERM %v after it reached 128 MiB", logTime(t, term[0]).Sub(h.Ready))
	if h.Status != 137 {
		t.Errorf("late hog status %d, want 137", h.Status)
	}
}
