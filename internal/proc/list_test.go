package proc

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func writeStatm(t *testing.T, root string, pid int, rssPages int) {
	t.Helper()
	dir := filepath.Join(root, strconv.Itoa(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "statm"), []byte("100 "+strconv.Itoa(rssPages)+" 0 0 0 0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// List gives the scan's count and digest, and any process started, ended or replaced
// under its PID changes the digest; memory changes do not (List reads no process).
func TestListDigest(t *testing.T) {
	root := t.TempDir()
	for _, pid := range []int{1, 20, 300} {
		writeStatm(t, root, pid, 10)
	}
	s, err := NewScanner(root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Scan(func(int, uint64) {})
	if err != nil {
		t.Fatal(err)
	}
	list := func() (int, uint64) {
		t.Helper()
		n, d, err := s.List()
		if err != nil {
			t.Fatal(err)
		}
		return n, d
	}
	if n, d := list(); n != 3 || st.Listed != 3 || d != st.Digest {
		t.Fatalf("List = %d, %x; the scan listed %d, %x", n, d, st.Listed, st.Digest)
	}
	_, base := list()
	writeStatm(t, root, 20, 99999) // grew: not List's business
	if _, d := list(); d != base {
		t.Error("a statm rewritten in place changed the digest")
	}
	writeStatm(t, root, 4000, 1) // started
	if n, d := list(); n != 4 || d == base {
		t.Errorf("a new process: List = %d, %x (was 3, %x)", n, d, base)
	}
	if err := os.RemoveAll(filepath.Join(root, "4000")); err != nil {
		t.Fatal(err)
	}
	if _, d := list(); d != base {
		t.Error("back to the same processes, another digest")
	}
	// Replaced under its PID: a new directory, so a new inode (made while the old one
	// exists, as /proc numbers its inodes afresh and a file system could reuse one).
	writeStatm(t, root, 3000, 10)
	if err := os.RemoveAll(filepath.Join(root, "300")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "3000"), filepath.Join(root, "300")); err != nil {
		t.Fatal(err)
	}
	if n, d := list(); n != 3 || d == base {
		t.Errorf("a process replaced under its PID kept the digest")
	}
	if err := os.RemoveAll(filepath.Join(root, "300")); err != nil {
		t.Fatal(err)
	}
	if n, d := list(); n != 2 || d == base {
		t.Errorf("an ended process: List = %d, %x", n, d)
	}
	if n := testing.AllocsPerRun(10, func() { s.List() }); n != 0 {
		t.Errorf("List allocates %v times", n)
	}
}
