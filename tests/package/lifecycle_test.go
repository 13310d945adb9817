package pkgtest

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The throwaway root: a Debian 12 minbase (no systemd running, as in a chroot or an
// image build) plus adduser and logrotate, made once by debootstrap and cached, then
// copied per run.
const (
	rootfsName     = "bookworm-minbase-adduser-logrotate"
	defaultCache   = "/var/cache/memory-monitor-package-test"
	defaultMirror  = "http://deb.debian.org/debian"
	debootstrapVer = "bookworm"
)

// baseRootfs returns the cached root file system, building it when missing.
// MEMORY_MONITOR_PKGTEST_CACHE moves the cache, MEMORY_MONITOR_MIRROR the Debian mirror.
func baseRootfs(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("MEMORY_MONITOR_PKGTEST_CACHE")
	if cache == "" {
		cache = defaultCache
	}
	base := filepath.Join(cache, rootfsName)
	if _, err := os.Stat(filepath.Join(base, "usr", "sbin", "logrotate")); err == nil {
		return base
	}
	debootstrap := need(t, "debootstrap")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(cache, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(base, "usr", "sbin", "logrotate")); err == nil {
		return base // built by someone else meanwhile
	}
	mirror := os.Getenv("MEMORY_MONITOR_MIRROR")
	if mirror == "" {
		mirror = defaultMirror
	}
	tmp := base + ".tmp"
	_ = os.RemoveAll(tmp)
	t.Logf("building %s with debootstrap (once; cached in %s)", rootfsName, cache)
	r := run(debootstrap, "--variant=minbase", "--include=adduser,logrotate", debootstrapVer, tmp, mirror)
	if r.err != nil {
		_ = os.RemoveAll(tmp)
		t.Fatalf("debootstrap: %v\n%s", r.err, r.combined())
	}
	_ = os.RemoveAll(base)
	if err := os.Rename(tmp, base); err != nil {
		t.Fatal(err)
	}
	return base
}

// chrootEnv is a clean environment for commands in the throwaway root.
var chrootEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"LC_ALL=C", "DEBIAN_FRONTEND=noninteractive", "HOME=/root",
}

type chroot struct {
	t    *testing.T
	root string
}

// run runs a command inside the root with no standard input, so that a conffile prompt
// fails at once instead of waiting.
func (c chroot) run(args ...string) result {
	return runEnv(chrootEnv, "chroot", append([]string{c.root}, args...)...)
}

func (c chroot) must(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.err != nil {
		c.t.Fatalf("in chroot: %s: %v\n%s", strings.Join(args, " "), r.err, r.combined())
	}
	return r.stdout
}

func (c chroot) path(p string) string { return filepath.Join(c.root, p) }

func (c chroot) exists(p string) bool {
	_, err := os.Lstat(c.path(p))
	return err == nil
}

// dpkg runs dpkg in the root and checks that the maintainer scripts kept quiet.
func (c chroot) dpkg(args ...string) {
	c.t.Helper()
	out := c.must(append([]string{"dpkg"}, args...)...)
	for _, l := range strings.Split(out, "\n") {
		low := strings.ToLower(l)
		if strings.Contains(low, "warning") || strings.Contains(low, "error") || strings.Contains(low, "adduser") {
			c.t.Errorf("dpkg %s printed: %s", strings.Join(args, " "), l)
		}
	}
}

// status is the package's dpkg status, e.g. "install ok installed", or "" if unknown.
func (c chroot) status() string {
	r := c.run("dpkg-query", "-W", "-f=${Status} ${Version}", "memory-monitor")
	if r.err != nil {
		return ""
	}
	return r.stdout
}

// id looks a user or group up in the root's /etc/passwd or /etc/group.
func (c chroot) id(file, name string) (int, []string) {
	c.t.Helper()
	f, err := os.Open(c.path(file))
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Split(s.Text(), ":")
		if len(fields) > 2 && fields[0] == name {
			n, _ := strconv.Atoi(fields[2])
			return n, fields
		}
	}
	return -1, nil
}

// fileOwner returns uid, gid and mode of a file in the root.
func (c chroot) fileOwner(p string) (int, int, os.FileMode) {
	c.t.Helper()
	st, err := os.Stat(c.path(p))
	if err != nil {
		c.t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	return int(sys.Uid), int(sys.Gid), st.Mode().Perm()
}

const (
	defaultsFile = "/etc/default/memory-monitor"
	logFile      = "/var/log/memory-monitor.log"
	wantsLink    = "/etc/systemd/system/multi-user.target.wants/memory-monitor.service"
	dshState     = "/var/lib/systemd/deb-systemd-helper-enabled/memory-monitor.service.dsh-also"
	stateDir     = "/var/lib/memory-monitor"
)

// TestDpkgLifecycle installs, upgrades (with an edited conffile and then with the unit
// disabled by the admin), removes and purges the package with dpkg in a throwaway
// Debian 12 root where systemd is not running.
func TestDpkgLifecycle(t *testing.T) {
	needRoot(t)
	need(t, "chroot")
	deb := debFile(t, "MEMORY_MONITOR_DEB")
	upgrade := debFile(t, "MEMORY_MONITOR_DEB_UPGRADE")
	base := baseRootfs(t)

	c := chroot{t: t, root: filepath.Join(t.TempDir(), "root")}
	mustRun(t, "cp", "-a", base, c.root)
	for _, p := range []string{deb, upgrade} {
		mustRun(t, "cp", p, c.path("/tmp/"))
	}
	first, second := "/tmp/"+filepath.Base(deb), "/tmp/"+filepath.Base(upgrade)
	firstVersion := strings.TrimSpace(mustRun(t, "dpkg-deb", "-f", deb, "Version"))
	secondVersion := strings.TrimSpace(mustRun(t, "dpkg-deb", "-f", upgrade, "Version"))
	if run("dpkg", "--compare-versions", secondVersion, "gt", firstVersion).err != nil {
		t.Fatalf("upgrade package %s is not newer than %s", secondVersion, firstVersion)
	}

	t.Run("install", func(t *testing.T) {
		c.t = t
		c.dpkg("-i", first)
		if got := c.status(); got != "install ok installed "+firstVersion {
			t.Fatalf("status %q", got)
		}
		uid, pw := c.id("/etc/passwd", "memory-monitor")
		if uid < 0 {
			t.Fatal("no memory-monitor user")
		}
		if uid >= 1000 || pw[5] != "/nonexistent" || pw[6] != "/usr/sbin/nologin" {
			t.Errorf("memory-monitor is not a system user without login: %v", pw)
		}
		gid, _ := c.id("/etc/group", "memory-monitor")
		if gid < 0 {
			t.Error("no memory-monitor group")
		}
		adm, _ := c.id("/etc/group", "adm")
		if u, g, m := c.fileOwner(logFile); u != uid || g != adm || m != 0o640 {
			t.Errorf("%s is %d:%d %v, want memory-monitor:adm 0640", logFile, u, g, m)
		}
		if target, err := os.Readlink(c.path(wantsLink)); err != nil || filepath.Base(target) != "memory-monitor.service" {
			t.Errorf("unit not enabled: %s -> %q (%v)", wantsLink, target, err)
		}
		if !c.exists(dshState) {
			t.Errorf("no deb-systemd-helper state %s", dshState)
		}
		if v := c.must("/usr/sbin/memory-monitor", "--version"); !strings.Contains(v, strings.TrimSuffix(firstVersion, "-1")) {
			t.Errorf("installed binary says %q", v)
		}
		conff := c.must("dpkg-query", "-W", "-f=${Conffiles}", "memory-monitor")
		for _, f := range []string{defaultsFile, "/etc/logrotate.d/memory-monitor"} {
			if !strings.Contains(conff, f+" ") {
				t.Errorf("%s is not a registered conffile:\n%s", f, conff)
			}
		}
	})
	if t.Failed() {
		return
	}

	// The admin edits the defaults file and the log has content.
	edit := "MEMORY_MONITOR_THRESHOLD=8G\n"
	appendTo(t, c.path(defaultsFile), edit)
	appendTo(t, c.path(logFile), "time=x level=INFO msg=\"before upgrade\"\n")

	t.Run("upgrade-keeps-edited-conffile", func(t *testing.T) {
		c.t = t
		c.dpkg("-i", second) // stdin is empty: a conffile prompt would fail here
		if got := c.status(); got != "install ok installed "+secondVersion {
			t.Fatalf("status %q", got)
		}
		if !strings.HasSuffix(readFile(t, c.path(defaultsFile)), edit) {
			t.Error("the edit of /etc/default/memory-monitor was lost")
		}
		for _, suffix := range []string{".dpkg-dist", ".dpkg-new", ".dpkg-old"} {
			if c.exists(defaultsFile + suffix) {
				t.Errorf("%s%s exists: dpkg saw a changed conffile", defaultsFile, suffix)
			}
		}
		if !strings.Contains(readFile(t, c.path(logFile)), "before upgrade") {
			t.Error("the log file was replaced on upgrade")
		}
		if !c.exists(wantsLink) {
			t.Error("the unit is no longer enabled after the upgrade")
		}
		if v := c.must("/usr/sbin/memory-monitor", "--version"); !strings.Contains(v, strings.TrimSuffix(secondVersion, "-1")) {
			t.Errorf("upgraded binary says %q", v)
		}
	})

	t.Run("upgrade-respects-disable", func(t *testing.T) {
		c.t = t
		// What `systemctl disable` does without a running systemd.
		if err := os.Remove(c.path(wantsLink)); err != nil {
			t.Fatal(err)
		}
		c.dpkg("-i", second) // reinstall: postinst configure runs as for an upgrade
		if c.exists(wantsLink) {
			t.Error("the upgrade enabled the unit the admin had disabled")
		}
		// Enabled again, as `systemctl enable` would, for the checks of purge.
		if err := os.Symlink("/lib/systemd/system/memory-monitor.service", c.path(wantsLink)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("logrotate", func(t *testing.T) {
		c.t = t
		appendTo(t, c.path(logFile), "time=y level=INFO msg=\"before rotation\"\n")
		// The postrotate command (systemctl kill ... || true) must not fail without systemd.
		r := c.run("logrotate", "-f", "/etc/logrotate.d/memory-monitor")
		if r.err != nil || strings.TrimSpace(r.combined()) != "" {
			t.Fatalf("logrotate -f: %v\n%s", r.err, r.combined())
		}
		if !strings.Contains(readFile(t, c.path(logFile+".1")), "before rotation") {
			t.Errorf("%s.1 does not hold the rotated lines", logFile)
		}
		uid, _ := c.id("/etc/passwd", "memory-monitor")
		adm, _ := c.id("/etc/group", "adm")
		if u, g, m := c.fileOwner(logFile); u != uid || g != adm || m != 0o640 {
			t.Errorf("new %s is %d:%d %v, want memory-monitor:adm 0640", logFile, u, g, m)
		}
		if readFile(t, c.path(logFile)) != "" {
			t.Errorf("new %s is not empty", logFile)
		}
	})

	t.Run("remove", func(t *testing.T) {
		c.t = t
		c.dpkg("-r", "memory-monitor")
		if got := c.status(); !strings.HasPrefix(got, "deinstall ok config-files") {
			t.Errorf("status %q", got)
		}
		for _, gone := range []string{"/usr/sbin/memory-monitor", "/usr/lib/systemd/system/memory-monitor.service",
			"/usr/share/man/man8/memory-monitor.8.gz"} {
			if c.exists(gone) {
				t.Errorf("%s is still there after remove", gone)
			}
		}
		for _, kept := range []string{defaultsFile, "/etc/logrotate.d/memory-monitor", logFile} {
			if !c.exists(kept) {
				t.Errorf("%s is gone after remove; it should stay until purge", kept)
			}
		}
		if !strings.HasSuffix(readFile(t, c.path(defaultsFile)), edit) {
			t.Error("the edited conffile changed on remove")
		}
	})

	t.Run("purge", func(t *testing.T) {
		c.t = t
		appendTo(t, c.path(logFile+".2.gz"), "rotated\n")
		// What systemd's StateDirectory= leaves: the metrics file goes on purge too.
		if err := os.MkdirAll(c.path(stateDir), 0o755); err != nil {
			t.Fatal(err)
		}
		appendTo(t, c.path(stateDir+"/memory-monitor.prom"), "memory_monitor_scans_total 1\n")
		c.dpkg("-P", "memory-monitor")
		if got := c.status(); got != "" && !strings.HasPrefix(got, "unknown ok not-installed") {
			t.Errorf("status %q after purge", got)
		}
		for _, gone := range []string{defaultsFile, "/etc/logrotate.d/memory-monitor", logFile, logFile + ".1", logFile + ".2.gz",
			wantsLink, dshState, stateDir} {
			if c.exists(gone) {
				t.Errorf("%s is still there after purge", gone)
			}
		}
	})

	t.Run("reinstall-after-purge", func(t *testing.T) {
		c.t = t
		c.dpkg("-i", first)
		if !c.exists(wantsLink) || !c.exists(logFile) || !c.exists(defaultsFile) {
			t.Error("a fresh install after purge is not set up like the first one")
		}
	})
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
