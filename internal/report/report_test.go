package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
	"github.com/memory-monitor/memory-monitor/internal/protect"
)

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"python3 train.py":        "python3 train.py",
		"x\nlevel=ERROR msg=fake": `x\nlevel=ERROR msg=fake`,
		"tab\there":               `tab\there`,
		"bell\a\x1b[2J":           `bell\a\x1b[2J`,
		"naïve ☃":                 "naïve ☃",
		"bad\xffutf8":             `bad\xffutf8`,
	} {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCollectOrdersAndLimits(t *testing.T) {
	rows, total, out := collect(t, "../proc/testdata/proc", policy.Rules{Threshold: 20 << 30, Self: 4242}, 3)
	if total != 9 || len(rows) != 3 {
		t.Fatalf("total %d, rows %d; want 9 and 3", total, len(rows))
	}
	for i, want := range []struct {
		pid  int
		prot string
	}{{200, policy.ReasonOOMNever}, {1, policy.ReasonInit}, {3, policy.ReasonKernelThread}} {
		if rows[i].Info.PID != want.pid || rows[i].Protected != want.prot {
			t.Errorf("row %d: pid %d protected %q, want %d %q", i, rows[i].Info.PID, rows[i].Protected, want.pid, want.prot)
		}
	}
	b := bytes.NewBufferString(out)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "threshold 20.0 GiB; 9 processes, 3 largest shown") {
		t.Errorf("table:\n%s", b.String())
	}
}

// listTree copies the shared fixture and adds the running daemon (PID 250: the same
// executable as self, root, child of PID 1, this mount namespace) and PID 777, listed
// but unreadable (its stat is gone).
func listTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "proc")
	if err := os.CopyFS(root, os.DirFS("../proc/testdata/proc")); err != nil {
		t.Fatal(err)
	}
	const daemon = "/usr/sbin/memory-monitor"
	d := filepath.Join(root, "250")
	if err := os.CopyFS(d, os.DirFS("../proc/testdata/proc/400")); err != nil {
		t.Fatal(err)
	}
	stat, _ := os.ReadFile(filepath.Join(d, "stat"))
	os.WriteFile(filepath.Join(d, "stat"), []byte(strings.Replace(strings.Replace(string(stat), "400 (python3)", "250 (memory-monitor)", 1), " 400 400 ", " 250 250 ", 1)), 0o644)
	status, _ := os.ReadFile(filepath.Join(d, "status"))
	os.WriteFile(filepath.Join(d, "status"), []byte(strings.ReplaceAll(string(status), "4000001", "0")), 0o644)
	os.WriteFile(filepath.Join(d, "cmdline"), []byte(daemon+"\x00"), 0o644)
	for _, dir := range []string{d, filepath.Join(root, "self")} {
		os.MkdirAll(filepath.Join(dir, "ns"), 0o755)
		if err := os.Symlink(daemon, filepath.Join(dir, "exe")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("mnt:[4026531841]", filepath.Join(dir, "ns", "mnt")); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(root, "777"), 0o755)
	os.WriteFile(filepath.Join(root, "777", "statm"), []byte("100 90 0 0 0 0 0\n"), 0o644)
	return root
}

// collect runs Collect (top rows; 0: all) and Write over the tree at root.
func collect(t *testing.T, root string, rules policy.Rules, top int) ([]Row, int, string) {
	t.Helper()
	s, err := proc.NewScanner(root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := proc.NewReader(root)
	if err != nil {
		t.Fatal(err)
	}
	rows, total, err := Collect(s, r, rules, top)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Write(&b, rows, total, rules.Threshold, rules.Metric); err != nil {
		t.Fatal(err)
	}
	return rows, total, b.String()
}

// Every listed process gets a row, even one that could not be read or whose PSS could
// not; the running daemon is marked as such.
func TestCollectDropsNothingAndMarksTheDaemon(t *testing.T) {
	root := listTree(t)
	for _, m := range []proc.Metric{proc.MetricRSS, proc.MetricPSS} {
		rows, total, out := collect(t, root, policy.Rules{Threshold: 20 << 30, Self: 4242, Metric: m}, 0)
		if total != 11 || len(rows) != 11 {
			t.Errorf("%v: %d processes, %d rows; want 11 and 11:\n%s", m, total, len(rows), out)
		}
		byPID := map[int]Row{}
		for _, r := range rows {
			byPID[r.Info.PID] = r
		}
		if p := byPID[250].Protected; p != policy.ReasonSelf {
			t.Errorf("%v: the running daemon is protected %q, want %q", m, p, policy.ReasonSelf)
		}
		if r := byPID[777]; r.Err == nil || !strings.Contains(out, "777  ?") || !strings.Contains(out, "(exited while listed)") {
			t.Errorf("%v: unreadable process: %+v\n%s", m, r, out)
		}
		if m == proc.MetricPSS {
			// The fixture has no smaps_rollup for 200: its PSS is unknown, not a reason to drop it.
			if r := byPID[200]; r.MemoryUnknown == "" || !strings.Contains(out, "200  4000002  unknown") {
				t.Errorf("pss without smaps_rollup: %+v\n%s", r, out)
			}
		}
	}
}

// Without root another user's exe link cannot be read: where an exe rule could protect
// the process, the table says it does not know instead of "-".
func TestProtectionUnknownWithoutRoot(t *testing.T) {
	exeRules, err := protect.Compile([]string{"exe:/usr/lib/jvm/*/bin/java"}, protect.Options{NoDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	userRules, err := protect.Compile([]string{"user:0"}, protect.Options{NoDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	hidden := proc.Info{PID: 600, PPID: 1, UID: 1000, ExeUnreadable: true}
	for _, tc := range []struct {
		in    proc.Info
		rules *protect.Set
		exe   string
		want  string
	}{
		{hidden, exeRules, "", UnknownNeedsRoot},
		{hidden, userRules, "", ""}, // no exe rule: the executable does not matter
		{hidden, nil, "", ""},
		{proc.Info{PID: 600, Exe: "/usr/lib/jvm/17/bin/java", ExeVerified: true}, exeRules, "", "exe:/usr/lib/jvm/*/bin/java"},
		{proc.Info{PID: 70, PPID: 1, Exe: "/usr/sbin/memory-monitor", ExeVerified: true}, nil, "/usr/sbin/memory-monitor", policy.ReasonSelf},
		// A user's copy, or one in another mount namespace, is not the daemon.
		{proc.Info{PID: 70, PPID: 1, UID: 1000, Exe: "/usr/sbin/memory-monitor", ExeVerified: true}, nil, "/usr/sbin/memory-monitor", ""},
		{proc.Info{PID: 70, PPID: 1, Exe: "/usr/sbin/memory-monitor"}, nil, "/usr/sbin/memory-monitor", ""},
		{proc.Info{PID: 70, PPID: 99, Exe: "/usr/sbin/memory-monitor", ExeVerified: true}, nil, "/usr/sbin/memory-monitor", ""},
	} {
		if got := protection(tc.in, policy.Rules{Self: 1, Protect: tc.rules}, tc.exe); got != tc.want {
			t.Errorf("protection(%+v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
