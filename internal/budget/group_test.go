package budget

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/memory-monitor/memory-monitor/internal/proc"
)

const (
	kB = 1 << 10
	mB = 1 << 20
)

func names(uid uint64) string {
	return map[uint64]string{0: "root", 999: "gitlab-runner", 1000: "alice", 1001: "bob"}[uid]
}

// scan feeds a Grouper the fixture processes with the given RSS, as the scanner's callback would.
func scan(t *testing.T, procRoot, cgroupRoot string, metric proc.Metric, rss map[int]uint64, specs ...string) []Group {
	t.Helper()
	var rules []Rule
	for _, s := range specs {
		kp, size, _ := strings.Cut(s, "=")
		lim := map[string]uint64{"100M": 100 * mB, "500M": 500 * mB, "1G": 1 << 30}[size]
		r, err := ParseRule(kp, lim, size, users)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, r)
	}
	g, err := NewGrouper(NewSet(rules, DefaultLoginRange()), Options{ProcRoot: procRoot, CgroupRoot: cgroupRoot, Metric: metric, UserName: names})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.Begin()
	pids := make([]int, 0, len(rss))
	for pid := range rss {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	for _, pid := range pids {
		g.Add(pid, rss[pid])
	}
	g.Add(99999, 1<<30) // gone between the listing and the read: left out
	return g.Groups()
}

// want is a group's expected measurement.
type want struct {
	key      string
	rule     string
	method   Method
	total    uint64
	shmem    uint64 // 0 with shmemKnown false
	members  []int  // largest RSS first
	oomKills int    // -1: unknown
	over     bool
}

func check(t *testing.T, got []Group, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		keys := []string{}
		for _, g := range got {
			keys = append(keys, g.Key.String())
		}
		t.Fatalf("groups %v, want %d", keys, len(wants))
	}
	for i, w := range wants {
		g := got[i]
		var pids []int
		for _, m := range g.Members {
			pids = append(pids, m.PID)
		}
		oom := -1
		if g.OOMKnown {
			oom = int(g.OOMKills)
		}
		shmem := map[bool]uint64{true: g.Shmem}[g.ShmemKnown]
		if g.Key.String() != w.key || g.Rule.String() != w.rule || g.Method != w.method || g.Total != w.total ||
			shmem != w.shmem || !slices.Equal(pids, w.members) || oom != w.oomKills || g.Over() != w.over {
			t.Errorf("group %d = %s %s %s total %d shmem %d members %v oom %d over %v\nwant %+v",
				i, g.Key, g.Rule, g.Method, g.Total, shmem, pids, oom, g.Over(), w)
		}
	}
}

var fixtureRSS = map[int]uint64{1: 9 * mB, 1001: 4 * mB, 1002: 160 * mB, 1003: 70 * mB, 1004: 120 * mB,
	1005: 45 * mB, 1006: 710 * mB, 1007: 6 * mB, 1008: 50 * mB}

// TestGroupsCgroupV2 has the memory controller for the slices and services, not for the
// docker scope: one memory.stat read per covered group, the members' sum elsewhere.
func TestGroupsCgroupV2(t *testing.T) {
	got := scan(t, "testdata/proc", "testdata/cgroup-v2", proc.MetricRSS, fixtureRSS,
		"user:*=100M", "unit:gitlab-runner.service=500M", "unit:docker-*.scope=100M")
	check(t, got, []want{
		// Only the system's gitlab-runner.service: alice's own (1003, in user@1000.service) is not it.
		{"unit:docker-abc.scope", "unit:docker-*.scope=100M", MethodRSSSum, 50 * mB, 0, []int{1008}, -1, false},
		{"unit:gitlab-runner.service", "unit:gitlab-runner.service=500M", MethodCgroup, 720 * mB, 0, []int{1006, 1005}, 2, true},
		// anon + file_mapped; not the 2 GiB of page cache; shmem apart. 1002's effective uid is 1005: the real one counts.
		{"user:1000", "user:*=100M", MethodCgroup, 220 * mB, 30 * mB, []int{1002, 1003, 1001}, 1, true},
		// root's sudo in bob's session is in his slice: the slice is not bob alone, so his
		// members are summed; the RSS sum is over, the PSS sum is not.
		{"user:1001", "user:*=100M", MethodPSSSum, 90000 * kB, 0, []int{1004}, -1, false},
	})
}

// TestGroupsNoMemoryController: a container without a delegated memory controller; every
// group is measured from its members.
func TestGroupsNoMemoryController(t *testing.T) {
	got := scan(t, "testdata/proc", "testdata/cgroup-v2-nomemory", proc.MetricRSS, fixtureRSS,
		"user:alice=100M", "unit:gitlab-runner.service=1G")
	check(t, got, []want{
		{"unit:gitlab-runner.service", "unit:gitlab-runner.service=1G", MethodRSSSum, 755 * mB, 0, []int{1006, 1005}, -1, false},
		{"user:1000", "user:alice=100M", MethodPSSSum, (3000 + 150000 + 60000) * kB, 0, []int{1002, 1003, 1001}, -1, true},
	})
}

// TestGroupsSwapMetric adds VmSwap to the members' sums and memory.swap.current to the cgroup total.
func TestGroupsSwapMetric(t *testing.T) {
	got := scan(t, "testdata/proc", "testdata/cgroup-v2", proc.MetricSwap, fixtureRSS, "user:alice=1G")
	check(t, got, []want{{"user:1000", "user:alice=1G", MethodCgroup, 226 * mB, 30 * mB, []int{1002, 1003, 1001}, 1, false}})
	got = scan(t, "testdata/proc", "testdata/cgroup-v2-nomemory", proc.MetricSwap, fixtureRSS, "user:alice=1G")
	check(t, got, []want{{"user:1000", "user:alice=1G", MethodRSSSum, 234*mB + 2048*kB, 0, []int{1002, 1003, 1001}, -1, false}})
}

// TestGroupsCgroupV1 is this host's layout: the systemd hierarchy on a named v1 line, no
// unified line, so no memory.stat to read (v1's is not used) and the same anti-spoofing rule.
func TestGroupsCgroupV1(t *testing.T) {
	rss := map[int]uint64{2001: 160 * mB, 2002: 70 * mB, 2003: 710 * mB}
	got := scan(t, "testdata/proc-v1", "testdata/cgroup-v1", proc.MetricRSS, rss,
		"user:*=1G", "unit:gitlab-runner.service=500M")
	check(t, got, []want{
		{"unit:gitlab-runner.service", "unit:gitlab-runner.service=500M", MethodPSSSum, 700000 * kB, 0, []int{2003}, -1, true},
		{"user:1000", "user:*=1G", MethodRSSSum, 230 * mB, 0, []int{2001, 2002}, -1, false},
	})
}

func TestReadMemoryStatErrors(t *testing.T) {
	if _, err := ReadMemoryStat("testdata/cgroup-v1/memory/system.slice/gitlab-runner.service/memory.stat"); err == nil ||
		!strings.Contains(err.Error(), "no anon or file_mapped") {
		t.Errorf("v1 memory.stat: %v", err)
	}
	if _, err := ReadMemoryStat("testdata/cgroup-v2/system.slice/docker-abc.scope/memory.stat"); err == nil {
		t.Error("a missing memory.stat reads")
	}
}

// TestGrouperRefresh: a process's uid is trusted for at most RefreshScans scans; a new
// PID is read at once.
func TestGrouperRefresh(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("testdata/proc")); err != nil {
		t.Fatal(err)
	}
	r, err := ParseRule("user:*", 1<<40, "1T", nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGrouper(NewSet([]Rule{r}, DefaultLoginRange()), Options{ProcRoot: root, CgroupRoot: "testdata/cgroup-v2-nomemory", UserName: names})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	members := func(pids ...int) map[string][]int {
		g.Begin()
		for _, pid := range pids {
			g.Add(pid, mB)
		}
		out := map[string][]int{}
		for _, grp := range g.Groups() {
			for _, m := range grp.Members {
				out[grp.Key.Name] = append(out[grp.Key.Name], m.PID)
			}
		}
		return out
	}
	if got := members(1001, 1004); !slices.Equal(got["1000"], []int{1001}) || !slices.Equal(got["1001"], []int{1004}) {
		t.Fatalf("first scan %v", got)
	}
	status := filepath.Join(root, "1001", "status")
	b, err := os.ReadFile(status)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(status, []byte(strings.Replace(string(b), "Uid:\t1000\t1000", "Uid:\t1001\t1001", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	moved := 0
	for scan := 2; scan <= RefreshScans+1; scan++ {
		got := members(1001, 1004)
		if slices.Contains(got["1001"], 1001) && moved == 0 {
			moved = scan
		}
	}
	if moved == 0 || moved == 2 && (1001+2)%RefreshScans != 0 {
		t.Errorf("the changed uid was seen at scan %d (0: never)", moved)
	}
	// A PID missing from one scan is read again when it comes back.
	members(1004)
	if got := members(1001, 1004); !slices.Equal(got["1001"], []int{1001, 1004}) && !slices.Equal(got["1001"], []int{1004, 1001}) {
		t.Errorf("after a gap: %v", got)
	}
}

func TestGroupAttrs(t *testing.T) {
	got := scan(t, "testdata/proc", "testdata/cgroup-v2", proc.MetricRSS, fixtureRSS, "user:alice=100M")
	var b strings.Builder
	for _, a := range got[0].Attrs() {
		b.WriteString(a.String() + " ")
	}
	want := "budget=user:alice=100M group=user:1000 group_total_bytes=230686720 group_limit_bytes=104857600 " +
		"group_measured=cgroup group_members=3 group_user=alice group_shmem_bytes=31457280 "
	if b.String() != want {
		t.Errorf("attrs\n%s\nwant\n%s", b.String(), want)
	}
}

// TestPSSSumGoneAndUnreadable: a member that exited since the scan counts 0; one whose
// smaps_rollup cannot be read counts its RSS, the bound.
func TestPSSSumGoneAndUnreadable(t *testing.T) {
	r, err := ParseRule("user:alice", 10*mB, "10M", users)
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGrouper(NewSet([]Rule{r}, DefaultLoginRange()), Options{ProcRoot: "testdata/proc",
		CgroupRoot: "testdata/cgroup-v2-nomemory", UserName: names,
		PSS: func(pid int) (uint64, error) {
			switch pid {
			case 1002:
				return 0, &fs.PathError{Op: "open", Path: "/proc/1002/smaps_rollup", Err: syscall.ENOENT}
			case 1001:
				return 0, fs.ErrPermission
			}
			return 5 * mB, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.Begin()
	for _, pid := range []int{1001, 1002, 1003} {
		g.Add(pid, fixtureRSS[pid])
	}
	got := g.Groups()
	if len(got) != 1 || got[0].Method != MethodPSSSum || got[0].Total != fixtureRSS[1001]+5*mB {
		t.Errorf("groups %+v", got)
	}
}
