package proctest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Cgroups is a cgroup v2 tree in a temporary directory, beside a /proc tree, for the
// budget groups' measurement.
type Cgroups struct {
	t    testing.TB
	Root string
}

// NewCgroups returns an empty cgroup v2 tree; with memory its root offers the memory
// controller, so groups with a memory.stat are measured from it. Without, every group
// is measured from its members, as in a container without a delegated controller.
func NewCgroups(t testing.TB, memory bool) *Cgroups {
	c := &Cgroups{t: t, Root: t.TempDir()}
	ctl := "cpu io pids\n"
	if memory {
		ctl = "cpu io memory pids\n"
	}
	c.write("cgroup.controllers", ctl)
	return c
}

func (c *Cgroups) write(rel, content string) {
	c.t.Helper()
	path := filepath.Join(c.Root, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// MemoryStat sets the memory.stat of the cgroup at path (e.g.
// "/user.slice/user-1000.slice"), in bytes.
func (c *Cgroups) MemoryStat(path string, anon, fileMapped, shmem uint64) {
	c.write(filepath.Join(path, "memory.stat"),
		fmt.Sprintf("anon %d\nfile 4096\nkernel 8192\nshmem %d\nfile_mapped %d\nfile_dirty 0\n", anon, shmem, fileMapped))
}

// OOMKills sets the oom_kill count of the cgroup's memory.events.
func (c *Cgroups) OOMKills(path string, n uint64) {
	c.write(filepath.Join(path, "memory.events"), fmt.Sprintf("low 0\nhigh 0\nmax 0\noom 0\noom_kill %d\noom_group_kill 0\n", n))
}

// OOMKills sets /proc/vmstat with the kernel's OOM kill count (and no allocations).
func (tr *Tree) OOMKills(n uint64) {
	tr.write("vmstat", fmt.Sprintf("nr_free_pages 1\npgpgin 0\npgalloc_normal 0\npgfree 1\noom_kill %d\n", n))
}
