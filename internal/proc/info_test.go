package proc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyProc copies the fixture process dir testdata/proc/PID into root.
func copyProc(t *testing.T, root, pid string) string {
	t.Helper()
	dst := filepath.Join(root, pid)
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("testdata/proc", pid))); err != nil {
		t.Fatal(err)
	}
	return dst
}

// A tree given with --proc-root (list runs as root) must not print files outside it:
// no symbolic link in a tree that is not /proc is followed.
func TestFixtureSymlinksAreNotFollowed(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(secret, []byte("root:SECRET-HASH:19000\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "meminfo"), []byte("MemTotal: 1 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := copyProc(t, root, "200")
	for _, f := range []string{"cmdline", "cgroup"} {
		os.Remove(filepath.Join(dir, f))
		if err := os.Symlink(secret, filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	// A whole process directory that links elsewhere.
	outside := copyProc(t, t.TempDir(), "100")
	os.Remove(filepath.Join(outside, "cmdline"))
	os.WriteFile(filepath.Join(outside, "cmdline"), []byte("SECRET-HASH"), 0o600)
	if err := os.Symlink(outside, filepath.Join(root, "100")); err != nil {
		t.Fatal(err)
	}
	// statm itself a link: the scanner neither follows it nor shows its content.
	dir3 := copyProc(t, root, "300")
	os.Remove(filepath.Join(dir3, "statm"))
	if err := os.Symlink(secret, filepath.Join(dir3, "statm")); err != nil {
		t.Fatal(err)
	}

	r, err := NewReader(root)
	if err != nil {
		t.Fatal(err)
	}
	in, err := r.Info(200)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(in.Cmdline, "SECRET") || strings.Contains(in.Cgroup, "SECRET") {
		t.Errorf("read through a link: cmdline %q cgroup %q", in.Cmdline, in.Cgroup)
	}
	if in.Cmdline != "[postgres]" {
		t.Errorf("cmdline %q, want the short name as for an unreadable one", in.Cmdline)
	}
	if in, err := r.Info(100); err == nil {
		t.Errorf("a process directory that is a link was read: %+v", in)
	}
	s, err := NewScanner(root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.RSS(300); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("statm through a link: %v", err)
	}
}

func TestExeVerified(t *testing.T) {
	r, err := NewReader("/proc")
	if err != nil {
		t.Fatal(err)
	}
	in, err := r.Info(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if in.MountNS == "" || !in.ExeVerified || in.ExeUnreadable {
		t.Errorf("own process: MountNS %q ExeVerified %v ExeUnreadable %v", in.MountNS, in.ExeVerified, in.ExeUnreadable)
	}
	// The shared fixture has no ns links: not known to be ours.
	f, err := NewReader("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	if in, err := f.Info(200); err != nil || in.ExeVerified || in.MountNS != "" {
		t.Errorf("fixture without ns links: %+v, %v", in, err)
	}
}
