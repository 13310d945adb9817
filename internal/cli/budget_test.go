package cli

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestBudgetSpecsFromFlagsOrList(t *testing.T) {
	if got := budgetSpecs([]string{"user:*=16G", "unit:ci.service=8G"}, true); !slices.Equal(got, []string{"user:*=16G", "unit:ci.service=8G"}) {
		t.Errorf("flags: %q", got)
	}
	if got := budgetSpecs([]string{" user:*=16G\tunit:docker-*.scope=8G\n user:1000=32G "}, false); !slices.Equal(got,
		[]string{"user:*=16G", "unit:docker-*.scope=8G", "user:1000=32G"}) {
		t.Errorf("variable: %q", got)
	}
}

// list --budgets shows each group, measured from the fixture cgroup tree of package
// budget; bad budgets exit 78 naming the flag or the variable and the value. Every run is
// in dry run over a fixture tree, so a regression cannot start a live daemon.
func TestListBudgetsAndErrors(t *testing.T) {
	t.Setenv("MEMORY_MONITOR_BUDGET", "")
	const fixtures = "--proc-root=../budget/testdata/proc"
	var out, errb bytes.Buffer
	code := Main([]string{"list", "--budgets", "-n", "2", fixtures, "--cgroup-root=../budget/testdata/cgroup-v2",
		"--budget=user:*=100M", "--budget=unit:gitlab-runner.service=1G"}, &out, &errb, "")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{
		"unit:gitlab-runner.service: 720.0 MiB of unit:gitlab-runner.service=1G (70.3%), measured by cgroup, members 2",
		"user:1000 (", "of user:*=100M (220.0%, OVER), measured by cgroup, members 3, shmem 30.0 MiB",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}
	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--dry-run", fixtures, "--budget=user:*"}, "", `memory-monitor: --budget="user:*": not KIND:PATTERN=SIZE`},
		{[]string{"--dry-run", fixtures, "--budget=group:x=1G"}, "", `memory-monitor: --budget="group:x=1G": unknown kind "group"`},
		{[]string{"--dry-run", fixtures, "--budget=unit:/system.slice=1G"}, "", `memory-monitor: --budget="unit:/system.slice=1G": a unit pattern is`},
		{[]string{"--dry-run", fixtures}, "user:*=16G user:*=8G", `memory-monitor: MEMORY_MONITOR_BUDGET="user:*=8G": user:* has a budget already`},
		{[]string{"--dry-run", fixtures}, "user:*=lots", `memory-monitor: MEMORY_MONITOR_BUDGET="user:*=lots": invalid size`},
		{[]string{fixtures, "--cgroup-root=/tmp"}, "", `memory-monitor: --proc-root=`},
		{[]string{"list", "--budgets", fixtures}, "", "memory-monitor: list --budgets: no budget is configured"},
	} {
		t.Setenv("MEMORY_MONITOR_BUDGET", c.env)
		errb.Reset()
		if code := Main(c.args, &out, &errb, ""); code != exitConfig || !strings.HasPrefix(errb.String(), c.want) {
			t.Errorf("%q %q: exit %d, %q; want 78, %q", c.args, c.env, code, errb.String(), c.want)
		}
	}
}
