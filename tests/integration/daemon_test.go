package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const threshold64M = "67108864"

// Settings shared by most scenarios: a 64 MiB threshold, fast scans, a short grace.
const fast = "--allow-low-threshold --threshold=64M --interval=200ms --grace=1s"

func TestHogOverThresholdDiesOfSIGTERM(t *testing.T) {
	t.Parallel()
	r := scenario(t, `
start_mm `+fast+`
hog big --size=128
hog small --size=8 --hold=3s
wait_hogs
stop_mm
`)
	big, small := r.Hogs["big"], r.Hogs["small"]
	if big.Status != 143 || big.Term.IsZero() {
		t.Fatalf("big hog: status %d, term %v; want death by SIGTERM (143)", big.Status, big.Term)
	}
	if d := big.Ended.Sub(big.Ready); d > 10*time.Second {
		t.Errorf("big hog lived %v past its size; want within an interval and a bit", d)
	}
	if small.Status != 0 || !small.Term.IsZero() {
		t.Errorf("small process: status %d, term %v; want it to survive untouched", small.Status, small.Term)
	}
	if r.MMExit != 0 {
		t.Errorf("daemon exit status %d, want 0", r.MMExit)
	}
	// The same event reaches the file and stderr with every documented field.
	for name, out := range map[string]string{"log file": r.Log, "stderr": r.Stderr} {
		sig := Lines(out, `msg="terminating PID \d+ \(hog\) of user root: rss [\d.]+ MiB over the threshold of 64.0 MiB"`, `signal=SIGTERM`, `comm=hog`,
			`pid=\d+`, `uid=0`, `rss_bytes=(6[7-9]|[7-9]\d|\d{3})\d{6}`, `threshold_bytes=`+threshold64M, `dry_run=false`,
			`message_id=0dd4266e9e43475fa2c798fff57e3afa`, `considered=\d+ over=1`)
		if len(sig) != 1 {
			t.Errorf("%s: want one SIGTERM entry with all fields, got %q", name, sig)
		}
		if got := Lines(out, `outcome=exited`, `comm=hog`, `message_id=0e7bfcfd95304fe3b7e7af0f07c49fe2`, `took=`); len(got) != 1 {
			t.Errorf("%s: want one outcome=exited entry, got %q", name, got)
		}
		if got := Lines(out, `signal=SIGKILL`); len(got) != 0 {
			t.Errorf("%s: unexpected SIGKILL: %q", name, got)
		}
		if got := Lines(out, `msg="memory-monitor starting"`, `threshold_bytes=`+threshold64M, `interval=200ms`, `grace=1s`, `dry_run=false`); len(got) != 1 {
			t.Errorf("%s: want the start line with the effective configuration, got %q", name, got)
		}
	}
}

func TestHogIgnoringSIGTERMIsKilledAfterGrace(t *testing.T) {
	t.Parallel()
	r := scenario(t, `
start_mm --allow-low-threshold --threshold=64M --interval=200ms --grace=1500ms
hog stubborn --size=128 --ignore-term
wait_hogs
stop_mm
`)
	h := r.Hogs["stubborn"]
	if h.Status != 137 {
		t.Fatalf("status %d, want 137 (SIGKILL)", h.Status)
	}
	if h.Term.IsZero() {
		t.Fatal("the hog never saw SIGTERM: SIGKILL must come only after it")
	}
	// Not before the grace period, and not much after it, by the daemon's own clock (a
	// loaded machine can delay the hog's view of it, never the order).
	term := Lines(r.Log, `signal=SIGTERM`)
	kill := Lines(r.Log, `signal=SIGKILL`)
	if len(term) != 1 || len(kill) != 1 {
		t.Fatalf("want one SIGTERM and one SIGKILL entry, got %q, %q", term, kill)
	}
	if d := logTime(t, kill[0]).Sub(logTime(t, term[0])); d < 1500*time.Millisecond || d > 4*time.Second {
		t.Errorf("daemon sent SIGKILL %v after SIGTERM, want one grace period (1.5s)", d)
	}
	if !h.Ended.After(h.Term) {
		t.Errorf("the hog ended at %v, before it saw SIGTERM at %v", h.Ended, h.Term)
	}
	if got := Lines(r.Log, `signal=SIGKILL`, `msg="killing PID \d+ \(hog\) of user root: still running 1.5\d*s after SIGTERM"`, `comm=hog`, `message_id=0dd4266e9e43475fa2c798fff57e3afa`); len(got) != 1 {
		t.Errorf("want one SIGKILL entry, got %q", got)
	}
	if got := Lines(r.Log, `outcome=killed`); len(got) != 1 {
		t.Errorf("want one outcome=killed entry, got %q", got)
	}
}

func TestHogExitingSlowlyIsNotKilled(t *testing.T) {
	t.Parallel()
	r := scenario(t, `
start_mm --allow-low-threshold --threshold=64M --interval=200ms --grace=2s
hog slow --size=128 --term-delay=700ms
wait_hogs
stop_mm
`)
	h := r.Hogs["slow"]
	if h.Status != 42 {
		t.Fatalf("status %d, want 42 (exited by itself after SIGTERM)", h.Status)
	}
	if got := Lines(r.Log, `signal=SIGKILL`); len(got) != 0 {
		t.Errorf("a process exiting within the grace period got SIGKILL: %q", got)
	}
	if got := Lines(r.Log, `outcome=exited`, `took=`); len(got) != 1 {
		t.Errorf("want one outcome=exited entry with the time taken, got %q", got)
	}
}

func TestTwoHogsAreStoppedConcurrently(t *testing.T) {
	t.Parallel()
	r := scenario(t, `
start_mm --allow-low-threshold --threshold=64M --interval=500ms --grace=1s
hog a --size=128 --ignore-term
hog b --size=128 --ignore-term
wait_hogs
stop_mm
`)
	a, b := r.Hogs["a"], r.Hogs["b"]
	for name, h := range map[string]Hog{"a": a, "b": b} {
		if h.Status != 137 {
			t.Errorf("hog %s: status %d, want 137", name, h.Status)
		}
		// One interval to be found, one grace period, and much slack for a loaded machine.
		if d := h.Ended.Sub(h.Ready); d > 10*time.Second {
			t.Errorf("hog %s lived %v past its size; want within one interval plus one grace", name, d)
		}
	}
	// Each SIGKILL comes one grace period after its own SIGTERM, by the daemon's clock:
	// had one stop waited for the other, the second would come a grace period late.
	terms := Lines(r.Log, `signal=SIGTERM`)
	if len(terms) != 2 {
		t.Fatalf("want exactly one SIGTERM per hog (never re-signalled by later scans), got %q", terms)
	}
	for _, term := range terms {
		pid := regexp.MustCompile(`pid=\d+ `).FindString(term)
		kill := Lines(r.Log, `signal=SIGKILL`, pid)
		if len(kill) != 1 {
			t.Errorf("want one SIGKILL for %s, got %q", pid, kill)
			continue
		}
		if d := logTime(t, kill[0]).Sub(logTime(t, term)); d < time.Second || d > 1900*time.Millisecond {
			t.Errorf("%s: SIGKILL %v after its SIGTERM, want one grace period (1s): one stop delayed the other", pid, d)
		}
	}
}

func TestDryRunSendsNothingAndLogsOnce(t *testing.T) {
	t.Parallel()
	r := scenario(t, `
start_mm `+fast+` --dry-run
hog big --size=128 --hold=2500ms
wait_hogs
stop_mm
`)
	h := r.Hogs["big"]
	if h.Status != 0 || !h.Term.IsZero() {
		t.Fatalf("dry run: hog status %d, term %v; want it untouched", h.Status, h.Term)
	}
	got := Lines(r.Log, `msg="dry run: would terminate PID \d+ \(hog\)`, `dry_run=true`,
		`signal=SIGTERM`, `comm=hog`, `message_id=0dd4266e9e43475fa2c798fff57e3afa`)
	if len(got) != 1 {
		t.Errorf("want the would-terminate entry exactly once over ~10 scans, got %d: %q", len(got), got)
	}
	if got := Lines(r.Log, `dry_run=false`); len(got) != 0 {
		t.Errorf("dry run sent a signal: %q", got)
	}
}

func TestSIGHUPReopensMovedLogFile(t *testing.T) {
	t.Parallel()
	r := scenario(t, `
start_mm `+fast+`
mv "$D/mm.log" "$D/mm.log.1"
kill -HUP "$MMPID"
sleep 0.3
hog big --size=128
wait_hogs
stop_mm
`)
	old := readFile(t, filepath.Join(r.Dir, "mm.log.1"))
	if len(Lines(old, `memory-monitor starting`)) != 1 || len(Lines(old, `signal=SIGTERM`)) != 0 {
		t.Errorf("the rotated file should hold the start line and nothing after the HUP:\n%s", old)
	}
	if len(Lines(r.Log, `msg="log file reopened"`)) != 1 || len(Lines(r.Log, `signal=SIGTERM`, `comm=hog`)) != 1 {
		t.Errorf("the new file should hold the reopen line and the kill:\n%s", r.Log)
	}
	fi, err := os.Stat(filepath.Join(r.Dir, "mm.log"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("new log file mode %v, want 0640", fi.Mode().Perm())
	}
}

func TestHostileNameCannotForgeLogLines(t *testing.T) {
	t.Parallel()
	r := scenario(t, `
start_mm `+fast+`
hog evil --size=128 --name=$'x\nlevel=ERROR' $'\nmsg=fake'
wait_hogs
stop_mm
`)
	if h := r.Hogs["evil"]; h.Status != 143 {
		t.Fatalf("status %d, want 143", h.Status)
	}
	for name, out := range map[string]string{"log file": r.Log, "stderr": r.Stderr} {
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasPrefix(l, "time=") {
				t.Errorf("%s: a line does not start with time=, so a name forged it: %q", name, l)
			}
		}
		if got := Lines(out, `signal=SIGTERM`, `comm="x\\nlevel=ERROR"`); len(got) != 1 {
			t.Errorf("%s: want the hostile name quoted in one entry, got %q", name, got)
		}
	}
}

// Asked to exit during a grace period (systemctl stop, restart, an upgrade), the daemon
// finishes the stop in flight first: the victim is not left running.
func TestDaemonFinishesStopInFlightWhenStopped(t *testing.T) {
	t.Parallel()
	r := scenario(t, `
start_mm --allow-low-threshold --threshold=64M --interval=200ms --grace=2s
hog stubborn --size=128 --ignore-term --hold=20s
for _ in $(seq 100); do grep -q term "$D/stubborn.out" && break; sleep 0.05; done
stop_mm
wait_hogs
`)
	if r.MMExit != 0 {
		t.Errorf("daemon exit status %d, want 0", r.MMExit)
	}
	if h := r.Hogs["stubborn"]; h.Status != 137 {
		t.Errorf("stubborn hog: status %d, want 137 (SIGKILL at the end of its grace period)", h.Status)
	}
	if r.StopMS < 0 || r.StopMS > 10000 {
		t.Errorf("daemon took %d ms to stop, want the rest of one grace period (well under 10 s)", r.StopMS)
	}
	fin := Lines(r.Log, `msg="stopping: finishing 1 stops in progress first"`)
	term, kill := Lines(r.Log, `signal=SIGTERM`), Lines(r.Log, `signal=SIGKILL`)
	if len(fin) != 1 || len(term) != 1 || len(kill) != 1 {
		t.Fatalf("want one finishing line, one SIGTERM, one SIGKILL; got %q, %q, %q", fin, term, kill)
	}
	if d := logTime(t, kill[0]).Sub(logTime(t, term[0])); d < 2*time.Second || d > 4*time.Second {
		t.Errorf("SIGKILL %v after SIGTERM, want the 2 s grace period", d)
	}
	if got := Lines(r.Log, `outcome=killed`); len(got) != 1 {
		t.Errorf("want the stop finished as killed, got %q", got)
	}
	if got := Lines(r.Log, `outcome=abandoned`); len(got) != 0 {
		t.Errorf("want nothing abandoned, got %q", got)
	}
	if got := Lines(r.Log, `msg="memory-monitor stopped"`); len(got) != 1 {
		t.Errorf("want the stop line, got %q", got)
	}
}

func TestSIGINTStopsDaemon(t *testing.T) {
	t.Parallel()
	r := scenario(t, `
start_mm `+fast+`
stop_mm INT
`)
	if r.MMExit != 0 || r.StopMS > 2000 {
		t.Errorf("SIGINT: exit %d after %d ms, want 0 within 2 s", r.MMExit, r.StopMS)
	}
}

func TestUnwritableLogFileDoesNotStopDaemon(t *testing.T) {
	t.Parallel()
	r := scenario(t, `
start_mm `+fast+` --log-file=/nonexistent/dir/mm.log
hog big --size=128
wait_hogs
stop_mm
`)
	if h := r.Hogs["big"]; h.Status != 143 {
		t.Fatalf("hog status %d, want 143: the daemon must work without its log file", h.Status)
	}
	if got := Lines(r.Stderr, `log file unavailable`, `/nonexistent/dir/mm.log`); len(got) != 1 {
		t.Errorf("want the log problem reported once on stderr, got %q", got)
	}
	if got := Lines(r.Stderr, `signal=SIGTERM`); len(got) != 1 {
		t.Errorf("want the kill on stderr, got %q", got)
	}
}
