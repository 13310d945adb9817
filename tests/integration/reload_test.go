package integration

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// reloadPrelude gives the daemon a runtime directory, as systemd's RuntimeDirectory=
// does: the control socket goes there, and `reload` finds it through the same variable.
const reloadPrelude = `
export RUNTIME_DIRECTORY="$D/run"
export MEMORY_MONITOR_ALLOW_LOW_THRESHOLD=true
mkdir -m 0700 "$RUNTIME_DIRECTORY"
mm_reload() { # NAME VAR=VALUE...: run reload with these variables; stderr and status to $D/NAME.*
	local name=$1
	shift
	env "$@" timeout 30 "$MM" reload 2>"$D/$name.stderr"
	echo $? >"$D/$name.rc"
}
`

// A bad value is refused before the daemon is contacted; a good one is in force when
// reload returns: a hog started afterwards is stopped under the new threshold, by the
// same daemon process.
func TestReloadOverTheSocket(t *testing.T) {
	t.Parallel()
	r := scenario(t, reloadPrelude+`
MEMORY_MONITOR_THRESHOLD=1G start_mm --interval=200ms --grace=1s
mm_reload bad MEMORY_MONITOR_THRESHOLD=lots
hog spared --size=128 --hold=1s
wait_hogs
mm_reload good MEMORY_MONITOR_THRESHOLD=64M
hog big --size=128
wait_hogs
kill -0 "$MMPID" && echo alive >"$D/alive"
stop_mm
`)
	if rc := strings.TrimSpace(readFile(t, filepath.Join(r.Dir, "bad.rc"))); rc != "2" {
		t.Errorf("reload with THRESHOLD=lots exited %s, want 2", rc)
	}
	if e := readFile(t, filepath.Join(r.Dir, "bad.stderr")); !strings.Contains(e, `MEMORY_MONITOR_THRESHOLD="lots": invalid size`) {
		t.Errorf("bad reload's stderr does not name the variable: %q", e)
	}
	if h := r.Hogs["spared"]; h.Status != 0 {
		t.Errorf("hog under the 1G threshold after the refused reload: status %d, want 0", h.Status)
	}
	if rc := strings.TrimSpace(readFile(t, filepath.Join(r.Dir, "good.rc"))); rc != "0" {
		t.Errorf("reload with THRESHOLD=64M exited %s, want 0; stderr %q", rc, readFile(t, filepath.Join(r.Dir, "good.stderr")))
	}
	if h := r.Hogs["big"]; h.Status != 143 {
		t.Errorf("hog started after the reload: status %d, want 143 (SIGTERM)", h.Status)
	}
	if got := Lines(r.Log, `msg="settings reloaded: THRESHOLD 1.0 GiB -> 64.0 MiB"`, `threshold="1.0 GiB -> 64.0 MiB"`,
		`message_id=9dcb8340472542baaa0dc202594e3511`); len(got) != 1 {
		t.Errorf("want one reload entry naming the change, got %q", got)
	}
	// The warnings of the start-up apply to a reload too: 64M is a low threshold.
	if got := Lines(r.Log, `level=WARN`, `msg="threshold 64.0 MiB is below 256.0 MiB \(allowed by --allow-low-threshold\)`); len(got) != 1 {
		t.Errorf("want one low-threshold warning, at the reload, got %q", got)
	}
	if readFile(t, filepath.Join(r.Dir, "alive")) == "" || len(Lines(r.Log, `memory-monitor starting`)) != 1 {
		t.Error("the daemon did not stay the same process")
	}
}

// A stop in its grace period when a reload shortens the grace still ends in SIGKILL
// when the grace it started with ends.
func TestReloadDuringGracePeriod(t *testing.T) {
	t.Parallel()
	r := scenario(t, reloadPrelude+`
MEMORY_MONITOR_GRACE=3s start_mm --threshold=64M --interval=200ms
hog stubborn --size=128 --ignore-term
for _ in $(seq 100); do grep -q 'signal=SIGTERM' "$D/mm.log" && break; sleep 0.05; done
mm_reload during MEMORY_MONITOR_GRACE=1s
wait_hogs
stop_mm
`)
	if rc := strings.TrimSpace(readFile(t, filepath.Join(r.Dir, "during.rc"))); rc != "0" {
		t.Errorf("reload exited %s; stderr %q", rc, readFile(t, filepath.Join(r.Dir, "during.stderr")))
	}
	if h := r.Hogs["stubborn"]; h.Status != 137 {
		t.Fatalf("stubborn hog: status %d, want 137 (SIGKILL)", h.Status)
	}
	term := Lines(r.Log, `signal=SIGTERM`, `comm=hog`)
	kill := Lines(r.Log, `signal=SIGKILL`, `comm=hog`)
	if len(term) != 1 || len(kill) != 1 {
		t.Fatalf("want one SIGTERM and one SIGKILL, got %q, %q", term, kill)
	}
	if d := logTime(t, kill[0]).Sub(logTime(t, term[0])); d < 3*time.Second || d > 4*time.Second {
		t.Errorf("SIGKILL %v after SIGTERM, want the 3 s grace the stop started with", d)
	}
	if len(Lines(r.Log, `msg="settings reloaded: GRACE 3s -> 1s"`)) != 1 {
		t.Errorf("want one reload entry naming GRACE 3s -> 1s")
	}
}

// A budget added by a reload is in force when reload returns: of one user's two hogs,
// 180 and 170 MiB, the larger is stopped at once under user:*=300M (per-process
// threshold 2G); removing the budget again is a reload like any other.
func TestReloadAddsAndRemovesBudget(t *testing.T) {
	t.Parallel()
	r := scenario(t, reloadPrelude+budgetPrelude+`
ready() { for _ in $(seq 200); do grep -q ready "$D/$1.out" 2>/dev/null && return; sleep 0.05; done; }
start_mm --threshold=2G --interval=200ms --grace=2s
uhog 1000 a180 --size=180 --hold=6s
uhog 1000 a170 --size=170 --hold=6s
ready a180; ready a170
sleep 0.5
mm_reload add MEMORY_MONITOR_BUDGET='user:*=300M'
sleep 0.5
mm_reload remove
wait_hogs
stop_mm
`)
	for _, name := range []string{"add", "remove"} {
		if rc := strings.TrimSpace(readFile(t, filepath.Join(r.Dir, name+".rc"))); rc != "0" {
			t.Errorf("reload %s exited %s, want 0; stderr %q", name, rc, readFile(t, filepath.Join(r.Dir, name+".stderr")))
		}
	}
	if h := r.Hogs["a180"]; h.Status != 143 || h.Term.IsZero() {
		t.Errorf("larger hog: status %d, term %v; want death by SIGTERM", h.Status, h.Term)
	}
	if h := r.Hogs["a170"]; h.Status != 0 || !h.Term.IsZero() {
		t.Errorf("smaller hog: status %d, term %v; want it untouched", h.Status, h.Term)
	}
	added := Lines(r.Log, `msg="settings reloaded: BUDGET \\"\\" -> \\"user:\*=300M\\""`, `message_id=9dcb8340472542baaa0dc202594e3511`)
	removed := Lines(r.Log, `msg="settings reloaded: BUDGET \\"user:\*=300M\\" -> \\"\\""`)
	sig := Lines(r.Log, `signal=SIGTERM`, `group=user:1000`, `group_limit_bytes=314572800`)
	if len(added) != 1 || len(removed) != 1 || len(sig) != 1 {
		t.Fatalf("want one reload entry adding the budget, one SIGTERM for it, one removing it; got %q, %q, %q", added, sig, removed)
	}
	if a, s := logTime(t, added[0]), logTime(t, sig[0]); s.Before(a) || s.Sub(a) > time.Second {
		t.Errorf("SIGTERM at %v, the reload at %v: want it at the reload's scan", s, a)
	}
}
