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
	swarm := buildSwarm(t)
	r := scenario(t, `
start_mm --allow-low-threshold --threshold=64M --interval=1s --grace=3s
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

// buildSwarm compiles testdata/swarm.c, or skips without gcc.
func buildSwarm(t *testing.T) string {
	t.Helper()
	setup(t)
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("needs gcc to build the swarm helper")
	}
	swarm := filepath.Join(t.TempDir(), "swarm")
	if out, err := exec.Command(gcc, "-O2", "-Wall", "-o", swarm, "testdata/swarm.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return swarm
}

// With --metric=pss, a hundred forked workers of a 1 GiB parent are each over the
// threshold by RSS but far under it by PSS, and each smaps_rollup read walks 1 GiB of
// page tables. The daemon must neither spend its scans re-reading them nor make an
// unrelated hog wait behind them.
func TestPSSWorkersDoNotDelayAHog(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	swarm := buildSwarm(t)
	r := scenario(t, `
start_mm --threshold=512M --metric=pss --interval=1s --grace=1s --protect=name:keeper
( timeout 60 prlimit --as=4000000000 `+swarm+` 100 1024 40 fork >"$D/swarm.out" ) &
for _ in $(seq 400); do grep -q ready "$D/swarm.out" 2>/dev/null && break; sleep 0.05; done
sleep 2
hog late --size=700 --hold=20s
wait_hogs
stop_mm
`)
	if got := strings.Fields(readFile(t, filepath.Join(r.Dir, "swarm.out"))); len(got) != 2 || got[1] != "100" {
		t.Fatalf("swarm: %q", got)
	}
	if n := len(Lines(r.Log, `signal=`, `comm=worker`)); n != 0 {
		t.Errorf("%d signals to workers whose PSS is far under the threshold", n)
	}
	h := r.Hogs["late"]
	term := Lines(r.Log, `signal=SIGTERM`, `comm=hog`)
	if len(term) != 1 || h.Term.IsZero() {
		t.Fatalf("late hog: status %d, SIGTERM entries %q; want one SIGTERM", h.Status, term)
	}
	// Caught while still growing to its 700 MiB, or soon after it got there.
	rss, _ := strconv.ParseUint(regexp.MustCompile(`rss_bytes=(\d+)`).FindStringSubmatch(term[0])[1], 10, 64)
	if !h.Ready.IsZero() {
		d := logTime(t, term[0]).Sub(h.Ready)
		t.Logf("hog stopped %v after reaching 700 MiB, beside 100 workers of 1 GiB RSS", d)
		if d > 4*time.Second {
			t.Errorf("hog stopped %v after it reached its size; the workers' PSS reads delayed it", d)
		}
	} else {
		t.Logf("hog stopped at %d MiB while growing to 700, beside 100 workers of 1 GiB RSS", rss>>20)
	}
}
