package protect

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// users stands in for /etc/passwd.
func users(name string) (uint64, error) {
	switch name {
	case "root":
		return 0, nil
	case "postgres":
		return 4000, nil
	case "alice":
		return 1000, nil
	}
	return 0, user.UnknownUserError(name)
}

func fixture(t *testing.T, pid int) proc.Info {
	t.Helper()
	r, err := proc.NewReader("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	in, err := r.Info(pid)
	if err != nil {
		t.Fatalf("fixture %d: %v", pid, err)
	}
	return in
}

// TestMatchFixtures reads each fixture process through proc.Reader, as the daemon does,
// and checks which rules protect it.
func TestMatchFixtures(t *testing.T) {
	for _, tc := range []struct {
		rule  string
		match []int // fixture PIDs 10-20 that the rule protects
	}{
		// name: the kernel's comm, globbed; any process may take any name (13 does).
		{"name:sshd", []int{10, 13, 20}},
		{"name:post*", []int{11}},
		{"name:[x]*?", nil},           // a character class, not the literal name
		{`name:\[x\]\*\?`, []int{18}}, // quoted: the literal name with glob characters
		{"name:*", []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}},
		// exe: the link target, " (deleted)" cut after an upgrade; * does not cross /.
		// Only in the daemon's own mount namespace: 20 runs in a container's (and a user
		// namespace can mount anything over /usr/sbin there).
		{"exe:/usr/sbin/sshd", []int{10}},
		{"exe:/usr/lib/postgresql/*/bin/postgres", []int{11}},
		{"exe:/usr/lib/*", []int{}},
		{"exe:/usr/lib/jvm/*/bin/java", []int{14}},
		{"exe:/tmp/[[]x]\\*\\?", []int{18}},
		// cmdline: unanchored regexp over the arguments joined by spaces.
		{`cmdline:-Xmx\d+g`, []int{14}},
		{`cmdline:^/usr/sbin/sshd -D$`, []int{13, 20}}, // 13 lies, as a cmdline may
		{`cmdline:\*`, []int{18}},
		{`cmdline:^-bash$`, []int{12}},
		// user: real uid, by name or number.
		{"user:postgres", []int{11}},
		{"user:1000", []int{12, 13, 18}},
		{"user:root", []int{10, 14, 15, 19, 20}},
		// unit: the system manager's slices and unit only.
		{"unit:ssh.service", []int{10}}, // not 13 (a user's own unit) nor 20 (outside our cgroup namespace)
		{"unit:postgresql@*.service", []int{11}},
		{"unit:system-postgresql.slice", []int{11}},
		{"unit:system.slice", []int{10, 11, 14, 19}},
		{"unit:session-*.scope", []int{12, 18}},
		{"unit:user-1000.slice", []int{12, 13, 18}},
		{"unit:user@1000.service", []int{13}},
		{"unit:app.slice", nil}, // inside user@1000.service: delegated to the user
		{"unit:docker-*.scope", []int{14}},
		{"unit:machine.slice", []int{16}},
		{"unit:systemd-nspawn@web.service", []int{16}},
		{"unit:nginx.service", nil}, // the container's own unit: delegated
		{"unit:kubepods-burstable.slice", []int{17}},
		{"unit:cri-containerd-*.scope", []int{17}},
		{"unit:cpu.service", []int{19}},                       // escaped as _cpu.service in the cgroup tree
		{"unit:*", []int{10, 11, 12, 13, 14, 16, 17, 18, 19}}, // 15 (cgroupfs docker) and 20 have none
	} {
		t.Run(tc.rule, func(t *testing.T) {
			s, err := Compile([]string{tc.rule}, Options{LookupUser: users, NoDefaults: true})
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for pid := 10; pid <= 20; pid++ {
				r, ok := s.Match(fixture(t, pid))
				if ok {
					got = append(got, pid)
					if r.String() != tc.rule {
						t.Errorf("pid %d: matched by %q, want %q", pid, r, tc.rule)
					}
				}
			}
			if !slices.Equal(got, tc.match) && !(len(got) == 0 && len(tc.match) == 0) {
				t.Errorf("protects %v, want %v", got, tc.match)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s, err := Compile(nil, Options{LookupUser: users})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := s.Match(fixture(t, 10)); !ok || r.String() != "unit:ssh.service (built-in)" || !r.Builtin {
		t.Errorf("the listening sshd: got %q, %v; want the built-in ssh.service rule", r, ok)
	}
	// A user's process named sshd, running "/usr/sbin/sshd -D" in a user unit called
	// ssh.service, is not protected by the defaults.
	if r, ok := s.Match(fixture(t, 13)); ok {
		t.Errorf("spoofed sshd protected by %q", r)
	}
	off, err := Compile(nil, Options{LookupUser: users, NoDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := off.Match(fixture(t, 10)); ok {
		t.Errorf("with NoDefaults, sshd still protected by %q", r)
	}
	// The administrator's rules come first, so they name the reason.
	both, err := Compile([]string{"user:0"}, Options{LookupUser: users})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := both.Match(fixture(t, 10)); r.String() != "user:0" {
		t.Errorf("got %q, want the administrator's rule first", r)
	}
	if n := len(both.Rules()); n != 1+len(Defaults()) {
		t.Errorf("%d rules, want %d", n, 1+len(Defaults()))
	}
}

func TestNilSetProtectsNothing(t *testing.T) {
	var s *Set
	if _, ok := s.Match(proc.Info{Comm: "sshd"}); ok {
		t.Error("nil set matched")
	}
	if s.Rules() != nil {
		t.Error("nil set has rules")
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ rule, want string }{
		{"sshd", "not KIND:PATTERN"},
		{"", "not KIND:PATTERN"},
		{"name:", "empty pattern"},
		{"Name:sshd", `unknown kind "Name"`},
		{"pid:1", `unknown kind "pid"`},
		{"cmdline:([", "invalid regular expression"},
		{"cmdline:a{2,1}", "invalid regular expression"},
		{"name:[abc", "invalid glob"},
		{`name:abc\`, "invalid glob"},
		{"exe:sshd", "absolute path"},
		{"exe:/usr/[", "invalid glob"},
		{"unit:/system.slice/ssh.service", "not a path"},
		{"unit:ssh.[service", "invalid glob"},
		{"user:nosuchuser", `unknown user "nosuchuser"`},
		{"user:-1", `unknown user "-1"`},
		{"user:99999999999", `unknown user "99999999999"`},
		{"name:systemd-journald", "use name:systemd-journal"},
	} {
		_, err := Compile([]string{tc.rule}, Options{LookupUser: users, NoDefaults: true})
		var re *Error
		if !errors.As(err, &re) {
			t.Errorf("%q: error %v, want a *protect.Error", tc.rule, err)
			continue
		}
		if re.Rule != tc.rule || !strings.Contains(err.Error(), tc.want) ||
			!strings.HasPrefix(err.Error(), fmt.Sprintf("rule %q: ", tc.rule)) {
			t.Errorf("%q: error %q, want it to name the rule and say %q", tc.rule, err, tc.want)
		}
	}
}

func TestParseAccepts(t *testing.T) {
	for _, rule := range []string{
		"name:sshd", "name:systemd-journal", "name:systemd-journal*", `name:a\*b`,
		"cmdline:^/usr/bin/python3 .*manage\\.py runserver", "cmdline:a:b", // only the first colon separates
		"user:0", "user:4294967295", "user:alice",
		"unit:user@*.service", "unit:session-*.scope", "exe:/opt/*/bin/*",
	} {
		if _, err := Parse(rule, users); err != nil {
			t.Errorf("%q: %v", rule, err)
		}
	}
	r, err := Parse("cmdline:a:b", users)
	if err != nil || r.Pattern != "a:b" || !r.re.MatchString("xa:by") {
		t.Errorf("cmdline:a:b parsed as %+v, %v", r, err)
	}
}

// A lookup failure other than "unknown user" (a broken NSS, say) is reported as such.
func TestLookupFailure(t *testing.T) {
	_, err := Parse("user:bob", func(string) (uint64, error) { return 0, errors.New("nss down") })
	if err == nil || !strings.Contains(err.Error(), `look up user "bob": nss down`) {
		t.Errorf("got %v", err)
	}
}

func TestSplit(t *testing.T) {
	got := Split("  name:sshd\tunit:postgresql@*.service\n  user:backup \n")
	want := []string{"name:sshd", "unit:postgresql@*.service", "user:backup"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := Split(" \n "); len(got) != 0 {
		t.Errorf("blank list gave %q", got)
	}
}

func TestUnits(t *testing.T) {
	for _, tc := range []struct {
		cgroup string
		want   []string
	}{
		{"0::/system.slice/ssh.service\n", []string{"system.slice", "ssh.service"}},
		{"0::/init.scope\n", []string{"init.scope"}},
		{"0::/\n", nil},
		{"", nil},
		{"garbage", nil},
		// v1 only (legacy): the name=systemd line; other controllers are ignored.
		{"12:name=systemd:/system.slice/cron.service\n4:memory:/other.slice/x.service\n", []string{"system.slice", "cron.service"}},
		// hybrid: both lines, merged without duplicates.
		{"1:name=systemd:/system.slice/cron.service\n0::/system.slice/cron.service\n", []string{"system.slice", "cron.service"}},
		// user sessions and user managers: nothing below the first unit.
		{"0::/user.slice/user-1000.slice/session-3.scope", []string{"user.slice", "user-1000.slice", "session-3.scope"}},
		{"0::/user.slice/user-1000.slice/user@1000.service/app.slice/ssh.service", []string{"user.slice", "user-1000.slice", "user@1000.service"}},
		// containers.
		{"0::/system.slice/docker-abc.scope", []string{"system.slice", "docker-abc.scope"}},
		{"0::/docker/abc", nil},
		{"0::/lxc.payload.c1/system.slice/ssh.service", nil},
		{"0::/sandbox-1/payload/system.slice/systemd-journald.service", nil},
		{"0::/machine.slice/systemd-nspawn@web.service/payload/system.slice/ssh.service", []string{"machine.slice", "systemd-nspawn@web.service"}},
		// outside the daemon's cgroup namespace.
		{"0::/../../system.slice/ssh.service", nil},
		// escaped names; a bare suffix is no unit.
		{"0::/system.slice/_cpu.service", []string{"system.slice", "cpu.service"}},
		{"0::/.service/x.service", nil},
		// a cgroup with a colon in its path.
		{"0::/system.slice/a:b.service", []string{"system.slice", "a:b.service"}},
	} {
		if got := Units(tc.cgroup); !slices.Equal(got, tc.want) {
			t.Errorf("Units(%q) = %q, want %q", tc.cgroup, got, tc.want)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	s, err := Compile([]string{"name:postgres", "exe:/opt/*/bin/*", `cmdline:-Xmx\d+g`, "user:4000", "unit:postgresql@*.service"},
		Options{LookupUser: users})
	if err != nil {
		b.Fatal(err)
	}
	in := proc.Info{Comm: "java", Exe: "/usr/bin/java", Cmdline: "java -jar app.jar", UID: 1000,
		Cgroup: "0::/system.slice/app.service\n"}
	for b.Loop() {
		s.Match(in)
	}
}

// The fixtures also carry what the metrics read: VmSwap from status, Pss from
// smaps_rollup, and the exe link of a binary replaced by an upgrade.
func TestFixtureMeasures(t *testing.T) {
	const k = 1024
	java := fixture(t, 14)
	r, err := proc.NewReader("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Measure(&java, proc.MetricPSS); err != nil {
		t.Fatal(err)
	}
	if java.PSS != 20971520*k || java.Swap != 1024*k {
		t.Errorf("pss %d swap %d", java.PSS, java.Swap)
	}
	if got := proc.MetricSwap.Of(java); got != java.RSS+1024*k {
		t.Errorf("rss+swap %d", got)
	}
	if used, err := r.SwapUsed(); err != nil || used != 1048576*k {
		t.Errorf("swap used %d, %v", used, err)
	}
	if pg := fixture(t, 11); pg.Exe != "/usr/lib/postgresql/15/bin/postgres" {
		t.Errorf("exe %q: want the path without \" (deleted)\"", pg.Exe)
	}
}

// An exe rule counts only where the path is verified to be the file the process runs:
// elsewhere the path is the user's to choose.
func TestExeRuleOnlyWhenVerified(t *testing.T) {
	s, err := Compile([]string{"exe:/srv/app/bin/server"}, Options{NoDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	in := proc.Info{Exe: "/srv/app/bin/server", MountNS: "mnt:[4026532999]"}
	if r, ok := s.Match(in); ok {
		t.Errorf("matched %v in another mount namespace", r)
	}
	in.ExeVerified = true
	if _, ok := s.Match(in); !ok {
		t.Error("no match in the daemon's own mount namespace")
	}
}

// TestExeRuleNotClaimableByMountNamespace runs a process from a tmpfs mounted over a
// directory in a mount namespace of its own (what an unprivileged user can do with
// unshare -Urm) and checks that a rule naming that path does not protect it, while a
// process in a mount namespace of its own that runs the host's binary (a service with
// PrivateTmp=) stays protected. Needs root (for unshare --mount) and util-linux.
func TestExeRuleNotClaimableByMountNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a mount namespace")
	}
	dir := t.TempDir()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip(err)
	}
	if sleep, err = filepath.EvalSymlinks(sleep); err != nil {
		t.Fatal(err)
	}
	claimed := startInMountNS(t, "mount -t tmpfs none "+dir+" && cp "+sleep+" "+dir+"/server && exec "+dir+"/server 30", dir+"/server")
	genuine := startInMountNS(t, "mount -t tmpfs none "+dir+" && exec "+sleep+" 30", sleep)
	s, err := Compile([]string{"exe:" + dir + "/server", "exe:" + sleep}, Options{NoDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	if rule, ok := s.Match(claimed); ok || claimed.ExeVerified {
		t.Errorf("a process in its own mount namespace was protected by %v (MountNS %q)", rule, claimed.MountNS)
	}
	if rule, ok := s.Match(genuine); !ok || rule.Pattern != sleep {
		t.Errorf("the host's %s in a private mount namespace is not protected: %+v", sleep, genuine)
	}
}

// startInMountNS runs script in a new mount namespace and returns the process's Info
// once it runs exe.
func startInMountNS(t *testing.T, script, exe string) proc.Info {
	t.Helper()
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r, err := proc.NewReader("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var in proc.Info
	for range 100 {
		if in, err = r.Info(cmd.Process.Pid); err == nil && in.Exe == exe {
			return in
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Skipf("the helper did not start %s (exe %q, %v)", exe, in.Exe, err)
	return in
}
