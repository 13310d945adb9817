package pkgtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// debEntry is one member of a package archive.
type debEntry struct {
	mode     os.FileMode // permission bits
	dir      bool
	uid, gid int
	owner    string // user/group names as stored ("" when only numbers are)
	data     []byte
}

// readDebTar reads the data (what) or control tar of a .deb through dpkg-deb.
func readDebTar(t *testing.T, deb, what string) map[string]debEntry {
	t.Helper()
	out, err := exec.Command("dpkg-deb", what, deb).Output()
	if err != nil {
		t.Fatalf("dpkg-deb %s: %v", what, err)
	}
	entries := map[string]debEntry{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		name := "/" + strings.TrimPrefix(strings.TrimSuffix(h.Name, "/"), "./")
		owner := ""
		if h.Uname != "" || h.Gname != "" {
			owner = h.Uname + "/" + h.Gname
		}
		entries[name] = debEntry{
			mode: os.FileMode(h.Mode).Perm(), dir: h.Typeflag == tar.TypeDir,
			uid: h.Uid, gid: h.Gid, owner: owner, data: data,
		}
	}
	return entries
}

// expectedFiles is the exact content of the package: path, mode, directory or not.
var expectedFiles = []struct {
	path string
	mode os.FileMode
	dir  bool
}{
	{"/etc", 0o755, true},
	{"/etc/default", 0o755, true},
	{"/etc/default/memory-monitor", 0o644, false},
	{"/etc/logrotate.d", 0o755, true},
	{"/etc/logrotate.d/memory-monitor", 0o644, false},
	{"/usr", 0o755, true},
	{"/usr/lib", 0o755, true},
	{"/usr/lib/systemd", 0o755, true},
	{"/usr/lib/systemd/system", 0o755, true},
	{"/usr/lib/systemd/system/memory-monitor.service", 0o644, false},
	{"/usr/sbin", 0o755, true},
	{"/usr/sbin/memory-monitor", 0o755, false},
	{"/usr/share", 0o755, true},
	{"/usr/share/doc", 0o755, true},
	{"/usr/share/doc/memory-monitor", 0o755, true},
	{"/usr/share/doc/memory-monitor/changelog.Debian.gz", 0o644, false},
	{"/usr/share/doc/memory-monitor/copyright", 0o644, false},
	{"/usr/share/doc/memory-monitor/examples", 0o755, true},
	{"/usr/share/doc/memory-monitor/examples/memory-monitor.rules.yml", 0o644, false},
	{"/usr/share/lintian", 0o755, true},
	{"/usr/share/lintian/overrides", 0o755, true},
	{"/usr/share/lintian/overrides/memory-monitor", 0o644, false},
	{"/usr/share/man", 0o755, true},
	{"/usr/share/man/man8", 0o755, true},
	{"/usr/share/man/man8/memory-monitor.8.gz", 0o644, false},
}

// shippedSources maps packaged files to their source in the work tree (shipped as is).
var shippedSources = map[string]string{
	"/etc/default/memory-monitor":                                     "debian/memory-monitor.default",
	"/etc/logrotate.d/memory-monitor":                                 "debian/memory-monitor.logrotate",
	"/usr/lib/systemd/system/memory-monitor.service":                  "systemd/memory-monitor.service",
	"/usr/share/doc/memory-monitor/copyright":                         "debian/copyright",
	"/usr/share/doc/memory-monitor/examples/memory-monitor.rules.yml": "debian/examples/memory-monitor.rules.yml",
	"/usr/share/lintian/overrides/memory-monitor":                     "debian/lintian-overrides",
}

// TestDebContents: the file list, modes, owners, conffiles, control fields and
// maintainer scripts are exactly as intended, in the amd64 package and (under make
// package-test) the arm64 one; both hold the same files, byte for byte but the binary.
func TestDebContents(t *testing.T) {
	need(t, "dpkg-deb")
	deb := debFile(t, "MEMORY_MONITOR_DEB")
	t.Run(debArch(t, deb), func(t *testing.T) { checkDeb(t, deb) })
	if os.Getenv("MEMORY_MONITOR_DEB_ARM64") == "" && !strict {
		return
	}
	arm := debFile(t, "MEMORY_MONITOR_DEB_ARM64")
	t.Run("arm64", func(t *testing.T) { checkDeb(t, arm) })
	t.Run("same-contents", func(t *testing.T) {
		a, b := readDebTar(t, deb, "--fsys-tarfile"), readDebTar(t, arm, "--fsys-tarfile")
		if len(a) != len(b) {
			t.Errorf("%d entries in %s, %d in %s", len(a), filepath.Base(deb), len(b), filepath.Base(arm))
		}
		for p, ea := range a {
			eb, ok := b[p]
			switch {
			case !ok:
				t.Errorf("%s is only in %s", p, filepath.Base(deb))
			case ea.mode != eb.mode || ea.dir != eb.dir || ea.owner != eb.owner:
				t.Errorf("%s: %v dir=%v %s vs %v dir=%v %s", p, ea.mode, ea.dir, ea.owner, eb.mode, eb.dir, eb.owner)
			case p != "/usr/sbin/memory-monitor" && !bytes.Equal(ea.data, eb.data):
				t.Errorf("%s differs between the architectures", p)
			}
		}
	})
}

// debArch is a package's Architecture field.
func debArch(t *testing.T, deb string) string {
	t.Helper()
	return strings.TrimSpace(mustRun(t, "dpkg-deb", "-f", deb, "Architecture"))
}

// elfMachine is the ELF machine each package architecture must carry.
var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

func checkDeb(t *testing.T, deb string) {
	arch := debArch(t, deb)
	root := repoRoot(t)
	files := readDebTar(t, deb, "--fsys-tarfile")

	var got, want []string
	for p, e := range files {
		got = append(got, fmt.Sprintf("%s %v dir=%v", p, e.mode, e.dir))
		if e.uid != 0 || e.gid != 0 || (e.owner != "" && e.owner != "root/root") {
			t.Errorf("%s is owned by %d:%d (%s), want root:root", p, e.uid, e.gid, e.owner)
		}
	}
	for _, f := range expectedFiles {
		want = append(want, fmt.Sprintf("%s %v dir=%v", f.path, f.mode, f.dir))
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("package contents differ\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	for dst, src := range shippedSources {
		if e, ok := files[dst]; ok && string(e.data) != readFile(t, filepath.Join(root, src)) {
			t.Errorf("%s differs from %s", dst, src)
		}
	}

	t.Run("conffiles", func(t *testing.T) {
		got := strings.Fields(mustRun(t, "dpkg-deb", "-I", deb, "conffiles"))
		sort.Strings(got)
		want := []string{"/etc/default/memory-monitor", "/etc/logrotate.d/memory-monitor"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("conffiles = %v, want %v", got, want)
		}
	})

	t.Run("control", func(t *testing.T) {
		ctrl := readDebTar(t, deb, "--ctrl-tarfile")
		for _, s := range []string{"postinst", "prerm", "postrm"} {
			e, ok := ctrl["/"+s]
			switch {
			case !ok:
				t.Errorf("no %s maintainer script", s)
			case e.mode != 0o755:
				t.Errorf("%s has mode %v, want 0755", s, e.mode)
			case string(e.data) != readFile(t, filepath.Join(root, "debian", s)):
				t.Errorf("%s differs from debian/%s", s, s)
			}
		}
		if _, ok := ctrl["/preinst"]; ok {
			t.Error("unexpected preinst")
		}
		fields := map[string]string{}
		for _, f := range []string{"Package", "Version", "Architecture", "Section", "Priority", "Depends", "Maintainer", "Description"} {
			fields[f] = strings.TrimSpace(mustRun(t, "dpkg-deb", "-f", deb, f))
		}
		if _, ok := elfMachine[arch]; !ok {
			t.Errorf("Architecture %q, want amd64 or arm64", arch)
		}
		for f, want := range map[string]string{"Package": "memory-monitor",
			"Section": "admin", "Priority": "optional", "Depends": "adduser"} {
			if fields[f] != want {
				t.Errorf("%s: %q, want %q", f, fields[f], want)
			}
		}
		if !strings.HasSuffix(fields["Version"], "-1") {
			t.Errorf("Version %q has no Debian revision -1", fields["Version"])
		}
		if want := "memory-monitor_" + fields["Version"] + "_" + arch + ".deb"; filepath.Base(deb) != want {
			t.Errorf("package file is %s, want %s", filepath.Base(deb), want)
		}
		if strings.Count(fields["Description"], "\n") < 3 || fields["Maintainer"] == "" {
			t.Errorf("Description or Maintainer too thin:\n%s\n%s", fields["Maintainer"], fields["Description"])
		}
	})

	t.Run("binary", func(t *testing.T) {
		e := files["/usr/sbin/memory-monitor"]
		bin := filepath.Join(t.TempDir(), "memory-monitor")
		if err := os.WriteFile(bin, e.data, 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if f.Machine != elfMachine[arch] {
			t.Errorf("binary is for %v, package for %s", f.Machine, arch)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Error("binary is dynamically linked; want static (CGO_ENABLED=0)")
			}
		}
		for _, s := range f.Sections {
			if s.Name == ".symtab" || strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
				t.Errorf("binary is not stripped: section %s", s.Name)
			}
		}
		debVersion := strings.TrimSpace(mustRun(t, "dpkg-deb", "-f", deb, "Version"))
		argv := []string{bin, "--version"}
		if elfMachine[arch] != elfMachine[runtime.GOARCH] {
			// Another architecture's binary runs under qemu-user if it is there.
			q, err := exec.LookPath("qemu-" + map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[arch] + "-static")
			if err != nil {
				t.Logf("not running the %s binary: no qemu-user-static", arch)
				return
			}
			argv = append([]string{q}, argv...)
		}
		version := strings.TrimSpace(mustRun(t, argv[0], argv[1:]...))
		if !strings.Contains(version, strings.TrimSuffix(debVersion, "-1")) {
			t.Errorf("--version says %q, package version is %s", version, debVersion)
		}
	})

	t.Run("changelog", func(t *testing.T) {
		r, err := gzip.NewReader(bytes.NewReader(files["/usr/share/doc/memory-monitor/changelog.Debian.gz"].data))
		if err != nil {
			t.Fatal(err)
		}
		text, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(text), "\n")
		v := strings.TrimSpace(mustRun(t, "dpkg-deb", "-f", deb, "Version"))
		if !strings.HasPrefix(first, "memory-monitor ("+v+") ") {
			t.Errorf("changelog's newest entry is %q; want version %s", first, v)
		}
	})

	t.Run("manpage", func(t *testing.T) {
		gz := files["/usr/share/man/man8/memory-monitor.8.gz"].data
		if len(gz) < 10 {
			t.Fatal("man page too short")
		}
		// gzip -9n: no file name, no time stamp, best compression.
		if gz[3]&0x08 != 0 || !bytes.Equal(gz[4:8], []byte{0, 0, 0, 0}) || gz[8] != 2 {
			t.Errorf("man page is not compressed with gzip -9n (header % x)", gz[:10])
		}
		r, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		page, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if string(page) != readFile(t, manSource(t)) {
			t.Error("packaged man page differs from man/memory-monitor.8")
		}
	})
}

// TestLintian: lintian --fail-on error,warning -I -E --pedantic passes, and the only
// overrides are the ones lintian is wrong about for this package.
func TestLintian(t *testing.T) {
	lintian := need(t, "lintian")
	debs := []string{debFile(t, "MEMORY_MONITOR_DEB")}
	if os.Getenv("MEMORY_MONITOR_DEB_ARM64") != "" || strict {
		debs = append(debs, debFile(t, "MEMORY_MONITOR_DEB_ARM64"))
	}
	for _, deb := range debs {
		r := run(lintian, "--fail-on", "error,warning", "-I", "-E", "--pedantic", deb)
		t.Logf("lintian output for %s:\n%s", filepath.Base(deb), r.stdout)
		if r.err != nil {
			t.Errorf("lintian %s failed: %v\n%s%s", filepath.Base(deb), r.err, r.stdout, r.stderr)
		}
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: ") {
				t.Errorf("lintian %s: %s", filepath.Base(deb), l)
			}
		}
	}
	allowed := map[string]bool{"statically-linked-binary": true, "initial-upload-closes-no-bugs": true}
	for _, l := range strings.Split(readFile(t, filepath.Join(repoRoot(t), "debian", "lintian-overrides")), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "memory-monitor:" || !allowed[f[1]] {
			t.Errorf("unexpected lintian override: %s", l)
		}
	}
}

// TestDebReproducible builds the package twice with the same version and
// SOURCE_DATE_EPOCH, into two different directories, and expects the same bytes; the
// second build has GOFLAGS and GOAMD64 set as a developer might (VCS
// stamping, another microarchitecture), which the Makefile must override.
// It runs only under make package-test.
func TestDebReproducible(t *testing.T) {
	if !strict {
		t.Skip("rebuilds the package; runs under make package-test")
	}
	deb := debFile(t, "MEMORY_MONITOR_DEB")
	makeTool := need(t, "make")
	version := strings.TrimSuffix(strings.TrimSpace(mustRun(t, "dpkg-deb", "-f", deb, "Version")), "-1")
	var sums []string
	for i := 0; i < 2; i++ {
		dist := t.TempDir()
		cmd := exec.Command(makeTool, "--no-print-directory", "deb", "VERSION="+version, "DISTDIR="+dist)
		if g := os.Getenv("GOTOOL"); g != "" {
			cmd.Args = append(cmd.Args, "GOTOOL="+g)
		}
		cmd.Dir = repoRoot(t)
		if i == 1 {
			cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=true -tags=netgo", "GOAMD64=v2")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make deb: %v\n%s", err, out)
		}
		b, err := os.ReadFile(filepath.Join(dist, filepath.Base(deb)))
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, fmt.Sprintf("%x", sha256.Sum256(b)))
	}
	if sums[0] != sums[1] {
		t.Errorf("two builds of the same tree differ: %s vs %s", sums[0], sums[1])
	} else {
		t.Logf("sha256 %s both times", sums[0])
	}
}
