package integration

import (
	"testing"
)

// budgetPrelude adds uhog UID NAME ARGS...: a bounded hog run as UID (setpriv), from a
// copy of the hog that any user may execute.
const budgetPrelude = `
H=$(mktemp -d /tmp/mm-budget-hog.XXXXXX)
chmod 755 "$H"
cp "$HOG" "$H/hog"
chmod 755 "$H/hog"
trap 'rm -rf "$H"' EXIT
uhog() {
	local uid=$1 name=$2
	shift 2
	( timeout 30 prlimit --as=4000000000 setpriv --reuid="$uid" --regid="$uid" --clear-groups "$H/hog" "$@" >"$D/$name.out" 2>"$D/$name.err"
	  echo "$? $(date +%s%N)" >"$D/$name.exit" ) &
	HOGS+=($!)
}
`

// With user:*=400M and a per-process threshold of 2G, a user's three hogs of 180, 170
// and 160 MiB (510 MiB together) lose exactly the largest, by SIGTERM; the others live
// on since the total is then under the budget. Another user's two of 150 MiB are
// untouched. The groups are measured from the members (no cgroup v2 memory controller
// here): the entries say rss-sum or pss-sum and carry the budget's fields.
func TestBudgetStopsTheLargestOfAUser(t *testing.T) {
	t.Parallel()
	r := scenario(t, budgetPrelude+`
start_mm --threshold=2G --interval=200ms --grace=2s --budget='user:*=400M'
uhog 1000 a180 --size=180 --hold=8s
sleep 1
uhog 1000 a170 --size=170 --hold=7s
uhog 1001 b1 --size=150 --hold=7s
sleep 1
uhog 1000 a160 --size=160 --hold=6s
uhog 1001 b2 --size=150 --hold=6s
wait_hogs
stop_mm
`)
	if h := r.Hogs["a180"]; h.Status != 143 || h.Term.IsZero() {
		t.Errorf("largest hog: status %d, term %v; want death by SIGTERM", h.Status, h.Term)
	}
	for _, n := range []string{"a170", "a160", "b1", "b2"} {
		if h := r.Hogs[n]; h.Status != 0 || !h.Term.IsZero() {
			t.Errorf("%s: status %d, term %v; want it untouched", n, h.Status, h.Term)
		}
	}
	sig := Lines(r.Log, `signal=SIGTERM`, `msg="terminating PID \d+ \(hog\) of user \S+: the largest member of user:1000`,
		`budget="?user:\*=400M"?`, `group=user:1000`, `group_limit_bytes=419430400`, `group_measured=(rss|pss)-sum`,
		`group_total_bytes=\d+`, `group_members=3`, `message_id=0dd4266e9e43475fa2c798fff57e3afa`)
	if len(sig) != 1 {
		t.Errorf("want one SIGTERM entry with the budget's fields, got %q", sig)
	}
	if got := Lines(r.Log, `outcome=exited`, `group=user:1000`, `message_id=0e7bfcfd95304fe3b7e7af0f07c49fe2`); len(got) != 1 {
		t.Errorf("want one outcome entry with the group's fields, got %q", got)
	}
	if got := Lines(r.Log, `msg="memory-monitor starting"`, `budgets="?user:\*=400M"?`); len(got) != 1 {
		t.Errorf("the start line does not show the budget: %q", got)
	}
}

// A protected member counts toward the total but is never chosen: of a protected 300
// MiB hog and a 150 MiB one, the smaller is stopped. Then only the protected one is
// left, under the budget, so nothing more happens.
func TestBudgetNeverChoosesProtected(t *testing.T) {
	t.Parallel()
	r := scenario(t, budgetPrelude+`
start_mm --threshold=2G --interval=200ms --grace=2s --budget='user:*=400M' --protect=name:keepme
uhog 1000 keep --size=300 --hold=6s --name=keepme
sleep 1
uhog 1000 other --size=150 --hold=5s
wait_hogs
stop_mm
`)
	if h := r.Hogs["keep"]; h.Status != 0 || !h.Term.IsZero() {
		t.Errorf("protected hog: status %d, term %v; want it untouched", h.Status, h.Term)
	}
	if h := r.Hogs["other"]; h.Status != 143 {
		t.Errorf("unprotected hog: status %d; want death by SIGTERM", h.Status)
	}
}

// Dry run: one "would stop" entry for the group, nothing sent, across many scans.
func TestBudgetDryRunLogsOnce(t *testing.T) {
	t.Parallel()
	r := scenario(t, budgetPrelude+`
start_mm --dry-run --threshold=2G --interval=200ms --budget='user:*=400M'
uhog 1000 a --size=250 --hold=4s
uhog 1000 b --size=200 --hold=4s
wait_hogs
stop_mm
`)
	for _, n := range []string{"a", "b"} {
		if h := r.Hogs[n]; h.Status != 0 || !h.Term.IsZero() {
			t.Errorf("%s: status %d, term %v; dry run must send nothing", n, h.Status, h.Term)
		}
	}
	if got := Lines(r.Log, `msg="dry run: would terminate PID \d+ \(hog\) of user \S+: the largest member of user:1000`,
		`dry_run=true`, `group=user:1000`); len(got) != 1 {
		t.Errorf("want one would-stop entry, got %q", got)
	}
}
