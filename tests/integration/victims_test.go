package integration

import (
	"testing"
	"time"
)

// A hog run as another user: the prelude's hog() runs as root.
const hogAsNobody = `
hog_nobody() {
	local name=$1
	shift
	( timeout 30 prlimit --as=4000000000 setpriv --reuid=65534 --regid=65534 --clear-groups "$HOG" "$@" \
		>"$D/$name.out" 2>"$D/$name.err"
	  echo "$? $(date +%s%N)" >"$D/$name.exit" ) &
	HOGS+=($!)
}
`

func TestProtectedHogsSurviveUnprotectedDies(t *testing.T) {
	t.Parallel()
	// The rules come from the environment list, as from /etc/default: white-space separated.
	r := scenario(t, hogAsNobody+`
export MEMORY_MONITOR_PROTECT='name:keep*  user:nobody
  cmdline:--hold=3\.5s$'
start_mm `+fast+`
hog byname --size=128 --name=keepme --hold=3s
hog_nobody byuser --size=128 --hold=3s
hog bycmdline --size=128 --hold=3.5s
hog victim --size=128
wait_hogs
stop_mm
`)
	for name, rule := range map[string]string{"byname": "name:keep\\*", "byuser": "user:nobody", "bycmdline": "cmdline:"} {
		h := r.Hogs[name]
		if h.Status != 0 || !h.Term.IsZero() {
			t.Errorf("%s: status %d, term %v; want it to survive untouched", name, h.Status, h.Term)
		}
		if got := Lines(r.Log, `msg="sparing protected PID \d+ `, `reason="?`+rule,
			`message_id=e842209cf7e84ded91dd239f0e4e7fde`); len(got) != 1 {
			t.Errorf("%s: want one sparing entry naming rule %s, got %q", name, rule, got)
		}
	}
	if v := r.Hogs["victim"]; v.Status != 143 {
		t.Errorf("victim: status %d, want 143 (SIGTERM)", v.Status)
	}
	if got := Lines(r.Log, `signal=SIGTERM`); len(got) != 1 {
		t.Errorf("want exactly one SIGTERM (the victim), got %q", got)
	}
}

func TestSustainForgivesASpikeAndStopsASteadyHog(t *testing.T) {
	t.Parallel()
	r := scenario(t, `
start_mm `+fast+` --sustain=2s --log-level=debug
hog spike --size=128 --drop-after=700ms --hold=4s
hog steady --size=128 --hold=15s
wait_hogs
stop_mm
`)
	spike, steady := r.Hogs["spike"], r.Hogs["steady"]
	if spike.Status != 0 || !spike.Term.IsZero() || spike.Dropped.IsZero() {
		t.Errorf("spike: status %d, term %v, dropped %v; want it to drop below in time and survive",
			spike.Status, spike.Term, spike.Dropped)
	}
	if d := spike.Dropped.Sub(spike.Ready); d > 1800*time.Millisecond {
		t.Errorf("spike stayed over for %v; the scenario needs it below well within the 2s sustain", d)
	}
	waits := Lines(r.Log, `waiting out the sustain period`, `comm=hog`)
	if len(waits) != 2 {
		t.Fatalf("want both hogs seen over and waited for, got %q", waits)
	}
	steadyWait := Lines(r.Log, `waiting out the sustain period`, `--hold=15s`)
	if got := Lines(r.Log, `forgiven`); len(got) != 1 {
		t.Errorf("want the spike forgiven once, got %q", got)
	}
	if steady.Status != 143 {
		t.Fatalf("steady: status %d, want 143 (SIGTERM)", steady.Status)
	}
	steadyTerm := Lines(r.Log, `signal=SIGTERM`, `--hold=15s`)
	if len(steadyWait) != 1 || len(steadyTerm) != 1 {
		t.Fatalf("want one wait and one SIGTERM entry for the steady hog, got %q and %q", steadyWait, steadyTerm)
	}
	// By the daemon's own clock: the sustain period, and little more.
	if d := logTime(t, steadyTerm[0]).Sub(logTime(t, steadyWait[0])); d < 2*time.Second || d > 3*time.Second {
		t.Errorf("steady hog was stopped %v after it was first seen over; want the 2s sustain period and little more", d)
	}
}

// With a long interval, a waiting process is re-checked on its own schedule: it is
// stopped when the sustain period ends, not at a later full scan.
func TestSustainRechecksBetweenScans(t *testing.T) {
	t.Parallel()
	r := scenario(t, `
start_mm --allow-low-threshold --threshold=64M --interval=5s --grace=1s --sustain=1500ms --log-level=debug
hog steady --size=128 --hold=20s
wait_hogs
stop_mm
`)
	if h := r.Hogs["steady"]; h.Status != 143 {
		t.Fatalf("steady: status %d, want 143 (SIGTERM)", h.Status)
	}
	wait := Lines(r.Log, `waiting out the sustain period`, `comm=hog`)
	term := Lines(r.Log, `signal=SIGTERM`, `comm=hog`)
	if len(wait) != 1 || len(term) != 1 {
		t.Fatalf("want one wait and one SIGTERM entry, got %q and %q", wait, term)
	}
	if d := logTime(t, term[0]).Sub(logTime(t, wait[0])); d < 1500*time.Millisecond || d > 2500*time.Millisecond {
		t.Errorf("SIGTERM %v after the process was first seen over; want the 1.5s sustain period, not the 5s interval", d)
	}
}

func TestWarnThresholdLogsOncePerCrossing(t *testing.T) {
	t.Parallel()
	r := scenario(t, `
start_mm --allow-low-threshold --threshold=512M --warn-threshold=64M --interval=200ms --grace=1s
hog grower --size=128 --drop-after=1500ms --hold=3s
wait_hogs
stop_mm
`)
	if h := r.Hogs["grower"]; h.Status != 0 || !h.Term.IsZero() {
		t.Errorf("grower: status %d, term %v; under the threshold, it must survive", h.Status, h.Term)
	}
	got := Lines(r.Log, `level=WARN`, `is over the warning threshold`, `comm=hog`,
		`warn_threshold_bytes=67108864`, `message_id=aa42224a747247dc8e37557d4b6c278d`)
	if len(got) != 1 {
		t.Errorf("want exactly one warning over ~7 scans, got %q", got)
	}
}

func TestMetricPSSStopsPrivateHog(t *testing.T) {
	t.Parallel()
	r := scenario(t, `
start_mm `+fast+` --metric=pss
hog big --size=128
hog small --size=8 --hold=2s
wait_hogs
stop_mm
`)
	if h := r.Hogs["big"]; h.Status != 143 {
		t.Errorf("big: status %d, want 143: its private memory counts fully in PSS", h.Status)
	}
	if h := r.Hogs["small"]; h.Status != 0 {
		t.Errorf("small: status %d, want 0", h.Status)
	}
	if got := Lines(r.Log, `signal=SIGTERM`, `metric=pss`, `memory_bytes=(6[7-9]|[7-9]\d|\d{3,})\d{6}`); len(got) != 1 {
		t.Errorf("want one SIGTERM entry with the PSS measured, got %q", got)
	}
}

func TestListShowsTheProtectingRule(t *testing.T) {
	t.Parallel()
	r := scenario(t, `
hog kept --size=32 --name=keepme --hold=2s
sleep 0.5
"$MM" list -n 0 --protect=name:keepme --protect=user:65534 >"$D/list.out" 2>&1
echo $? >"$D/list.rc"
wait_hogs
`)
	out := readFile(t, r.Dir+"/list.out")
	if got := Lines(out, `^\d+\s+root\s+.*\s+name:keepme\s+`); len(got) != 1 {
		t.Errorf("want the hog's row with PROTECTED name:keepme, got:\n%s", out)
	}
	if got := Lines(out, `PROTECTED`); len(got) != 1 {
		t.Errorf("no header in:\n%s", out)
	}
}
